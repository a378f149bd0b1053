//! camt.052/camt.053 against fixtures: files from the genkgo/camt corpus (values checked against
//! that project's JSON expectations) and files written from the ISO 20022 definitions
//! (`tests/fixtures/camt/SOURCES.md`).

mod common;

use common::*;
use std::io::{BufReader, Read};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use statements::{Account, Balance, BalanceKind, Entry, Error, Event, Format, Warning, camt};

/// The events read before the end or the error, and the outcome.
fn read_bytes(bytes: &[u8]) -> (Vec<Event>, Result<(), Error>) {
    let mut events = Vec::new();
    let outcome = camt::parse(bytes, &mut |event| events.push(event));
    (events, outcome)
}

/// One statement and what followed it.
#[derive(Debug, Default)]
struct Statement {
    account: Account,
    balances: Vec<Balance>,
    entries: Vec<Entry>,
    warnings: Vec<Warning>,
}

fn group(events: Vec<Event>) -> Vec<Statement> {
    let mut statements: Vec<Statement> = Vec::new();
    for event in events {
        match event {
            Event::Statement(account) => statements.push(Statement { account, ..Statement::default() }),
            Event::Balance(balance) => statements.last_mut().expect("a statement first").balances.push(balance),
            Event::Entry(entry) => statements.last_mut().expect("a statement first").entries.push(entry),
            Event::Warning(warning) => statements.last_mut().expect("a statement first").warnings.push(warning),
        }
    }
    statements
}

fn read(name: &str) -> Vec<Statement> {
    let (events, outcome) = read_bytes(&fixture("camt", name));
    outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
    group(events)
}

fn refused(bytes: &[u8]) -> Error {
    let (_, outcome) = read_bytes(bytes);
    let error = outcome.expect_err("should be refused");
    assert_eq!(error.format, Format::Camt);
    error
}

/// Opening + booked entries = closing: what the signs must satisfy.
fn assert_reconciles(statement: &Statement) {
    let of = |kind| statement.balances.iter().find(|b| b.kind == kind).map(|b| b.amount).unwrap();
    let booked: Decimal = statement.entries.iter().filter(|e| !e.pending).map(|e| e.amount).sum();
    assert_eq!(of(BalanceKind::Opening) + booked, of(BalanceKind::Closing));
}

// --- genkgo/camt corpus ---

#[test]
fn genkgo_camt053_v2_two_statements() {
    let statements = read("genkgo/camt053.v2.multi.statement.xml");
    assert_eq!(statements.len(), 2);
    for statement in &statements {
        assert_eq!(statement.account.iban.as_deref(), Some("NL26VAYB8060476890"));
        assert_eq!(statement.account.currency.as_deref(), Some("EUR"));
        assert_eq!(statement.entries.len(), 1);
        assert_reconciles(statement);
    }
    assert_eq!(
        statements[0].balances,
        [
            balance(BalanceKind::Opening, dec!(18.15), "EUR", day(2014, 12, 30)),
            balance(BalanceKind::Closing, dec!(27.00), "EUR", day(2014, 12, 31)),
        ]
    );
    assert_eq!(
        statements[0].entries[0],
        Entry {
            booking_date: day(2014, 12, 31),
            value_date: Some(day(2015, 1, 2)),
            amount: dec!(8.85),
            currency: some("EUR"),
            wording: "Transaction Description 1".to_owned(),
            // A credit, so the debtor is the other party: this detail names only a creditor.
            payee: None,
            counterparty_account: None,
            reference: some("000000001"),
            pending: false,
            kind: some("544"),
        }
    );
    // genkgo's JSON: -700 cents, creditor "Company Name 2", EndToEndId 000000002.
    let debit = &statements[1].entries[0];
    assert_eq!(debit.amount, dec!(-7.00));
    assert_eq!(debit.payee.as_deref(), Some("Company Name 2"));
    assert_eq!(debit.counterparty_account.as_deref(), Some("NL56AGDH9619008421"));
    assert_eq!(debit.reference.as_deref(), Some("000000002"));
    assert_eq!(debit.wording, "Transaction Description 2");
    assert_eq!(statements[1].balances[1], balance(BalanceKind::Closing, dec!(20.00), "EUR", day(2014, 12, 31)));
}

