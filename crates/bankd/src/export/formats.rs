//! The five formats, each a [`Writer`] that appends text as the rows come. Written by hand rather
//! than through an XML or CSV crate: each writes a fixed, small shape, and a streaming writer of a
//! crate would add a layer without removing a line of escaping or ordering.

use chrono::NaiveDate;

use super::{Format, Statement};
use crate::domain::money::units_text;
use crate::store::rows::Transaction;
use crate::store::rows::parse_counterparty;

/// A format's writer: a file's start, each statement's start, its entries, its end, the file's end.
pub trait Writer: Send {
    fn begin(&mut self, _out: &mut String, _statements: &[Statement]) {}
    fn statement_start(&mut self, out: &mut String, statement: &Statement);
    fn entry(&mut self, out: &mut String, statement: &Statement, t: &Transaction);
    fn statement_end(&mut self, _out: &mut String, _statement: &Statement) {}
    fn end(&mut self, _out: &mut String, _statements: &[Statement]) {}
}

pub fn writer(format: Format) -> Box<dyn Writer> {
    match format {
        Format::Ofx => Box::new(Ofx),
        Format::Camt053 => Box::new(Camt),
        Format::Csv => Box::new(Csv),
        Format::Beancount => Box::new(Beancount),
        Format::Ledger => Box::new(Ledger),
    }
}

fn amount(statement: &Statement, units: i64) -> String {
    units_text(units, statement.currency.precision)
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The account's identifier in a statement: its IBAN, else its number, else bankd's id.
fn account_id(statement: &Statement) -> String {
    let account = &statement.account;
    account.iban.clone().or_else(|| account.number.clone()).unwrap_or_else(|| format!("bankd-{}", account.id))
}

/// OFX 2.2 (XML): one `STMTTRNRS` per account. `FITID` is bankd's id of the row, which stays the
/// same across exports and when a pending row is booked: ledger-autosync and Firefly dedupe on it.
struct Ofx;

impl Writer for Ofx {
    fn begin(&mut self, out: &mut String, _: &[Statement]) {
        let now = crate::store::now().format("%Y%m%d%H%M%S");
        out.push_str(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
             <?OFX OFXHEADER=\"200\" VERSION=\"220\" SECURITY=\"NONE\" OLDFILEUID=\"NONE\" NEWFILEUID=\"NONE\"?>\n\
             <OFX>\n<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>\
             <DTSERVER>{now}</DTSERVER><LANGUAGE>ENG</LANGUAGE></SONRS></SIGNONMSGSRSV1>\n<BANKMSGSRSV1>\n"
        ));
    }

    fn statement_start(&mut self, out: &mut String, s: &Statement) {
        let kind = match s.account.kind.as_str() {
            "savings" | "deposit" => "SAVINGS",
            "card" | "loan" => "CREDITLINE",
            _ => "CHECKING",
        };
        out.push_str(&format!(
            "<STMTTRNRS><TRNUID>{id}</TRNUID><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>\n\
             <STMTRS><CURDEF>{currency}</CURDEF>\n\
             <BANKACCTFROM><BANKID>{bank}</BANKID><ACCTID>{account}</ACCTID><ACCTTYPE>{kind}</ACCTTYPE></BANKACCTFROM>\n\
             <BANKTRANLIST><DTSTART>{from}</DTSTART><DTEND>{to}</DTEND>\n",
            id = s.account.id,
            currency = s.currency.id,
            bank = xml(&s.bank),
            account = xml(&account_id(s)),
            from = s.from.format("%Y%m%d"),
            to = s.to.format("%Y%m%d"),
        ));
    }

    fn entry(&mut self, out: &mut String, s: &Statement, t: &Transaction) {
        out.push_str(&format!(
            "<STMTTRN><TRNTYPE>{kind}</TRNTYPE><DTPOSTED>{date}</DTPOSTED>{user}<TRNAMT>{amount}</TRNAMT>\
             <FITID>{id}</FITID><NAME>{name}</NAME></STMTTRN>\n",
            kind = if t.value < 0 { "DEBIT" } else { "CREDIT" },
            date = t.date.format("%Y%m%d"),
            user = if t.rdate != t.date {
                format!("<DTUSER>{}</DTUSER>", t.rdate.format("%Y%m%d"))
            } else {
                String::new()
            },
            amount = amount(s, t.value),
            id = t.id,
            name = xml(&t.original_wording),
        ));
    }

    fn statement_end(&mut self, out: &mut String, s: &Statement) {
        out.push_str(&format!(
            "</BANKTRANLIST>\n<LEDGERBAL><BALAMT>{}</BALAMT><DTASOF>{}</DTASOF></LEDGERBAL>\n</STMTRS></STMTTRNRS>\n",
            amount(s, s.closing),
            s.to.format("%Y%m%d"),
        ));
    }

    fn end(&mut self, out: &mut String, _: &[Statement]) {
        out.push_str("</BANKMSGSRSV1>\n</OFX>\n");
    }
}

/// camt.053.001.08: one `Stmt` per account, its opening (`OPBD`) and closing (`CLBD`) booked
/// balances first, which agree with its entries.
struct Camt;

