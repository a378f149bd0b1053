//! A SimpleFIN client's journey, as Actual Budget or Firefly III's importer makes it: setup token,
//! claim (once), `/info`, then `/accounts` with the access URL's credentials, its filters and its
//! types; a pending transaction booked under the same id; a connection to repair in `errors`; a
//! revoked access refused.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SANDBOX_UUID, TestApp, TestUser};
use crate::webview::{Browser, code, csrf, entry, find};

/// An access URL, split as a client uses it: the base, and HTTP Basic credentials.
pub struct Access {
    pub base: String,
    pub user: String,
    pub pass: String,
}

async fn setup_token(app: &TestApp, user: &TestUser) -> String {
    let (status, body) = app.post("/2.0/users/me/simplefin/setup-token", Some(&user.token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["setup_token"].as_str().unwrap().to_owned()
}

async fn claim(app: &TestApp, token: &str) -> (StatusCode, String) {
    let url = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token).unwrap()).unwrap();
    let response = app.http.post(&url).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

pub async fn claimed_access(app: &TestApp, user: &TestUser) -> Access {
    let (status, url) = claim(app, &setup_token(app, user).await).await;
    assert_eq!(status, StatusCode::OK, "{url}");
    let parsed = reqwest::Url::parse(&url).unwrap();
    let base =
        format!("{}://{}:{}{}", parsed.scheme(), parsed.host_str().unwrap(), parsed.port().unwrap(), parsed.path());
    Access { base, user: parsed.username().to_owned(), pass: parsed.password().unwrap().to_owned() }
}

async fn accounts(app: &TestApp, access: &Access, query: &str) -> (StatusCode, Value) {
    let url = format!("{}/accounts?{query}", access.base);
    let response = app.http.get(url).basic_auth(&access.user, Some(&access.pass)).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Every field of the body with the JSON type SimpleFIN's clients parse it as.
fn assert_shapes(body: &Value) {
    assert!(body["errors"].is_array(), "{body}");
    for account in body["accounts"].as_array().unwrap() {
        for key in ["domain", "name", "sfin-url", "id"] {
            assert!(account["org"][key].is_string(), "org.{key}: {account}");
        }
        for key in ["id", "name", "currency", "balance", "available-balance"] {
            assert!(account[key].is_string(), "{key}: {account}");
        }
        assert!(account["balance-date"].is_i64() && account["holdings"] == json!([]), "{account}");
        let balance = account["balance"].as_str().unwrap();
        assert_eq!(balance.split('.').nth(1).map(str::len), Some(2), "EUR has two decimals: {balance}");
        for t in account["transactions"].as_array().unwrap() {
            for key in ["id", "amount", "description", "payee", "memo"] {
                assert!(t[key].is_string(), "{key}: {t}");
            }
            assert!(t["posted"].is_i64() && t["transacted_at"].is_i64() && t["pending"].is_boolean(), "{t}");
            assert!(t["extra"].is_object(), "{t}");
        }
    }
}

fn transactions(body: &Value) -> Vec<Value> {
    body["accounts"].as_array().unwrap().iter().flat_map(|a| a["transactions"].as_array().unwrap().clone()).collect()
}

#[tokio::test]
async fn a_budgeting_app_claims_once_and_reads_the_user_s_accounts() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let token = setup_token(&app, &user).await;
    let claim_url = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&token).unwrap()).unwrap();
    assert!(regex::Regex::new(r"/simplefin/claim/[0-9a-f]{64}$").unwrap().is_match(&claim_url), "{claim_url}");
    let (status, url) = claim(&app, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !url.ends_with('\n')
            && regex::Regex::new(r"^http://[a-z0-9]+:[a-z0-9]+@127\.0\.0\.1:\d+/simplefin$").unwrap().is_match(&url),
        "{url}"
    );
    assert_eq!(claim(&app, &token).await.0, StatusCode::FORBIDDEN, "a token claims once");

    let parsed = reqwest::Url::parse(&url).unwrap();
    let info = app.http.get(format!("{}/simplefin/info", app.base)).send().await.unwrap();
    assert_eq!(info.json::<Value>().await.unwrap(), json!({"versions": ["1"]}));
    let access = Access {
        base: format!("{}/simplefin", app.base),
        user: parsed.username().to_owned(),
        pass: parsed.password().unwrap().to_owned(),
    };

    // Two accounts enabled of the demo's three.
    let connection = app.connected(&user, "demo").await;
    let ids = app.enable_accounts(&user, &connection["id"]).await;
    let path = format!("/2.0/users/me/accounts/{}", ids[2]);
    assert_eq!(app.post(&path, Some(&user.token), json!({"disabled": true})).await.0, StatusCode::OK);
    let (status, body) = accounts(&app, &access, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_shapes(&body);
    assert_eq!(body["errors"], json!([]));
    let listed: Vec<String> =
        body["accounts"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed, [ids[0].to_string(), ids[1].to_string()], "only enabled accounts");
    assert_eq!(body["accounts"][0]["org"]["id"], SANDBOX_UUID);
    let all = transactions(&body);
    assert!(all.len() > 20 && all.iter().all(|t| t["pending"] == false), "no pending unless asked");

    // A day of transactions: start-date inclusive, end-date exclusive.
    let day = all[all.len() / 2]["posted"].as_i64().unwrap();
    let (_, that_day) = accounts(&app, &access, &format!("start-date={day}&end-date={}", day + 86_400)).await;
    let posted: Vec<i64> = transactions(&that_day).iter().map(|t| t["posted"].as_i64().unwrap()).collect();
    assert!(!posted.is_empty() && posted.iter().all(|p| *p == day), "{posted:?}");
    let (_, one) = accounts(&app, &access, &format!("account={}", ids[1])).await;
    assert_eq!(one["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(one["accounts"][0]["id"], ids[1].to_string());
    let (_, balances) = accounts(&app, &access, "balances-only=1").await;
    assert_eq!(transactions(&balances).len(), 0);
    assert_eq!(balances["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(accounts(&app, &access, "start-date=yesterday").await.0, StatusCode::BAD_REQUEST);

    // Its owner sees when it was used, and revokes it.
    let (_, list) = app.get("/2.0/users/me/simplefin/access", &user.token).await;
    assert_eq!(list["access"].as_array().unwrap().len(), 1, "{list}");
    assert!(list["access"][0]["last_used"].is_string() && !list.to_string().contains(&access.pass), "{list}");
    let id = list["access"][0]["id"].as_i64().unwrap();
    let other = app.create_user().await;
    assert_eq!(app.delete(&format!("/2.0/users/me/simplefin/access/{id}"), &other.token).await, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&format!("/2.0/users/me/simplefin/access/{id}"), &user.token).await, StatusCode::NO_CONTENT);
    assert_eq!(accounts(&app, &access, "").await.0, StatusCode::FORBIDDEN);
    let wrong = Access { pass: "0".repeat(64), ..claimed_access(&app, &user).await };
    assert_eq!(accounts(&app, &wrong, "").await.0, StatusCode::FORBIDDEN, "a wrong password");
}

#[tokio::test]
async fn a_pending_transaction_is_booked_under_the_same_id_and_a_broken_connection_is_an_error() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let access = claimed_access(&app, &user).await;
    let connection = app.connected(&user, "pending").await;
    app.enable_accounts(&user, &connection["id"]).await;
    let (_, first) = accounts(&app, &access, "pending=1").await;
    assert_shapes(&first);
    let pending: Vec<Value> = transactions(&first).into_iter().filter(|t| t["pending"] == true).collect();
    assert_eq!(pending.len(), 4, "{first}");
    assert!(pending.iter().all(|t| t["posted"] == 0 && t["transacted_at"].as_i64().unwrap() > 0));

    app.resync(&user, &connection["id"]).await;
    let (_, later) = accounts(&app, &access, "pending=1").await;
    let booked: Vec<&Value> = pending
        .iter()
        .filter_map(|p| transactions(&later).into_iter().find(|t| t["id"] == p["id"]).map(|_| p))
        .collect();
    let now = transactions(&later);
    let ids_booked: Vec<&Value> = now.iter().filter(|t| t["pending"] == false).map(|t| &t["id"]).collect();
    assert_eq!(booked.len(), 3, "three of the four kept their ids: {later}");
    assert!(booked.iter().all(|p| ids_booked.contains(&&p["id"])), "and are booked now");

    // A connection the person must repair.
    let sca = app.connected(&user, "sca").await;
    let path = format!("/2.0/users/me/connections/{}?psu_requested=false", sca["id"]);
    let (_, unattended) = app.call(reqwest::Method::PUT, &path, Some(&user.token), None).await;
    assert_eq!(unattended["state"], "SCARequired", "{unattended}");
    let (_, body) = accounts(&app, &access, "balances-only=1").await;
    assert_eq!(body["errors"], json!(["Connection to Sandbox Bank may need attention"]));

    // And one whose password the bank now refuses.
    let refused = app.connected(&user, "demo").await;
    let path = format!("/2.0/users/me/connections/{}", refused["id"]);
    let (status, _) = app.post(&path, Some(&user.token), json!({"password": "0000"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "wrongpass");
    let (_, connection) = app.get(&path, &user.token).await;
    assert_eq!(connection["state"], "wrongpass", "{connection}");
    let (_, body) = accounts(&app, &access, "balances-only=1").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
}

#[tokio::test]
async fn the_manage_page_hands_out_a_setup_token() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let (status, manage) = browser.get(&entry(&app, "manage", &[("code", &code(&app, &user).await)])).await;
    assert_eq!(status, StatusCode::OK, "{manage}");
    let (status, page) = browser.post("/webview/en/simplefin", &[("csrf", &csrf(&manage))]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let token = find(&page, r#"<textarea id="setup-token"[^>]*>([A-Za-z0-9+/=]+)</textarea>"#);
    let (status, url) = claim(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "the page's token claims: {url}");
    assert_eq!(browser.post("/webview/en/simplefin", &[("csrf", "forged")]).await.0, StatusCode::BAD_REQUEST);
}
