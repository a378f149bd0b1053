//! `bankd psd2 register`: bankd registers as an AISP with a STET bank's authorization server
//! (RFC 7591), or updates that registration after a certificate rotation (RFC 7592), and keeps
//! what the bank returned for the `stet` driver.

use anyhow::Context;

use crate::catalog::{ApiSettings, Catalog};
use crate::crypto::MasterKey;
use crate::sources::Timeouts;
use crate::sources::psd2::registration::{self, Registration};
use crate::store::Store;

/// Registers bankd, whose base URL is `own_url`, for the catalog source `source` (`update`:
/// updates the stored registration); returns the registration. Refuses a source that is not a
/// STET API with a `registration_url`, a second registration (which would leave the first one
/// live at the bank) and an update of none.
pub async fn register(
    catalog: &Catalog,
    store: &Store,
    key: &MasterKey,
    own_url: &str,
    timeouts: Timeouts,
    source: i64,
    update: bool,
) -> anyhow::Result<Registration> {
    let api = registrable(catalog, source)?;
    let previous = store.psd2_registration(source, key).await?;
    match (&previous, update) {
        (Some(previous), false) => anyhow::bail!(
            "bankd is already registered with this bank (client_id {}): use --update to register the new \
             certificate or settings",
            previous.client_id
        ),
        (None, true) => anyhow::bail!("bankd is not registered with this bank yet: run without --update first"),
        _ => {}
    }
    // The PSU comes back from the bank's authorization page to bankd's webauth callback.
    let callback = format!("{}/2.0/webauth/callback", own_url.trim_end_matches('/'));
    let registered = registration::register(api, own_url, timeouts, &callback, previous.as_ref())
        .await
        .with_context(|| format!("registering with catalog source {source}"))?;
    store.save_psd2_registration(source, &registered, key).await?;
    Ok(registered)
}

/// The API settings of a STET source that can be registered.
fn registrable(catalog: &Catalog, source: i64) -> anyhow::Result<&ApiSettings> {
    let found = catalog.connectors.iter().find_map(|c| c.source(source).map(|s| (c, s)));
    let (connector, found) = found.with_context(|| format!("the catalog has no source {source}"))?;
    let name = &connector.name;
    anyhow::ensure!(
        found.driver == "stet",
        "source {source} of {name} uses the {} driver: only STET banks (driver stet) register this way",
        found.driver
    );
    let api = found.api.as_ref().with_context(|| format!("source {source} of {name} has no [connector.source.api]"))?;
    anyhow::ensure!(
        api.registration_url.is_some(),
        "source {source} of {name} has no registration_url: the catalog must name the bank's registration endpoint"
    );
    Ok(api)
}