impl Camt {
    fn balance(out: &mut String, s: &Statement, code: &str, units: i64, date: NaiveDate) {
        out.push_str(&format!(
            "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{ccy}\">{amount}</Amt>\
             <CdtDbtInd>{sign}</CdtDbtInd><Dt><Dt>{date}</Dt></Dt></Bal>\n",
            ccy = s.currency.id,
            amount = amount(s, units.abs()),
            sign = if units < 0 { "DBIT" } else { "CRDT" },
        ));
    }
}

impl Writer for Camt {
    fn begin(&mut self, out: &mut String, _: &[Statement]) {
        let now = crate::store::now();
        out.push_str(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\n<BkToCstmrStmt>\n\
             <GrpHdr><MsgId>bankd-{}</MsgId><CreDtTm>{}</CreDtTm></GrpHdr>\n",
            now.timestamp(),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ));
    }

    fn statement_start(&mut self, out: &mut String, s: &Statement) {
        let account = &s.account;
        let id = match &account.iban {
            Some(iban) => format!("<IBAN>{}</IBAN>", xml(iban)),
            None => format!("<Othr><Id>{}</Id></Othr>", xml(&account_id(s))),
        };
        out.push_str(&format!(
            "<Stmt>\n<Id>bankd-{account}-{from}-{to}</Id><CreDtTm>{now}</CreDtTm>\
             <FrToDt><FrDtTm>{from}T00:00:00Z</FrDtTm><ToDtTm>{to}T23:59:59Z</ToDtTm></FrToDt>\n\
             <Acct><Id>{id}</Id><Ccy>{ccy}</Ccy><Nm>{name}</Nm><Svcr><FinInstnId><Nm>{bank}</Nm></FinInstnId></Svcr></Acct>\n",
            account = account.id,
            from = s.from,
            to = s.to,
            now = crate::store::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ccy = s.currency.id,
            name = xml(account.name.as_deref().unwrap_or(&account.original_name)),
            bank = xml(&s.bank),
        ));
        Camt::balance(out, s, "OPBD", s.opening, s.from);
        Camt::balance(out, s, "CLBD", s.closing, s.to);
    }

    fn entry(&mut self, out: &mut String, s: &Statement, t: &Transaction) {
        let value_date = t.vdate.map(|d| format!("<ValDt><Dt>{d}</Dt></ValDt>")).unwrap_or_default();
        out.push_str(&format!(
            "<Ntry><NtryRef>{id}</NtryRef><Amt Ccy=\"{ccy}\">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd>\
             <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{date}</Dt></BookgDt>{value_date}<AcctSvcrRef>{id}</AcctSvcrRef>\
             <BkTxCd><Prtry><Cd>{kind}</Cd></Prtry></BkTxCd>\
             <NtryDtls><TxDtls><RmtInf><Ustrd>{wording}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n",
            id = t.id,
            ccy = s.currency.id,
            amount = amount(s, t.value.abs()),
            sign = if t.value < 0 { "DBIT" } else { "CRDT" },
            date = t.date,
            kind = xml(&t.kind),
            wording = xml(&t.original_wording),
        ));
    }

    fn statement_end(&mut self, out: &mut String, _: &Statement) {
        out.push_str("</Stmt>\n");
    }

    fn end(&mut self, out: &mut String, _: &[Statement]) {
        out.push_str("</BkToCstmrStmt>\n</Document>\n");
    }
}

/// CSV (RFC 4180): a header row, ISO dates, `.` decimals, one account. Its column names are ones
/// bankd's own CSV importer recognises, so an export imports back as it is.
pub const CSV_HEADER: &str = "Date,Value date,Amount,Currency,Description,Reference,Type";

struct Csv;

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

impl Writer for Csv {
    fn begin(&mut self, out: &mut String, _: &[Statement]) {
        out.push_str(CSV_HEADER);
        out.push_str("\r\n");
    }

    fn statement_start(&mut self, _: &mut String, _: &Statement) {}

    fn entry(&mut self, out: &mut String, s: &Statement, t: &Transaction) {
        let value_date = t.vdate.map(|d| d.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{},{value_date},{},{},{},{},{}\r\n",
            t.date,
            amount(s, t.value),
            s.currency.id,
            csv_field(&t.original_wording),
            t.id,
            csv_field(&t.kind),
        ));
    }
}

/// An account's name for beancount and ledger: `Assets:Bank:<Bank>:<Account>`, each part made of
/// what both accept (ASCII letters and digits, a capital first).
pub fn ledger_account(bank: &str, account: &str) -> String {
    format!("Assets:Bank:{}:{}", ledger_part(bank), ledger_part(account))
}

