//! OFX/QFX files, read whole: fixtures written from the specification, and real exports copied from
//! the `ofx-rs` crate (see `fixtures/ofx/SOURCES.md`).

mod common;

use common::*;
use std::io::BufReader;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use statements::{Account, Balance, BalanceKind, Entry, Error, Event, Format, Options};

const FIXTURES: &[&str] = &[
    "sgml-102-cp1252.ofx",
    "qfx-one-line.qfx",
    "xml-220-statements.ofx",
    "mercury-checking.ofx",
    "br_nubank_cc.ofx",
    "stmtrs_euro.ofx",
    "sgml_header_statement.ofx",
    "multi_transaction_statement.ofx",
    "credit_card_statement.ofx",
    "invstmtrs.ofx",
];

/// The events of `bytes`, and the error that stopped them, if any.
fn read(bytes: &[u8]) -> (Vec<Event>, Option<Error>) {
    let mut events = Vec::new();
    let result = statements::parse(Format::Ofx, bytes, &Options::default(), &mut |event| events.push(event));
    (events, result.err())
}

/// One statement as read: its account, balances and entries.
#[derive(Debug)]
struct Statement {
    account: Account,
    balances: Vec<Balance>,
    entries: Vec<Entry>,
}

fn statements(name: &str) -> Vec<Statement> {
    let (events, error) = read(&fixture("ofx", name));
    assert_eq!(error, None, "{name}");
    let mut statements: Vec<Statement> = Vec::new();
    for event in events {
        match (event, statements.last_mut()) {
            (Event::Statement(account), _) => statements.push(Statement { account, balances: vec![], entries: vec![] }),
            (Event::Balance(balance), Some(statement)) => statement.balances.push(balance),
            (Event::Entry(entry), Some(statement)) => statement.entries.push(entry),
            (Event::Warning(warning), Some(_)) => panic!("{name}: OFX reads without deviations: {warning:?}"),
            (event, None) => panic!("{name}: {event:?} before any statement"),
        }
    }
    statements
}

fn only(name: &str) -> Statement {
    let mut statements = statements(name);
    assert_eq!(statements.len(), 1, "{name}: {statements:?}");
    statements.remove(0)
}

/// An entry with what every OFX transaction has; the rest defaulted, for `..` in the tests.
fn entry(date: NaiveDate, amount: Decimal, currency: &str, wording: &str, fitid: &str, kind: &str) -> Entry {
    Entry {
        booking_date: date,
        amount,
        currency: some(currency),
        wording: wording.to_owned(),
        reference: some(fitid),
        kind: some(kind),
        ..Entry::default()
    }
}

#[test]
fn sgml_102_in_windows_1252_with_payee_check_and_transfer() {
    let statement = only("sgml-102-cp1252.ofx");
    let account = Account { number: some("00012345678"), currency: some("EUR"), ..Account::default() };
    assert_eq!(statement.account, account, "BANKID 30004 is a bank code, not a BIC");
    let cafe = "CAFÉ DE LA GARE";
    let salaries = "SOCIÉTÉ GÉNÉRALE DE SALAIRES";
    assert_eq!(
        statement.entries,
        [
            Entry {
                value_date: Some(day(2024, 3, 5)),
                payee: some(cafe),
                ..entry(
                    day(2024, 3, 4),
                    dec!(-23.50),
                    "EUR",
                    "CAFÉ DE LA GARE CB 02/03 Crème brûlée & thé",
                    "2024030400001",
                    "DEBIT"
                )
            },
            entry(day(2024, 3, 11), dec!(-150.00), "EUR", "CHECK 0001234", "2024031100002", "CHECK"),
            Entry {
                payee: some(salaries),
                counterparty_account: some("FR7630006000011234567890189"),
                ..entry(
                    day(2024, 3, 15),
                    dec!(1200),
                    "EUR",
                    "SOCIÉTÉ GÉNÉRALE DE SALAIRES VIR SALAIRE MARS",
                    "2024031500003",
                    "XFER"
                )
            },
        ]
    );
    assert_eq!(
        statement.balances,
        [
            balance(BalanceKind::Closing, dec!(2345.67), "EUR", day(2024, 3, 31)),
            balance(BalanceKind::Available, dec!(2300.00), "EUR", day(2024, 3, 31)),
        ]
    );
}

