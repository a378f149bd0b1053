//! `bankd doctor`: checks the configuration and the world bankd needs (database, master key,
//! catalog, woob, public URL, webhooks, disk, clock), one [`Check`] each. It only looks: it applies
//! no migration and generates no key, so it is safe against a production data dir.

use std::net::IpAddr;
use std::path::Path;

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::startup::{FINTS_REGISTRATION, woob_runtime};
use crate::store::Store;

/// Below this much free space in the data dir a sync may fail to write: fail.
const DISK_FAIL_BYTES: u64 = 100 << 20;
/// Below this much, warn while there is time.
const DISK_WARN_BYTES: u64 = 1 << 30;
/// Leases and token expiries compare the two clocks: further apart than this, warn.
const CLOCK_SKEW_SECONDS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's outcome; `fix` (one sentence) for warn and fail.
#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub name: &'static str,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check { status: Status::Ok, name, detail: detail.into(), fix: None }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { status: Status::Warn, name, detail: detail.into(), fix: Some(fix.into()) }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { status: Status::Fail, name, detail: detail.into(), fix: Some(fix.into()) }
    }
}

/// Every check, in the order an operator would fix them. Checks that need the database are left
/// out when it cannot be reached (its own check says why).
pub async fn run(settings: &Settings) -> Vec<Check> {
    let mut checks = vec![Check::ok("settings", "parsed")];
    let (database, store) = database(settings).await;
    checks.push(database);
    if let Some(store) = &store {
        checks.push(migrations(store).await);
    }
    checks.push(master_key(settings, store.as_ref()).await);
    let (catalog_check, catalog) = catalog(settings, store.as_ref()).await;
    checks.push(catalog_check);
    if let Some(catalog) = &catalog {
        checks.extend(woob(settings, catalog).await);
    }
    if let (Some(catalog), Some(store)) = (&catalog, &store) {
        checks.extend(psd2(catalog, store).await);
    }
    checks.push(fints(settings, store.as_ref()).await);
    checks.push(public_url(settings));
    checks.push(webhooks(settings));
    checks.push(disk_space(&settings.data_dir));
    if let Some(store) = &store {
        checks.push(clock(store).await);
    }
    checks
}

async fn database(settings: &Settings) -> (Check, Option<Store>) {
    const NAME: &str = "database";
    let url = settings.database_url();
    match Store::connect_existing(&url).await {
        Ok(Some(store)) => match store.ping().await {
            Ok(()) => (Check::ok(NAME, format!("{} reachable", store.backend_name())), Some(store)),
            Err(e) => (Check::fail(NAME, format!("{e}"), "check BANKD_DATABASE_URL and that the database is up"), None),
        },
        Ok(None) => (Check::warn(NAME, "no database file yet", "run `bankd migrate` or start `bankd serve`"), None),
        Err(e) => (
            Check::fail(NAME, format!("cannot connect: {e}"), "check BANKD_DATABASE_URL and that the database is up"),
            None,
        ),
    }
}

async fn migrations(store: &Store) -> Check {
    const NAME: &str = "migrations";
    match store.pending_migrations().await {
        Ok(Some(pending)) if pending.is_empty() => Check::ok(NAME, "up to date"),
        Ok(Some(pending)) => Check::warn(
            NAME,
            format!("{} pending: {}", pending.len(), pending.join(", ")),
            "run `bankd migrate` or start `bankd serve`",
        ),
        Ok(None) => Check::warn(NAME, "database never migrated", "run `bankd migrate` or start `bankd serve`"),
        Err(e) => Check::fail(NAME, format!("cannot read _sqlx_migrations: {e}"), "check the database's permissions"),
    }
}

