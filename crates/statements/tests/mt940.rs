//! MT940/MT942 files read end to end: fixtures written from the specification
//! (`tests/fixtures/mt940/`, see its `SOURCES.md`) and real banks' files from the `mt940` crate's
//! corpus, whose values were checked against that corpus's expected parses.

mod common;

use common::*;
use std::cell::Cell;
use std::io::{BufRead, Read};
use std::path::Path;
use std::rc::Rc;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use statements::{Account, Balance, BalanceKind, Entry, Error, Event, Format, Warning, mt940};

/// A statement as the events report it: the account, then what followed until the next one.
#[derive(Debug, Default)]
struct Statement {
    account: Account,
    balances: Vec<Balance>,
    entries: Vec<Entry>,
    warnings: Vec<Warning>,
}

impl Statement {
    fn balance(&self, kind: BalanceKind) -> Option<&Balance> {
        self.balances.iter().find(|b| b.kind == kind)
    }

    fn amounts(&self) -> Vec<Decimal> {
        self.entries.iter().map(|e| e.amount).collect()
    }

    /// Opening balance plus entries equals closing balance.
    fn adds_up(&self) -> bool {
        let total: Decimal = self.amounts().iter().sum();
        match (self.balance(BalanceKind::Opening), self.balance(BalanceKind::Closing)) {
            (Some(opening), Some(closing)) => opening.amount + total == closing.amount,
            _ => false,
        }
    }
}

fn read_bytes(bytes: &[u8]) -> Result<Vec<Statement>, Error> {
    let mut statements: Vec<Statement> = Vec::new();
    let mut orphans = 0;
    let result = mt940::parse(bytes, &mut |event| match (event, statements.last_mut()) {
        (Event::Statement(account), _) => statements.push(Statement { account, ..Statement::default() }),
        (Event::Balance(balance), Some(statement)) => statement.balances.push(balance),
        (Event::Entry(entry), Some(statement)) => statement.entries.push(entry),
        (Event::Warning(warning), Some(statement)) => statement.warnings.push(warning),
        (_, None) => orphans += 1,
    });
    assert_eq!(orphans, 0, "a balance or entry came before any statement");
    result.map(|()| statements)
}

