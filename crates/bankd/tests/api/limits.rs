//! Limits (issue 21, item 6): attempts on the routes that take secrets, request bodies, syncs of
//! one user at once, and slow clients on the listener — each over real HTTP against a real server.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{SANDBOX_UUID, TestApp, assert_error, read};
use crate::statements::upload;

/// `POST /2.0/auth/init` (an anonymous user: no credentials needed) as seen from `address`, the
/// `X-Forwarded-For` a trusted proxy on loopback would send.
async fn init_from(app: &TestApp, address: &str) -> reqwest::Response {
    app.http.post(app.url("/2.0/auth/init")).header("x-forwarded-for", address).json(&json!({})).send().await.unwrap()
}

/// Asserts a `429 rateLimited` envelope with a `Retry-After` of at least a second; returns it.
async fn assert_throttled(response: reqwest::Response) -> u64 {
    let retry_after: u64 = response.headers().get(RETRY_AFTER).expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    assert_error(&read(response).await, StatusCode::TOO_MANY_REQUESTS, "rateLimited");
    retry_after
}

#[tokio::test]
async fn an_address_past_its_allowance_gets_429_others_do_not_and_it_comes_back() {
    let app = TestApp::spawn_with(|s| {
        s.limits.rate_limit_per_ip = 3;
        s.limits.rate_limit_window_seconds = 3;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(init_from(&app, "203.0.113.1").await.status(), StatusCode::OK);
    }
    let retry_after = assert_throttled(init_from(&app, "203.0.113.1").await).await;
    let (_, openapi) = app.call(reqwest::Method::GET, "/2.0/openapi.json", None, None).await;
    let documented = &openapi["paths"]["/2.0/auth/init"]["post"]["responses"]["429"];
    assert!(documented["headers"]["Retry-After"].is_object(), "the 429 is in the OpenAPI document: {documented}");
    assert!(retry_after <= 3, "one attempt comes back each second: {retry_after}");
    assert_eq!(init_from(&app, "203.0.113.2").await.status(), StatusCode::OK, "another address is not held back");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(init_from(&app, "203.0.113.1").await.status(), StatusCode::OK, "after Retry-After, let through again");
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_buy_new_attempts() {
    let app = TestApp::spawn_with(|s| {
        s.limits.rate_limit_per_ip = 2;
        s.limits.trusted_proxies = Vec::new();
    })
    .await;
    for address in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(init_from(&app, address).await.status(), StatusCode::OK);
    }
    assert_throttled(init_from(&app, "203.0.113.3").await).await;
}

#[tokio::test]
async fn a_client_app_past_its_allowance_gets_429_from_any_address_another_app_does_not() {
    let app = TestApp::spawn_with(|s| s.limits.rate_limit_per_client = 2).await;
    let other = app.store.create_client("other", &[]).await.unwrap();
    let with_secret = |client_id: &str, secret: &str, address: &str| {
        let body = json!({"client_id": client_id, "client_secret": secret});
        app.http.post(app.url("/2.0/auth/init")).header("x-forwarded-for", address).json(&body).send()
    };
    assert_eq!(with_secret(&app.client_id, &app.client_secret, "203.0.113.1").await.unwrap().status(), StatusCode::OK);
    // A wrong secret counts too: that is what guessing one looks like.
    let wrong = read(with_secret(&app.client_id, "guess", "203.0.113.2").await.unwrap()).await;
    assert_error(&wrong, StatusCode::BAD_REQUEST, "invalidValue");
    assert_throttled(with_secret(&app.client_id, &app.client_secret, "203.0.113.3").await.unwrap()).await;
    let (client_id, secret) = (other.client.client_id, other.client_secret);
    assert_eq!(with_secret(&client_id, &secret, "203.0.113.3").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn simplefin_claims_code_exchanges_webview_forms_and_webauth_callbacks_are_counted() {
    let app = TestApp::spawn_with(|s| s.limits.rate_limit_per_ip = 2).await;
    let from =
        |address: &'static str| move |request: reqwest::RequestBuilder| request.header("x-forwarded-for", address);
    let claim = || app.http.post(app.url("/simplefin/claim/bm90LWEtdG9rZW4"));
    let one = from("203.0.113.1");
    for _ in 0..2 {
        assert_eq!(one(claim()).send().await.unwrap().status(), StatusCode::FORBIDDEN, "an unknown claim");
    }
    assert_throttled(one(claim()).send().await.unwrap()).await;

    let two = from("203.0.113.2");
    let entry = format!("/webview/en/connect?client_id={}&redirect_uri=x&code=guessed", app.client_id);
    for _ in 0..2 {
        assert_eq!(two(app.http.get(app.url(&entry))).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    }
    assert_throttled(two(app.http.get(app.url(&entry))).send().await.unwrap()).await;

    let three = from("203.0.113.3");
    let credentials = || app.http.post(app.url(&format!("/webview/en/banks/{SANDBOX_UUID}"))).body("login=demo");
    for _ in 0..2 {
        assert_eq!(three(credentials()).send().await.unwrap().status(), StatusCode::BAD_REQUEST, "no session");
    }
    assert_throttled(three(credentials()).send().await.unwrap()).await;
    let otp = app.http.post(app.url("/webview/en/connections/1")).body("otp=000000");
    assert_throttled(three(otp).send().await.unwrap()).await;

    // The bank's authorization code comes back through the webauth callback, with a state to guess.
    let four = from("203.0.113.4");
    let callback = || app.http.get(app.url("/2.0/webauth/callback?state=guessed&code=guessed"));
    for _ in 0..2 {
        assert_eq!(four(callback()).send().await.unwrap().status(), StatusCode::BAD_REQUEST, "an unknown state");
    }
    assert_throttled(four(callback()).send().await.unwrap()).await;
}

#[tokio::test]
async fn the_defaults_leave_an_app_room_for_a_burst_of_logins() {
    let app = TestApp::spawn().await;
    for n in 0..50 {
        let response = init_from(&app, "203.0.113.1").await;
        assert_eq!(response.status(), StatusCode::OK, "attempt {n}");
    }
}

/// The cookie of a new webview journey (a connect link with no `code`).
async fn webview_session(app: &TestApp) -> String {
    let link = format!("/webview/en/connect?client_id={}&redirect_uri=https://app.example/callback", app.client_id);
    let started = app.http.get(app.url(&link)).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let cookie = started.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_the_envelope_on_every_kind_of_route() {
    let app = TestApp::spawn_with(|s| s.limits.max_body_bytes = 1024).await;
    let big = "x".repeat(4096);
    let api = app.http.post(app.url("/2.0/auth/init")).json(&json!({"padding": big})).send().await.unwrap();
    assert_error(&read(api).await, StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge");
    let form = format!("login=demo&padding={big}");
    let webview = app.http.post(app.url(&format!("/webview/en/banks/{SANDBOX_UUID}"))).body(form.clone());
    let webview = webview.header("cookie", webview_session(&app).await);
    let webview = webview.header("content-type", "application/x-www-form-urlencoded").send().await.unwrap();
    assert_error(&read(webview).await, StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge");
    // A route served by axum's own form extractor (the simulated STET bank's login form).
    let bank = app.http.post(app.url("/sandbox/stet/authorize")).body(form);
    let bank = bank.header("content-type", "application/x-www-form-urlencoded").send().await.unwrap();
    assert_error(&read(bank).await, StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge");
    let small = app.http.post(app.url("/2.0/auth/init")).json(&json!({"padding": "x"})).send().await.unwrap();
    assert_eq!(small.status(), StatusCode::OK, "under the limit: served");
}

/// A CSV statement of about `bytes` bytes.
fn statement(bytes: usize) -> String {
    let mut csv = "Date;Libellé;Débit;Crédit\r\n".to_owned();
    let mut day = 0;
    while csv.len() < bytes {
        day += 1;
        csv += &format!("{:02}/11/2026;CB MONOPRIX {day};4,{:02};\r\n", day % 28 + 1, day % 100);
    }
    csv
}

#[tokio::test]
async fn the_statement_upload_keeps_its_own_limit() {
    let app = TestApp::spawn_with(|s| {
        s.limits.max_body_bytes = 1024;
        s.max_upload_bytes = 16 * 1024;
    })
    .await;
    let user = app.create_user().await;
    let (status, imported) = upload(&app, &user, "releve.csv", statement(8 * 1024), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "over the body limit, under the upload limit: {imported}");
    let refused = upload(&app, &user, "releve.csv", statement(32 * 1024), &[]).await;
    assert_error(&refused, StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge");
}

/// Connects `login` in the background (the request does not wait for the sync); its id.
async fn connect_in_background(app: &TestApp, token: &str, login: &str) -> i64 {
    let body = json!({"connector_uuid": SANDBOX_UUID, "login": login, "password": "1234"});
    let (status, connection) = app.post("/2.0/users/me/connections?background=true", Some(token), body).await;
    assert!(status.is_success(), "{connection}");
    connection["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_users_syncs_past_the_cap_wait_in_the_queue_while_another_users_run() {
    let app = TestApp::spawn_with(|s| s.engine.workers = 0).await;
    let (alice, bob) = (app.create_user().await, app.create_user().await);
    for login in ["demo", "alice2", "alice3"] {
        connect_in_background(&app, &alice.token, login).await;
    }
    let bobs = connect_in_background(&app, &bob.token, "demo").await;
    let lease = chrono::Duration::minutes(5);
    let claim = |worker: &'static str| app.store.claim_job(worker, lease, 8, 2);
    let (first, second) = (claim("w1").await.unwrap().unwrap(), claim("w2").await.unwrap().unwrap());
    assert_ne!(first.id_connection, Some(bobs), "alice's jobs were queued first");
    assert_ne!(second.id_connection, Some(bobs));
    let third = claim("w3").await.unwrap().expect("bob's job is not held back by alice's");
    assert_eq!(third.id_connection, Some(bobs));
    assert!(claim("w4").await.unwrap().is_none(), "alice's third waits: two of hers run");
    assert!(app.store.finish_job(first.id, "w1", "ok").await.unwrap());
    assert!(claim("w4").await.unwrap().is_some(), "one of hers ended: the third runs");
}

/// Polls the queue until it is empty; the most jobs it saw running at once.
async fn most_running_until_done(app: &TestApp, seconds: u64) -> i64 {
    let (mut most, started) = (0, Instant::now());
    loop {
        let counts = app.store.job_counts().await.unwrap();
        most = most.max(counts.running);
        if counts.queued == 0 && counts.running == 0 {
            return most;
        }
        assert!(started.elapsed() < Duration::from_secs(seconds), "the syncs did not end: {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn with_a_cap_of_one_a_users_long_syncs_run_one_after_another_and_all_complete() {
    let app = TestApp::spawn_with(|s| {
        s.engine.workers = 4;
        s.engine.user_concurrency = 1;
        // Enabling an account answers at once; its 100,000 transactions come in the background.
        s.engine.sync_wait_seconds = 0;
    })
    .await;
    let user = app.create_user().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(connect_in_background(&app, &user.token, "big").await);
    }
    most_running_until_done(&app, 60).await;
    for id in &ids {
        app.enable_accounts(&user, &json!(id)).await;
    }
    let most = most_running_until_done(&app, 120).await;
    assert_eq!(most, 1, "one of the user's syncs at a time, with four workers idle");
    let (_, listed) = app.get("/2.0/users/me/transactions?limit=1", &user.token).await;
    assert_eq!(listed["total"], 200_000, "both syncs ran to the end");
    for id in ids {
        let (_, connection) = app.get(&format!("/2.0/users/me/connections/{id}"), &user.token).await;
        assert_eq!(connection["state"], Value::Null, "{connection}");
    }
}

#[tokio::test]
async fn a_resync_asked_at_the_cap_is_queued_answers_validating_then_runs() {
    let app = TestApp::spawn_with(|s| {
        s.engine.user_concurrency = 1;
        s.engine.sync_wait_seconds = 0;
    })
    .await;
    let user = app.create_user().await;
    let (big, demo) = (app.connected(&user, "big").await, app.connected(&user, "demo").await);
    most_running_until_done(&app, 60).await;
    app.enable_accounts(&user, &big["id"]).await; // its 100,000 transactions take seconds
    let started = Instant::now();
    while app.store.job_counts().await.unwrap().running == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the long sync never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let path = format!("/2.0/users/me/connections/{}", demo["id"]);
    let (status, asked) = app.call(reqwest::Method::PUT, &path, Some(&user.token), None).await;
    assert!(status.is_success(), "queued, not refused: {asked}");
    assert_eq!(asked["state"], "validating", "{asked}");
    most_running_until_done(&app, 120).await;
    let (_, done) = app.get(&path, &user.token).await;
    assert_eq!(done["state"], Value::Null, "{done}");
    // Logs are numbered as syncs end: the resync's comes after the long sync's.
    let newest_log = async |id: &Value| {
        let (_, logs) = app.get(&format!("/2.0/users/me/connections/{id}/logs"), &user.token).await;
        let ids = logs["connectionlogs"].as_array().unwrap().iter().map(|log| log["id"].as_i64().unwrap());
        (ids.clone().count(), ids.max().unwrap())
    };
    let ((big_syncs, big_ended), (demo_syncs, demo_ended)) =
        (newest_log(&big["id"]).await, newest_log(&demo["id"]).await);
    assert_eq!((big_syncs, demo_syncs), (2, 2), "each connected, then synced once more");
    assert!(demo_ended > big_ended, "the resync ran after the long sync ended, not beside it");
}

/// Reads until the server closes the connection; how long that took (panics past `limit`).
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

/// Half a request, then nothing: closed after the header timeout. Returns how long it took.
async fn stall_half_a_request(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> Duration {
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    stream.flush().await.unwrap();
    closed_within(stream, Duration::from_secs(5)).await
}

#[tokio::test]
async fn a_client_stalling_in_its_headers_or_idle_between_requests_is_cut_off() {
    let app = TestApp::spawn_with(|s| s.limits.header_timeout_seconds = 1.0).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stalled = TcpStream::connect(&address).await.unwrap();
    let took = stall_half_a_request(&mut stalled).await;
    assert!(took >= Duration::from_millis(900), "closed before the timeout: {took:?}");

    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut answer = [0u8; 1024];
    let read = idle.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..read]));
    closed_within(&mut idle, Duration::from_secs(5)).await;

    let served = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK, "well-behaved clients are served meanwhile");
}

#[tokio::test]
async fn over_https_a_client_stalling_in_its_headers_is_cut_off_too() {
    let files = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let app = TestApp::spawn_with(|s| {
        s.limits.header_timeout_seconds = 1.0;
        s.tls_cert = Some(cert);
        s.tls_key = Some(key);
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.unwrap();
    let took = stall_half_a_request(&mut tls).await;
    assert!(took >= Duration::from_millis(900), "closed before the timeout: {took:?}");
}
