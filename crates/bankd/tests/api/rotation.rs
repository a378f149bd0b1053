//! `bankd rotate-key`: every sealed secret moves to a new master key while the server runs, a
//! rotation killed half way is finished by running it again, and afterwards the old key opens nothing.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bankd::crypto::{MasterKey, random_key};
use bankd::store::sealed::sealed_columns;
use bankd::store::{Db, on_db};

use crate::helpers::{TestApp, TestUser};
use crate::webhooks::auth_provider;

/// `bankd rotate-key` on the app's data dir and database. Run without blocking: the server under
/// test runs on this test's one thread, and a blocked thread would freeze it mid-transaction.
fn rotate_key(app: &TestApp, new_key_file: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bankd"));
    command
        .args(["rotate-key", "--new-key-file"])
        .arg(new_key_file)
        .env("BANKD_DATA_DIR", app.data_dir())
        .env("BANKD_DATABASE_URL", &app.database_url)
        .env_remove("BANKD_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Every sealed value in the database, with the AAD it was sealed for, from the store's register.
async fn sealed_values(app: &TestApp) -> Vec<(Vec<u8>, String)> {
    let mut values = Vec::new();
    for (table, column, aad_id, aad) in sealed_columns() {
        let query = format!("SELECT {aad_id}, {column} FROM {table} WHERE {column} IS NOT NULL");
        let rows: Vec<(i64, Vec<u8>)> =
            on_db!(&app.store.db, pool => sqlx::query_as(&query).fetch_all(pool).await.unwrap());
        values.extend(rows.into_iter().map(|(id, sealed)| (sealed, aad(id))));
    }
    values
}

/// The register lists every column of bytes the schema has, but the hashes: a sealed column it
/// missed would keep the old key through a rotation, and then open with none.
async fn assert_the_register_covers_every_byte_column(app: &TestApp) {
    let query = match app.store.db {
        Db::Sqlite(_) => {
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
                          WHERE m.type = 'table' AND p.type = 'BLOB'"
        }
        Db::Pg(_) => {
            "SELECT table_name::text, column_name::text FROM information_schema.columns
                      WHERE table_schema = current_schema() AND data_type = 'bytea'"
        }
    };
    let columns: Vec<(String, String)> =
        on_db!(&app.store.db, pool => sqlx::query_as(query).fetch_all(pool).await.unwrap());
    // sqlx's own migration checksums are no secret.
    let columns: Vec<_> = columns.into_iter().filter(|(table, _)| table != "_sqlx_migrations").collect();
    let registered: Vec<(&str, &str)> = sealed_columns().map(|(table, column, ..)| (table, column)).collect();
    for (table, column) in &columns {
        let listed = registered.contains(&(table.as_str(), column.as_str()));
        assert!(listed || column.contains("hash"), "{table}.{column} holds bytes but is not in store::sealed");
    }
    assert_eq!(columns.iter().filter(|(_, c)| !c.contains("hash")).count(), registered.len());
}

async fn assert_syncs(app: &TestApp, user: &TestUser, connection: &serde_json::Value) {
    let synced = app.resync(user, &connection["id"]).await;
    assert_eq!(synced["state"], serde_json::Value::Null, "{synced}");
}

#[tokio::test]
async fn a_rotation_killed_half_way_is_resumed_and_the_old_key_then_opens_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    auth_provider(&app).await;
    let old_key = MasterKey::from_base64(&std::fs::read_to_string(app.data_dir().join("master.key")).unwrap()).unwrap();
    let new_text = random_key();
    let new_key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(new_key_file.path(), &new_text).unwrap();

    // Killed once it has begun: the next key is there, the values are still under the old key.
    let mut first = rotate_key(&app, new_key_file.path()).spawn().unwrap();
    let next = app.data_dir().join("master.key.next");
    while !next.exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill().await.unwrap();
    assert_syncs(&app, &user, &connection).await;

    let output = rotate_key(&app, new_key_file.path()).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!next.exists());
    assert_eq!(std::fs::read_to_string(app.data_dir().join("master.key")).unwrap(), new_text);

    // The server, never restarted, follows: it opens what was resealed and seals anew with the new key.
    assert_syncs(&app, &user, &connection).await;
    app.connected(&user, "demo").await;
    let new_key = MasterKey::from_base64(&new_text).unwrap();
    assert_the_register_covers_every_byte_column(&app).await;
    let values = sealed_values(&app).await;
    assert!(values.len() >= 5, "credentials, sessions and a webhook secret at least: {}", values.len());
    for (sealed, aad) in &values {
        assert!(old_key.open(sealed, aad).is_err(), "{aad} still opens with the old key");
        assert!(new_key.open(sealed, aad).is_ok(), "{aad} does not open with the new key");
    }

    // A rotation to the key in place is refused, and says why.
    let again = rotate_key(&app, new_key_file.path()).output().await.unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("the master key already"));
}
