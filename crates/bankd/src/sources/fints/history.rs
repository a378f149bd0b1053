//! An account's history over FinTS: asked as camt.052 (HKCAZ) or MT940/MT942 (HKKAZ), gathered
//! page by page, and read by bankd's own statement parsers once every page is in — banks cut MT940
//! pages anywhere, inside a `:86:` field too, so a page alone may not parse.

use std::str::FromStr;

use chrono::NaiveDate;
use fints::{Element, Message, Segment, Value};
use rust_decimal::Decimal;

use super::SepaAccount;
use crate::domain::bank::BankTransaction;
use crate::sources::entries::{Webids, bank_transaction};
use crate::sources::{SourceError, SourceResult};

/// How the bank gives the history.
pub enum Statement {
    /// HKCAZ v1, in this camt.052 version.
    Camt { descriptor: String },
    /// HKKAZ in this version.
    Mt940 { version: u32 },
}

impl Statement {
    /// The request for the history from `from` (all the bank keeps when `None`), continuing at
    /// the touchdown point `point`.
    pub fn request(&self, account: &SepaAccount, from: Option<NaiveDate>, point: Option<&str>) -> Segment {
        let from = from.map(|d| d.format("%Y%m%d").to_string()).unwrap_or_default();
        let point = point.unwrap_or_default();
        match self {
            Statement::Camt { descriptor } => Segment::new("HKCAZ", 1)
                .push(account.international())
                .push(descriptor.as_str())
                .push("N")
                .push(from)
                .push("")
                .push("")
                .push(point),
            Statement::Mt940 { version } => {
                let named = if *version >= 7 { account.international() } else { account.national() };
                Segment::new("HKKAZ", *version).push(named).push("N").push(from).push("").push("").push(point)
            }
        }
    }
}

/// The pages of one account's history, as they arrive.
#[derive(Default)]
pub struct History {
    /// camt: one document per item; MT940: the pages, to be joined.
    booked: Vec<Vec<u8>>,
    pending: Vec<Vec<u8>>,
}

impl History {
    /// Keeps the data of one answer (HICAZ or HIKAZ).
    pub fn take(&mut self, statement: &Statement, answer: &Message) {
        let (kind, booked, pending) = match statement {
            Statement::Camt { .. } => ("HICAZ", 2, 3),
            Statement::Mt940 { .. } => ("HIKAZ", 0, 1),
        };
        for segment in answer.all(kind) {
            self.booked.extend(binaries(segment.element(booked)));
            self.pending.extend(binaries(segment.element(pending)));
        }
    }

    /// Every entry read, booked then pending.
    pub fn transactions(self, statement: &Statement) -> SourceResult<Vec<BankTransaction>> {
        let (format, booked, pending) = match statement {
            Statement::Camt { .. } => (statements::Format::Camt, self.booked, self.pending),
            // MT940 pages are one text cut in pieces.
            Statement::Mt940 { .. } => {
                (statements::Format::Mt940, vec![self.booked.concat()], vec![self.pending.concat()])
            }
        };
        let mut webids = Webids::default();
        let mut transactions = Vec::new();
        for (documents, pending) in [(booked, false), (pending, true)] {
            for document in documents.iter().filter(|d| !d.iter().all(u8::is_ascii_whitespace)) {
                for mut entry in parse(format, document)? {
                    entry.pending |= pending;
                    let mut transaction = bank_transaction(&entry, webids.next(&entry));
                    // A pending entry's id is not the booked one's: reconciliation pairs them.
                    if transaction.coming {
                        transaction.webid = None;
                    }
                    transactions.push(transaction);
                }
            }
        }
        Ok(transactions)
    }
}

/// The binary items of an element (a camt answer's booked part is a group of documents).
fn binaries(element: Option<&Element>) -> Vec<Vec<u8>> {
    let items = element.map(|e| e.0.as_slice()).unwrap_or_default();
    items.iter().filter_map(|v| if let Value::Binary(b) = v { Some(b.clone()) } else { None }).collect()
}

fn parse(format: statements::Format, document: &[u8]) -> SourceResult<Vec<statements::Entry>> {
    let mut entries = Vec::new();
    let mut sink = |event| {
        if let statements::Event::Entry(entry) = event {
            entries.push(entry);
        }
    };
    statements::parse(format, document, &statements::Options::default(), &mut sink)
        .map_err(|e| SourceError::Bug(format!("the bank's {} history cannot be read: {e}", format.name())))?;
    Ok(entries)
}