/// The key is there and opens a sealed row, so a restored backup or a changed key shows here
/// rather than as every sync failing.
async fn master_key(settings: &Settings, store: Option<&Store>) -> Check {
    const NAME: &str = "master key";
    let key = match MasterKey::load_existing(std::env::var("BANKD_MASTER_KEY").ok().as_deref(), &settings.data_dir) {
        Ok(key) => key,
        Err(e) => return Check::fail(NAME, e.to_string(), "set BANKD_MASTER_KEY to the base64 of 32 bytes"),
    };
    let sealed = match store {
        Some(store) => store.first_sealed_connection().await.ok().flatten().map(|id| (store, id)),
        None => None,
    };
    match (key, sealed) {
        (None, None) => Check::warn(
            NAME,
            "none yet, nothing sealed",
            "start `bankd serve` once to generate master.key, then back it up (or set BANKD_MASTER_KEY)",
        ),
        (None, Some((_, id))) => Check::fail(
            NAME,
            format!("missing, and connection {id} has sealed credentials"),
            "restore master.key into the data dir or BANKD_MASTER_KEY from your backup",
        ),
        (Some(_), None) => Check::ok(NAME, "present, nothing sealed yet"),
        (Some(key), Some((store, id))) => match store.connection_credentials(id, &key).await {
            Ok(_) => Check::ok(NAME, format!("opens connection {id}'s credentials")),
            Err(e) => Check::fail(
                NAME,
                format!("connection {id}'s credentials: {e}"),
                "use the master key these credentials were sealed with (BANKD_MASTER_KEY or master.key from your backup)",
            ),
        },
    }
}

/// The catalog file, then woob's modules folder when one is set.
async fn catalog(settings: &Settings, store: Option<&Store>) -> (Check, Option<Catalog>) {
    const NAME: &str = "catalog";
    let fix = "fix the catalog file BANKD_CATALOG names";
    let mut catalog = match Catalog::load(settings.catalog.as_deref(), settings.sandbox) {
        Ok(catalog) => catalog,
        Err(e) => return (Check::fail(NAME, e.to_string(), fix), None),
    };
    // The connectors offered, as `bankd serve` would (its own `fints` check says why not FinTS).
    if settings.fints_product_id().is_none() {
        catalog.drop_fints_banks();
    }
    let Some(store) = store.filter(|_| settings.woob.woob_modules_path.is_some()) else {
        let detail = format!("{} connectors", catalog.connectors.len());
        return (Check::ok(NAME, detail), Some(catalog));
    };
    match crate::startup::catalog(settings, store, &woob_runtime(settings)).await {
        Ok(full) => (Check::ok(NAME, format!("{} connectors with woob's modules", full.connectors.len())), Some(full)),
        Err(e) => (Check::fail(NAME, format!("{e:#}"), "fix BANKD_WOOB_MODULES_PATH or the modules in it"), None),
    }
}

/// woob's Python, when a connector needs it.
async fn woob(settings: &Settings, catalog: &Catalog) -> Option<Check> {
    const NAME: &str = "woob";
    catalog.connectors.iter().flat_map(|c| &c.sources).any(|s| s.driver == "woob").then_some(())?;
    let woob = woob_runtime(settings);
    let checked = match woob.prepare_home() {
        Ok(()) => woob.check().await,
        Err(e) => Err(format!("preparing woob's home: {e}")),
    };
    Some(match checked {
        Ok(()) => Check::ok(NAME, format!("{} imports woob", settings.woob_python)),
        Err(why) => Check::fail(
            NAME,
            why,
            "set BANKD_WOOB_PYTHON to a Python with woob installed (pip install -r crates/bankd/woob/requirements.txt)",
        ),
    })
}

/// STET banks bankd registers with (`registration_url`, no `client_id`): each needs its
/// registration, else its connections cannot authenticate. Nothing to say without such a bank.
async fn psd2(catalog: &Catalog, store: &Store) -> Option<Check> {
    const NAME: &str = "psd2";
    let sources = catalog.connectors.iter().flat_map(|c| &c.sources);
    let registering: Vec<i64> = sources
        .filter(|s| s.driver == "stet")
        .filter(|s| s.api.as_ref().is_some_and(|a| a.client_id.is_none() && a.registration_url.is_some()))
        .map(|s| s.id)
        .collect();
    if registering.is_empty() {
        return None;
    }
    let registered = match store.psd2_registered_sources().await {
        Ok(registered) => registered,
        Err(e) => return Some(Check::warn(NAME, format!("cannot read the registrations: {e}"), "run `bankd migrate`")),
    };
    let missing: Vec<i64> = registering.iter().copied().filter(|id| !registered.contains(id)).collect();
    let Some(first) = missing.first() else {
        return Some(Check::ok(NAME, format!("registered with {} STET bank(s)", registering.len())));
    };
    let list: Vec<String> = missing.iter().map(i64::to_string).collect();
    Some(Check::warn(
        NAME,
        format!("not registered with the STET bank(s) of catalog source(s) {}", list.join(", ")),
        format!("run `bankd psd2 register --source {first}` (and likewise for each)"),
    ))
}

