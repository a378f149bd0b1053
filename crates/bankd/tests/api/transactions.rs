//! Transactions: never duplicated across syncs, pending ones turning into booked ones, every row
//! reachable exactly once by offset and by cursor, filters, and the user's edits.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};

/// A connection with every account enabled.
async fn synced(app: &TestApp, user: &TestUser, login: &str) -> Value {
    let connection = app.connected(user, login).await;
    app.enable_accounts(user, &connection["id"]).await;
    connection
}

fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn a_resync_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = synced(&app, &user, "demo").await;
    let first = app.all_transactions(&user, "/2.0/users/me/transactions?all&limit=1000").await;
    assert!(first.len() > 150, "demo has about 200 transactions: {}", first.len());
    app.resync(&user, &connection["id"]).await;
    app.resync(&user, &connection["id"]).await;
    let again = app.all_transactions(&user, "/2.0/users/me/transactions?all&limit=1000").await;
    assert_eq!(again, first, "identical rows, last_update included");
}

#[tokio::test]
async fn transactions_have_the_powens_shape() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    synced(&app, &user, "demo").await;
    let (status, page) = app.get("/2.0/users/me/transactions?limit=5", &user.token).await;
    assert_eq!(status, StatusCode::OK);
    for key in ["first_date", "last_date", "result_min_date", "result_max_date"] {
        assert!(chrono::NaiveDate::parse_from_str(page[key].as_str().unwrap(), "%Y-%m-%d").is_ok(), "{key}");
    }
    let t = &page["transactions"][0];
    for key in ["id", "id_account", "value"] {
        assert!(t[key].is_number(), "{key}: {t}");
    }
    for key in
        ["date", "rdate", "original_wording", "simplified_wording", "wording", "type", "date_scraped", "last_update"]
    {
        assert!(t[key].is_string(), "{key}: {t}");
    }
    assert_eq!(t["coming"], false);
    assert_eq!(t["active"], true);
    assert!(t["deleted"].is_null());
    let cents = (t["value"].as_f64().unwrap() * 100.0).round() / 100.0;
    assert_eq!(t["value"].as_f64().unwrap(), cents, "at most the currency's decimals");
    assert!(page["_links"]["self"]["href"].as_str().unwrap().starts_with("http://127.0.0.1:"));
}

#[tokio::test]
async fn pending_transactions_become_booked_ones() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = synced(&app, &user, "pending").await;
    let before = app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await;
    let pending: Vec<&Value> = before.iter().filter(|t| t["coming"] == true).collect();
    assert_eq!(pending.len(), 4, "the sandbox shows 4 pending transactions first");
    let (_, account) = app.get(&format!("/2.0/users/me/accounts/{}", pending[0]["id_account"]), &user.token).await;
    assert!(account["coming"].is_number());

    app.resync(&user, &connection["id"]).await;
    let after = app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await;
    assert_eq!(after.len(), before.len() - 1, "3 booked in place, 1 vanished, none duplicated");
    assert!(after.iter().all(|t| t["coming"] == false));
    let after_ids: HashSet<i64> = ids(&after).into_iter().collect();
    let booked: Vec<&&Value> = pending.iter().filter(|p| after_ids.contains(&p["id"].as_i64().unwrap())).collect();
    assert_eq!(booked.len(), 3, "the booked ones keep their id");
    for p in booked {
        let now = after.iter().find(|t| t["id"] == p["id"]).unwrap();
        assert_eq!(now["value"], p["value"]);
        assert_ne!(now["original_wording"], p["original_wording"], "the bank re-worded it");
    }
    let vanished = pending.iter().find(|p| !after_ids.contains(&p["id"].as_i64().unwrap())).unwrap();
    let (_, deleted) = app.get(&format!("/2.0/users/me/transactions/{}", vanished["id"]), &user.token).await;
    assert!(deleted["deleted"].is_string(), "{deleted}");
    let (_, only_deleted) = app.get("/2.0/users/me/transactions?deleted=true", &user.token).await;
    assert_eq!(ids(only_deleted["transactions"].as_array().unwrap()), [vanished["id"].as_i64().unwrap()]);
    let with_deleted = app.all_transactions(&user, "/2.0/users/me/transactions?all&limit=1000").await;
    assert_eq!(with_deleted.len(), before.len());

    // Nothing moves on the next sync.
    app.resync(&user, &connection["id"]).await;
    assert_eq!(app.all_transactions(&user, "/2.0/users/me/transactions?all&limit=1000").await, with_deleted);
}

