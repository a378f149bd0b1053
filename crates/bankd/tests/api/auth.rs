//! `/auth/*`: user creation and the token life cycle.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, read};

#[tokio::test]
async fn init_with_client_credentials_gives_a_permanent_token() {
    let app = TestApp::spawn().await;
    let (status, body) = app.post("/2.0/auth/init", None, app.client_credentials()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], "permanent");
    assert!(
        body.get("expires_in").is_none(),
        "a permanent token has no expires_in key (pybudgea refuses null): {body}"
    );
    let token = body["auth_token"].as_str().unwrap();
    assert!(token.len() >= 22, "at least 128 bits of base64");
    let (status, me) = app.get("/2.0/users/me", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], body["id_user"]);
}

#[tokio::test]
async fn init_accepts_urlencoded_and_multipart_forms() {
    let app = TestApp::spawn().await;
    let form = [("client_id", app.client_id.as_str()), ("client_secret", app.client_secret.as_str())];
    let (status, body) = read(app.http.post(app.url("/2.0/auth/init")).form(&form).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], "permanent");

    let multipart = reqwest::multipart::Form::new()
        .text("client_id", app.client_id.clone())
        .text("client_secret", app.client_secret.clone());
    let (status, body) =
        read(app.http.post(app.url("/2.0/auth/init")).multipart(multipart).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], "permanent");
}

#[tokio::test]
async fn init_without_credentials_gives_a_temporary_token() {
    let app = TestApp::spawn().await;
    let (status, body) = app.post("/2.0/auth/init", None, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], "temporary");
    assert_eq!(body["expires_in"], 1800);
    let (status, _) = app.get("/2.0/users/me", body["auth_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn init_refuses_a_wrong_secret_or_half_credentials() {
    let app = TestApp::spawn().await;
    let wrong = json!({"client_id": app.client_id, "client_secret": "nope"});
    assert_error(&app.post("/2.0/auth/init", None, wrong).await, StatusCode::BAD_REQUEST, "invalidValue");
    let half = json!({"client_id": app.client_id});
    assert_error(&app.post("/2.0/auth/init", None, half).await, StatusCode::BAD_REQUEST, "missingParameter");
}

#[tokio::test]
async fn single_access_code_is_exchanged_once() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let (status, code) = app.get("/2.0/auth/token/code?type=singleAccess", &user.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(code["type"], "temporary");
    assert_eq!(code["access"], "single");
    assert_eq!(code["expires_in"], 1800);

    let mut exchange = app.client_credentials();
    exchange["code"] = code["code"].clone();
    let (status, body) = app.post("/2.0/auth/token/access", None, exchange.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let (_, me) = app.get("/2.0/users/me", body["access_token"].as_str().unwrap()).await;
    assert_eq!(me["id"], user.id);

    let again = app.post("/2.0/auth/token/access", None, exchange).await;
    assert_error(&again, StatusCode::BAD_REQUEST, "invalidValue");
}

#[tokio::test]
async fn request_access_code_is_reusable_and_works_as_a_bearer_token() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let (_, code) = app.get("/2.0/auth/token/code", &user.token).await;
    assert_eq!(code["access"], "standard");
    let code = code["code"].as_str().unwrap();
    let (status, me) = app.get("/2.0/users/me", code).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], user.id);
    let mut exchange = app.client_credentials();
    exchange["code"] = json!(code);
    for _ in 0..2 {
        let (status, _) = app.post("/2.0/auth/token/access", None, exchange.clone()).await;
        assert_eq!(status, StatusCode::OK);
    }
    // A code cannot mint further codes.
    assert_error(&app.get("/2.0/auth/token/code", code).await, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn token_access_checks_grant_type_and_redirect_uri() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let (_, code) = app.get("/2.0/auth/token/code", &user.token).await;
    let mut exchange = app.client_credentials();
    exchange["code"] = code["code"].clone();
    exchange["grant_type"] = json!("password");
    assert_error(
        &app.post("/2.0/auth/token/access", None, exchange.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalidValue",
    );
    exchange["grant_type"] = json!("authorization_code");
    exchange["redirect_uri"] = json!("https://evil.example/");
    assert_error(
        &app.post("/2.0/auth/token/access", None, exchange.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalidValue",
    );
    exchange["redirect_uri"] = json!("https://app.example/callback");
    assert_eq!(app.post("/2.0/auth/token/access", None, exchange).await.0, StatusCode::OK);
}

#[tokio::test]
async fn code_type_must_be_known() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    assert_error(
        &app.get("/2.0/auth/token/code?type=forever", &user.token).await,
        StatusCode::BAD_REQUEST,
        "invalidValue",
    );
}

#[tokio::test]
async fn renew_can_revoke_previous_tokens() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let mut renew = app.client_credentials();
    renew["grant_type"] = json!("client_credentials");
    renew["id_user"] = json!(user.id);
    let (status, body) = app.post("/2.0/auth/renew", None, renew.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/2.0/users/me", &user.token).await.0, StatusCode::OK, "old token kept by default");

    renew["revoke_previous"] = json!(true);
    let (_, body) = app.post("/2.0/auth/renew", None, renew).await;
    let third = body["access_token"].as_str().unwrap();
    assert_error(&app.get("/2.0/users/me", &user.token).await, StatusCode::UNAUTHORIZED, "invalidToken");
    assert_error(&app.get("/2.0/users/me", &second).await, StatusCode::UNAUTHORIZED, "invalidToken");
    assert_eq!(app.get("/2.0/users/me", third).await.0, StatusCode::OK);
}

#[tokio::test]
async fn renew_refuses_a_user_of_another_client() {
    let app = TestApp::spawn().await;
    let (_, anonymous) = app.post("/2.0/auth/init", None, json!({})).await;
    let mut renew = app.client_credentials();
    renew["id_user"] = anonymous["id_user"].clone();
    assert_error(&app.post("/2.0/auth/renew", None, renew).await, StatusCode::NOT_FOUND, "userNotFound");
}

#[tokio::test]
async fn deleting_the_token_revokes_it() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let (status, body) = app.call(Method::DELETE, "/2.0/auth/token", Some(&user.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_null());
    assert_error(&app.get("/2.0/users/me", &user.token).await, StatusCode::UNAUTHORIZED, "invalidToken");
}
