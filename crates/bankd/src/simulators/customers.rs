//! The customers every simulated bank serves: accounts and transactions derived from the login,
//! never stored. A seeded [`ChaCha8Rng`] per (login, account, day) makes a customer's data identical
//! on every run and lets a day's transactions stay put while the window slides, so the in-process
//! Sandbox Bank, the PSD2 sandbox ASPSP and any later simulator show one login the same bank.

use chrono::{Datelike, Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::domain::bank::{BankAccount, BankTransaction, Counterparty};

const HISTORY_DAYS: u64 = 90;
const BIG_DAYS: u64 = 365;
const LONG_DAYS: u64 = 400;

/// The shape of a customer's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Three accounts (checking, savings, deferred card), 90 days of everyday operations.
    Plain,
    /// The savings account is missing from every even-numbered run.
    Closing,
    /// Four pending card payments at the first read of the checking account; three booked after.
    Pending,
    /// One checking account with exactly 100,000 transactions over 365 days.
    Big,
    /// `Plain`'s accounts and days over 400 days: more than a bank serves in one request.
    Long,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Product {
    Checking,
    Savings,
    Card,
}

impl Product {
    fn code(self) -> &'static str {
        match self {
            Product::Checking => "CHK",
            Product::Savings => "LIV",
            Product::Card => "CB",
        }
    }
}

