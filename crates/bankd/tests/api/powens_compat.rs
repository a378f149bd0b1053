//! Wire compatibility, proven: every operation that bankd's `/2.0/openapi.json` shares with Powens'
//! published OpenAPI files answers a body valid under Powens' schema, for a user in each situation
//! an app meets (healthy, waiting for an OTP, waiting for a bank's page, accounts not consented yet).
//! A new route that Powens also documents fails here until it has a sample below.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{SANDBOX_UUID, TestApp, TestUser, read};
use crate::powens_spec::{PowensSpec, normalize, violations};

/// Where bankd answers another status than Powens' file on purpose: (method, path, bankd's, Powens').
const STATUS_DEVIATIONS: &[(&str, &str, u16, u16)] = &[
    // shared/api/connections.md: a created connection is `201 Created`; Powens' file documents 200,
    // with the same body.
    ("POST", "/users/{}/connections", 201, 200),
];

/// One answer of bankd to check: what was asked, and what came back.
struct Sample {
    request: String,
    status: StatusCode,
    body: Value,
}

/// A user with every kind of connection an app meets, and the ids the samples need.
struct Scenario {
    user: TestUser,
    /// `demo`, accounts enabled.
    healthy: i64,
    /// `otp`: waiting for the code.
    otp: i64,
    /// `webauth`: waiting for the bank's page.
    webauth: i64,
    enabled_account: i64,
    disabled_account: i64,
    transaction: i64,
}

impl Scenario {
    async fn new(app: &TestApp) -> Scenario {
        let user = app.create_user().await;
        let healthy = app.connected(&user, "demo").await["id"].clone();
        let enabled_account = app.enable_accounts(&user, &healthy).await[0];
        app.connected(&user, "alice").await; // accounts discovered, not consented to
        let otp = app.connected(&user, "otp").await["id"].as_i64().unwrap();
        let webauth = app.connected(&user, "webauth").await["id"].as_i64().unwrap();
        let (_, all) = app.get("/2.0/users/me/accounts?all", &user.token).await;
        let disabled_account =
            all["accounts"].as_array().unwrap().iter().find(|a| !a["disabled"].is_null()).unwrap()["id"].as_i64();
        let (_, page) = app.get("/2.0/users/me/transactions?limit=1", &user.token).await;
        Scenario {
            user,
            healthy: healthy.as_i64().unwrap(),
            otp,
            webauth,
            enabled_account,
            disabled_account: disabled_account.unwrap(),
            transaction: page["transactions"][0]["id"].as_i64().unwrap(),
        }
    }
}

#[tokio::test]
async fn every_operation_shared_with_powens_answers_a_body_valid_under_its_schema() {
    let app = TestApp::spawn().await;
    let spec = PowensSpec::load();
    let scenario = Scenario::new(&app).await;
    let (_, openapi) = read(app.http.get(app.url("/2.0/openapi.json")).send().await.unwrap()).await;

    let mut shared = Vec::new();
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let (method, path) = (method.to_uppercase(), normalize(path));
            if !spec.operations(&method, &path).is_empty() {
                shared.push((method, path));
            }
        }
    }
    assert!(shared.len() >= 20, "only {} operations shared with Powens' files: {shared:?}", shared.len());

    // Deleting operations go last: they consume what the others read.
    shared.sort_by_key(|(method, _)| method == "DELETE");
    let mut failures = Vec::new();
    for (method, path) in &shared {
        let samples = samples(&app, &scenario, method, path).await;
        assert!(!samples.is_empty(), "no sample for {method} {path}");
        for sample in samples {
            failures.extend(check(&spec, method, path, &sample));
        }
    }
    assert!(failures.is_empty(), "answers Powens' schemas refuse:\n{}", failures.join("\n"));
}

/// What is wrong with one answer under Powens' schema of that operation, if anything.
fn check(spec: &PowensSpec, method: &str, path: &str, sample: &Sample) -> Vec<String> {
    let status = sample.status.as_u16();
    let documented =
        STATUS_DEVIATIONS.iter().find(|d| d.0 == method && d.1 == path && d.2 == status).map_or(status, |d| d.3);
    let context = format!("{} → {status}", sample.request);
    let mut outcomes = Vec::new();
    for operation in spec.operations(method, path) {
        match operation.responses.get(&documented) {
            None => outcomes.push(vec![format!("{context}: Powens documents no {documented} here ({})", sample.body)]),
            Some(None) if sample.body.is_null() => return Vec::new(),
            Some(None) => outcomes.push(vec![format!("{context}: Powens documents no body, got {}", sample.body)]),
            Some(Some(schema)) => {
                let found = violations(schema, &sample.body);
                if found.is_empty() {
                    return Vec::new();
                }
                outcomes.push(found.into_iter().map(|v| format!("{context}: {v}")).collect());
            }
        }
    }
    outcomes.into_iter().next().unwrap_or_default()
}