fn read(name: &str) -> Vec<Statement> {
    read_bytes(&fixture("mt940", name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn read_error(name: &str) -> Error {
    match read_bytes(&fixture("mt940", name)) {
        Ok(statements) => panic!("{name}: read {} statements, expected an error", statements.len()),
        Err(e) => e,
    }
}

// ---- Fixtures written from the specification ----

#[test]
fn swift_envelopes_crlf_latin1_and_year_end_dates() {
    let statements = read("envelopes-crlf-latin1.sta");
    assert_eq!(statements.len(), 2);

    let first = &statements[0];
    assert_eq!(
        first.account,
        Account {
            iban: some("DE89370400440532013000"),
            bic: some("COBADEFFXXX"),
            currency: some("EUR"),
            ..Account::default()
        }
    );
    // `:65:` (forward available) is not read.
    assert_eq!(
        first.balances,
        [
            balance(BalanceKind::Opening, dec!(1000.00), "EUR", day(2023, 12, 29)),
            balance(BalanceKind::Closing, dec!(886.84), "EUR", day(2024, 1, 2)),
            balance(BalanceKind::Available, dec!(886.84), "EUR", day(2024, 1, 2)),
        ]
    );
    assert_eq!(
        first.entries[0],
        Entry {
            // Value 2023-12-31, booked `0102`: the next year.
            booking_date: day(2024, 1, 2),
            value_date: Some(day(2023, 12, 31)),
            amount: dec!(-25.50),
            currency: some("EUR"),
            // `?21` fills its 27 columns (`…Mü`), `?2` + `2` is one marker split by a line break.
            wording: "EREF+INV-2023-12 SVWZ+Strom Dezember 2023 München Kd-Nr 4711".into(),
            payee: some("Stadtwerke München GmbH Kundenservice"),
            counterparty_account: some("DE02120300000000202051"),
            reference: some("BANKREF0001"),
            pending: false,
            kind: some("105"),
        }
    );
    // Value 2024-01-02, booked `1231`: the year before. `RC` reverses a credit: money out.
    let reversal = &first.entries[1];
    assert_eq!((reversal.booking_date, reversal.value_date), (day(2023, 12, 31), Some(day(2024, 1, 2))));
    assert_eq!((reversal.amount, reversal.kind.as_deref()), (dec!(-100), Some("808")));
    assert_eq!(reversal.wording, "Rückbuchung der Gutschrift vom 30.12.2023");
    assert_eq!(reversal.reference.as_deref(), Some("BANKREF0002"));
    // `RD` + funds code `R`: a reversed debit, money in; the customer reference stands in for
    // the missing bank reference; the supplementary details are the wording.
    let refund = &first.entries[2];
    assert_eq!((refund.amount, refund.booking_date), (dec!(12.34), day(2024, 1, 2)));
    assert_eq!((refund.reference.as_deref(), refund.kind.as_deref()), (None, Some("NCHG")));
    assert_eq!(refund.wording, "Gebührenerstattung");
    assert!(first.adds_up());

    let second = &statements[1];
    assert_eq!(
        second.account,
        Account { number: some("37040044/0532013000"), currency: some("EUR"), ..Account::default() },
        "a bank code that is not a BIC stays in the number"
    );
    assert_eq!(second.balances[0], balance(BalanceKind::Opening, dec!(-50), "EUR", day(2024, 1, 1)));
    assert_eq!(second.entries.len(), 1);
    assert_eq!((second.entries[0].amount, second.entries[0].reference.as_deref()), (dec!(1234), None));
    assert_eq!(
        second.entries[0].wording,
        "Überweisung von Jörg Müller für die Miete Januar, Whg 3. OG, Straße des 17. Juni 12, Berlin",
        "Latin-1 decoded; a 65-column line cut mid-word is glued back"
    );
    assert!(second.adds_up());
}

#[test]
fn plain_messages_header_lines_and_dutch_coded_information() {
    let statements = read("plain-messages.sta");
    assert_eq!(statements.len(), 3, "the third message follows the second without a `-`");

    let salary = &statements[0];
    assert_eq!(
        salary.account,
        Account { iban: some("NL91ABNA0417164300"), currency: some("EUR"), ..Account::default() },
        "the currency glued to the IBAN is split off"
    );
    assert_eq!(salary.balances[0], balance(BalanceKind::Opening, dec!(-150.75), "EUR", day(2024, 1, 31)));
    assert_eq!(
        salary.entries[0],
        Entry {
            booking_date: day(2024, 2, 1),
            value_date: Some(day(2024, 2, 1)),
            amount: dec!(1500),
            currency: some("EUR"),
            wording: "SALARIS JANUARI 2024 PERSONEELSNUMMER 1234".into(),
            payee: some("WERKGEVER B.V."),
            counterparty_account: some("NL20INGB0001234567"),
            reference: some("ABN0000000001"),
            pending: false,
            kind: some("NTRF"),
        }
    );
    let card = &salary.entries[1];
    assert_eq!((card.amount, card.reference.as_deref(), card.payee.as_deref()), (dec!(-42.10), None, None));
    assert_eq!(
        card.wording,
        "BEA   NR:AB1234   02.02.24/12.00 ALBERT HEIJN 1234 AMSTERDAM,PAS123 BETAALPAS EINDIGEND OP 123"
    );
    assert_eq!(salary.balance(BalanceKind::Available).map(|b| b.amount), Some(dec!(1307.15)));
    assert!(salary.adds_up());

    let second = &statements[1];
    assert_eq!(
        (second.account.bic.as_deref(), second.account.number.as_deref()),
        (Some("ABNANL2A"), Some("123456789"))
    );
    assert_eq!(second.entries[0].amount, dec!(1234.00));
    assert_eq!(second.entries[0].reference.as_deref(), None, "only a customer reference");
    assert_eq!(second.entries[0].wording, "Eerste regel tweede regel");

    let third = &statements[2];
    assert!(third.entries.is_empty());
    assert_eq!(third.balance(BalanceKind::Closing).and_then(|b| b.date), Some(day(2024, 2, 6)));
}

#[test]
fn mt942_interim_report_without_balances() {
    let statements = read("mt942-interim.sta");
    assert_eq!(statements.len(), 1);
    let report = &statements[0];
    assert_eq!(
        report.account,
        Account { iban: some("NL20INGB0001234567"), currency: some("EUR"), ..Account::default() },
        "the currency comes from the floor limit"
    );
    assert!(report.balances.is_empty());
    assert_eq!(report.amounts(), [dec!(-19.99), dec!(250)]);
    assert!(report.entries.iter().all(|e| !e.pending && e.booking_date == day(2024, 3, 15)));
    let debit = &report.entries[0];
    assert_eq!(
        (debit.payee.as_deref(), debit.counterparty_account.as_deref(), debit.wording.as_str()),
        (Some("Streaming Service B.V."), Some("NL44RABO0123456789"), "Abonnement maart")
    );
    assert_eq!(debit.reference.as_deref(), Some("ING00000000042"));
    let credit = &report.entries[1];
    assert_eq!(
        (credit.payee.as_deref(), credit.counterparty_account.as_deref(), credit.wording.as_str()),
        (Some("J. Jansen"), Some("NL69INGB0123456789"), "Terugbetaling etentje")
    );
}

// ---- Real banks' files (the `mt940` crate's corpus) ----

#[test]
fn abn_amro_with_header_lines_between_messages() {
    let statements = read("abnamro.sta");
    assert_eq!(statements.len(), 2);
    assert_eq!(statements[0].account.number.as_deref(), Some("123456789"));
    assert_eq!(statements[0].amounts(), [dec!(-5.34), dec!(-2.95), dec!(-6.45)]);
    assert_eq!(statements[1].amounts(), [dec!(-8.25)]);
    let first = &statements[0].entries[0];
    assert_eq!(
        (first.booking_date, first.kind.as_deref(), first.reference.as_deref()),
        (day(2019, 8, 24), Some("N426"), None)
    );
    assert_eq!(first.wording, "BEA   NR:YV7XDL   24.08.19/15.33 RESTAURANT IL SENSO MIDD,PAS263");
    assert_eq!(statements[0].balances[0], balance(BalanceKind::Opening, dec!(1111.10), "EUR", day(2019, 8, 25)));
    assert_eq!(statements[1].balance(BalanceKind::Closing).map(|b| b.amount), Some(dec!(6666.83)));
}

#[test]
fn ing_with_session_headers_and_a_statement_note() {
    let statements = read("ing.sta");
    assert_eq!(statements.len(), 1);
    let ing = &statements[0];
    assert_eq!(ing.account.number.as_deref(), Some("0001234567"));
    assert_eq!(
        ing.amounts(),
        [dec!(-25.03), dec!(-3.03), dec!(-1.11), dec!(-20.00), dec!(-1.10), dec!(3.68), dec!(1.00)],
        "the `:86:` after `:62F:` is the statement's, not an entry"
    );
    assert_eq!(
        ing.entries[0].wording,
        "RC AFREKENING BETALINGSVERKEER BETREFT REKENING 4715589 PERIODE: 01-10-2010 / 31-12-2010 \
         ING Bank N.V. tarifering ING"
    );
    assert_eq!(ing.entries[1].wording, "0111111111 GPSEOUL SPOEDBETALING MPBZS1016000047 GPSEOUL", "a tab is a space");
    assert_eq!(ing.entries[2].reference.as_deref(), None, "a customer reference is not the bank's");
    assert_eq!(ing.entries[6].booking_date, day(2010, 7, 23));
    assert_eq!(
        ing.balance(BalanceKind::Closing),
        Some(&balance(BalanceKind::Closing, dec!(3.47), "EUR", day(2010, 7, 23)))
    );
}

#[test]
fn rabobank_coded_information_and_no_separators() {
    let statements = read("rabobank-iban.sta");
    assert_eq!(statements.len(), 2);
    for statement in &statements {
        assert_eq!(statement.account.iban.as_deref(), Some("NL71RABO0123456789"));
        assert_eq!(statement.amounts(), [dec!(-25.00), dec!(-10.00)]);
        assert!(statement.adds_up());
    }
    let first = &statements[0].entries[0];
    assert_eq!(first.kind.as_deref(), Some("N102"));
    // The customer reference `EREF` points at the `/EREF/` of the `:86:`.
    assert_eq!(first.reference.as_deref(), None);
    assert_eq!(first.payee.as_deref(), Some("CONTRA ACCOUNT HOLDER"), "`ACCOUN` + `T HOLDER` across a line");
    assert_eq!(first.counterparty_account.as_deref(), Some("NL70ABNA0987654321"), "from the supplementary details");
    let second = &statements[0].entries[1];
    assert_eq!((second.wording.as_str(), second.payee.as_deref()), ("Reference 201301234", Some("JOHN DOE")));
    assert_eq!((second.reference.as_deref(), second.counterparty_account.as_deref()), (None, None));
    assert_eq!(statements[1].entries[1].booking_date, day(2013, 1, 9));
}

#[test]
fn knab_bank_references() {
    let statements = read("knab.sta");
    assert_eq!(statements.len(), 2);
    assert_eq!(statements[0].amounts(), [dec!(500)]);
    assert_eq!(statements[1].amounts(), [dec!(-7260), dec!(500)]);
    let references: Vec<_> = statements.iter().flat_map(|s| &s.entries).map(|e| e.reference.as_deref()).collect();
    assert_eq!(references, [Some("B4E07XM00J000023"), Some("B4G29PGCVO7Q06US"), Some("B4G29PGDCK1QFV3E")]);
    assert_eq!(
        statements[0].entries[0].wording,
        "HIER EEN MOOIE OMSCHRIJVING IN HOOFDLETTERS WANT DAT IS ZOALS DE NEDERLANDSE BANKEN COMMUNICEREN"
    );
    assert_eq!(
        statements[1].balance(BalanceKind::Closing).map(|b| (b.amount, b.date)),
        Some((dec!(798.98), Some(day(2014, 7, 30))))
    );
}

#[test]
fn postfinance_wrapped_words_and_supplementary_details() {
    let statements = read("postfinance.sta");
    assert_eq!(statements.len(), 2);
    assert_eq!(statements[0].account.currency.as_deref(), Some("CHF"));
    assert_eq!(statements[0].amounts(), [dec!(79.7), dec!(149.5)]);
    assert_eq!(statements[1].amounts(), [dec!(-79.9), dec!(10.1)]);
    assert!(statements[0].adds_up());
    let entry = &statements[1].entries[0];
    assert_eq!(
        (entry.kind.as_deref(), entry.reference.as_deref()),
        (Some("FMSC"), None),
        "PostFinance's repeated customer reference"
    );
    assert_eq!(
        entry.wording,
        "GIRO AUS ONLINE-SIC 80701 AUFTRAGGEBER: XXXXXXXXX XXX XXXXXXXXSTRASSE 111 1234 XXXXXXXXXXXX \
         131216CH12345678 MITTEILUNGEN: 1 SONNENGLAESER"
    );
    assert!(statements[0].entries[0].wording.contains("EXAMPLESTRASSE 10 1234"));
    // `:62M:`, an intermediate closing balance.
    assert_eq!(statements[0].balance(BalanceKind::Closing).map(|b| b.amount), Some(dec!(229.2)));
}

#[test]
fn sns_blank_padding_and_an_empty_statement() {
    let statements = read("sns.sta");
    assert_eq!(statements.len(), 2);
    let entry = &statements[0].entries[0];
    assert_eq!((entry.booking_date, entry.value_date), (day(2012, 6, 8), Some(day(2012, 6, 7))));
    assert_eq!((entry.amount, entry.wording.as_str()), (dec!(-20.00), "0987654321 marechal s dit is een test"));
    assert!(statements[0].adds_up());
    assert!(statements[1].entries.is_empty());
    assert_eq!(statements[1].balances.len(), 2);
}

#[test]
fn sparkasse_funds_code_and_utf8_umlauts() {
    let statements = read("sparkasse-buxtehude.sta");
    assert_eq!(statements.len(), 1);
    let sparkasse = &statements[0];
    assert_eq!(sparkasse.account.number.as_deref(), Some("20752041/0291593375"));
    assert_eq!(sparkasse.amounts(), [dec!(-119.35), dec!(-16.69), dec!(-5.00)], "`DR` is a debit with funds code R");
    assert_eq!(sparkasse.entries[0].wording, "basically some information here lots of information then some");
    assert!(sparkasse.entries[2].wording.contains("some ümläuté and öther stüff för some rëäsön which"));
    assert_eq!(sparkasse.entries[1].kind.as_deref(), Some("NDDT"));
}

#[test]
fn mbank_control_characters_and_available_balance() {
    let statements = read("mbank.sta");
    assert_eq!(statements.len(), 1);
    let mbank = &statements[0];
    assert_eq!(mbank.account.iban.as_deref(), Some("PL29114010810000267002001002"));
    assert_eq!(mbank.amounts(), [dec!(0.01); 3]);
    assert!(mbank.adds_up());
    assert_eq!(mbank.entries[0].reference.as_deref(), Some("MB170119012058"));
    assert!(mbank.entries[0].wording.starts_with(
        "911 TRANSAKCJA COLLECT; ID IPH: XX000000000001; Z RACH.: 56114010810000267002001001; OD: JAN NOWAK UL. NIJAKA"
    ));
    assert_eq!(
        mbank.balance(BalanceKind::Available),
        Some(&balance(BalanceKind::Available, dec!(0.43), "PLN", day(2017, 1, 19)))
    );
}

#[test]
fn danske_bank_preamble_and_bic_account() {
    let statements = read("danskebank-fi.sta");
    assert_eq!(statements.len(), 1);
    let danske = &statements[0];
    assert_eq!(
        danske.account,
        Account { number: some("111111-11111111"), bic: some("DABADKKK"), currency: some("EUR"), ..Account::default() }
    );
    assert_eq!(danske.entries.len(), 6);
    assert!(danske.adds_up());
    let interest = &danske.entries[0];
    assert_eq!((interest.booking_date, interest.value_date), (day(2009, 9, 30), Some(day(2009, 10, 1))));
    assert_eq!(
        (interest.amount, interest.kind.as_deref(), interest.reference.as_deref()),
        (dec!(0.23), Some("FINT"), None)
    );
    assert_eq!(danske.entries[4].wording, "Fees according to advice");
    assert_eq!(danske.balance(BalanceKind::Available).map(|b| b.amount), Some(dec!(53189.31)));
}

#[test]
fn german_structured_information_split_across_lines() {
    let statements = read("cmxl-structured.sta");
    let entries = &statements[0].entries;
    assert_eq!(
        entries[0],
        Entry {
            booking_date: day(2002, 11, 2),
            value_date: Some(day(2002, 11, 1)),
            amount: dec!(-800),
            currency: some("EUR"),
            wording: "Miete November".into(),
            payee: some("MUELLER"),
            counterparty_account: some("234567"),
            reference: some("55555"),
            pending: false,
            kind: some("008"),
        }
    );
    // `?20Gehalt Oktob|er?21Firma|Mustermann|GmbH`: lines glued, subfields joined by the 27-column rule.
    assert_eq!(entries[1].wording, "Gehalt Oktober FirmaMustermannGmbH");
    assert_eq!(entries[1].counterparty_account.as_deref(), Some("0847564700"));
    assert!(statements[0].adds_up());
}

#[test]
fn german_sepa_information_and_debit_balances() {
    let statements = read("sepa-snippet.sta");
    assert_eq!(statements.len(), 2);
    let first = &statements[0];
    assert_eq!(first.amounts(), [dec!(50990.05), dec!(154551.93), dec!(154551.93), dec!(-1500.00)]);
    assert!(first.adds_up());
    let karl = &first.entries[0];
    assert_eq!((karl.booking_date, karl.value_date), (day(2007, 9, 4), Some(day(2007, 9, 7))));
    assert_eq!(karl.wording, "EREF+EndToEndId TFNR 22 004 00001 SVWZ+Verw CTSc-01 BC-PPP TFNr 22 004");
    assert_eq!(
        (karl.payee.as_deref(), karl.counterparty_account.as_deref()),
        (Some("KARL KAUFMANN"), Some("DE14508800500194785000"))
    );
    assert_eq!((karl.kind.as_deref(), karl.reference.as_deref()), (Some("166"), Some("0724710333343453")));
    assert_eq!(first.balance(BalanceKind::Available).map(|b| b.amount), Some(dec!(559614.51)));
    let second = &statements[1];
    assert_eq!(second.balances[0], balance(BalanceKind::Opening, dec!(-1970431.87), "EUR", day(2007, 9, 3)));
    assert_eq!(second.entries.len(), 7);
    assert_eq!((second.entries[0].amount, second.entries[6].amount), (dec!(-0.08), dec!(-3572569.03)));
    assert_eq!(second.balance(BalanceKind::Closing).map(|b| b.amount), Some(dec!(-4472049.09)));
}

#[test]
fn windows_1252_hungarian_statement_with_forward_balances() {
    let statements = read("windows-1252.sta");
    assert_eq!(statements.len(), 1);
    let statement = &statements[0];
    assert_eq!(
        statement.account,
        Account {
            number: some("123456789150ABCDEF002"),
            bic: some("UBRTHUHB"),
            currency: some("HUF"),
            ..Account::default()
        }
    );
    assert_eq!(statement.entries.len(), 7);
    assert_eq!(statement.entries[0].amount, dec!(2066637.00));
    assert_eq!(statement.entries[2].amount, dec!(-3051800.00));
    assert!(statement.entries[1].wording.starts_with("BBK18D0000188142 123777040156667300100001 SPYMARKET"));
    let kinds: Vec<_> = statement.balances.iter().map(|b| b.kind).collect();
    assert_eq!(kinds, [BalanceKind::Opening, BalanceKind::Closing, BalanceKind::Available], "three `:65:` skipped");
}

#[test]
fn old_rabobank_one_information_field_per_line() {
    let statements = read("mt942-rabobank.sta");
    assert_eq!(statements.len(), 4);
    assert_eq!(
        statements[0].account,
        Account { number: some("1291.99.348"), currency: some("EUR"), ..Account::default() }
    );
    let first = &statements[0].entries[0];
    assert_eq!((first.amount, first.kind.as_deref(), first.reference.as_deref()), (dec!(-1213.28), Some("N044"), None));
    assert_eq!(first.wording, "Terugboeking NIET AKKOORD MET AFSCHRIJVING KOSTEN KINDEROPVANG JUNI 20095731");
    assert!(statements[1].entries.is_empty());
    assert_eq!(statements[3].account.number.as_deref(), Some("1526.89.184"));
    assert_eq!(statements[3].amounts(), [dec!(-88.10), dec!(-6.20)]);
    assert!(statements[3].adds_up());
}

#[test]
fn triodos_angle_bracket_subfields() {
    let statements = read("mt942-triodos.sta");
    let triodos = &statements[0];
    assert_eq!(triodos.account.number.as_deref(), Some("0390123456"));
    // `TRIODOSBANK` has a BIC's shape (TRIO, DO, SB, ANK): it is taken for one.
    assert_eq!(triodos.account.bic.as_deref(), Some("TRIODOSBANK"));
    assert_eq!(triodos.amounts(), [dec!(-15.70), dec!(-700.00)]);
    assert_eq!(triodos.entries[0].wording, "ALGEMENE TUSSENREKENING KOSTEN VAN 01-10-2010 TOT EN MET 31-12-2010");
    assert_eq!(triodos.entries[1].wording, "HUUR KANTOOR - FEB 2010");
    assert_eq!(triodos.entries[0].kind.as_deref(), Some("000"));
}

#[test]
fn sberbank_crlf_and_non_swift_fields() {
    let statements = read("mt942-sberbank.sta");
    assert_eq!(statements.len(), 1);
    let sberbank = &statements[0];
    assert_eq!(sberbank.account.number.as_deref(), Some("1966315302010001"));
    assert_eq!(sberbank.amounts(), [dec!(-2402.00), dec!(-3460.00), dec!(-3575.00)], "`DF`: debit, funds code F");
    assert!(sberbank.adds_up());
    assert!(sberbank.entries.iter().all(|e| e.currency.as_deref() == Some("HUF")));
}

#[test]
fn knab_amount_without_decimal_comma_reads_as_whole_units() {
    let statements = read("knab-broken.sta");
    let warnings: Vec<&Warning> = statements.iter().flat_map(|s| &s.warnings).collect();
    assert_eq!(warnings, [&Warning::new("line 17", "amount `500` without its decimal comma", "500,00: whole units")]);
    assert!(statements.iter().flat_map(|s| s.amounts()).any(|amount| amount == dec!(500)));
}

#[test]
fn broken_corpus_files_fail_at_their_line() {
    let cases = [
        (
            "sepa-snippet-broken.sta",
            "line 6",
            "`:25:` after the statement's balances or entries began: one account per message",
        ),
        ("february-30.sta", "line 6", "value date `160230` is not a date (YYMMDD)"),
        ("invalid-statement.sta", "line 1", "no MT940/MT942 message in the file: no `:20:` or other `:TAG:` line"),
    ];
    for (name, location, reason) in cases {
        let error = read_error(name);
        assert_eq!(error.format, Format::Mt940);
        assert_eq!((error.location.as_str(), error.reason.as_str()), (location, reason), "{name}");
    }
}

#[test]
fn every_fixture_reads_or_fails_cleanly() {
    let broken = ["sepa-snippet-broken.sta", "february-30.sta", "invalid-statement.sta"];
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mt940");
    let mut count = 0;
    for file in std::fs::read_dir(directory).unwrap() {
        let path = file.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).filter(|n| n.ends_with(".sta")) else { continue };
        count += 1;
        let result = read_bytes(&std::fs::read(&path).unwrap());
        assert_eq!(result.is_err(), broken.contains(&name), "{name}: {:?}", result.err());
        if let Ok(statements) = result {
            assert!(!statements.is_empty(), "{name}");
        }
    }
    assert_eq!(count, 22);
}

// ---- Errors and streaming ----

fn error_of(text: &str) -> (String, String) {
    let error = read_bytes(text.as_bytes()).expect_err("an error");
    (error.location, error.reason)
}

#[test]
fn bad_values_are_errors_at_their_line() {
    let head = ":20:REF\n:25:123456\n:60F:C240101EUR10,\n";
    let cases = [
        (":61:240102X5,NTRFNONREF\n", "line 4", "expected a debit/credit mark (D, C, RD or RC), found `X5`"),
        (":61:240102D5,5,5NTRF\n", "line 4", "amount `5,5,5` has more than one decimal comma"),
        (":61:241302D5,NTRF\n", "line 4", "value date `241302` is not a date (YYMMDD)"),
        (":61:2401X2D5,NTRF\n", "line 4", "expected the value date as YYMMDD, found `2401X2`"),
        (
            ":61:2401021345D5,NTRF\n",
            "line 4",
            "entry date `1345` is not a date (MMDD) within half a year of value date 2024-01-02",
        ),
        (":61:240102D5,\n", "line 4", "expected the transaction type (N, F or S and three characters), found ``"),
        (":62F:X240101EUR1,\n", "line 4", "expected a balance's debit/credit mark (D or C), found `X240101EUR1,`"),
        (":62F:C240101EU1,\n", "line 4", "expected the balance's currency (3 capital letters), found `EU1,`"),
        (":62F:C240101EUR1.5\n", "line 4", "amount `1.5` is not digits with a decimal comma"),
        (":25:654321\n", "line 4", "`:25:` after the statement's balances or entries began: one account per message"),
    ];
    for (line, location, reason) in cases {
        assert_eq!(error_of(&format!("{head}{line}")), (location.to_owned(), reason.to_owned()), "{line}");
    }
    assert_eq!(
        error_of(":20:A\n:25:1\n:62F:C240101EUR1,\n-\nhello world\n"),
        (
            "line 5".to_owned(),
            "unexpected text between messages: expected `:20:`, a `{1:` block or a `-` line".to_owned()
        )
    );
    assert_eq!(error_of(":20:A\n:25:1\n:25:2\n"), ("line 3".to_owned(), "a second `:25:` in one message".to_owned()));
}

#[test]
fn an_entry_before_the_account_still_has_a_statement() {
    let statements = read_bytes(b":20:X\n:61:240102C5,NTRFNONREF//B1\n:86:text\n-\n").unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0].account, Account::default());
    assert_eq!((statements[0].entries[0].amount, statements[0].entries[0].wording.as_str()), (dec!(5), "text"));
    assert_eq!(statements[0].entries[0].currency, None);
}

