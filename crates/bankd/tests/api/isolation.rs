//! What belongs to one user is invisible to every other, and deleting goes all the way down.

use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn another_user_sees_none_of_it() {
    let app = TestApp::spawn().await;
    let alice = app.create_user().await;
    let mallory = app.create_user().await;
    let connection = app.connected(&alice, "demo").await;
    let accounts = app.enable_accounts(&alice, &connection["id"]).await;
    let (_, page) = app.get("/2.0/users/me/transactions?limit=1", &alice.token).await;
    let transaction = page["transactions"][0]["id"].clone();
    let c = &connection["id"];
    let a = accounts[0];

    for path in [
        format!("/2.0/users/me/connections/{c}"),
        format!("/2.0/users/me/connections/{c}/sources"),
        format!("/2.0/users/me/connections/{c}/logs"),
        format!("/2.0/users/me/connections/{c}/accounts"),
        format!("/2.0/users/me/connections/{c}/transactions"),
        format!("/2.0/users/me/accounts/{a}"),
        format!("/2.0/users/me/accounts/{a}/transactions"),
        format!("/2.0/users/me/transactions/{transaction}"),
    ] {
        let (status, body) = app.get(&path, &mallory.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    for path in [format!("/2.0/users/{}/connections", alice.id), format!("/2.0/users/{}/transactions", alice.id)] {
        assert_error(&app.get(&path, &mallory.token).await, StatusCode::FORBIDDEN, "forbidden");
    }
    let (_, mine) = app.get("/2.0/users/me/connections", &mallory.token).await;
    assert_eq!(mine["connections"], serde_json::json!([]));
    let (_, none) = app.get("/2.0/users/me/transactions", &mallory.token).await;
    assert_eq!(none["transactions"], serde_json::json!([]));

    // Mallory cannot change or delete any of it either.
    let path = format!("/2.0/users/me/connections/{c}");
    assert_eq!(app.call(Method::PUT, &path, Some(&mallory.token), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&path, &mallory.token).await, StatusCode::NOT_FOUND);
    let edit = serde_json::json!({"disabled": true});
    assert_eq!(
        app.post(&format!("/2.0/users/me/accounts/{a}"), Some(&mallory.token), edit).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&path, &alice.token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn deleting_a_connection_removes_its_accounts_and_transactions() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let kept = app.connected(&user, "otp").await;
    let connection = app.connected(&user, "demo").await;
    let accounts = app.enable_accounts(&user, &connection["id"]).await;
    let path = format!("/2.0/users/me/connections/{}", connection["id"]);
    assert_eq!(app.delete(&path, &user.token).await, StatusCode::NO_CONTENT);
    assert_error(&app.get(&path, &user.token).await, StatusCode::NOT_FOUND, "connectionNotFound");
    for id in accounts {
        let gone = app.get(&format!("/2.0/users/me/accounts/{id}"), &user.token).await;
        assert_error(&gone, StatusCode::NOT_FOUND, "accountNotFound");
    }
    let (_, page) = app.get("/2.0/users/me/transactions?all", &user.token).await;
    assert_eq!(page["total"], 0);
    let (_, list) = app.get("/2.0/users/me/connections?all", &user.token).await;
    assert_eq!(list["connections"][0]["id"], kept["id"], "other connections stay");
    assert_eq!(app.delete(&path, &user.token).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_the_user_removes_everything() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    app.enable_accounts(&user, &connection["id"]).await;
    assert_eq!(app.delete("/2.0/users/me", &user.token).await, StatusCode::NO_CONTENT);
    let id_connection = connection["id"].as_i64().unwrap();
    assert!(app.store.connection_by_id(id_connection).await.unwrap().is_none());
    assert!(app.store.accounts_of_connection(id_connection).await.unwrap().is_empty());
}
