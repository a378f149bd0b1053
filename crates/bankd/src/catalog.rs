//! The connector catalog: which banks bankd can connect to, their credential forms and their sources.
//!
//! Connectors are configuration, not user data: they come from a TOML file (`BANKD_CATALOG`) or the
//! built-in `catalog.toml`, are validated once at start, and live in memory. Connections refer to
//! them by id.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

const BUILT_IN: &str = include_str!("../catalog.toml");
/// The driver of statement files: imported by the user, not fetched by a sync.
pub const FILE_DRIVER: &str = "file";
/// The driver of German banks' FinTS servers.
pub const FINTS_DRIVER: &str = "fints";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(rename = "connector", default)]
    pub connectors: Vec<Connector>,
    /// How the banks of a bank directory (`bankd catalog import-aspsps`) are reached, by name.
    #[serde(rename = "profile", default)]
    pub profiles: Vec<Profile>,
}

/// What the banks behind one PSD2 hub share (a savings-bank or cooperative-bank group serves
/// thousands of banks with one API): the driver, its settings and the credential form. A bank
/// directory's row names a profile and gives its own base URL; it becomes a connector with one
/// `openapi` source from both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    /// `xs2a` or `stet`.
    pub driver: String,
    /// The connectors' `auth_mechanism`; `webauth` (the bank's own pages) unless given.
    #[serde(default)]
    pub auth_mechanism: Option<String>,
    /// Its banks are sandbox connectors: listed only when `BANKD_SANDBOX` is on.
    #[serde(default)]
    pub sandbox: bool,
    #[serde(rename = "field", default)]
    pub fields: Vec<Field>,
    /// `[profile.api]`: the API settings of `[connector.source.api]` but `base_url`, each bank's own.
    #[serde(default)]
    pub api: ProfileApi,
}

/// A profile's API settings, read as [`ApiSettings`] with the base URL left empty.
#[derive(Debug, Clone)]
pub struct ProfileApi(ApiSettings);

impl Default for ProfileApi {
    fn default() -> Self {
        ProfileApi::from_table(toml::Table::new()).expect("the defaults are valid settings")
    }
}

impl ProfileApi {
    fn from_table(mut table: toml::Table) -> Result<ProfileApi, String> {
        if table.contains_key("base_url") {
            return Err("base_url is each bank's own: the directory gives it, not the profile".into());
        }
        table.insert("base_url".into(), toml::Value::String(String::new()));
        toml::Value::Table(table).try_into().map(ProfileApi).map_err(|e: toml::de::Error| e.to_string())
    }

    /// The settings of one bank of the profile, at `base_url`.
    pub fn at(&self, base_url: &str) -> ApiSettings {
        ApiSettings { base_url: base_url.to_owned(), ..self.0.clone() }
    }
}

impl<'de> Deserialize<'de> for ProfileApi {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ProfileApi::from_table(toml::Table::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// The drivers a profile can name: the PSD2 APIs.
pub const PROFILE_DRIVERS: [&str; 2] = ["xs2a", "stet"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default = "default_capabilities")]
    pub capabilities: Vec<String>,
    #[serde(default = "default_auth_mechanism")]
    pub auth_mechanism: String,
    /// Days between background syncs (Powens' `sync_periodicity`).
    #[serde(default = "default_sync_periodicity")]
    pub sync_periodicity: f64,
    #[serde(default)]
    pub months_to_fetch: Option<i64>,
    #[serde(default)]
    pub countries: Vec<String>,
    /// The bank's BIC (8 or 11 characters), for `GET /connectors?bic=`; not on the wire.
    #[serde(default)]
    pub bic: Option<String>,
    /// The bank's national bank code as its IBANs carry it (a German BLZ, a French code banque),
    /// for `GET /connectors?iban=`; not on the wire (`code` is Powens' field for it).
    #[serde(default)]
    pub bank_code: Option<String>,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub beta: bool,
    /// A sandbox connector: listed only when `BANKD_SANDBOX` is on.
    #[serde(default)]
    pub sandbox: bool,
    /// A PNG of the bank's icon, served by bankd (woob modules ship their `favicon.png`).
    #[serde(default)]
    pub icon: Option<std::path::PathBuf>,
    #[serde(rename = "field", default)]
    pub fields: Vec<Field>,
    #[serde(rename = "source", default)]
    pub sources: Vec<ConnectorSource>,
}