/// A wording, its type, its amount range in signed cents, and its counterparty.
struct Template(&'static str, &'static str, i64, i64, Option<&'static str>);

#[rustfmt::skip]
const SHOPS: [Template; 10] = [
    Template("CB MONOPRIX PARIS",          "card", -8500,  -450,  None),
    Template("CB CARREFOUR CITY PARIS 11", "card", -6000,  -300,  None),
    Template("CB BOULANGERIE PAUL",        "card", -1500,  -180,  None),
    Template("CB PHARMACIE DU MARCHE",     "card", -4500,  -490,  None),
    Template("CB SNCF INTERNET",           "card", -14000, -1900, None),
    Template("CB AMAZON EU SARL",          "card", -9000,  -999,  None),
    Template("CB UBER EATS",               "card", -4500,  -1200, None),
    Template("CB FNAC PARIS",              "card", -20000, -999,  None),
    Template("CB TOTALENERGIES",           "card", -8000,  -3000, None),
    Template("CB LE PETIT BISTROT",        "card", -6500,  -1400, None),
];

#[rustfmt::skip]
const OTHERS: [Template; 5] = [
    Template("RETRAIT DAB PARIS BASTILLE",      "withdrawal", -10000, -2000, None),
    Template("RETRAIT DAB LYON PART DIEU",      "withdrawal", -8000,  -2000, None),
    Template("VIR SEPA M DUPONT REMBOURSEMENT", "transfer",   1000,   6000,  Some("M DUPONT")),
    Template("VIR SEPA LYDIA",                  "transfer",   -5000,  -1000, Some("LYDIA SOLUTIONS")),
    Template("AVOIR CB AMAZON EU SARL",         "payback",    999,    4999,  None),
];

/// Checking-account operations that come back on a fixed day of each month.
#[rustfmt::skip]
const MONTHLY: [(u32, Template); 7] = [
    (1,  Template("VIR SEPA LOYER SCI LES LILAS", "transfer", -85000, -85000, Some("SCI LES LILAS"))),
    (5,  Template("PRLV SEPA EDF",                "order",    -12000, -6000,  Some("EDF"))),
    (8,  Template("PRLV SEPA FREE MOBILE",        "order",    -1999,  -1999,  Some("FREE MOBILE"))),
    (10, Template("VIR EPARGNE LIVRET A",         "transfer", -10000, -10000, None)),
    (12, Template("PRLV SEPA COMUTITRES NAVIGO",  "order",    -8640,  -8640,  Some("COMUTITRES"))),
    (15, Template("FRAIS TENUE DE COMPTE",        "bank",     -250,   -250,   None)),
    (28, Template("VIR SALAIRE ACME",             "transfer", 235000, 265000, Some("ACME SAS"))),
];

/// The savings side of the monthly `VIR EPARGNE LIVRET A`.
const SAVINGS_IN: Template = Template("VIR DEPUIS COMPTE CHEQUES", "transfer", 10000, 10000, None);
const SAVINGS_DAY: u32 = 10;
/// The day the deferred card's monthly total is debited from checking.
const CARD_DEBIT_DAY: u32 = 3;

/// A generator seeded by SHA-256 of length-prefixed parts, so `("ab", "c")` and `("a", "bc")` differ.
fn rng(parts: &[&[u8]]) -> ChaCha8Rng {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    ChaCha8Rng::from_seed(hasher.finalize().into())
}

/// One sandbox customer's bank, derived from the login.
pub struct Customer {
    login: String,
    profile: Profile,
    /// Short stable prefix of every webid.
    tag: String,
    account_number: u64,
    card_mask: String,
    first_run: NaiveDate,
}

impl Customer {
    pub fn new(login: &str, profile: Profile, first_run: NaiveDate) -> Customer {
        let mut rng = rng(&[login.as_bytes(), b"customer"]);
        let tag: u32 = rng.r#gen();
        Customer {
            login: login.to_owned(),
            profile,
            tag: format!("SBX{tag:08X}"),
            account_number: rng.gen_range(0..100_000_000_000),
            card_mask: format!("XXXXXXXXXXXX{:04}", rng.gen_range(0..10_000)),
            first_run,
        }
    }

    pub fn products(&self, runs: u32) -> impl Iterator<Item = Product> + use<> {
        let products = match self.profile {
            Profile::Big => &[Product::Checking][..],
            // Every other run the savings account has vanished from the bank's website.
            Profile::Closing if runs.is_multiple_of(2) => &[Product::Checking, Product::Card],
            _ => &[Product::Checking, Product::Savings, Product::Card],
        };
        products.iter().copied()
    }

    pub fn webid(&self, product: Product) -> String {
        format!("{}-{}", self.tag, product.code())
    }

    /// The `i`-th transaction booked on `date`: stable as long as the day's generation is.
    fn row_webid(&self, product: Product, date: NaiveDate, i: usize) -> String {
        format!("{}-{}-{}-{i}", self.tag, product.code(), date.num_days_from_ce())
    }

    /// `checking_reads`: how often the checking account's transactions were read before.
    pub fn account(&self, product: Product, today: NaiveDate, checking_reads: u32) -> BankAccount {
        let mut rng = rng(&[self.login.as_bytes(), b"balance"]);
        let masked = |digits: u64| format!("XXXXXXX{:04}", digits % 10_000);
        let (name, kind, balance, number) = match product {
            Product::Checking => {
                let balance = Decimal::new(rng.gen_range(80_000..450_000), 2);
                ("Compte de chèques", "checking", balance, masked(self.account_number))
            }
            Product::Savings => {
                let balance = Decimal::new(rng.gen_range(300_000..2_500_000), 2);
                ("Livret A", "savings", balance, masked(self.account_number / 10_000))
            }
            // A deferred card owes what was spent since the last monthly debit.
            Product::Card => {
                let owed = self.card_total(today.with_day(1).unwrap_or(today), today);
                ("Visa Premier (débit différé)", "card", owed, self.card_mask.clone())
            }
        };
        let checking = product == Product::Checking;
        let pending = checking && self.profile == Profile::Pending && checking_reads == 0;
        BankAccount {
            webid: self.webid(product),
            name: name.into(),
            number: Some(number),
            iban: checking.then(|| self.iban()),
            bic: checking.then(|| "SBXBFRPPXXX".into()),
            kind,
            currency: "EUR".into(),
            balance,
            coming: pending.then(|| self.pending_values().iter().sum()),
            usage: "PRIV",
        }
    }

    /// A checksum-valid French IBAN: the RIB key makes the check digits always `76`.
    fn iban(&self) -> String {
        let (bank, branch, account) = (99_999u64, 1u64, self.account_number);
        let key = 97 - (89 * bank + 15 * branch + 3 * account) % 97;
        format!("FR76{bank:05}{branch:05}{account:011}{key:02}")
    }

    /// Everything the bank shows for the account, from its pending operations to `history_days`
    /// ago, newest day first.
    pub fn history(&self, product: Product, today: NaiveDate, checking_reads: u32) -> Vec<BankTransaction> {
        let mut rows = self.pending_rows(product, checking_reads);
        rows.extend((0..self.history_days()).flat_map(|back| self.day(product, today - Days::new(back))));
        rows
    }

    /// How many days of history the bank keeps.
    pub fn history_days(&self) -> u64 {
        match self.profile {
            Profile::Big => BIG_DAYS,
            Profile::Long => LONG_DAYS,
            _ => HISTORY_DAYS,
        }
    }

    /// The account's operations not yet booked (`checking_reads`: reads of checking so far).
    pub fn pending_rows(&self, product: Product, checking_reads: u32) -> Vec<BankTransaction> {
        if self.profile == Profile::Pending && product == Product::Checking {
            self.pending(checking_reads)
        } else {
            Vec::new()
        }
    }

    /// The transactions booked on `date`; they depend on nothing else, so they never change.
    pub fn day(&self, product: Product, date: NaiveDate) -> Vec<BankTransaction> {
        if self.profile == Profile::Big {
            return self.big_day(date);
        }
        let day = date.num_days_from_ce().to_le_bytes();
        let mut rng = rng(&[self.login.as_bytes(), product.code().as_bytes(), &day]);
        let mut templates: Vec<&Template> = Vec::new();
        match product {
            Product::Checking => {
                templates.extend(MONTHLY.iter().filter(|(day, _)| *day == date.day()).map(|(_, t)| t));
                // Shops are closed on Sundays.
                let most = if date.weekday() == chrono::Weekday::Sun { 1 } else { 4 };
                for _ in 0..rng.gen_range(0..=most) {
                    templates.push(pick(&mut rng));
                }
            }
            Product::Savings if date.day() == SAVINGS_DAY => templates.push(&SAVINGS_IN),
            Product::Savings => {}
            Product::Card if rng.gen_bool(0.15) => templates.push(&SHOPS[rng.gen_range(0..SHOPS.len())]),
            Product::Card => {}
        }
        let mut rows: Vec<_> =
            (templates.iter().enumerate()).map(|(i, t)| self.booked(&mut rng, t, product, date, i)).collect();
        if product == Product::Checking && date.day() == CARD_DEBIT_DAY {
            rows.push(self.card_debit(date, rows.len()));
        }
        rows
    }

    /// One booked row from a template. Card payments were made 1–2 days before their booking.
    fn booked(
        &self,
        rng: &mut ChaCha8Rng,
        t: &Template,
        product: Product,
        date: NaiveDate,
        i: usize,
    ) -> BankTransaction {
        let Template(wording, kind, min, max, counterparty) = *t;
        let mut cents = rng.gen_range(min..=max);
        if kind == "withdrawal" {
            cents -= cents % 1000; // cash machines give tens
        }
        let card = kind == "card";
        let delay = if card { rng.gen_range(1..=2) } else { 0 };
        BankTransaction {
            webid: Some(self.row_webid(product, date, i)),
            date,
            rdate: date - Days::new(delay),
            vdate: Some(date),
            value: Decimal::new(cents, 2),
            original_wording: wording.to_owned(),
            // On the card account itself the same payments are deferred ones.
            kind: if product == Product::Card { "deferred_card" } else { kind },
            coming: false,
            card: card.then(|| self.card_mask.clone()),
            counterparty: counterparty.map(|label| Counterparty {
                label: label.to_owned(),
                account_scheme_name: None,
                account_identification: None,
                kind: if cents < 0 { "creditor" } else { "debtor" },
            }),
        }
    }

    /// Total of the deferred card's payments booked from `from` to `to`, inclusive (negative).
    fn card_total(&self, from: NaiveDate, to: NaiveDate) -> Decimal {
        from.iter_days().take_while(|d| *d <= to).flat_map(|d| self.day(Product::Card, d)).map(|t| t.value).sum()
    }

    /// The monthly debit on checking of last month's deferred card payments.
    fn card_debit(&self, date: NaiveDate, i: usize) -> BankTransaction {
        let last_month_end = date.with_day(1).and_then(|d| d.pred_opt()).unwrap_or(date);
        let last_month_start = last_month_end.with_day(1).unwrap_or(last_month_end);
        BankTransaction {
            webid: Some(self.row_webid(Product::Checking, date, i)),
            date,
            rdate: date,
            vdate: Some(date),
            value: self.card_total(last_month_start, last_month_end),
            original_wording: format!("RELEVE CARTE DIFFEREE {}", &self.card_mask[12..]),
            kind: "summary_card",
            coming: false,
            card: Some(self.card_mask.clone()),
            counterparty: None,
        }
    }

    /// `big`'s day: 273 or 274 rows, so that any 365 consecutive days hold exactly 100,000 (365 =
    /// 5 × 73: every window has ten days whose number is 0 or 1 modulo 73, and 355 × 274 + 10 × 273
    /// = 100,000). One seed per day and static wordings keep it fast.
    fn big_day(&self, date: NaiveDate) -> Vec<BankTransaction> {
        let day = date.num_days_from_ce();
        let count = if day.rem_euclid(73) < 2 { 273 } else { 274 };
        let mut rng = rng(&[self.login.as_bytes(), b"big", &day.to_le_bytes()]);
        (0..count)
            .map(|i| {
                let template = pick(&mut rng);
                self.booked(&mut rng, template, Product::Checking, date, i)
            })
            .collect()
    }

    pub fn pending_values(&self) -> [Decimal; 4] {
        let mut rng = rng(&[self.login.as_bytes(), b"pending"]);
        [(); 4].map(|()| Decimal::new(rng.gen_range(-6000..-500), 2))
    }

    /// `pending`'s four card payments: pending at the first read; from the second, three are
    /// booked under a new wording and webid, and the fourth was cancelled.
    fn pending(&self, checking_reads: u32) -> Vec<BankTransaction> {
        let booked = checking_reads > 0;
        let values = self.pending_values().into_iter().enumerate();
        let rows = values.map(|(i, value)| {
            let n = i + 1;
            let rdate = self.first_run - Days::new(i as u64 / 2);
            let date = rdate + Days::new(if booked { 1 + n as u64 % 2 } else { 0 });
            BankTransaction {
                webid: booked.then(|| format!("{}-CHK-PND-{n}", self.tag)),
                date,
                rdate,
                vdate: booked.then_some(date),
                value,
                original_wording: if booked {
                    format!("CARTE {} SHOP {n} PARIS", rdate.format("%d/%m"))
                } else {
                    format!("CB PENDING SHOP {n}")
                },
                kind: "card",
                coming: !booked,
                card: Some(self.card_mask.clone()),
                counterparty: None,
            }
        });
        rows.take(if booked { 3 } else { 4 }).collect()
    }
}

/// A random everyday operation: three in four are card payments.
fn pick(rng: &mut ChaCha8Rng) -> &'static Template {
    if rng.gen_bool(0.75) { &SHOPS[rng.gen_range(0..SHOPS.len())] } else { &OTHERS[rng.gen_range(0..OTHERS.len())] }
}

