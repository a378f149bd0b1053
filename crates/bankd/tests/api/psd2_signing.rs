//! PSD2 request signing end to end: bankd's drivers, configured with `[connector.source.api.signing]`,
//! against the sandbox banks' "signature required" mounts (`/sandbox/xs2a-signed`,
//! `/sandbox/stet-signed`), which verify every call's Digest and Signature.
//!
//! The keys are the fixtures of `tests/psd2-signing` (made by its `make_vectors.py`).

use std::path::PathBuf;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, read};
use crate::psd2::{authorize_at_the_bank, get, go_through_the_bank};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/psd2-signing");
const SIGNED: &str = "5d0f6f0e-8d0b-4a53-9c43-51f1f2b0a001";
const UNSIGNED: &str = "5d0f6f0e-8d0b-4a53-9c43-51f1f2b0a002";
const WRONG_KEY_ID: &str = "5d0f6f0e-8d0b-4a53-9c43-51f1f2b0a003";
const STET_SIGNED: &str = "5d0f6f0e-8d0b-4a53-9c43-51f1f2b0a004";
const STET_UNSIGNED: &str = "5d0f6f0e-8d0b-4a53-9c43-51f1f2b0a005";

/// One XS2A connector on the signature-requiring ASPSP; `signing` is its signing table, if any.
fn xs2a_connector(id: i64, uuid: &str, signing: &str) -> String {
    format!(
        "[[connector]]\nid = {id}\nuuid = \"{uuid}\"\nname = \"Signed {id}\"\nauth_mechanism = \"webauth\"\n\
         [[connector.field]]\nname = \"login\"\nlabel = \"Login\"\ntype = \"text\"\n\
         [[connector.source]]\nid = {id}\nname = \"openapi\"\npriority = 1\ndriver = \"xs2a\"\n\
         [connector.source.api]\nbase_url = \"/sandbox/xs2a-signed\"\nwith_balance = true\n{signing}\n"
    )
}

/// One STET connector on the signature-requiring bank, without its signing table.
fn stet_connector(id: i64, uuid: &str) -> String {
    format!(
        "[[connector]]\nid = {id}\nuuid = \"{uuid}\"\nname = \"Signed STET {id}\"\nauth_mechanism = \"webauth\"\n\
         [[connector.source]]\nid = {id}\nname = \"openapi\"\npriority = 1\ndriver = \"stet\"\n\
         [connector.source.api]\nbase_url = \"/sandbox/stet-signed\"\n\
         authorize_url = \"/sandbox/stet-signed/authorize\"\ntoken_url = \"/sandbox/stet-signed/token\"\n\
         client_id = \"bankd-sandbox\"\n"
    )
}

/// A catalog of the signing connectors; `certificate_url` is where the STET one's certificate is
/// published. Written into `dir`.
fn catalog(dir: &std::path::Path, certificate_url: &str) -> PathBuf {
    let identity = format!(
        "[connector.source.api.signing]\ncertificate = \"{FIXTURES}/tpp.pem\"\nprivate_key = \"{FIXTURES}/tpp.key\"\n"
    );
    let text = [
        xs2a_connector(20, SIGNED, &identity),
        xs2a_connector(21, UNSIGNED, ""),
        // The certificate and key agree, but the keyId names another certificate (other.pem's).
        xs2a_connector(22, WRONG_KEY_ID, &format!("{identity}key_id = \"SN=BADC0DE,CA=CN=bankd other TPP\"\n")),
        stet_connector(24, STET_UNSIGNED),
        format!(
            "{}[connector.source.api.signing]\ncertificate = \"{FIXTURES}/tpp-ec.pem\"\n\
             private_key = \"{FIXTURES}/tpp-ec.key\"\nalgorithm = \"ecdsa-sha256\"\ndigest = \"SHA-512\"\n\
             key_id = \"{certificate_url}\"\n",
            stet_connector(23, STET_SIGNED)
        ),
    ]
    .concat();
    let path = dir.join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A server whose catalog holds the signing connectors, and the directory that keeps the catalog.
async fn spawn() -> (TestApp, tempfile::TempDir) {
    let published = publish_certificate().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path(), &published);
    (TestApp::spawn_with(|settings| settings.catalog = Some(catalog)).await, dir)
}

