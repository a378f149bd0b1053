//! Helpers every format's tests share. (Each test binary uses a part of them.)
#![allow(dead_code)]

use chrono::NaiveDate;
use rust_decimal::Decimal;
use statements::{Balance, BalanceKind, Entry, Event};

/// The bytes of `tests/fixtures/<format>/<name>`.
pub fn fixture(format: &str, name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{format}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

pub fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

pub fn balance(kind: BalanceKind, amount: Decimal, currency: &str, date: NaiveDate) -> Balance {
    Balance { kind, amount, currency: some(currency), date: Some(date) }
}

pub fn entries(events: &[Event]) -> Vec<&Entry> {
    events.iter().filter_map(|event| if let Event::Entry(entry) = event { Some(entry) } else { None }).collect()
}

/// (date, amount, wording) of each entry.
pub fn summary(events: &[Event]) -> Vec<(NaiveDate, Decimal, &str)> {
    entries(events).iter().map(|e| (e.booking_date, e.amount, e.wording.as_str())).collect()
}
