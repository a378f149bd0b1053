//! Transactions: applying a sync's reconciled changes in bulk, listing with Powens' filters and
//! keyset pagination, and the user's edits.

use chrono::{DateTime, NaiveDate, Utc};

use super::accounts::AccountData;
use super::jobs::{Lease, hold_lease};
use super::outbox::{Event, EventScope, emit};
use super::rows::{TRANSACTION_COLUMNS, Transaction};
use super::{BeginWrite, Bind, Conditions, Db, Store, StoreError, StoreResult, bind_all, now, on_db};
use crate::domain::bank::{BankTransaction, Counterparty, simplify_wording};
use crate::domain::money::{MoneyError, to_units};
use crate::domain::reconcile::{Change, Stored};

/// Rows per insert (see [`InsertRows`]): bounds the text held in memory at once.
pub(super) const INSERT_BATCH: usize = 10_000;

/// Which transactions a listing covers, and how they are paged.
///
/// Scope, date bounds and hiding deleted rows are what `transaction_days` counts: a listing with no
/// other filter reads its `total`, bounds and deep offsets from there, in time that does not grow
/// with the number of transactions. Any other filter (`extra`) makes it count the rows it covers.
#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    pub id_user: i64,
    pub id_account: Option<i64>,
    pub id_connection: Option<i64>,
    /// Which date `min_date` and `max_date` bound.
    pub date_column: DateColumn,
    pub min_date: Option<NaiveDate>,
    pub max_date: Option<NaiveDate>,
    pub deleted: DeletedRows,
    /// Conditions on columns of `transactions` that the day counts do not know.
    pub extra: Conditions,
    /// Keyset cursor: rows strictly after this (date, id) in the listing order.
    pub after: Option<(NaiveDate, i64)>,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DateColumn {
    #[default]
    ApplicationDate,
    Date,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeletedRows {
    #[default]
    Hidden,
    Only,
    Included,
}

impl TransactionFilter {
    /// The conditions that both `transactions` and `transaction_days` can answer (same columns).
    fn counted_conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        c.and("id_user = ?", [Bind::I64(self.id_user)]);
        if let Some(id) = self.id_account {
            c.and("id_account = ?", [Bind::I64(id)]);
        }
        if let Some(id) = self.id_connection {
            c.and("id_connection = ?", [Bind::I64(id)]);
        }
        let column = match self.date_column {
            DateColumn::ApplicationDate => "application_date",
            DateColumn::Date => "date",
        };
        if let Some(min) = self.min_date {
            c.and(&format!("{column} >= ?"), [Bind::Date(min)]);
        }
        if let Some(max) = self.max_date {
            c.and(&format!("{column} <= ?"), [Bind::Date(max)]);
        }
        c
    }

    /// Every condition on the rows.
    fn row_conditions(&self) -> Conditions {
        let mut c = self.counted_conditions();
        match self.deleted {
            DeletedRows::Hidden => _ = c.and("deleted IS NULL", []),
            DeletedRows::Only => _ = c.and("deleted IS NOT NULL", []),
            DeletedRows::Included => {}
        }
        c.and_all(&self.extra);
        c
    }

    /// Whether `transaction_days` counts exactly the rows of this listing.
    fn is_counted(&self) -> bool {
        self.deleted == DeletedRows::Hidden && self.extra.is_empty()
    }
}

/// Days `[from, until)`, either bound open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateWindow {
    pub from: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

/// An account's booked transactions in a window (see [`Store::booked_sums`]), in 10⁻⁴ units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookedSums {
    pub within: i64,
    pub after: i64,
    /// The first booked date in the window, and the last.
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
}

/// A page of a listing and the facts about its whole scope.
#[derive(Debug, Clone)]
pub struct TransactionPage {
    pub rows: Vec<Transaction>,
    pub total: i64,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
}

/// A user's edit of a transaction (`None`: leave as is).
#[derive(Debug, Clone, Default)]
pub struct TransactionEdit {
    pub wording: Option<String>,
    pub comment: Option<String>,
    pub active: Option<bool>,
    pub application_date: Option<NaiveDate>,
}

/// Where a sync's transactions go.
#[derive(Debug, Clone, Copy)]
pub struct AccountRef {
    pub id: i64,
    pub id_user: i64,
    pub id_connection: i64,
}