#[test]
fn genkgo_camt053_v4_other_id_and_structured_reference() {
    let statements = read("genkgo/camt053.v4.xml");
    let [statement] = statements.as_slice() else { panic!("one statement") };
    assert_eq!(statement.account, Account { number: some("NL26VAYB8060476890"), ..Account::default() });
    // OPAV is skipped; the others keep their own currencies (genkgo's JSON: -2700 SEK cents, -2700 JPY).
    assert_eq!(
        statement.balances,
        [
            balance(BalanceKind::Opening, dec!(18.15), "EUR", day(2014, 12, 30)),
            balance(BalanceKind::Closing, dec!(-27.00), "SEK", day(2014, 12, 30)),
            balance(BalanceKind::Available, dec!(-2700), "JPY", day(2014, 12, 31)),
        ]
    );
    let [entry] = statement.entries.as_slice() else { panic!("one entry") };
    assert_eq!(entry.amount, dec!(8.85));
    assert_eq!(entry.currency.as_deref(), Some("EUR"), "the entry's amount, not the detail's 0 SEK");
    assert_eq!(entry.reference.as_deref(), Some("AAAASESS-FP-CN_98765/01"));
    assert_eq!(entry.wording, "4654654654654654", "the structured creditor reference");
    assert_eq!(entry.payee.as_deref(), Some("NAME NAME"), "a credit: the debtor");
    assert_eq!(entry.counterparty_account.as_deref(), Some("NL56AGDH9619008421"));
    assert_eq!(entry.kind.as_deref(), Some("PAYM-0001-0005"));
}

#[test]
fn genkgo_camt053_v8_status_code_and_date_time() {
    let statements = read("genkgo/camt053.v8.xml");
    let [statement] = statements.as_slice() else { panic!("one statement") };
    assert_eq!(statement.balances.len(), 3);
    let [entry] = statement.entries.as_slice() else { panic!("one entry") };
    // genkgo's JSON: 885 EUR cents, booked 2014-12-31T12:15Z (13:15+01:00), value 2015-01-02.
    assert_eq!(entry.amount, dec!(8.85));
    assert_eq!(entry.booking_date, day(2014, 12, 31));
    assert_eq!(entry.value_date, Some(day(2015, 1, 2)));
    assert!(!entry.pending);
    assert_eq!(entry.kind.as_deref(), Some("PMNT-RCDT-BOOK"));
    assert_eq!(entry.payee.as_deref(), Some("NAME NAME"), "Dbtr/Pty/Nm");
    assert_eq!(entry.reference.as_deref(), Some("AAAASESS-FP-CN_98765/01"));
    assert_eq!(entry.wording, "4654654654654654");
}

#[test]
fn genkgo_camt052_v2_report() {
    let statements = read("genkgo/camt052.v2.xml");
    let [report] = statements.as_slice() else { panic!("one report") };
    assert_eq!(report.account.number.as_deref(), Some("CH2801234000123456789"));
    assert!(report.balances.is_empty());
    let [entry] = report.entries.as_slice() else { panic!("one entry") };
    assert_eq!(entry.amount, dec!(-200000));
    assert_eq!(entry.currency.as_deref(), Some("SEK"));
    assert_eq!(entry.booking_date, day(2007, 10, 18));
    assert_eq!(entry.reference.as_deref(), Some("AAAASESS-FP-ACCR-01"));
    assert_eq!(entry.wording, "Credit", "no remittance information: AddtlNtryInf");
    assert_eq!(entry.payee.as_deref(), Some("Company Name"), "a debit: the creditor");
    assert_eq!(entry.counterparty_account.as_deref(), Some("NL56AGDH9619008421"));
    assert_eq!(entry.kind.as_deref(), Some("PAYM-0001-0003"), "the domain code before the proprietary one");
}

