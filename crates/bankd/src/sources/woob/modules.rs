//! woob's bank modules as connectors: discovery, and each module's `CONFIG` as a credential form.
//!
//! At start bankd asks its helper (`modules`) what each module of the modules folder is: its
//! name, description, version, whether it reads banks (`CapBank`) and loads with the installed
//! Python packages, and its `CONFIG`. Importing ~100 modules takes seconds, so what was read is
//! kept in a cache file keyed by each module's files (names, sizes, modification times): a start
//! re-reads only the modules that changed. Every bank module that loads becomes a connector, unless
//! it cannot be used unattended (a captcha) or the catalog already names it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::helper::{Helper, WoobRuntime};
use crate::catalog::{Connector, ConnectorSource, Field, FieldKind, FieldValue};

/// `CONFIG` keys a person never types in the form: woob's one-time answers and its signs of a
/// present user, set by bankd (`request_information`, `resume`) or asked for when the module raises
/// its question (an OTP). Never stored with the credentials.
const ONE_TIME_KEYS: [&str; 12] = [
    "otp",
    "code",
    "sms",
    "resume",
    "request_information",
    "captcha_response",
    "emv_otp",
    "pin_code",
    "smsc",
    "otp_sms",
    "otp_emv",
    "security_code",
];

/// Bank modules of banks outside France, with their countries (ISO 3166; none for services that
/// are not a country's); every other woob bank module reads a French bank. A module missing here
/// that is not French is listed under `FR` wrongly: add it.
const COUNTRIES: [(&str, &[&str]); 12] = [
    ("amazonstorecard", &["US"]),
    ("binance", &[]),
    ("binck", &["NL"]),
    ("bitstamp", &[]),
    ("citibank", &["US"]),
    ("degiro", &["NL"]),
    ("hsbchk", &["HK"]),
    ("kiwibank", &["NZ"]),
    ("kraken", &[]),
    ("n26", &["DE"]),
    ("paypal", &[]),
    ("vicseccard", &["US"]),
];

/// One module, as the helper read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleInfo {
    pub name: String,
    pub bank: bool,
    pub loads: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub missing: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub maintainer: Option<String>,
    #[serde(default)]
    pub selenium: bool,
    #[serde(default)]
    pub captcha: bool,
    #[serde(default)]
    pub icon: Option<PathBuf>,
    #[serde(default)]
    pub config: Vec<ConfigEntry>,
}

/// One entry of a module's `CONFIG`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigEntry {
    pub key: String,
    /// `password`, `text`, `choice`, `bool`, `date`, `int`, `float` or `transient`.
    pub kind: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub masked: bool,
    #[serde(default)]
    pub regexp: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub choices: Option<Vec<(String, String)>>,
}

impl ModuleInfo {
    /// Why a person cannot be offered this module, if they cannot: never a connector that can
    /// only fail.
    pub fn unusable(&self) -> Option<String> {
        if !self.bank {
            Some("not a bank module (no CapBank)".into())
        } else if !self.loads {
            Some(self.error.clone().unwrap_or_else(|| "does not load".into()))
        } else if self.captcha {
            Some("asks a captcha at every login".into())
        } else {
            None
        }
    }

    /// The credential form: the module's `CONFIG`, in its order, without the one-time keys.
    pub fn fields(&self) -> Vec<Field> {
        self.config.iter().filter_map(field).collect()
    }

    /// The bank's name as people know it.
    pub fn bank_name(&self) -> &str {
        self.description.as_deref().filter(|d| !d.trim().is_empty()).unwrap_or(&self.name)
    }

    /// The connector this module becomes, with the `id` persisted for it; its one source has the
    /// same id.
    pub fn connector(&self, id: i64, modules_path: &Path) -> Connector {
        let countries = COUNTRIES.iter().find(|(module, _)| *module == self.name).map_or(&["FR"][..], |(_, c)| c);
        Connector {
            id,
            uuid: uuid(&self.name),
            name: self.bank_name().to_owned(),
            code: None,
            slug: Some(self.name.clone()),
            color: None,
            capabilities: vec!["bank".into()],
            auth_mechanism: "credentials".into(),
            sync_periodicity: 1.0,
            months_to_fetch: None,
            countries: countries.iter().map(|c| (*c).to_owned()).collect(),
            bic: None,
            bank_code: None,
            hidden: false,
            // Selenium modules also need a browser and its driver on the machine, which bankd
            // cannot check: offered, but as what they are.
            beta: self.selenium,
            sandbox: false,
            icon: self.icon.clone(),
            fields: self.fields(),
            sources: vec![ConnectorSource {
                id,
                name: "directaccess".into(),
                priority: 1,
                disabled: None,
                auth_mechanism: None,
                driver: "woob".into(),
                api: None,
                module: Some(self.name.clone()),
                modules_path: Some(modules_path.to_owned()),
            }],
        }
    }
}

/// A module's connector uuid: the same on every bankd, for a given module name.
pub fn uuid(module: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("https://woob.tech/modules/{module}").as_bytes())
}

