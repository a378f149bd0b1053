//! Accounts under the two rules: GDPR consent (discovered disabled, no data until enabled) and
//! safe archiving (vanished accounts are marked, never dropped).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, read};

#[tokio::test]
async fn discovered_accounts_are_disabled_and_show_only_their_name() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;

    let (status, visible) = app.get("/2.0/users/me/accounts", &user.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(visible["accounts"], json!([]), "disabled accounts are hidden by default");
    let (_, all) = app.get("/2.0/users/me/accounts?all", &user.token).await;
    let accounts = all["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 3);
    let mut kinds: Vec<&str> = accounts.iter().map(|a| a["type"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["card", "checking", "savings"]);
    for account in accounts {
        assert!(account["disabled"].is_string(), "{account}");
        assert!(account["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert_eq!(account["id_connection"], connection["id"]);
        for hidden in ["balance", "coming", "iban", "number", "bic", "webid"] {
            assert!(account[hidden].is_null(), "{hidden} of a disabled account: {account}");
        }
    }
    let (_, transactions) = app.get("/2.0/users/me/transactions", &user.token).await;
    assert_eq!(transactions["transactions"], json!([]), "no transactions without consent");
}

#[tokio::test]
async fn enabling_fetches_and_disabling_stops_the_account() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let (_, all) = app.get("/2.0/users/me/accounts?all", &user.token).await;
    let checking = all["accounts"].as_array().unwrap().iter().find(|a| a["type"] == "checking").unwrap().clone();
    let path = format!("/2.0/users/me/accounts/{}", checking["id"]);

    let (status, enabled) = app.post(&path, Some(&user.token), json!({"disabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert!(enabled["disabled"].is_null());
    assert!(enabled["balance"].is_number() && enabled["iban"].is_string(), "{enabled}");
    assert_eq!(enabled["currency"]["id"], "EUR");
    assert_eq!(enabled["currency"]["precision"], 2);
    let own = app.all_transactions(&user, &format!("{path}/transactions?limit=1000")).await;
    assert!(!own.is_empty());
    let everyone = app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await;
    assert_eq!(everyone.len(), own.len(), "only the enabled account has transactions");

    let (_, listed) = app.get("/2.0/users/me/accounts", &user.token).await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["balances"]["EUR"], enabled["balance"]);

    let (_, disabled) = app.post(&path, Some(&user.token), json!({"disabled": true})).await;
    assert!(disabled["disabled"].is_string());
    let before = disabled.clone();
    app.resync(&user, &connection["id"]).await;
    let (_, after) = app.get(&path, &user.token).await;
    assert_eq!(after["last_update"], before["last_update"], "a disabled account is not synced");
    let kept = app.all_transactions(&user, &format!("{path}/transactions?limit=1000")).await;
    assert_eq!(kept.len(), own.len(), "disabling keeps the history");
}

#[tokio::test]
async fn users_edit_names_display_and_usage() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let ids = app.enable_accounts(&user, &connection["id"]).await;
    let path = format!("/2.0/users/me/accounts/{}", ids[0]);
    let edit = json!({"name": "Household", "bookmarked": true, "usage": "ORGA", "display": false});
    let response = app.call(reqwest::Method::PUT, &path, Some(&user.token), Some(edit)).await;
    assert_eq!(response.0, StatusCode::OK, "{}", response.1);
    let (_, account) = app.get(&path, &user.token).await;
    assert_eq!(account["name"], "Household");
    assert_ne!(account["original_name"], "Household");
    assert_eq!(account["bookmarked"], true);
    assert_eq!(account["usage"], "ORGA");
    assert_eq!(account["display"], false);
    assert_error(
        &app.post(&path, Some(&user.token), json!({"usage": "SHARED"})).await,
        StatusCode::BAD_REQUEST,
        "invalidValue",
    );
    assert_error(
        &app.post(&path, Some(&user.token), json!({"name": " "})).await,
        StatusCode::BAD_REQUEST,
        "invalidValue",
    );
}

#[tokio::test]
async fn a_vanished_account_is_archived_and_comes_back() {
    // The `closing` login's savings account is missing from every even-numbered sync.
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "closing").await; // sync 1
    let (_, all) = app.get("/2.0/users/me/accounts?all", &user.token).await;
    let savings = all["accounts"].as_array().unwrap().iter().find(|a| a["type"] == "savings").unwrap().clone();
    let path = format!("/2.0/users/me/accounts/{}", savings["id"]);
    app.post(&path, Some(&user.token), json!({"disabled": false})).await; // sync 2: gone
    app.resync(&user, &connection["id"]).await; // sync 3: back, and fetched
    let transactions_path = format!("{path}/transactions?limit=1000");
    let history = app.all_transactions(&user, &transactions_path).await.len();
    assert!(history > 0);

    assert!(app.resync(&user, &connection["id"]).await["state"].is_null()); // sync 4: gone
    let (_, visible) = app.get("/2.0/users/me/accounts?all", &user.token).await;
    let archived: Vec<_> =
        visible["accounts"].as_array().unwrap().iter().filter(|a| a["deleted"].is_string()).collect();
    assert_eq!(archived.len(), 1, "{visible}");
    assert_eq!(archived[0]["id"], savings["id"]);
    let (_, listed) = app.get("/2.0/users/me/accounts", &user.token).await;
    assert!(listed["accounts"].as_array().unwrap().iter().all(|a| a["id"] != savings["id"]), "hidden from lists");
    let (status, by_id) = app.get(&path, &user.token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(by_id["deleted"].is_string());
    assert_eq!(app.all_transactions(&user, &transactions_path).await.len(), history, "its history stays");

    app.resync(&user, &connection["id"]).await; // sync 5: back again
    let (_, back) = app.get(&path, &user.token).await;
    assert!(back["deleted"].is_null(), "{back}");
    assert_eq!(back["id"], savings["id"], "the same account, not a new one");
    let (_, listed) = app.get("/2.0/users/me/accounts", &user.token).await;
    assert!(listed["accounts"].as_array().unwrap().iter().any(|a| a["id"] == savings["id"]));
}

#[tokio::test]
async fn a_user_without_accounts_gets_no_account() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    assert_error(&app.get("/2.0/users/me/accounts", &user.token).await, StatusCode::BAD_REQUEST, "noAccount");
    assert_error(&app.get("/2.0/users/me/accounts/12345", &user.token).await, StatusCode::NOT_FOUND, "accountNotFound");
}

#[tokio::test]
async fn account_types_are_the_closed_list_with_french_or_english_labels() {
    let app = TestApp::spawn().await;
    let (status, list) = read(app.http.get(app.url("/2.0/account_types")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let types = list["accounttypes"].as_array().unwrap();
    assert_eq!(types.len(), 20);
    assert_eq!(list["total"], 20);
    let by_name = |name: &str| types.iter().find(|t| t["name"] == name).unwrap().clone();
    let checking = by_name("checking");
    assert_eq!(checking["id"], 1);
    assert_eq!(checking["display_name"], "Compte chèque");
    assert_eq!(checking["display_name_p"], "Comptes chèques");
    assert_eq!(checking["is_invest"], false);
    assert_eq!(checking["product"], "bank");
    assert!(checking["id_parent"].is_null());
    assert_eq!(by_name("joint")["id_parent"], checking["id"]);
    assert_eq!(by_name("pea")["is_invest"], true);
    assert_eq!(by_name("lifeinsurance")["product"], "wealth");

    // An account's `id_type` is the id of its `type` here.
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    app.enable_accounts(&user, &connection["id"]).await;
    let (_, accounts) = app.get("/2.0/users/me/accounts", &user.token).await;
    for account in accounts["accounts"].as_array().unwrap() {
        assert_eq!(by_name(account["type"].as_str().unwrap())["id"], account["id_type"], "{account}");
    }

    let (_, english) = read(app.http.get(app.url("/2.0/account_types/1?lang=en")).send().await.unwrap()).await;
    assert_eq!(
        (english["name"].as_str(), english["display_name"].as_str()),
        (Some("checking"), Some("Checking account"))
    );
    let (_, one) = read(app.http.get(app.url("/2.0/account_types/20")).send().await.unwrap()).await;
    assert_eq!(one, by_name("unknown"));
    let missing = read(app.http.get(app.url("/2.0/account_types/21")).send().await.unwrap()).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "accountTypeNotFound");
    let german = read(app.http.get(app.url("/2.0/account_types?lang=de")).send().await.unwrap()).await;
    assert_error(&german, StatusCode::BAD_REQUEST, "invalidValue");
}
