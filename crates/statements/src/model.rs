//! The one model every format is read into.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::limits::MAX_WARNINGS;

/// A statement file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// OFX 1.x (SGML) and 2.x (XML), and Quicken's QFX.
    Ofx,
    /// ISO 20022 camt.053 (statements) and camt.052 (intraday reports), any version.
    Camt,
    /// SWIFT MT940 (statements) and MT942 (interim reports).
    Mt940,
    Qif,
    Csv,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Ofx => "ofx",
            Format::Camt => "camt",
            Format::Mt940 => "mt940",
            Format::Qif => "qif",
            Format::Csv => "csv",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        [Format::Ofx, Format::Camt, Format::Mt940, Format::Qif, Format::Csv].into_iter().find(|f| f.name() == name)
    }
}

/// What a parser reports, in file order. `Statement` opens a statement: the balances and entries
/// that follow belong to it, until the next `Statement`. A `Warning` says that what follows it (or
/// the statement it is in) was read from a file that bends its standard, and how.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Statement(Account),
    Balance(Balance),
    Entry(Entry),
    Warning(Warning),
}

/// A deviation from the format's standard that was read anyway, because it has only one reading:
/// where (as an [`Error`](crate::Error) says it: `line 12`, or an element path), what the file
/// does, and what was assumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub location: String,
    pub what: String,
    pub assumed: String,
}

impl Warning {
    pub fn new(location: impl Into<String>, what: impl Into<String>, assumed: impl Into<String>) -> Warning {
        Warning { location: location.into(), what: what.into(), assumed: assumed.into() }
    }
}

/// A file's warnings, bounded: the first [`MAX_WARNINGS`] are kept, the rest only counted, since a
/// file of a million entries may bend the standard on each of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Warnings {
    kept: Vec<Warning>,
    omitted: u64,
}

impl Warnings {
    pub fn push(&mut self, warning: Warning) {
        if self.kept.len() < MAX_WARNINGS {
            self.kept.push(warning);
        } else {
            self.omitted += 1;
        }
    }

    /// The first warnings, in file order.
    pub fn kept(&self) -> &[Warning] {
        &self.kept
    }

    /// How many warnings came after the kept ones.
    pub fn omitted(&self) -> u64 {
        self.omitted
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Every warning, kept or not.
    pub fn total(&self) -> u64 {
        self.kept.len() as u64 + self.omitted
    }
}

/// Who the statement is about. Every field is optional: formats say more or less.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub iban: Option<String>,
    /// A national account number, a card number, camt's `Othr/Id`, MT940's `:25:` when not an IBAN.
    pub number: Option<String>,
    pub bic: Option<String>,
    /// ISO 4217.
    pub currency: Option<String>,
    /// The account's name, when the file gives one (QIF's `!Account`, camt's `Nm`).
    pub name: Option<String>,
    /// A card account (OFX `CREDITCARDMSGSRSV1`, QIF `!Type:CCard`).
    pub card: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceKind {
    /// At the start of the statement (camt `OPBD`/`PRCD`, MT940 `:60F:`/`:60M:`).
    Opening,
    /// Booked, at its end (camt `CLBD`, MT940 `:62F:`/`:62M:`, OFX `LEDGERBAL`).
    Closing,
    /// Available funds (camt `CLAV`, MT940 `:64:`, OFX `AVAILBAL`).
    Available,
    /// Intraday booked (camt `ITBD`).
    Interim,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub kind: BalanceKind,
    /// Signed: negative is owed to the bank.
    pub amount: rust_decimal::Decimal,
    pub currency: Option<String>,
    pub date: Option<NaiveDate>,
}

/// One operation on the account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// When the bank booked it (for a pending entry: its value or operation date).
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    /// Signed, exact: negative leaves the account.
    pub amount: Decimal,
    /// ISO 4217, when the entry says.
    pub currency: Option<String>,
    /// What the bank says of it (remittance information, OFX `NAME` + `MEMO`, MT940 `:86:`).
    pub wording: String,
    /// The other party, when the format names it apart from the wording.
    pub payee: Option<String>,
    /// The other party's account (IBAN or number), when given.
    pub counterparty_account: Option<String>,
    /// The bank's own reference for the entry (OFX `FITID`, camt `AcctSvcrRef`/`NtryRef`,
    /// MT940 the bank reference of `:61:`): what recognises it in another file.
    pub reference: Option<String>,
    /// Not booked yet (camt `PDNG`, MT942).
    pub pending: bool,
    /// The format's own kind of operation (OFX `TRNTYPE`, MT940's type code, camt's bank transaction
    /// code as `DOMN-FMLY-SBFMLY`, …), for mapping to a transaction type.
    pub kind: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_keep_the_first_hundred_and_count_the_rest() {
        let mut warnings = Warnings::default();
        for line in 1..=250 {
            warnings.push(Warning::new(format!("line {line}"), "what", "assumed"));
        }
        assert_eq!(warnings.kept().len(), MAX_WARNINGS);
        assert_eq!(warnings.kept().last().map(|w| w.location.as_str()), Some("line 100"));
        assert_eq!((warnings.omitted(), warnings.total()), (150, 250));
    }
}