#[test]
fn empty_and_blank_files_have_no_statement() {
    assert!(read_bytes(b"").unwrap().is_empty());
    assert!(read_bytes(b"\r\n\n  \n").unwrap().is_empty());
}

#[test]
fn unknown_fields_are_skipped_with_their_lines() {
    let text = ":20:X\n:25:1\n:60F:C240101EUR0,\n:61:240102C5,NTRFNONREF\n\
                :NS:22Name\n33Other\n:86:wording\n:12:11\n:62F:C240102EUR5,\n";
    let statements = read_bytes(text.as_bytes()).unwrap();
    assert_eq!(statements[0].entries.len(), 1);
    assert_eq!(statements[0].entries[0].wording, "wording", "`:NS:` between `:61:` and `:86:` ends nothing");
    assert!(statements[0].adds_up());
}

/// A reader that counts the bytes its consumer has taken.
struct Counting<'a> {
    inner: &'a [u8],
    taken: Rc<Cell<usize>>,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken.set(self.taken.get() + n);
        Ok(n)
    }
}

impl BufRead for Counting<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        // One byte at a time, so that what is taken is what was read.
        Ok(self.inner.get(..1).unwrap_or_default())
    }

    fn consume(&mut self, amount: usize) {
        self.inner = self.inner.get(amount..).unwrap_or_default();
        self.taken.set(self.taken.get() + amount);
    }
}