/// German banks through FinTS: the product registration they require, and the operator's
/// directory of their addresses.
async fn fints(settings: &Settings, store: Option<&Store>) -> Check {
    const NAME: &str = "fints";
    let directory = match store {
        Some(store) => match store.fints_institute_count().await {
            Ok(banks) => Some(banks),
            Err(e) => {
                return Check::warn(NAME, format!("cannot read the bank directory: {e}"), "run `bankd migrate`");
            }
        },
        None => None,
    };
    let banks = directory.map_or(String::new(), |banks| format!("; {banks} banks in the directory"));
    if settings.fints_product_id().is_none() {
        let offered = Catalog::load(settings.catalog.as_deref(), settings.sandbox).map_or(0, |c| c.fints_banks());
        let detail = format!("German banks (FinTS) not offered: no product id{banks}");
        if offered == 0 {
            return Check::ok(NAME, detail);
        }
        return Check::warn(NAME, detail, FINTS_REGISTRATION);
    }
    if directory == Some(0) {
        return Check::warn(
            NAME,
            "product id set; the bank directory is empty (users must give their bank's FinTS URL)",
            "import the institute list the FinTS office sent you: `bankd catalog import-fints FILE.csv`",
        );
    }
    Check::ok(NAME, format!("product id set{banks}"))
}

/// The links bankd hands out must reach it from outside, and credentials must not cross the
/// network in clear.
pub fn public_url(settings: &Settings) -> Check {
    const NAME: &str = "public url";
    let listen = settings.listen.ip();
    let Some(url) = &settings.public_url else {
        if listen.is_loopback() {
            return Check::ok(NAME, format!("http://{} (loopback)", settings.listen));
        }
        return Check::warn(
            NAME,
            format!("BANKD_PUBLIC_URL unset while listening on {}", settings.listen),
            "set BANKD_PUBLIC_URL to the https address clients reach bankd at",
        );
    };
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => return Check::fail(NAME, format!("{url}: {e}"), "set BANKD_PUBLIC_URL to an absolute https URL"),
    };
    if parsed.scheme() != "https" && !is_loopback_host(parsed.host_str().unwrap_or_default()) {
        return Check::warn(
            NAME,
            format!("{url} is not https"),
            "serve bankd behind TLS and set BANKD_PUBLIC_URL to its https address",
        );
    }
    Check::ok(NAME, url.clone())
}

fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub fn webhooks(settings: &Settings) -> Check {
    const NAME: &str = "webhooks";
    if settings.webhooks.webhook_allow_private == Some(true) && !settings.sandbox {
        return Check::warn(
            NAME,
            "webhook URLs may reach internal addresses outside the sandbox",
            "unset BANKD_WEBHOOK_ALLOW_PRIVATE unless every receiver is on your own network",
        );
    }
    if settings.webhooks.webhook_workers == 0 {
        return Check::warn(NAME, "no delivery worker", "set BANKD_WEBHOOK_WORKERS to 1 or more");
    }
    Check::ok(NAME, format!("{} delivery workers", settings.webhooks.webhook_workers))
}

fn disk_space(data_dir: &Path) -> Check {
    const NAME: &str = "disk space";
    let free = match free_bytes(data_dir) {
        Ok(free) => free,
        Err(e) => return Check::warn(NAME, format!("unknown: {e}"), "check the free space of the data dir by hand"),
    };
    let detail = format!("{} MB free in {}", free >> 20, data_dir.display());
    if free < DISK_FAIL_BYTES {
        Check::fail(NAME, detail, "free space on the data dir's disk (100 MB at least)")
    } else if free < DISK_WARN_BYTES {
        Check::warn(NAME, detail, "free space on the data dir's disk before it fills (1 GB or more)")
    } else {
        Check::ok(NAME, detail)
    }
}

