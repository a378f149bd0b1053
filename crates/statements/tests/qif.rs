//! QIF files as Quicken and banks write them, read through the crate's entry points.

mod common;

use common::*;
use rust_decimal_macros::dec;
use statements::{Account, Entry, Error, Event, Format, Options, detect, parse};

fn read(bytes: &[u8]) -> Result<Vec<Event>, Error> {
    let mut events = Vec::new();
    parse(Format::Qif, bytes, &Options::default(), &mut |event| events.push(event))?;
    Ok(events)
}

fn error(text: &str) -> (String, String) {
    let err = read(text.as_bytes()).unwrap_err();
    assert_eq!(err.format, Format::Qif);
    (err.location, err.reason)
}

#[test]
fn quicken_checking_with_apostrophe_years_and_splits() {
    let bytes = fixture("qif", "quicken_checking.qif");
    assert_eq!(detect(&bytes), Some(Format::Qif));
    let events = read(&bytes).unwrap();
    assert_eq!(events.first(), Some(&Event::Statement(Account::default())), "!Type:Cat is skipped");
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Statement(_))).count(), 1, "!Type:Memorized too");
    assert_eq!(
        summary(&events),
        [
            (day(2005, 1, 2), dec!(1500.00), "Opening Balance"),
            (day(2005, 1, 3), dec!(-45.67), "Safeway Weekly groceries"),
            (day(2005, 1, 15), dec!(-1234.56), "City Properties January rent"),
            (day(2005, 1, 20), dec!(2000.00), "ACME Corp"),
            (day(2004, 12, 31), dec!(-9.99), "Monthly service fee"),
        ]
    );
    let entries = entries(&events);
    assert_eq!(entries[1].payee.as_deref(), Some("Safeway"));
    assert_eq!(entries[1].reference.as_deref(), Some("1001"));
    assert_eq!(entries[2].reference.as_deref(), Some("1002"));
    assert_eq!(entries[4].payee, None);
    assert!(entries.iter().all(|e| !e.pending && e.value_date.is_none() && e.currency.is_none()));
}

#[test]
fn credit_card_sections_are_card_accounts() {
    let events = read(&fixture("qif", "quicken_ccard.qif")).unwrap();
    assert_eq!(events[0], Event::Statement(Account { card: true, ..Account::default() }));
    assert_eq!(
        summary(&events),
        [(day(2024, 3, 5), dec!(-25.00), "SHELL OIL 12345"), (day(2024, 3, 28), dec!(500.00), "PAYMENT - THANK YOU")]
    );
}

#[test]
fn a_french_bank_with_day_first_dates_and_decimal_commas() {
    let events = read(&fixture("qif", "banque_fr.qif")).unwrap();
    assert_eq!(events.len(), 6);
    assert_eq!(
        summary(&events),
        [
            (day(2024, 3, 1), dec!(-1234.56), "VIR SEPA LOYER MARS"),
            (day(2024, 3, 5), dec!(-45.90), "CB CARREFOUR 04/03 Carte X1234"),
            (day(2024, 3, 12), dec!(2500.00), "VIR SALAIRE"),
            (day(2024, 3, 15), dec!(-12.30), "PRLV SEPA Électricité"),
            (day(2024, 3, 20), dec!(1234.56), "REMBOURSEMENT"),
        ]
    );
    assert_eq!(entries(&events)[3].reference.as_deref(), Some("0000123"));
}

#[test]
fn an_account_list_then_named_sections() {
    let events = read(&fixture("qif", "accounts.qif")).unwrap();
    let named = |name: &str, card| Event::Statement(Account { name: Some(name.into()), card, ..Account::default() });
    let entry = |date, amount, wording: &str| {
        Event::Entry(Entry {
            booking_date: date,
            amount,
            wording: wording.into(),
            payee: Some(wording.into()),
            ..Entry::default()
        })
    };
    assert_eq!(
        events,
        [
            named("Checking", false),
            entry(day(2024, 3, 1), dec!(-10.00), "Coffee"),
            named("Visa", true),
            entry(day(2024, 3, 2), dec!(-20.00), "Books"),
            // The investment account's section is skipped; the next section has no !Account of its own.
            Event::Statement(Account::default()),
            entry(day(2024, 3, 5), dec!(1.00), "Interest"),
        ],
        "dates that read both ways all file long are month first"
    );
}

#[test]
fn an_account_list_names_no_section() {
    let text = "!Option:AutoSwitch\n!Account\nNSavings\nTBank\n^\n!Clear:AutoSwitch\n!Type:Bank\nD2024-01-31\nT1\n^\n";
    assert_eq!(read(text.as_bytes()).unwrap()[0], Event::Statement(Account::default()));
    let text = "!Account\nNSavings\nTOth A\n^\n!Type:Oth A\nD2024-01-31\nT1\n^\n";
    let savings = Account { name: Some("Savings".into()), ..Account::default() };
    assert_eq!(read(text.as_bytes()).unwrap()[0], Event::Statement(savings));
}

