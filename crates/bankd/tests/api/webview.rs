//! The Connect webview over plain HTTP, as a browser without script would use it (the browser
//! tests in webview_browser.rs drive Chromium through the same pages): links checked before
//! anything, codes single-use, forms protected, accounts shared only when ticked.

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};

use crate::helpers::{SANDBOX_UUID, TestApp, TestUser};

const REDIRECT: &str = "https://app.example/callback";

/// A browser: its own cookie jar, redirects inside the webview followed by hand.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Browser {
        let http =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, base: app.base.clone() }
    }

    /// GETs `path`, following the webview's 303s; returns the last status and body.
    pub(crate) async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        self.follow(response).await
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let response = self.http.post(format!("{}{path}", self.base)).form(form).send().await.unwrap();
        self.follow(response).await
    }

    async fn follow(&self, mut response: reqwest::Response) -> (StatusCode, String) {
        while response.status() == StatusCode::SEE_OTHER {
            let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
            response = self.http.get(format!("{}{location}", self.base)).send().await.unwrap();
        }
        (response.status(), response.text().await.unwrap())
    }
}

/// The first capture of `pattern` in a page.
pub(crate) fn find(page: &str, pattern: &str) -> String {
    let re = regex::Regex::new(pattern).unwrap();
    re.captures(page).unwrap_or_else(|| panic!("{pattern} not in {page}"))[1].to_owned()
}

