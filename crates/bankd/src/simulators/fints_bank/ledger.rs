//! The FinTS bank's books: each login's two accounts, their booked history (from the shared
//! customer generator) and three pending entries, and how they are written on the wire — MT940
//! and MT942 (ISO-8859-1, German `:86:` subfields) and camt.052 (UTF-8).

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::super::customers::{Customer, Product, Profile, bank_transaction_code};
use crate::domain::bank::BankTransaction;

pub const BANK_CODE: &str = "99999999";
pub const BIC: &str = "SBXBDEFFXXX";
/// How far back the books go: a little over a year.
pub const HISTORY_DAYS: u64 = 400;
/// The camt.052 versions the bank writes, newest first.
pub const CAMT_08: &str = "urn:iso:std:iso:20022:tech:xsd:camt.052.001.08";
pub const CAMT_02: &str = "urn:iso:std:iso:20022:tech:xsd:camt.052.001.02";

/// One of a login's accounts.
#[derive(Debug, Clone)]
pub struct Account {
    pub number: String,
    pub iban: String,
    /// The UPD account kind: 1 current account, 10 savings.
    pub kind: u8,
    pub name: &'static str,
    product: Product,
}

impl Account {
    /// The international account group `IBAN:BIC:number:sub-account:280:bank code`.
    pub fn international(&self) -> Vec<String> {
        [self.iban.as_str(), BIC, &self.number, "", "280", BANK_CODE].map(str::to_owned).to_vec()
    }
}

/// The login's current and savings accounts, numbered from a hash of the login.
pub fn accounts(login: &str) -> [Account; 2] {
    let digest = Sha256::digest([b"fints-sandbox-account:".as_slice(), login.as_bytes()].concat());
    let seed = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
    let base = 10_000_000 + seed % 89_999_999;
    let account = |suffix: u64, kind, name, product| {
        let number = format!("{:010}", base * 100 + suffix);
        Account { iban: iban(&number), number, kind, name, product }
    };
    [account(0, 1, "Girokonto", Product::Checking), account(50, 10, "Tagesgeld", Product::Savings)]
}