#[tokio::test]
async fn pagination_walks_every_transaction_once_by_offset_and_by_cursor() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    synced(&app, &user, "demo").await;
    let everything = app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await;
    let (_, first_page) = app.get("/2.0/users/me/transactions?limit=7", &user.token).await;
    assert_eq!(first_page["total"], everything.len());

    let by_cursor = app.all_transactions(&user, "/2.0/users/me/transactions?limit=7").await;
    assert_eq!(ids(&by_cursor), ids(&everything));

    let mut by_offset = Vec::new();
    for offset in (0..everything.len() + 7).step_by(7) {
        let (_, page) = app.get(&format!("/2.0/users/me/transactions?limit=7&offset={offset}"), &user.token).await;
        by_offset.extend(page["transactions"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(ids(&by_offset), ids(&everything));

    let order: Vec<(String, i64)> =
        everything.iter().map(|t| (t["date"].as_str().unwrap().to_owned(), t["id"].as_i64().unwrap())).collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(order, sorted, "date descending, then id descending");
    assert_eq!(ids(&everything).into_iter().collect::<HashSet<_>>().len(), everything.len());
}

#[tokio::test]
async fn filters_narrow_the_listing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    synced(&app, &user, "demo").await;
    let all = app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await;
    let credits = app.all_transactions(&user, "/2.0/users/me/transactions?income=true&limit=1000").await;
    let debits = app.all_transactions(&user, "/2.0/users/me/transactions?income=0&limit=1000").await;
    assert!(credits.iter().all(|t| t["value"].as_f64().unwrap() > 0.0));
    assert!(debits.iter().all(|t| t["value"].as_f64().unwrap() < 0.0));
    assert_eq!(credits.len() + debits.len(), all.len());

    let day = all[all.len() / 2]["date"].as_str().unwrap().to_owned();
    let same_day = app
        .all_transactions(&user, &format!("/2.0/users/me/transactions?filter=date&min_date={day}&max_date={day}"))
        .await;
    assert!(!same_day.is_empty() && same_day.iter().all(|t| t["date"] == day));
    let month = &day[..7];
    let in_month = app
        .all_transactions(
            &user,
            &format!("/2.0/users/me/transactions?filter=date&min_date={month}&max_date={month}&limit=1000"),
        )
        .await;
    assert!(in_month.iter().all(|t| t["date"].as_str().unwrap().starts_with(month)));
    assert_eq!(in_month.len(), all.iter().filter(|t| t["date"].as_str().unwrap().starts_with(month)).count());

    let value = all[0]["value"].clone();
    let exact = app.all_transactions(&user, &format!("/2.0/users/me/transactions?value={value}&limit=1000")).await;
    assert!(!exact.is_empty() && exact.iter().all(|t| t["value"] == value));

    let word = all[0]["simplified_wording"].as_str().unwrap().split(' ').next().unwrap().to_lowercase();
    let found = app.all_transactions(&user, &format!("/2.0/users/me/transactions?wording={word}&limit=1000")).await;
    assert!(found.iter().any(|t| t["id"] == all[0]["id"]));

    let future = "2999-01-01 00:00:00";
    let (_, nothing) = app.get(&format!("/2.0/users/me/transactions?last_update={future}"), &user.token).await;
    assert_eq!(nothing["transactions"], json!([]));
    assert_eq!(nothing["_links"]["next"], Value::Null);

    for bad in
        ["limit=0", "limit=1001", "offset=-1", "min_date=yesterday", "income=maybe", "cursor=garbage", "filter=rdate"]
    {
        let got = app.get(&format!("/2.0/users/me/transactions?{bad}"), &user.token).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "invalidValue");
    }
}

