//! PSD2 consents as banks end them and ration them: every way a Berlin Group consent dies
//! (expired, withdrawn by the PSU, ended by the TPP, forgotten by the bank) and a STET access
//! refused (403) end in `SCARequired`; a bank's `frequency_per_day` is what the consent asks and
//! what the scheduler spends.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;
use crate::psd2::{PSD2_UUID, connect, connect_stet, get};
use bankd::sync::scheduler;

#[tokio::test]
async fn every_way_a_consent_ends_leads_to_sca_required_and_a_reconnect_heals_it() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let endings = [
        ("expired", "CONSENT_EXPIRED", "The consent has expired"),
        ("revoked", "CONSENT_INVALID", "revokedByPsu"),
        ("terminated", "CONSENT_INVALID", "terminatedByTpp"),
        ("forgotten", "CONSENT_UNKNOWN", "No such consent"),
    ];
    for (login, code, said) in endings {
        let connection = connect(&app, &user, login).await;
        assert!(connection["state"].is_null(), "{login}: {connection}");
        let ended = app.resync(&user, &connection["id"]).await;
        assert_eq!(ended["state"], "SCARequired", "{login} ({code}): {ended}");
        assert!(ended["error_message"].as_str().unwrap_or_default().contains(said), "{login}: {ended}");
        // Without the user, bankd does not knock again; a reconnect asks a new consent.
        let path = format!("/2.0/users/me/connections/{}?psu_requested=false", connection["id"]);
        let (_, unattended) = app.call(Method::PUT, &path, Some(&user.token), None).await;
        assert_eq!(unattended["state"], "SCARequired", "{login}: {unattended}");
        let renewed = app.answer(&user, &connection, json!({"refresh_auth": true})).await;
        assert!(renewed["state"].is_null(), "{login}: {renewed}");
    }
}

#[tokio::test]
async fn a_stet_bank_refusing_the_access_means_authorising_again() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect_stet(&app, &user, "revoked").await;
    assert!(connection["state"].is_null(), "the accounts are listed: {connection}");
    app.enable_accounts(&user, &connection["id"]).await;
    let refused = get(&app, &user, &format!("/2.0/users/me/connections/{}", connection["id"])).await;
    assert_eq!(refused["state"], "SCARequired", "{refused}");
    assert!(refused["error_message"].as_str().unwrap().contains("withdrew"), "the bank's words: {refused}");
}

/// A catalog whose XS2A bank allows `per_day` reads a day without the user.
fn catalog(dir: &tempfile::TempDir, per_day: u32) -> std::path::PathBuf {
    let path = dir.path().join("catalog.toml");
    let text = format!(
        "[[connector]]\nid = 2\nuuid = \"{PSD2_UUID}\"\nname = \"Twice a day\"\n\
         [[connector.field]]\nname = \"login\"\nlabel = \"Login\"\ntype = \"text\"\n\
         [[connector.source]]\nid = 3\nname = \"openapi\"\npriority = 1\ndriver = \"xs2a\"\n\
         [connector.source.api]\nbase_url = \"/sandbox/xs2a\"\nfrequency_per_day = {per_day}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_banks_frequency_per_day_is_asked_in_the_consent_and_bounds_background_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(&dir, 2);
    let app = TestApp::spawn_with(|settings| settings.catalog = Some(catalog)).await;
    let user = app.create_user().await;
    let connection = crate::psd2::authorize_at_the_bank(&app, &user, &connect(&app, &user, "demo").await).await;
    assert!(connection["state"].is_null(), "{connection}");
    let unattended = format!("/2.0/users/me/connections/{}?psu_requested=false", connection["id"]);
    for _ in 0..2 {
        let (_, synced) = app.call(Method::PUT, &unattended, Some(&user.token), None).await;
        assert!(synced["state"].is_null(), "{synced}");
    }
    // The scheduler spends this bank's two, not BANKD_UNATTENDED_BUDGET's four.
    let id = connection["id"].as_i64().unwrap();
    app.store.set_next_try(id, Some(chrono::Utc::now() - chrono::Duration::minutes(1))).await.unwrap();
    assert_eq!(scheduler::tick(&app.engine).await.unwrap(), 0, "the bank's budget is spent");
    // And the consent asked for two: the bank holds bankd to it.
    let (_, third) = app.call(Method::PUT, &unattended, Some(&user.token), None).await;
    assert_eq!(third["state"], "rateLimiting", "{third}");
}
