//! Every sealed column in one register: the names of their values' AADs, and the re-sealing a
//! master key rotation runs over all of them. A new sealed column that is not listed here would keep
//! its old key through a rotation, and then open with none: list it.

use crate::crypto::MasterKey;

use super::{Store, StoreError, StoreResult, on_db};

/// A column of sealed values, and the column whose id each value's AAD names.
struct SealedColumn {
    table: &'static str,
    column: &'static str,
    aad_id: &'static str,
    aad: fn(i64) -> String,
}

const SEALED_COLUMNS: [SealedColumn; 5] = [
    SealedColumn { table: "connections", column: "credentials", aad_id: "id", aad: credentials_aad },
    SealedColumn { table: "connection_sources", column: "session", aad_id: "id", aad: session_aad },
    SealedColumn { table: "jobs", column: "payload", aad_id: "id_connection", aad: job_payload_aad },
    SealedColumn { table: "webhook_auths", column: "secret", aad_id: "id", aad: webhook_secret_aad },
    SealedColumn { table: "psd2_registrations", column: "secret", aad_id: "id", aad: psd2_registration_aad },
];

/// Every sealed column as (table, column, the column its AAD's id comes from, the AAD), for checks
/// that must cover them all.
pub fn sealed_columns() -> impl Iterator<Item = (&'static str, &'static str, &'static str, fn(i64) -> String)> {
    SEALED_COLUMNS.iter().map(|c| (c.table, c.column, c.aad_id, c.aad))
}

/// Rows read at a time: a rotation holds no write lock between pages, so syncs go on beside it.
const PAGE: i64 = 500;

pub fn credentials_aad(id_connection: i64) -> String {
    format!("connections/{id_connection}/credentials")
}

pub fn session_aad(id_source: i64) -> String {
    format!("connection_sources/{id_source}/session")
}

pub fn job_payload_aad(id_connection: i64) -> String {
    format!("jobs/sync/{id_connection}")
}

pub fn webhook_secret_aad(id: i64) -> String {
    format!("webhook_auth:{id}")
}

pub fn psd2_registration_aad(id_source: i64) -> String {
    format!("psd2_registrations/{id_source}/secret")
}

/// What one pass over every sealed value did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Values sealed again under the sealing key.
    pub resealed: u64,
    /// Values that already were.
    pub current: u64,
    /// Values rewritten or deleted by someone else while this pass held them: the next pass looks again.
    pub moved: u64,
}

impl Resealed {
    /// Nothing left under another key, as far as this pass saw.
    pub fn is_complete(&self) -> bool {
        self.resealed == 0 && self.moved == 0
    }
}

type SealedRow = (i64, Option<i64>, Vec<u8>);

impl Store {
    /// Seals every sealed value again under `key`'s sealing key, leaving those already under it:
    /// a rotation killed half way is resumed by running it again. Each row is written with a
    /// compare-and-set, so a value a running server rewrote meanwhile is not overwritten.
    pub async fn reseal_all(&self, key: &MasterKey) -> StoreResult<Resealed> {
        let mut pass = Resealed::default();
        for sealed in &SEALED_COLUMNS {
            let mut after = 0;
            loop {
                let page = self.sealed_page(sealed, after).await?;
                let Some(&(last, _, _)) = page.last() else { break };
                for (id, aad_id, value) in page {
                    let aad = (sealed.aad)(aad_id.unwrap_or_default());
                    let place = || format!("{}.{} of row {id}", sealed.table, sealed.column);
                    match key.reseal(&value, &aad).map_err(|e| StoreError::Sealed(format!("{}: {e}", place())))? {
                        None => pass.current += 1,
                        Some(new) if self.swap_sealed(sealed, id, &value, &new).await? => pass.resealed += 1,
                        Some(_) => pass.moved += 1,
                    }
                }
                after = last;
            }
        }
        Ok(pass)
    }

    async fn sealed_page(&self, sealed: &SealedColumn, after: i64) -> StoreResult<Vec<SealedRow>> {
        let SealedColumn { table, column, aad_id, .. } = sealed;
        // The names come from the register above, never from input.
        let query = format!(
            "SELECT id, {aad_id}, {column} FROM {table} WHERE {column} IS NOT NULL AND id > $1 ORDER BY id LIMIT $2"
        );
        Ok(on_db!(&self.db, pool =>
            sqlx::query_as(&query).bind(after).bind(PAGE).fetch_all(pool).await?
        ))
    }

    /// Writes `new` where `old` still is; `false` when the row moved on or went.
    async fn swap_sealed(&self, sealed: &SealedColumn, id: i64, old: &[u8], new: &[u8]) -> StoreResult<bool> {
        let SealedColumn { table, column, .. } = sealed;
        let query = format!("UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} = $3");
        let done = on_db!(&self.db, pool =>
            sqlx::query(&query).bind(new).bind(id).bind(old).execute(pool).await?.rows_affected()
        );
        Ok(done == 1)
    }
}
