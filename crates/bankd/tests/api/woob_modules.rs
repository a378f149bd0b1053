//! woob's bank modules as connectors, end to end: `BANKD_WOOB_MODULES_PATH` names a folder of
//! modules (here the test modules of tests/woob_modules, written for these tests), and each bank
//! module that loads becomes a connector with its `CONFIG` as its form, synced by one helper per sync.
//!
//! Needs a Python with woob, named by `BANKD_TEST_WOOB_PYTHON` (`.ci/run` makes one); skipped,
//! with a visible message, without it.

use std::path::{Path, PathBuf};

use bankd::config::Settings;
use bankd::sources::woob::modules::uuid;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, test_settings};
use crate::webview::{Browser, code, entry};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/woob_modules");

/// `bankdmany` is synced by two tests that count its helpers: one at a time.
static BANKDMANY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn woob_python() -> Option<String> {
    let python = std::env::var("BANKD_TEST_WOOB_PYTHON").ok();
    if python.is_none() {
        eprintln!("skipped: set BANKD_TEST_WOOB_PYTHON to a Python with woob (see woob/requirements.txt)");
    }
    python
}

fn with_modules(settings: &mut Settings, python: String, path: &Path) {
    settings.woob_python = python;
    settings.woob.woob_modules_path = Some(path.to_owned());
}

async fn modules_app(configure: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let python = woob_python()?;
    Some(
        TestApp::spawn_with(|settings| {
            with_modules(settings, python, Path::new(FIXTURES));
            configure(settings);
        })
        .await,
    )
}

async fn connect(app: &TestApp, user: &TestUser, module: &str, credentials: Value) -> (StatusCode, Value) {
    let mut body = json!({"connector_uuid": uuid(module).to_string()});
    body.as_object_mut().unwrap().extend(credentials.as_object().unwrap().clone());
    app.post("/2.0/users/me/connections", Some(&user.token), body).await
}

async fn connectors(app: &TestApp) -> Vec<Value> {
    let (status, list) = app.call(reqwest::Method::GET, "/2.0/connectors?expand=fields", None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["connectors"].as_array().unwrap().clone()
}

fn by_slug<'a>(connectors: &'a [Value], slug: &str) -> Option<&'a Value> {
    connectors.iter().find(|c| c["slug"] == slug)
}

/// The field named `name` of a connector, as the API shows it.
fn field<'a>(connector: &'a Value, name: &str) -> &'a Value {
    connector["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("{name}"))
}

/// The value of a counter of this process's `/metrics` for one module (0 when absent).
async fn counter(app: &TestApp, name: &str, module: &str) -> f64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let prefix = format!("{name}{{module=\"{module}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn every_usable_bank_module_is_a_connector_with_its_form() {
    let Some(app) = modules_app(|_| {}).await else { return };
    let connectors = connectors(&app).await;
    for slug in ["bankd2fa", "bankdmany", "bankdoptions", "bankdpass", "bankdregions", "bankdtest"] {
        let connector = by_slug(&connectors, slug).unwrap_or_else(|| panic!("{slug} is offered"));
        assert_eq!(connector["uuid"], uuid(slug).to_string());
        assert!(connector["id"].as_i64().unwrap() > 100_000, "{connector}");
        assert_eq!(connector["capabilities"], json!(["bank"]));
        assert_eq!(connector["sources"][0]["name"], "directaccess");
    }
    for slug in ["bankdmissing", "bankdnotbank", "bankdcaptcha"] {
        assert!(by_slug(&connectors, slug).is_none(), "{slug}: cannot load, not a bank, or a captcha");
    }

    let pass = by_slug(&connectors, "bankdpass").unwrap();
    assert_eq!(pass["name"], "Banque Pass (test)");
    let login = field(pass, "login");
    assert_eq!(
        (&login["type"], &login["label"], &login["required"]),
        (&json!("text"), &json!("Identifiant"), &json!(true))
    );
    let password = field(pass, "password");
    assert_eq!((&password["type"], &password["regex"]), (&json!("password"), &json!(r"^\d{6}$")));

    let regions = by_slug(&connectors, "bankdregions").unwrap();
    let website = field(regions, "website");
    assert_eq!((&website["type"], &website["value"]), (&json!("list"), &json!("www.banque-paris.test")));
    assert!(website["values"].as_array().unwrap().len() >= 32, "{website}");
    assert_eq!(regions["fields"][0]["name"], "website", "CONFIG order");

    let options = by_slug(&connectors, "bankdoptions").unwrap();
    let pro = field(options, "pro");
    assert_eq!((&pro["type"], &pro["required"], &pro["value"]), (&json!("list"), &json!(false), &json!("false")));
    assert_eq!(pro["values"].as_array().unwrap().len(), 2);
    assert_eq!(
        (&field(options, "birthday")["type"], &field(options, "birthday")["required"]),
        (&json!("date"), &json!(false))
    );
    assert_eq!(field(options, "card_digits")["type"], "number");

    let names: Vec<&str> = by_slug(&connectors, "bankd2fa").unwrap()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["login", "password"], "one-time keys are not form fields");
}

