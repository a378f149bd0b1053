//! How a bank is described in the catalog (`[connector.source.api]`): extra headers, `PSU-ID-Type`,
//! `Date`, `Accept`, the `PSU-IP-Address` rule and the OAuth2 variants. Each against the sandbox
//! ASPSP's login (or path) that demands it, over real HTTP: described, the bank is read; not
//! described, it refuses bankd and the connection says why.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};
use crate::psd2::get;

const DESCRIBED: &str = "0b6c6f3e-5d0e-4a36-9d64-2a4f0b9c1e01";
const BARE: &str = "0b6c6f3e-5d0e-4a36-9d64-2a4f0b9c1e02";

/// A connector's catalog entry for an XS2A bank at `base_url`, with `api` added to its table.
fn connector(id: i64, uuid: &str, base_url: &str, api: &str) -> String {
    format!(
        "[[connector]]\nid = {id}\nuuid = \"{uuid}\"\nname = \"Bank {id}\"\n\
         [[connector.field]]\nname = \"login\"\nlabel = \"Login\"\ntype = \"text\"\n\
         [[connector.source]]\nid = {id}\nname = \"openapi\"\npriority = 1\ndriver = \"xs2a\"\n\
         [connector.source.api]\nbase_url = \"{base_url}\"\n{api}\n"
    )
}

/// A bankd whose catalog holds the sandbox ASPSP at `base_url` twice: described by `api`
/// (`DESCRIBED`), and bare (`BARE`).
async fn described_and_bare(base_url: &str, api: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    let text = format!("{}{}", connector(1, DESCRIBED, base_url, api), connector(2, BARE, base_url, ""));
    std::fs::write(&catalog, text).unwrap();
    let app = TestApp::spawn_with(|settings| settings.catalog = Some(catalog)).await;
    // The catalog is read at start.
    drop(dir);
    app
}

async fn connect(app: &TestApp, user: &TestUser, uuid: &str, login: &str) -> Value {
    let body = json!({"connector_uuid": uuid, "login": login});
    let (status, connection) = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    connection
}

/// The connection synced its three accounts.
async fn assert_read(app: &TestApp, user: &TestUser, connection: &Value) {
    assert!(connection["state"].is_null(), "{connection}");
    assert_eq!(app.enable_accounts(user, &connection["id"]).await.len(), 3);
}

/// The last sync's error in the connection's log.
async fn logged_error(app: &TestApp, user: &TestUser, connection: &Value) -> String {
    let logs = get(app, user, &format!("/2.0/users/me/connections/{}/logs", connection["id"])).await;
    logs["connectionlogs"][0]["error_message"].as_str().unwrap_or_default().to_owned()
}

/// `login`'s bank reads with `api`, and refuses the bare entry with a `bug` whose log says `why`.
async fn demanded(login: &str, api: &str, why: &str) {
    let app = described_and_bare("/sandbox/xs2a", api).await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, DESCRIBED, login).await;
    assert_read(&app, &user, &connection).await;
    let refused = connect(&app, &user, BARE, login).await;
    assert_eq!(refused["state"], "bug", "{refused}");
    let logged = logged_error(&app, &user, &refused).await;
    assert!(logged.contains("POST /sandbox/xs2a/v1/consents") && logged.contains(why), "{logged}");
}

#[tokio::test]
async fn an_api_key_header_is_sent_with_every_call() {
    demanded("apikey", "headers = { \"X-API-Key\" = \"sandbox-api-key\" }", "X-API-Key").await;
}

#[tokio::test]
async fn the_psu_id_goes_with_its_type() {
    demanded("psuidtype", "psu_id_type = \"RETAIL\"", "PSU-ID-Type").await;
}

#[tokio::test]
async fn a_bank_that_wants_a_date_gets_one() {
    demanded("dated", "date_header = true", "Date header").await;
}

#[tokio::test]
async fn accept_json_is_forced_for_a_bank_that_refuses_anything_else() {
    demanded("acceptjson", "accept_json = true", "Accept: application/json").await;
}

#[tokio::test]
async fn the_psu_ip_address_rule_follows_the_bank() {
    let api = "psu_ip_address = \"always\"\npsu_ip_fallback = \"203.0.113.7\"";
    let app = described_and_bare("/sandbox/xs2a", api).await;
    let user = app.create_user().await;
    let unattended = |connection: &Value| format!("/2.0/users/me/connections/{}?psu_requested=false", connection["id"]);

    // `always`: without the user, bankd's own address goes.
    let described = connect(&app, &user, DESCRIBED, "psuip").await;
    assert_read(&app, &user, &described).await;
    let (_, synced) = app.call(Method::PUT, &unattended(&described), Some(&user.token), None).await;
    assert!(synced["state"].is_null(), "{synced}");

    // `when-present`: fine with the user there, refused without.
    let bare = connect(&app, &user, BARE, "psuip").await;
    assert!(bare["state"].is_null(), "{bare}");
    let (_, refused) = app.call(Method::PUT, &unattended(&bare), Some(&user.token), None).await;
    assert_eq!(refused["state"], "bug", "{refused}");
    let logged = logged_error(&app, &user, &bare).await;
    assert!(logged.contains("PSU-IP-Address"), "{logged}");

    // `never`: not even the user's.
    let never = described_and_bare("/sandbox/xs2a", "psu_ip_address = \"never\"").await;
    let user = never.create_user().await;
    let refused = connect(&never, &user, DESCRIBED, "psuip").await;
    assert_eq!(refused["state"], "bug", "{refused}");
}

