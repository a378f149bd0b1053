//! Statement entries (camt, MT940, OFX… read by the `statements` crate) as transactions of the
//! sync model: what imported files and banks that answer in statement formats (FinTS) share.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use sha2::{Digest, Sha256};

use crate::domain::bank::{BankTransaction, Counterparty};

/// Gives each entry of one account its webid: the bank's reference with its booking date — some
/// banks reuse references, never on one day for two operations — else a fingerprint of (date,
/// amount, wording); either ranked among the entries of the file that share it (`#2`, `#3`…), so
/// an overlapping file finds the same rows again while two identical coffees on one day stay two.
#[derive(Default)]
pub struct Webids {
    /// Occurrences so far of each key, by the key's hash: 12 bytes an entry rather than the key
    /// itself (a 64-bit collision, a one-in-10¹⁰ event in a million-entry file, would only rank
    /// an entry `#2` where it could have been `#1`, the same way in every import of the file).
    seen: HashMap<u64, u32>,
    hasher: RandomState,
}

impl Webids {
    pub fn next(&mut self, entry: &statements::Entry) -> String {
        let key = match &entry.reference {
            Some(reference) => format!("{}:{reference}", entry.booking_date),
            None => format!("fp-{}", fingerprint(entry)),
        };
        let n = self.seen.entry(self.hasher.hash_one(&key)).or_default();
        *n += 1;
        if *n == 1 { key } else { format!("{key}#{n}") }
    }
}

/// What identifies an entry without a reference: its date, amount and wording.
fn fingerprint(entry: &statements::Entry) -> String {
    let text = format!("{}|{}|{}", entry.booking_date, entry.amount.normalize(), entry.wording.trim());
    Sha256::digest(text).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The entry as a bank transaction of the sync model, under its webid.
pub fn bank_transaction(entry: &statements::Entry, webid: String) -> BankTransaction {
    let wording =
        if entry.wording.trim().is_empty() { entry.payee.clone().unwrap_or_default() } else { entry.wording.clone() };
    let outgoing = entry.amount.is_sign_negative();
    let counterparty = entry.payee.as_ref().map(|label| Counterparty {
        label: label.clone(),
        account_scheme_name: entry.counterparty_account.as_ref().map(|_| "iban".to_owned()),
        account_identification: entry.counterparty_account.clone(),
        kind: if outgoing { "creditor" } else { "debtor" },
    });
    BankTransaction {
        webid: Some(webid),
        date: entry.booking_date,
        rdate: entry.booking_date,
        vdate: entry.value_date,
        value: entry.amount,
        original_wording: wording.trim().to_owned(),
        kind: kind(entry.kind.as_deref()),
        coming: entry.pending,
        card: None,
        counterparty,
    }
}

/// Entries a bank answered as a statement (camt) as transactions, with the webids statement
/// files give them — a bank that answers camt and a camt file of the same account name a row
/// alike. Pending rows keep no webid: reconciliation pairs them with their booking.
pub fn transactions(entries: &[statements::Entry]) -> Vec<BankTransaction> {
    let mut webids = Webids::default();
    entries
        .iter()
        .map(|entry| {
            let mut transaction = bank_transaction(entry, webids.next(entry));
            if transaction.coming {
                transaction.webid = None;
            }
            transaction
        })
        .collect()
}

/// The Powens transaction type of an ISO 20022 bank transaction code.
pub fn transaction_type(code: Option<&str>) -> &'static str {
    let Some(code) = code else { return "unknown" };
    let parts: Vec<&str> = code.split('-').map(str::trim).collect();
    let (family, sub) = match parts.as_slice() {
        [_, family, sub] | [family, sub] => (*family, *sub),
        _ => return "unknown",
    };
    match (family, sub) {
        ("CCRD" | "DCRD", "CWDL") | ("CNTR", "CWDL") => "withdrawal",
        ("CCRD" | "DCRD", "RIMB" | "RPCR" | "CAJT") => "payback",
        ("CCRD" | "DCRD", _) => "card",
        ("ICDT" | "RCDT", _) => "transfer",
        ("IDDT" | "RDDT", _) => "order",
        ("ICHQ" | "RCHQ" | "DRFT", _) => "check",
        ("CNTR", "CDPT") => "deposit",
        ("MDOP" | "MCOP", "OTHR") => "unknown",
        (_, "CHRG" | "FEES" | "COMM" | "INTR" | "COMI") | ("MDOP" | "MCOP", _) => "bank",
        _ => "unknown",
    }
}

/// The Powens transaction type of a format's own code: ISO 20022 bank transaction codes (camt),
/// OFX `TRNTYPE`s and SWIFT transaction type codes (MT940 `:61:`).
fn kind(code: Option<&str>) -> &'static str {
    let Some(code) = code else { return "unknown" };
    if code.contains('-') {
        return transaction_type(Some(code));
    }
    match code.trim().to_ascii_uppercase().as_str() {
        "POS" | "DEBIT" => "card",
        "ATM" | "CASH" => "withdrawal",
        "CHECK" | "NCHK" | "FCHK" => "check",
        "XFER" | "DIRECTDEP" | "NTRF" | "FTRF" | "STRF" => "transfer",
        "DIRECTDEBIT" | "REPEATPMT" | "NDDT" | "FDDT" | "NSTO" | "FSTO" => "order",
        "FEE" | "SRVCHG" | "INT" | "DIV" | "NCHG" | "FCHG" | "NINT" | "FINT" => "bank",
        "DEP" | "NCOL" => "deposit",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::*;

    fn entry(day: u32, amount: Decimal, wording: &str, reference: Option<&str>) -> statements::Entry {
        statements::Entry {
            booking_date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            amount,
            wording: wording.into(),
            reference: reference.map(str::to_owned),
            ..statements::Entry::default()
        }
    }

    #[test]
    fn webids_are_references_or_ranked_fingerprints() {
        let entries = [
            entry(3, dec!(-3.50), "CAFE", None),
            entry(3, dec!(-3.50), "CAFE", None),
            entry(3, dec!(-3.50), "CAFE", Some("R1")),
            entry(4, dec!(-3.50), "CAFE", Some("R1")),
            entry(4, dec!(-3.5), "CAFE", None),
            entry(4, dec!(-9), "TEA", Some("R1")),
        ];
        let webids = |entries: &[statements::Entry]| {
            let mut webids = Webids::default();
            entries.iter().map(|e| webids.next(e)).collect::<Vec<_>>()
        };
        let first = webids(&entries);
        assert!(first[0].starts_with("fp-") && first[1] == format!("{}#2", first[0]), "{first:?}");
        assert_eq!(&first[2..4], ["2026-11-03:R1", "2026-11-04:R1"], "a reference is a day's");
        assert!(first[4].starts_with("fp-") && first[4] != first[0], "another day, another fingerprint");
        assert_eq!(first[5], "2026-11-04:R1#2", "a reference repeated on one day is ranked");
        assert_eq!(first, webids(&entries), "the same entries give the same webids on every import");
    }

    #[test]
    fn format_codes_map_to_transaction_types() {
        let cases = [
            (Some("POS"), "card"),
            (Some("ATM"), "withdrawal"),
            (Some("NTRF"), "transfer"),
            (Some("NDDT"), "order"),
            (Some("PMNT-CCRD-POSD"), "card"),
            (Some("SRVCHG"), "bank"),
            (Some("OTHER"), "unknown"),
            (None, "unknown"),
        ];
        for (code, expected) in cases {
            assert_eq!(kind(code), expected, "{code:?}");
        }
    }
}