/// One `CONFIG` entry as a form field; `None` for what the person does not type.
fn field(entry: &ConfigEntry) -> Option<Field> {
    if entry.kind == "transient" || ONE_TIME_KEYS.contains(&entry.key.as_str()) {
        return None;
    }
    let label = entry.label.clone().filter(|l| !l.trim().is_empty()).unwrap_or_else(|| entry.key.clone());
    let mut field = Field {
        name: entry.key.clone(),
        label,
        kind: FieldKind::Text,
        // A field with a default can be left out: woob fills it in.
        required: entry.required && entry.default.is_none(),
        regex: entry.regexp.clone(),
        values: None,
        default: entry.default.clone().filter(|d| !d.is_empty()),
    };
    match entry.kind.as_str() {
        "password" if entry.masked => field.kind = FieldKind::Password,
        "choice" => {
            field.kind = FieldKind::List;
            let choices = entry.choices.iter().flatten();
            field.values =
                Some(choices.map(|(value, label)| FieldValue { value: value.clone(), label: label.clone() }).collect());
        }
        "bool" => {
            field.kind = FieldKind::List;
            field.values = Some(vec![
                FieldValue { value: "true".into(), label: "Yes".into() },
                FieldValue { value: "false".into(), label: "No".into() },
            ]);
        }
        "date" => field.kind = FieldKind::Date,
        "int" => {
            field.kind = FieldKind::Number;
            field.regex = field.regex.or(Some(r"^-?\d+$".into()));
        }
        "float" => {
            field.kind = FieldKind::Number;
            field.regex = field.regex.or(Some(r"^-?\d+([.,]\d+)?$".into()));
        }
        _ => {}
    }
    Some(field)
}

/// What a start reads: every module of `path`, from the cache where its files did not change.
pub async fn discover(
    runtime: &WoobRuntime,
    path: &Path,
    cache: &Path,
    refresh: bool,
) -> anyhow::Result<Vec<ModuleInfo>> {
    let on_disk = module_dirs(path)?;
    let mut known = if refresh { Cache::default() } else { Cache::load(cache, runtime, path) };
    let stale: Vec<&String> = on_disk
        .iter()
        .filter(|(name, print)| known.modules.get(*name).is_none_or(|c| &c.fingerprint != *print))
        .map(|(n, _)| n)
        .collect();
    if !stale.is_empty() {
        tracing::info!(modules = stale.len(), path = %path.display(), "reading woob modules");
        let mut helper = Helper::start(runtime, "modules").await?;
        let read = helper.call("modules", json!({"modules_path": path, "names": stale})).await;
        helper.close().await;
        let read: Vec<ModuleInfo> = serde_json::from_value(read?)?;
        for info in read {
            if let Some(fingerprint) = on_disk.get(&info.name) {
                known.modules.insert(info.name.clone(), Cached { fingerprint: fingerprint.clone(), info });
            }
        }
    }
    known.modules.retain(|name, _| on_disk.contains_key(name));
    known.python = runtime.python.clone();
    known.path = path.to_owned();
    if let Err(e) = known.save(cache) {
        tracing::warn!(error = %e, cache = %cache.display(), "could not keep the woob modules' cache");
    }
    Ok(known.modules.into_values().map(|c| c.info).collect())
}

/// The module folders of `path` (a folder with an `__init__.py`), with a fingerprint of their files.
fn module_dirs(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))? {
        let dir = entry?.path();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name.starts_with(['_', '.']) || !dir.join("__init__.py").is_file() {
            continue;
        }
        found.insert(name, fingerprint(&dir));
    }
    Ok(found)
}

