//! Sandbox Bank (stub, being written).
use super::*;

pub struct SandboxBank;

impl SandboxBank {
    pub fn new(_public_url: &str) -> SandboxBank {
        SandboxBank
    }
}

#[async_trait]
impl Source for SandboxBank {
    async fn login(&self, _: &SourceRequest, _: &mut SourceSession) -> SourceResult<()> {
        Err(SourceError::NotSupported("sandbox".into()))
    }
    async fn accounts(&self, _: &SourceRequest, _: &mut SourceSession) -> SourceResult<Vec<BankAccount>> {
        Err(SourceError::NotSupported("sandbox".into()))
    }
    async fn transactions(
        &self,
        _: &SourceRequest,
        _: &mut SourceSession,
        _: &str,
        _: Option<NaiveDate>,
    ) -> SourceResult<Vec<BankTransaction>> {
        Err(SourceError::NotSupported("sandbox".into()))
    }
}
