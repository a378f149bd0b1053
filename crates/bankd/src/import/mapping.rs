//! How a statement file's records become bankd's: account identities, transaction webids, types,
//! and the CSV mapping a user writes.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::domain::bank::{BankTransaction, Counterparty};
use crate::sources::psd2::mapping::transaction_type;

/// Gives each entry of one account its webid: the bank's reference with its booking date — some
/// banks reuse references, never on one day for two operations — else a fingerprint of (date,
/// amount, wording); either ranked among the entries of the file that share it (`#2`, `#3`…), so
/// an overlapping file finds the same rows again while two identical coffees on one day stay two.
#[derive(Default)]
pub(super) struct Webids {
    /// Occurrences so far of each key, by the key's hash: 12 bytes an entry rather than the key
    /// itself (a 64-bit collision, a one-in-10¹⁰ event in a million-entry file, would only rank
    /// an entry `#2` where it could have been `#1`, the same way in every import of the file).
    seen: HashMap<u64, u32>,
    hasher: RandomState,
}

impl Webids {
    pub(super) fn next(&mut self, entry: &statements::Entry) -> String {
        let key = match &entry.reference {
            Some(reference) => format!("{}:{reference}", entry.booking_date),
            None => format!("fp-{}", fingerprint(entry)),
        };
        let n = self.seen.entry(self.hasher.hash_one(&key)).or_default();
        *n += 1;
        if *n == 1 { key } else { format!("{key}#{n}") }
    }
}

/// How an account is recognised from one file to the next: IBAN, else number, else name and
/// currency (a format that names none of them has one account per file, named "Statement").
pub(super) fn identity(account: &statements::Account) -> String {
    let clean = |text: &str| text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    match (&account.iban, &account.number, &account.name) {
        (Some(iban), _, _) => clean(iban),
        (None, Some(number), _) => clean(number),
        (None, None, name) => {
            let currency = account.currency.as_deref().unwrap_or("");
            format!("{}:{currency}", name.as_deref().unwrap_or("Statement").trim())
        }
    }
}

/// What identifies an entry without a reference: its date, amount and wording.
fn fingerprint(entry: &statements::Entry) -> String {
    let text = format!("{}|{}|{}", entry.booking_date, entry.amount.normalize(), entry.wording.trim());
    Sha256::digest(text).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The entry as a bank transaction of the sync model, under its webid.
pub(super) fn bank_transaction(entry: &statements::Entry, webid: String) -> BankTransaction {
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

/// A CSV mapping as a user writes it (the API's `csv` field, `bankd import --csv`), in JSON:
/// `{"delimiter": ";", "decimal_comma": true, "date_format": "%d/%m/%Y", "date": "Date",
/// "amount": "Montant"}` — a column is its header name or its index from 0; `debit` and `credit`
/// replace `amount`; `wording` lists columns; `value_date`, `payee`, `reference`, `currency`,
/// `skip_lines` and `has_header` (default true) are optional.
pub fn csv_mapping(json: &str) -> Result<statements::csv::Mapping, String> {
    use statements::csv::{AmountColumns, Column, Mapping};
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Spec {
        Index(usize),
        Name(String),
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Written {
        #[serde(default = "comma")]
        delimiter: String,
        #[serde(default)]
        decimal_comma: bool,
        #[serde(default = "day_first")]
        date_format: String,
        #[serde(default)]
        skip_lines: usize,
        #[serde(default = "yes")]
        has_header: bool,
        date: Spec,
        value_date: Option<Spec>,
        amount: Option<Spec>,
        debit: Option<Spec>,
        credit: Option<Spec>,
        #[serde(default)]
        wording: Vec<Spec>,
        payee: Option<Spec>,
        reference: Option<Spec>,
        currency: Option<Spec>,
    }
    fn comma() -> String {
        ",".into()
    }
    fn day_first() -> String {
        "%d/%m/%Y".into()
    }
    fn yes() -> bool {
        true
    }
    let column = |spec: Spec| match spec {
        Spec::Index(i) => Column::Index(i),
        Spec::Name(name) => Column::Name(name),
    };
    let written: Written = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let delimiter = match written.delimiter.as_bytes() {
        [byte] if byte.is_ascii() => *byte,
        _ => return Err("delimiter must be one ASCII character".into()),
    };
    let amount = match (written.amount, written.debit, written.credit) {
        (Some(amount), None, None) => AmountColumns::Amount(column(amount)),
        (None, Some(debit), Some(credit)) => {
            AmountColumns::DebitCredit { debit: column(debit), credit: column(credit) }
        }
        _ => return Err("give either amount, or debit and credit".into()),
    };
    Ok(Mapping {
        delimiter,
        decimal_comma: written.decimal_comma,
        date_format: written.date_format,
        skip_lines: written.skip_lines,
        has_header: written.has_header,
        date: column(written.date),
        value_date: written.value_date.map(column),
        amount,
        wording: written.wording.into_iter().map(column).collect(),
        payee: written.payee.map(column),
        reference: written.reference.map(column),
        currency: written.currency.map(column),
    })
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
    fn accounts_are_recognised_by_iban_then_number_then_name_and_currency() {
        let account = |iban: Option<&str>, number: Option<&str>, name: Option<&str>| statements::Account {
            iban: iban.map(str::to_owned),
            number: number.map(str::to_owned),
            name: name.map(str::to_owned),
            currency: Some("EUR".into()),
            ..statements::Account::default()
        };
        assert_eq!(identity(&account(Some("fr76 3000 6000"), Some("1"), None)), "FR7630006000");
        assert_eq!(identity(&account(None, Some("12 345"), Some("x"))), "12345");
        assert_eq!(identity(&account(None, None, Some(" Joint "))), "Joint:EUR");
        assert_eq!(identity(&statements::Account::default()), "Statement:");
    }

    #[test]
    fn csv_mappings_are_written_in_json() {
        use statements::csv::{AmountColumns, Column};
        let mapping = csv_mapping(
            r#"{"delimiter": ";", "decimal_comma": true, "date": "Date", "debit": 3, "credit": 4,
            "wording": ["Libellé", 2]}"#,
        )
        .unwrap();
        assert_eq!((mapping.delimiter, mapping.date_format.as_str(), mapping.has_header), (b';', "%d/%m/%Y", true));
        assert_eq!(mapping.amount, AmountColumns::DebitCredit { debit: Column::Index(3), credit: Column::Index(4) });
        assert_eq!(mapping.wording, [Column::Name("Libellé".into()), Column::Index(2)]);
        assert!(csv_mapping(r#"{"date": 0}"#).unwrap_err().contains("amount"));
        assert!(csv_mapping(r#"{"date": 0, "amount": 1, "delimiter": ";;"}"#).unwrap_err().contains("delimiter"));
        assert!(csv_mapping(r#"{"date": 0, "amount": 1, "colour": 2}"#).unwrap_err().contains("colour"));
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