/// Serves `tpp-ec.pem` as the TPP would publish it for STET banks; returns its URL.
async fn publish_certificate() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/qsealc.pem", listener.local_addr().unwrap());
    let pem = std::fs::read_to_string(format!("{FIXTURES}/tpp-ec.pem")).unwrap();
    let site = axum::Router::new().route("/qsealc.pem", axum::routing::get(move || async move { pem }));
    tokio::spawn(async move { axum::serve(listener, site).await });
    url
}

async fn connect(app: &TestApp, user: &TestUser, uuid: &str, login: &str) -> Value {
    let body = json!({"connector_uuid": uuid, "login": login});
    let (status, connection) = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    connection
}

/// The error message of the connection's last sync.
async fn last_error(app: &TestApp, user: &TestUser, connection: &Value) -> String {
    let logs = get(app, user, &format!("/2.0/users/me/connections/{}/logs", connection["id"])).await;
    logs["connectionlogs"][0]["error_message"].as_str().unwrap_or_default().to_owned()
}

/// Accounts enabled and their transactions read: the whole journey went through the bank's checks.
async fn assert_read(app: &TestApp, user: &TestUser, connection: &Value) {
    assert!(connection["state"].is_null(), "{connection}");
    assert_eq!(app.enable_accounts(user, &connection["id"]).await.len(), 3);
    let rows = app.all_transactions(user, "/2.0/users/me/transactions?limit=1000").await;
    assert!(rows.len() > 100, "{} transactions", rows.len());
    assert!(app.resync(user, &connection["id"]).await["state"].is_null(), "a resync is signed as well");
}

#[tokio::test]
async fn a_signed_xs2a_journey_passes_the_banks_verification() {
    let (app, _dir) = spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, SIGNED, "redirect").await;
    let connection = authorize_at_the_bank(&app, &user, &connection).await;
    assert_read(&app, &user, &connection).await;
}

#[tokio::test]
async fn a_signed_stet_journey_passes_the_banks_verification() {
    let (app, _dir) = spawn().await;
    let user = app.create_user().await;
    let connection = connect_stet(&app, &user, STET_SIGNED).await;
    assert_read(&app, &user, &connection).await;
}

/// Through the STET bank's authorization page and back; the connection as bankd then has it.
async fn connect_stet(app: &TestApp, user: &TestUser, uuid: &str) -> Value {
    let body = json!({"connector_uuid": uuid});
    let (status, connection) = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_eq!((status, connection["state"].as_str()), (StatusCode::CREATED, Some("webauthRequired")), "{connection}");
    go_through_the_bank(app, user, &connection, ("login", "demo")).await;
    get(app, user, &format!("/2.0/users/me/connections/{}", connection["id"])).await
}