/// The simulated banks served alone, as another host would: their URL.
async fn banks_elsewhere() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let banks_url = format!("http://{}", listener.local_addr().unwrap());
    let banks = axum::Router::new().nest("/sandbox", bankd::simulators::router(&banks_url, false));
    tokio::spawn(async move { axum::serve(listener, banks).await });
    banks_url
}

#[tokio::test]
async fn a_pre_step_oauth_signs_the_user_in_before_the_consent() {
    let banks = banks_elsewhere().await;
    let port = banks.rsplit(':').next().unwrap();
    // The authorization page and the token endpoint on two hosts (two names of this machine).
    let api = format!(
        "[connector.source.api.oauth]\nmode = \"pre-step\"\nclient_id = \"bankd-tests\"\nscope = \"aisp\"\n\
         authorize_url = \"http://localhost:{port}/sandbox/xs2a-prestep/oauth/authorize\"\n\
         token_url = \"http://127.0.0.1:{port}/sandbox/xs2a-prestep/oauth/token\""
    );
    let app = described_and_bare(&format!("{banks}/sandbox/xs2a-prestep"), &api).await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, DESCRIBED, "demo").await;
    let path = format!(
        "/2.0/webauth-url?client_id={}&redirect_uri=https://app.example/callback&id_connection={}",
        app.client_id, connection["id"]
    );
    let page = get(&app, &user, &path).await["url"].as_str().unwrap().to_owned();
    assert!(page.starts_with(&format!("http://localhost:{port}/sandbox/xs2a-prestep/oauth/authorize?")), "{page}");
    assert!(page.contains("code_challenge_method=S256") && page.contains("scope=aisp"), "{page}");
    // Back from the bank, the token opens the consent, which needs no SCA of its own here.
    let connection = crate::psd2::authorize_at_the_bank(&app, &user, &connection).await;
    assert_read(&app, &user, &connection).await;
    assert!(app.resync(&user, &connection["id"]).await["state"].is_null());

    let refused = connect(&app, &user, BARE, "demo").await;
    assert_eq!(refused["state"], "SCARequired", "{refused}");
    assert!(refused["error_message"].as_str().unwrap().contains("pre-step"), "{refused}");
}

#[tokio::test]
async fn a_client_credentials_token_comes_before_the_consent() {
    // The TPP's QWAC, whose organizationIdentifier is bankd's client id at the bank.
    let dir = tempfile::tempdir().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["tpp.example".into()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 97]), "PSDFR-ACPR-12345");
    let key = rcgen::KeyPair::generate().unwrap();
    let (certificate, private_key) = (dir.path().join("qwac.pem"), dir.path().join("qwac.key"));
    std::fs::write(&certificate, params.self_signed(&key).unwrap().pem()).unwrap();
    std::fs::write(&private_key, key.serialize_pem()).unwrap();
    let api = format!(
        "certificate = \"{}\"\nprivate_key = \"{}\"\n\
         [connector.source.api.oauth]\nmode = \"client-credentials\"\nclient_id_from_certificate = true\n\
         token_url = \"/sandbox/xs2a-cc/oauth/token\"",
        certificate.display(),
        private_key.display()
    );
    let app = described_and_bare("/sandbox/xs2a-cc", &api).await;
    let user = app.create_user().await;
    // The consent still needs the PSU at the bank (the redirect approach).
    let connection = connect(&app, &user, DESCRIBED, "demo").await;
    let connection = crate::psd2::authorize_at_the_bank(&app, &user, &connection).await;
    assert_read(&app, &user, &connection).await;

    let refused = connect(&app, &user, BARE, "demo").await;
    assert_eq!(refused["state"], "SCARequired", "{refused}");
    assert!(refused["error_message"].as_str().unwrap().contains("client_credentials"), "{refused}");
}

#[tokio::test]
async fn the_sca_oauth_scope_follows_the_banks_template() {
    let app = described_and_bare("/sandbox/xs2a", "client_id = \"bankd-tests\"\nscope = \"AIS: {consentId}\"").await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, DESCRIBED, "oauth").await;
    let path = format!(
        "/2.0/webauth-url?client_id={}&redirect_uri=https://app.example/callback&id_connection={}",
        app.client_id, connection["id"]
    );
    let page = get(&app, &user, &path).await["url"].as_str().unwrap().to_owned();
    assert!(page.contains("scope=AIS%3A+"), "{page}");
    let connection = crate::psd2::authorize_at_the_bank(&app, &user, &connection).await;
    assert_read(&app, &user, &connection).await;
}
