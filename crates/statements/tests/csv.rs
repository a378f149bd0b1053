//! CSV files as banks export them, read through the crate's entry points.

mod common;

use common::*;
use rust_decimal_macros::dec;
use statements::csv::{AmountColumns, Column, Mapping, guess};
use statements::{Account, Error, Event, Format, Options, detect, parse};

fn read_with(bytes: &[u8], mapping: Option<Mapping>) -> Result<Vec<Event>, Error> {
    let mut events = Vec::new();
    parse(Format::Csv, bytes, &Options { csv: mapping }, &mut |event| events.push(event))?;
    Ok(events)
}

fn read(bytes: &[u8]) -> Result<Vec<Event>, Error> {
    read_with(bytes, None)
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).lines().map(|line| line.trim_start_matches('\u{FEFF}').to_owned()).collect()
}

fn error(text: &str, mapping: Option<Mapping>) -> (String, String) {
    let err = read_with(text.as_bytes(), mapping).unwrap_err();
    assert_eq!(err.format, Format::Csv);
    (err.location, err.reason)
}

#[test]
fn a_french_bank_with_a_preamble_debit_and_credit_columns_and_latin1() {
    let bytes = fixture("csv", "banque_fr.csv");
    assert_eq!(detect(&bytes), Some(Format::Csv));
    let events = read(&bytes).unwrap();
    assert_eq!(events[0], Event::Statement(Account::default()));
    assert_eq!(
        summary(&events),
        [
            (day(2024, 3, 1), dec!(-45.90), "PRLV SEPA Électricité de France"),
            (day(2024, 3, 4), dec!(-1234.56), "CB CARREFOUR; ANNECY"),
            (day(2024, 3, 12), dec!(2500.00), "VIR SALAIRE MARS"),
            (day(2024, 3, 15), dec!(-3.00), "FRAIS CARTE"),
            (day(2024, 3, 28), dec!(120.00), "REMISE CHEQUE N° 42"),
        ]
    );
    let value_dates: Vec<_> = entries(&events).iter().map(|e| e.value_date).collect();
    assert_eq!(
        value_dates,
        [Some(day(2024, 3, 1)), Some(day(2024, 3, 5)), Some(day(2024, 3, 12)), Some(day(2024, 3, 15)), None]
    );
}

#[test]
fn the_french_mapping_is_guessed_from_the_head() {
    // The fixture is Windows-1252: read as UTF-8 lossily, the accents are lost but not the columns.
    let mut head = lines(&fixture("csv", "banque_fr.csv"));
    head[4] = "Date;Date de valeur;Libellé;Débit euros;Crédit euros".into();
    assert_eq!(
        guess(&head).unwrap(),
        Mapping {
            delimiter: b';',
            decimal_comma: true,
            date_format: "%d/%m/%Y".into(),
            skip_lines: 4,
            has_header: true,
            date: Column::Index(0),
            value_date: Some(Column::Index(1)),
            amount: AmountColumns::DebitCredit { debit: Column::Index(3), credit: Column::Index(4) },
            wording: vec![Column::Index(2)],
            payee: None,
            reference: None,
            currency: None,
        }
    );
}