#[tokio::test]
async fn an_unsigned_stet_token_request_is_refused_and_the_connection_is_a_bug() {
    let (app, _dir) = spawn().await;
    let user = app.create_user().await;
    let connection = connect_stet(&app, &user, STET_UNSIGNED).await;
    assert_eq!(connection["state"], "bug", "{connection}");
    let error = last_error(&app, &user, &connection).await;
    assert!(
        error.contains("POST /sandbox/stet-signed/token answered 401") && error.contains("(SIGNATURE_MISSING"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unsigned_or_misnamed_request_is_refused_and_the_connection_is_a_bug() {
    let (app, _dir) = spawn().await;
    let user = app.create_user().await;
    let unsigned = connect(&app, &user, UNSIGNED, "demo").await;
    assert_eq!(unsigned["state"], "bug", "a TPP misconfiguration, not the user's to fix: {unsigned}");
    let error = last_error(&app, &user, &unsigned).await;
    assert!(
        error.contains("POST /sandbox/xs2a-signed/v1/consents answered 401")
            && error.contains("(SIGNATURE_MISSING: ")
            && error.contains("[connector.source.api.signing]"),
        "{error}"
    );

    let misnamed = connect(&app, &user, WRONG_KEY_ID, "demo").await;
    assert_eq!(misnamed["state"], "bug", "{misnamed}");
    let error = last_error(&app, &user, &misnamed).await;
    assert!(error.contains("(SIGNATURE_INVALID: The keyId does not name"), "{error}");
}

/// A signed request as bankd's signer makes it, to alter before the sandbox sees it.
fn signed_request(app: &TestApp, key: &str, body: &str) -> reqwest::Request {
    use bankd::sources::psd2::signing::{Dialect, Signer};
    let settings = toml::from_str(&format!(
        "certificate = \"{FIXTURES}/{key}.pem\"\nprivate_key = \"{FIXTURES}/{key}.key\"\n\
         key_id = \"SN=1A2B3C4D5E6F,CA=CN=bankd test TPP,O=bankd tests,C=FR\""
    ))
    .unwrap();
    let signer = Signer::load(&settings, Dialect::Xs2a).unwrap();
    let mut request = app
        .http
        .post(app.url("/sandbox/xs2a-signed/v1/consents"))
        .header("X-Request-ID", "0b8f5d8e-7d57-4a7e-9e43-2b5f5b0c1a11")
        .header("PSU-ID", "demo")
        .header("TPP-Redirect-URI", "https://bankd.example/2.0/webauth/callback")
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .build()
        .unwrap();
    signer.sign(&mut request, chrono::Utc::now()).unwrap();
    request
}

#[tokio::test]
async fn the_sandbox_refuses_a_wrong_key_a_changed_body_and_a_missing_certificate() {
    let (app, _dir) = spawn().await;
    let until = (chrono::Utc::now() + chrono::Days::new(90)).date_naive();
    let consent = json!({"access": {"allPsd2": "allAccounts"}, "recurringIndicator": true, "validUntil": until,
        "frequencyPerDay": 4, "combinedServiceIndicator": false});
    let body = &consent.to_string();
    let code = |answer: &(StatusCode, Value)| {
        (answer.0, answer.1["tppMessages"][0]["code"].as_str().map(str::to_owned).unwrap_or_default())
    };

    let good = read(app.http.execute(signed_request(&app, "tpp", body)).await.unwrap()).await;
    assert_eq!(good.0, StatusCode::CREATED, "{}", good.1);

    // Signed by other.key, presenting tpp.pem (and its serial number in the keyId).
    let mut wrong_key = signed_request(&app, "other", body);
    let tpp = std::fs::read_to_string(format!("{FIXTURES}/tpp.pem")).unwrap();
    let der: String = tpp.lines().filter(|line| !line.starts_with("-----")).collect();
    assert!(base64::engine::general_purpose::STANDARD.decode(&der).is_ok());
    wrong_key.headers_mut().insert("tpp-signature-certificate", der.parse().unwrap());
    let refused = read(app.http.execute(wrong_key).await.unwrap()).await;
    assert_eq!(code(&refused), (StatusCode::UNAUTHORIZED, "SIGNATURE_INVALID".into()), "{}", refused.1);
    assert!(refused.1["tppMessages"][0]["text"].as_str().unwrap().contains("does not verify"));

    let mut changed = signed_request(&app, "tpp", body);
    *changed.body_mut() = Some(body.replace("allAccounts", "allAccountsWithOwnerName").into());
    let refused = read(app.http.execute(changed).await.unwrap()).await;
    assert_eq!(code(&refused), (StatusCode::UNAUTHORIZED, "SIGNATURE_INVALID".into()), "{}", refused.1);

    let mut anonymous = signed_request(&app, "tpp", body);
    anonymous.headers_mut().remove("tpp-signature-certificate");
    let refused = read(app.http.execute(anonymous).await.unwrap()).await;
    assert_eq!(code(&refused), (StatusCode::UNAUTHORIZED, "CERTIFICATE_MISSING".into()), "{}", refused.1);

    // The plain ASPSP still takes unsigned calls.
    let plain = app.http.get(app.url("/sandbox/xs2a/v1/accounts")).header("X-Request-ID", "1");
    assert_eq!(
        read(plain.send().await.unwrap()).await.0,
        StatusCode::BAD_REQUEST,
        "no consent, but no signature asked"
    );
}