#[test]
fn genkgo_camt052_v4_pending_report() {
    let statements = read("genkgo/camt052.v4.xml");
    let [report] = statements.as_slice() else { panic!("one report") };
    assert_eq!(
        report.account,
        Account { iban: some("CH2801234000123456789"), bic: some("UBSWCHZH80A"), ..Account::default() }
    );
    assert_eq!(report.balances, [balance(BalanceKind::Interim, dec!(10022.15), "CHF", day(2016, 6, 14))]);
    // genkgo's JSON: -20000000 SEK cents, PDNG, AcctSvcrRef ACSR160614165200001.
    assert_eq!(
        report.entries,
        [Entry {
            booking_date: day(2007, 10, 18),
            value_date: Some(day(2007, 10, 18)),
            amount: dec!(-200000),
            currency: some("SEK"),
            wording: "Example Remittance - 4 - V1".to_owned(),
            payee: some("UNIFITS GmbH"),
            counterparty_account: some("CH2801234000123456789"),
            reference: some("ACSR160614165200001"),
            pending: true,
            kind: some("PMNT-RCDT-DMCT"),
        }]
    );
}

#[test]
fn genkgo_date_time_without_zone() {
    let statements = read("genkgo/camt53.only-Dt-with-DtTm.xml");
    let [statement] = statements.as_slice() else { panic!("one statement") };
    assert_eq!(statement.account.iban.as_deref(), Some("GB33BUKB20201555555555"));
    assert_eq!(statement.balances, [balance(BalanceKind::Opening, dec!(5442.09000), "RON", day(2025, 7, 23))]);
}

// --- written from the specification ---

#[test]
fn two_statements_v02() {
    let statements = read("stmt-v02-two-statements.xml");
    let [first, second] = statements.as_slice() else { panic!("two statements") };
    assert_eq!(
        first.account,
        Account {
            iban: some("DE89370400440532013000"),
            bic: some("COBADEFFXXX"),
            currency: some("EUR"),
            name: some("Girokonto"),
            ..Account::default()
        }
    );
    assert_eq!(
        first.balances,
        [
            balance(BalanceKind::Opening, dec!(1000.00), "EUR", day(2023, 9, 29)),
            balance(BalanceKind::Closing, dec!(2299.90), "EUR", day(2023, 10, 6)),
            balance(BalanceKind::Available, dec!(2299.90), "EUR", day(2023, 10, 6)),
        ],
        "PRCD opens, FWAV is skipped"
    );
    assert_eq!(first.entries.len(), 3, "the INFO entry is skipped");
    assert_reconciles(first);

    let rent = &first.entries[0];
    assert_eq!(rent.amount, dec!(-250.00));
    assert_eq!(rent.wording, "Miete Oktober Wohnung 3B");
    assert_eq!(rent.payee.as_deref(), Some("Hausverwaltung Müller & Söhne"));
    assert_eq!(rent.counterparty_account.as_deref(), Some("DE02120300000000202051"));
    assert_eq!(rent.reference.as_deref(), Some("2023100200001"));
    assert_eq!(rent.kind.as_deref(), Some("PMNT-ICDT-ESCT"));

    let salary = &first.entries[1];
    assert_eq!(salary.amount, dec!(1500.00));
    assert_eq!(salary.reference.as_deref(), Some("NR-0002"), "NtryRef without AcctSvcrRef");
    assert_eq!(salary.wording, "RF18539007547034");
    assert_eq!(salary.payee.as_deref(), Some("ACME GmbH"));
    assert_eq!(salary.counterparty_account.as_deref(), Some("0532013001"));
    assert_eq!(salary.kind.as_deref(), Some("NTRF+166"));

    // A returned direct debit: CRDT with RvslInd is money coming back, and its other party is
    // the creditor who had collected it.
    let reversal = &first.entries[2];
    assert_eq!(reversal.amount, dec!(49.90));
    assert_eq!(reversal.payee.as_deref(), Some("Telco AG"));
    assert_eq!(reversal.counterparty_account.as_deref(), Some("DE75512108001245126199"));
    assert_eq!(reversal.wording, "Rücklastschrift Lastschrift 09/2023", "AddtlTxInf before AddtlNtryInf");
    assert_eq!(reversal.reference.as_deref(), Some("2023100600007"));

    assert_eq!(
        second.account,
        Account { number: some("12345678"), bic: some("COBADEFFXXX"), currency: some("USD"), ..Account::default() }
    );
    assert_eq!(second.balances[0].amount, dec!(-500.00));
    assert_eq!(second.balances[1].amount, dec!(-420.00));
    assert_reconciles(second);
    let [fee, refund, zero] = second.entries.as_slice() else { panic!("three entries") };
    assert_eq!((fee.booking_date, fee.value_date), (day(2023, 10, 3), Some(day(2023, 10, 3))), "dated by ValDt");
    assert_eq!((fee.wording.as_str(), fee.reference.as_deref()), ("Card fee", Some("VAL-ONLY-1")));
    assert_eq!(fee.kind, None);
    assert_eq!(refund.reference.as_deref(), Some("TX-REF-9"), "the detail's AcctSvcrRef before its EndToEndId");
    assert_eq!(refund.payee.as_deref(), Some("John Smith"));
    assert_eq!(zero.reference.as_deref(), Some("E2E-ZERO"));
    assert_eq!((zero.amount, zero.wording.as_str(), zero.value_date), (dec!(0.00), "", None));
}

