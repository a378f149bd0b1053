//! Statement exports: each file read back by bankd's own importers gives the same transactions
//! (and, where the format carries one, the same balance); beancount's output passes `bean-check`
//! and ledger's `ledger balance` when those tools are named (`.ci/run` installs them).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, TestUser, assert_error};
use crate::statements::upload;

async fn export(app: &TestApp, user: &TestUser, path: &str) -> (StatusCode, String, String) {
    let response = app.http.get(app.url(path)).bearer_auth(&user.token).send().await.unwrap();
    let status = response.status();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

/// A user with the Sandbox Bank's demo accounts enabled; returns the checking account.
async fn demo(app: &TestApp) -> (TestUser, Value) {
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    app.enable_accounts(&user, &connection["id"]).await;
    let (_, accounts) = app.get("/2.0/users/me/accounts", &user.token).await;
    let checking = accounts["accounts"].as_array().unwrap().iter().find(|a| a["type"] == "checking").unwrap().clone();
    (user, checking)
}

/// The booked transactions of an account as (date, value, wording), oldest first.
async fn rows(app: &TestApp, user: &TestUser, id_account: &Value) -> Vec<(String, String, String)> {
    let path = format!("/2.0/users/me/accounts/{id_account}/transactions?limit=1000");
    let mut rows: Vec<(String, String, String)> = app
        .all_transactions(user, &path)
        .await
        .iter()
        .filter(|t| t["coming"] == false)
        .map(|t| (t["date"].to_string(), t["value"].to_string(), t["original_wording"].to_string()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn each_statement_format_imports_back_to_the_same_transactions_and_balance() {
    let app = TestApp::spawn().await;
    let (user, checking) = demo(&app).await;
    let expected = rows(&app, &user, &checking["id"]).await;
    assert!(expected.len() > 20);
    for (format, file, has_balance) in [("ofx", "x.ofx", true), ("camt053", "x.xml", true), ("csv", "x.csv", false)] {
        let path = format!("/2.0/users/me/accounts/{}/export?format={format}", checking["id"]);
        let (status, _, body) = export(&app, &user, &path).await;
        assert_eq!(status, StatusCode::OK, "{format}: {body}");
        let fresh = app.create_user().await;
        let (status, imported) = upload(&app, &fresh, file, body, &[]).await;
        assert_eq!(status, StatusCode::CREATED, "{format}: {imported}");
        let account = &imported["accounts"][0];
        assert_eq!(rows(&app, &fresh, &account["id"]).await, expected, "{format}: the same transactions");
        if has_balance {
            assert_eq!(account["balance"], checking["balance"], "{format}: the same balance");
        }
    }
}

#[tokio::test]
async fn a_statement_s_balances_agree_with_its_entries_over_a_window() {
    let app = TestApp::spawn().await;
    let (user, checking) = demo(&app).await;
    let all = rows(&app, &user, &checking["id"]).await;
    let (first, last) = (&all[all.len() / 4].0, &all[all.len() / 2].0);
    let (first, last) = (first.trim_matches('"'), last.trim_matches('"'));
    let path =
        format!("/2.0/users/me/accounts/{}/export?format=camt053&min_date={first}&max_date={last}", checking["id"]);
    let (status, kind, camt) = export(&app, &user, &path).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/xml"));
    // Signed amounts of the elements `pattern` captures as (code or id, amount, indicator).
    let amounts = |pattern: &str| -> Vec<f64> {
        let signed = |c: regex::Captures| c[2].parse::<f64>().unwrap() * if &c[3] == "DBIT" { -1.0 } else { 1.0 };
        regex::Regex::new(pattern).unwrap().captures_iter(&camt).map(signed).collect()
    };
    let balances =
        amounts(r#"<Cd>(OPBD|CLBD)</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">([\d.]+)</Amt><CdtDbtInd>(\w+)</CdtDbtInd>"#);
    let entries = amounts(r#"<NtryRef>(\d+)</NtryRef><Amt Ccy="EUR">([\d.]+)</Amt><CdtDbtInd>(\w+)</CdtDbtInd>"#);
    let inside = all.iter().filter(|(d, _, _)| d.trim_matches('"') >= first && d.trim_matches('"') <= last).count();
    assert_eq!(entries.len(), inside, "only the window's rows");
    let moved: f64 = entries.iter().sum();
    assert!(
        (balances[0] + moved - balances[1]).abs() < 0.005,
        "opening {} + entries {moved} = closing {}",
        balances[0],
        balances[1]
    );
}

#[tokio::test]
async fn plain_text_ledgers_open_every_account_and_assert_the_closing_balance() {
    let app = TestApp::spawn().await;
    let (user, checking) = demo(&app).await;
    let (status, _, beancount) = export(&app, &user, "/2.0/users/me/export?format=beancount").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(beancount.matches(" open Assets:Bank:SandboxBank:").count(), 3, "{beancount}");
    assert_eq!(beancount.matches(" balance Assets:Bank:SandboxBank:").count(), 3, "{beancount}");
    let closing = format!(" {:.2} EUR\n", checking["balance"].as_f64().unwrap());
    assert!(beancount.lines().any(|l| l.contains(" balance ") && format!("{l}\n").ends_with(&closing)), "{beancount}");
    check_with("BANKD_TEST_BEAN_CHECK", &["--no-cache"], "beancount", &beancount);

    let (status, _, ledger) = export(&app, &user, "/2.0/users/me/export?format=ledger").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ledger.matches("* Closing balance").count(), 3);
    check_with("BANKD_TEST_LEDGER", &["balance", "-f"], "ledger", &ledger);
}

/// Runs the tool named by `env` (if any) on `text`: it must accept it.
fn check_with(env: &str, args: &[&str], what: &str, text: &str) {
    let Ok(tool) = std::env::var(env) else {
        eprintln!("{what} not checked: set {env} to its command");
        return;
    };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let output = std::process::Command::new(&tool).args(args).arg(file.path()).output().unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{tool} refused the {what} export: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn exports_are_the_owner_s_and_name_their_format() {
    let app = TestApp::spawn().await;
    let (user, checking) = demo(&app).await;
    let other = app.create_user().await;
    let path = format!("/2.0/users/me/accounts/{}/export?format=ofx", checking["id"]);
    let (status, _, body) = export(&app, &other, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let error = |body: &str| -> Value { serde_json::from_str(body).unwrap() };
    let (status, _, body) = export(&app, &user, "/2.0/users/me/export?format=csv").await;
    assert_error(&(status, error(&body)), StatusCode::BAD_REQUEST, "invalidValue");
    let (status, _, body) = export(&app, &user, "/2.0/users/me/export?format=qif").await;
    assert_error(&(status, error(&body)), StatusCode::BAD_REQUEST, "invalidValue");
    let (status, _, body) = export(&app, &user, "/2.0/users/me/export?format=ofx&min_date=yesterday").await;
    assert_error(&(status, error(&body)), StatusCode::BAD_REQUEST, "invalidValue");
    let (status, _, body) = export(&app, &user, "/2.0/users/me/export").await;
    assert_error(&(status, error(&body)), StatusCode::BAD_REQUEST, "missingParameter");
    let (status, kind, ofx) = export(&app, &user, "/2.0/users/me/export?format=ofx").await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/x-ofx"));
    assert_eq!(ofx.matches("<STMTTRNRS>").count(), 3, "every account in one file");
}
