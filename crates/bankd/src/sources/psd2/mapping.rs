//! What PSD2 APIs report, in bankd's terms. Both dialects (Berlin Group and STET) describe the same
//! ISO 20022 things — cash account types, balance types, bank transaction codes, signed or
//! indicated amounts — so each driver reads its JSON into the neutral [`Entry`] and [`Balance`],
//! and the rules here decide webids, types, wording, balance and coming once.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::domain::bank::{BankTransaction, Counterparty};
pub use crate::sources::entries::transaction_type;

/// The Powens account type of an ISO 20022 `ExternalCashAccountType1Code` (`cashAccountType`);
/// an account known only by a card number is a card.
pub fn account_type(cash_account_type: Option<&str>, is_card: bool) -> &'static str {
    match cash_account_type.map(str::to_ascii_uppercase).as_deref() {
        Some("CACC" | "TRAN" | "CASH" | "SLRY" | "SACC" | "CISH" | "COMM" | "CHAR" | "NREX" | "TAXE" | "NFCA")
        | Some("ODFT" | "CPAC" | "VACC" | "TRAS") => "checking",
        Some("SVGS" | "LLSV" | "MOMA") => "savings",
        Some("ONDP") => "deposit",
        Some("LOAN" | "MGLD") => "loan",
        Some("CARD") => "card",
        _ if is_card => "card",
        _ => "unknown",
    }
}

/// `PRIV` or `ORGA`; anything else (or nothing) is a private account.
pub fn usage(value: Option<&str>) -> &'static str {
    match value {
        Some("ORGA") => "ORGA",
        _ => "PRIV",
    }
}

/// One balance of an account, with its type in Berlin Group's words (STET's codes are translated
/// by [`stet_balance_type`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    pub kind: String,
    pub amount: Decimal,
    pub credit_limit_included: bool,
}

/// STET's balance codes in Berlin Group's words.
pub fn stet_balance_type(code: &str) -> &str {
    match code {
        "CLBD" => "closingBooked",
        "ITBD" => "interimBooked",
        "OPBD" | "PRCD" => "openingBooked",
        "XPCD" => "expected",
        "ITAV" | "VALU" => "interimAvailable",
        "FWAV" => "forwardAvailable",
        other => other,
    }
}

/// How good a balance type is as the account's balance: booked money first, the most recent first.
fn rank(kind: &str) -> Option<u8> {
    Some(match kind {
        "interimBooked" => 0,
        "closingBooked" => 1,
        "expected" => 2,
        "interimAvailable" => 3,
        "openingBooked" => 4,
        "forwardAvailable" => 5,
        "nonInvoiced" => 6,
        _ => return None,
    })
}

/// A balance type bankd knows (one of the standard's).
pub fn is_balance_type(kind: &str) -> bool {
    rank(kind).is_some()
}

/// The account's `balance` (booked money, without any credit limit when the bank tells both) and
/// its `coming` (what pending operations add: expected − booked, when the bank gives both).
pub fn balance_and_coming(balances: &[Balance]) -> Option<(Decimal, Option<Decimal>)> {
    let best = |kinds: &dyn Fn(&str) -> bool| {
        balances
            .iter()
            .filter(|b| kinds(&b.kind))
            .min_by_key(|b| (b.credit_limit_included, rank(&b.kind).unwrap_or(u8::MAX)))
    };
    let balance = best(&|kind| rank(kind).is_some()).or(balances.first())?;
    let booked = matches!(balance.kind.as_str(), "interimBooked" | "closingBooked" | "openingBooked");
    let expected = best(&|kind| kind == "expected");
    let coming = match expected {
        Some(expected) if booked && expected.amount != balance.amount => Some(expected.amount - balance.amount),
        _ => None,
    };
    Some((balance.amount, coming))
}

/// Someone on the other side of a transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Party {
    pub name: Option<String>,
    pub iban: Option<String>,
    pub bban: Option<String>,
}

/// A transaction as either dialect reports it, before bankd's rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// `transactionId` (XS2A) or `resourceId` (STET): the bank's id for the transaction.
    pub id: Option<String>,
    pub entry_reference: Option<String>,
    pub booking_date: Option<NaiveDate>,
    pub value_date: Option<NaiveDate>,
    /// When the operation happened (a card payment's day).
    pub transaction_date: Option<NaiveDate>,
    /// Signed: negative leaves the account.
    pub amount: Decimal,
    pub pending: bool,
    /// Remittance information lines, in the bank's order.
    pub wording: Vec<String>,
    pub creditor: Option<Party>,
    pub debtor: Option<Party>,
    /// ISO 20022 bank transaction code, as `DOMAIN-FAMILY-SUBFAMILY` (or just `FAMILY-SUBFAMILY`).
    pub bank_transaction_code: Option<String>,
    pub masked_pan: Option<String>,
}