#[tokio::test]
async fn users_edit_wording_comment_and_active() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = synced(&app, &user, "demo").await;
    let (_, page) = app.get("/2.0/users/me/transactions?limit=1", &user.token).await;
    let t = page["transactions"][0].clone();
    let path = format!("/2.0/users/me/transactions/{}", t["id"]);
    let edit = json!({"wording": "Groceries", "comment": "shared with Bob", "active": false});
    let (status, edited) = app.post(&path, Some(&user.token), edit).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["wording"], "Groceries");
    assert_eq!(edited["original_wording"], t["original_wording"]);
    assert_eq!(edited["comment"], "shared with Bob");
    assert_eq!(edited["active"], false);
    let (status, _) = app.call(Method::PUT, &path, Some(&user.token), Some(json!({"comment": "legacy PUT"}))).await;
    assert_eq!(status, StatusCode::OK);
    // A sync does not undo the user's edits.
    app.resync(&user, &connection["id"]).await;
    let (_, kept) = app.get(&path, &user.token).await;
    assert_eq!(kept["wording"], "Groceries");
    assert_eq!(kept["comment"], "legacy PUT");
    assert_error(
        &app.post(&path, Some(&user.token), json!({"active": "perhaps"})).await,
        StatusCode::BAD_REQUEST,
        "invalidValue",
    );
    assert_error(
        &app.get("/2.0/users/me/transactions/999999", &user.token).await,
        StatusCode::NOT_FOUND,
        "transactionNotFound",
    );
}

#[tokio::test]
async fn per_account_and_per_connection_listings() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = synced(&app, &user, "demo").await;
    let all = app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await;
    let by_connection = app
        .all_transactions(&user, &format!("/2.0/users/me/connections/{}/transactions?limit=1000", connection["id"]))
        .await;
    assert_eq!(ids(&by_connection), ids(&all));
    let id_account = all[0]["id_account"].clone();
    let by_account =
        app.all_transactions(&user, &format!("/2.0/users/me/accounts/{id_account}/transactions?limit=1000")).await;
    assert!(by_account.iter().all(|t| t["id_account"] == id_account));
    assert!(!by_account.is_empty() && by_account.len() < all.len());
}

#[tokio::test]
async fn the_big_bank_syncs_100k_transactions() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = synced(&app, &user, "big").await;
    let (_, page) = app.get("/2.0/users/me/transactions?limit=1000", &user.token).await;
    assert_eq!(page["total"], 100_000);
    app.resync(&user, &connection["id"]).await;
    let (_, again) = app.get("/2.0/users/me/transactions?limit=1", &user.token).await;
    assert_eq!(again["total"], 100_000, "a resync adds nothing");
}

/// What the day counts answer (`total`, bounds, deep offsets) against the rows themselves: the
/// same listing with a filter the counts do not cover (`min_value` below every amount) counts rows.
async fn assert_counts_match_rows(app: &TestApp, user: &TestUser, listing: &str) {
    let every = app.all_transactions(user, &format!("{listing}&limit=1000")).await;
    let (_, counted) = app.get(&format!("{listing}&limit=3"), &user.token).await;
    let (_, uncounted) = app.get(&format!("{listing}&limit=3&min_value=-99999999"), &user.token).await;
    assert_eq!(counted["total"], every.len(), "{listing}");
    for key in ["total", "first_date", "last_date"] {
        assert_eq!(counted[key], uncounted[key], "{listing}: {key}");
    }
    for offset in [1, 2, every.len() / 3, every.len() / 2, every.len().saturating_sub(1), every.len(), every.len() + 5]
    {
        let (_, page) = app.get(&format!("{listing}&limit=3&offset={offset}"), &user.token).await;
        let want: Vec<i64> = ids(&every).into_iter().skip(offset).take(3).collect();
        assert_eq!(ids(page["transactions"].as_array().unwrap()), want, "{listing} offset {offset}");
    }
}

