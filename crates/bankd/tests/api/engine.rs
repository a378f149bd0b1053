//! The sync engine: the queue's exactly-once claims and leases, the scheduler's rules, background
//! requests and metrics.

use std::collections::HashSet;
use std::time::Duration;

use bankd::store::jobs::{JobState, Lease};
use bankd::store::{Store, StoreError, on_db};
use bankd::sync::SyncRequest;
use bankd::sync::scheduler;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SANDBOX_UUID, TestApp, TestUser, read};

/// Claims and finishes jobs until none is left; returns the ids it ran.
async fn drain(store: Store, worker: &'static str) -> Vec<i64> {
    let mut ran = Vec::new();
    while let Some(job) = store.claim_job(worker, chrono::Duration::minutes(5), 8, 8).await.unwrap() {
        assert!(store.finish_job(job.id, worker, "ok").await.unwrap());
        ran.push(job.id);
    }
    ran
}

#[tokio::test]
async fn two_workers_share_1000_jobs_each_run_exactly_once() {
    let app = TestApp::spawn_with(|s| s.engine.workers = 0).await;
    app.store.enqueue_noops(1000).await.unwrap();
    // Two workers with their own connection pools, as two processes would have.
    let (one, two) =
        (Store::connect(&app.database_url).await.unwrap(), Store::connect(&app.database_url).await.unwrap());
    let (a, b) = tokio::join!(tokio::spawn(drain(one, "worker-a")), tokio::spawn(drain(two, "worker-b")));
    let (a, b) = (a.unwrap(), b.unwrap());
    let all: HashSet<i64> = a.iter().chain(&b).copied().collect();
    assert_eq!(a.len() + b.len(), 1000, "no job ran twice");
    assert_eq!(all.len(), 1000, "every job ran");
    assert!(!a.is_empty() && !b.is_empty(), "both workers took part: {} / {}", a.len(), b.len());
    assert_eq!(app.store.job_counts().await.unwrap().queued, 0);
}

#[tokio::test]
async fn an_expired_lease_hands_the_job_to_another_worker() {
    let app = TestApp::spawn_with(|s| s.engine.workers = 0).await;
    app.store.enqueue_noops(1).await.unwrap();
    let crashed = app.store.claim_job("crashed", chrono::Duration::seconds(1), 8, 8).await.unwrap().unwrap();
    assert!(app.store.claim_job("other", chrono::Duration::seconds(30), 8, 8).await.unwrap().is_none(), "leased");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let again = app.store.claim_job("other", chrono::Duration::seconds(30), 8, 8).await.unwrap().unwrap();
    assert_eq!(again.id, crashed.id);
    assert_eq!(again.attempts, 2);
    assert!(!app.store.finish_job(crashed.id, "crashed", "ok").await.unwrap(), "the old worker is fenced off");
    assert!(!app.store.extend_lease(crashed.id, "crashed", chrono::Utc::now()).await.unwrap());
    assert!(app.store.finish_job(again.id, "other", "ok").await.unwrap());
}

