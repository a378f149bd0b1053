//! Credentials are sealed at rest and never leave bankd: not in responses, not in logs.

use bankd::store::on_db;

use crate::helpers::TestApp;

#[tokio::test]
async fn stored_credentials_do_not_contain_the_password() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let id = connection["id"].as_i64().unwrap();
    let (sealed,): (Option<Vec<u8>>,) = on_db!(&app.store.db, pool =>
        sqlx::query_as("SELECT credentials FROM connections WHERE id = $1").bind(id).fetch_one(pool).await.unwrap()
    );
    let sealed = sealed.expect("credentials are stored");
    for secret in [&b"1234"[..], b"demo", b"password"] {
        assert!(
            !sealed.windows(secret.len()).any(|w| w == secret),
            "{:?} in the sealed bytes",
            String::from_utf8_lossy(secret)
        );
    }
}