#[tokio::test]
async fn totals_and_deep_offsets_stay_exact_through_syncs_and_edits() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    synced(&app, &user, "demo").await;
    let pending = synced(&app, &user, "pending").await;
    let closing = synced(&app, &user, "closing").await;
    let all = app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await;
    let account = all[0]["id_account"].clone();
    let month = &all[all.len() / 2]["date"].as_str().unwrap()[..7];
    let listings = [
        "/2.0/users/me/transactions?".to_owned(),
        format!("/2.0/users/me/accounts/{account}/transactions?"),
        format!("/2.0/users/me/connections/{}/transactions?", pending["id"]),
        format!("/2.0/users/me/transactions?min_date={month}&max_date={month}"),
        format!("/2.0/users/me/transactions?filter=date&min_date={month}"),
    ];
    for listing in &listings {
        assert_counts_match_rows(&app, &user, listing).await;
    }

    // Pending rows booked or vanished, an account archived, a user's new application date.
    app.resync(&user, &pending["id"]).await;
    app.resync(&user, &closing["id"]).await;
    let moved = all[5]["id"].clone();
    let (status, _) = app
        .post(
            &format!("/2.0/users/me/transactions/{moved}"),
            Some(&user.token),
            json!({"application_date": "2001-02-03"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for listing in listings.iter().chain([&"/2.0/users/me/transactions?min_date=2001-02&max_date=2001-02".to_owned()]) {
        assert_counts_match_rows(&app, &user, listing).await;
    }
    let (_, february) =
        app.get("/2.0/users/me/transactions?min_date=2001-02-03&max_date=2001-02-03", &user.token).await;
    assert_eq!(ids(february["transactions"].as_array().unwrap()), [moved.as_i64().unwrap()]);
    assert_eq!(february["total"], 1);
}

#[tokio::test]
async fn every_listing_query_is_served_by_an_index() {
    use bankd::store::transactions::{DateColumn, DeletedRows, TransactionFilter};
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    synced(&app, &user, "demo").await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1);
    let base = TransactionFilter { id_user: user.id, limit: 100, ..Default::default() };
    let mut wording = base.clone();
    wording.extra.and("LOWER(simplified_wording) LIKE ?", [bankd::store::Bind::Text("%a%".into())]);
    let filters = [
        ("first page", base.clone()),
        ("deep page by cursor", TransactionFilter { after: day.map(|d| (d, 1_000)), ..base.clone() }),
        ("a month", TransactionFilter { min_date: day, max_date: day, ..base.clone() }),
        (
            "a month by date",
            TransactionFilter { min_date: day, max_date: day, date_column: DateColumn::Date, ..base.clone() },
        ),
        ("one account", TransactionFilter { id_account: Some(1), ..base.clone() }),
        ("one connection", TransactionFilter { id_connection: Some(1), ..base.clone() }),
        ("offset", TransactionFilter { offset: 500_000, ..base.clone() }),
        ("deleted too", TransactionFilter { deleted: DeletedRows::Included, ..base.clone() }),
        ("wording", wording),
    ];
    for (what, filter) in filters {
        for (sql, plan) in app.store.explain_listing(&filter).await.unwrap() {
            let full_scan = plan.lines().any(|line| {
                let line = line.trim_start_matches(|c: char| !c.is_alphabetic());
                line.starts_with("SCAN transaction") || line.contains("Seq Scan")
            });
            assert!(!full_scan, "{what}: a full scan\n{sql}\n{plan}");
            let sorts_scope = plan.contains("TEMP B-TREE FOR ORDER BY") || plan.contains("Sort  (");
            assert!(!(sql.contains("LIMIT") && sorts_scope), "{what}: the page sorts its whole scope\n{sql}\n{plan}");
        }
    }
}
