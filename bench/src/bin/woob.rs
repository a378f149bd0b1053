//! A sync of a woob module with ten accounts (the test module `bankdmany`: 20 transactions each),
//! beside the anchor of the way bankd ran woob before: one helper process per source call (log in
//! and list the accounts twice, then log in again for each account's history), measured in the
//! same run with the same helper and module.
//!
//! BANKD_BENCH_WOOB_PYTHON=/path/to/venv/bin/python cargo run --release -p bankd-bench --bin woob
//! (skipped without a Python that has woob: `pip install -r crates/bankd/woob/requirements.txt`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bankd::catalog::Catalog;
use bankd::crypto::MasterKey;
use bankd::sources::Credentials;
use bankd::sources::woob::helper::{Helper, WoobRuntime};
use bankd::store::Store;
use bankd::store::accounts::AccountEdit;
use bankd::sync::{SyncRequest, Syncer};
use bankd_bench::{Backend, fresh_store, header, row};
use serde_json::{Value, json};

const RUNS: usize = 5;

fn modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/bankd/tests/woob_modules")
}

fn catalog() -> Catalog {
    let text = format!(
        "[[connector]]\nid = 1\nuuid = \"00000000-0000-0000-0000-00000000000a\"\nname = \"Ten accounts\"\n\
         [[connector.field]]\nname = \"login\"\nlabel = \"Login\"\ntype = \"text\"\n\
         [[connector.field]]\nname = \"password\"\nlabel = \"Password\"\ntype = \"password\"\n\
         [[connector.source]]\nid = 1\nname = \"directaccess\"\npriority = 1\ndriver = \"woob\"\n\
         module = \"bankdmany\"\nmodules_path = \"{}\"\n",
        modules().display()
    );
    let file = tempfile::NamedTempFile::new().expect("catalog file");
    std::fs::write(file.path(), text).expect("write catalog");
    Catalog::load(Some(file.path()), false).expect("catalog")
}

/// How many helpers this process has started for `bankdmany`, from its own metrics.
fn helpers_started() -> f64 {
    let text = bankd::telemetry::metrics().render();
    let prefix = "bankd_woob_helpers_started_total{module=\"bankdmany\"} ";
    text.lines().find_map(|l| l.strip_prefix(prefix)).map_or(0.0, |v| v.parse().unwrap_or(0.0))
}

/// A connection to `bankdmany` with its ten accounts enabled, and the syncer that runs it.
async fn connection(store: &Store, woob: &WoobRuntime) -> (Syncer, i64, i64) {
    let catalog = Arc::new(catalog());
    let key = Arc::new(MasterKey::from_bytes(&[7; 32]).expect("key"));
    let syncer = Syncer {
        store: store.clone(),
        drivers: bankd::startup::drivers(
            &catalog,
            "http://127.0.0.1:3000",
            woob,
            bankd::sources::Timeouts::default(),
            bankd_bench::unregistered_fints(store),
            bankd::sources::psd2::registration::NoRegistrations::shared(),
        )
        .expect("drivers"),
        catalog: catalog.clone(),
        key: key.clone(),
        webauth_callback: "http://127.0.0.1:3000/2.0/webauth/callback".into(),
    };
    let user = store.create_user(None, "bench").await.expect("user");
    let credentials = Credentials([("login", "a"), ("password", "1234")].map(|(k, v)| (k.into(), v.into())).into());
    let id = store.create_connection(user.id, &catalog.connectors[0], &credentials, &key).await.expect("connection");
    sync(&syncer, user.id, id).await;
    for account in store.accounts_of_connection(id).await.expect("accounts") {
        let enable = AccountEdit { disabled: Some(false), ..AccountEdit::default() };
        store.edit_account(&account, &enable).await.expect("enable");
    }
    (syncer, user.id, id)
}

async fn sync(syncer: &Syncer, id_user: i64, id: i64) -> Duration {
    let connection = syncer.store.connection(id_user, id).await.expect("load").expect("connection");
    let started = Instant::now();
    let outcome = syncer.sync(&connection, &SyncRequest::default()).await.expect("sync");
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    started.elapsed()
}

/// The anchor: the calls of one sync, each in a helper of its own, as the driver did before.
async fn one_helper_per_call(woob: &WoobRuntime) -> (Duration, usize) {
    let login = json!({
        "module": "bankdmany",
        "modules_path": modules(),
        "config": {"login": "a", "password": "1234", "request_information": {}},
        "storage": Value::Null,
    });
    let started = Instant::now();
    let mut processes = 0;
    let mut accounts = Vec::new();
    // `login` then `accounts`: each logged in and listed the accounts.
    for _ in 0..2 {
        let mut helper = Helper::start(woob, "anchor").await.expect("helper");
        helper.call("login", login.clone()).await.expect("login");
        accounts =
            helper.call("accounts", Value::Null).await.expect("accounts").as_array().cloned().unwrap_or_default();
        helper.call("storage", Value::Null).await.expect("storage");
        helper.close().await;
        processes += 1;
    }
    for account in &accounts {
        let mut helper = Helper::start(woob, "anchor").await.expect("helper");
        helper.call("login", login.clone()).await.expect("login");
        helper.call("history", json!({"account": account["id"], "since": null})).await.expect("history");
        helper.call("coming", json!({"account": account["id"]})).await.expect("coming");
        helper.call("storage", Value::Null).await.expect("storage");
        helper.close().await;
        processes += 1;
    }
    (started.elapsed(), processes)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main]
async fn main() {
    if std::env::var_os("BANKD_BENCH_NO_HEADER").is_none() {
        header();
    }
    let what = "woob: sync of a 10-account module (`bankdmany`, 200 transactions)";
    let Ok(python) = std::env::var("BANKD_BENCH_WOOB_PYTHON") else {
        row(what, "skipped: set BANKD_BENCH_WOOB_PYTHON to a Python with woob", "", "", "");
        return;
    };
    let home = tempfile::tempdir().expect("woob home");
    let woob = WoobRuntime::new(&python, home.path(), Duration::from_secs(300), 4);
    woob.prepare_home().expect("woob home");
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _) = fresh_store(Backend::Sqlite, &dir).await.expect("SQLite");
    let (syncer, id_user, id) = connection(&store, &woob).await;

    let before = helpers_started();
    let mut synced = Vec::new();
    for _ in 0..RUNS {
        synced.push(sync(&syncer, id_user, id).await);
    }
    let per_sync = (helpers_started() - before) / RUNS as f64;
    let mut anchor = Vec::new();
    let mut anchor_processes = 0;
    for _ in 0..RUNS {
        let (elapsed, processes) = one_helper_per_call(&woob).await;
        anchor.push(elapsed);
        anchor_processes = processes;
    }
    let (synced, anchor) = (median(synced), median(anchor));
    row(
        what,
        &format!("{:.2} s, {per_sync:.0} helper process per sync (median of {RUNS})", synced.as_secs_f64()),
        &format!("{:.2} s, {anchor_processes} helper processes (one per call, as before)", anchor.as_secs_f64()),
        &format!("{:.2}x", synced.as_secs_f64() / anchor.as_secs_f64()),
        "1 process per sync",
    );
}