#[test]
fn qfx_on_one_line_with_an_iban_comma_amounts_time_zones_and_currencies() {
    let statement = only("qfx-one-line.qfx");
    let account = Account {
        iban: some("DE89370400440532013000"),
        bic: some("COBADEFFXXX"),
        currency: some("EUR"),
        ..Account::default()
    };
    assert_eq!(statement.account, account);
    assert_eq!(
        statement.entries,
        [
            Entry {
                value_date: Some(day(2024, 5, 3)),
                payee: some("Stadtwerke München"),
                ..entry(
                    day(2024, 5, 2),
                    dec!(-12.30),
                    "EUR",
                    "Stadtwerke München Abschlag Mai",
                    "DE-0001",
                    "DIRECTDEBIT"
                )
            },
            // 23:59 at UTC-5 stays 10 May; the amount is in the transaction's CURRENCY.
            Entry {
                payee: some("AMAZON US"),
                ..entry(day(2024, 5, 10), dec!(-45.00), "USD", "AMAZON US Order 112-1234567", "DE-0002", "POS")
            },
            // ORIGCURRENCY: already converted, the amount is in CURDEF.
            Entry {
                payee: some("THE ANCHOR PUB LONDON"),
                ..entry(day(2024, 5, 20), dec!(-20.55), "EUR", "THE ANCHOR PUB LONDON", "DE-0003", "POS")
            },
            Entry {
                payee: some("Gehalt Mai"),
                ..entry(day(2024, 5, 31), dec!(3200), "EUR", "Gehalt Mai", "DE-0004", "CREDIT")
            },
        ]
    );
    assert_eq!(statement.balances, [balance(BalanceKind::Closing, dec!(4567.89), "EUR", day(2024, 5, 31))]);
}

#[test]
fn xml_with_two_bank_statements_a_card_statement_pending_entries_and_a_skipped_investment_statement() {
    let statements = statements("xml-220-statements.ofx");
    let accounts: Vec<_> = statements.iter().map(|statement| &statement.account).collect();
    assert_eq!(
        accounts,
        [
            &Account { number: some("1111222233"), currency: some("USD"), ..Account::default() },
            &Account { number: some("0998877"), currency: some("CAD"), ..Account::default() },
            &Account { number: some("XXXXXXXXXXXX4321"), currency: some("USD"), card: true, ..Account::default() },
        ],
        "the investment statement is skipped"
    );

    let checking = &statements[0];
    assert_eq!(
        checking.entries,
        [
            Entry {
                payee: some("PROCTER & GAMBLE STORE"),
                ..entry(
                    day(2024, 6, 3),
                    dec!(-64.12),
                    "USD",
                    "PROCTER & GAMBLE STORE Card purchase <4321>",
                    "CHK-0603-1",
                    "DEBIT"
                )
            },
            Entry {
                payee: some("ACME PAYROLL"),
                ..entry(day(2024, 6, 15), dec!(2100.00), "USD", "ACME PAYROLL", "CHK-0615-1", "DEP")
            },
            Entry {
                booking_date: day(2024, 6, 30),
                amount: dec!(-30.00),
                currency: some("USD"),
                wording: "GAS STATION PREAUTH".into(),
                payee: some("GAS STATION PREAUTH"),
                pending: true,
                kind: some("HOLD"),
                ..Entry::default()
            },
        ]
    );
    assert_eq!(
        checking.balances,
        [
            balance(BalanceKind::Closing, dec!(3456.78), "USD", day(2024, 6, 30)),
            balance(BalanceKind::Available, dec!(3426.78), "USD", day(2024, 7, 1)),
        ]
    );

    let savings = &statements[1];
    assert_eq!(
        savings.entries,
        [Entry {
            payee: some("Intérêts créditeurs"),
            ..entry(day(2024, 6, 30), dec!(3.21), "CAD", "Intérêts créditeurs Taux 1,5 % — juin", "SAV-0630-1", "INT")
        }]
    );
    assert_eq!(savings.balances, [balance(BalanceKind::Closing, dec!(10003.21), "CAD", day(2024, 6, 30))]);

    let card = &statements[2];
    let entries: Vec<_> =
        card.entries.iter().map(|e| (e.booking_date, e.value_date, e.amount, e.wording.as_str())).collect();
    assert_eq!(
        entries,
        [
            (day(2024, 6, 5), None, dec!(-19.99), "NETFLIX.COM"),
            (day(2024, 6, 20), None, dec!(500.00), "PAYMENT - THANK YOU")
        ],
        "DTUSER is no value date"
    );
    assert_eq!(card.balances, [balance(BalanceKind::Closing, dec!(-742.10), "USD", day(2024, 6, 30))]);
}

