//! `bankd psd2 register`: the real binary registers bankd with the sandbox STET bank of a running
//! server (RFC 7591), the server's STET source, which has no `client_id` in its catalog, then
//! connects with that registration; `--update` gets a new secret and the bank refuses the old one.
//! The secret is stored sealed, and each way a registration cannot happen says why.

use std::path::Path;
use std::process::{Output, Stdio};

use bankd::crypto::MasterKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, read};
use crate::psd2::connect_stet_to;

const REGISTERED_UUID: &str = "0c2f1f4e-8a55-5b7e-9d3e-6a1d0e7b4c40";

/// A catalog of STET banks: 40 registers (and has no client_id), 41 is XS2A, 42 has a client_id
/// and no registration endpoint, 43 sends a software statement the bank finds malformed.
fn catalog(dir: &Path) -> std::path::PathBuf {
    let statement = dir.join("statement.jwt");
    std::fs::write(&statement, "not-a-jwt\n").unwrap();
    let connector = |id: i64, uuid: &str, driver: &str, api: &str| {
        format!(
            "[[connector]]\nid = {id}\nuuid = \"{uuid}\"\nname = \"Bank {id}\"\nauth_mechanism = \"webauth\"\n\
             [[connector.source]]\nid = {id}\nname = \"openapi\"\npriority = 1\ndriver = \"{driver}\"\n\
             [connector.source.api]\n{api}\n"
        )
    };
    let stet = "base_url = \"/sandbox/stet\"\nauthorize_url = \"/sandbox/stet/authorize\"\n\
                token_url = \"/sandbox/stet/token\"\n";
    let text = [
        connector(
            40,
            REGISTERED_UUID,
            "stet",
            &format!("{stet}registration_url = \"/sandbox/stet/register\"\nclient_name = \"bankd under test\""),
        ),
        connector(41, "00000000-0000-0000-0000-000000000041", "xs2a", "base_url = \"/sandbox/xs2a\""),
        connector(42, "00000000-0000-0000-0000-000000000042", "stet", &format!("{stet}client_id = \"bankd-sandbox\"")),
        connector(
            43,
            "00000000-0000-0000-0000-000000000043",
            "stet",
            &format!("{stet}registration_url = \"/sandbox/stet/register\"\nsoftware_statement = {statement:?}"),
        ),
    ]
    .concat();
    let path = dir.join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `bankd psd2 register` as the operator runs it against the app's data dir, database and public
/// URL. Not blocking: the sandbox bank it calls runs on this test's thread.
async fn register(app: &TestApp, catalog: &Path, args: &[&str]) -> Output {
    bankd(app, catalog, &[&["psd2", "register"], args].concat()).await
}

/// The `psd2` line of `bankd doctor`.
async fn doctor(app: &TestApp, catalog: &Path) -> String {
    let output = bankd(app, catalog, &["doctor"]).await;
    let stdout = text(&output.stdout);
    let line = stdout.lines().find(|line| line.split_whitespace().nth(1) == Some("psd2"));
    line.unwrap_or_else(|| panic!("no psd2 check: {stdout}")).to_owned()
}

async fn bankd(app: &TestApp, catalog: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_bankd"))
        .args(args)
        .env("BANKD_DATA_DIR", app.data_dir())
        .env("BANKD_DATABASE_URL", &app.database_url)
        .env("BANKD_CATALOG", catalog)
        .env("BANKD_PUBLIC_URL", &app.base)
        .env_remove("BANKD_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Registers (or updates); returns the printed client id.
async fn registered(app: &TestApp, catalog: &Path, args: &[&str]) -> String {
    let output = register(app, catalog, args).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout).trim().to_owned()
}

async fn refused(app: &TestApp, catalog: &Path, args: &[&str]) -> String {
    let output = register(app, catalog, args).await;
    assert!(!output.status.success() && output.stdout.is_empty(), "{}", text(&output.stdout));
    text(&output.stderr)
}

/// What the store holds for source 40, opened with the app's key.
async fn stored(app: &TestApp) -> bankd::sources::psd2::registration::Registration {
    let key = MasterKey::load(None, app.data_dir()).unwrap();
    app.store.psd2_registration(40, &key).await.unwrap().expect("a stored registration")
}

/// A token request at the sandbox bank authenticated as `client_id` with `secret`.
async fn token_status(app: &TestApp, client_id: &str, secret: &str) -> (StatusCode, Value) {
    let call = app.http.post(app.url("/sandbox/stet/token")).basic_auth(client_id, Some(secret));
    read(call.form(&[("grant_type", "refresh_token"), ("refresh_token", "unknown")]).send().await.unwrap()).await
}

async fn connect(app: &TestApp, user: &TestUser, login: &str) -> Value {
    connect_stet_to(app, user, REGISTERED_UUID, login).await
}

#[tokio::test]
async fn an_aisp_registers_with_a_stet_bank_connects_and_updates_its_registration() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path());
    let app = TestApp::spawn_with(|settings| settings.catalog = Some(catalog.clone())).await;
    let user = app.create_user().await;

    // Before registering, the bank cannot be used, and the connection says what to do.
    let body = json!({"connector_uuid": REGISTERED_UUID});
    let (_, unregistered) = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_eq!(unregistered["state"], "websiteUnavailable", "{unregistered}");
    assert!(unregistered.to_string().contains("bankd psd2 register --source 40"), "{unregistered}");

    let unregistered_check = doctor(&app, &catalog).await;
    assert!(
        unregistered_check.starts_with("warn") && unregistered_check.contains("source(s) 40, 43"),
        "{unregistered_check}"
    );
    assert!(unregistered_check.contains("bankd psd2 register --source 40"), "{unregistered_check}");

    let client_id = registered(&app, &catalog, &["--source", "40"]).await;
    let check = doctor(&app, &catalog).await;
    assert!(check.starts_with("warn") && check.contains("source(s) 43") && !check.contains("40"), "{check}");
    let first = stored(&app).await;
    assert_eq!(first.client_id, client_id);
    let secret = first.secret.client_secret.clone().expect("a client secret");
    assert!(first.secret.registration_access_token.is_some() && first.secret.registration_client_uri.is_some());
    assert_eq!(token_status(&app, &client_id, &secret).await.0, StatusCode::BAD_REQUEST, "the client is known");

    // The secret is sealed: neither the sealed column nor what the command printed shows it (the
    // database files are searched at the end).
    let (sealed,): (Vec<u8>,) = bankd::store::on_db!(&app.store.db, pool =>
        sqlx::query_as("SELECT secret FROM psd2_registrations WHERE id = 40").fetch_one(pool).await.unwrap());
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));

    // The running server connects with the registration at once: the token calls carry the secret.
    // `refresh` gets tokens that live a second, so every later sync authenticates again.
    let connection = connect(&app, &user, "refresh").await;
    assert!(connection["state"].is_null(), "{connection}");
    assert!(app.enable_accounts(&user, &connection["id"]).await.len() == 3);

    // Registering again is refused (the first registration would stay live at the bank).
    assert!(refused(&app, &catalog, &["--source", "40"]).await.contains("--update"));

    // After a certificate rotation: a new secret, the old one refused, the connection goes on.
    assert_eq!(registered(&app, &catalog, &["--source", "40", "--update"]).await, client_id);
    let updated = stored(&app).await;
    let new_secret = updated.secret.client_secret.clone().unwrap();
    assert_ne!(new_secret, secret);
    assert_ne!(updated.secret.registration_access_token, first.secret.registration_access_token);
    let (status, body) = token_status(&app, &client_id, &secret).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let synced = app.resync(&user, &connection["id"]).await;
    assert!(synced["state"].is_null(), "{synced}");

    // Last, because opening the live database file in this process (the server's) and closing it
    // drops every POSIX lock the process holds on it: SQLite's connections would go on unlocked,
    // and the next write of another process (the CLI's --update) could be lost.
    if app.database_url.starts_with("sqlite") {
        for file in ["bankd.db", "bankd.db-wal"] {
            let bytes = std::fs::read(app.data_dir().join(file)).unwrap_or_default();
            for known in [&secret, &new_secret] {
                assert!(!bytes.windows(known.len()).any(|w| w == known.as_bytes()), "{file} holds a secret");
            }
        }
    }
}