/// Names, sizes and modification times of a module's files: any edit, update or new file shows.
fn fingerprint(dir: &Path) -> String {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(meta) = entry.metadata() {
                let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                let relative = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
                files.push(format!("{relative}:{}:{}", meta.len(), modified.map_or(0, |m| m.as_nanos())));
            }
        }
    }
    files.sort();
    use sha2::Digest;
    hex(&sha2::Sha256::digest(files.join("\n").as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache file: what the helper said of each module, with the fingerprint it said it for.
#[derive(Default, Serialize, Deserialize)]
struct Cache {
    python: String,
    path: PathBuf,
    modules: BTreeMap<String, Cached>,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    fingerprint: String,
    info: ModuleInfo,
}

impl Cache {
    /// The cache, if it was written for the same Python and folder (another Python may load other
    /// modules); empty otherwise.
    fn load(file: &Path, runtime: &WoobRuntime, path: &Path) -> Cache {
        let cache: Option<Cache> = std::fs::read(file).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        cache.filter(|c| c.python == runtime.python && c.path == path).unwrap_or_default()
    }

    fn save(&self, file: &Path) -> std::io::Result<()> {
        // Written aside, then renamed: a process reading it meanwhile sees the old or the new one.
        let part = file.with_extension("part");
        std::fs::write(&part, serde_json::to_vec(self)?)?;
        std::fs::rename(part, file)
    }
}

/// The connectors of the usable modules, by the ids the store keeps for them.
pub fn connectors(modules: &[ModuleInfo], ids: &HashMap<String, i64>, path: &Path) -> Vec<Connector> {
    modules
        .iter()
        .filter(|m| m.unusable().is_none())
        .filter_map(|m| Some(m.connector(*ids.get(&m.name)?, path)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, kind: &str) -> ConfigEntry {
        ConfigEntry {
            key: key.into(),
            kind: kind.into(),
            label: Some(format!("{key} label")),
            masked: false,
            regexp: None,
            required: true,
            default: None,
            choices: None,
        }
    }

    fn module(config: Vec<ConfigEntry>) -> ModuleInfo {
        ModuleInfo {
            name: "bank".into(),
            bank: true,
            loads: true,
            error: None,
            missing: Vec::new(),
            description: Some("La Banque".into()),
            version: Some("3.7".into()),
            license: Some("LGPLv3+".into()),
            maintainer: None,
            selenium: false,
            captcha: false,
            icon: None,
            config,
        }
    }

    #[test]
    fn each_kind_of_config_value_becomes_its_form_field() {
        let login = entry("login", "password");
        let password = ConfigEntry { masked: true, regexp: Some(r"^\d{6}$".into()), ..entry("password", "password") };
        let website = ConfigEntry {
            choices: Some(vec![("a.test".into(), "Alpes".into()), ("b.test".into(), "Bretagne".into())]),
            default: Some("b.test".into()),
            required: false,
            ..entry("website", "choice")
        };
        let pro = ConfigEntry { default: Some("false".into()), required: false, ..entry("pro", "bool") };
        let birthday = ConfigEntry { required: false, ..entry("birthday", "date") };
        let digits = ConfigEntry { default: Some("4".into()), ..entry("digits", "int") };
        let nickname = entry("nickname", "text");
        let transient = [entry("otp", "transient"), entry("request_information", "transient"), entry("sms", "text")];
        let mut config = vec![login, password, website, pro, birthday, digits, nickname];
        config.extend(transient);
        let fields = module(config).fields();
        let summary: Vec<(&str, &str, bool)> =
            fields.iter().map(|f| (f.name.as_str(), f.kind.as_str(), f.required)).collect();
        assert_eq!(
            summary,
            [
                ("login", "text", true),
                ("password", "password", true),
                ("website", "list", false),
                ("pro", "list", false),
                ("birthday", "date", false),
                ("digits", "number", false),
                ("nickname", "text", true),
            ],
            "CONFIG order, one-time keys left out"
        );
        assert_eq!(fields[1].regex.as_deref(), Some(r"^\d{6}$"));
        let website = &fields[2];
        assert_eq!(
            (website.default.as_deref(), website.values.as_ref().unwrap()[1].label.as_str()),
            (Some("b.test"), "Bretagne")
        );
        assert_eq!(
            fields[3].values.as_ref().unwrap().iter().map(|v| v.value.as_str()).collect::<Vec<_>>(),
            ["true", "false"]
        );
        assert_eq!(fields[5].regex.as_deref(), Some(r"^-?\d+$"), "a number is checked as one");
        assert!(fields.iter().all(|f| f.label.ends_with(" label")));
    }

    #[test]
    fn only_bank_modules_that_load_without_a_captcha_are_offered() {
        let usable = module(Vec::new());
        assert_eq!(usable.unusable(), None);
        let cases = [
            (ModuleInfo { bank: false, ..usable.clone() }, "not a bank module"),
            (
                ModuleInfo {
                    loads: false,
                    error: Some("Module requires python package \"x\"".into()),
                    ..usable.clone()
                },
                "Module requires python package",
            ),
            (ModuleInfo { captcha: true, ..usable.clone() }, "captcha"),
        ];
        for (info, why) in cases {
            assert!(info.unusable().unwrap().contains(why), "{info:?}");
        }
        let ids = HashMap::from([("bank".to_owned(), 100_003)]);
        let path = Path::new("/modules");
        let offered =
            connectors(&[usable.clone(), ModuleInfo { name: "other".into(), captcha: true, ..usable }], &ids, path);
        assert_eq!(offered.len(), 1);
        let connector = &offered[0];
        assert_eq!((connector.id, connector.sources[0].id, connector.name.as_str()), (100_003, 100_003, "La Banque"));
        assert_eq!(connector.uuid, uuid("bank"));
        assert_eq!(connector.sources[0].module.as_deref(), Some("bank"));
        assert_eq!(connector.countries, ["FR"]);
        let abroad = ModuleInfo { name: "n26".into(), ..module(Vec::new()) }.connector(100_004, path);
        assert_eq!(abroad.countries, ["DE"]);
    }

    #[test]
    fn a_module_keeps_its_uuid_everywhere() {
        assert_eq!(uuid("bnp"), uuid("bnp"));
        assert_ne!(uuid("bnp"), uuid("bnporc"));
        assert_eq!(uuid("bnp").get_version_num(), 5);
    }
}