#[test]
fn statement_v08_with_date_times_and_status_codes() {
    let statements = read("stmt-v08-dttm.xml");
    let [statement] = statements.as_slice() else { panic!("one statement") };
    assert_eq!(
        statement.account,
        Account {
            iban: some("CH9300762011623852957"),
            bic: some("UBSWCHZH80A"),
            currency: some("CHF"),
            name: some("Business account"),
            ..Account::default()
        }
    );
    assert_eq!(statement.balances[0], balance(BalanceKind::Opening, dec!(10000.00), "CHF", day(2023, 10, 4)));
    assert_reconciles(statement);
    let [bill, deposit] = statement.entries.as_slice() else { panic!("two entries, INFO skipped") };
    assert_eq!(
        *bill,
        Entry {
            booking_date: day(2023, 10, 4),
            // 23:30 at -05:00 is the 5th in UTC: the date stays as the bank wrote it.
            value_date: Some(day(2023, 10, 4)),
            amount: dec!(-1234.56),
            currency: some("CHF"),
            wording: "Rechnung 2023-117".to_owned(),
            payee: some("Swisscom (Schweiz) AG"),
            counterparty_account: some("CH5604835012345678009"),
            reference: some("CH-REF-0001"),
            pending: false,
            kind: some("PMNT-ICDT-DMCT"),
        }
    );
    assert!(deposit.pending);
    assert_eq!((deposit.booking_date, deposit.amount), (day(2023, 10, 5), dec!(300.00)));
    assert_eq!(deposit.payee.as_deref(), Some("Jane Doe"));
    assert_eq!(deposit.counterparty_account.as_deref(), Some("CH4431999123000889012"));
}

#[test]
fn report_v06_with_a_pending_entry() {
    let statements = read("rpt-v06-pending.xml");
    let [report] = statements.as_slice() else { panic!("one report") };
    assert_eq!(report.account.iban.as_deref(), Some("AT611904300234573201"));
    assert_eq!(report.balances, [balance(BalanceKind::Interim, dec!(742.18), "EUR", day(2024, 1, 15))]);
    let [card, pending] = report.entries.as_slice() else { panic!("two entries") };
    assert!(!card.pending);
    assert_eq!(card.wording, "POS 15.01. 10:42 BILLA DANKT");
    assert_eq!(card.payee.as_deref(), Some("BILLA AG"));
    assert_eq!(card.kind.as_deref(), Some("PMNT-CCRD-POSD"));
    assert!(pending.pending);
    assert_eq!(pending.amount, dec!(-120.00));
    assert_eq!((pending.booking_date, pending.value_date), (day(2024, 1, 16), Some(day(2024, 1, 16))));
    assert_eq!(pending.reference.as_deref(), Some("AT-0115-0002"));
    assert_eq!(pending.wording, "Abschlag Strom Jänner");
}

