//! The authorization matrix: every operation of `/2.0/openapi.json` and every page of the webview,
//! called by everyone who should not get through — nobody, a garbage token, a revoked token, a used
//! or expired one-use code, another user, another client app, the wrong kind of credentials — on
//! user A's real objects. Each must be refused with the right status and code in the error
//! envelope (a page, for the webview), show nothing of A's, and change no row of any table.
//!
//! The operations come from the running server's OpenAPI document and the webview's routes from its
//! router's source, so a new route that this file has no rule for fails the test by name.

mod dump;
mod webview;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use futures::StreamExt;
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{SANDBOX_UUID, TestApp, TestUser};
use crate::webhooks::Receiver;
use dump::{differences, dump, settled_dump};
use webview::{Sessions, manage_session, webview_cases, webview_routes};

const REDIRECT: &str = "https://app.example/callback";
/// Requests in flight at once: enough to finish in seconds, few enough for a shared CI machine.
const CONCURRENCY: usize = 8;

/// Who calls. The owners (A, and A's client app) appear where their credentials are of the wrong
/// kind for the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    GarbageBearer,
    RevokedToken,
    UsedCode,
    ExpiredCode,
    /// A's client app's `client_id` with a wrong secret.
    WrongSecret,
    UserA,
    UserB,
    /// The client app A belongs to.
    App1,
    /// Another client app, with its own valid credentials.
    App2,
}

const CALLERS: [Who; 10] = [
    Who::Nobody,
    Who::GarbageBearer,
    Who::RevokedToken,
    Who::UsedCode,
    Who::ExpiredCode,
    Who::WrongSecret,
    Who::UserA,
    Who::UserB,
    Who::App1,
    Who::App2,
];

impl Who {
    /// Callers whose credentials are no credentials at all: every protected operation answers 401.
    fn is_invalid(self) -> bool {
        matches!(
            self,
            Who::Nobody | Who::GarbageBearer | Who::RevokedToken | Who::UsedCode | Who::ExpiredCode | Who::WrongSecret
        )
    }
}

/// How a credential travels.
#[derive(Debug, Clone)]
enum Cred {
    None,
    Bearer(String),
    Basic(String, String),
    /// The webview's session cookie.
    Cookie(String),
}

/// How `{id_user}` is written in a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserForm {
    Me,
    Numeric,
}

/// Everything A owns that a path can name, and the public objects the catalogue routes name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obj {
    User,
    Connection,
    Account,
    Transaction,
    Source,
    Access,
    Webhook,
    AuthProvider,
    Delivery,
    AccountType,
    Connector,
    ConnectorSource,
}

impl Obj {
    /// The object a `{name}` path parameter after the literal segment `prev` stands for.
    fn of(prev: &str, name: &str, under_user: bool) -> Option<Obj> {
        Some(match (prev, name) {
            ("users", "id_user") => Obj::User,
            ("connections", "id_connection") => Obj::Connection,
            ("accounts", "id_account") => Obj::Account,
            ("transactions", "id_transaction") => Obj::Transaction,
            ("sources", "id_source") if under_user => Obj::Source,
            ("sources", "id_source") => Obj::ConnectorSource,
            ("access", "id_access") => Obj::Access,
            ("webhooks", "id") => Obj::Webhook,
            ("auth", "id") => Obj::AuthProvider,
            ("deliveries", "id") => Obj::Delivery,
            ("account_types", "id_type") => Obj::AccountType,
            ("connectors" | "banks", "id_connector") => Obj::Connector,
            _ => return None,
        })
    }

    /// The code of the 404 a caller gets for this object of someone else's.
    fn not_found(self) -> &'static str {
        match self {
            Obj::User => "userNotFound",
            Obj::Connection => "connectionNotFound",
            Obj::Account => "accountNotFound",
            Obj::Transaction => "transactionNotFound",
            Obj::Source => "sourceNotFound",
            Obj::Access => "accessNotFound",
            Obj::Webhook => "webhookNotFound",
            Obj::AuthProvider => "webhookAuthNotFound",
            Obj::Delivery => "deliveryNotFound",
            Obj::AccountType => "accountTypeNotFound",
            Obj::Connector | Obj::ConnectorSource => "connectorNotFound",
        }
    }

    fn is_public(self) -> bool {
        matches!(self, Obj::AccountType | Obj::Connector | Obj::ConnectorSource)
    }
}

