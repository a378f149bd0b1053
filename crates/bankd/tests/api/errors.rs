//! Bad input of every kind gets a Powens error envelope with the right status — never plain text.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, read};

#[tokio::test]
async fn missing_and_bad_tokens_are_401() {
    let app = TestApp::spawn().await;
    let missing = read(app.http.get(app.url("/2.0/users/me")).send().await.unwrap()).await;
    assert_error(&missing, StatusCode::UNAUTHORIZED, "missingToken");
    assert_error(&app.get("/2.0/users/me", "not-a-token").await, StatusCode::UNAUTHORIZED, "invalidToken");
    let odd_scheme = app.http.get(app.url("/2.0/users/me")).header("authorization", "Token x").send().await.unwrap();
    assert_error(&read(odd_scheme).await, StatusCode::UNAUTHORIZED, "invalidToken");
}

#[tokio::test]
async fn malformed_json_and_wrong_types_are_400() {
    let app = TestApp::spawn().await;
    let malformed = app
        .http
        .post(app.url("/2.0/auth/init"))
        .header("content-type", "application/json")
        .body("{\"client_id\": ")
        .send()
        .await
        .unwrap();
    let malformed = read(malformed).await;
    assert_error(&malformed, StatusCode::BAD_REQUEST, "invalidValue");
    assert!(malformed.1["description"].as_str().unwrap().contains("line 1"), "{}", malformed.1);

    let not_an_object = app.call(Method::POST, "/2.0/auth/init", None, Some(json!([1, 2]))).await;
    assert_error(&not_an_object, StatusCode::BAD_REQUEST, "invalidValue");

    let wrong_type = json!({"client_id": {"nested": true}, "client_secret": "x"});
    let wrong_type = app.post("/2.0/auth/init", None, wrong_type).await;
    assert_error(&wrong_type, StatusCode::BAD_REQUEST, "invalidValue");
    assert!(wrong_type.1["description"].as_str().unwrap().contains("client_id"));

    let mut renew = app.client_credentials();
    renew["revoke_previous"] = json!("perhaps");
    assert_error(&app.post("/2.0/auth/renew", None, renew).await, StatusCode::BAD_REQUEST, "invalidValue");
}

#[tokio::test]
async fn unknown_and_malformed_ids() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    assert_error(&app.get("/2.0/users/abc", &user.token).await, StatusCode::BAD_REQUEST, "invalidValue");
    assert_error(&app.get("/2.0/users/-3", &user.token).await, StatusCode::BAD_REQUEST, "invalidValue");
    assert_error(&app.get("/2.0/users/999999", &user.token).await, StatusCode::FORBIDDEN, "forbidden");
    assert_error(&app.get("/2.0/nothing/here", &user.token).await, StatusCode::NOT_FOUND, "notFound");
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(2 << 20);
    let response = app
        .http
        .post(app.url("/2.0/auth/init"))
        .header("content-type", "application/json")
        .body(format!("{{\"client_id\": \"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_error(&read(response).await, StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge");
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let patch = app.call(Method::PATCH, "/2.0/users/me", Some(&user.token), None).await;
    assert_error(&patch, StatusCode::METHOD_NOT_ALLOWED, "methodNotAllowed");
    let get_init = read(app.http.get(app.url("/2.0/auth/init")).send().await.unwrap()).await;
    assert_error(&get_init, StatusCode::METHOD_NOT_ALLOWED, "methodNotAllowed");
}

#[tokio::test]
async fn request_id_header_matches_the_envelope() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/2.0/users/me")).send().await.unwrap();
    let header: i64 = response.headers()["x-request-id"].to_str().unwrap().parse().unwrap();
    let (_, body) = read(response).await;
    assert_eq!(body["request_id"], header);
}

#[tokio::test]
async fn health_docs_and_openapi_are_served() {
    let app = TestApp::spawn().await;
    let (status, health) = read(app.http.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health, json!({"status": "ok"}));

    let (status, spec) = read(app.http.get(app.url("/2.0/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/2.0/auth/init",
        "/2.0/auth/token/code",
        "/2.0/auth/token/access",
        "/2.0/auth/renew",
        "/2.0/auth/token",
        "/2.0/users",
        "/2.0/users/{id_user}",
        "/2.0/connectors",
        "/2.0/connectors/{id_connector}",
        "/2.0/connectors/{id_connector}/sources",
        "/2.0/connectors/{id_connector}/sources/{id_source}",
        "/2.0/users/{id_user}/connections",
        "/2.0/users/{id_user}/connections/{id_connection}",
        "/2.0/users/{id_user}/connections/{id_connection}/sources",
        "/2.0/users/{id_user}/connections/{id_connection}/sources/{id_source}",
        "/2.0/users/{id_user}/connections/{id_connection}/logs",
        "/2.0/users/{id_user}/connections/{id_connection}/accounts",
        "/2.0/users/{id_user}/connections/{id_connection}/transactions",
        "/2.0/users/{id_user}/accounts",
        "/2.0/users/{id_user}/accounts/{id_account}",
        "/2.0/users/{id_user}/accounts/{id_account}/transactions",
        "/2.0/users/{id_user}/transactions",
        "/2.0/users/{id_user}/transactions/{id_transaction}",
        "/2.0/webauth-url",
        "/2.0/webauth",
        "/2.0/webauth/callback",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let docs = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

/// What scripts/fuzz-api relies on the document to say for every operation (api/document.rs):
/// the credentials' and the parameters' error answers, and ids' form.
#[tokio::test]
async fn every_operation_documents_its_extractors_answers_and_its_ids_form() {
    let app = TestApp::spawn().await;
    let (_, spec) = read(app.http.get(app.url("/2.0/openapi.json")).send().await.unwrap()).await;
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let responses = &operation["responses"];
            let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                for status in ["401", "403"] {
                    assert!(responses.get(status).is_some(), "{method} {path}: no {status}");
                }
            }
            let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
            if !parameters.is_empty() || operation.get("requestBody").is_some() {
                assert!(responses.get("400").is_some(), "{method} {path}: no 400");
            }
            for parameter in parameters.iter().filter(|p| p["in"] == "path") {
                let schema = &parameter["schema"];
                if parameter["name"] == "id_user" {
                    assert_eq!(schema["pattern"], "^(me|[1-9][0-9]{0,17})$", "{method} {path}");
                } else if schema["type"] == "integer" {
                    assert_eq!(schema["minimum"], 1, "{method} {path}: {parameter}");
                }
            }
        }
    }
    assert!(operations > 50, "only {operations} operations");
}