/// One entry of a credential form (also used for the extra fields a bank asks for mid-sync, e.g. an OTP).
/// Serialized as JSON on a connection while the bank waits for the user's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default = "default_true")]
    pub required: bool,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<FieldValue>>,
    /// The value used when the person gives none (a `list`'s preselected entry).
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    Password,
    List,
    Date,
    Number,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Password => "password",
            FieldKind::List => "list",
            FieldKind::Date => "date",
            FieldKind::Number => "number",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldValue {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSource {
    pub id: i64,
    /// Wire name: `openapi`, `directaccess`, `fallback` or `file`.
    pub name: String,
    /// Lower first.
    pub priority: i64,
    /// When the source was disabled (RFC 3339); a disabled source is never used.
    #[serde(default)]
    pub disabled: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub auth_mechanism: Option<String>,
    /// Which implementation talks to the bank: `xs2a`, `stet`, `web` (with `api`), `woob` (with
    /// `module`), `sandbox`, or `file`.
    pub driver: String,
    /// How to reach the bank's API, for the `xs2a` and `stet` drivers (and the site, for `web`).
    #[serde(default)]
    pub api: Option<ApiSettings>,
    /// The woob module that reads this bank, for the `woob` driver (e.g. `cragr`).
    #[serde(default)]
    pub module: Option<String>,
    /// A directory of extra woob modules to load `module` from, instead of the installed ones.
    #[serde(default)]
    pub modules_path: Option<std::path::PathBuf>,
}

/// A bank's PSD2 API, as the catalog describes it (`[connector.source.api]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// The API's base, before `/v1/…` (XS2A) or `/accounts` (STET). A path (`/sandbox/xs2a`) means
    /// bankd's own URL; anything else is used as is.
    pub base_url: String,
    /// PEM files of the TPP's client certificate (an eIDAS QWAC in production) and its key, for
    /// mutual TLS.
    #[serde(default)]
    pub certificate: Option<std::path::PathBuf>,
    #[serde(default)]
    pub private_key: Option<std::path::PathBuf>,
    /// PEM file of an extra root certificate to trust (a bank's test platform, say).
    #[serde(default)]
    pub ca_certificate: Option<std::path::PathBuf>,
    /// XS2A: ask the bank to prefer the redirect approach (`TPP-Redirect-Preferred`).
    #[serde(default = "default_true")]
    pub redirect_preferred: bool,
    /// XS2A: ask a bank-offered consent (the PSU picks the accounts at the bank; a renewal names
    /// the known ones) instead of one on every PSD2 account (`allPsd2`), which some banks refuse.
    #[serde(default)]
    pub bank_offered_consent: bool,
    /// XS2A: the bank accepts `withBalance` on its account list.
    #[serde(default)]
    pub with_balance: bool,
    /// PSD2's reads a day without the user (XS2A's `frequencyPerDay`, asked in the consent), and
    /// so the background syncs a day of this bank's connections; default `BANKD_UNATTENDED_BUDGET`
    /// (4, PSD2's ceiling).
    #[serde(default)]
    pub frequency_per_day: Option<u32>,
    /// How far back the first read of an account goes.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// The longest period the bank serves in one transactions request, in days: a longer read is
    /// asked window by window (`dateFrom`..`dateTo`). None: one request, however long.
    #[serde(default)]
    pub max_window_days: Option<u32>,
    /// Banks serve more than 90 days only shortly after a strong authentication: the first read
    /// of an account goes back `history_days` only within this many minutes of one, else 89 days.
    /// None: always `history_days`.
    #[serde(default)]
    pub full_history_minutes: Option<u32>,
    /// The bank's time zone (IANA name): its date-times without an offset are read in it, and
    /// those with one are dated in it. Default Europe/Paris.
    #[serde(default)]
    pub timezone: Option<String>,
    /// STET: the OAuth2 authorization and token endpoints (a path is on `base_url`'s host), and
    /// bankd's registration with the bank (XS2A's `scaOAuth` needs the `client_id` only).
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    /// STET: the bank's dynamic client registration endpoint (RFC 7591; a path is on `base_url`'s
    /// host). `bankd psd2 register` registers there, and without `client_id` the driver uses what
    /// it stored.
    #[serde(default)]
    pub registration_url: Option<String>,
    /// The name bankd registers under (default `bankd`).
    #[serde(default)]
    pub client_name: Option<String>,
    /// A file holding the signed software statement (a JWT) the AISP got from its national
    /// authority or the bank's TPP directory, sent with the registration.
    #[serde(default)]
    pub software_statement: Option<std::path::PathBuf>,
    /// How bankd asks to authenticate at the token endpoint: `client_secret_basic` (default) or
    /// `tls_client_auth` (the certificate alone, RFC 8705).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Extra headers every call to the bank carries, an API key most often (`X-API-Key`). A
    /// `${NAME}` in a value is read from bankd's environment at start, so that a key stays out of
    /// the catalog file.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// XS2A: the `PSU-ID-Type` sent with the `PSU-ID`, for banks with several kinds of login.
    #[serde(default)]
    pub psu_id_type: Option<String>,
    /// A `Date` header (RFC 7231) on every call, for banks that demand one without signatures.
    #[serde(default)]
    pub date_header: bool,
    /// `Accept: application/json` on every call, for banks that refuse reqwest's `*/*`.
    #[serde(default)]
    pub accept_json: bool,
    /// When calls carry `PSU-IP-Address`: `when-present` (the user's address, when they are
    /// there), `always` (`psu_ip_fallback`, bankd's own address, when they are not) or `never`.
    #[serde(default)]
    pub psu_ip_address: PsuIpRule,
    #[serde(default)]
    pub psu_ip_fallback: Option<std::net::IpAddr>,
    /// XS2A: an OAuth2 token bankd gets before asking the consent (`[connector.source.api.oauth]`).
    #[serde(default)]
    pub oauth: Option<OAuthSettings>,
    /// FinTS: the bank code (BLZ) to send to the FinTS server at `base_url`, for a connector that
    /// is one fixed bank (the sandbox FinTS bank's `99999999`); otherwise the user's form gives it.
    #[serde(default)]
    pub bank_code: Option<String>,
    /// PSD2 request signing (`[connector.source.api.signing]`): HTTP message signatures with the
    /// TPP's QSealC, for the banks that require them (`sources::psd2::signing`).
    #[serde(default)]
    pub signing: Option<SigningSettings>,
}