#[test]
fn a_german_bank_with_buchungstag_betrag_and_grouped_thousands() {
    let bytes = fixture("csv", "bank_de.csv");
    let events = read(&bytes).unwrap();
    assert_eq!(
        summary(&events),
        [
            (day(2024, 3, 1), dec!(-1234.56), "Lastschrift REWE Markt GmbH REWE SAGT DANKE 12345"),
            (day(2024, 3, 5), dec!(2500.00), "Gutschrift Arbeitgeber GmbH Gehalt März"),
            (day(2024, 3, 29), dec!(-4.90), "Abschluss Kontoführung"),
        ]
    );
    let entries = entries(&events);
    assert_eq!(entries[0].payee.as_deref(), Some("REWE Markt GmbH"));
    assert_eq!(entries[1].reference.as_deref(), Some("LOHN-2024-03"));
    assert_eq!((entries[2].payee.as_deref(), entries[2].value_date), (None, Some(day(2024, 4, 1))));

    let mapping = guess(&lines(&bytes)).unwrap();
    assert_eq!((mapping.delimiter, mapping.decimal_comma, mapping.date_format.as_str()), (b';', true, "%d.%m.%Y"));
    assert_eq!(
        (mapping.skip_lines, mapping.date.clone(), mapping.value_date.clone()),
        (5, Column::Index(0), Some(Column::Index(1)))
    );
    assert_eq!(mapping.amount, AmountColumns::Amount(Column::Index(7)));
    assert_eq!(mapping.wording, [Column::Index(2), Column::Index(3), Column::Index(4)]);
    assert_eq!((mapping.payee, mapping.reference), (Some(Column::Index(3)), Some(Column::Index(10))));
}

#[test]
fn a_us_bank_with_quoted_commas_quotes_and_line_breaks() {
    let events = read(&fixture("csv", "bank_us.csv")).unwrap();
    assert_eq!(
        summary(&events),
        [
            (day(2024, 1, 2), dec!(-45.99), "AMAZON.COM, INC. SEATTLE WA"),
            (day(2024, 1, 15), dec!(2500.00), "PAYROLL \"ACME, INC.\" DIRECT DEP"),
            (day(2024, 1, 16), dec!(-1200.00), "CHECK 1042 RENT JANUARY"),
            (day(2024, 1, 31), dec!(0.12), "INTEREST PAID"),
        ]
    );
    let mapping = guess(&lines(&fixture("csv", "bank_us.csv"))).unwrap();
    assert_eq!((mapping.delimiter, mapping.decimal_comma, mapping.date_format.as_str()), (b',', false, "%m/%d/%Y"));
}

fn by_index() -> Mapping {
    Mapping {
        delimiter: b'|',
        decimal_comma: false,
        date_format: "%Y-%m-%d".into(),
        skip_lines: 0,
        has_header: false,
        date: Column::Index(0),
        value_date: None,
        amount: AmountColumns::Amount(Column::Index(2)),
        wording: vec![Column::Index(1)],
        payee: None,
        reference: Some(Column::Index(4)),
        currency: Some(Column::Index(3)),
    }
}

#[test]
fn an_explicit_mapping_by_index_without_header() {
    let events = read_with(&fixture("csv", "no_header.csv"), Some(by_index())).unwrap();
    assert_eq!(events[0], Event::Statement(Account { currency: Some("EUR".into()), ..Account::default() }));
    assert_eq!(
        summary(&events),
        [
            (day(2024, 3, 1), dec!(-12.50), "CARD 4321 BAKERY"),
            (day(2024, 3, 2), dec!(300.00), "TRANSFER FROM SAVINGS"),
            (day(2024, 3, 3), dec!(-20.00), "FX CARD PAYMENT"),
        ]
    );
    let entries = entries(&events);
    let currencies: Vec<_> = entries.iter().map(|e| e.currency.as_deref()).collect();
    assert_eq!(currencies, [Some("EUR"), Some("EUR"), Some("USD")]);
    assert_eq!(entries[2].reference.as_deref(), Some("TX003"));
    // Guessing finds no header in it, and says what it looked for.
    let err = read(&fixture("csv", "no_header.csv")).unwrap_err();
    assert_eq!(err.location, "lines 1-3");
    assert!(err.reason.starts_with("no header row found: looked for a date column (Date, Booking date"), "{err}");
    assert!(err.reason.contains("Buchungstag") && err.reason.contains("Débit") && err.reason.contains("Haben"));
}