#[test]
fn a_truncated_file_is_an_error_at_its_open_transaction_after_what_it_streamed() {
    let (events, error) = read(&fixture("ofx", "truncated.ofx"));
    let error = error.expect("an error");
    assert_eq!((error.format, error.location.as_str()), (Format::Ofx, "line 29"));
    assert_eq!(error.reason, "the file ends inside this STMTTRN: it is truncated");
    assert_eq!(error.to_string(), "ofx statement, line 29: the file ends inside this STMTTRN: it is truncated");
    // Streamed before the end was found: the caller discards them with the error.
    assert!(matches!(events.as_slice(), [Event::Statement(_), Event::Entry(entry)] if entry.wording == "FIRST"));
}

#[test]
fn a_file_that_is_not_ofx_is_refused() {
    let csv = fixture("ofx", "not-ofx.csv");
    let (events, error) = read(&csv);
    let error = error.expect("an error");
    assert_eq!(events, []);
    assert_eq!(error.location, "line 1");
    assert_eq!(error.reason, "not an OFX file: it begins with neither an OFXHEADER header nor <OFX>");
    assert_eq!(statements::detect(&csv), Some(Format::Csv));
}

#[test]
fn mercury_checking_export_that_closes_no_aggregate() {
    let statement = only("mercury-checking.ofx");
    let account = Account { number: some("202497494038"), currency: some("USD"), ..Account::default() };
    assert_eq!(statement.account, account);

    let entries = &statement.entries;
    assert_eq!(entries.len(), 674);
    assert_eq!(entries.iter().filter(|e| e.amount > Decimal::ZERO).count(), 115);
    let mut fitids: Vec<_> = entries.iter().filter_map(|e| e.reference.as_deref()).collect();
    fitids.sort_unstable();
    fitids.dedup();
    assert_eq!(fitids.len(), 674, "every FITID read, and only once");
    // The account opened with this export: its entries add up to its closing balance.
    let total: Decimal = entries.iter().map(|e| e.amount).sum();
    assert_eq!(total, dec!(1149.86));
    assert_eq!(statement.balances, [balance(BalanceKind::Closing, dec!(1149.86), "USD", day(2026, 3, 19))]);
    assert_eq!(entries.iter().map(|e| e.booking_date).min(), Some(day(2024, 3, 11)));
    assert_eq!(entries.iter().map(|e| e.booking_date).max(), Some(day(2026, 3, 18)));

    let boeing = "Boeing Employees Credit Union (B";
    assert_eq!(
        entries[0],
        Entry {
            payee: some(boeing),
            ..entry(day(2024, 3, 11), dec!(2500.0), "USD", boeing, "cdd3fc6a-dbee-11ee-9629-1bbe55d25559", "CREDIT")
        }
    );
    let wordings: Vec<_> = entries.iter().take(3).map(|e| (e.payee.as_deref(), e.wording.as_str())).collect();
    assert_eq!(
        wordings,
        [(Some(boeing), boeing), (Some("Figma"), "FIGMA ANNUAL RENEWAL"), (Some("Best Buy"), "Best Buy BESTBUY.COM")]
    );
    let last = entries.last().unwrap();
    assert_eq!(
        (last.booking_date, last.amount, last.wording.as_str(), last.reference.as_deref()),
        (
            day(2026, 3, 18),
            dec!(-5.33),
            "ELEVENLABS.IO; ELEVENLABS; DIAM GENERAL SERVICES",
            Some("cb8e5884-2312-11f1-87b8-3f2b60b10cfa")
        )
    );
}

#[test]
fn nubank_credit_card_statement() {
    let statement = only("br_nubank_cc.ofx");
    let account = Account {
        number: some("11111111-UUID-UUID-UUID-111111111111"),
        currency: some("BRL"),
        card: true,
        ..Account::default()
    };
    assert_eq!(statement.account, account);
    let amounts: Vec<_> = statement.entries.iter().map(|e| e.amount).collect();
    assert_eq!(amounts, [dec!(-13.00), dec!(-162.90), dec!(-33.46), dec!(-9.02), dec!(-103.53), dec!(-959.00)]);
    assert_eq!(amounts.iter().sum::<Decimal>(), dec!(-1280.91));
    assert_eq!(
        statement.entries[0],
        entry(day(2024, 3, 23), dec!(-13.00), "BRL", "-memo-message-", "11111111-UUID-4747-8883-111111111111", "DEBIT"),
        "a MEMO alone is the wording and names no payee"
    );
    assert_eq!(statement.entries[5].booking_date, day(2024, 3, 22), "20240322000000[-3:GMT]");
    assert_eq!(statement.balances, [balance(BalanceKind::Closing, dec!(-1280.91), "BRL", day(2024, 3, 25))]);
}

