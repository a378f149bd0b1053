//! Balance history: one row per account and day, the balance as the day's last sync or import
//! left it. Written by `write_account_data!` with the account's balance, so the GDPR rule holds by
//! construction: a disabled account, whose balance is never written, has no history either.

use chrono::NaiveDate;

use super::{Bind, Conditions, Store, StoreResult};

/// Copies the account's balance as just written (`$1`) into its row of the day (`$2`): the day's
/// last write wins. Run in the transaction that wrote the balance.
pub(super) const RECORD_BALANCE: &str = "INSERT INTO account_balances (id_account, date, balance, coming, currency)
     SELECT id, $2, balance, coming, currency FROM accounts WHERE id = $1 AND balance IS NOT NULL
     ON CONFLICT (id_account, date) DO UPDATE
     SET balance = excluded.balance, coming = excluded.coming, currency = excluded.currency";

/// An account's balance at the end of a day, in 10⁻⁴ units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayBalance {
    pub date: NaiveDate,
    pub balance: i64,
    pub coming: Option<i64>,
    /// The account's currency that day.
    pub currency: Option<String>,
}

impl Store {
    /// An account's balances from `min` to `max` (both included, either open), oldest first: a
    /// range of the table's primary key.
    pub async fn balance_history(
        &self,
        id_account: i64,
        min: Option<NaiveDate>,
        max: Option<NaiveDate>,
    ) -> StoreResult<Vec<DayBalance>> {
        let mut c = Conditions::default();
        c.and("id_account = ?", [Bind::I64(id_account)]);
        if let Some(min) = min {
            c.and("date >= ?", [Bind::Date(min)]);
        }
        if let Some(max) = max {
            c.and("date <= ?", [Bind::Date(max)]);
        }
        let sql =
            format!("SELECT date, balance, coming, currency FROM account_balances WHERE {} ORDER BY date", c.sql());
        let rows: Vec<(NaiveDate, i64, Option<i64>, Option<String>)> = self.fetch_all(&sql, &c.binds).await?;
        Ok(rows
            .into_iter()
            .map(|(date, balance, coming, currency)| DayBalance { date, balance, coming, currency })
            .collect())
    }
}