#[test]
fn an_explicit_mapping_by_header_names() {
    let mapping = Mapping {
        delimiter: b';',
        decimal_comma: true,
        date_format: "%d.%m.%Y".into(),
        skip_lines: 5,
        has_header: true,
        date: Column::Name("buchungstag".into()),
        value_date: None,
        amount: AmountColumns::Amount(Column::Name("Betrag (EUR)".into())),
        wording: vec![Column::Name("Verwendungszweck".into())],
        payee: None,
        reference: None,
        currency: None,
    };
    let events = read_with(&fixture("csv", "bank_de.csv"), Some(mapping.clone())).unwrap();
    assert_eq!(
        summary(&events),
        [
            (day(2024, 3, 1), dec!(-1234.56), "REWE SAGT DANKE 12345"),
            (day(2024, 3, 5), dec!(2500.00), "Gehalt März"),
            (day(2024, 3, 29), dec!(-4.90), "Kontoführung"),
        ]
    );
    let missing = Mapping { amount: AmountColumns::Amount(Column::Name("Umsatz".into())), ..mapping.clone() };
    let err = read_with(&fixture("csv", "bank_de.csv"), Some(missing)).unwrap_err();
    assert_eq!(err.location, "line 6");
    assert!(err.reason.starts_with("no column \"Umsatz\" in the header (it has: Buchungstag, Wertstellung,"), "{err}");
    let headerless = Mapping { has_header: false, skip_lines: 6, ..mapping };
    let err = read_with(&fixture("csv", "bank_de.csv"), Some(headerless)).unwrap_err();
    assert_eq!(err.reason, "column \"buchungstag\" is named, but the mapping says the file has no header");
}

#[test]
fn bad_rows_are_errors_naming_line_column_and_value() {
    let (location, reason) = error("Date;Libellé;Montant\n01/03/2024;A;-1,00\n02/03/2024;B;12,3x\n", None);
    assert_eq!(
        (location.as_str(), reason.as_str()),
        ("line 3", "column \"Montant\": '12,3x' is not an amount (with a decimal comma)")
    );
    let (location, reason) = error("\n\nDate;Libellé;Montant\n01/03/2024;A;-1,00\n\n\n02/03/2024;B;1.0.0\n", None);
    assert_eq!(location, "line 7", "blank lines before the header and before the row are counted");
    assert_eq!(reason, "column \"Montant\": '1.0.0' is not an amount (with a decimal comma)");
    let (location, reason) = error("Date;Libellé;Montant\n01/03/2024;A;-1,00\n32/03/2024;B;1,00\n", None);
    assert_eq!(
        (location.as_str(), reason.as_str()),
        ("line 3", "column \"Date\": '32/03/2024' is not a date of the form %d/%m/%Y")
    );
    let (location, reason) = error("Date;Libellé;Montant\n01/03/2024;\"two\nlines\";-1,00\n;no date;1,00\n", None);
    assert_eq!((location.as_str(), reason.as_str()), ("line 4", "column \"Date\": no date"));
    let (location, reason) = error("Date;Libellé;Montant\n01/03/2024;no amount;\n", None);
    assert_eq!((location.as_str(), reason.as_str()), ("line 2", "column \"Montant\": no amount"));
    let (location, reason) = error("2024-03-01|x|12,50|EUR|R\n", Some(by_index()));
    assert_eq!(
        (location.as_str(), reason.as_str()),
        ("line 1", "column 2: '12,50' is not an amount (with a decimal point)")
    );
    let (location, reason) = error("2024-03-01|x|1.00\n01/03/2024|y|1.00\n", Some(by_index()));
    assert_eq!(
        (location.as_str(), reason.as_str()),
        ("line 2", "column 0: '01/03/2024' is not a date of the form %Y-%m-%d")
    );
    let (location, reason) = error("Date,Amount\nsoon,1\n", None);
    assert_eq!(location, "line 2");
    assert!(
        reason.starts_with("date column \"Date\": 'soon' has none of the formats tried (%d/%m/%Y, %m/%d/%Y"),
        "{reason}"
    );
}