#[test]
fn batches_split_only_when_the_details_add_up() {
    let statements = read("batches.xml");
    let [statement] = statements.as_slice() else { panic!("one statement") };
    assert_reconciles(statement);
    let entries = &statement.entries;
    assert_eq!(entries.len(), 3 + 2 + 1 + 1);

    // BATCH-1: three salaries, adding up in TxDtls/Amt.
    let salaries = &entries[..3];
    assert_eq!(salaries.iter().map(|e| e.amount).collect::<Vec<_>>(), [dec!(-400.00), dec!(-350.00), dec!(-250.00)]);
    assert_eq!(
        salaries.iter().map(|e| e.reference.as_deref().unwrap()).collect::<Vec<_>>(),
        // Own AcctSvcrRef; one that repeats the entry's; none.
        ["BATCH-1-A", "BATCH-1/2", "BATCH-1/3"]
    );
    assert_eq!(
        salaries.iter().map(|e| e.wording.as_str()).collect::<Vec<_>>(),
        ["Salary October Alice", "Salary October Bob", "Salaries October"]
    );
    assert_eq!(
        salaries.iter().map(|e| e.payee.as_deref().unwrap()).collect::<Vec<_>>(),
        ["Alice Jansen", "Bob de Vries", "Carol Bakker"]
    );
    assert_eq!(salaries[0].counterparty_account.as_deref(), Some("NL02ABNA0123456789"));
    assert_eq!(
        salaries.iter().map(|e| e.kind.as_deref().unwrap()).collect::<Vec<_>>(),
        ["PMNT-ICDT-ESCT", "PMNT-ICDT-SALA", "PMNT-ICDT-ESCT"]
    );
    assert!(salaries.iter().all(|e| e.booking_date == day(2023, 10, 31) && e.currency.as_deref() == Some("EUR")));

    // BATCH-2: an invoice and a credit note, adding up in AmtDtls/TxAmt (TxDtls/Amt is in USD).
    let invoice = &entries[3];
    let credit_note = &entries[4];
    assert_eq!((invoice.amount, invoice.reference.as_deref()), (dec!(-100.00), Some("BATCH-2/1")));
    assert_eq!((credit_note.amount, credit_note.reference.as_deref()), (dec!(10.00), Some("BATCH-2/2")));
    assert_eq!(invoice.payee.as_deref(), Some("Supplier Inc"));
    assert_eq!(credit_note.payee.as_deref(), Some("Supplier Inc"), "a credit: the debtor");
    assert_eq!(credit_note.wording, "Credit note 12");

    // BATCH-3: 200 + 250 is not 500: one entry, described by the entry, no single payee.
    assert_eq!(
        entries[5],
        Entry {
            booking_date: day(2023, 10, 31),
            value_date: Some(day(2023, 10, 31)),
            amount: dec!(-500.00),
            currency: some("EUR"),
            wording: "Collective transfer 2 items".to_owned(),
            payee: None,
            counterparty_account: None,
            reference: some("BATCH-3"),
            pending: false,
            kind: some("PMNT-ICDT-ESCT"),
        }
    );

    // BATCH-4: a detail without amount: one entry; no AddtlNtryInf, so the first detail's words,
    // and the payee both details agree on.
    let dues = &entries[6];
    assert_eq!((dues.amount, dues.reference.as_deref()), (dec!(80.00), Some("BATCH-4")));
    assert_eq!(dues.wording, "Dues Frank");
    assert_eq!(dues.payee.as_deref(), Some("Frank Mulder"));
}

#[test]
fn declared_latin1_is_decoded() {
    let statements = read("latin1.xml");
    let [statement] = statements.as_slice() else { panic!("one statement") };
    assert_eq!(statement.account.name.as_deref(), Some("Geschäftskonto"));
    let [entry] = statement.entries.as_slice() else { panic!("one entry") };
    assert_eq!(entry.payee.as_deref(), Some("Bäckerei Müller & Söhne"));
    assert_eq!(entry.wording, "Brötchen für £ € ☺");
}

