//! Balance history (bankd's extension): each sync and each statement import records every
//! account's balance of the day, the latest of the day winning; the API lists them oldest first
//! and the webview's manage page draws them.

use bankd::store::on_db;
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};
use crate::statements::{ofx, upload};
use crate::webview::{Browser, code, entry};

fn path(id_account: i64, query: &str) -> String {
    format!("/2.0/users/me/accounts/{id_account}/balances{query}")
}

async fn history(app: &TestApp, user: &TestUser, id_account: i64, query: &str) -> Value {
    let (status, body) = app.get(&path(id_account, query), &user.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"].as_u64(), body["balances"].as_array().map(|b| b.len() as u64), "{body}");
    body
}

fn dates(history: &Value) -> Vec<&str> {
    history["balances"].as_array().unwrap().iter().map(|day| day["date"].as_str().unwrap()).collect()
}

fn today() -> NaiveDate {
    bankd::store::now().date_naive()
}

async fn stored_rows(app: &TestApp) -> i64 {
    let (n,): (i64,) = on_db!(&app.store.db, pool =>
        sqlx::query_as("SELECT COUNT(*) FROM account_balances").fetch_one(pool).await.unwrap()
    );
    n
}

#[tokio::test]
async fn every_sync_records_each_accounts_balance_of_the_day() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    assert_eq!(stored_rows(&app).await, 0, "no balance of an account nobody consented to");
    let ids = app.enable_accounts(&user, &connection["id"]).await;
    // Enabling synced each account: the day's rows are there, and the next sync replaces them.
    assert_eq!(stored_rows(&app).await, ids.len() as i64);
    on_db!(&app.store.db, pool =>
        sqlx::query("UPDATE account_balances SET balance = balance + 1").execute(pool).await.map(drop).unwrap()
    );
    app.resync(&user, &connection["id"]).await;
    let today = today();
    for id in &ids {
        let days = history(&app, &user, *id, "").await;
        let (_, account) = app.get(&format!("/2.0/users/me/accounts/{id}"), &user.token).await;
        assert_eq!(dates(&days), [today.to_string()], "one row a day, the latest winning: {days}");
        assert_eq!(days["balances"][0]["balance"], account["balance"], "{days} {account}");
        assert!(days["balances"][0].as_object().unwrap().contains_key("coming"), "{days}");
    }

    // A second day: today's rows become yesterday's, and the next sync writes today's again.
    let yesterday = today.pred_opt().unwrap();
    on_db!(&app.store.db, pool =>
        sqlx::query("UPDATE account_balances SET date = $1").bind(yesterday).execute(pool).await.map(drop).unwrap()
    );
    app.resync(&user, &connection["id"]).await;
    let days = history(&app, &user, ids[0], "").await;
    assert_eq!(dates(&days), [yesterday.to_string(), today.to_string()], "oldest first: {days}");
    assert_eq!(dates(&history(&app, &user, ids[0], &format!("?min_date={today}")).await), [today.to_string()]);
    let until_yesterday = history(&app, &user, ids[0], &format!("?max_date={yesterday}&min_date={yesterday}")).await;
    assert_eq!(dates(&until_yesterday), [yesterday.to_string()]);

    for (query, name) in [("?min_date=yesterday", "min_date"), ("?max_date=2026-13-01", "max_date")] {
        let refused = app.get(&path(ids[0], query), &user.token).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "invalidValue");
        assert!(refused.1["description"].as_str().unwrap().contains(name), "{}", refused.1);
    }
    let stranger = app.create_user().await;
    let theirs = app.get(&path(ids[0], ""), &stranger.token).await;
    assert_error(&theirs, StatusCode::NOT_FOUND, "accountNotFound");

    // A disabled account shows no balance, past ones included.
    let (status, _) =
        app.post(&format!("/2.0/users/me/accounts/{}", ids[0]), Some(&user.token), json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history(&app, &user, ids[0], "").await["total"], 0);
}

#[tokio::test]
async fn a_statement_import_records_the_files_closing_balance() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let file = ofx(&[(3, "-42.50", "F1", "CB MONOPRIX")], "1500.00", 10);
    let (status, imported) = upload(&app, &user, "statement.ofx", file, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    let id = imported["accounts"][0]["id"].as_i64().unwrap();
    let days = history(&app, &user, id, "").await;
    assert_eq!(days["balances"], json!([{"date": today().to_string(), "balance": 1500.0, "coming": null}]));
}

#[tokio::test]
async fn the_manage_page_draws_each_shared_accounts_balance() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let ids = app.enable_accounts(&user, &connection["id"]).await;
    let (status, page) = Browser::new(&app).get(&entry(&app, "manage", &[("code", &code(&app, &user).await)])).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches("<svg").count(), ids.len(), "one curve per shared account: {page}");
    assert_eq!(page.matches(r#"role="img" aria-label="Balance over 90 days: "#).count(), ids.len(), "{page}");
    assert!(page.contains("<polyline points=\"0.0,28.0 320.0,28.0\""), "one day: a level line {page}");
}