/// How bankd signs its requests to a PSD2 API: the Berlin Group's profile of the HTTP signatures
/// draft (XS2A implementation guidelines, section 12), which STET also uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    /// PEM file of the signing certificate (an eIDAS QSealC in production).
    pub certificate: std::path::PathBuf,
    /// PEM file of its private key, PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
    pub private_key: std::path::PathBuf,
    /// The signature's algorithm, which the key must be made for.
    #[serde(default)]
    pub algorithm: SignatureAlgorithm,
    /// The hash of the `Digest` header.
    #[serde(default)]
    pub digest: DigestAlgorithm,
    /// The headers signed, each when the request has it (lowercase or not); the dialect's list
    /// when absent.
    #[serde(default)]
    pub headers: Option<Vec<String>>,
    /// The signature's `keyId`: `berlin-group` (`SN=<serial>,CA=<issuer>`, the default of XS2A)
    /// or the URL where the certificate is published (which STET requires).
    #[serde(default)]
    pub key_id: Option<String>,
    /// Signs `(request-target)` (method, path and query) first; STET's default is yes, XS2A's no.
    #[serde(default)]
    pub request_target: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[default]
    #[serde(rename = "rsa-sha256")]
    RsaSha256,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    #[serde(rename = "rsa-sha512")]
    RsaSha512,
    /// ECDSA on P-256 with SHA-256 (an ASN.1 DER signature).
    #[serde(rename = "ecdsa-sha256")]
    EcdsaSha256,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum DigestAlgorithm {
    #[default]
    #[serde(rename = "SHA-256")]
    Sha256,
    #[serde(rename = "SHA-512")]
    Sha512,
}

/// When PSD2 calls carry the `PSU-IP-Address` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PsuIpRule {
    /// The user's address while they are there; none on an unattended read (the standards' way).
    #[default]
    WhenPresent,
    /// The user's address, else `psu_ip_fallback`: for banks that want the header on every call.
    Always,
    /// Never: for banks that refuse it.
    Never,
}

/// An OAuth2 token a bank wants before the consent is asked (`[connector.source.api.oauth]`).
/// A bank that links `scaOAuth` in its consent answer needs none of this: bankd discovers its
/// server (RFC 8414).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    pub mode: OAuthMode,
    /// `pre-step`: the page the user is sent to. A path is on `base_url`'s host.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// The token endpoint, on any host. A path is on `base_url`'s host.
    pub token_url: String,
    #[serde(default)]
    pub scope: Option<String>,
    /// bankd's client id at the bank; or, with `client_id_from_certificate`, the
    /// organizationIdentifier (OID 2.5.4.97) of the QWAC given as `certificate`.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_id_from_certificate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OAuthMode {
    /// The user signs in at the bank's authorization server (code grant, PKCE S256) first.
    PreStep,
    /// bankd gets a token for itself (`client_credentials`, authenticated by its certificate).
    ClientCredentials,
}