fn ledger_part(name: &str) -> String {
    let words = name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty());
    let part: String = words
        .map(|w| {
            let ascii: String = w.chars().filter_map(ascii_letter).collect();
            let mut chars = ascii.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    if part.is_empty() { "Account".to_owned() } else { part }
}

/// A letter or digit as ASCII, its accent dropped (the accented letters of European bank and
/// account names); `None` for what has no ASCII form.
fn ascii_letter(c: char) -> Option<char> {
    if c.is_ascii_alphanumeric() {
        return Some(c);
    }
    const FOLDS: [(&str, char); 12] = [
        ("àáâãäå", 'a'),
        ("ÀÁÂÃÄÅ", 'A'),
        ("èéêë", 'e'),
        ("ÈÉÊË", 'E'),
        ("ìíîï", 'i'),
        ("ÌÍÎÏ", 'I'),
        ("òóôõö", 'o'),
        ("ÒÓÔÕÖ", 'O'),
        ("ùúûü", 'u'),
        ("ÙÚÛÜ", 'U'),
        ("çÇ", 'c'),
        ("ñÑ", 'n'),
    ];
    FOLDS.iter().find(|(accented, _)| accented.contains(c)).map(|(_, plain)| *plain)
}

/// The other side of every transaction: money in comes from income, money out goes to expenses.
fn counter_account(value: i64) -> &'static str {
    if value < 0 { "Expenses:Uncategorized" } else { "Income:Uncategorized" }
}

/// The payee: the counterparty when the bank named one, else the simplified wording.
fn payee(t: &Transaction) -> String {
    t.counterparty.as_deref().and_then(parse_counterparty).map_or_else(|| t.simplified_wording.clone(), |c| c.label)
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// beancount: the accounts opened, an opening balance from `Equity:Opening-Balances`, one
/// transaction per row, and a `balance` assertion of the closing balance (checked at the start of
/// the day after the statement, as beancount checks them).
struct Beancount;

impl Writer for Beancount {
    fn begin(&mut self, out: &mut String, statements: &[Statement]) {
        out.push_str("; Exported by bankd\n");
        let Some(first) = statements.iter().map(|s| s.from).min() else { return };
        for other in ["Equity:Opening-Balances", "Expenses:Uncategorized", "Income:Uncategorized"] {
            out.push_str(&format!("{first} open {other}\n"));
        }
    }

    fn statement_start(&mut self, out: &mut String, s: &Statement) {
        let ccy = &s.currency.id;
        out.push_str(&format!("\n{} open {} {ccy}\n", s.from, s.ledger_account));
        out.push_str(&format!(
            "{} * \"Opening balance\"\n  {}  {} {ccy}\n  Equity:Opening-Balances\n",
            s.from,
            s.ledger_account,
            amount(s, s.opening)
        ));
    }

    fn entry(&mut self, out: &mut String, s: &Statement, t: &Transaction) {
        out.push_str(&format!(
            "{} * {} {}\n  {}  {} {}\n  {}\n",
            t.date,
            quoted(&payee(t)),
            quoted(&t.original_wording),
            s.ledger_account,
            amount(s, t.value),
            s.currency.id,
            counter_account(t.value),
        ));
    }

    fn statement_end(&mut self, out: &mut String, s: &Statement) {
        let day_after = s.to.succ_opt().unwrap_or(s.to);
        out.push_str(&format!("{day_after} balance {} {} {}\n", s.ledger_account, amount(s, s.closing), s.currency.id));
    }
}

/// ledger (and hledger): the same shape, with the closing balance asserted on an empty posting.
struct Ledger;

impl Writer for Ledger {
    fn begin(&mut self, out: &mut String, _: &[Statement]) {
        out.push_str("; Exported by bankd\n");
    }

    fn statement_start(&mut self, out: &mut String, s: &Statement) {
        out.push_str(&format!(
            "\n{} * Opening balance\n    {}    {} {}\n    Equity:Opening Balances\n",
            s.from.format("%Y/%m/%d"),
            s.ledger_account,
            amount(s, s.opening),
            s.currency.id
        ));
    }

    fn entry(&mut self, out: &mut String, s: &Statement, t: &Transaction) {
        out.push_str(&format!(
            "\n{} * {}\n    ; {}\n    {}    {} {}\n    {}\n",
            t.date.format("%Y/%m/%d"),
            payee(t).replace('\n', " "),
            t.original_wording.replace('\n', " "),
            s.ledger_account,
            amount(s, t.value),
            s.currency.id,
            counter_account(t.value),
        ));
    }

    fn statement_end(&mut self, out: &mut String, s: &Statement) {
        out.push_str(&format!(
            "\n{} * Closing balance\n    {}    0 {ccy} = {} {ccy}\n",
            s.to.format("%Y/%m/%d"),
            s.ledger_account,
            amount(s, s.closing),
            ccy = s.currency.id
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_names_keep_only_what_every_ledger_tool_reads() {
        assert_eq!(
            ledger_account("Crédit Agricole", "Compte de dépôt n°2"),
            "Assets:Bank:CreditAgricole:CompteDeDepotN2"
        );
        assert_eq!(ledger_account("Sandbox Bank", "checking"), "Assets:Bank:SandboxBank:Checking");
        assert_eq!(ledger_account("", "—"), "Assets:Bank:Account:Account");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("CB MONOPRIX"), "CB MONOPRIX");
        assert_eq!(csv_field("PRLV \"EDF\", contrat 12"), "\"PRLV \"\"EDF\"\", contrat 12\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(xml("A&B <C> \"D\""), "A&amp;B &lt;C&gt; &quot;D&quot;");
    }
}