#[test]
fn entries_are_reported_as_soon_as_they_are_complete() {
    let text = ":20:X\n:25:1\n:60F:C240101EUR0,\n:61:240102C5,NTRFNONREF\n:86:one\ntwo\n\
                :61:240103C7,NTRFNONREF\n:86:three\n:62F:C240103EUR12,\n-\n";
    let second_entry_line = text.find(":61:240103").unwrap() + ":61:240103C7,NTRFNONREF\n".len();
    let taken = Rc::new(Cell::new(0));
    let mut seen = Vec::new();
    let reader = Counting { inner: text.as_bytes(), taken: Rc::clone(&taken) };
    mt940::parse(reader, &mut |event| {
        let what = match event {
            Event::Statement(_) => "statement".to_owned(),
            Event::Balance(b) => format!("{:?}", b.kind),
            Event::Entry(e) => e.wording,
            Event::Warning(w) => w.what,
        };
        seen.push((what, taken.get()));
    })
    .unwrap();
    let opening_line = text.find(":61:").unwrap();
    assert_eq!(
        seen,
        [
            ("statement".to_owned(), opening_line),
            ("Opening".to_owned(), opening_line),
            // The first entry when the next `:61:` shows its `:86:` is over, not at the end.
            ("one two".to_owned(), second_entry_line),
            ("three".to_owned(), text.find("-\n").unwrap()),
            ("Closing".to_owned(), text.find("-\n").unwrap()),
        ]
    );
}