/// Calls bankd for one shared operation, in every situation worth checking.
async fn samples(app: &TestApp, s: &Scenario, method: &str, path: &str) -> Vec<Sample> {
    let token = s.user.token.as_str();
    let credentials = app.client_credentials();
    let mut calls: Vec<(Method, String, Option<String>, Option<Value>)> = Vec::new();
    let mut get = |url: String| calls.push((Method::GET, url, Some(token.to_owned()), None));
    match (method, path) {
        ("GET", "/account_types") => get("/2.0/account_types".into()),
        ("GET", "/account_types/{}") => get("/2.0/account_types/6".into()),
        ("GET", "/connectors") => get("/2.0/connectors?expand=fields,sources".into()),
        ("GET", "/connectors/{}") => {
            get(format!("/2.0/connectors/{SANDBOX_UUID}"));
            get("/2.0/connectors/1".into());
        }
        ("GET", "/banks") => get("/2.0/banks?expand=fields".into()),
        ("GET", "/banks/{}") => get("/2.0/banks/1".into()),
        ("GET", "/users/{}") => get("/2.0/users/me".into()),
        ("GET", "/auth/token/code") => get("/2.0/auth/token/code?type=singleAccess".into()),
        ("GET", "/users/{}/connections") => {
            get("/2.0/users/me/connections".into());
            get("/2.0/users/me/connections?expand=connector,sources".into());
        }
        ("GET", "/users/{}/connections/{}") => {
            for id in [s.healthy, s.otp, s.webauth] {
                get(format!("/2.0/users/me/connections/{id}"));
            }
        }
        ("GET", "/users/{}/accounts") => {
            get("/2.0/users/me/accounts".into());
            get("/2.0/users/me/accounts?all".into());
        }
        ("GET", "/users/{}/accounts/{}") => {
            get(format!("/2.0/users/me/accounts/{}", s.enabled_account));
            get(format!("/2.0/users/me/accounts/{}", s.disabled_account));
        }
        ("GET", "/users/{}/transactions") => {
            get("/2.0/users/me/transactions?limit=50".into());
            get("/2.0/users/me/transactions?min_date=2000-01-01&max_date=2000-01-31".into());
        }
        ("GET", "/users/{}/transactions/{}") => get(format!("/2.0/users/me/transactions/{}", s.transaction)),
        ("GET", "/webauth") => {
            let (_, code) = app.get("/2.0/auth/token/code?type=singleAccess", token).await;
            let code = code["code"].as_str().unwrap();
            let query = serde_urlencoded::to_string([
                ("client_id", app.client_id.as_str()),
                ("token", code),
                ("redirect_uri", "https://app.example/callback"),
                ("id_connection", &s.webauth.to_string()),
            ])
            .unwrap();
            calls.push((Method::GET, format!("/2.0/webauth?{query}"), None, None));
        }
        ("POST", "/auth/init") => calls.push((Method::POST, "/2.0/auth/init".into(), None, Some(credentials))),
        ("POST", "/auth/renew") => {
            let mut body = credentials;
            body["id_user"] = json!(s.user.id);
            calls.push((Method::POST, "/2.0/auth/renew".into(), None, Some(body)));
        }
        ("POST", "/auth/token/access") => {
            let (_, code) = app.get("/2.0/auth/token/code", token).await;
            let mut body = credentials;
            body["code"] = code["code"].clone();
            calls.push((Method::POST, "/2.0/auth/token/access".into(), None, Some(body)));
        }
        ("POST", "/users/{}/connections") => {
            for login in ["demo", "decoupled"] {
                let body = json!({"connector_uuid": SANDBOX_UUID, "login": login, "password": "1234"});
                calls.push((Method::POST, "/2.0/users/me/connections".into(), Some(token.to_owned()), Some(body)));
            }
        }
        ("POST", "/users/{}/connections/{}") => {
            let url = format!("/2.0/users/me/connections/{}", s.otp);
            calls.push((Method::POST, url, Some(token.to_owned()), Some(json!({"otp": "123456"}))));
        }
        ("POST", "/users/{}/accounts/{}") => {
            let url = format!("/2.0/users/me/accounts/{}", s.enabled_account);
            calls.push((
                Method::POST,
                url,
                Some(token.to_owned()),
                Some(json!({"name": "Joint account", "bookmarked": true})),
            ));
        }
        ("POST", "/users/{}/transactions/{}") => {
            let url = format!("/2.0/users/me/transactions/{}", s.transaction);
            calls.push((Method::POST, url, Some(token.to_owned()), Some(json!({"comment": "birthday present"}))));
        }
        ("DELETE", "/users/{}/connections/{}") => {
            let url = format!("/2.0/users/me/connections/{}", s.webauth);
            calls.push((Method::DELETE, url, Some(token.to_owned()), None));
        }
        ("DELETE", "/auth/token") => {
            let other = app.create_user().await;
            calls.push((Method::DELETE, "/2.0/auth/token".into(), Some(other.token), None));
        }
        ("DELETE", "/users/{}") => {
            let other = app.create_user().await;
            calls.push((Method::DELETE, "/2.0/users/me".into(), Some(other.token), None));
        }
        _ => {}
    }
    let mut samples = Vec::new();
    for (method, url, token, body) in calls {
        let request = format!("{method} {url}");
        let (status, body) = app.call(method, &url, token.as_deref(), body).await;
        samples.push(Sample { request, status, body });
    }
    samples
}

#[test]
fn the_check_refuses_what_powens_clients_refuse() {
    let spec = PowensSpec::load();
    let sample = |request: &str, status: StatusCode, body: Value| Sample { request: request.into(), status, body };
    let no_user = json!({"auth_token": "t", "type": "permanent", "expires_in": "never"});
    assert_eq!(check(&spec, "POST", "/auth/init", &sample("POST /auth/init", StatusCode::OK, no_user)).len(), 2);
    let permanent = json!({"auth_token": "t", "type": "permanent", "id_user": 1});
    assert_eq!(check(&spec, "POST", "/auth/init", &sample("POST /auth/init", StatusCode::OK, permanent)), [""; 0]);
    let unknown_type = json!({"accounttypes": [{"id": 1, "name": "livret_z", "is_invest": false,
        "display_name": "Livret Z", "display_name_p": "Livrets Z"}]});
    let listed = sample("GET /account_types", StatusCode::OK, unknown_type);
    assert!(!check(&spec, "GET", "/account_types", &listed).is_empty());
    let undocumented = sample("DELETE /auth/token", StatusCode::OK, json!({}));
    assert!(!check(&spec, "DELETE", "/auth/token", &undocumented).is_empty());
}