fn default_capabilities() -> Vec<String> {
    vec!["bank".into()]
}
fn default_auth_mechanism() -> String {
    "credentials".into()
}
fn default_sync_periodicity() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}
fn default_history_days() -> u32 {
    730
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("parsing the catalog: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid catalog: {0}")]
    Invalid(String),
}

impl Catalog {
    /// The catalog at `path`, or the built-in one; sandbox connectors dropped unless `sandbox`.
    pub fn load(path: Option<&Path>, sandbox: bool) -> Result<Catalog, CatalogError> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|source| CatalogError::Read { path: path.display().to_string(), source })?,
            None => BUILT_IN.to_owned(),
        };
        let mut catalog: Catalog = toml::from_str(&text)?;
        catalog.validate()?;
        catalog.connectors.retain(|c| sandbox || !c.sandbox);
        catalog.profiles.retain(|p| sandbox || !p.sandbox);
        for connector in &mut catalog.connectors {
            connector.sources.sort_by_key(|s| (s.priority, s.id));
        }
        Ok(catalog)
    }

    fn validate(&self) -> Result<(), CatalogError> {
        let invalid = |why: String| Err(CatalogError::Invalid(why));
        let mut ids = HashSet::new();
        let mut uuids = HashSet::new();
        let mut source_ids = HashSet::new();
        let mut profiles = HashSet::new();
        for p in &self.profiles {
            if p.name.trim().is_empty() || !profiles.insert(p.name.as_str()) {
                return invalid(format!("profile name {:?} is empty or not unique", p.name));
            }
            if !PROFILE_DRIVERS.contains(&p.driver.as_str()) {
                return invalid(format!("profile {}: driver '{}' is not one of {PROFILE_DRIVERS:?}", p.name, p.driver));
            }
            check_fields(&p.fields, &format!("profile {}", p.name))?;
        }
        for c in &self.connectors {
            if c.id <= 0 || !ids.insert(c.id) {
                return invalid(format!("connector id {} is not positive or not unique", c.id));
            }
            if !uuids.insert(c.uuid) {
                return invalid(format!("connector uuid {} is not unique", c.uuid));
            }
            if c.sources.is_empty() {
                return invalid(format!("connector {} has no source", c.name));
            }
            for s in &c.sources {
                if s.id <= 0 || !source_ids.insert(s.id) {
                    return invalid(format!("source id {} of {} is not positive or not unique", s.id, c.name));
                }
                if !["openapi", "directaccess", "fallback", "file"].contains(&s.name.as_str()) {
                    return invalid(format!("source {} of {}: unknown name '{}'", s.id, c.name, s.name));
                }
            }
            check_fields(&c.fields, &c.name)?;
        }
        Ok(())
    }

    /// Adds connectors made elsewhere (woob's modules) and checks the whole catalog again: an id or
    /// uuid taken twice stops bankd at start.
    pub fn add(&mut self, connectors: Vec<Connector>) -> Result<(), CatalogError> {
        self.connectors.extend(connectors);
        self.validate()
    }

    /// Removes the real banks reached only through FinTS, for a bankd without a FinTS product
    /// registration (banks refuse unregistered products); sandbox connectors stay, the sandbox
    /// FinTS bank being no real bank. Returns how many were removed.
    pub fn drop_fints_banks(&mut self) -> usize {
        let before = self.connectors.len();
        self.connectors.retain(|c| !c.is_fints_bank());
        before - self.connectors.len()
    }

    /// How many real banks the catalog reaches only through FinTS.
    pub fn fints_banks(&self) -> usize {
        self.connectors.iter().filter(|c| c.is_fints_bank()).count()
    }

    /// The woob modules the catalog's own entries name.
    pub fn woob_modules(&self) -> HashSet<String> {
        let sources = self.connectors.iter().flat_map(|c| &c.sources);
        sources.filter(|s| s.driver == "woob").filter_map(|s| s.module.clone()).collect()
    }

    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    pub fn connector(&self, id: i64) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.id == id)
    }

    pub fn connector_by_uuid(&self, uuid: Uuid) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.uuid == uuid)
    }
}

/// A form's regexes compile.
fn check_fields(fields: &[Field], owner: &str) -> Result<(), CatalogError> {
    for f in fields {
        if let Some(regex) = &f.regex {
            regex::Regex::new(regex)
                .map_err(|e| CatalogError::Invalid(format!("field {} of {owner}: bad regex: {e}", f.name)))?;
        }
    }
    Ok(())
}

impl Connector {
    pub fn source(&self, id: i64) -> Option<&ConnectorSource> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// Its data is brought by the user (statement files), never fetched: it has nothing to sync.
    pub fn is_passive(&self) -> bool {
        self.sources.iter().all(|s| s.driver == FILE_DRIVER)
    }

