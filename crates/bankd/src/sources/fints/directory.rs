//! Where a German bank's FinTS server is: the operator imports the FinTS institute list that
//! registered products receive (`bankd catalog import-fints FILE.csv`); bankd ships no copy of it.

use async_trait::async_trait;

/// The bank codes' FinTS PIN/TAN addresses.
#[async_trait]
pub trait Directory: Send + Sync {
    /// The PIN/TAN URL of the bank with this 8-digit bank code (BLZ), if the directory lists it.
    async fn fints_url(&self, bank_code: &str) -> Result<Option<String>, String>;
}

/// A directory that lists no bank (tests, and tools that build drivers without a store).
pub struct NoDirectory;

#[async_trait]
impl Directory for NoDirectory {
    async fn fints_url(&self, _bank_code: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
}