/// Who may call an operation, as its handler decides (the extractor it takes and what it checks).
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// The catalogue: no credentials needed, nothing of anyone's in it.
    Public,
    /// `/users/{id_user}/…` (`Caller::user_id`): the user itself (bearer token, `me` or its id), or
    /// the client app that created it (HTTP Basic, the numeric id only).
    UserPath,
    /// `UserToken`: a user's bearer token only. `names` is an object of A's the query names, and
    /// what another user gets for it.
    UserOnly { names: Option<(Obj, StatusCode, &'static str)> },
    /// Client credentials only (webhooks, the user list); `names` as above, for the body.
    ClientOnly { names: Option<(Obj, StatusCode, &'static str)> },
    /// `/webauth`: a user's code in the `token` query parameter.
    QueryCode,
    /// `/webauth/callback`: the bank's `state`, nothing else.
    BankState,
    /// `/auth/init`: optional client credentials in the body.
    Signup,
    /// `/auth/token/access`: client credentials and a code in the body.
    CodeExchange,
    /// `/auth/renew`: client credentials and `id_user` in the body.
    Renew,
}

impl Rule {
    /// The security schemes the OpenAPI document must list for an operation of this rule, so that
    /// what SDKs and readers are told is what the handler does.
    fn documented(self) -> Vec<String> {
        let schemes: &[&str] = match self {
            Rule::UserPath => &["bearer", "client"],
            Rule::UserOnly { .. } => &["bearer"],
            Rule::ClientOnly { .. } => &["client"],
            // Credentials in the body or the query, or none.
            Rule::Public | Rule::QueryCode | Rule::BankState | Rule::Signup | Rule::CodeExchange | Rule::Renew => &[],
        };
        schemes.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// The rule of every operation the API documents; `None` for one this file does not know yet.
fn rule_of(method: &str, path: &str) -> Option<Rule> {
    let connection_named = Some((Obj::Connection, StatusCode::NOT_FOUND, "connectionNotFound"));
    Some(match (method, path) {
        ("get", "/account_types" | "/account_types/{id_type}")
        | ("get", "/connectors" | "/connectors/{id_connector}" | "/banks" | "/banks/{id_connector}")
        | ("get", "/connectors/{id_connector}/sources" | "/connectors/{id_connector}/sources/{id_source}") => {
            Rule::Public
        }
        ("get" | "delete", "/users/{id_user}")
        | ("get" | "post", "/users/{id_user}/connections")
        | ("get" | "post" | "put" | "delete", "/users/{id_user}/connections/{id_connection}")
        | ("get", "/users/{id_user}/connections/{id_connection}/sources")
        | ("get" | "post", "/users/{id_user}/connections/{id_connection}/sources/{id_source}")
        | ("get", "/users/{id_user}/connections/{id_connection}/logs")
        | ("get", "/users/{id_user}/connections/{id_connection}/accounts")
        | ("get", "/users/{id_user}/connections/{id_connection}/transactions")
        | ("get", "/users/{id_user}/accounts")
        | ("get" | "post" | "put", "/users/{id_user}/accounts/{id_account}")
        | ("get", "/users/{id_user}/accounts/{id_account}/balances")
        | ("get", "/users/{id_user}/accounts/{id_account}/transactions")
        | ("get", "/users/{id_user}/accounts/{id_account}/export")
        | ("get", "/users/{id_user}/transactions")
        | ("get" | "post" | "put", "/users/{id_user}/transactions/{id_transaction}")
        | ("get", "/users/{id_user}/export")
        | ("post", "/users/{id_user}/statements")
        | ("post", "/users/{id_user}/simplefin/setup-token")
        | ("get", "/users/{id_user}/simplefin/access")
        | ("delete", "/users/{id_user}/simplefin/access/{id_access}") => Rule::UserPath,
        ("get" | "post", "/auth/token/code") | ("delete", "/auth/token") => Rule::UserOnly { names: None },
        ("get", "/webview/connect-url" | "/webview/manage-url") => Rule::UserOnly { names: None },
        ("get", "/webview/reconnect-url" | "/webauth-url") => Rule::UserOnly { names: connection_named },
        ("get", "/users" | "/webhooks" | "/webhooks/auth") | ("post", "/webhooks/auth") => {
            Rule::ClientOnly { names: None }
        }
        ("post", "/webhooks") => {
            Rule::ClientOnly { names: Some((Obj::AuthProvider, StatusCode::BAD_REQUEST, "invalidValue")) }
        }
        ("delete", "/webhooks/{id}" | "/webhooks/auth/{id}")
        | ("get", "/webhooks/{id}/deliveries")
        | ("post", "/webhooks/deliveries/{id}/replay") => Rule::ClientOnly { names: None },
        ("get", "/webauth") => Rule::QueryCode,
        ("get", "/webauth/callback") => Rule::BankState,
        ("post", "/auth/init") => Rule::Signup,
        ("post", "/auth/token/access") => Rule::CodeExchange,
        ("post", "/auth/renew") => Rule::Renew,
        _ => return None,
    })
}

/// What a case must answer.
#[derive(Debug, Clone)]
enum Expect {
    /// The API's error envelope with this status and code.
    Refused(StatusCode, &'static str),
    /// A webview error page with this status.
    Page(StatusCode),
    /// The caller's own data (its own, empty, list), nothing of A's.
    OwnOnly,
    /// Public: any answer but a server error, nothing of A's.
    Open,
    /// A read by A or A's app: it must succeed (a route refusing its owner is broken, not safe).
    Allowed,
}

impl Expect {
    /// How the summary counts it.
    fn kind(&self) -> &'static str {
        match self {
            Expect::Refused(..) => "refused",
            Expect::Page(_) => "page refused",
            Expect::OwnOnly => "own data only",
            Expect::Open => "public",
            Expect::Allowed => "owner's read",
        }
    }
}

/// What `who` must get from an operation under `rule`, whose path names `objects` (A's, first
/// first) with `{id_user}` written as `form`; `None` when the caller is entitled to it (then it is
/// not sent: it would change A's or the caller's own data).
fn expectation(rule: Rule, method: &str, who: Who, form: Option<UserForm>, objects: &[Obj]) -> Option<Expect> {
    let refused = |status, code| Some(Expect::Refused(status, code));
    let unauthorized = || match who {
        Who::Nobody => refused(StatusCode::UNAUTHORIZED, "missingToken"),
        _ => refused(StatusCode::UNAUTHORIZED, "invalidToken"),
    };
    let owned = objects.iter().copied().find(|o| *o != Obj::User && !o.is_public());
    match rule {
        Rule::Public => Some(Expect::Open),
        // No bank sent this `state`, whoever asks.
        Rule::BankState => refused(StatusCode::BAD_REQUEST, "invalidValue"),
        Rule::UserPath => user_path(method, who, form, owned),
        Rule::UserOnly { names } => match who {
            _ if who.is_invalid() => unauthorized(),
            Who::App1 | Who::App2 => refused(StatusCode::FORBIDDEN, "forbidden"),
            Who::UserB => names.and_then(|(_, status, code)| refused(status, code)),
            _ => None,
        },
        Rule::ClientOnly { names } => match who {
            _ if who.is_invalid() => unauthorized(),
            Who::UserA | Who::UserB => refused(StatusCode::FORBIDDEN, "forbidden"),
            Who::App2 => match (owned, names) {
                (Some(obj), _) => refused(StatusCode::NOT_FOUND, obj.not_found()),
                (None, Some((_, status, code))) => refused(status, code),
                (None, None) if method == "get" => Some(Expect::OwnOnly),
                // Creating its own auth provider is app 2's right.
                (None, None) => None,
            },
            _ => None,
        },
        Rule::QueryCode => match who {
            // No code in the query: the client credentials in the header do not stand for one.
            Who::Nobody | Who::WrongSecret | Who::App1 | Who::App2 => {
                refused(StatusCode::BAD_REQUEST, "missingParameter")
            }
            Who::GarbageBearer | Who::RevokedToken | Who::UsedCode | Who::ExpiredCode => unauthorized(),
            Who::UserB => refused(StatusCode::NOT_FOUND, "connectionNotFound"),
            Who::UserA => None,
        },
        // Anonymous sign-up is open (as Powens'), and any app may create users of its own.
        Rule::Signup => (who == Who::WrongSecret).then_some(Expect::Refused(StatusCode::BAD_REQUEST, "invalidValue")),
        Rule::CodeExchange => match who {
            Who::Nobody => refused(StatusCode::BAD_REQUEST, "missingParameter"),
            Who::App1 => None,
            _ => refused(StatusCode::BAD_REQUEST, "invalidValue"),
        },
        Rule::Renew => match who {
            Who::WrongSecret => refused(StatusCode::BAD_REQUEST, "invalidValue"),
            Who::App2 => refused(StatusCode::NOT_FOUND, "userNotFound"),
            Who::App1 => None,
            _ => refused(StatusCode::BAD_REQUEST, "missingParameter"),
        },
    }
}

/// `Caller::user_id`'s rule, then the object's owner check.
fn user_path(method: &str, who: Who, form: Option<UserForm>, owned: Option<Obj>) -> Option<Expect> {
    let refused = |status, code| Some(Expect::Refused(status, code));
    match (who, form) {
        (Who::Nobody, _) => refused(StatusCode::UNAUTHORIZED, "missingToken"),
        (_, _) if who.is_invalid() => refused(StatusCode::UNAUTHORIZED, "invalidToken"),
        (Who::App1 | Who::App2, Some(UserForm::Me)) => refused(StatusCode::FORBIDDEN, "forbidden"),
        (Who::App2, _) => refused(StatusCode::NOT_FOUND, "userNotFound"),
        (Who::UserB, Some(UserForm::Numeric)) => refused(StatusCode::FORBIDDEN, "forbidden"),
        // The owners' reads are sent too, to prove the rule lets them through.
        (Who::UserA, _) | (Who::App1, Some(UserForm::Numeric)) if method == "get" => Some(Expect::Allowed),
        (Who::UserB, _) => match owned {
            Some(obj) => refused(StatusCode::NOT_FOUND, obj.not_found()),
            None if method == "get" => Some(Expect::OwnOnly),
            // B creating or deleting its own things is B's right.
            None => None,
        },
        _ => None,
    }
}

/// A's world: the objects, the credentials that must not work, and the values that must not leak.
struct Fixture {
    a: TestUser,
    b: TestUser,
    app1: (String, String),
    app2: (String, String),
    connection: i64,
    accounts: Vec<i64>,
    transactions: Vec<i64>,
    source: i64,
    access: i64,
    webhook: i64,
    auth_provider: i64,
    delivery: i64,
    account_type: i64,
    connector: i64,
    connector_source: i64,
    revoked: String,
    used_code: String,
    expired_code: String,
    /// A single-use code of A's not yet used: the other app tries to exchange it.
    live_code: String,
    /// Where the other app would point a webhook (the same receiver, another path).
    intruder_hook: String,
    /// Texts only A's data holds: account names and numbers, wordings, the webhook's URL, secrets.
    markers: Vec<String>,
    /// `(field, value)` pairs that name A's objects in a JSON body.
    ids: HashSet<(String, i64)>,
}

impl Fixture {
    async fn build(app: &TestApp, receiver: &Receiver) -> Fixture {
        let other = app.store.create_client("other app", &["https://other.example/callback".to_owned()]).await.unwrap();
        let app1 = (app.client_id.clone(), app.client_secret.clone());
        let app2 = (other.client.client_id, other.client_secret);
        let (auth_provider, webhook) = subscribe(app, receiver).await;
        let a = app.create_user().await;
        let b = app.create_user().await;
        let connection = app.connected(&a, "demo").await["id"].as_i64().unwrap();
        let accounts = app.enable_accounts(&a, &json!(connection)).await;
        let (_, page) = app.get("/2.0/users/me/transactions?limit=20", &a.token).await;
        let rows = page["transactions"].as_array().unwrap().clone();
        let (_, sources) = app.get(&format!("/2.0/users/me/connections/{connection}/sources"), &a.token).await;
        let (account_type, connector, connector_source) = catalogue(app).await;
        let mut fixture = Fixture {
            source: sources["sources"][0]["id"].as_i64().unwrap(),
            access: simplefin_access(app, &a).await,
            delivery: settled_delivery(app, webhook).await,
            revoked: revoked_token(app, &a).await,
            used_code: used_code(app, &a).await,
            expired_code: expired_code(app, &a).await,
            live_code: single_use_code(app, &a).await,
            intruder_hook: receiver.url("INTRUDER"),
            transactions: rows.iter().map(|t| t["id"].as_i64().unwrap()).collect(),
            account_type,
            connector,
            connector_source,
            a,
            b,
            app1,
            app2,
            connection,
            accounts,
            webhook,
            auth_provider,
            markers: Vec::new(),
            ids: HashSet::new(),
        };
        fixture.collect_markers(app, &rows, receiver).await;
        fixture
    }

    /// A's identifying values, to look for in every answer.
    async fn collect_markers(&mut self, app: &TestApp, transactions: &[Value], receiver: &Receiver) {
        let (_, accounts) = app.get("/2.0/users/me/accounts?all", &self.a.token).await;
        let mut texts = Vec::new();
        for account in accounts["accounts"].as_array().unwrap() {
            for field in ["name", "original_name", "number", "iban", "webid"] {
                texts.extend(account[field].as_str().map(str::to_owned));
            }
        }
        for transaction in transactions {
            for field in ["wording", "original_wording", "simplified_wording"] {
                texts.extend(transaction[field].as_str().map(str::to_owned));
            }
        }
        texts.push(receiver.url("CONNECTION_SYNCED"));
        texts.extend([self.a.token.clone(), self.live_code.clone(), self.app1.1.clone()]);
        // Short texts ("Visa", a day) could appear in anyone's page by chance.
        texts.retain(|t| t.chars().count() >= 8);
        texts.sort();
        texts.dedup();
        self.markers = texts;
        let mut ids = vec![("id_user", self.a.id), ("id_connection", self.connection), ("id_source", self.source)];
        ids.extend(self.accounts.iter().map(|id| ("id_account", *id)));
        ids.extend(self.transactions.iter().map(|id| ("id_transaction", *id)));
        ids.extend([("id_webhook", self.webhook), ("id_auth", self.auth_provider)]);
        self.ids = ids.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    }

    fn id_of(&self, obj: Obj, form: Option<UserForm>) -> String {
        match obj {
            Obj::User if form == Some(UserForm::Me) => "me".to_owned(),
            Obj::User => self.a.id.to_string(),
            Obj::Connection => self.connection.to_string(),
            Obj::Account => self.accounts[0].to_string(),
            Obj::Transaction => self.transactions[0].to_string(),
            Obj::Source => self.source.to_string(),
            Obj::Access => self.access.to_string(),
            Obj::Webhook => self.webhook.to_string(),
            Obj::AuthProvider => self.auth_provider.to_string(),
            Obj::Delivery => self.delivery.to_string(),
            Obj::AccountType => self.account_type.to_string(),
            Obj::Connector => self.connector.to_string(),
            Obj::ConnectorSource => self.connector_source.to_string(),
        }
    }

    fn credential(&self, who: Who) -> Cred {
        let basic = |(id, secret): &(String, String)| Cred::Basic(id.clone(), secret.clone());
        match who {
            Who::Nobody => Cred::None,
            Who::GarbageBearer => Cred::Bearer("not-a-token-at-all".into()),
            Who::RevokedToken => Cred::Bearer(self.revoked.clone()),
            Who::UsedCode => Cred::Bearer(self.used_code.clone()),
            Who::ExpiredCode => Cred::Bearer(self.expired_code.clone()),
            Who::WrongSecret => Cred::Basic(self.app1.0.clone(), "wrong-secret".into()),
            Who::UserA => Cred::Bearer(self.a.token.clone()),
            Who::UserB => Cred::Bearer(self.b.token.clone()),
            Who::App1 => basic(&self.app1),
            Who::App2 => basic(&self.app2),
        }
    }

    /// The first of A's values found in a body, if any.
    fn leak_in(&self, text: &str) -> Option<String> {
        if let Some(marker) = self.markers.iter().find(|m| text.contains(m.as_str())) {
            return Some(marker.clone());
        }
        let json: Value = serde_json::from_str(text).ok()?;
        self.id_in(&json)
    }

    fn id_in(&self, value: &Value) -> Option<String> {
        match value {
            Value::Object(fields) => fields.iter().find_map(|(key, v)| match v.as_i64() {
                Some(id) if self.ids.contains(&(key.clone(), id)) => Some(format!("{key}={id}")),
                _ => self.id_in(v),
            }),
            Value::Array(items) => items.iter().find_map(|v| self.id_in(v)),
            _ => None,
        }
    }
}

/// An auth provider and a subscription of A's client app to syncs, delivered to `receiver`.
async fn subscribe(app: &TestApp, receiver: &Receiver) -> (i64, i64) {
    let client = Cred::Basic(app.client_id.clone(), app.client_secret.clone());
    let (status, provider) =
        send_json(app, Method::POST, "/2.0/webhooks/auth?type=hmac_signature&name=authz", &client, None).await;
    assert_eq!(status, StatusCode::OK, "{provider}");
    let body =
        json!({"event": "CONNECTION_SYNCED", "url": receiver.url("CONNECTION_SYNCED"), "id_auth": provider["id"]});
    let (status, webhook) = send_json(app, Method::POST, "/2.0/webhooks", &client, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{webhook}");
    (provider["id"].as_i64().unwrap(), webhook["id"].as_i64().unwrap())
}

/// The webhook's first delivery, once delivered: a pending one would change under the matrix.
async fn settled_delivery(app: &TestApp, webhook: i64) -> i64 {
    let client = Cred::Basic(app.client_id.clone(), app.client_secret.clone());
    let path = format!("/2.0/webhooks/{webhook}/deliveries");
    for _ in 0..200 {
        let (_, list) = send_json(app, Method::GET, &path, &client, None).await;
        let deliveries = list["deliveries"].as_array().cloned().unwrap_or_default();
        if !deliveries.is_empty() && deliveries.iter().all(|d| d["state"] == "delivered") {
            return deliveries[0]["id"].as_i64().unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the webhook's deliveries never settled");
}

/// An account type, the sandbox connector and one of its sources.
async fn catalogue(app: &TestApp) -> (i64, i64, i64) {
    let (_, types) = app.call(Method::GET, "/2.0/account_types", None, None).await;
    let (_, connectors) = app.call(Method::GET, "/2.0/connectors", None, None).await;
    let connector = connectors["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["uuid"] == SANDBOX_UUID)
        .expect("the sandbox connector")["id"]
        .as_i64()
        .unwrap();
    let (_, sources) = app.call(Method::GET, &format!("/2.0/connectors/{connector}/sources"), None, None).await;
    let account_type = types["accounttypes"][0]["id"].as_i64().unwrap();
    (account_type, connector, sources["sources"][0]["id"].as_i64().unwrap())
}

/// A claimed SimpleFIN access of A's.
async fn simplefin_access(app: &TestApp, a: &TestUser) -> i64 {
    use base64::Engine;
    let (status, body) = app.post("/2.0/users/me/simplefin/setup-token", Some(&a.token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["setup_token"].as_str().unwrap();
    let claim = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token).unwrap()).unwrap();
    assert_eq!(app.http.post(&claim).send().await.unwrap().status(), StatusCode::OK);
    let (_, list) = app.get("/2.0/users/me/simplefin/access", &a.token).await;
    list["access"][0]["id"].as_i64().unwrap()
}

/// A permanent token of A's, renewed by its app then revoked by itself.
async fn revoked_token(app: &TestApp, a: &TestUser) -> String {
    let mut body = app.client_credentials();
    body["id_user"] = json!(a.id);
    let (status, renewed) = app.post("/2.0/auth/renew", None, body).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let token = renewed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.delete("/2.0/auth/token", &token).await, StatusCode::NO_CONTENT);
    token
}

async fn single_use_code(app: &TestApp, a: &TestUser) -> String {
    let (status, code) = app.get("/2.0/auth/token/code?type=singleAccess", &a.token).await;
    assert_eq!(status, StatusCode::OK, "{code}");
    code["code"].as_str().unwrap().to_owned()
}

/// A single-use code of A's, exchanged once by A's app.
async fn used_code(app: &TestApp, a: &TestUser) -> String {
    let code = single_use_code(app, a).await;
    let mut body = app.client_credentials();
    body["code"] = json!(code);
    let (status, exchanged) = app.post("/2.0/auth/token/access", None, body).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    code
}

/// A single-use code of A's whose 30 minutes are over (written as the server writes codes, with its
/// expiry already past: waiting half an hour is not an option).
async fn expired_code(app: &TestApp, a: &TestUser) -> String {
    use bankd::store::users::TokenKind;
    let ttl = chrono::Duration::seconds(-60);
    app.store.issue_token(a.id, TokenKind::Code, true, Some(ttl)).await.unwrap().secret
}

/// One request of the matrix.
struct Case {
    label: String,
    method: Method,
    path: String,
    cred: Cred,
    payload: Payload,
    expect: Expect,
}

#[derive(Debug, Clone)]
enum Payload {
    None,
    Json(Value),
    Form(Vec<(String, String)>),
    /// A multipart form with these text fields and a small statement file.
    Upload(Vec<(String, String)>),
}

/// One operation of the OpenAPI document.
struct Operation {
    method: String,
    /// Without the `/2.0` prefix.
    template: String,
    /// The security schemes the document lists for it (`bearer`, `client`), sorted.
    security: Vec<String>,
}

async fn operations(app: &TestApp) -> Vec<Operation> {
    let (status, spec) = app.call(Method::GET, "/2.0/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else { continue };
            let template = path.strip_prefix("/2.0").unwrap_or(path).to_owned();
            let requirements = operation["security"].as_array().cloned().unwrap_or_default();
            let mut security: Vec<String> =
                requirements.iter().filter_map(Value::as_object).flat_map(|r| r.keys().cloned()).collect();
            security.sort();
            operations.push(Operation { method: method.to_owned(), template, security });
        }
    }
    assert!(operations.len() > 50, "the document lists only {} operations", operations.len());
    operations
}

/// The path with A's ids, and the objects it names in order; an error names a parameter the
/// table above does not know.
fn instantiate(template: &str, form: Option<UserForm>, fx: &Fixture) -> Result<(String, Vec<Obj>), String> {
    let under_user = template.starts_with("/users/{id_user}");
    let mut path = String::new();
    let mut objects = Vec::new();
    let mut prev = "";
    for segment in template.split('/').filter(|s| !s.is_empty()) {
        let value = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let obj = Obj::of(prev, name, under_user)
                    .ok_or_else(|| format!("no object of A's for {{{name}}} after '{prev}' in {template}"))?;
                objects.push(obj);
                fx.id_of(obj, form)
            }
            None => segment.to_owned(),
        };
        let _ = write!(path, "/{value}");
        prev = segment;
    }
    Ok((path, objects))
}

/// The query an operation needs to be otherwise valid, so that only the caller decides its fate.
fn query_of(method: &str, template: &str, who: Who, fx: &Fixture) -> String {
    let c = fx.connection;
    let app1 = &fx.app1.0;
    match (method, template) {
        ("get", "/users/{id_user}/export" | "/users/{id_user}/accounts/{id_account}/export") => "format=ofx".into(),
        ("get", "/webauth-url") => format!("client_id={app1}&redirect_uri={REDIRECT}&id_connection={c}"),
        ("get", "/webview/reconnect-url") => format!("redirect_uri={REDIRECT}&connection_id={c}"),
        ("get", "/webview/connect-url" | "/webview/manage-url") => format!("redirect_uri={REDIRECT}"),
        ("post", "/webhooks/auth") => "type=hmac_signature&name=intruder".into(),
        ("get", "/webauth/callback") => "state=0123456789abcdef0123456789abcdef".into(),
        ("get", "/webauth") => {
            let base = format!("client_id={app1}&redirect_uri={REDIRECT}&id_connection={c}");
            match fx.credential(who) {
                Cred::Bearer(token) => format!("{base}&token={token}"),
                _ => base,
            }
        }
        _ => String::new(),
    }
}

/// The body an operation needs to be otherwise valid — one that would change A's data if the
/// caller got through.
fn body_of(method: &str, template: &str, who: Who, fx: &Fixture) -> Option<Value> {
    let client_body = |extra: Value| {
        let mut body = match fx.credential(who) {
            Cred::Basic(id, secret) => json!({"client_id": id, "client_secret": secret}),
            _ => json!({}),
        };
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let login = json!({"connector_uuid": SANDBOX_UUID, "login": "demo", "password": "1234"});
    Some(match (method, template) {
        ("post", "/users/{id_user}/connections") => login,
        ("post", "/users/{id_user}/connections/{id_connection}") => json!({"login": "demo", "password": "1234"}),
        ("post", "/users/{id_user}/connections/{id_connection}/sources/{id_source}") => json!({"disabled": true}),
        ("post" | "put", "/users/{id_user}/accounts/{id_account}") => json!({"disabled": true, "name": "intruder"}),
        ("post" | "put", "/users/{id_user}/transactions/{id_transaction}") => {
            json!({"wording": "intruder", "comment": "intruder"})
        }
        ("post", "/webhooks") => {
            json!({"event": "CONNECTION_SYNCED", "url": fx.intruder_hook, "id_auth": fx.auth_provider})
        }
        ("post", "/auth/init") => client_body(json!({})),
        ("post", "/auth/renew") => client_body(json!({"grant_type": "client_credentials", "id_user": fx.a.id})),
        ("post", "/auth/token/access") => code_exchange(who, fx),
        ("post" | "put", _) => json!({}),
        _ => return None,
    })
}

/// `/auth/token/access`: a bearer caller's secret is tried as the code, with A's app; an app
/// tries A's live code with its own credentials.
fn code_exchange(who: Who, fx: &Fixture) -> Value {
    match fx.credential(who) {
        Cred::None => json!({}),
        Cred::Bearer(code) => json!({"client_id": fx.app1.0, "client_secret": fx.app1.1, "code": code}),
        Cred::Basic(id, secret) => json!({"client_id": id, "client_secret": secret, "code": fx.live_code}),
        Cred::Cookie(_) => unreachable!("the API takes no cookie"),
    }
}

/// Every API case: operations × callers (× both spellings of `{id_user}`), and the operations
/// this file has no rule for.
fn api_cases(operations: &[Operation], fx: &Fixture) -> (Vec<Case>, usize, Vec<String>) {
    let mut cases = Vec::new();
    let mut entitled = 0;
    let mut unknown = Vec::new();
    for op in operations {
        let Some(rule) = rule_of(&op.method, &op.template) else {
            unknown.push(format!("{} {}: no rule", op.method.to_uppercase(), op.template));
            continue;
        };
        if op.security != rule.documented() {
            unknown.push(format!(
                "{} {}: the document lists security {:?}, the handler takes {:?}",
                op.method.to_uppercase(),
                op.template,
                op.security,
                rule.documented()
            ));
        }
        let forms: &[Option<UserForm>] =
            if op.template.contains("{id_user}") { &[Some(UserForm::Me), Some(UserForm::Numeric)] } else { &[None] };
        for &form in forms {
            let (path, objects) = match instantiate(&op.template, form, fx) {
                Ok(done) => done,
                Err(why) => {
                    unknown.push(why);
                    continue;
                }
            };
            for who in CALLERS {
                let Some(expect) = expectation(rule, &op.method, who, form, &objects) else {
                    entitled += 1;
                    continue;
                };
                let query = query_of(&op.method, &op.template, who, fx);
                let path = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
                // Credentials in the body or the query are not sent again in the header.
                let cred = match rule {
                    Rule::Signup | Rule::CodeExchange | Rule::Renew | Rule::QueryCode => Cred::None,
                    _ => fx.credential(who),
                };
                let payload = body_of(&op.method, &op.template, who, fx).map_or(Payload::None, Payload::Json);
                let method = Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
                let label = format!("{} {} as {who:?}", op.method.to_uppercase(), op.template)
                    + &form.map(|f| format!(" ({f:?})")).unwrap_or_default();
                cases.push(Case { label, method, path: format!("/2.0{path}"), cred, payload, expect });
            }
        }
    }
    (cases, entitled, unknown)
}

// Running and judging.

async fn send(app: &TestApp, case: &Case) -> Result<(StatusCode, String), String> {
    let mut request = app.http.request(case.method.clone(), app.url(&case.path));
    request = match &case.cred {
        Cred::None => request,
        Cred::Bearer(token) => request.bearer_auth(token),
        Cred::Basic(id, secret) => request.basic_auth(id, Some(secret)),
        Cred::Cookie(value) => request.header(COOKIE, format!("bankd_webview={value}")),
    };
    request = match &case.payload {
        Payload::None => request,
        Payload::Json(body) => request.json(body),
        Payload::Form(pairs) => request.form(pairs),
        Payload::Upload(pairs) => {
            let mut form = reqwest::multipart::Form::new();
            for (name, value) in pairs {
                form = form.text(name.clone(), value.clone());
            }
            let file = reqwest::multipart::Part::bytes(b"Date,Amount,Description\n2026-01-02,-1.00,x\n".to_vec());
            request.multipart(form.part("file", file.file_name("statement.csv")))
        }
    };
    let response = request.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    Ok((status, response.text().await.map_err(|e| format!("reading the body: {e}"))?))
}

/// Why an answer is wrong, if it is.
fn judge(expect: &Expect, status: StatusCode, text: &str, fx: &Fixture) -> Result<(), String> {
    if let Expect::Allowed = expect {
        return match status.is_success() {
            true => Ok(()),
            false => Err(format!("the owner was refused: {status} {text}")),
        };
    }
    if let Some(leak) = fx.leak_in(text) {
        return Err(format!("{status}: A's {leak:?} in the body"));
    }
    match expect {
        Expect::Refused(want, code) => {
            let body: Value = serde_json::from_str(text).map_err(|_| format!("{status}: not JSON: {text}"))?;
            let keys: Vec<&String> = body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
            let envelope = keys.iter().all(|k| ["code", "description", "message", "request_id"].contains(&k.as_str()))
                && body["description"].as_str().is_some_and(|d| !d.is_empty());
            if status != *want || body["code"] != *code || !envelope {
                return Err(format!("expected {want} {code} in the envelope, got {status} {body}"));
            }
        }
        Expect::Page(want) if status != *want => return Err(format!("expected a {want} page, got {status}")),
        // The caller's own answer may be "you have nothing yet" (`400 noAccount`, as Powens').
        Expect::OwnOnly if !status.is_success() && status != StatusCode::BAD_REQUEST => {
            return Err(format!("expected its own answer, got {status}: {text}"));
        }
        Expect::Open if status.is_server_error() => return Err(format!("{status}: {text}")),
        _ => {}
    }
    Ok(())
}

/// The cases by kind of expectation and status received.
type Tally = BTreeMap<(&'static str, u16), usize>;

/// Runs every case, a few at a time; returns what was received and the failures.
async fn run(app: &TestApp, cases: &[Case], fx: &Fixture) -> (Tally, Vec<String>) {
    let outcomes: Vec<(&'static str, u16, Option<String>)> = futures::stream::iter(cases)
        .map(|case| async move {
            let kind = case.expect.kind();
            match send(app, case).await {
                Ok((status, text)) => {
                    let verdict = judge(&case.expect, status, &text, fx).err();
                    (kind, status.as_u16(), verdict.map(|why| format!("{}: {why}", case.label)))
                }
                Err(why) => (kind, 0, Some(format!("{}: {why}", case.label))),
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut tally = Tally::new();
    let mut failures = Vec::new();
    for (kind, status, failure) in outcomes {
        *tally.entry((kind, status)).or_insert(0) += 1;
        failures.extend(failure);
    }
    failures.sort();
    (tally, failures)
}

#[tokio::test]
async fn no_one_but_the_owner_gets_through() {
    // The matrix sends hundreds of wrong credentials from one address: the rate limits (limits.rs
    // tests them) would answer 429 before the rule each case checks.
    let app = TestApp::spawn_with(|s| {
        s.limits.rate_limit_per_ip = 0;
        s.limits.rate_limit_per_client = 0;
    })
    .await;
    let receiver = Receiver::start().await;
    let fx = Fixture::build(&app, &receiver).await;
    let sessions = Sessions { a: manage_session(&app, &fx.a).await, b: manage_session(&app, &fx.b).await };

    let operations = operations(&app).await;
    let (mut cases, entitled, mut unknown) = api_cases(&operations, &fx);
    let api_count = cases.len();
    let (pages, skipped_pages, unknown_pages) = webview_cases(&fx, &sessions);
    unknown.extend(unknown_pages);
    assert!(unknown.is_empty(), "routes without a case, or documented otherwise:\n{}", unknown.join("\n"));
    cases.extend(pages);

    let before = settled_dump(&app.database_url).await;
    let (tally, failures) = run(&app, &cases, &fx).await;
    let changed = differences(&before, &dump(&app.database_url).await);

    eprintln!(
        "authz matrix: {} API operations and {} webview routes; {} cases ({api_count} API, {} webview), \
         {entitled} API and {skipped_pages} webview combinations entitled and not sent; (expected, status \
         received): {tally:?}; {} failures; {} rows changed",
        operations.len(),
        webview_routes().len(),
        cases.len(),
        cases.len() - api_count,
        failures.len(),
        changed.len()
    );
    assert!(
        failures.is_empty() && changed.is_empty(),
        "{} cases answered wrongly:\n{}\n\nand the refused calls changed the database:\n{}",
        failures.len(),
        failures.join("\n"),
        changed.join("\n")
    );
    // A's own credentials still work: the refusals were not a broken server.
    assert_eq!(app.get(&format!("/2.0/users/me/connections/{}", fx.connection), &fx.a.token).await.0, StatusCode::OK);
}

/// Sends a JSON request with any credential; status and JSON body.
async fn send_json(app: &TestApp, method: Method, path: &str, cred: &Cred, body: Option<Value>) -> (StatusCode, Value) {
    let case = Case {
        label: String::new(),
        method,
        path: path.to_owned(),
        cred: cred.clone(),
        payload: body.map_or(Payload::None, Payload::Json),
        expect: Expect::Open,
    };
    let (status, text) = send(app, &case).await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}
