//! The `fints` driver: German banks' own online-banking protocol, FinTS 3.0 with PIN/TAN security,
//! spoken natively (the message codec is the `fints` crate).

pub mod directory;

use std::sync::Arc;

pub use directory::Directory;

/// What every FinTS source of this process shares: the product registration that banks require
/// and the operator's directory of banks.
#[derive(Clone)]
pub struct FintsRuntime {
    /// The product id the FinTS office registered for whoever operates this bankd
    /// (`BANKD_FINTS_PRODUCT_ID`); `None`: FinTS connectors are not offered.
    pub product_id: Option<String>,
    /// The bank codes' FinTS addresses, imported by the operator (`bankd catalog import-fints`).
    pub directory: Arc<dyn Directory>,
}