#[test]
fn debit_and_credit_columns_whatever_their_signs() {
    let text = "Date;Debit;Credit;Label\n01/02/2024;10,00;;a\n02/02/2024;-10,00;;b\n03/02/2024;;2,50;c\n04/02/2024;10,00;2,00;d\n";
    let amounts: Vec<_> = entries(&read(text.as_bytes()).unwrap()).iter().map(|e| e.amount).collect();
    assert_eq!(amounts, [dec!(-10.00), dec!(-10.00), dec!(2.50), dec!(-8.00)]);
    let (location, reason) = error("Date;Debit;Credit;Label\n01/02/2024;;;a\n", None);
    assert_eq!((location.as_str(), reason.as_str()), ("line 2", "column \"Debit\" and column \"Credit\": no amount"));
}

#[test]
fn blank_rows_are_skipped_and_a_file_without_rows_is_an_empty_statement() {
    let events = read(b"Date,Description,Amount\n,,\n\n01/31/2024,x,1.50\n,continued,\n").unwrap();
    assert_eq!(summary(&events), [(day(2024, 1, 31), dec!(1.50), "x")]);
    assert_eq!(read(b"Date,Description,Amount\n").unwrap(), [Event::Statement(Account::default())]);
    assert_eq!(read_with(b"", Some(by_index())).unwrap(), [Event::Statement(Account::default())]);
}

#[test]
fn the_delimiter_is_the_one_that_finds_the_header() {
    let tab = read(b"Booking date\tDetails\tAmount (EUR)\n2024-02-01\tTea\t-3.20\n").unwrap();
    assert_eq!(summary(&tab), [(day(2024, 2, 1), dec!(-3.20), "Tea")]);
    let pipe = read(b"Datum|Buchungstext|Betrag\n01.02.2024|Tee|-3,20\n").unwrap();
    assert_eq!(summary(&pipe), [(day(2024, 2, 1), dec!(-3.20), "Tee")]);
}

#[test]
fn only_the_head_is_guessed_from_the_rest_streams() {
    let mut text = String::from("Date;Libellé;Montant\n");
    for n in 0..10_000 {
        text.push_str(&format!("{:02}/03/2024;Opération {n};-{n},50\n", n % 28 + 1));
    }
    let events = read(text.as_bytes()).unwrap();
    let entries = entries(&events);
    assert_eq!(entries.len(), 10_000);
    assert_eq!((entries[9_999].booking_date, entries[9_999].amount), (day(2024, 3, 4), dec!(-9999.50)));
}

#[test]
fn long_records_are_read_but_an_unclosed_quote_is_refused() {
    // Two records of 60,000 bytes each, the first on two lines: the limit is per record.
    let long = "x".repeat(30_000);
    let text = format!("Date;Libellé;Montant\n01/03/2024;\"{long}\n{long}\";-1,00\n02/03/2024;{long} {long};-2,00\n");
    let events = read(text.as_bytes()).unwrap();
    assert_eq!(entries(&events).len(), 2);

    let mut text = String::from("Date;Libellé;Montant\n01/03/2024;ok;-1,00\n02/03/2024;\"never closed;-1,00\n");
    for _ in 0..2_000 {
        text.push_str(&"y".repeat(50));
        text.push('\n');
    }
    let mapping = Mapping {
        delimiter: b';',
        decimal_comma: true,
        date_format: "%d/%m/%Y".into(),
        skip_lines: 0,
        has_header: true,
        date: Column::Index(0),
        value_date: None,
        amount: AmountColumns::Amount(Column::Index(2)),
        wording: vec![Column::Index(1)],
        payee: None,
        reference: None,
        currency: None,
    };
    let (location, reason) = error(&text, Some(mapping));
    assert_eq!((location.as_str(), reason.as_str()), ("line 3", "record longer than 65536 bytes (a quote left open?)"));
}