#[test]
fn utf8_bom_and_undeclared_latin1_are_read() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(&fixture("camt", "genkgo/camt053.v4.xml"));
    let (events, outcome) = read_bytes(&bytes);
    outcome.unwrap();
    assert_eq!(events.len(), 1 + 3 + 1);

    // Declared UTF-8, but a Latin-1 byte: read as Windows-1252 rather than refused.
    let text = String::from_utf8(fixture("camt", "stmt-v02-two-statements.xml")).unwrap();
    let mut bytes = text.replace("Girokonto", "GIRO_").into_bytes();
    let at = bytes.windows(5).position(|w| w == b"GIRO_").unwrap() + 4;
    bytes[at] = 0xC4; // Ä in Latin-1
    let statements = group(read_bytes(&bytes).0);
    assert_eq!(statements[0].account.name.as_deref(), Some("GIROÄ"));
}

#[test]
fn the_generic_entry_point_and_detection_agree() {
    let bytes = fixture("camt", "genkgo/camt052.v4.xml");
    assert_eq!(statements::detect(&bytes[..bytes.len().min(4096)]), Some(Format::Camt));
    let mut count = 0;
    statements::parse(Format::Camt, &bytes[..], &statements::Options::default(), &mut |_| count += 1).unwrap();
    assert_eq!(count, 3);
}

#[test]
fn the_account_is_announced_when_acct_closes_or_before_the_first_entry() {
    let xml = r#"<Document><BkToCstmrStmt><Stmt><Id>1</Id>
        <Ntry><Amt Ccy="EUR">1</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2024-01-02</Dt></BookgDt></Ntry>
        </Stmt><Stmt><Id>2</Id></Stmt></BkToCstmrStmt></Document>"#;
    let (events, outcome) = read_bytes(xml.as_bytes());
    outcome.unwrap();
    assert!(
        matches!(events.as_slice(), [Event::Statement(a), Event::Entry(_), Event::Statement(b)] if *a == Account::default() && *b == Account::default())
    );
}

// --- refused ---

#[test]
fn a_doctype_is_refused() {
    let error = refused(&fixture("camt", "doctype-bomb.xml"));
    assert_eq!(error.location, "prolog");
    assert!(error.reason.contains("DOCTYPE"), "{error}");
}

#[test]
fn deep_nesting_is_refused() {
    let error = refused(&fixture("camt", "too-deep.xml"));
    assert!(
        error.location.starts_with("Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]/SplmtryData/X0/"),
        "{error}"
    );
    assert!(error.location.ends_with("/X56/X57"), "the 65th element: {error}");
    assert_eq!(error.reason, "elements nested deeper than 64");
}

#[test]
fn a_bad_amount_names_its_path_after_streaming_what_came_before() {
    let (events, outcome) = read_bytes(&fixture("camt", "bad-amount.xml"));
    let error = outcome.unwrap_err();
    assert_eq!(error.location, "Document/BkToCstmrStmt/Stmt[2]/Ntry[2]/Amt");
    assert_eq!(error.reason, "not an amount: '12,50'");
    assert_eq!(error.to_string(), "camt statement, Document/BkToCstmrStmt/Stmt[2]/Ntry[2]/Amt: not an amount: '12,50'");
    let entries: Vec<Decimal> =
        events.iter().filter_map(|e| if let Event::Entry(e) = e { Some(e.amount) } else { None }).collect();
    assert_eq!(entries, [dec!(1.00), dec!(2.00)]);
}

/// A file of a header, then `filler` bytes of one text, then a tail; counts what was read.
struct Endless {
    head: Vec<u8>,
    filler: usize,
    read: usize,
}

impl Read for Endless {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = out.len().min(4096);
        for (i, byte) in out[..n].iter_mut().enumerate() {
            let at = self.read + i;
            *byte = if at < self.head.len() {
                self.head[at]
            } else if at < self.head.len() + self.filler {
                b'x'
            } else {
                b'<'
            };
        }
        self.read += n;
        Ok(n)
    }
}