/// Reconciled changes, ready to bind.
pub(super) struct SplitChanges {
    pub(super) inserts: Vec<Row>,
    pub(super) updates: Vec<(i64, Row)>,
    pub(super) deletes: Vec<i64>,
}

impl SplitChanges {
    pub(super) fn new(changes: &[Change]) -> StoreResult<SplitChanges> {
        let mut split = SplitChanges { inserts: Vec::new(), updates: Vec::new(), deletes: Vec::new() };
        for change in changes {
            match change {
                Change::Insert(t) => split.inserts.push(Row::new(t)?),
                Change::Update { id, with } => split.updates.push((*id, Row::new(with)?)),
                Change::Delete { id } => split.deletes.push(*id),
            }
        }
        Ok(split)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.inserts.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

// The writes below are macros, as `on_db!` gives each backend its own transaction type: a sync
// writes one account per database transaction, an import all of a file's accounts in one.

/// Sets an account's balances and identifiers as its source last gave them, and records the
/// balance as the day's in its history, inside the open database transaction `$tx`.
macro_rules! write_account_data {
    ($tx:ident, $id_account:expr, $data:expr, $at:expr) => {{
        let (id, data, at): (i64, &$crate::store::accounts::AccountData, chrono::DateTime<chrono::Utc>) =
            ($id_account, $data, $at);
        sqlx::query(
            "UPDATE accounts SET balance = $1, coming = $2, number = $3, iban = $4, bic = $5, last_update = $6,
                    error = NULL
             WHERE id = $7",
        )
        .bind(data.balance)
        .bind(data.coming)
        .bind(&data.number)
        .bind(&data.iban)
        .bind(&data.bic)
        .bind(at)
        .bind(id)
        .execute(&mut *$tx)
        .await?;
        sqlx::query($crate::store::balances::RECORD_BALANCE).bind(id).bind(at.date_naive()).execute(&mut *$tx).await?;
    }};
}
pub(super) use write_account_data;

/// Writes an account's reconciled transaction changes inside `$tx`: inserts [`INSERT_BATCH`] rows
/// at a time ([`InsertRows`]), updates and (soft) deletes one by one. The day counts are left to
/// [`recount_days!`], once the account's last changes are written.
macro_rules! write_changes {
    ($tx:ident, $account:expr, $split:expr, $at:expr) => {{
        use $crate::store::transactions::{INSERT_BATCH, InsertRows};
        let (account, split, at) = (&$account, &$split, $at);
        for batch in split.inserts.chunks(INSERT_BATCH) {
            (&mut *$tx).insert_rows(*account, at, batch).await?;
        }
        for (id, row) in &split.updates {
            sqlx::query(
                "UPDATE transactions SET webid = $1, date = $2, rdate = $3, vdate = $4, value = $5, type = $6,
                        original_wording = $7, simplified_wording = $8, coming = $9, card = $10,
                        counterparty = $11, deleted = NULL, last_update = $12
                 WHERE id = $13 AND id_account = $14",
            )
            .bind(&row.webid)
            .bind(row.date)
            .bind(row.rdate)
            .bind(row.vdate)
            .bind(row.value)
            .bind(row.kind)
            .bind(&row.original_wording)
            .bind(&row.simplified_wording)
            .bind(row.coming)
            .bind(&row.card)
            .bind(&row.counterparty)
            .bind(at)
            .bind(id)
            .bind(account.id)
            .execute(&mut *$tx)
            .await?;
        }
        for id in &split.deletes {
            sqlx::query("UPDATE transactions SET deleted = $1, last_update = $1 WHERE id = $2 AND id_account = $3")
                .bind(at)
                .bind(id)
                .bind(account.id)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(super) use write_changes;

/// Rewrites an account's day counts inside `$tx` (see [`RECOUNT_DAYS`]).
macro_rules! recount_days {
    ($tx:ident, $id_account:expr) => {{
        for sql in $crate::store::transactions::RECOUNT_DAYS {
            sqlx::query(sql).bind($id_account).execute(&mut *$tx).await?;
        }
    }};
}
pub(super) use recount_days;

impl Store {
    /// The rows a re-sync from `since` may touch: those dated from `since`, plus every pending one.
    pub async fn transactions_to_reconcile(
        &self,
        id_account: i64,
        since: Option<NaiveDate>,
    ) -> StoreResult<Vec<Stored>> {
        let sql = format!(
            "SELECT {TRANSACTION_COLUMNS} FROM transactions
             WHERE id_account = $1 AND ($2 IS NULL OR date >= $2 OR coming) ORDER BY id"
        );
        let rows: Vec<Transaction> =
            on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id_account).bind(since).fetch_all(pool).await?);
        Ok(rows.iter().map(Transaction::to_stored).collect())
    }

    /// The first date to ask the bank from for an account already synced: a margin before the last
    /// known transaction (banks book late), and never after the oldest pending one.
    pub async fn resync_since(&self, id_account: i64, margin_days: i64) -> StoreResult<Option<NaiveDate>> {
        let (latest, oldest_pending): (Option<NaiveDate>, Option<NaiveDate>) = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT (SELECT MAX(date) FROM transactions WHERE id_account = $1 AND NOT coming),
                        (SELECT MIN(date) FROM transactions WHERE id_account = $1 AND coming AND deleted IS NULL)",
            )
            .bind(id_account)
            .fetch_one(pool)
            .await?
        );
        let from_latest = latest.map(|d| d - chrono::Duration::days(margin_days));
        Ok(match (from_latest, oldest_pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Writes one account's sync result — its balances and every reconciled change — in one
    /// transaction: a crash leaves the account as it was before, never half-written.
    pub async fn apply_account_sync(
        &self,
        account: AccountRef,
        data: &AccountData,
        changes: &[Change],
        lease: Option<&Lease>,
    ) -> StoreResult<usize> {
        let at = now();
        let split = SplitChanges::new(changes)?;
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            hold_lease!(tx, lease);
            write_account_data!(tx, account.id, data, at);
            write_changes!(tx, account, split, at);
            if !split.is_empty() {
                recount_days!(tx, account.id);
            }
            let synced = EventScope::account(Event::AccountSynced, account.id_user, account.id_connection, account.id);
            emit!(tx, &synced.since(at));
            tx.commit().await?;
        });
        Ok(changes.len())
    }

    /// A page of transactions in Powens' order (date, then id, both descending).
    pub async fn list_transactions(&self, filter: &TransactionFilter) -> StoreResult<TransactionPage> {
        let (sql, binds) = summary_query(filter);
        let (total, first_date, last_date): (i64, Option<NaiveDate>, Option<NaiveDate>) =
            self.fetch_all(&sql, &binds.binds).await?.into_iter().next().ok_or(StoreError::NotFound)?;
        let empty = || Ok(TransactionPage { rows: Vec::new(), total, first_date, last_date });
        if total == 0 {
            return empty();
        }
        let mut start = PageStart { bounds: first_date.zip(last_date), before: None, offset: filter.offset };
        if filter.after.is_none() && filter.is_counted() && filter.offset > 0 {
            // Skip whole days by their counts; only the rows of the starting day are stepped over.
            let (sql, binds) = days_query(filter);
            let days: Vec<(NaiveDate, i64)> = self.fetch_all(&sql, &binds.binds).await?;
            let Some((date, within)) = offset_in_days(&days, filter.offset) else { return empty() };
            (start.before, start.offset) = (Some(date), within);
        }
        let (sql, binds) = page_query(filter, &start);
        let rows: Vec<Transaction> = self.fetch_all(&sql, &binds.binds).await?;
        Ok(TransactionPage { rows, total, first_date, last_date })
    }

    /// Rewrites an account's day counts from its rows (for bulk loads that bypass the sync).
    pub async fn recount_days(&self, id_account: i64) -> StoreResult<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            recount_days!(tx, id_account);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The plan of every query a listing with this filter runs (SQLite's `EXPLAIN QUERY PLAN`,
    /// PostgreSQL's `EXPLAIN` with sequential scans priced out, so that it shows whether an index
    /// can serve the query at all): (query, plan).
    pub async fn explain_listing(&self, filter: &TransactionFilter) -> StoreResult<Vec<(String, String)>> {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        let start = PageStart { bounds: Some((day, day)), before: Some(day), offset: filter.offset };
        let mut plans = Vec::new();
        for (sql, binds) in [summary_query(filter), days_query(filter), page_query(filter, &start)] {
            let plan: Vec<String> = match &self.db {
                Db::Sqlite(pool) => {
                    let explain = format!("EXPLAIN QUERY PLAN {sql}");
                    let rows: Vec<(i64, i64, i64, String)> =
                        bind_all!(sqlx::query_as(&explain), &binds.binds).fetch_all(pool).await?;
                    rows.into_iter().map(|row| row.3).collect()
                }
                Db::Pg(pool) => {
                    // SET LOCAL: the setting ends with this transaction, whatever happens to it.
                    let mut tx = pool.begin().await?;
                    sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await?;
                    let explain = format!("EXPLAIN {sql}");
                    let rows: Vec<(String,)> =
                        bind_all!(sqlx::query_as(&explain), &binds.binds).fetch_all(&mut *tx).await?;
                    tx.rollback().await?;
                    rows.into_iter().map(|row| row.0).collect()
                }
            };
            plans.push((sql, plan.join("\n")));
        }
        Ok(plans)
    }

    /// A page of an account's live transactions dated in `window`, booked ones and, with `pending`,
    /// pending ones, oldest first, after the row `after` (a `(date, id)` cursor): the readers that
    /// go through a whole history a page at a time (exports, SimpleFIN). The `(id_account, date)`
    /// index serves it.
    pub async fn transactions_between(
        &self,
        id_account: i64,
        window: &DateWindow,
        pending: bool,
        after: Option<(NaiveDate, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<Transaction>> {
        let sql = format!(
            "SELECT {TRANSACTION_COLUMNS} FROM transactions
             WHERE id_account = $1 AND deleted IS NULL AND ($2 IS NULL OR date >= $2) AND ($3 IS NULL OR date < $3)
               AND ($4 OR NOT coming) AND (date, id) > ($5, $6)
             ORDER BY date, id LIMIT $7"
        );
        // A row-value comparison the `(id_account, date, id)` index can seek to; from the start, a
        // cursor before every row (year 1: PostgreSQL's dates do not reach chrono's minimum).
        let before_all = NaiveDate::from_ymd_opt(1, 1, 1).expect("a valid date");
        let (after_date, after_id) = after.unwrap_or((before_all, 0));
        Ok(on_db!(&self.db, pool =>
            sqlx::query_as(&sql)
                .bind(id_account)
                .bind(window.from)
                .bind(window.until)
                .bind(pending)
                .bind(after_date)
                .bind(after_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
        ))
    }

    /// The booked sums of an account around `window`: what the window holds, and what came after
    /// it, so a statement can state its opening and closing balances from the account's current one.
    pub async fn booked_sums(&self, id_account: i64, window: &DateWindow) -> StoreResult<BookedSums> {
        let row: (Option<i64>, Option<i64>, Option<NaiveDate>, Option<NaiveDate>) = on_db!(&self.db, pool =>
            sqlx::query_as(
                // PostgreSQL sums BIGINTs as NUMERIC: cast back.
                "SELECT CAST(SUM(CASE WHEN $3 IS NULL OR date < $3 THEN value ELSE 0 END) AS BIGINT),
                        CAST(SUM(CASE WHEN $3 IS NOT NULL AND date >= $3 THEN value ELSE 0 END) AS BIGINT),
                        MIN(date), MAX(CASE WHEN $3 IS NULL OR date < $3 THEN date END)
                 FROM transactions WHERE id_account = $1 AND deleted IS NULL AND NOT coming AND ($2 IS NULL OR date >= $2)",
            )
            .bind(id_account)
            .bind(window.from)
            .bind(window.until)
            .fetch_one(pool)
            .await?
        );
        Ok(BookedSums { within: row.0.unwrap_or(0), after: row.1.unwrap_or(0), first: row.2, last: row.3 })
    }

    pub async fn transaction(&self, id_user: i64, id: i64) -> StoreResult<Option<Transaction>> {
        let sql = format!("SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = $1 AND id_user = $2");
        let row = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id).bind(id_user).fetch_optional(pool).await?);
        Ok(row)
    }

    pub async fn edit_transaction(&self, id: i64, edit: &TransactionEdit) -> StoreResult<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let (id_account,): (i64,) = sqlx::query_as(
                "UPDATE transactions SET wording = COALESCE($1, wording), comment = COALESCE($2, comment),
                        active = COALESCE($3, active), application_date = COALESCE($4, application_date),
                        last_update = $5
                 WHERE id = $6 RETURNING id_account",
            )
            .bind(&edit.wording)
            .bind(&edit.comment)
            .bind(edit.active)
            .bind(edit.application_date)
            .bind(now())
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            // The day counts are per application date too.
            if edit.application_date.is_some() {
                recount_days!(tx, id_account);
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Where a page starts in its listing.
struct PageStart {
    /// The first and last dates of the listing's scope, when known.
    bounds: Option<(NaiveDate, NaiveDate)>,
    /// Rows dated after this are skipped (a deep offset's starting day).
    before: Option<NaiveDate>,
    offset: i64,
}

/// `total`, `first_date`, `last_date` of a listing's whole scope: from the accounts' totals or the
/// day counts when they cover the filter, else from the rows.
fn summary_query(filter: &TransactionFilter) -> (String, Conditions) {
    let sum = "CAST(COALESCE(SUM(n), 0) AS BIGINT)";
    let (columns, table, conditions) = match (filter.is_counted(), filter.min_date.or(filter.max_date)) {
        (true, None) => {
            (format!("{sum}, MIN(first_date), MAX(last_date)"), "transaction_totals", filter.counted_conditions())
        }
        (true, Some(_)) => (format!("{sum}, MIN(date), MAX(date)"), "transaction_days", filter.counted_conditions()),
        (false, _) => ("COUNT(*), MIN(date), MAX(date)".to_owned(), "transactions", filter.row_conditions()),
    };
    (format!("SELECT {columns} FROM {table} WHERE {}", conditions.sql()), conditions)
}

/// A listing's rows per date, newest first (from the day counts).
fn days_query(filter: &TransactionFilter) -> (String, Conditions) {
    let conditions = filter.counted_conditions();
    let sql = format!(
        "SELECT date, CAST(SUM(n) AS BIGINT) FROM transaction_days WHERE {} GROUP BY date ORDER BY date DESC",
        conditions.sql()
    );
    (sql, conditions)
}

fn page_query(filter: &TransactionFilter, start: &PageStart) -> (String, Conditions) {
    let mut c = filter.row_conditions();
    // Bounding `date` by the scope's dates lets the index start and stop there, even when the
    // listing filters on `application_date`. One upper bound only, the tightest: given two,
    // SQLite seeks by one and filters by the other (86 ms instead of 0.5 at 1M rows).
    let cursor_date = filter.after.map(|(date, _)| date);
    let upper = [start.bounds.map(|(_, last)| last), cursor_date, start.before].into_iter().flatten().min();
    if let Some((first, _)) = start.bounds {
        c.and("date >= ?", [Bind::Date(first)]);
    }
    if let Some(upper) = upper {
        c.and("date <= ?", [Bind::Date(upper)]);
    }
    if let Some((date, id)) = filter.after {
        c.and("date < ? OR id < ?", [Bind::Date(date), Bind::I64(id)]);
    }
    let n = c.next_placeholder();
    let sql = format!(
        "SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE {} ORDER BY date DESC, id DESC LIMIT ${n} OFFSET ${}",
        c.sql(),
        n + 1
    );
    c.binds.extend([Bind::I64(filter.limit), Bind::I64(start.offset)]);
    (sql, c)
}

/// Given a listing's row count per date, newest first, the date of the row at `offset` and that
/// row's offset among the rows of that date and older; `None` past the end.
fn offset_in_days(days: &[(NaiveDate, i64)], offset: i64) -> Option<(NaiveDate, i64)> {
    let mut skipped = 0;
    for &(date, n) in days {
        if offset < skipped + n {
            return Some((date, offset - skipped));
        }
        skipped += n;
    }
    None
}

/// Rewrites an account's day counts and totals from its live rows; run in the transaction that
/// changed them.
pub(super) const RECOUNT_DAYS: [&str; 4] = [
    "DELETE FROM transaction_days WHERE id_account = $1",
    "INSERT INTO transaction_days (id_account, id_user, id_connection, date, application_date, n)
     SELECT id_account, id_user, id_connection, date, application_date, COUNT(*) FROM transactions
     WHERE id_account = $1 AND deleted IS NULL GROUP BY id_account, id_user, id_connection, date, application_date",
    "DELETE FROM transaction_totals WHERE id_account = $1",
    "INSERT INTO transaction_totals (id_account, id_user, id_connection, n, first_date, last_date)
     SELECT id_account, id_user, id_connection, SUM(n), MIN(date), MAX(date) FROM transaction_days
     WHERE id_account = $1 GROUP BY id_account, id_user, id_connection",
];

/// A bank transaction in the shape of its columns.
pub(super) struct Row {
    pub(super) webid: Option<String>,
    pub(super) date: NaiveDate,
    pub(super) rdate: NaiveDate,
    pub(super) vdate: Option<NaiveDate>,
    pub(super) value: i64,
    pub(super) kind: &'static str,
    pub(super) original_wording: String,
    pub(super) simplified_wording: String,
    pub(super) coming: bool,
    pub(super) card: Option<String>,
    pub(super) counterparty: Option<String>,
}

impl Row {
    fn new(t: &BankTransaction) -> Result<Row, MoneyError> {
        Ok(Row {
            webid: t.webid.clone(),
            date: t.date,
            rdate: t.rdate,
            vdate: t.vdate,
            value: to_units(t.value)?,
            kind: t.kind,
            original_wording: t.original_wording.clone(),
            simplified_wording: simplify_wording(&t.original_wording),
            coming: t.coming,
            card: t.card.clone(),
            counterparty: t.counterparty.as_ref().map(counterparty_json),
        })
    }
}

fn counterparty_json(c: &Counterparty) -> String {
    serde_json::json!({
        "label": c.label,
        "account_scheme_name": c.account_scheme_name,
        "account_identification": c.account_identification,
        "type": c.kind,
    })
    .to_string()
}

/// New rows of one account, inserted at `at`, in the way each database takes many rows fastest.
pub(super) trait InsertRows {
    fn insert_rows(
        self,
        account: AccountRef,
        at: DateTime<Utc>,
        rows: &[Row],
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// SQLite: one statement whose rows are one bound JSON array, unpacked by `json_each`. sqlx's
/// SQLite driver binds in time that grows faster than the number of values (100,000 rows took
/// 18.7 s in statements of 500 rows and 1.7 s in statements of 16), while one text is bound at once.
/// Each row is turned into binary JSON once (the materialized `rows`): read as `value ->> n`
/// straight from `json_each`, every one of its eleven columns parsed the row's text again, which
/// took twice as long.
impl InsertRows for &mut sqlx::SqliteConnection {
    async fn insert_rows(self, account: AccountRef, at: DateTime<Utc>, rows: &[Row]) -> StoreResult<()> {
        sqlx::query(
            "WITH rows AS MATERIALIZED (SELECT jsonb(value) AS r FROM json_each($5))
             INSERT INTO transactions (id_account, id_user, id_connection, webid, date, rdate, vdate, application_date,
                    value, type, original_wording, simplified_wording, coming, active, date_scraped, last_update,
                    card, counterparty)
             SELECT $1, $2, $3, r ->> 0, r ->> 1, r ->> 2, r ->> 3, r ->> 2, r ->> 4,
                    r ->> 5, r ->> 6, r ->> 7, r ->> 8, TRUE, $4, $4, r ->> 9, r ->> 10
             FROM rows",
        )
        .bind(account.id)
        .bind(account.id_user)
        .bind(account.id_connection)
        .bind(at)
        .bind(rows_json(rows))
        .execute(self)
        .await?;
        Ok(())
    }
}

/// PostgreSQL: `COPY … FROM STDIN` in its text format, several times faster than an `INSERT` of
/// the same rows (the bench's anchor is this very statement).
impl InsertRows for &mut sqlx::PgConnection {
    async fn insert_rows(self, account: AccountRef, at: DateTime<Utc>, rows: &[Row]) -> StoreResult<()> {
        let mut copy = self
            .copy_in_raw(
                "COPY transactions (id_account, id_user, id_connection, webid, date, rdate, vdate, application_date,
                        value, type, original_wording, simplified_wording, coming, active, date_scraped, last_update,
                        card, counterparty) FROM STDIN",
            )
            .await?;
        copy.send(rows_copy_text(account, at, rows)).await?;
        copy.finish().await?;
        Ok(())
    }
}

/// The rows as `[[webid, date, rdate, vdate, value, type, original_wording, simplified_wording,
/// coming, card, counterparty], …]`, the layout SQLite's insert reads.
fn rows_json(rows: &[Row]) -> String {
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                &r.webid,
                r.date,
                r.rdate,
                r.vdate,
                r.value,
                r.kind,
                &r.original_wording,
                &r.simplified_wording,
                r.coming,
                &r.card,
                &r.counterparty,
            )
        })
        .collect();
    // Plain data (strings, numbers, dates): serializing it cannot fail.
    serde_json::to_string(&rows).expect("rows serialize")
}

/// The rows in `COPY`'s text format: one line per row, columns separated by tabs, `\N` for NULL.
fn rows_copy_text(account: AccountRef, at: DateTime<Utc>, rows: &[Row]) -> Vec<u8> {
    use std::fmt::Write;
    let at = at.to_rfc3339();
    let mut out = String::with_capacity(rows.len() * 200);
    let text = |out: &mut String, value: Option<&str>| match value {
        Some(value) => copy_escape(out, value),
        None => out.push_str("\\N"),
    };
    for r in rows {
        // Writing to a String cannot fail.
        let _ = write!(out, "{}\t{}\t{}\t", account.id, account.id_user, account.id_connection);
        text(&mut out, r.webid.as_deref());
        let vdate = r.vdate.map(|d| d.to_string());
        let _ = write!(out, "\t{}\t{}\t", r.date, r.rdate);
        text(&mut out, vdate.as_deref());
        let _ = write!(out, "\t{}\t{}\t{}\t", r.rdate, r.value, r.kind);
        copy_escape(&mut out, &r.original_wording);
        out.push('\t');
        copy_escape(&mut out, &r.simplified_wording);
        let _ = write!(out, "\t{}\tt\t{at}\t{at}\t", if r.coming { 't' } else { 'f' });
        text(&mut out, r.card.as_deref());
        out.push('\t');
        text(&mut out, r.counterparty.as_deref());
        out.push('\n');
    }
    out.into_bytes()
}

/// A value in `COPY`'s text format: backslash, tab, newline and carriage return escaped.
fn copy_escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate};

    use super::{AccountRef, Row, offset_in_days, rows_copy_text};

    #[test]
    fn copy_text_escapes_what_its_format_reserves_and_writes_null_as_backslash_n() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let row = Row {
            webid: None,
            date: day,
            rdate: day,
            vdate: None,
            value: -123_400,
            kind: "card",
            original_wording: "CB\tSHOP\\ 1\nline\r".into(),
            simplified_wording: "SHOP".into(),
            coming: true,
            card: Some("1234".into()),
            counterparty: None,
        };
        let at = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z").unwrap().to_utc();
        let text =
            String::from_utf8(rows_copy_text(AccountRef { id: 1, id_user: 2, id_connection: 3 }, at, &[row])).unwrap();
        let fields: Vec<&str> = text.strip_suffix('\n').unwrap().split('\t').collect();
        assert_eq!(
            fields,
            [
                "1",
                "2",
                "3",
                "\\N",
                "2026-11-20",
                "2026-11-20",
                "\\N",
                "2026-11-20",
                "-123400",
                "card",
                "CB\\tSHOP\\\\ 1\\nline\\r",
                "SHOP",
                "t",
                "t",
                "2026-11-20T10:00:00+00:00",
                "2026-11-20T10:00:00+00:00",
                "1234",
                "\\N",
            ]
        );
    }

    #[test]
    fn an_offset_lands_on_the_day_that_holds_it() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let days = [(day(20), 3), (day(19), 0), (day(18), 2), (day(1), 1)];
        let expected = [(day(20), 0), (day(20), 1), (day(20), 2), (day(18), 0), (day(18), 1), (day(1), 0)];
        for (offset, want) in expected.iter().enumerate() {
            assert_eq!(offset_in_days(&days, offset as i64), Some(*want), "offset {offset}");
        }
        assert_eq!(offset_in_days(&days, 6), None);
        assert_eq!(offset_in_days(&[], 0), None);
    }
}
