//! The bank directory: a CSV of banks behind a PSD2 hub imported onto the built-in `sandbox-xs2a`
//! profile (the sandbox ASPSP), offered as connectors at start, found by IBAN and BIC, connected to.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use bankd::catalog::Catalog;
use bankd::directory::{ListError, read_aspsp_list};

use crate::helpers::{TestApp, assert_error, read};
use crate::psd2::authorize_at_the_bank;

/// Banks on the sandbox hub: two German ones routed by bank code, a French one, and a Dutch one
/// known by its BIC alone (Dutch IBANs carry the BIC's first four letters).
const DIRECTORY: &str = "\
name,bic,country,bank_code,base_url,profile
Sparkasse Musterstadt,SPKADEMMXXX,DE,10020030,/sandbox/xs2a,sandbox-xs2a
Volksbank Beispiel,GENODEF1VBB,DE,20030040,/sandbox/xs2a,sandbox-xs2a
Caisse Test,CEPAFRPP123,FR,12345,/sandbox/xs2a,sandbox-xs2a
Testbank Nederland,TSTBNL2A,NL,,/sandbox/xs2a,sandbox-xs2a
";

/// An IBAN of `country` with this BBAN, its check digits computed (ISO 13616).
fn iban(country: &str, bban: &str) -> String {
    let digits: String = format!("{bban}{country}00").chars().map(|c| c.to_digit(36).unwrap().to_string()).collect();
    let remainder = digits.bytes().fold(0u32, |r, d| (r * 10 + u32::from(d - b'0')) % 97);
    format!("{country}{:02}{bban}", 98 - remainder)
}

/// The built-in catalog's profiles, the sandbox on.
fn profiles(catalog: &Catalog) -> HashSet<&str> {
    catalog.profiles.iter().map(|p| p.name.as_str()).collect()
}

/// A bankd on `database_url` (where the directory is).
async fn spawn_on(database_url: &str) -> TestApp {
    let url = database_url.to_owned();
    TestApp::spawn_with(|settings| settings.database_url = Some(url)).await
}

async fn list(app: &TestApp, query: &str) -> (StatusCode, Value) {
    read(app.http.get(app.url(&format!("/2.0/connectors{query}"))).send().await.unwrap()).await
}