pub(crate) fn csrf(page: &str) -> String {
    find(page, r#"name="csrf" value="([^"]+)""#)
}

/// The `redirect_uri` a returning page sends the browser to, decoded.
fn returned_to(page: &str) -> String {
    let escaped = find(page, r#"http-equiv="refresh" content="0;url=([^"]+)""#);
    escaped.replace("&#x2f;", "/").replace("&amp;", "&")
}

pub(crate) async fn code(app: &TestApp, user: &TestUser) -> String {
    let (status, code) = app.get("/2.0/auth/token/code?type=singleAccess", &user.token).await;
    assert_eq!(status, StatusCode::OK, "{code}");
    code["code"].as_str().unwrap().to_owned()
}

pub(crate) fn entry(app: &TestApp, flow: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("client_id", app.client_id.as_str()), ("redirect_uri", REDIRECT), ("state", "s t&ate")];
    pairs.extend_from_slice(extra);
    format!("/webview/en/{flow}?{}", serde_urlencoded::to_string(&pairs).unwrap())
}

#[tokio::test]
async fn connect_shares_only_the_ticked_accounts_and_returns_to_the_app() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let (status, banks) = browser.get(&entry(&app, "connect", &[("code", &code(&app, &user).await)])).await;
    assert_eq!(status, StatusCode::OK, "{banks}");
    assert!(banks.contains("Choose your bank") && banks.contains(">Sandbox Bank<"), "{banks}");
    let (_, form) = browser.get(&format!("/webview/en/banks/{SANDBOX_UUID}")).await;
    assert!(form.contains("Connect to Sandbox Bank") && form.contains(r#"name="password""#), "{form}");

    let path = format!("/webview/en/banks/{SANDBOX_UUID}");
    let (status, refused) = browser.post(&path, &[("csrf", &csrf(&form)), ("login", "demo"), ("password", "0")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(refused.contains(r#"role="alert""#) && refused.contains("Wrong login or password"), "{refused}");
    assert!(
        refused.contains(r#"value="demo""#) && !refused.contains(r#"value="0""#),
        "the login is kept, not the password"
    );

    let (_, choose) = browser.post(&path, &[("csrf", &csrf(&form)), ("login", "demo"), ("password", "1234")]).await;
    assert!(choose.contains("Choose the accounts to share"), "{choose}");
    let ids: Vec<String> = regex::Regex::new(r#"name="account" value="(\d+)""#)
        .unwrap()
        .captures_iter(&choose)
        .map(|c| c[1].to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "{choose}");
    assert!(!choose.contains("checked"), "nothing is shared before the person ticks it");
    let id_connection = find(&choose, r#"/connections/(\d+)/accounts"#);
    let share = format!("/webview/en/connections/{id_connection}/accounts");
    let ticked = [("csrf", csrf(&choose)), ("account", ids[0].clone()), ("account", ids[1].clone())];
    let ticked: Vec<(&str, &str)> = ticked.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, returning) = browser.post(&share, &ticked).await;
    let target = returned_to(&returning);
    assert_eq!(target, format!("{REDIRECT}?connection_id={id_connection}&state=s+t%26ate"));

    let (_, accounts) = app.get("/2.0/users/me/accounts?all", &user.token).await;
    let enabled: Vec<String> = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["disabled"].is_null())
        .map(|a| a["id"].to_string())
        .collect();
    assert_eq!(enabled, ids[..2].to_vec(), "{accounts}");
    // The session ended with the journey.
    assert_eq!(browser.get(&share).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn links_are_checked_codes_are_single_use_and_forms_need_their_token() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);

    let evil = format!(
        "/webview/en/connect?{}",
        serde_urlencoded::to_string([
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", "https://evil.example/cb")
        ])
        .unwrap()
    );
    let response = browser.http.get(format!("{}{evil}", app.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(LOCATION).is_none(), "never redirected");
    assert!(response.text().await.unwrap().contains("This link cannot be used"));

    let code = code(&app, &user).await;
    let first =
        browser.http.get(format!("{}{}", app.base, entry(&app, "manage", &[("code", &code)]))).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let cookie = first.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/webview"),
        "{cookie}"
    );
    for header in ["content-security-policy", "x-frame-options"] {
        assert!(first.headers().get(header).is_some(), "{header}");
    }
    let again = Browser::new(&app).get(&entry(&app, "manage", &[("code", &code)])).await;
    assert_eq!(again.0, StatusCode::BAD_REQUEST, "a code works once");
    assert!(again.1.contains("expired or was already used"));

    // Someone else's connection is not found; a form without the session's token is refused.
    let other = app.create_user().await;
    let theirs = app.connected(&other, "demo").await;
    let (status, _) = browser.get(&format!("/webview/en/connections/{}/accounts", theirs["id"])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = browser.post(&format!("/webview/en/connections/{}/delete", theirs["id"]), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&format!("/2.0/users/me/connections/{}", theirs["id"]), &other.token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn apps_can_have_bankd_build_the_links_and_french_is_spoken() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let query = serde_urlencoded::to_string([("redirect_uri", REDIRECT), ("state", "42"), ("lang", "fr")]).unwrap();
    let (status, link) = app.get(&format!("/2.0/webview/connect-url?{query}"), &user.token).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/webview/fr/connect?client_id={}", app.base, app.client_id)), "{url}");
    let browser = Browser::new(&app);
    let (status, page) = browser.get(url.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Choisissez votre banque") && page.contains(r#"<html lang="fr">"#), "{page}");

    let bad = serde_urlencoded::to_string([("redirect_uri", "https://evil.example/cb")]).unwrap();
    let refused = app.get(&format!("/2.0/webview/connect-url?{bad}"), &user.token).await;
    assert_eq!(refused.0, StatusCode::BAD_REQUEST, "{}", refused.1);
    let reconnect = format!("/2.0/webview/reconnect-url?redirect_uri={REDIRECT}&connection_id={}", connection["id"]);
    let (status, link) = app.get(&reconnect, &user.token).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let (_, page) = Browser::new(&app).get(link["url"].as_str().unwrap().strip_prefix(&app.base).unwrap()).await;
    assert!(page.contains("Reconnect to Sandbox Bank"), "{page}");

    let (status, link) = app.get("/2.0/webview/manage-url", &user.token).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let (_, page) = Browser::new(&app).get(link["url"].as_str().unwrap().strip_prefix(&app.base).unwrap()).await;
    assert!(page.contains("Your bank connections") && page.contains("<h2"), "{page}");
}

#[tokio::test]
async fn statement_files_are_uploaded_and_manage_turns_sources_and_accounts_off() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let (_, banks) = browser.get(&entry(&app, "connect", &[("code", &code(&app, &user).await)])).await;
    let statements = "5b8f3c2e-8f0a-5c4e-9d57-5f1c2b7a9e10";
    assert!(banks.contains(statements), "{banks}");
    let (_, form) = browser.get(&format!("/webview/en/banks/{statements}")).await;
    assert!(form.contains(r#"type="file""#) && form.contains("multipart/form-data"), "{form}");
    let qif = "!Type:Bank\nD03/11/2026\nT-42.50\nPCB MONOPRIX\n^\nD10/11/2026\nT2500.00\nPVIR SALAIRE\n^\n";
    let upload = reqwest::multipart::Form::new()
        .text("csrf", csrf(&form))
        .part("file", reqwest::multipart::Part::text(qif).file_name("november.qif"));
    let response = browser
        .http
        .post(format!("{}/webview/en/banks/{statements}/upload", app.base))
        .multipart(upload)
        .send()
        .await
        .unwrap();
    let (_, choose) = browser.follow(response).await;
    assert!(choose.contains("Choose the accounts to share") && choose.contains("checked"), "imported: shared {choose}");
    let (_, transactions) = app.get("/2.0/users/me/transactions", &user.token).await;
    assert_eq!(transactions["total"], 2, "{transactions}");

    // Manage: the Sandbox Bank's second source turned off, its account shared then not.
    let connection = app.connected(&user, "demo").await;
    let account = app.enable_accounts(&user, &connection["id"]).await[0];
    let (_, list) = browser.get(&entry(&app, "manage", &[("code", &code(&app, &user).await)])).await;
    assert!(list.contains("Statement files") && list.contains("Sandbox Bank"), "{list}");
    let sources = format!("/2.0/users/me/connections/{}/sources", connection["id"]);
    let (_, before) = app.get(&sources, &user.token).await;
    let directaccess = before["sources"].as_array().unwrap().iter().find(|s| s["name"] == "directaccess").unwrap();
    let form = [("csrf", csrf(&list)), ("enabled", "false".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post(&format!("/webview/en/sources/{}", directaccess["id"]), &form).await;
    let (_, after) = app.get(&sources, &user.token).await;
    let directaccess = after["sources"].as_array().unwrap().iter().find(|s| s["name"] == "directaccess").unwrap();
    assert!(directaccess["disabled"].is_string(), "{after}");
    let (_, list) = browser.post(&format!("/webview/en/accounts/{account}"), &form).await;
    let (_, shown) = app.get(&format!("/2.0/users/me/accounts/{account}"), &user.token).await;
    assert!(shown["disabled"].is_string(), "{shown}");
    assert!(list.contains(&format!("Enable {}", shown["name"].as_str().unwrap())), "{list}");
}