// ---- Deviations from the standard, read with a warning (files written for these tests) ----

#[test]
fn an_amount_without_its_decimal_comma_is_whole_units() {
    let text = ":20:STMT1\n:25:NL91ABNA0417164300\n:28C:1/1\n:60F:C240102EUR100,00\n\
                :61:240103C500NTRFNONREF//B1\n:86:Refund\n:62F:C240103EUR600,00\n-\n";
    let statements = read_bytes(text.as_bytes()).unwrap();
    let [statement] = statements.as_slice() else { panic!("one statement: {statements:?}") };
    assert_eq!(statement.amounts(), [dec!(500)]);
    assert!(statement.adds_up());
    assert_eq!(
        statement.warnings,
        [Warning::new("line 5", "amount `500` without its decimal comma", "500,00: whole units")]
    );
}

#[test]
fn a_balance_without_its_currency_is_in_the_statements() {
    let text = ":20:STMT2\n:25:1222333444\n:60F:C240102EUR10,00\n:61:240103D2,50NMSCNONREF\n:86:Fee\n\
                :62M:C2401037,50\n-\n";
    let statements = read_bytes(text.as_bytes()).unwrap();
    let [statement] = statements.as_slice() else { panic!("one statement: {statements:?}") };
    assert_eq!(
        statement.balance(BalanceKind::Closing),
        Some(&balance(BalanceKind::Closing, dec!(7.50), "EUR", day(2024, 1, 3)))
    );
    assert_eq!(
        statement.warnings,
        [Warning::new("line 6", "balance without its currency code", "the statement's currency, EUR")]
    );
}

#[test]
fn what_would_be_a_guess_stays_refused() {
    let head = ":20:REF\n:25:123456\n:60F:C240101EUR10,\n";
    let cases = [
        // 5.50 or 550? MT940 has no decimal point.
        (
            ":61:240102D5.50NTRFNONREF\n",
            "expected the transaction type (N, F or S and three characters), found `.50NTRFNONREF`",
        ),
        // A currency cut short is no currency at all.
        (":62F:C240101EU1,\n", "expected the balance's currency (3 capital letters), found `EU1,`"),
        // A day that does not exist (the `mt940` crate's february_30 case): no date to round to.
        (":61:160230D6,00N024NONREF\n", "value date `160230` is not a date (YYMMDD)"),
    ];
    for (line, reason) in cases {
        assert_eq!(error_of(&format!("{head}{line}")), ("line 4".to_owned(), reason.to_owned()), "{line}");
    }
}
