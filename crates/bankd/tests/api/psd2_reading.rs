//! Reading real banks' PSD2 answers: histories served a window at a time, the full history only
//! right after a strong authentication, and the sandbox ASPSP's logins that bend the standard
//! (links under a prefix the API is not served at, date-times without an offset, remittance
//! information in every shape, values outside the standard's lists, camt XML reports) — each
//! synced over HTTP and compared with what the sandbox bank holds.

use std::collections::{HashMap, HashSet};

use bankd::domain::bank::BankTransaction;
use bankd::simulators::customers::{Customer, Profile};
use chrono::{Days, NaiveDate, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};
use crate::psd2::{PSD2_UUID, connect, get};

/// A connector on the sandbox ASPSP with these extra `[connector.source.api]` lines.
fn connector(id: i64, uuid: &str, api: &str) -> String {
    format!(
        "[[connector]]\nid = {id}\nuuid = \"{uuid}\"\nname = \"Sandbox PSD2 {id}\"\nsandbox = true\n\
         [[connector.field]]\nname = \"login\"\nlabel = \"Login\"\ntype = \"text\"\n\
         [[connector.source]]\nid = {id}\nname = \"openapi\"\npriority = 1\ndriver = \"xs2a\"\n\
         [connector.source.api]\nbase_url = \"/sandbox/xs2a\"\n{api}\n"
    )
}

/// A bankd whose catalog is `connectors` (kept in the directory returned with it).
async fn spawn(connectors: &[String]) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(&catalog, connectors.concat()).unwrap();
    (TestApp::spawn_with(|settings| settings.catalog = Some(catalog)).await, dir)
}

async fn connect_to(app: &TestApp, user: &TestUser, uuid: &str, login: &str) -> Value {
    let body = json!({"connector_uuid": uuid, "login": login});
    let (status, connection) = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    connection
}

/// What the sandbox bank holds for `login`: every booked row of every account.
fn held(login: &str, profile: Profile) -> Vec<BankTransaction> {
    let today = Utc::now().date_naive();
    let customer = Customer::new(login, profile, today);
    customer.products(1).flat_map(|product| customer.history(product, today, 0)).collect()
}

/// Enables every account of a healthy connection; returns every transaction bankd then has.
async fn synced_rows(app: &TestApp, user: &TestUser, connection: &Value) -> Vec<Value> {
    assert!(connection["state"].is_null(), "{connection}");
    app.enable_accounts(user, &connection["id"]).await;
    let after = get(app, user, &format!("/2.0/users/me/connections/{}", connection["id"])).await;
    assert!(after["state"].is_null(), "{after}");
    app.all_transactions(user, "/2.0/users/me/transactions?limit=1000").await
}

/// A resync finds nothing new.
async fn assert_resync_adds_nothing(app: &TestApp, user: &TestUser, connection: &Value, before: usize) {
    let again = app.resync(user, &connection["id"]).await;
    assert!(again["state"].is_null(), "{again}");
    assert_eq!(app.all_transactions(user, "/2.0/users/me/transactions?limit=1000").await.len(), before);
}

fn date(row: &Value, field: &str) -> NaiveDate {
    row[field].as_str().unwrap()[..10].parse().unwrap()
}

const NO_WINDOW_UUID: &str = "00000000-0000-4000-8000-000000000021";
const RECENT_SCA_UUID: &str = "00000000-0000-4000-8000-000000000022";

#[tokio::test]
async fn a_bank_serving_90_days_a_request_is_read_window_by_window() {
    let (app, _catalog) = spawn(&[
        connector(2, PSD2_UUID, "max_window_days = 90\nfull_history_minutes = 10"),
        connector(21, NO_WINDOW_UUID, ""),
    ])
    .await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "window90").await;
    let rows = synced_rows(&app, &user, &connection).await;
    // 400 days served in 90-day windows: all of it, each row once.
    let bank = held("window90", Profile::Long);
    assert_eq!(rows.len(), bank.len());
    let webids: HashSet<&str> = rows.iter().map(|t| t["webid"].as_str().unwrap()).collect();
    let expected: HashSet<&str> = bank.iter().filter_map(|t| t.webid.as_deref()).collect();
    assert_eq!(webids, expected, "no duplicate from the days two windows share");
    let oldest = rows.iter().map(|t| date(t, "date")).min().unwrap();
    assert!(Utc::now().date_naive() - oldest > chrono::Duration::days(300), "{oldest}");
    assert_resync_adds_nothing(&app, &user, &connection, rows.len()).await;

    // Asked in one request, the same history is refused by the bank.
    let other = app.create_user().await;
    let refused = connect_to(&app, &other, NO_WINDOW_UUID, "window90").await;
    app.enable_accounts(&other, &refused["id"]).await;
    let refused = get(&app, &other, &format!("/2.0/users/me/connections/{}", refused["id"])).await;
    assert_eq!(refused["state"], "bug", "{refused}");
    let logs = get(&app, &other, &format!("/2.0/users/me/connections/{}/logs", refused["id"])).await;
    let detail = logs["connectionlogs"][0]["error_message"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains("PERIOD_INVALID") || detail.contains("answered 400"), "{detail}");
}