#[tokio::test]
async fn a_registration_that_cannot_happen_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path());
    let app = TestApp::spawn_with(|settings| settings.catalog = Some(catalog.clone())).await;
    let cases = [
        (&["--source", "99"][..], "the catalog has no source 99"),
        (&["--source", "41"], "uses the xs2a driver: only STET banks"),
        (&["--source", "42"], "has no registration_url"),
        (&["--source", "40", "--update"], "not registered with this bank yet"),
        (&["--source", "43"], "the bank refused the registration (HTTP 400): invalid_software_statement"),
    ];
    for (args, why) in cases {
        let stderr = refused(&app, &catalog, args).await;
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
    let (status, body) = read(
        app.http.post(app.url("/sandbox/stet/register")).json(&json!({"redirect_uris": []})).send().await.unwrap(),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")));
    let put = app.http.put(app.url("/sandbox/stet/register/sbx-unknown")).bearer_auth("nope");
    let (status, body) = read(put.json(&json!({"redirect_uris": ["https://a/cb"]})).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
}

#[tokio::test]
async fn a_secret_the_bank_no_longer_takes_is_bankds_problem_not_the_users() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path());
    let app = TestApp::spawn_with(|settings| settings.catalog = Some(catalog.clone())).await;
    let user = app.create_user().await;
    registered(&app, &catalog, &["--source", "40"]).await;
    let connection = connect(&app, &user, "refresh").await;
    assert!(connection["state"].is_null(), "{connection}");

    // The registration is updated at the bank behind bankd's back (say, from another machine with
    // the same registration): the secret bankd holds is refused.
    let before = stored(&app).await;
    let uri = before.secret.registration_client_uri.clone().unwrap();
    let token = before.secret.registration_access_token.clone().unwrap();
    let body = json!({"client_id": before.client_id, "redirect_uris": [app.url("/2.0/webauth/callback")]});
    let (status, answer) = read(app.http.put(&uri).bearer_auth(&token).json(&body).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refused = app.resync(&user, &connection["id"]).await;
    assert_eq!(refused["state"], "websiteUnavailable", "{refused}");
    assert!(refused["error_message"].as_str().unwrap().contains("invalid_client"), "{refused}");

    // Once bankd holds the new secret, the connection goes on: the PSU's tokens were kept.
    let mut after = before.clone();
    after.secret.client_secret = answer["client_secret"].as_str().map(str::to_owned);
    let key = MasterKey::load(None, app.data_dir()).unwrap();
    app.store.save_psd2_registration(40, &after, &key).await.unwrap();
    let synced = app.resync(&user, &connection["id"]).await;
    assert!(synced["state"].is_null(), "{synced}");
}