#[tokio::test]
async fn a_module_keeps_its_id_across_restarts_and_when_another_is_added() {
    let Some(python) = woob_python() else { return };
    let folder = tempfile::tempdir().unwrap();
    for module in ["bankdpass", "bankdregions", "bankdtest"] {
        copy_dir(&Path::new(FIXTURES).join(module), &folder.path().join(module));
    }
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&data).await;
    with_modules(&mut settings, python, folder.path());
    let ids = |app: &bankd::startup::App| -> Vec<(String, i64)> {
        let mut ids: Vec<(String, i64)> =
            app.state().catalog.connectors.iter().filter_map(|c| Some((c.slug.clone()?, c.id))).collect();
        ids.sort();
        ids
    };
    let first = ids(&bankd::startup::App::build(settings.clone()).await.unwrap());
    copy_dir(&Path::new(FIXTURES).join("bankdoptions"), &folder.path().join("bankdoptions"));
    let second = ids(&bankd::startup::App::build(settings.clone()).await.unwrap());
    let before: Vec<&(String, i64)> = second.iter().filter(|(slug, _)| slug != "bankdoptions").collect();
    assert_eq!(before, first.iter().collect::<Vec<_>>(), "the same ids after a restart");
    let added = second.iter().find(|(slug, _)| slug == "bankdoptions").expect("the new module is offered");
    assert!(first.iter().all(|(_, id)| *id < added.1), "a new module gets a new id: {second:?}");
}

fn copy_dir(from: &Path, to: &PathBuf) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn the_form_is_checked_before_the_bank_is_asked() {
    let Some(app) = modules_app(|_| {}).await else { return };
    let user = app.create_user().await;
    let wrong_site =
        connect(&app, &user, "bankdregions", json!({"website": "www.nowhere.test", "login": "a", "password": "1234"}))
            .await;
    assert_error(&wrong_site, StatusCode::BAD_REQUEST, "invalidValue");
    assert!(wrong_site.1["description"].as_str().unwrap().contains("website"), "{}", wrong_site.1);
    let wrong_code = connect(&app, &user, "bankdpass", json!({"login": "a", "password": "12ab56"})).await;
    assert_error(&wrong_code, StatusCode::BAD_REQUEST, "invalidValue");
    assert!(wrong_code.1["description"].as_str().unwrap().contains("password"), "{}", wrong_code.1);
    assert_error(
        &connect(&app, &user, "bankdpass", json!({"login": "a", "password": "654321"})).await,
        StatusCode::BAD_REQUEST,
        "wrongpass",
    );

    // The module's default region when the person picks none.
    let (status, connection) = connect(&app, &user, "bankdregions", json!({"login": "a", "password": "1234"})).await;
    assert_eq!((status, &connection["state"]), (StatusCode::CREATED, &Value::Null), "{connection}");
    app.enable_accounts(&user, &connection["id"]).await;
    let (_, accounts) = app.get("/2.0/users/me/accounts", &user.token).await;
    assert!(accounts["accounts"][0]["name"].as_str().unwrap().contains("Paris"), "{accounts}");
}

#[tokio::test]
async fn a_module_asks_its_code_then_an_app_validation_and_keeps_no_answer() {
    let Some(app) = modules_app(|_| {}).await else { return };
    let user = app.create_user().await;
    let (_, asking) = connect(&app, &user, "bankd2fa", json!({"login": "otp", "password": "1234"})).await;
    assert_eq!(asking["state"], "additionalInformationNeeded", "{asking}");
    let otp = &asking["fields"][0];
    assert_eq!(
        (&otp["name"], &otp["label"], &otp["regex"]),
        (&json!("otp"), &json!("Code reçu par SMS"), &json!(r"^\d{6}$"))
    );
    let answered = app.answer(&user, &asking, json!({"otp": "482913"})).await;
    assert_eq!(answered["state"], "additionalInformationNeeded", "a wrong code is asked again: {answered}");
    let answered = app.answer(&user, &asking, json!({"otp": "123456"})).await;
    assert!(answered["state"].is_null(), "{answered}");
    assert_eq!(app.enable_accounts(&user, &answered["id"]).await.len(), 2);

    let (_, waiting) = connect(&app, &user, "bankd2fa", json!({"login": "decoupled", "password": "1234"})).await;
    assert_eq!(waiting["state"], "decoupled", "{waiting}");
    assert_eq!(waiting["error_message"], "Validez la connexion dans votre application");
    let resumed = app.answer(&user, &waiting, json!({"resume": true})).await;
    assert!(resumed["state"].is_null(), "{resumed}");

    // The one-time code went to the module, never to the database.
    if let Some(file) = app.database_url.strip_prefix("sqlite://") {
        for part in [file.to_owned(), format!("{file}-wal")] {
            let bytes = std::fs::read(&part).unwrap_or_default();
            assert!(!bytes.windows(6).any(|w| w == b"123456" || w == b"482913"), "an OTP in {part}");
        }
    }
}

