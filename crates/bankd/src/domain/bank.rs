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

/// One of Powens' account types, with the labels `GET /account_types` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountType {
    /// The code accounts carry in `type`.
    pub name: &'static str,
    /// A narrower kind of `parent` (e.g. the plans the PER replaced in 2019).
    pub parent: Option<&'static str>,
    /// Holds investments (securities, funds) rather than cash.
    pub is_invest: bool,
    /// The Powens product that aggregates it: `bank` (PSD2 payment and savings accounts) or `wealth`.
    pub product: &'static str,
    /// Singular and plural labels, in French (Powens' `display_name`, `display_name_p`) and English.
    pub french: (&'static str, &'static str),
    pub english: (&'static str, &'static str),
    /// woob's `AccountType` number for it (Powens' legacy `weboob_type_id`).
    pub woob: u8,
}

const fn kind(
    name: &'static str,
    parent: Option<&'static str>,
    is_invest: bool,
    product: &'static str,
    french: (&'static str, &'static str),
    english: (&'static str, &'static str),
    woob: u8,
) -> AccountType {
    AccountType { name, parent, is_invest, product, french, english, woob }
}

/// Powens' closed list of account types. An account type's id is its place here, from 1: never
/// reorder, only append.
pub const ACCOUNT_TYPES: [AccountType; 20] = [
    kind(
        "checking",
        None,
        false,
        "bank",
        ("Compte chèque", "Comptes chèques"),
        ("Checking account", "Checking accounts"),
        1,
    ),
    kind("savings", None, false, "bank", ("Livret", "Livrets"), ("Savings account", "Savings accounts"), 2),
    kind("deposit", None, false, "bank", ("Compte à terme", "Comptes à terme"), ("Term deposit", "Term deposits"), 3),
    kind("loan", None, false, "wealth", ("Prêt", "Prêts"), ("Loan", "Loans"), 4),
    kind(
        "market",
        None,
        true,
        "wealth",
        ("Compte titres", "Comptes titres"),
        ("Securities account", "Securities accounts"),
        5,
    ),
    kind(
        "joint",
        Some("checking"),
        false,
        "bank",
        ("Compte joint", "Comptes joints"),
        ("Joint account", "Joint accounts"),
        6,
    ),
    kind("card", None, false, "bank", ("Carte", "Cartes"), ("Card", "Cards"), 7),
    kind(
        "lifeinsurance",
        None,
        true,
        "wealth",
        ("Assurance-vie", "Assurances-vie"),
        ("Life insurance", "Life insurances"),
        8,
    ),
    kind("pea", None, true, "wealth", ("PEA", "PEA"), ("Equity savings plan (PEA)", "Equity savings plans (PEA)"), 13),
    kind("pee", None, true, "wealth", ("PEE", "PEE"), ("Company savings plan (PEE)", "Company savings plans (PEE)"), 9),
    kind(
        "per",
        None,
        true,
        "wealth",
        ("PER", "PER"),
        ("Retirement savings plan (PER)", "Retirement savings plans (PER)"),
        20,
    ),
    kind(
        "perco",
        Some("per"),
        true,
        "wealth",
        ("PERCO", "PERCO"),
        ("Group retirement savings plan (PERCO)", "Group retirement savings plans (PERCO)"),
        10,
    ),
    kind(
        "perp",
        Some("per"),
        true,
        "wealth",
        ("PERP", "PERP"),
        ("Popular retirement savings plan (PERP)", "Popular retirement savings plans (PERP)"),
        15,
    ),
    kind(
        "madelin",
        Some("per"),
        true,
        "wealth",
        ("Contrat Madelin", "Contrats Madelin"),
        ("Madelin retirement contract", "Madelin retirement contracts"),
        16,
    ),
    kind(
        "capitalisation",
        None,
        true,
        "wealth",
        ("Contrat de capitalisation", "Contrats de capitalisation"),
        ("Capitalisation contract", "Capitalisation contracts"),
        14,
    ),
    kind(
        "article83",
        Some("per"),
        true,
        "wealth",
        ("Article 83", "Articles 83"),
        ("Article 83 retirement plan", "Article 83 retirement plans"),
        11,
    ),
    kind(
        "rsp",
        None,
        true,
        "wealth",
        ("Réserve spéciale de participation", "Réserves spéciales de participation"),
        ("Special profit-sharing reserve", "Special profit-sharing reserves"),
        12,
    ),
    kind(
        "crowdlending",
        None,
        true,
        "wealth",
        ("Financement participatif", "Financements participatifs"),
        ("Crowdlending", "Crowdlending"),
        22,
    ),
    kind(
        "real_estate",
        None,
        true,
        "wealth",
        ("Placement immobilier", "Placements immobiliers"),
        ("Real estate investment", "Real estate investments"),
        21,
    ),
    kind("unknown", None, false, "bank", ("Inconnu", "Inconnus"), ("Unknown", "Unknown"), 0),
];

impl AccountType {
    /// Its id: its place in [`ACCOUNT_TYPES`], from 1.
    pub fn id(&self) -> i64 {
        ACCOUNT_TYPES.iter().position(|t| t.name == self.name).map_or(0, |i| i as i64 + 1)
    }

    pub fn by_id(id: i64) -> Option<&'static AccountType> {
        usize::try_from(id).ok().and_then(|id| id.checked_sub(1)).and_then(|i| ACCOUNT_TYPES.get(i))
    }

    /// The type of that code; an unknown code is `unknown`.
    pub fn of(name: &str) -> &'static AccountType {
        ACCOUNT_TYPES.iter().find(|t| t.name == name).unwrap_or(&ACCOUNT_TYPES[ACCOUNT_TYPES.len() - 1])
    }
}

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
    use super::{ACCOUNT_TYPES, AccountType, simplify_wording};

    #[test]
    fn account_types_are_found_by_id_and_by_name() {
        for (i, kind) in ACCOUNT_TYPES.iter().enumerate() {
            assert_eq!(kind.id(), i as i64 + 1);
            assert_eq!(AccountType::by_id(kind.id()), Some(kind));
            assert_eq!(AccountType::of(kind.name), kind);
            assert!(ACCOUNT_TYPES[..i].iter().all(|other| other.name != kind.name), "{} twice", kind.name);
            if let Some(parent) = kind.parent {
                assert!(ACCOUNT_TYPES.iter().any(|p| p.name == parent && p.parent.is_none()), "{parent}");
            }
            assert!(matches!(kind.product, "bank" | "wealth"));
        }
        assert_eq!(AccountType::by_id(0), None);
        assert_eq!(AccountType::by_id(21), None);
        assert_eq!(AccountType::of("livret_z").name, "unknown");
    }

    #[test]
    fn simplified_wording_drops_payment_noise() {
        assert_eq!(simplify_wording("FACTURE CB HALL'S BEER"), "HALL'S BEER");
        assert_eq!(simplify_wording("CARTE 23/11  MONOPRIX   PARIS"), "MONOPRIX PARIS");
        assert_eq!(simplify_wording("PRLV SEPA EDF"), "EDF");
        assert_eq!(simplify_wording("CB "), "CB");
        assert_eq!(simplify_wording("LOYER"), "LOYER");
    }
}