/// A balance as FinTS writes it: `C|D:amount:currency:YYYYMMDD`, the amount with a decimal comma.
pub fn balance(element: &Element) -> SourceResult<Decimal> {
    let unreadable = || SourceError::Bug(format!("the bank's balance cannot be read: {:?}", element.0));
    let amount = element.text(1).ok_or_else(unreadable)?;
    let amount = Decimal::from_str(&amount.replace(',', ".")).map_err(|_| unreadable())?;
    match element.text(0) {
        Some("C") => Ok(amount),
        Some("D") => Ok(-amount),
        _ => Err(unreadable()),
    }
}

#[cfg(test)]
mod tests {
    use fints::message::answer;
    use rust_decimal_macros::dec;

    use super::*;

    fn account() -> SepaAccount {
        SepaAccount {
            iban: Some("DE44999999990000012345".into()),
            bic: Some("SANDDEXXXXX".into()),
            number: "12345".into(),
            sub_account: String::new(),
            bank_code: "99999999".into(),
        }
    }

    #[test]
    fn requests_name_the_account_as_their_version_wants() {
        let day = NaiveDate::from_ymd_opt(2026, 9, 1);
        let mut wire = Vec::new();
        Statement::Mt940 { version: 6 }.request(&account(), day, Some("P2")).encode(&mut wire);
        assert_eq!(String::from_utf8(wire).unwrap(), "HKKAZ:0:6+12345::280:99999999+N+20260901+++P2'");
        let mut wire = Vec::new();
        Statement::Camt { descriptor: "urn:camt.052.001.08".into() }.request(&account(), None, None).encode(&mut wire);
        assert_eq!(
            String::from_utf8(wire).unwrap(),
            "HKCAZ:0:1+DE44999999990000012345:SANDDEXXXXX:12345::280:99999999+urn?:camt.052.001.08+N'"
        );
    }

    #[test]
    fn mt940_pages_cut_inside_a_field_are_joined_and_mt942_is_pending() {
        let mt940: &[u8] = b":20:STARTUMS\r\n:25:99999999/12345\r\n:28C:1\r\n:60F:C260901EUR100,00\r\n\
                     :61:2609020902D12,50NMSCNONREF\r\n:86:105?00LASTSCHRIFT?20Stadtwerke M\xFCnchen\r\n\
                     :62F:C260902EUR87,50\r\n-";
        let cut = mt940.windows(10).position(|w| w == b"Stadtwerke").unwrap() + 5;
        let page = |part: &[u8], pending: &[u8]| {
            let hikaz = Segment::new("HIKAZ", 7)
                .answering(3)
                .push(Element::binary(part.to_vec()))
                .push(if pending.is_empty() { Element::default() } else { Element::binary(pending.to_vec()) });
            Message::decode(&answer("1", 2, 2, vec![hikaz])).unwrap()
        };
        let mt942 = ":20:STARTUMS\r\n:25:99999999/12345\r\n:28C:1\r\n:34F:EURD0,\r\n\
                     :61:2609030903D4,20NMSCNONREF\r\n:86:005?00KARTE?20Baeckerei\r\n-";
        let statement = Statement::Mt940 { version: 7 };
        let mut history = History::default();
        history.take(&statement, &page(&mt940[..cut], b""));
        history.take(&statement, &page(&mt940[cut..], mt942.as_bytes()));
        let transactions = history.transactions(&statement).unwrap();
        assert_eq!(transactions.len(), 2, "{transactions:?}");
        assert_eq!(transactions[0].value, dec!(-12.50));
        assert!(transactions[0].original_wording.contains("Stadtwerke"), "{:?}", transactions[0].original_wording);
        assert!(!transactions[0].coming && transactions[0].webid.is_some());
        assert!(transactions[1].coming && transactions[1].webid.is_none(), "MT942 entries are pending");
    }

    #[test]
    fn balances_carry_their_side() {
        assert_eq!(balance(&Element::from(["C", "1234,56", "EUR", "20261204"])).unwrap(), dec!(1234.56));
        assert_eq!(balance(&Element::from(["D", "7,5", "EUR"])).unwrap(), dec!(-7.5));
        assert!(balance(&Element::from(["X", "1"])).is_err());
    }
}