/// What makes two entries of overlapping windows one: the bank's id, else its entry reference,
/// else everything about them.
pub fn key(entry: &Entry) -> String {
    match (&entry.id, &entry.entry_reference) {
        (Some(id), _) => format!("id:{id}"),
        (None, Some(reference)) => format!("ref:{reference}"),
        (None, None) => format!("{entry:?}"),
    }
}

/// A date or date-time as a bank writes it, as the bank's day: a date as is; a date-time without
/// an offset is the bank's local time (`zone`), one with an offset is converted to it. `None` for
/// text that is neither.
pub fn bank_day(text: &str, zone: chrono_tz::Tz) -> Option<NaiveDate> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(date);
    }
    if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&zone).date_naive());
    }
    // Offsets without a colon (`+0100`), as some banks write them.
    if let Ok(instant) = chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(instant.with_timezone(&zone).date_naive());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|local| local.date())
}

/// Remittance information as banks send it: a string, an array of lines, or a structured object
/// (its `reference`, else its text values); nothing readable gives no line.
pub fn remittance_lines(value: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(remittance_lines).collect(),
        Value::Object(fields) => match fields.get("reference").and_then(Value::as_str) {
            Some(reference) => vec![reference.to_owned()],
            None => fields.values().filter_map(Value::as_str).map(str::to_owned).collect(),
        },
        _ => Vec::new(),
    }
}

/// Fingerprint webids of the rows that came without any bank id, by their content and their rank
/// among identical rows (two identical coffees on one day are two transactions). Pending rows keep
/// no webid: their wording and date change when they are booked, and the fingerprint with them.
pub fn bank_transactions(entries: Vec<Entry>, today: NaiveDate) -> Result<Vec<BankTransaction>, String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    entries
        .into_iter()
        .map(|entry| {
            let fingerprint = (!entry.pending && entry.id.is_none() && entry.entry_reference.is_none()).then(|| {
                let digest = fingerprint(&entry);
                let rank = seen.entry(digest.clone()).or_default();
                *rank += 1;
                format!("fp-{digest}-{rank}")
            });
            bank_transaction(entry, fingerprint, today)
        })
        .collect()
}