/// Where a page of an account's booked history starts: days before the last day asked, and rows
/// of that day already sent. Page links carry it as `<days>-<rows>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    back: u64,
    skip: usize,
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Cursor> {
        let (back, skip) = text.split_once('-')?;
        Some(Cursor { back: back.parse().ok()?, skip: skip.parse().ok()? })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.back, self.skip)
    }
}

impl Customer {
    /// Up to `size` booked rows from `from` to `to`, newest day first, starting at `cursor`; and
    /// where the next page starts, if there is one. The history ends `history_days` before `today`. Only the days a page covers are generated, so
    /// a 100,000-row history costs one pass over all its pages.
    pub fn booked_page(
        &self,
        product: Product,
        from: NaiveDate,
        to: NaiveDate,
        today: NaiveDate,
        cursor: Cursor,
        size: usize,
    ) -> (Vec<BankTransaction>, Option<Cursor>) {
        let Cursor { mut back, mut skip } = cursor;
        let oldest = today - Days::new(self.history_days());
        let mut rows = Vec::new();
        loop {
            let Some(day) = to.checked_sub_days(Days::new(back)) else { return (rows, None) };
            if day < from || day <= oldest {
                return (rows, None);
            }
            let day_rows = self.day(product, day);
            let room = size - rows.len();
            rows.extend(day_rows.iter().skip(skip).take(room).cloned());
            if day_rows.len().saturating_sub(skip) > room {
                return (rows, Some(Cursor { back, skip: skip + room }));
            }
            (back, skip) = (back + 1, 0);
            if rows.len() == size {
                return (rows, Some(Cursor { back, skip }));
            }
        }
    }
}

/// The ISO 20022 bank transaction code (domain, family, sub-family) banks would give the row.
pub fn bank_transaction_code(t: &BankTransaction) -> [&'static str; 3] {
    match (t.kind, t.value.is_sign_negative()) {
        ("card" | "deferred_card", _) => ["PMNT", "CCRD", "POSD"],
        ("withdrawal", _) => ["PMNT", "CCRD", "CWDL"],
        ("order", _) => ["PMNT", "IDDT", "ESDD"],
        ("transfer", true) => ["PMNT", "ICDT", "ESCT"],
        ("transfer", false) => ["PMNT", "RCDT", "ESCT"],
        ("bank", _) => ["ACMT", "MDOP", "CHRG"],
        ("summary_card", _) => ["PMNT", "CCRD", "OTHR"],
        _ => ["PMNT", "MCOP", "OTHR"],
    }
}
