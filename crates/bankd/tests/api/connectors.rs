//! `/connectors`: the catalog as Powens clients read it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{SANDBOX_UUID, TestApp, assert_error, read};

#[tokio::test]
async fn the_sandbox_bank_is_listed_with_its_form_and_sources() {
    let app = TestApp::spawn().await;
    let (status, list) = read(app.http.get(app.url("/2.0/connectors")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let sandbox = list["connectors"].as_array().unwrap().iter().find(|c| c["uuid"] == SANDBOX_UUID).unwrap();
    assert_eq!(sandbox["name"], "Sandbox Bank");
    assert_eq!(sandbox["auth_mechanism"], "credentials");
    assert_eq!(sandbox["capabilities"], serde_json::json!(["bank"]));
    let fields: Vec<&str> = sandbox["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(fields, ["login", "password"]);
    assert_eq!(sandbox["fields"][1]["type"], "password");
    let sources = sandbox["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    assert!(sources[0]["priority"].as_i64() < sources[1]["priority"].as_i64());
    assert!(sources.iter().all(|s| s["disabled"].is_null() && s["id_connector"] == sandbox["id"]));
}

#[tokio::test]
async fn connectors_filter_by_country() {
    let app = TestApp::spawn().await;
    let (_, french) = read(app.http.get(app.url("/2.0/connectors?country_codes=fr,de")).send().await.unwrap()).await;
    assert!(french["connectors"].as_array().unwrap().iter().any(|c| c["uuid"] == SANDBOX_UUID));
    let (_, none) = read(app.http.get(app.url("/2.0/connectors?country_codes=JP")).send().await.unwrap()).await;
    assert_eq!(none["connectors"], serde_json::json!([]));
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn a_connector_is_found_by_uuid_or_id_and_lists_its_sources() {
    let app = TestApp::spawn().await;
    let by_uuid = read(app.http.get(app.url(&format!("/2.0/connectors/{SANDBOX_UUID}"))).send().await.unwrap()).await;
    assert_eq!(by_uuid.0, StatusCode::OK);
    let id = by_uuid.1["id"].as_i64().unwrap();
    let by_id = read(app.http.get(app.url(&format!("/2.0/connectors/{id}"))).send().await.unwrap()).await;
    assert_eq!(by_id.1, by_uuid.1);
    let (status, sources) =
        read(app.http.get(app.url(&format!("/2.0/connectors/{id}/sources"))).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let first = &sources["sources"][0];
    let one =
        read(app.http.get(app.url(&format!("/2.0/connectors/{id}/sources/{}", first["id"]))).send().await.unwrap())
            .await;
    assert_eq!(&one.1, first);

    let unknown = read(app.http.get(app.url("/2.0/connectors/999")).send().await.unwrap()).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "connectorNotFound");
    let bad = read(app.http.get(app.url("/2.0/connectors/not-an-id")).send().await.unwrap()).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalidValue");
}

#[tokio::test]
async fn sandbox_off_hides_the_sandbox_connectors() {
    let app = TestApp::spawn_with(|s| s.sandbox = false).await;
    let (_, list) = read(app.http.get(app.url("/2.0/connectors")).send().await.unwrap()).await;
    assert!(list["connectors"].as_array().unwrap().iter().all(|c| c["uuid"] != SANDBOX_UUID));
    let user = app.create_user().await;
    assert_error(&app.connect(&user, "demo").await, StatusCode::NOT_FOUND, "connectorNotFound");
}

#[tokio::test]
async fn banks_is_the_deprecated_alias_of_connectors() {
    let app = TestApp::spawn().await;
    let (_, connectors) = read(app.http.get(app.url("/2.0/connectors?country_codes=FR")).send().await.unwrap()).await;
    let (status, banks) = read(app.http.get(app.url("/2.0/banks?country_codes=FR")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(banks["banks"], connectors["connectors"]);
    assert_eq!(banks["total"], connectors["total"]);
    let (_, none) = read(app.http.get(app.url("/2.0/banks?country_codes=JP")).send().await.unwrap()).await;
    assert_eq!(none["banks"], serde_json::json!([]));

    let (status, one) = read(app.http.get(app.url(&format!("/2.0/banks/{SANDBOX_UUID}"))).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["uuid"], SANDBOX_UUID);
    assert_error(
        &read(app.http.get(app.url("/2.0/banks/999")).send().await.unwrap()).await,
        StatusCode::NOT_FOUND,
        "connectorNotFound",
    );

    let (_, openapi) = read(app.http.get(app.url("/2.0/openapi.json")).send().await.unwrap()).await;
    assert_eq!(openapi["paths"]["/2.0/banks"]["get"]["deprecated"], true);
    assert_eq!(openapi["paths"]["/2.0/banks/{id_connector}"]["get"]["deprecated"], true);
    assert!(openapi["paths"]["/2.0/connectors"]["get"].get("deprecated").is_none_or(|d| d == false));
}

#[tokio::test]
async fn several_connectors_are_read_by_a_comma_separated_list() {
    let app = TestApp::spawn().await;
    let (status, list) =
        read(app.http.get(app.url(&format!("/2.0/connectors/1,{SANDBOX_UUID}"))).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 2);
    let uuids: Vec<&Value> = list["connectors"].as_array().unwrap().iter().map(|c| &c["uuid"]).collect();
    assert_eq!(uuids, [SANDBOX_UUID, SANDBOX_UUID]);

    let unknown = read(app.http.get(app.url("/2.0/connectors/1,999")).send().await.unwrap()).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "connectorNotFound");
    let bad = read(app.http.get(app.url("/2.0/connectors/1,x")).send().await.unwrap()).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalidValue");
}
