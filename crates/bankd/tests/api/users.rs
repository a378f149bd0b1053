//! `/users`: reading and deleting users, and that no user reaches another.

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_error, read};

#[tokio::test]
async fn me_and_own_id_read_the_same_user() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let (status, me) = app.get("/2.0/users/me", &user.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], user.id);
    assert_eq!(me["platform"], "web");
    let signin = me["signin"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(signin, "%Y-%m-%d %H:%M:%S").is_ok(), "{signin}");
    let (_, by_id) = app.get(&format!("/2.0/users/{}", user.id), &user.token).await;
    assert_eq!(by_id, me);
}

#[tokio::test]
async fn two_users_can_neither_read_nor_delete_each_other() {
    let app = TestApp::spawn().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let bobs = format!("/2.0/users/{}", bob.id);
    let read_attempt = app.get(&bobs, &alice.token).await;
    assert_error(&read_attempt, StatusCode::FORBIDDEN, "forbidden");
    assert!(read_attempt.1.get("id").is_none(), "no user data in the refusal");
    let delete_attempt = app.call(reqwest::Method::DELETE, &bobs, Some(&alice.token), None).await;
    assert_error(&delete_attempt, StatusCode::FORBIDDEN, "forbidden");
    // Bob is untouched, and the same holds the other way round.
    assert_eq!(app.get("/2.0/users/me", &bob.token).await.1["id"], bob.id);
    let alices = format!("/2.0/users/{}", alice.id);
    assert_eq!(app.delete(&alices, &bob.token).await, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/2.0/users/me", &alice.token).await.1["id"], alice.id);
}

#[tokio::test]
async fn deleting_me_removes_the_user_and_its_tokens() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let other = app.create_user().await;
    assert_eq!(app.delete("/2.0/users/me", &user.token).await, StatusCode::NO_CONTENT);
    assert_error(&app.get("/2.0/users/me", &user.token).await, StatusCode::UNAUTHORIZED, "invalidToken");
    assert_eq!(app.get("/2.0/users/me", &other.token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_client_lists_and_deletes_its_users_by_id() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let basic = |r: reqwest::RequestBuilder| r.basic_auth(&app.client_id, Some(&app.client_secret));

    let (status, list) = read(basic(app.http.get(app.url("/2.0/users"))).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1);
    assert_eq!(list["users"][0]["id"], user.id);

    let path = app.url(&format!("/2.0/users/{}", user.id));
    let (status, _) = read(basic(app.http.delete(&path)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let gone = read(basic(app.http.get(&path)).send().await.unwrap()).await;
    assert_error(&gone, StatusCode::NOT_FOUND, "userNotFound");
    // A user token cannot list users.
    assert_error(&app.get("/2.0/users", &app.create_user().await.token).await, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn a_client_cannot_reach_users_it_did_not_create() {
    let app = TestApp::spawn().await;
    let (_, anonymous) = app.post("/2.0/auth/init", None, serde_json::json!({})).await;
    let path = app.url(&format!("/2.0/users/{}", anonymous["id_user"]));
    let response = app.http.delete(&path).basic_auth(&app.client_id, Some(&app.client_secret)).send().await.unwrap();
    assert_error(&read(response).await, StatusCode::NOT_FOUND, "userNotFound");
    let wrong_secret = app.http.get(&path).basic_auth(&app.client_id, Some("wrong")).send().await.unwrap();
    assert_error(&read(wrong_secret).await, StatusCode::UNAUTHORIZED, "invalidToken");
}
