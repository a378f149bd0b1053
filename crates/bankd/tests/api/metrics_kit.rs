//! The operator's metrics kit under deploy/: every metric its Prometheus rules and Grafana
//! dashboard query is one `/metrics` exports, and the metrics added for it count what they say.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::helpers::TestApp;
use crate::webhooks::{Receiver, subscribe};

const RULES: &str = include_str!("../../../../deploy/prometheus/bankd-rules.yml");
const DASHBOARD: &str = include_str!("../../../../deploy/grafana/bankd.json");

/// A histogram's series are its name with these suffixes.
fn base_name(name: &str) -> &str {
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| name.strip_suffix(suffix)).unwrap_or(name)
}

/// The metric names in Prometheus text: its samples' and, for gauges with no sample yet, its
/// `# TYPE` lines'.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| match line.strip_prefix("# TYPE ") {
            Some(declared) => declared.split(' ').next(),
            None if line.starts_with('#') => None,
            None => line.split(['{', ' ']).next(),
        })
        .filter(|name| !name.is_empty())
        .map(|name| base_name(name).to_owned())
        .collect()
}

/// The `bankd_…` names a rules file or dashboard mentions.
fn used(text: &str) -> BTreeSet<String> {
    let name = regex::Regex::new(r"\bbankd_[a-z0-9_]+").unwrap();
    name.find_iter(text).map(|m| base_name(m.as_str()).to_owned()).collect()
}

async fn metrics(app: &TestApp) -> String {
    app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn every_metric_the_rules_and_the_dashboard_query_is_exported() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    subscribe(&app, &receiver, &["CONNECTION_SYNCED"], None).await;
    let user = app.create_user().await;
    app.connected(&user, "demo").await;
    receiver.wait_for("CONNECTION_SYNCED", 1).await;
    // The attempt is counted once the receiver has answered.
    let mut text = metrics(&app).await;
    for _ in 0..100 {
        if text.contains("bankd_webhook_attempts_total") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = metrics(&app).await;
    }
    let exported = exported(&text);

    for (file, text) in [("bankd-rules.yml", RULES), ("bankd.json", DASHBOARD)] {
        let used = used(text);
        assert!(used.contains("bankd_syncs_total"), "{file} names no metric: {used:?}");
        let unknown: Vec<_> = used.difference(&exported).collect();
        assert!(unknown.is_empty(), "{file} uses {unknown:?}, which bankd does not export:\n{text}");
    }
}

#[tokio::test]
async fn syncs_are_counted_by_connector_and_state() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.connected(&user, "demo").await;
    app.connected(&user, "unavailable").await;
    let text = metrics(&app).await;
    for line in [
        "bankd_syncs_total{connector=\"SANDBOX\",state=\"ok\"}",
        "bankd_syncs_total{connector=\"SANDBOX\",state=\"websiteUnavailable\"}",
        "bankd_sync_duration_seconds_bucket{connector=\"SANDBOX\",le=\"300\"}",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

#[tokio::test]
async fn consents_ending_within_7_days_are_counted() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let at = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).format("%Y-%m-%d %H:%M:%S").to_string();
    // Ending in 3 days: counted; in 30 days, or over already (the syncs have stopped): not.
    for days in [3, 30, -1] {
        let connection = app.connected(&user, "demo").await;
        let path = format!("/2.0/users/me/connections/{}", connection["id"]);
        let (status, updated) = app.post(&path, Some(&user.token), json!({"expire": at(days)})).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{updated}");
    }
    let text = metrics(&app).await;
    assert!(text.contains("bankd_connections_expiring{within=\"7d\"} 1\n"), "{text}");
}