#[tokio::test]
async fn one_helper_runs_a_whole_sync() {
    let _one_at_a_time = BANKDMANY.lock().await;
    let Some(app) = modules_app(|_| {}).await else { return };
    let user = app.create_user().await;
    let (_, connection) = connect(&app, &user, "bankdmany", json!({"login": "a", "password": "1234"})).await;
    assert_eq!(app.enable_accounts(&user, &connection["id"]).await.len(), 10);
    let before = counter(&app, "bankd_woob_helpers_started_total", "bankdmany").await;
    assert!(app.resync(&user, &connection["id"]).await["state"].is_null());
    let after = counter(&app, "bankd_woob_helpers_started_total", "bankdmany").await;
    assert_eq!(after - before, 1.0, "login, accounts and ten histories in one helper");
    assert_eq!(app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await.len(), 200);
}

#[tokio::test]
async fn a_hung_module_is_killed_at_its_timeout_and_frees_its_slot() {
    let _one_at_a_time = BANKDMANY.lock().await;
    let Some(app) = modules_app(|s| {
        s.woob.woob_timeout_seconds = 2;
        s.woob.woob_helpers = 1;
    })
    .await
    else {
        return;
    };
    let user = app.create_user().await;
    let (status, connection) = connect(&app, &user, "bankdmany", json!({"login": "hang", "password": "1234"})).await;
    assert_eq!((status, &connection["state"]), (StatusCode::CREATED, &Value::Null), "accounts list fine: {connection}");
    let started = std::time::Instant::now();
    let (_, accounts) = app.get("/2.0/users/me/accounts?all", &user.token).await;
    let first = format!("/2.0/users/me/accounts/{}", accounts["accounts"][0]["id"]);
    let (status, _) = app.post(&first, Some(&user.token), json!({"disabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/2.0/users/me/connections/{}", connection["id"]);
    let (_, hung) = app.get(&path, &user.token).await;
    assert_eq!(hung["state"], "websiteUnavailable", "{hung}");
    assert!(hung["error_message"].as_str().unwrap().contains("took over"), "{hung}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "killed, not waited for");
    // The only helper slot is free again.
    let (status, other) = connect(&app, &user, "bankdpass", json!({"login": "a", "password": "123456"})).await;
    assert_eq!((status, &other["state"]), (StatusCode::CREATED, &Value::Null), "{other}");
}

#[tokio::test]
async fn a_module_failing_for_most_of_its_users_is_reported() {
    let Some(app) = modules_app(|_| {}).await else { return };
    for _ in 0..3 {
        let user = app.create_user().await;
        let (_, connection) = connect(&app, &user, "bankdpass", json!({"login": "broken", "password": "123456"})).await;
        assert_eq!(connection["state"], "bug", "{connection}");
    }
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("bankd_woob_module_broken{module=\"bankdpass\"} 1"), "{text}");
    assert!(text.contains("bankd_woob_syncs_total{module=\"bankdpass\",state=\"bug\"}"), "{text}");
}

#[tokio::test]
async fn the_webview_finds_banks_by_slug_shows_their_icons_and_searches_long_lists() {
    let Some(app) = modules_app(|_| {}).await else { return };
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    browser.get(&entry(&app, "connect", &[("code", &code(&app, &user).await)])).await;
    let (_, found) = browser.get("/webview/en/banks?q=BANKDREG").await;
    assert!(found.contains("Banque Régionale (test)") && !found.contains("Banque Pass"), "{found}");
    let (_, all) = browser.get("/webview/en/banks?q=bankdpass").await;
    let icon = format!("/webview/icons/{}.png", uuid("bankdpass"));
    assert!(all.contains(&icon), "{all}");
    let png = app.http.get(app.url(&icon)).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let (_, form) = browser.get(&format!("/webview/en/banks/{}", uuid("bankdregions"))).await;
    assert!(form.contains(r#"list="l-website""#) && form.contains(r#"value="www.banque-paris.test""#), "{form}");
    assert!(form.matches("<option ").count() >= 32, "{form}");
}