/// Free bytes for an unprivileged user on the file system of `dir` (or of its nearest existing
/// parent). Through `df -Pk` (POSIX output) rather than statvfs: `nix` is not a dependency, and
/// `libc`'s statvfs needs `unsafe`, which the workspace forbids.
fn free_bytes(dir: &Path) -> Result<u64, String> {
    let existing = dir.ancestors().find(|d| d.exists()).unwrap_or(Path::new("."));
    let output = std::process::Command::new("df").arg("-Pk").arg(existing).output().map_err(|e| format!("df: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_df_available_kb(&text).map(|kb| kb * 1024).ok_or_else(|| format!("unreadable df output {text:?}"))
}

/// The `Available` column (4th) of `df -Pk`'s one data line.
fn parse_df_available_kb(text: &str) -> Option<u64> {
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}

async fn clock(store: &Store) -> Check {
    const NAME: &str = "clock";
    let database = match store.database_now().await {
        Ok(database) => database,
        Err(e) => return Check::warn(NAME, format!("cannot read the database's clock: {e}"), "check the database"),
    };
    let skew = (database - chrono::Utc::now()).num_seconds();
    let detail = format!("database and machine {}s apart", skew.abs());
    if skew.abs() > CLOCK_SKEW_SECONDS {
        Check::warn(NAME, detail, "synchronise both machines' clocks with NTP")
    } else {
        Check::ok(NAME, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(listen: &str, public_url: Option<&str>) -> Settings {
        use clap::Parser;
        #[derive(Parser)]
        struct Args {
            #[command(flatten)]
            settings: Settings,
        }
        let mut settings = Args::parse_from(["doctor"]).settings;
        settings.listen = listen.parse().unwrap();
        settings.public_url = public_url.map(str::to_owned);
        settings
    }

    #[test]
    fn public_url_must_reach_bankd_from_outside_over_https() {
        let status = |listen, url| public_url(&settings(listen, url)).status;
        assert_eq!(status("127.0.0.1:3000", None), Status::Ok);
        assert_eq!(status("0.0.0.0:3000", None), Status::Warn);
        assert_eq!(status("0.0.0.0:3000", Some("http://bank.example")), Status::Warn);
        assert_eq!(status("0.0.0.0:3000", Some("https://bank.example")), Status::Ok);
        assert_eq!(status("127.0.0.1:3000", Some("http://localhost:3000")), Status::Ok);
    }

    #[test]
    fn private_webhooks_outside_the_sandbox_warn() {
        let mut s = settings("127.0.0.1:3000", None);
        assert_eq!(webhooks(&s).status, Status::Ok);
        s.sandbox = false;
        s.webhooks.webhook_allow_private = Some(true);
        assert_eq!(webhooks(&s).status, Status::Warn);
    }

    #[tokio::test]
    async fn fints_says_why_german_banks_are_not_offered_and_how_to_change_that() {
        let mut s = settings("127.0.0.1:3000", None);
        s.fints_product_id = Some(" ".into());
        let unregistered = fints(&s, None).await;
        assert_eq!(unregistered.status, Status::Warn, "the built-in catalog has the German bank (FinTS)");
        assert!(unregistered.fix.unwrap().contains("BANKD_FINTS_PRODUCT_ID"));
        s.fints_product_id = Some("ABCDEF0123456789".into());
        let registered = fints(&s, None).await;
        assert_eq!((registered.status, registered.detail.as_str()), (Status::Ok, "product id set"));
    }

    #[test]
    fn df_output_is_read_in_kilobytes() {
        let text = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 100 40 60 40% /\n";
        assert_eq!(parse_df_available_kb(text), Some(60));
        assert_eq!(parse_df_available_kb("garbage"), None);
    }
}