/// The names the listing answers with `query`.
async fn names(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = list(app, query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"].as_u64().unwrap() as usize, body["connectors"].as_array().unwrap().len());
    body["connectors"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

async fn connector(app: &TestApp, name: &str) -> Value {
    let (_, body) = list(app, "").await;
    body["connectors"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap()
}

#[tokio::test]
async fn imported_banks_are_connectors_found_by_iban_and_bic_that_sync_and_keep_their_ids() {
    let first = TestApp::spawn().await;
    let catalog = Catalog::load(None, true).unwrap();
    // A bad row refuses the whole file at its line: nothing is imported.
    let bad = DIRECTORY
        .replace("Volksbank Beispiel,GENODEF1VBB,DE,20030040,/sandbox/xs2a,sandbox-xs2a", "V,,DE,2003004,/x,p");
    let refused = read_aspsp_list(bad.as_bytes(), &profiles(&catalog)).unwrap_err();
    assert_eq!(refused, ListError::Line { line: 3, why: "a bank code of DE is 8 digits, not \"2003004\"".into() });
    let banks = read_aspsp_list(DIRECTORY.as_bytes(), &profiles(&catalog)).unwrap();
    assert_eq!(first.store.replace_directory_banks(&banks).await.unwrap(), 4, "four new banks");
    assert!(names(&first, "").await.iter().all(|n| n != "Sparkasse Musterstadt"), "offered from the next start");

    let app = spawn_on(&first.database_url).await;
    let sparkasse = connector(&app, "Sparkasse Musterstadt").await;
    assert_eq!(sparkasse["countries"], json!([{"id": "DE", "name": "Germany"}]), "{sparkasse}");
    assert_eq!((sparkasse["code"].as_str(), sparkasse["auth_mechanism"].as_str()), (Some("10020030"), Some("webauth")));
    assert_eq!(sparkasse["sources"][0]["name"], "openapi");
    assert_eq!(sparkasse["fields"][0]["name"], "login", "the profile's form");

    // Routed by IBAN: country and bank code; spaces and case as the user typed them.
    let spaced = iban("DE", "100200300532013000").to_lowercase();
    let spaced = format!("{} {}", &spaced[..4], &spaced[4..]);
    assert_eq!(names(&app, &format!("?iban={}", spaced.replace(' ', "%20"))).await, ["Sparkasse Musterstadt"]);
    assert_eq!(names(&app, &format!("?iban={}", iban("DE", "200300400000000001"))).await, ["Volksbank Beispiel"]);
    assert_eq!(names(&app, &format!("?iban={}", iban("FR", "12345000010000000001M02"))).await, ["Caisse Test"]);
    assert_eq!(names(&app, &format!("?iban={}", iban("NL", "TSTB0417164300"))).await, ["Testbank Nederland"]);
    assert!(names(&app, &format!("?iban={}", iban("DE", "999999990000000001"))).await.is_empty(), "no such bank");
    assert!(names(&app, &format!("?iban={}&country_codes=FR", iban("DE", "100200300532013000"))).await.is_empty());
    let mistyped = iban("DE", "100200300532013000").replace("0532", "0533");
    let got = list(&app, &format!("?iban={mistyped}")).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "invalidValue");
    assert!(got.1["description"].as_str().unwrap().contains("check digits"), "{}", got.1);
    assert_error(&list(&app, "?iban=DE12").await, StatusCode::BAD_REQUEST, "invalidValue");

    // By BIC: the institution's 8 characters find its branches, and the head office's XXX the 8.
    assert_eq!(names(&app, "?bic=SPKADEMM").await, ["Sparkasse Musterstadt"]);
    let all = names(&app, "").await;
    assert_eq!(names(&app, "?iban=&bic=").await, all, "empty values filter nothing");
    assert_eq!(names(&app, "?bic=genodef1vbb").await, ["Volksbank Beispiel"]);
    assert_eq!(names(&app, "?bic=TSTBNL2AXXX").await, ["Testbank Nederland"]);
    assert!(names(&app, "?bic=CEPAFRPP999").await.is_empty(), "another branch");
    assert_error(&list(&app, "?bic=12").await, StatusCode::BAD_REQUEST, "invalidValue");

    // A connection through an imported bank goes to the hub's API at the bank's base URL.
    let user = app.create_user().await;
    let body = json!({"connector_uuid": sparkasse["uuid"], "login": "redirect"});
    let (status, connection) = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    let connection = authorize_at_the_bank(&app, &user, &connection).await;
    assert!(connection["state"].is_null(), "{connection}");
    assert_eq!(app.enable_accounts(&user, &connection["id"]).await.len(), 3);

    // The ids stay across a restart and a new import that reorders the banks and adds one.
    let mut again: Vec<&str> = DIRECTORY.lines().collect();
    again[1..].reverse();
    let again = again.join("\n") + "\nNew Bank,,AT,19043,/sandbox/xs2a,sandbox-xs2a\n";
    let banks = read_aspsp_list(again.as_bytes(), &profiles(&catalog)).unwrap();
    assert_eq!(app.store.replace_directory_banks(&banks).await.unwrap(), 1);
    let restarted = spawn_on(&first.database_url).await;
    for name in ["Sparkasse Musterstadt", "Volksbank Beispiel", "Caisse Test", "Testbank Nederland"] {
        let (before, after) = (connector(&app, name).await, connector(&restarted, name).await);
        assert_eq!((&before["id"], &before["uuid"]), (&after["id"], &after["uuid"]), "{name}");
    }
    let new = connector(&restarted, "New Bank").await;
    assert!(new["id"].as_i64().unwrap() > sparkasse["id"].as_i64().unwrap());
    let (status, still) = restarted.get(&format!("/2.0/users/me/connections/{}", connection["id"]), &user.token).await;
    assert_eq!((status, &still["id_connector"]), (StatusCode::OK, &sparkasse["id"]), "{still}");
}

#[tokio::test]
async fn without_the_sandbox_its_profile_and_banks_are_not_offered() {
    let first = TestApp::spawn().await;
    let catalog = Catalog::load(None, true).unwrap();
    let banks = read_aspsp_list(DIRECTORY.as_bytes(), &profiles(&catalog)).unwrap();
    first.store.replace_directory_banks(&banks).await.unwrap();
    let url = first.database_url.clone();
    let app = TestApp::spawn_with(|settings| {
        settings.database_url = Some(url);
        settings.sandbox = false;
    })
    .await;
    assert!(names(&app, "?bic=SPKADEMM").await.is_empty());
    assert!(Catalog::load(None, false).unwrap().profile("sandbox-xs2a").is_none());
}
