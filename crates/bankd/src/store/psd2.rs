//! bankd's registrations with PSD2 banks (`bankd psd2 register`), by catalog source id: the client
//! id in the clear, the client secret and the registration's access token and URI sealed.

use std::sync::Arc;

use async_trait::async_trait;

use super::sealed::psd2_registration_aad;
use super::{Store, StoreError, StoreResult, now, on_db};
use crate::crypto::MasterKey;
use crate::sources::psd2::registration::{Registration, RegistrationSecret, Registrations};

impl Store {
    /// Stores the registration of catalog source `source`, replacing the one before (an update).
    pub async fn save_psd2_registration(
        &self,
        source: i64,
        registration: &Registration,
        key: &MasterKey,
    ) -> StoreResult<()> {
        let secret = serde_json::to_vec(&registration.secret).map_err(|e| StoreError::Sealed(e.to_string()))?;
        let sealed = key.seal(&secret, &psd2_registration_aad(source));
        let at = now();
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO psd2_registrations (id, client_id, secret, registered, updated) VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (id) DO UPDATE SET client_id = excluded.client_id, secret = excluded.secret,
                 updated = excluded.updated",
            )
            .bind(source)
            .bind(&registration.client_id)
            .bind(sealed)
            .bind(at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The catalog sources bankd holds a registration for (nothing opened: `bankd doctor` needs no key).
    pub async fn psd2_registered_sources(&self) -> StoreResult<Vec<i64>> {
        Ok(on_db!(&self.db, pool =>
            sqlx::query_scalar("SELECT id FROM psd2_registrations ORDER BY id").fetch_all(pool).await?))
    }

    /// The registration of catalog source `source`, opened.
    pub async fn psd2_registration(&self, source: i64, key: &MasterKey) -> StoreResult<Option<Registration>> {
        let row: Option<(String, Vec<u8>)> = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT client_id, secret FROM psd2_registrations WHERE id = $1")
                .bind(source)
                .fetch_optional(pool)
                .await?
        );
        let Some((client_id, sealed)) = row else { return Ok(None) };
        let place = || format!("the registration of catalog source {source}");
        let opened = key
            .open(&sealed, &psd2_registration_aad(source))
            .map_err(|e| StoreError::Sealed(format!("{}: {e}", place())))?;
        let secret: RegistrationSecret =
            serde_json::from_slice(&opened).map_err(|e| StoreError::Sealed(format!("{}: {e}", place())))?;
        Ok(Some(Registration { client_id, secret }))
    }
}

/// The stored registrations, opened with the master key, as the drivers read them.
pub struct SealedRegistrations {
    pub store: Store,
    pub key: Arc<MasterKey>,
}

#[async_trait]
impl Registrations for SealedRegistrations {
    async fn registration(&self, source: i64) -> Result<Option<Registration>, String> {
        self.store.psd2_registration(source, &self.key).await.map_err(|e| format!("reading bankd's registration: {e}"))
    }
}