    /// A real bank every source of which is FinTS.
    fn is_fints_bank(&self) -> bool {
        !self.sandbox && !self.sources.is_empty() && self.sources.iter().all(|s| s.driver == FINTS_DRIVER)
    }

    pub fn source_auth_mechanism<'a>(&'a self, source: &'a ConnectorSource) -> &'a str {
        source.auth_mechanism.as_deref().unwrap_or(&self.auth_mechanism)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_catalog_is_valid_and_has_the_powens_test_connector() {
        let catalog = Catalog::load(None, true).unwrap();
        let sandbox = catalog.connector_by_uuid("338178e6-3d01-564f-9a7b-52ca442459bf".parse().unwrap()).unwrap();
        assert_eq!(sandbox.name, "Sandbox Bank");
        assert!(sandbox.sources.windows(2).all(|w| w[0].priority <= w[1].priority));
    }

    #[test]
    fn sandbox_connectors_are_dropped_when_the_sandbox_is_off() {
        let catalog = Catalog::load(None, false).unwrap();
        assert!(catalog.connectors.iter().all(|c| !c.sandbox));
    }

    #[test]
    fn fints_banks_can_be_dropped_but_not_the_sandbox_or_banks_with_other_sources() {
        let connector = |id: i64, sandbox: bool, drivers: &[&str]| {
            let mut text = format!(
                "[[connector]]\nid = {id}\nuuid = \"00000000-0000-0000-0000-00000000000{id}\"\nname = \"C{id}\"\n\
                 sandbox = {sandbox}\n"
            );
            for (n, driver) in drivers.iter().enumerate() {
                let source = id * 10 + n as i64;
                text += &format!("[[connector.source]]\nid = {source}\nname = \"directaccess\"\npriority = 1\n");
                text += &format!("driver = \"{driver}\"\n");
            }
            text
        };
        let text = [
            connector(1, false, &["fints"]),
            connector(2, true, &["fints"]),
            connector(3, false, &["xs2a", "fints"]),
            connector(4, false, &["sandbox"]),
        ]
        .concat();
        let mut catalog: Catalog = toml::from_str(&text).unwrap();
        assert_eq!(catalog.fints_banks(), 1);
        assert_eq!(catalog.drop_fints_banks(), 1);
        assert_eq!(catalog.connectors.iter().map(|c| c.id).collect::<Vec<_>>(), [2, 3, 4]);
        let built_in = Catalog::load(None, false).unwrap();
        assert_eq!(built_in.fints_banks(), 1, "the German bank (FinTS) connector");
    }

    #[test]
    fn a_profile_gives_each_bank_its_settings_at_its_own_base_url() {
        let catalog = Catalog::load(None, true).unwrap();
        let profile = catalog.profile("sandbox-xs2a").unwrap();
        let api = profile.api.at("/sandbox/xs2a");
        assert_eq!(
            (api.base_url.as_str(), api.with_balance, api.client_id.as_deref()),
            ("/sandbox/xs2a", true, Some("bankd-sandbox"))
        );
        assert!(Catalog::load(None, false).unwrap().profile("sandbox-xs2a").is_none(), "a sandbox profile");
        let profile = |body: &str| toml::from_str::<Catalog>(&format!("[[profile]]\nname = \"p\"\n{body}"));
        let with_url = profile("driver = \"xs2a\"\n[profile.api]\nbase_url = \"https://x.example\"\n").unwrap_err();
        assert!(with_url.to_string().contains("base_url is each bank's own"), "{with_url}");
        assert!(profile("driver = \"xs2a\"\n[profile.api]\nwith_balanse = true\n").is_err(), "unknown setting");
        let woob = profile("driver = \"woob\"\n").unwrap();
        assert!(matches!(woob.validate(), Err(CatalogError::Invalid(_))));
    }

    #[test]
    fn duplicate_ids_and_unknown_source_names_are_refused() {
        let dup = r#"
            [[connector]]
            id = 1
            uuid = "00000000-0000-0000-0000-000000000001"
            name = "A"
            [[connector.source]]
            id = 1
            name = "openapi"
            priority = 1
            driver = "sandbox"
            [[connector]]
            id = 1
            uuid = "00000000-0000-0000-0000-000000000002"
            name = "B"
            [[connector.source]]
            id = 2
            name = "scraping"
            priority = 1
            driver = "sandbox"
        "#;
        let parsed: Catalog = toml::from_str(dup).unwrap();
        assert!(matches!(parsed.validate(), Err(CatalogError::Invalid(_))));
    }
}
