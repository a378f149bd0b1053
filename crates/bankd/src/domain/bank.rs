//! What a bank says: accounts and transactions as a source reports them, before bankd's rules
//! (archiving, GDPR consent, reconciliation) decide what to store.

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// An account as the bank reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct BankAccount {
    /// The bank's stable id for the account: how it is recognised from one sync to the next.
    pub webid: String,
    pub name: String,
    pub number: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    /// One of [`ACCOUNT_TYPES`].
    pub kind: &'static str,
    /// ISO 4217 code.
    pub currency: String,
    pub balance: Decimal,
    /// Sum of the pending operations, when the bank reports it.
    pub coming: Option<Decimal>,
    /// `PRIV`, `ORGA` or `ASSO`.
    pub usage: &'static str,
}

/// A transaction as the bank reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct BankTransaction {
    /// The bank's id for the transaction, when it has one.
    pub webid: Option<String>,
    /// Debit (booking) date.
    pub date: NaiveDate,
    /// Date of the operation itself (e.g. the card payment).
    pub rdate: NaiveDate,
    /// Value date.
    pub vdate: Option<NaiveDate>,
    /// Signed amount in the account's currency.
    pub value: Decimal,
    pub original_wording: String,
    /// One of [`TRANSACTION_TYPES`].
    pub kind: &'static str,
    /// Pending: not yet booked.
    pub coming: bool,
    /// Masked card number.
    pub card: Option<String>,
    pub counterparty: Option<Counterparty>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterparty {
    pub label: String,
    /// `iban`, `bban`, `sort_code_account_number`, …
    pub account_scheme_name: Option<String>,
    pub account_identification: Option<String>,
    /// `creditor` or `debtor`.
    pub kind: &'static str,
}

/// Powens' closed list of account types.
pub const ACCOUNT_TYPES: [&str; 20] = [
    "checking",
    "savings",
    "deposit",
    "loan",
    "market",
    "joint",
    "card",
    "lifeinsurance",
    "pea",
    "pee",
    "per",
    "perco",
    "perp",
    "madelin",
    "capitalisation",
    "article83",
    "rsp",
    "crowdlending",
    "real_estate",
    "unknown",
];

/// Powens' closed list of transaction types.
pub const TRANSACTION_TYPES: [&str; 12] = [
    "transfer",
    "order",
    "check",
    "deposit",
    "payback",
    "withdrawal",
    "loan_payment",
    "bank",
    "card",
    "deferred_card",
    "summary_card",
    "unknown",
];

/// The label a person would read: the bank's wording without the payment-method noise banks put
/// in front of it ("CB ", "PRLV SEPA ", "VIR ", card dates …), whitespace collapsed.
pub fn simplify_wording(original: &str) -> String {
    const PREFIXES: [&str; 10] = [
        "PAIEMENT CB ",
        "FACTURE CB ",
        "CARTE ",
        "CB ",
        "PRLV SEPA ",
        "PRLV ",
        "VIR SEPA ",
        "VIR ",
        "RETRAIT DAB ",
        "RETRAIT ",
    ];
    let collapsed = original.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut rest = collapsed.as_str();
    for prefix in PREFIXES {
        if let Some(stripped) = rest.strip_prefix(prefix) {
            rest = stripped;
            break;
        }
    }
    // A leading card date ("23/11 ") says when, not what.
    let bytes = rest.as_bytes();
    if bytes.len() > 6
        && bytes[2] == b'/'
        && bytes[5] == b' '
        && rest[..2].bytes().chain(rest[3..5].bytes()).all(|b| b.is_ascii_digit())
    {
        rest = &rest[6..];
    }
    if rest.is_empty() { collapsed } else { rest.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::simplify_wording;

    #[test]
    fn simplified_wording_drops_payment_noise() {
        assert_eq!(simplify_wording("FACTURE CB HALL'S BEER"), "HALL'S BEER");
        assert_eq!(simplify_wording("CARTE 23/11  MONOPRIX   PARIS"), "MONOPRIX PARIS");
        assert_eq!(simplify_wording("PRLV SEPA EDF"), "EDF");
        assert_eq!(simplify_wording("CB "), "CB");
        assert_eq!(simplify_wording("LOYER"), "LOYER");
    }
}