/// A worker whose lease ran out (it stalled on a busy database, or was thought dead) and whose job
/// another worker took must write nothing more of its sync: no accounts, no transactions, no log,
/// no end; the new worker's sync is the one recorded, and the job is finished with it.
#[tokio::test]
async fn a_worker_that_lost_its_lease_writes_nothing_of_its_sync() {
    let app = TestApp::spawn_with(|s| s.engine.workers = 0).await;
    let user = app.create_user().await;
    let body = json!({"connector_uuid": SANDBOX_UUID, "login": "demo", "password": "1234"});
    let (_, connection) = app.post("/2.0/users/me/connections?background=true", Some(&user.token), body).await;
    let stalled = app.store.claim_job("stalled", chrono::Duration::seconds(1), 8, 8).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let taken = app.store.claim_job("successor", chrono::Duration::seconds(30), 8, 8).await.unwrap().unwrap();
    assert_eq!(taken.id, stalled.id);

    let row = app.store.connection_by_id(connection["id"].as_i64().unwrap()).await.unwrap().unwrap();
    let request = SyncRequest::default();
    let lost = Lease { job: stalled.id, worker: "stalled".into() };
    let outcome = app.engine.syncer.sync_leased(&row, &request, &lost).await;
    assert!(matches!(outcome, Err(StoreError::LeaseLost)), "{outcome:?}");
    assert_eq!(logs(&app, &user, &connection).await["total"], 0, "no log of the fenced sync");
    let (accounts,): (i64,) = on_db!(&app.store.db, pool =>
        sqlx::query_as("SELECT COUNT(*) FROM accounts").fetch_one(pool).await.unwrap()
    );
    assert_eq!(accounts, 0, "no account written by the fenced sync");

    let held = Lease { job: taken.id, worker: "successor".into() };
    let outcome = app.engine.syncer.sync_leased(&row, &request, &held).await.unwrap();
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert_eq!(logs(&app, &user, &connection).await["total"], 1);
    assert_eq!(app.store.job_state(taken.id).await.unwrap(), Some(JobState::Finished("ok".into())), "with its sync");
}

#[tokio::test]
async fn the_per_connector_limit_holds_back_extra_syncs() {
    let app = TestApp::spawn_with(|s| s.engine.workers = 0).await;
    let user = app.create_user().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let body = json!({"connector_uuid": SANDBOX_UUID, "login": "demo", "password": "1234"});
        let (_, connection) = app.post("/2.0/users/me/connections?background=true", Some(&user.token), body).await;
        ids.push(connection["id"].as_i64().unwrap());
    }
    let lease = chrono::Duration::minutes(5);
    assert!(app.store.claim_job("w1", lease, 2, 8).await.unwrap().is_some());
    assert!(app.store.claim_job("w2", lease, 2, 8).await.unwrap().is_some());
    assert!(app.store.claim_job("w3", lease, 2, 8).await.unwrap().is_none(), "two of this connector run already");
}

async fn logs(app: &TestApp, user: &TestUser, connection: &Value) -> Value {
    app.get(&format!("/2.0/users/me/connections/{}/logs", connection["id"]), &user.token).await.1
}

/// Waits until the connection has `count` logs.
async fn until_logged(app: &TestApp, user: &TestUser, connection: &Value, count: i64) -> Value {
    for _ in 0..200 {
        let logs = logs(app, user, connection).await;
        if logs["total"].as_i64() == Some(count) {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never reached {count} logs: {}", logs(app, user, connection).await);
}

#[tokio::test]
async fn the_scheduler_refreshes_due_connections_unattended() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let healthy = app.connected(&user, "demo").await;
    let waiting = app.connected(&user, "otp").await;
    let past = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
    for connection in [&healthy, &waiting] {
        app.store.set_next_try(connection["id"].as_i64().unwrap(), past).await.unwrap();
    }
    assert_eq!(scheduler::tick(&app.engine).await.unwrap(), 1, "not the one waiting for its OTP");
    until_logged(&app, &user, &healthy, 2).await;
    let id = healthy["id"].as_i64().unwrap();
    let filter =
        bankd::store::connections::LogFilter { min_date: None, max_date: None, id_source: None, limit: 10, offset: 0 };
    let (rows, _) = app.store.connection_logs(id, &filter).await.unwrap();
    assert!(rows[0].unattended && !rows[1].unattended, "the background one is unattended");
    let (_, after) = app.get(&format!("/2.0/users/me/connections/{id}"), &user.token).await;
    let next = chrono::NaiveDateTime::parse_from_str(after["next_try"].as_str().unwrap(), "%Y-%m-%d %H:%M:%S").unwrap();
    let hours = (next - chrono::Utc::now().naive_utc()).num_hours();
    assert!((20..=28).contains(&hours), "next refresh a day later, jittered: {hours} h");
    assert_eq!(scheduler::tick(&app.engine).await.unwrap(), 0, "nothing due any more");
}

#[tokio::test]
async fn four_unattended_syncs_a_day_then_the_scheduler_waits() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let id = connection["id"].as_i64().unwrap();
    let past = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
    for n in 0..4 {
        app.store.set_next_try(id, past).await.unwrap();
        assert_eq!(scheduler::tick(&app.engine).await.unwrap(), 1);
        until_logged(&app, &user, &connection, n + 2).await;
    }
    app.store.set_next_try(id, past).await.unwrap();
    assert_eq!(scheduler::tick(&app.engine).await.unwrap(), 0, "the budget is spent");
    let after = app.store.connection_by_id(id).await.unwrap().unwrap();
    let wait = after.next_try.unwrap() - chrono::Utc::now();
    assert!(wait > chrono::Duration::hours(23), "postponed until the oldest leaves the 24 h window: {wait}");
    // A user who is present is not limited.
    let synced = app.resync(&user, &connection["id"]).await;
    assert!(synced["state"].is_null());
}