#[tokio::test]
async fn away_from_a_strong_authentication_a_first_read_goes_back_89_days() {
    // `full_history_minutes = 0`: no read is ever right after the authentication.
    let (app, _catalog) =
        spawn(&[connector(2, PSD2_UUID, ""), connector(22, RECENT_SCA_UUID, "full_history_minutes = 0")]).await;
    let user = app.create_user().await;
    let connection = connect_to(&app, &user, RECENT_SCA_UUID, "window90").await;
    let rows = synced_rows(&app, &user, &connection).await;
    let today = Utc::now().date_naive();
    let oldest = rows.iter().map(|t| date(t, "date")).min().unwrap();
    assert!(oldest >= today - Days::new(89) && oldest < today - Days::new(80), "{oldest}: 89 days, no more");
    let bank = held("window90", Profile::Long);
    let recent = bank.iter().filter(|t| t.date >= today - Days::new(89)).count();
    assert_eq!(rows.len(), recent);
}

#[tokio::test]
async fn links_under_a_prefix_the_api_is_not_served_at_are_retried_under_base_url() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    // The embedded approach's steps come as links under /psd2/v1/…, a 404 on this host.
    let connection = connect(&app, &user, "prefixed").await;
    assert_eq!(connection["state"], "additionalInformationNeeded", "{connection}");
    app.answer(&user, &connection, json!({"password": "1234"})).await;
    app.answer(&user, &connection, json!({"sca_method": "sms"})).await;
    let done = app.answer(&user, &connection, json!({"otp": "123456"})).await;
    // Pages of 20, each `next` link under the prefix too.
    let rows = synced_rows(&app, &user, &done).await;
    assert_eq!(rows.len(), held("prefixed", Profile::Plain).len());
    assert!(rows.len() > 100);
    assert_resync_adds_nothing(&app, &user, &done, rows.len()).await;
}

#[tokio::test]
async fn date_times_without_an_offset_are_the_banks_local_time() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "naive").await;
    let rows = synced_rows(&app, &user, &connection).await;
    assert_eq!(rows.len(), held("naive", Profile::Plain).len());
    for row in &rows {
        let (booked, operated) = (date(row, "date"), date(row, "rdate"));
        // Debits: 23:30 without an offset, the same day in Paris; credits: 23:30 UTC, the next day.
        let expected = if row["value"].as_f64().unwrap() < 0.0 { booked } else { booked + Days::new(1) };
        assert_eq!(operated, expected, "{row}");
    }
    let accounts = get(&app, &user, "/2.0/users/me/accounts").await;
    assert!(accounts["accounts"].as_array().unwrap().iter().all(|a| a["balance"].is_number()), "{accounts}");
}

#[tokio::test]
async fn remittance_information_is_read_in_every_shape() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "remittance").await;
    let rows = synced_rows(&app, &user, &connection).await;
    let bank: HashMap<String, String> = held("remittance", Profile::Plain)
        .into_iter()
        .map(|t| (t.webid.unwrap(), t.original_wording.trim().to_owned()))
        .collect();
    assert_eq!(rows.len(), bank.len());
    for row in &rows {
        let webid = row["webid"].as_str().unwrap();
        assert_eq!(row["original_wording"].as_str(), Some(bank[webid].as_str()), "{row}");
    }
}

#[tokio::test]
async fn values_outside_the_standard_are_kept_as_unknown_and_the_sync_goes_on() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "unknownenum").await;
    let rows = synced_rows(&app, &user, &connection).await;
    assert_eq!(rows.len(), held("unknownenum", Profile::Plain).len());
    assert!(rows.iter().any(|t| t["type"] == "unknown"), "PMNT-ZZZZ-ZZZZ");
    let accounts = get(&app, &user, "/2.0/users/me/accounts").await;
    let types: Vec<&str> =
        accounts["accounts"].as_array().unwrap().iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["checking", "unknown", "card"], "cashAccountType XXXX");
    // The `weird` balance (ten times the expected one, listed first) is not the balance.
    let today = Utc::now().date_naive();
    let customer = Customer::new("unknownenum", Profile::Plain, today);
    let checking = customer.account(bankd::simulators::customers::Product::Checking, today, 0);
    assert_eq!(accounts["accounts"][0]["balance"].as_f64(), checking.balance.to_string().parse::<f64>().ok());
}

#[tokio::test]
async fn a_bank_answering_camt_xml_is_read_by_the_statement_parser() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "camtxml").await;
    let rows = synced_rows(&app, &user, &connection).await;
    let bank = held("camtxml", Profile::Plain);
    assert_eq!(rows.len(), bank.len());
    let wordings = |mut list: Vec<String>| {
        list.sort();
        list
    };
    assert_eq!(
        wordings(rows.iter().map(|t| t["original_wording"].as_str().unwrap().to_owned()).collect()),
        wordings(bank.iter().map(|t| t.original_wording.trim().to_owned()).collect())
    );
    let salary = rows.iter().find(|t| t["original_wording"] == "VIR SALAIRE ACME").unwrap();
    assert_eq!(
        (salary["type"].as_str(), salary["counterparty"]["label"].as_str()),
        (Some("transfer"), Some("ACME SAS"))
    );
    assert_resync_adds_nothing(&app, &user, &connection, rows.len()).await;
}
