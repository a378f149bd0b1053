//! The operator's bank directory (`bankd catalog import-aspsps`): the banks behind PSD2 hubs, and
//! the connector id each has been given.

use std::collections::HashMap;

use super::{BeginWrite, Store, StoreResult, on_db};
use crate::directory::Aspsp;

/// Rows per INSERT of an import: 9 values each stays far below either database's limit of binds.
const INSERT_CHUNK: usize = 500;

/// The first connector id of the directory's banks is `DIRECTORY_FIRST_ID` + 1, far above the
/// catalog's and woob's.
const DIRECTORY_FIRST_ID: i64 = 1_000_000;

/// A row of `directory_banks`, in the order read.
type BankRow = (String, Option<String>, String, Option<String>, String, String);

impl Store {
    /// Makes `banks` the whole directory, in one transaction (a reader sees the old directory or
    /// the new one), and gives the new banks their connector ids. Returns how many banks are new.
    pub async fn replace_directory_banks(&self, banks: &[Aspsp]) -> StoreResult<usize> {
        let imported = super::now();
        let keys: Vec<String> = banks.iter().map(Aspsp::key).collect();
        let known_before = self.directory_connector_ids(&[]).await?;
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM directory_banks").execute(&mut *tx).await?;
            for (n, chunk) in banks.chunks(INSERT_CHUNK).enumerate() {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO directory_banks \
                     (bank_key, name, bic, country, bank_code, base_url, profile, position, imported) ",
                );
                insert.push_values(chunk.iter().enumerate(), |mut row, (i, bank)| {
                    row.push_bind(bank.key())
                        .push_bind(&bank.name)
                        .push_bind(&bank.bic)
                        .push_bind(&bank.country)
                        .push_bind(&bank.bank_code)
                        .push_bind(&bank.base_url)
                        .push_bind(&bank.profile)
                        .push_bind((n * INSERT_CHUNK + i) as i64)
                        .push_bind(imported);
                });
                insert.build().execute(&mut *tx).await?;
            }
            for key in &keys {
                sqlx::query("INSERT INTO directory_connectors (bank_key) VALUES ($1) ON CONFLICT (bank_key) DO NOTHING")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(keys.iter().filter(|key| !known_before.contains_key(*key)).count())
    }

    /// The directory's banks, in the imported file's order.
    pub async fn directory_banks(&self) -> StoreResult<Vec<Aspsp>> {
        let rows: Vec<BankRow> = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT name, bic, country, bank_code, base_url, profile FROM directory_banks ORDER BY position",
            )
            .fetch_all(pool)
            .await?
        );
        Ok(rows
            .into_iter()
            .map(|(name, bic, country, bank_code, base_url, profile)| Aspsp {
                name,
                bic,
                country,
                bank_code,
                base_url,
                profile,
            })
            .collect())
    }

    /// The connector id of every bank the directory has listed (`keys`: those to give one now if
    /// they have none), by bank key.
    pub async fn directory_connector_ids(&self, keys: &[String]) -> StoreResult<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            for key in keys {
                sqlx::query("INSERT INTO directory_connectors (bank_key) VALUES ($1) ON CONFLICT (bank_key) DO NOTHING")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            let rows = sqlx::query_as("SELECT bank_key, seq FROM directory_connectors").fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        });
        Ok(rows.into_iter().map(|(key, seq)| (key, DIRECTORY_FIRST_ID + seq)).collect())
    }
}