#[tokio::test]
async fn background_requests_return_at_once() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let body = json!({"connector_uuid": SANDBOX_UUID, "login": "demo", "password": "1234"});
    let (status, connection) = app.post("/2.0/users/me/connections?background=true", Some(&user.token), body).await;
    assert_eq!(status, StatusCode::CREATED);
    let logs = until_logged(&app, &user, &connection, 1).await;
    assert!(logs["connectionlogs"][0]["error"].is_null());
    let path = format!("/2.0/users/me/connections/{}?background=1", connection["id"]);
    let (status, _) = app.call(reqwest::Method::PUT, &path, Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK);
    until_logged(&app, &user, &connection, 2).await;
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.connected(&user, "demo").await;
    app.connected(&user, "unavailable").await;
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for line in [
        "bankd_http_requests_total{",
        "bankd_http_request_duration_seconds_bucket{",
        "bankd_job_duration_seconds_bucket{kind=\"sync\"",
        "bankd_jobs{state=\"queued\"} 0",
        "bankd_jobs{state=\"running\"} 0",
        "bankd_connections{state=\"ok\"} 1",
        "bankd_connections{state=\"websiteUnavailable\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let (status, _) = read(app.http.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_show_the_queue_s_depth_and_lag() {
    let app = TestApp::spawn_with(|s| s.engine.workers = 0).await;
    app.store.enqueue_noops(3).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("bankd_jobs{state=\"queued\"} 3"), "{text}");
    let lag: i64 = text
        .lines()
        .find_map(|line| line.strip_prefix("bankd_jobs_lag_seconds "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no lag gauge in:\n{text}"));
    assert!((1..60).contains(&lag), "lag {lag}");
}

#[tokio::test]
async fn queued_requests_merge_without_losing_the_users_answer() {
    // Nothing runs until the test starts the workers: three requests meet in one queued job.
    let app = TestApp::spawn_with(|s| s.engine.workers = 0).await;
    let user = app.create_user().await;
    let body = json!({"connector_uuid": SANDBOX_UUID, "login": "otp", "password": "1234"});
    let (_, connection) = app.post("/2.0/users/me/connections?background=true", Some(&user.token), body).await;
    let path = format!("/2.0/users/me/connections/{}", connection["id"]);
    let (status, _) = app.post(&format!("{path}?background=true"), Some(&user.token), json!({"otp": "123456"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(reqwest::Method::PUT, &format!("{path}?background=true"), Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK);

    let stop = tokio_util::sync::CancellationToken::new();
    let mut engine = app.engine.clone();
    engine.settings.workers = 1;
    let workers = bankd::startup::sync_tasks(&engine, &stop);
    let logs = until_logged(&app, &user, &connection, 1).await;
    assert!(logs["connectionlogs"][0]["error"].is_null(), "one sync, with the OTP: {logs}");
    stop.cancel();
    futures::future::join_all(workers).await;
}
