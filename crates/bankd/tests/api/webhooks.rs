//! Webhooks, end to end: a real receiver on loopback, subscribed through the client API, gets each
//! event once for the action that causes it, signed both ways; a receiver that is down gets every
//! event once it is back, in order; deliveries are logged and can be replayed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, TestUser, assert_error, read};
use crate::statements::{payments, upload};

/// What a receiver was sent.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub json: Value,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

/// A webhook receiver on loopback that answers 200 while up and 503 while down.
#[derive(Clone)]
pub struct Receiver {
    base: String,
    pub up: Arc<AtomicBool>,
    pub refused: Arc<AtomicUsize>,
    /// How long it takes to answer, in milliseconds: a slow receiver keeps deliveries in flight.
    pub delay_ms: Arc<AtomicU64>,
    /// Requests being answered now.
    pub answering: Arc<AtomicUsize>,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            base: format!("http://{}", listener.local_addr().unwrap()),
            up: Arc::new(AtomicBool::new(true)),
            refused: Arc::default(),
            delay_ms: Arc::default(),
            answering: Arc::default(),
            hits: Arc::default(),
        };
        let app = axum::Router::new().fallback(receive).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    pub fn url(&self, event: &str) -> String {
        format!("{}/hooks/{event}", self.base)
    }

    /// What was received at the URL of `event`, in arrival order.
    pub fn of(&self, event: &str) -> Vec<Hit> {
        let path = format!("/hooks/{event}");
        self.hits.lock().unwrap().iter().filter(|h| h.path == path).cloned().collect()
    }

    /// Waits (up to 20 s) until `event` was received `n` times; returns those.
    pub async fn wait_for(&self, event: &str, n: usize) -> Vec<Hit> {
        self.wait_for_within(event, n, Duration::from_secs(20)).await
    }

    pub async fn wait_for_within(&self, event: &str, n: usize, patience: Duration) -> Vec<Hit> {
        let deadline = tokio::time::Instant::now() + patience;
        while tokio::time::Instant::now() < deadline {
            let hits = self.of(event);
            if hits.len() >= n {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{event}: received {} time(s), expected {n}", self.of(event).len());
    }
}

async fn receive(State(receiver): State<Receiver>, uri: Uri, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let _answering = Answering::new(&receiver.answering);
    let delay = receiver.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if !receiver.up.load(Ordering::SeqCst) {
        receiver.refused.fetch_add(1, Ordering::SeqCst);
        return AxumStatus::SERVICE_UNAVAILABLE;
    }
    let json = serde_json::from_slice(&body).expect("a JSON body");
    let hit = Hit { path: uri.path().to_owned(), headers, body: body.to_vec(), json };
    receiver.hits.lock().unwrap().push(hit);
    AxumStatus::OK
}

/// Counts a request while it is answered, including one dropped because its sender died.
struct Answering<'a>(&'a AtomicUsize);

impl<'a> Answering<'a> {
    fn new(count: &'a AtomicUsize) -> Answering<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Answering(count)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Checks both signatures of a delivery by the README's recipe, written out here on purpose
/// rather than calling bankd's signing code.
pub fn assert_signed(hit: &Hit, secret_key: &str) {
    type HmacSha256 = Hmac<Sha256>;
    let date = hit.header("bi-signature-date");
    assert!(!date.is_empty(), "BI-Signature-Date is sent");
    let mut mac = HmacSha256::new_from_slice(secret_key.as_bytes()).unwrap();
    mac.update(format!("POST.{}.{date}.", hit.path).as_bytes());
    mac.update(&hit.body);
    assert_eq!(hit.header("bi-signature"), STANDARD.encode(mac.finalize().into_bytes()), "BI-Signature");

    let (id, timestamp) = (hit.header("webhook-id"), hit.header("webhook-timestamp"));
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "a fresh webhook-timestamp: {timestamp}");
    let mut mac = HmacSha256::new_from_slice(&STANDARD.decode(secret_key).unwrap()).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&hit.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(hit.header("webhook-signature"), expected, "webhook-signature");
    assert_eq!(hit.header("content-type"), "application/json");
}

/// Calls the API as the test's client app (HTTP Basic client credentials).
async fn as_client(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = app.http.request(method, app.url(path)).basic_auth(&app.client_id, Some(&app.client_secret));
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.unwrap()).await
}

