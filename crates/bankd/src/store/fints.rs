//! The operator's FinTS bank directory: the institute list `bankd catalog import-fints` imported,
//! which tells the `fints` driver where a bank code's PIN/TAN server is.

use async_trait::async_trait;

use super::{BeginWrite, Store, StoreResult, on_db};
use crate::sources::fints::directory::{Directory, Institute};

/// Rows per INSERT of an import: 7 values each stays far below either database's limit of binds.
const INSERT_CHUNK: usize = 500;

/// A row of `fints_institutes`, in column order.
type InstituteRow = (String, Option<String>, String, Option<String>, String, Option<String>);

impl Store {
    /// Makes `institutes` the whole directory, in one transaction: banks missing from the new list
    /// go away, and a reader sees the old directory or the new one, never half of each.
    pub async fn replace_fints_institutes(&self, institutes: &[Institute]) -> StoreResult<()> {
        let imported = super::now();
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM fints_institutes").execute(&mut *tx).await?;
            for chunk in institutes.chunks(INSERT_CHUNK) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO fints_institutes (bank_code, bic, name, city, pintan_url, fints_version, imported) ",
                );
                insert.push_values(chunk, |mut row, i| {
                    row.push_bind(&i.bank_code)
                        .push_bind(&i.bic)
                        .push_bind(&i.name)
                        .push_bind(&i.city)
                        .push_bind(&i.pintan_url)
                        .push_bind(&i.fints_version)
                        .push_bind(imported);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// How many banks the directory lists.
    pub async fn fints_institute_count(&self) -> StoreResult<i64> {
        Ok(on_db!(&self.db, pool =>
            sqlx::query_scalar("SELECT COUNT(*) FROM fints_institutes").fetch_one(pool).await?))
    }

    /// The bank with this bank code, if the directory lists it.
    pub async fn fints_institute(&self, bank_code: &str) -> StoreResult<Option<Institute>> {
        let row: Option<InstituteRow> = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT bank_code, bic, name, city, pintan_url, fints_version FROM fints_institutes WHERE bank_code = $1",
            )
            .bind(bank_code)
            .fetch_optional(pool)
            .await?
        );
        Ok(row.map(|(bank_code, bic, name, city, pintan_url, fints_version)| Institute {
            bank_code,
            bic,
            name,
            city,
            pintan_url,
            fints_version,
        }))
    }
}

/// The store is the directory the `fints` driver asks.
#[async_trait]
impl Directory for Store {
    async fn fints_url(&self, bank_code: &str) -> Result<Option<String>, String> {
        let institute =
            self.fints_institute(bank_code).await.map_err(|e| format!("reading the FinTS directory: {e}"))?;
        Ok(institute.map(|i| i.pintan_url))
    }
}