#[test]
fn an_endless_text_is_refused_without_reading_it_all() {
    let head = b"<Document><BkToCstmrStmt><Stmt><Ntry><AddtlNtryInf>".to_vec();
    let mut input = Endless { head, filler: 1 << 30, read: 0 };
    let mut events = Vec::new();
    let error = camt::parse(BufReader::new(&mut input), &mut |e| events.push(e)).unwrap_err();
    assert_eq!(error.location, "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/AddtlNtryInf");
    assert_eq!(error.reason, "text or tag longer than 65536 bytes");
    assert!(input.read < 200_000, "read {} bytes", input.read);

    // Just over the limit, in several pieces (a comment splits it): the text itself is measured.
    let piece = "y".repeat(40_000);
    let xml = format!(
        "<Document><BkToCstmrStmt><Stmt><Acct><Nm>{piece}<!-- -->{piece}</Nm></Acct></Stmt></BkToCstmrStmt></Document>"
    );
    let error = refused(xml.as_bytes());
    assert_eq!(
        (error.location.as_str(), error.reason.as_str()),
        ("Document/BkToCstmrStmt/Stmt[1]/Acct/Nm", "text longer than 65536 bytes")
    );
}

#[test]
fn other_documents_are_refused() {
    let error = refused(br#"<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn/></Document>"#);
    assert_eq!(error.location, "Document/BkToCstmrDbtCdtNtfctn");
    assert!(error.reason.starts_with("not a camt.052 or camt.053 message"), "{error}");

    let error = refused(b"<html><body/></html>");
    assert_eq!(
        (error.location.as_str(), error.reason.as_str()),
        ("html", "not a camt document: the root element is <html>, not <Document>")
    );

    let error = refused(b"");
    assert_eq!(error.location, "file");
    let error = refused(b"\xFF\xFE<\0D\0");
    assert!(error.reason.contains("UTF-16"), "{error}");
}

#[test]
fn broken_xml_and_values_are_refused_with_their_path() {
    let entry = |inner: &str| {
        format!(
            r#"<Document><BkToCstmrStmt><Stmt><Acct><Id><IBAN>X</IBAN></Id></Acct><Ntry>{inner}</Ntry></Stmt></BkToCstmrStmt></Document>"#
        )
    };
    let ok = r#"<Amt Ccy="EUR">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>"#;
    let path = "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]";
    let cases = [
        (
            entry(&format!("{ok}<BookgDt><Dt>2024-02-30</Dt></BookgDt>")),
            format!("{path}/BookgDt/Dt"),
            "not a date or date-time: '2024-02-30'",
        ),
        (
            entry(&format!("{ok}<BookgDt><DtTm>2024-02-03 10:00</DtTm></BookgDt>")),
            format!("{path}/BookgDt/DtTm"),
            "not a date or date-time: '2024-02-03 10:00'",
        ),
        (entry(ok), path.to_owned(), "entry with neither BookgDt nor ValDt"),
        (
            entry(r#"<Amt Ccy="EUR">1.00</Amt><Sts>BOOK</Sts><ValDt><Dt>2024-01-01</Dt></ValDt>"#),
            path.to_owned(),
            "entry without CdtDbtInd",
        ),
        (
            entry(r#"<CdtDbtInd>DBIT</CdtDbtInd><ValDt><Dt>2024-01-01</Dt></ValDt>"#),
            path.to_owned(),
            "entry without Amt",
        ),
        (entry(r#"<Amt Ccy="EUR"/>"#), format!("{path}/Amt"), "not an amount: ''"),
        (entry(r#"<Amt Ccy="EUR">-1.00</Amt>"#), format!("{path}/Amt"), "not an amount: '-1.00'"),
        (
            entry(r#"<Amt Ccy="EUR">1</Amt><CdtDbtInd>D</CdtDbtInd>"#),
            format!("{path}/CdtDbtInd"),
            "CdtDbtInd is CRDT or DBIT, not 'D'",
        ),
        (
            entry(r#"<Amt Ccy="EUR">1</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>yes</RvslInd>"#),
            format!("{path}/RvslInd"),
            "not a boolean: 'yes'",
        ),
        (
            entry(r#"<AddtlNtryInf>a &bomb; b</AddtlNtryInf>"#),
            format!("{path}/AddtlNtryInf"),
            "bad character or entity reference",
        ),
    ];
    for (xml, location, reason) in cases {
        let error = refused(xml.as_bytes());
        assert_eq!(error.location, location, "{xml}");
        assert!(error.reason.starts_with(reason), "{xml}: {error}");
    }

    let error = refused(b"<Document><BkToCstmrStmt><Stmt><Acct></Stmt>");
    assert!(error.reason.starts_with("not well-formed XML"), "{error}");
    let error = refused(b"<Document><BkToCstmrStmt><Stmt>");
    assert_eq!(error.location, "Document/BkToCstmrStmt/Stmt[1]", "{error}");
}

// --- Deviations from the standard, read with a warning (files written for these tests) ---

/// A camt.053.001.08 statement whose `Stmt` holds `dates` and then `body`.
fn statement_v08(dates: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-03-02T06:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id>{dates}<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>{body}</Stmt>
</BkToCstmrStmt></Document>"#
    )
}

const UNDATED_ENTRY: &str = r#"<Ntry><Amt Ccy="EUR">12.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<AcctSvcrRef>R1</AcctSvcrRef></Ntry>"#;

fn only_statement(xml: &str) -> Statement {
    let (events, outcome) = read_bytes(xml.as_bytes());
    outcome.unwrap();
    let mut statements = group(events);
    assert_eq!(statements.len(), 1);
    statements.remove(0)
}

#[test]
fn a_balance_without_cdtdbtind_is_a_credit() {
    let bal = r#"<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1234.56</Amt><Dt><Dt>2024-02-29</Dt></Dt></Bal>"#;
    let statement = only_statement(&statement_v08("", bal));
    assert_eq!(statement.balances, [balance(BalanceKind::Closing, dec!(1234.56), "EUR", day(2024, 2, 29))]);
    assert_eq!(
        statement.warnings,
        [Warning::new(
            "Document/BkToCstmrStmt/Stmt[1]/Bal[1]",
            "balance without CdtDbtInd",
            "CRDT: a credit balance of 1234.56"
        )]
    );
}

#[test]
fn an_entry_without_dates_takes_the_end_of_the_statements_period() {
    let dates = "<CreDtTm>2024-03-01T08:00:00+01:00</CreDtTm>\
                 <FrToDt><FrDtTm>2024-02-01T00:00:00</FrDtTm><ToDtTm>2024-02-29T23:59:59</ToDtTm></FrToDt>";
    let statement = only_statement(&statement_v08(dates, UNDATED_ENTRY));
    assert_eq!(summary_of(&statement), [(day(2024, 2, 29), None, dec!(-12.50))]);
    assert_eq!(
        statement.warnings,
        [Warning::new(
            "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]",
            "entry with neither BookgDt nor ValDt",
            "booked on 2024-02-29, the statement's FrToDt/ToDtTm"
        )]
    );
}

#[test]
fn an_entry_without_dates_takes_the_statements_creation_when_it_has_no_period() {
    let statement = only_statement(&statement_v08("<CreDtTm>2024-03-01T08:00:00+01:00</CreDtTm>", UNDATED_ENTRY));
    assert_eq!(summary_of(&statement), [(day(2024, 3, 1), None, dec!(-12.50))]);
    assert_eq!(statement.warnings[0].assumed, "booked on 2024-03-01, the statement's CreDtTm");
}

#[test]
fn an_entry_without_any_date_to_take_stays_refused() {
    let error = refused(statement_v08("", UNDATED_ENTRY).as_bytes());
    assert_eq!(error.location, "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]");
    assert_eq!(error.reason, "entry with neither BookgDt nor ValDt");
}

fn summary_of(statement: &Statement) -> Vec<(chrono::NaiveDate, Option<chrono::NaiveDate>, Decimal)> {
    statement.entries.iter().map(|e| (e.booking_date, e.value_date, e.amount)).collect()
}