/// An auth provider's id and secret.
pub async fn auth_provider(app: &TestApp) -> (i64, String) {
    let (status, created) =
        as_client(app, Method::POST, "/2.0/webhooks/auth?type=hmac_signature&name=tests", None).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!((created["type"].as_str(), created["name"].as_str()), (Some("hmac_signature"), Some("tests")));
    (created["id"].as_i64().unwrap(), created["config"]["secret_key"].as_str().unwrap().to_owned())
}

/// Subscribes the receiver's URL of each event; returns the subscriptions' ids by event.
pub async fn subscribe(
    app: &TestApp,
    receiver: &Receiver,
    events: &[&str],
    id_auth: Option<i64>,
) -> HashMap<String, i64> {
    let mut ids = HashMap::new();
    for event in events {
        let body = json!({"event": event, "url": receiver.url(event), "id_auth": id_auth});
        let (status, webhook) = as_client(app, Method::POST, "/2.0/webhooks", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{webhook}");
        ids.insert(event.to_string(), webhook["id"].as_i64().unwrap());
    }
    ids
}

const POWENS_EVENTS: [&str; 9] = [
    "USER_CREATED",
    "USER_DELETED",
    "CONNECTION_SYNCED",
    "CONNECTION_DELETED",
    "ACCOUNTS_FETCHED",
    "ACCOUNT_SYNCED",
    "ACCOUNT_FOUND",
    "ACCOUNT_ENABLED",
    "ACCOUNT_DISABLED",
];

#[tokio::test]
async fn each_event_fires_once_for_its_action_signed_both_ways() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (id_auth, secret) = auth_provider(&app).await;
    subscribe(&app, &receiver, &POWENS_EVENTS, Some(id_auth)).await;

    let user = app.create_user().await;
    assert_eq!(receiver.wait_for("USER_CREATED", 1).await[0].json["id"], user.id);

    let connection = app.connected(&user, "demo").await;
    let synced = &receiver.wait_for("CONNECTION_SYNCED", 1).await[0].json;
    assert_eq!((&synced["user"]["id"], &synced["connection"]["id"]), (&json!(user.id), &connection["id"]));
    assert!(synced["connection"]["state"].is_null());
    let accounts = synced["connection"]["accounts"].as_array().unwrap().clone();
    assert_eq!(accounts.len(), 3, "{synced}");
    assert!(accounts.iter().all(|a| a["disabled"].is_string() && a["transactions"] == json!([])), "no consent yet");
    let fetched = &receiver.wait_for("ACCOUNTS_FETCHED", 1).await[0].json;
    assert_eq!(fetched["connection"]["accounts"].as_array().unwrap().len(), 3);
    let found: HashSet<Value> =
        receiver.wait_for("ACCOUNT_FOUND", 3).await.iter().map(|h| h.json["id"].clone()).collect();
    assert_eq!(found, accounts.iter().map(|a| a["id"].clone()).collect());

    // Consent to one account: enabled, then synced with its transactions.
    let account = accounts[0]["id"].as_i64().unwrap();
    let path = format!("/2.0/users/me/accounts/{account}?all");
    let (status, _) = app.post(&path, Some(&user.token), json!({"disabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receiver.wait_for("ACCOUNT_ENABLED", 1).await[0].json["id"], account);
    let account_synced = &receiver.wait_for("ACCOUNT_SYNCED", 1).await[0].json;
    let listed = app.all_transactions(&user, &format!("/2.0/users/me/accounts/{account}/transactions")).await;
    assert_eq!(account_synced["id"], account);
    assert_eq!(account_synced["transactions"].as_array().unwrap().len(), listed.len(), "every new transaction");
    assert!(!listed.is_empty());
    let synced = &receiver.wait_for("CONNECTION_SYNCED", 2).await[1].json;
    let accounts = synced["connection"]["accounts"].as_array().unwrap();
    let with_rows = accounts.iter().find(|a| a["id"] == account).unwrap();
    assert_eq!(with_rows["transactions"].as_array().unwrap().len(), listed.len());

    let (status, _) = app.post(&path, Some(&user.token), json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receiver.wait_for("ACCOUNT_DISABLED", 1).await[0].json["id"], account);

    assert_eq!(app.delete(&format!("/2.0/users/me/connections/{}", connection["id"]), &user.token).await, 204);
    assert_eq!(receiver.wait_for("CONNECTION_DELETED", 1).await[0].json["id"], connection["id"]);
    let (status, _) = as_client(&app, Method::DELETE, &format!("/2.0/users/{}", user.id), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(receiver.wait_for("USER_DELETED", 1).await[0].json["id"], user.id);

    // Once each, nothing more: give stray deliveries time to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expected = [
        ("USER_CREATED", 1),
        ("ACCOUNT_FOUND", 3),
        ("ACCOUNTS_FETCHED", 2),
        ("CONNECTION_SYNCED", 2),
        ("ACCOUNT_ENABLED", 1),
        ("ACCOUNT_SYNCED", 1),
        ("ACCOUNT_DISABLED", 1),
        ("CONNECTION_DELETED", 1),
        ("USER_DELETED", 1),
    ];
    let hits = receiver.hits.lock().unwrap().clone();
    for (event, count) in expected {
        assert_eq!(receiver.of(event).len(), count, "{event}");
    }
    assert_eq!(hits.len(), 13);
    for hit in &hits {
        assert_signed(hit, &secret);
        assert_eq!(hit.header("bankd-event"), hit.path.trim_start_matches("/hooks/"));
    }
    let ids: HashSet<&str> = hits.iter().map(|h| h.header("webhook-id")).collect();
    assert_eq!(ids.len(), hits.len(), "one webhook-id per event");
}

#[tokio::test]
async fn bankd_events_state_changes_archived_accounts_expiring_consents_and_capped_payloads() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let events =
        ["CONNECTION_STATE_CHANGED", "ACCOUNT_DELETED", "CONSENT_EXPIRING", "CONNECTION_SYNCED", "ACCOUNT_FOUND"];
    subscribe(&app, &receiver, &events, None).await;
    let user = app.create_user().await;

    // SCA demanded by the bank, then given by the user.
    let sca = app.connected(&user, "sca").await;
    app.resync(&user, &sca["id"]).await;
    let changed = &receiver.wait_for("CONNECTION_STATE_CHANGED", 1).await[0];
    assert_eq!(changed.json["connection"]["state"], "SCARequired", "{}", changed.json);
    assert!(changed.json["previous_state"].is_null());
    assert!(changed.headers.get("bi-signature").is_none(), "no auth provider: unsigned");
    let path = format!("/2.0/users/me/connections/{}", sca["id"]);
    app.post(&path, Some(&user.token), json!({"refresh_auth": true})).await;
    let changed = &receiver.wait_for("CONNECTION_STATE_CHANGED", 2).await[1].json;
    assert_eq!(
        (changed["connection"]["state"].clone(), changed["previous_state"].clone()),
        (Value::Null, json!("SCARequired"))
    );

    // A consent ending within 7 days is announced once.
    let soon = (chrono::Utc::now() + chrono::Duration::days(3)).format("%Y-%m-%d %H:%M:%S").to_string();
    let (status, _) = app.post(&path, Some(&user.token), json!({"expire": soon})).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..2 {
        bankd::sync::scheduler::tick(&app.engine).await.unwrap();
    }
    let expiring = &receiver.wait_for("CONSENT_EXPIRING", 1).await[0].json;
    assert_eq!(expiring["connection"]["id"], sca["id"]);

    // The `closing` login's savings account vanishes on the second sync: archived.
    let closing = app.connected(&user, "closing").await;
    app.resync(&user, &closing["id"]).await;
    let archived = &receiver.wait_for("ACCOUNT_DELETED", 1).await[0].json;
    assert!(archived["deleted"].is_string() && archived["id_connection"] == closing["id"], "{archived}");

    // An import of 2,500 transactions: the payload carries 1,000 and links to them all.
    let (status, imported) = upload(&app, &user, "big.qif", payments(2_500, ""), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    let mut synced = None;
    for _ in 0..400 {
        let hits = receiver.of("CONNECTION_SYNCED");
        synced = hits.into_iter().map(|h| h.json).find(|json| json["connection"]["id_connector"] == 4);
        if synced.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let synced = synced.expect("the import's CONNECTION_SYNCED");
    let found = receiver.wait_for("ACCOUNT_FOUND", 7).await; // 3 of `sca`, 3 of `closing`, the file's
    assert_eq!(found[6].json["id_connection"], imported["connection"]["id"], "{}", found[6].json);
    assert_eq!(synced["connection"]["accounts"][0]["transactions"].as_array().unwrap().len(), 1_000);
    assert_eq!(synced["more_transactions"]["count"], 1_500, "{}", synced["more_transactions"]);
    let url = synced["more_transactions"]["url"].as_str().unwrap();
    let (status, page) = read(app.http.get(url).bearer_auth(&user.token).send().await.unwrap()).await;
    assert_eq!((status, &page["total"]), (StatusCode::OK, &json!(2_500)), "{url}");

    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.of("CONSENT_EXPIRING").len(), 1, "once per consent");
    assert_eq!(receiver.of("ACCOUNT_DELETED").len(), 1);
    assert_eq!(receiver.of("CONNECTION_STATE_CHANGED").len(), 2);
}

#[tokio::test]
async fn a_receiver_down_gets_every_event_in_order_once_back_and_deliveries_replay() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (id_auth, secret) = auth_provider(&app).await;
    let ids = subscribe(&app, &receiver, &["CONNECTION_SYNCED"], Some(id_auth)).await;
    let webhook = ids["CONNECTION_SYNCED"];
    receiver.up.store(false, Ordering::SeqCst);

    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    for _ in 0..2 {
        app.resync(&user, &connection["id"]).await;
    }
    // Failed attempts are logged with their status and next try; later events wait their turn.
    let log_path = format!("/2.0/webhooks/{webhook}/deliveries");
    for _ in 0..200 {
        if receiver.refused.load(Ordering::SeqCst) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, log) = as_client(&app, Method::GET, &log_path, None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let deliveries = log["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3, "{log}");
    let first = &deliveries[2];
    assert_eq!((first["state"].as_str(), first["last_status"].as_i64()), (Some("pending"), Some(503)), "{log}");
    assert!(first["attempts"].as_i64().unwrap() >= 2 && first["next_try"].is_string(), "{first}");
    assert!(deliveries[..2].iter().all(|d| d["attempts"].as_i64() <= Some(1)), "they wait for the first: {log}");

    receiver.up.store(true, Ordering::SeqCst);
    let hits = receiver.wait_for("CONNECTION_SYNCED", 3).await;
    let order: Vec<i64> =
        hits.iter().map(|h| h.header("webhook-id").trim_start_matches("evt_").parse().unwrap()).collect();
    assert!(order.is_sorted() && order.len() == 3, "in the order they happened: {order:?}");
    hits.iter().for_each(|hit| assert_signed(hit, &secret));

    let (_, log) = as_client(&app, Method::GET, &log_path, None).await;
    assert!(log["deliveries"].as_array().unwrap().iter().all(|d| d["state"] == "delivered" && d["last_status"] == 200));
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("bankd_webhook_deliveries{state=\"delivered\"} 3"), "{metrics}");
    assert!(metrics.contains("bankd_webhook_attempts_total"));

    // A replay sends the same event again, with the same webhook-id.
    let first_id = log["deliveries"][2]["id"].as_i64().unwrap();
    let (status, replayed) =
        as_client(&app, Method::POST, &format!("/2.0/webhooks/deliveries/{first_id}/replay"), None).await;
    assert_eq!((status, replayed["state"].as_str()), (StatusCode::OK, Some("pending")), "{replayed}");
    let again = &receiver.wait_for("CONNECTION_SYNCED", 4).await[3];
    assert_eq!(again.header("webhook-id"), hits[0].header("webhook-id"));
    // …but an X-Request-ID of its own: the id of this attempt, as bankd's log line has it.
    assert!(again.header("x-request-id").starts_with("dlv_"), "{:?}", again.headers);
    assert_ne!(again.header("x-request-id"), hits[0].header("x-request-id"));
    assert_eq!(again.body, hits[0].body, "the same payload");

    // Ended deliveries leave the log when they are old enough (here: all of them).
    app.store.purge_deliveries(chrono::Duration::minutes(-1)).await.unwrap();
    let (_, log) = as_client(&app, Method::GET, &log_path, None).await;
    assert_eq!(log["deliveries"], json!([]));
}

#[tokio::test]
async fn subscriptions_are_checked_and_kept_to_their_client_app() {
    let app = TestApp::spawn_with(|settings| settings.webhooks.webhook_allow_private = Some(false)).await;
    let post = async |body: Value| as_client(&app, Method::POST, "/2.0/webhooks", Some(body)).await;
    let refused = [
        (json!({"event": "CONNECTION_SYNCED", "url": "http://127.0.0.1:9/hook"}), "url"),
        (json!({"event": "CONNECTION_SYNCED", "url": "http://169.254.169.254/latest"}), "url"),
        (json!({"event": "CONNECTION_SYNCED", "url": "http://localhost:9/hook"}), "url"),
        (json!({"event": "CONNECTION_SYNCED", "url": "ftp://example.com/hook"}), "url"),
        (json!({"event": "CONNECTION_SYNCED", "url": "not a url"}), "url"),
        (json!({"event": "NO_SUCH_EVENT", "url": "https://1.1.1.1/hook"}), "event"),
        (json!({"event": "CONNECTION_SYNCED", "url": "https://1.1.1.1/hook", "id_auth": 999}), "id_auth"),
    ];
    for (body, field) in refused {
        let answer = post(body.clone()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalidValue");
        assert!(answer.1["description"].as_str().unwrap().contains(field), "{body}: {}", answer.1);
    }
    let (status, bad_name) = as_client(&app, Method::POST, "/2.0/webhooks/auth?name=not-a-name", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad_name}");

    // A user token cannot manage webhooks; another client app sees none of these.
    let user: TestUser = app.create_user().await;
    assert_error(&app.get("/2.0/webhooks", &user.token).await, StatusCode::FORBIDDEN, "forbidden");
    let (_, created) = post(json!({"event": "USER_CREATED", "url": "https://1.1.1.1/hook"})).await;
    let other = app.store.create_client("other", &[]).await.unwrap();
    let as_other = |method: Method, path: String| {
        app.http.request(method, app.url(&path)).basic_auth(&other.client.client_id, Some(&other.client_secret))
    };
    let (_, list) = read(as_other(Method::GET, "/2.0/webhooks".into()).send().await.unwrap()).await;
    assert_eq!(list["webhooks"], json!([]));
    let (status, _) =
        read(as_other(Method::DELETE, format!("/2.0/webhooks/{}", created["id"])).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = as_client(&app, Method::GET, "/2.0/webhooks", None).await;
    assert_eq!(list["webhooks"][0]["url"], "https://1.1.1.1/hook");
}