/// A German IBAN for `number` at this bank: check digits by ISO 7064 MOD 97-10.
fn iban(number: &str) -> String {
    let bban = format!("{BANK_CODE}{number:0>10}");
    // `DE00` moved behind the BBAN, letters as numbers (D = 13, E = 14).
    let remainder = format!("{bban}131400").bytes().fold(0u32, |r, digit| (r * 10 + u32::from(digit - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - remainder)
}

/// A booked or pending entry as the bank keeps it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub booked: NaiveDate,
    pub value_date: NaiveDate,
    pub amount: Decimal,
    pub wording: String,
    pub counterparty: Option<String>,
    pub reference: String,
    /// The German business transaction code (GVC) and its booking text.
    gvc: &'static str,
    booking_text: &'static str,
    /// The SWIFT transaction type of `:61:` and the ISO 20022 bank transaction code.
    swift: &'static str,
    code: [&'static str; 3],
}

impl Entry {
    fn from_generated(t: &BankTransaction, index: usize) -> Entry {
        let debit = t.value.is_sign_negative();
        let (gvc, booking_text, swift) = match t.kind {
            "card" | "deferred_card" => ("106", "Kartenzahlung", "NMSC"),
            "summary_card" => ("106", "Kartenabrechnung", "NMSC"),
            "withdrawal" => ("083", "Bargeldauszahlung", "NMSC"),
            "order" => ("105", "SEPA-Basislastschrift", "NDDT"),
            "bank" => ("805", "Entgelt", "NCHG"),
            _ if debit => ("116", "Überweisung", "NTRF"),
            _ => ("166", "Gutschrift", "NTRF"),
        };
        // A card payment's counterparty is the shop its wording names.
        let counterparty = t.counterparty.as_ref().map(|c| c.label.clone()).or_else(|| {
            let shop = t.original_wording.strip_prefix("CB ").or_else(|| t.original_wording.strip_prefix("AVOIR CB "));
            shop.map(str::to_owned)
        });
        Entry {
            booked: t.date,
            value_date: t.vdate.unwrap_or(t.date),
            amount: t.value,
            wording: t.original_wording.clone(),
            counterparty,
            reference: format!("{}{index:03}", t.date.format("%Y%m%d")),
            gvc,
            booking_text,
            swift,
            code: bank_transaction_code(t),
        }
    }
}

/// The three entries of an account that are pending at its first read and booked, unchanged,
/// from the next one. `date` is the day of that first read.
pub fn pending(login: &str, account: &Account, date: NaiveDate) -> Vec<Entry> {
    const CHECKING: [(&str, &str); 3] = [
        ("Bäckerei Köhler", "Kartenzahlung Bäckerei Köhler Münster"),
        ("Apotheke am Schloß", "Kartenzahlung Apotheke am Schloß"),
        ("Grün & Söhne GmbH", "Rechnung 2024-117 Grün & Söhne Gartenbedarf"),
    ];
    const SAVINGS: [(&str, &str); 3] = [
        ("Sandbox Bank", "Zinsgutschrift für das Quartal"),
        ("Erika Müller", "Geschenk für den Sparplan"),
        ("Sandbox Bank", "Prämie Tagesgeld Neukunde"),
    ];
    let digest =
        Sha256::digest([b"fints-sandbox-pending:".as_slice(), login.as_bytes(), account.number.as_bytes()].concat());
    let templates = if account.product == Product::Checking { CHECKING } else { SAVINGS };
    (templates.iter().enumerate())
        .map(|(i, (counterparty, wording))| {
            let cents = i64::from(u16::from_be_bytes([digest[2 * i], digest[2 * i + 1]]) % 9_000) + 500;
            let checking = account.product == Product::Checking;
            let amount = Decimal::new(if checking { -cents } else { cents }, 2);
            Entry {
                booked: date,
                value_date: date,
                amount,
                wording: (*wording).to_owned(),
                counterparty: Some((*counterparty).to_owned()),
                reference: format!("{}P{i:02}", date.format("%Y%m%d")),
                gvc: if checking { "106" } else { "166" },
                booking_text: if checking { "Kartenzahlung" } else { "Gutschrift" },
                swift: if checking { "NMSC" } else { "NTRF" },
                code: if checking { ["PMNT", "CCRD", "POSD"] } else { ["PMNT", "RCDT", "ESCT"] },
            }
        })
        .collect()
}

/// An account's booked entries, oldest first, and its booked balance now. `settled`: the pending
/// entries the bank has booked since (they are booked on the day they were first pending).
pub fn booked(login: &str, account: &Account, today: NaiveDate, settled: &[Entry]) -> (Vec<Entry>, Decimal) {
    let customer = Customer::new(login, Profile::Plain, today);
    let mut entries: Vec<Entry> = (0..HISTORY_DAYS)
        .rev()
        .flat_map(|back| {
            let day = today - Days::new(back);
            let rows = customer.day(account.product, day);
            rows.iter().enumerate().map(|(i, t)| Entry::from_generated(t, i)).collect::<Vec<_>>()
        })
        .collect();
    entries.extend(settled.iter().cloned());
    entries.sort_by_key(|e| e.booked);
    let balance =
        customer.account(account.product, today, 0).balance + settled.iter().map(|e| e.amount).sum::<Decimal>();
    (entries, balance)
}

/// The balance at the end of `day`: today's, less what was booked after.
pub fn balance_at(entries: &[Entry], now: Decimal, day: NaiveDate) -> Decimal {
    now - entries.iter().filter(|e| e.booked > day).map(|e| e.amount).sum::<Decimal>()
}

fn mark(amount: Decimal) -> &'static str {
    if amount.is_sign_negative() { "D" } else { "C" }
}

/// `1234,56`: MT940's and FinTS's decimal comma.
pub fn comma(amount: Decimal) -> String {
    format!("{:.2}", amount.abs()).replace('.', ",")
}

/// MT940 text: ISO-8859-1 bytes, lines of at most 65 characters ended by CR LF.
struct Mt {
    bytes: Vec<u8>,
}

impl Mt {
    fn line(&mut self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        for chunk in chars.chunks(65) {
            self.bytes.extend(chunk.iter().map(|c| u8::try_from(u32::from(*c)).unwrap_or(b'_')));
            self.bytes.extend_from_slice(b"\r\n");
        }
    }

    /// `:61:` and `:86:` of one entry; the offset of the `:86:` wording's first byte.
    fn entry(&mut self, entry: &Entry) -> usize {
        self.line(&format!(
            ":61:{}{}{}{}{}NONREF//{}",
            entry.value_date.format("%y%m%d"),
            entry.booked.format("%m%d"),
            mark(entry.amount),
            comma(entry.amount),
            entry.swift,
            entry.reference
        ));
        let mut info = format!(":86:{}?00{}", entry.gvc, entry.booking_text);
        let wording_at = self.bytes.len() + info.chars().count() + 3;
        let chars: Vec<char> = entry.wording.chars().collect();
        for (i, part) in chars.chunks(27).take(10).enumerate() {
            info.push_str(&format!("?{}{}", 20 + i, part.iter().collect::<String>()));
        }
        if let Some(name) = &entry.counterparty {
            let chars: Vec<char> = name.chars().collect();
            for (i, part) in chars.chunks(27).take(2).enumerate() {
                info.push_str(&format!("?{}{}", 32 + i, part.iter().collect::<String>()));
            }
        }
        self.line(&info);
        wording_at
    }
}

/// The account's booked entries as one MT940 statement, and for each entry the offset of its
/// `:86:` wording (where a page may be cut).
pub fn mt940(
    account: &Account,
    entries: &[Entry],
    opening: Decimal,
    from: NaiveDate,
    to: NaiveDate,
) -> (Vec<u8>, Vec<usize>) {
    let mut mt = Mt { bytes: Vec::new() };
    mt.line(":20:STARTUMS");
    mt.line(&format!(":25:{BANK_CODE}/{}", account.number));
    mt.line(":28C:1/1");
    mt.line(&format!(":60F:{}{}EUR{}", mark(opening), from.format("%y%m%d"), comma(opening)));
    let offsets = entries.iter().map(|e| mt.entry(e)).collect();
    let closing = opening + entries.iter().map(|e| e.amount).sum::<Decimal>();
    mt.line(&format!(":62F:{}{}EUR{}", mark(closing), to.format("%y%m%d"), comma(closing)));
    mt.line("-");
    (mt.bytes, offsets)
}

/// The pending entries as an MT942 interim report.
pub fn mt942(account: &Account, entries: &[Entry], today: NaiveDate) -> Vec<u8> {
    let mut mt = Mt { bytes: Vec::new() };
    mt.line(":20:STARTDISPE");
    mt.line(&format!(":25:{BANK_CODE}/{}", account.number));
    mt.line(":28C:1/1");
    mt.line(":34F:EUR0,");
    mt.line(&format!(":13D:{}0800+0100", today.format("%y%m%d")));
    for entry in entries {
        mt.entry(entry);
    }
    let (debits, credits): (Vec<&Entry>, Vec<&Entry>) = entries.iter().partition(|e| e.amount.is_sign_negative());
    let sum = |list: &[&Entry]| comma(list.iter().map(|e| e.amount).sum());
    mt.line(&format!(":90D:{}EUR{}", debits.len(), sum(&debits)));
    mt.line(&format!(":90C:{}EUR{}", credits.len(), sum(&credits)));
    mt.line("-");
    mt.bytes
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A camt.052 report of `entries` (pending ones when `pending`) in the version `descriptor`;
/// the balances before and after them when given.
pub fn camt052(
    descriptor: &str,
    account: &Account,
    entries: &[Entry],
    balances: Option<(Decimal, Decimal)>,
    today: NaiveDate,
    pending: bool,
) -> Vec<u8> {
    let v08 = descriptor == CAMT_08;
    let status = |code: &str| if v08 { format!("<Sts><Cd>{code}</Cd></Sts>") } else { format!("<Sts>{code}</Sts>") };
    let party =
        |name: &str| if v08 { format!("<Pty><Nm>{}</Nm></Pty>", xml(name)) } else { format!("<Nm>{}</Nm>", xml(name)) };
    let stamp = format!("{}T08:00:00+01:00", today.format("%Y-%m-%d"));
    let id = format!(
        "{}-{}-{}",
        account.number,
        today.format("%Y%m%d"),
        entries.first().map_or("0", |e| e.reference.as_str())
    );
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"{descriptor}\">\n<BkToCstmrAcctRpt>\
         <GrpHdr><MsgId>{id}</MsgId><CreDtTm>{stamp}</CreDtTm></GrpHdr>\n<Rpt><Id>{id}</Id><CreDtTm>{stamp}</CreDtTm>\
         <Acct><Id><IBAN>{}</IBAN></Id><Ccy>EUR</Ccy><Nm>{}</Nm><Svcr><FinInstnId><{bic}>{BIC}</{bic}></FinInstnId></Svcr></Acct>\n",
        account.iban,
        account.name,
        bic = if v08 { "BICFI" } else { "BIC" },
    );
    if let (Some((opening, closing)), Some(first), Some(last)) = (balances, entries.first(), entries.last()) {
        for (kind, amount, day) in
            [("PRCD", opening, first.booked.pred_opt().unwrap_or(first.booked)), ("CLBD", closing, last.booked)]
        {
            let side = if amount.is_sign_negative() { "DBIT" } else { "CRDT" };
            out.push_str(&format!(
                "<Bal><Tp><CdOrPrtry><Cd>{kind}</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{:.2}</Amt>\
                 <CdtDbtInd>{side}</CdtDbtInd><Dt><Dt>{}</Dt></Dt></Bal>\n",
                amount.abs(),
                day.format("%Y-%m-%d")
            ));
        }
    }
    for entry in entries {
        let debit = entry.amount.is_sign_negative();
        let booking = if pending {
            String::new()
        } else {
            format!("<BookgDt><Dt>{}</Dt></BookgDt>", entry.booked.format("%Y-%m-%d"))
        };
        let [domain, family, sub] = entry.code;
        let parties = match &entry.counterparty {
            Some(name) if debit => format!("<RltdPties><Cdtr>{}</Cdtr></RltdPties>", party(name)),
            Some(name) => format!("<RltdPties><Dbtr>{}</Dbtr></RltdPties>", party(name)),
            None => String::new(),
        };
        out.push_str(&format!(
            "<Ntry><Amt Ccy=\"EUR\">{:.2}</Amt><CdtDbtInd>{}</CdtDbtInd>{}{booking}<ValDt><Dt>{}</Dt></ValDt>\
             <AcctSvcrRef>{}</AcctSvcrRef><BkTxCd><Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd>\
             <SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls><Refs>\
             <EndToEndId>NOTPROVIDED</EndToEndId></Refs>{parties}<RmtInf><Ustrd>{}</Ustrd></RmtInf>\
             </TxDtls></NtryDtls><AddtlNtryInf>{}</AddtlNtryInf></Ntry>\n",
            entry.amount.abs(),
            if debit { "DBIT" } else { "CRDT" },
            status(if pending { "PDNG" } else { "BOOK" }),
            entry.value_date.format("%Y-%m-%d"),
            entry.reference,
            xml(&entry.wording),
            xml(entry.booking_text),
        ));
    }
    out.push_str("</Rpt>\n</BkToCstmrAcctRpt>\n</Document>\n");
    out.into_bytes()
}

/// The first day a read without a from-date covers.
pub fn oldest(today: NaiveDate) -> NaiveDate {
    today - Days::new(HISTORY_DAYS - 1)
}