#[test]
fn euro_amounts_with_decimal_commas() {
    let statement = only("stmtrs_euro.ofx");
    assert_eq!(statement.account, Account { number: some("999988"), currency: some("USD"), ..Account::default() });
    assert_eq!(
        statement.entries,
        [
            entry(day(2005, 10, 4), dec!(-200.00), "USD", "CHECK 1000", "00002", "CHECK"),
            entry(day(2005, 10, 20), dec!(-300.00), "USD", "", "00003", "ATM"),
        ]
    );
    assert_eq!(
        statement.balances,
        [
            balance(BalanceKind::Closing, dec!(200.29), "USD", day(2005, 10, 29)),
            balance(BalanceKind::Available, dec!(200.29), "USD", day(2005, 10, 29)),
        ],
        "DTASOF 200510291120: HHMM without seconds"
    );
}

#[test]
fn sgml_header_over_closed_elements() {
    let statement = only("sgml_header_statement.ofx");
    assert_eq!(statement.account, Account { number: some("5555555555"), currency: some("USD"), ..Account::default() });
    assert_eq!(
        statement.entries,
        [Entry {
            payee: some("PAYROLL DEPOSIT"),
            ..entry(day(2023, 1, 20), dec!(1000.00), "USD", "PAYROLL DEPOSIT", "DEP20230120", "DEP")
        }]
    );
    assert_eq!(statement.balances, [balance(BalanceKind::Closing, dec!(5000.00), "USD", day(2023, 1, 31))]);
}

#[test]
fn transactions_with_checks_corrections_and_a_balance_list() {
    let statement = only("multi_transaction_statement.ofx");
    let entries: Vec<_> = statement
        .entries
        .iter()
        .map(|e| (e.reference.as_deref().unwrap(), e.booking_date, e.amount, e.wording.as_str()))
        .collect();
    assert_eq!(
        entries,
        [
            ("MTX001", day(2023, 1, 1), dec!(5000.00), "PAYROLL DEPOSIT Bi-weekly payroll"),
            ("MTX002", day(2023, 1, 5), dec!(-1500.00), "RENT PAYMENT"),
            ("MTX003", day(2023, 1, 10), dec!(-45.67), "GAS STATION"),
            ("MTX004", day(2023, 1, 15), dec!(-200.00), "ONLINE STORE Electronics purchase"),
            // A correction of MTX003, reported as it is: the model cannot replace an entry.
            ("MTX005", day(2023, 1, 20), dec!(50.00), "GAS STATION REFUND"),
        ]
    );
    // BALLIST's <BAL><NAME>… are no balances of the model.
    assert_eq!(
        statement.balances,
        [
            balance(BalanceKind::Closing, dec!(3304.33), "USD", day(2023, 1, 31)),
            balance(BalanceKind::Available, dec!(3204.33), "USD", day(2023, 1, 31)),
        ]
    );
}

#[test]
fn ofx_2_credit_card_statement_without_xml_declaration() {
    let statement = only("credit_card_statement.ofx");
    let account = Account { number: some("4111111111111111"), currency: some("USD"), card: true, ..Account::default() };
    assert_eq!(statement.account, account);
    assert_eq!(
        statement.entries,
        [Entry {
            payee: some("STREAMING SERVICE"),
            ..entry(
                day(2023, 1, 10),
                dec!(-25.99),
                "USD",
                "STREAMING SERVICE Monthly subscription",
                "CC20230110001",
                "DEBIT"
            )
        }]
    );
    assert_eq!(statement.balances, [balance(BalanceKind::Closing, dec!(-250.00), "USD", day(2023, 1, 31))]);
}

#[test]
fn an_investment_statement_yields_nothing() {
    assert_eq!(read(&fixture("ofx", "invstmtrs.ofx")), (vec![], None));
}

#[test]
fn every_fixture_is_detected_and_reads_the_same_through_any_buffer_and_line_ends() {
    for name in FIXTURES {
        let bytes = fixture("ofx", name);
        assert_eq!(statements::detect(&bytes), Some(Format::Ofx), "{name}");
        let (expected, error) = read(&bytes);
        assert_eq!(error, None, "{name}");

        // One byte at a time: every token split across buffer refills.
        let mut events = Vec::new();
        statements::ofx::parse(BufReader::with_capacity(1, bytes.as_slice()), &mut |e| events.push(e)).unwrap();
        assert_eq!(events, expected, "{name}, read byte by byte");

        // CRLF for LF, or LF for CRLF.
        let crlf = bytes.windows(2).any(|pair| pair == b"\r\n");
        let other: Vec<u8> = if crlf {
            bytes.iter().copied().filter(|b| *b != b'\r').collect()
        } else {
            bytes.iter().flat_map(|b| if *b == b'\n' { vec![b'\r', b'\n'] } else { vec![*b] }).collect()
        };
        assert_eq!(read(&other), (expected, None), "{name}, other line ends");
    }
}