#[test]
fn lenient_about_what_quicken_varies() {
    // Lower-case headers with trailing spaces, no final `^`, blank lines, unknown fields, a `U` alone.
    let events = read(b"!type:bank  \n\nD31.12.2023\nFx\nU-1.5\nMmemo only\n").unwrap();
    assert_eq!(summary(&events), [(day(2023, 12, 31), dec!(-1.5), "memo only")]);
    assert_eq!(entries(&events)[0].payee, None);
    // Split amounts that do not add up, or do not even parse, are not the entry's business.
    let events = read(b"!Type:Cash\nD2024-02-01\nT-10\nSA\n$-3\nSB\n$oops\n^\n").unwrap();
    assert_eq!(summary(&events), [(day(2024, 2, 1), dec!(-10), "")]);
    // An empty record, and a section with no records, are nothing.
    assert_eq!(read(b"!Type:Bank\n^\n!Type:Bank\n").unwrap().len(), 2);
}

#[test]
fn entries_with_known_dates_reach_the_sink_before_a_later_error() {
    let mut seen = Vec::new();
    let text = "!Type:Bank\nD2024-01-31\nT1\n^\nD2024-02-01\nTx\n^\n";
    let err = parse(Format::Qif, text.as_bytes(), &Options::default(), &mut |event| seen.push(event)).unwrap_err();
    assert_eq!(err.location, "line 6");
    assert_eq!(seen.len(), 2, "the statement and its first entry");
}

#[test]
fn ambiguous_dates_are_held_until_a_date_proves_the_order() {
    let mut text = String::from("!Type:Bank\n");
    for _ in 0..statements::qif::HOLD_ENTRIES {
        text.push_str("D02/01/2024\nT1\n^\n");
    }
    let proven = format!("{text}D13/01/2024\nT2\n^\n");
    let events = read(proven.as_bytes()).unwrap();
    let dates: Vec<_> = entries(&events).iter().map(|e| e.booking_date).collect();
    assert_eq!(dates.len(), statements::qif::HOLD_ENTRIES + 1);
    assert!(dates.iter().take(statements::qif::HOLD_ENTRIES).all(|date| *date == day(2024, 1, 2)));
    assert_eq!(dates.last(), Some(&day(2024, 1, 13)));

    // One more and the order is assumed month first: a later day-first date is refused.
    let late = format!("{text}D02/01/2024\nT1\n^\nD13/01/2024\nT2\n^\n");
    let (location, reason) = error(&late);
    assert_eq!(location, format!("line {}", 2 + 3 * (statements::qif::HOLD_ENTRIES + 1)));
    assert_eq!(
        reason,
        "date '13/01/2024' is not in the day/month order of the dates before it, read month first for want of an earlier date above 12"
    );

    // Entries after a held one are held too (to keep the file's order), and count.
    let mut text = String::from("!Type:Bank\nD02/01/2024\nT1\n^\n");
    for _ in 0..statements::qif::HOLD_ENTRIES {
        text.push_str("D2024-01-05\nT1\n^\n");
    }
    let events = read(text.as_bytes()).unwrap();
    assert_eq!(entries(&events).first().map(|e| e.booking_date), Some(day(2024, 2, 1)));
    let (_, reason) = error(&format!("{text}D13/01/2024\nT2\n^\n"));
    assert!(reason.starts_with("date '13/01/2024' is not in the day/month order of the dates before it"), "{reason}");
}

#[test]
fn bad_records_are_errors_at_their_line() {
    let cases = [
        ("D01/02/2024\nT1\n^\n", "line 1", "a field before any !Type: or !Account header"),
        ("!Type:Bank\nT-1.00\nPNo date\n^\n", "line 4", "a record without a date (D)"),
        ("!Type:Bank\nD2024-01-01\nPNo amount\n^\n", "line 4", "a record without an amount (T)"),
        ("!Type:Bank\nD2024-01-01\nPNo amount, no end\n", "line 3", "a record without an amount (T)"),
        ("!Type:Bank\nDyesterday\nT1\n^\n", "line 2", "date 'yesterday' does not parse"),
        ("!Type:Bank\nD31.02.2024\nT1\n^\n", "line 2", "date '31.02.2024' does not parse"),
        ("!Type:Bank\nD31/31/2024\nT1\n^\n", "line 2", "date '31/31/2024' is no calendar date"),
        ("!Type:Bank\nD2024-01-01\nT12 EUR\n^\n", "line 3", "amount '12 EUR' does not parse"),
        ("!Type:Bank\nD2024-01-01\nT1\nU1e5\n^\n", "line 4", "amount '1e5' does not parse"),
        (
            "!Type:Bank\nD01/13/2024\nT1\n^\nD13/01/2024\nT1\n^\n",
            "line 5",
            "date '13/01/2024' is not in the day/month order of line 2's date (month first)",
        ),
    ];
    for (text, location, reason) in cases {
        assert_eq!(error(text), (location.to_owned(), reason.to_owned()), "{text}");
    }
}

#[test]
fn skipped_sections_are_not_read() {
    // Investment and memorized records have fields a bank record cannot hold: none is an error.
    let text = "!Type:Invst\nDnot a date\nNBuy\nTlots\n^\n!Type:Memorized\nKC\nT?\n^\n!Type:Class\nNx\n^\n";
    assert_eq!(read(text.as_bytes()).unwrap(), []);
}