fn fingerprint(entry: &Entry) -> String {
    let text = format!(
        "{:?}|{:?}|{:?}|{}|{}|{:?}|{:?}",
        entry.booking_date,
        entry.value_date,
        entry.transaction_date,
        entry.amount.normalize(),
        entry.wording.join("\n"),
        entry.creditor.as_ref().and_then(|p| p.iban.as_ref()),
        entry.debtor.as_ref().and_then(|p| p.iban.as_ref()),
    );
    Sha256::digest(text).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn bank_transaction(entry: Entry, fingerprint: Option<String>, today: NaiveDate) -> Result<BankTransaction, String> {
    let date = match (entry.booking_date, entry.value_date, entry.transaction_date) {
        (Some(date), _, _) => date,
        // Pending rows have no booking date yet.
        (None, Some(date), _) | (None, None, Some(date)) if entry.pending => date,
        (None, None, None) if entry.pending => today,
        _ => return Err(format!("a booked transaction without a booking date ({:?})", entry.id)),
    };
    let outgoing = entry.amount.is_sign_negative();
    let party = if outgoing { entry.creditor.clone() } else { entry.debtor.clone() };
    let counterparty = party.and_then(|p| {
        let (scheme, identification) = match (p.iban, p.bban) {
            (Some(iban), _) => (Some("iban".to_owned()), Some(iban)),
            (None, Some(bban)) => (Some("bban".to_owned()), Some(bban)),
            (None, None) => (None, None),
        };
        let label = p.name.or_else(|| identification.clone())?;
        Some(Counterparty {
            label,
            account_scheme_name: scheme,
            account_identification: identification,
            kind: if outgoing { "creditor" } else { "debtor" },
        })
    });
    let wording = entry.wording.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    let original_wording =
        if wording.is_empty() { counterparty.as_ref().map(|c| c.label.clone()).unwrap_or_default() } else { wording };
    Ok(BankTransaction {
        webid: entry.id.or(entry.entry_reference).or(fingerprint),
        date,
        rdate: entry.transaction_date.unwrap_or(date),
        vdate: entry.value_date,
        value: entry.amount,
        original_wording,
        kind: transaction_type(entry.bank_transaction_code.as_deref()),
        coming: entry.pending,
        card: entry.masked_pan,
        counterparty,
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn balance(kind: &str, amount: Decimal, limit: bool) -> Balance {
        Balance { kind: kind.into(), amount, credit_limit_included: limit }
    }

    #[test]
    fn cash_account_types_map_to_powens_types() {
        let cases = [
            (Some("CACC"), false, "checking"),
            (Some("cacc"), false, "checking"),
            (Some("TRAN"), false, "checking"),
            (Some("SVGS"), false, "savings"),
            (Some("LLSV"), false, "savings"),
            (Some("ONDP"), false, "deposit"),
            (Some("LOAN"), false, "loan"),
            (Some("CARD"), false, "card"),
            (None, true, "card"),
            (Some("XXXX"), false, "unknown"),
            (None, false, "unknown"),
        ];
        for (code, card, expected) in cases {
            assert_eq!(account_type(code, card), expected, "{code:?}");
        }
    }

    #[test]
    fn the_balance_is_booked_money_and_coming_what_pending_operations_add() {
        let both = [balance("expected", dec!(90), false), balance("closingBooked", dec!(100), false)];
        assert_eq!(balance_and_coming(&both), Some((dec!(100), Some(dec!(-10)))));
        let interim = [balance("closingBooked", dec!(100), false), balance("interimBooked", dec!(95), false)];
        assert_eq!(balance_and_coming(&interim), Some((dec!(95), None)));
        // An available balance that includes the overdraft is not the account's money.
        let limits = [balance("interimAvailable", dec!(1100), true), balance("interimAvailable", dec!(100), false)];
        assert_eq!(balance_and_coming(&limits), Some((dec!(100), None)));
        let only_expected = [balance("expected", dec!(42), false)];
        assert_eq!(balance_and_coming(&only_expected), Some((dec!(42), None)));
        let unknown = [balance("somethingElse", dec!(7), false)];
        assert_eq!(balance_and_coming(&unknown), Some((dec!(7), None)));
        assert_eq!(balance_and_coming(&[]), None);
        assert_eq!(stet_balance_type("CLBD"), "closingBooked");
        assert_eq!(stet_balance_type("XPCD"), "expected");
    }

    #[test]
    fn bank_transaction_codes_map_to_powens_types() {
        let cases = [
            ("PMNT-CCRD-POSD", "card"),
            ("PMNT-CCRD-CWDL", "withdrawal"),
            ("PMNT-ICDT-ESCT", "transfer"),
            ("PMNT-RCDT-ESCT", "transfer"),
            ("PMNT-IDDT-ESDD", "order"),
            ("PMNT-ICHQ-CCHQ", "check"),
            ("ACMT-MDOP-CHRG", "bank"),
            ("PMNT-MCOP-OTHR", "unknown"),
            ("RCDT-ESCT", "transfer"),
            ("garbage", "unknown"),
        ];
        for (code, expected) in cases {
            assert_eq!(transaction_type(Some(code)), expected, "{code}");
        }
        assert_eq!(transaction_type(None), "unknown");
    }

    fn entry(amount: Decimal) -> Entry {
        Entry { booking_date: Some(day(20)), amount, wording: vec!["CB CAFE".into()], ..Entry::default() }
    }

    #[test]
    fn webids_come_from_the_bank_else_from_a_ranked_fingerprint() {
        let with_id = Entry { id: Some("T1".into()), entry_reference: Some("R1".into()), ..entry(dec!(-3)) };
        let with_reference = Entry { entry_reference: Some("R2".into()), ..entry(dec!(-3)) };
        let pending = Entry { pending: true, booking_date: None, value_date: Some(day(21)), ..entry(dec!(-3)) };
        let rows = vec![with_id, with_reference, entry(dec!(-3)), entry(dec!(-3)), entry(dec!(-4)), pending];
        let rows = bank_transactions(rows, day(26)).unwrap();
        let webids: Vec<_> = rows.iter().map(|t| t.webid.clone()).collect();
        assert_eq!(webids[0].as_deref(), Some("T1"));
        assert_eq!(webids[1].as_deref(), Some("R2"));
        let (a, b, c) = (webids[2].clone().unwrap(), webids[3].clone().unwrap(), webids[4].clone().unwrap());
        assert!(a.starts_with("fp-") && a.ends_with("-1") && b.ends_with("-2"), "{a} {b}");
        assert_eq!(a[..a.len() - 2], b[..b.len() - 2], "identical rows share a digest and differ by rank");
        assert_ne!(a[..a.len() - 2], c[..c.len() - 2]);
        assert_eq!((webids[5].clone(), rows[5].coming, rows[5].date), (None, true, day(21)));
        // The same content fingerprints the same way on every sync.
        let again = bank_transactions(vec![entry(dec!(-3))], day(27)).unwrap();
        assert_eq!(again[0].webid.as_deref(), Some(a.as_str()));
    }

    #[test]
    fn counterparty_wording_and_dates() {
        let creditor = Party { name: Some("EDF".into()), iban: Some("FR7630006000011234567890189".into()), bban: None };
        let debtor = Party { name: Some("ACME".into()), ..Party::default() };
        let outgoing = Entry {
            id: Some("1".into()),
            booking_date: Some(day(20)),
            value_date: Some(day(19)),
            transaction_date: Some(day(18)),
            amount: dec!(-61.20),
            wording: vec![" PRLV SEPA EDF ".into(), "".into(), "REF 123".into()],
            creditor: Some(creditor),
            debtor: Some(debtor.clone()),
            ..Entry::default()
        };
        let incoming = Entry { id: Some("2".into()), amount: dec!(2500), wording: vec![], ..outgoing.clone() };
        let rows = bank_transactions(vec![outgoing, incoming], day(26)).unwrap();
        assert_eq!((rows[0].date, rows[0].rdate, rows[0].vdate), (day(20), day(18), Some(day(19))));
        assert_eq!(rows[0].original_wording, "PRLV SEPA EDF REF 123");
        let party = rows[0].counterparty.clone().unwrap();
        assert_eq!(
            (party.label.as_str(), party.kind, party.account_scheme_name.as_deref()),
            ("EDF", "creditor", Some("iban"))
        );
        // Money in: the debtor is the counterparty, and names the row when there is no wording.
        assert_eq!(rows[1].counterparty.as_ref().map(|p| (p.label.as_str(), p.kind)), Some(("ACME", "debtor")));
        assert_eq!(rows[1].original_wording, "ACME");
    }

    #[test]
    fn date_times_are_the_banks_days() {
        let paris = chrono_tz::Europe::Paris;
        assert_eq!(bank_day("2026-11-20", paris), Some(day(20)));
        assert_eq!(bank_day("2026-11-20T23:30:00", paris), Some(day(20)), "no offset: the bank's time");
        assert_eq!(bank_day("2026-11-20T23:30:00.123", paris), Some(day(20)));
        assert_eq!(bank_day("2026-11-20T23:30:00Z", paris), Some(day(21)), "00:30 in Paris");
        assert_eq!(bank_day("2026-11-20T23:30:00+0000", paris), Some(day(21)));
        assert_eq!(bank_day("2026-11-20T23:30:00Z", chrono_tz::UTC), Some(day(20)));
        assert_eq!(bank_day("20.11.2026", paris), None);
    }

    #[test]
    fn remittance_is_read_as_text_lines_or_an_object() {
        use serde_json::json;
        assert_eq!(remittance_lines(&json!("RENT")), ["RENT"]);
        assert_eq!(remittance_lines(&json!(["VIR", "SALAIRE"])), ["VIR", "SALAIRE"]);
        assert_eq!(remittance_lines(&json!({ "reference": "RF18", "referenceType": "SCOR" })), ["RF18"]);
        assert!(remittance_lines(&json!(null)).is_empty());
    }

    #[test]
    fn a_booked_row_without_a_booking_date_is_refused() {
        let undated = Entry { booking_date: None, value_date: Some(day(3)), ..entry(dec!(1)) };
        assert!(bank_transactions(vec![undated], day(26)).unwrap_err().contains("without a booking date"));
        let pending = Entry { booking_date: None, pending: true, ..entry(dec!(1)) };
        assert_eq!(bank_transactions(vec![pending], day(26)).unwrap()[0].date, day(26));
    }
}
