//! QIF (Quicken Interchange Format) statements, as Quicken, Microsoft Money and many banks export
//! them.
//!
//! A QIF file is lines whose first character says what the rest is. A `!` line opens a section
//! (`!Type:Bank`, `!Account`, …); within it, records are field lines (`D` date, `T` amount, …)
//! ended by a `^` line. Each transaction section — `!Type:Bank`, `!Type:CCard` (a card account),
//! `!Type:Cash`, `!Type:Oth A`, `!Type:Oth L` — opens an [`Event::Statement`], and each of its
//! records is an [`Event::Entry`]. The format has no account identity, no currency and no
//! balances: an account is at most a name.
//!
//! Awkward cases, and what is done with them:
//!
//! - **Account names.** An `!Account` record (`N` name, `T` type, `D` description) names the
//!   section that follows it. Between `!Option:AutoSwitch` and `!Clear:AutoSwitch` the `!Account`
//!   records are Quicken's list of every account, naming no section: the list's end forgets them.
//!   Writers that never clear the option still put an `!Account` record before each section, so
//!   the last `!Account` record before a `!Type:` header names it, and only it.
//! - **Other sections** (`!Type:Cat`, `!Type:Class`, `!Type:Memorized`, `!Type:Invst`,
//!   `!Type:Security`, `!Type:Prices`, unknown headers, …) are categories, classes, templates or
//!   investment trades, not operations on a bank account: their records are skipped unread.
//! - **Dates** come as Quicken writes them, `12/31'99` or `1/ 2' 5` (spaces pad, the apostrophe is
//!   only a separator), or `12/31/1999`, `31.12.1999`, `1999-12-31`. Two-digit years are 2000–2069
//!   for `00`–`69` and 1970–1999 for `70`–`99` (the apostrophe strictly means 20xx, but no
//!   statement is dated 2070 or later). `.` dates are day first, ISO dates year first. `/` and `-`
//!   dates may be month first (Quicken is American) or day first (European banks): one writer
//!   writes one order, so the order is decided per file. A part above 12 proves it (`13/02` is day
//!   first, `02/13` month first), and a date contradicting a proven order is an error. Entries
//!   whose date reads both ways (`05/03`) are held back (not emitted) until a date proves the
//!   order, and so are the entries and statements after them, to keep the file's order. When no
//!   date has proven it after [`HOLD_ENTRIES`] of these or [`HOLD_BYTES`] of text (or at the end
//!   of the file), month first is assumed. The limit: a day-first file whose days are all 12 or
//!   below for that long is read month first, and if a later date proves day first after that,
//!   the file is refused rather than half misread.
//! - **Amounts** may group thousands (`1,234.56`) or be written the European way (`1.234,56`,
//!   `-12,30`). When both `,` and `.` appear the last one is the decimal separator; a separator
//!   appearing twice groups thousands; a lone separator followed by exactly three digits is read
//!   the American way (`1,234` is 1234, `1.234` is 1.234); any other lone separator is the decimal
//!   one. `T` is the amount, `U` (Quicken's wider copy of it) only stands in when `T` is missing.
//! - **Payee and memo**: `P` is the payee; the wording is the payee and the `M` memo joined by a
//!   space, or whichever of them there is. `N` (a check number, or Quicken's `ATM`, `DEP`, …) is
//!   the entry's reference.
//! - **Cleared status** (`C`: blank, `*`/`c` cleared, `X`/`R` reconciled) says whether the user
//!   matched the entry with a bank statement, not whether the bank booked it: every entry is
//!   booked (`pending` false), whatever its status.
//! - **Categories and splits** (`L`, and `S`/`E`/`$`/`%` per split) are the user's bookkeeping,
//!   not the bank's: the record's `T` is the entry's amount and splits make no entries. Split
//!   amounts that do not add up to `T` are therefore no error — they are not even read.
//! - Unknown field letters (`A` address lines, `F`, `K`, …) are ignored; a last record not ended
//!   by `^` (at the end of the file or before a header) is read as if it were.
//!
//! Errors, at the line concerned: a field before any header, a transaction record without a date
//! or an amount, a date or an amount that does not parse.

use std::io::BufRead;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::text::Lines;
use crate::{Account, Entry, Error, Event, Format, Result};

/// The most entries (and statements) held back while the day/month order of `/` dates is unknown.
pub const HOLD_ENTRIES: usize = 1000;
/// The most text (wordings, payees, references) held back while the day/month order is unknown.
pub const HOLD_BYTES: usize = 1 << 20;

/// Reads a QIF file, reporting each event to `sink` as it is read (see the module's doc).
pub fn parse<R: BufRead>(input: R, sink: &mut dyn FnMut(Event)) -> Result<()> {
    let mut lines = Lines::new(input, Format::Qif);
    let mut parser = Parser::new(sink);
    while let Some(line) = lines.next_line()? {
        parser.line(&line, lines.number())?;
    }
    parser.finish(lines.number())
}

/// What the records of the current section are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Before any header.
    None,
    /// Operations on an account (`!Type:Bank`, …).
    Transactions,
    /// `!Account` records.
    Accounts,
    /// Anything else, skipped.
    Other,
}

/// The fields of the transaction record being read.
#[derive(Debug, Default)]
struct Transaction {
    /// A field was read since the last `^`.
    started: bool,
    date: Option<ReadDate>,
    amount: Option<Decimal>,
    /// `U`, used when there is no `T`.
    other_amount: Option<Decimal>,
    payee: Option<String>,
    memo: Option<String>,
    number: Option<String>,
}

/// The fields of the `!Account` record being read.
#[derive(Debug, Default)]
struct AccountRecord {
    started: bool,
    name: Option<String>,
    card: bool,
}

struct Parser<'s> {
    section: Section,
    transaction: Transaction,
    account: AccountRecord,
    /// What the last `!Account` record said, for the next `!Type:` header.
    next_account: Option<Account>,
    dates: DateOrder,
    output: Output<'s>,
}

impl<'s> Parser<'s> {
    fn new(sink: &'s mut dyn FnMut(Event)) -> Parser<'s> {
        Parser {
            section: Section::None,
            transaction: Transaction::default(),
            account: AccountRecord::default(),
            next_account: None,
            dates: DateOrder::Unknown,
            output: Output { sink, held: Vec::new(), held_bytes: 0 },
        }
    }

    fn line(&mut self, line: &str, number: usize) -> Result<()> {
        let line = line.trim_start();
        let mut chars = line.chars();
        let Some(code) = chars.next() else { return Ok(()) };
        let value = chars.as_str().trim();
        match code {
            '!' => {
                self.end_record(number)?;
                self.header(value);
                Ok(())
            }
            '^' => self.end_record(number),
            _ => match self.section {
                Section::None => {
                    Err(Error::at_line(Format::Qif, number, "a field before any !Type: or !Account header"))
                }
                Section::Transactions => self.transaction_field(code, value, number),
                Section::Accounts => {
                    self.account_field(code, value);
                    Ok(())
                }
                Section::Other => Ok(()),
            },
        }
    }

    /// A header line, without its `!`.
    fn header(&mut self, header: &str) {
        let header = header.trim().to_ascii_lowercase();
        if let Some(kind) = header.strip_prefix("type:") {
            let named = self.next_account.take().unwrap_or_default();
            let kind = kind.trim();
            if ["bank", "ccard", "cash", "oth a", "oth l"].contains(&kind) {
                self.section = Section::Transactions;
                let card = named.card || kind == "ccard";
                self.output.emit(Event::Statement(Account { card, ..named }), &mut self.dates);
            } else {
                self.section = Section::Other;
            }
        } else if header == "account" {
            self.section = Section::Accounts;
        } else if header == "clear:autoswitch" {
            // The end of the account list: its last account names nothing.
            self.next_account = None;
            self.section = Section::Other;
        } else if !header.starts_with("option:") && !header.starts_with("clear:") {
            self.section = Section::Other;
        }
        // `!Option:AutoSwitch` and other options change no section.
    }

    fn account_field(&mut self, code: char, value: &str) {
        self.account.started = true;
        match code {
            'N' => self.account.name = non_empty(value),
            'T' => self.account.card = value.eq_ignore_ascii_case("ccard"),
            _ => {}
        }
    }

    fn transaction_field(&mut self, code: char, value: &str, number: usize) -> Result<()> {
        let record = &mut self.transaction;
        record.started = true;
        let error = |what: &str| Error::at_line(Format::Qif, number, format!("{what} '{value}' does not parse"));
        match code {
            'D' => {
                let date = date(value).ok_or_else(|| error("date"))?;
                record.date = Some(self.dates.read(date, value, number)?);
                if self.dates.known() {
                    self.output.release(&self.dates);
                }
            }
            'T' => record.amount = Some(amount(value).ok_or_else(|| error("amount"))?),
            'U' => record.other_amount = Some(amount(value).ok_or_else(|| error("amount"))?),
            'P' => record.payee = non_empty(value),
            'M' => record.memo = non_empty(value),
            'N' => record.number = non_empty(value),
            _ => {}
        }
        Ok(())
    }

    /// The end of a record: `^`, a header, or the end of the file.
    fn end_record(&mut self, number: usize) -> Result<()> {
        match self.section {
            Section::Transactions => {
                let record = std::mem::take(&mut self.transaction);
                if record.started {
                    self.entry(record, number)?;
                }
            }
            Section::Accounts => {
                let record = std::mem::take(&mut self.account);
                if record.started {
                    self.next_account = Some(Account { name: record.name, card: record.card, ..Account::default() });
                }
            }
            Section::None | Section::Other => {}
        }
        Ok(())
    }

    fn entry(&mut self, record: Transaction, number: usize) -> Result<()> {
        let missing = |what: &str| Error::at_line(Format::Qif, number, format!("a record without {what}"));
        let date = record.date.ok_or_else(|| missing("a date (D)"))?;
        let amount = record.amount.or(record.other_amount).ok_or_else(|| missing("an amount (T)"))?;
        let wording = match (&record.payee, &record.memo) {
            (Some(payee), Some(memo)) => format!("{payee} {memo}"),
            (Some(text), None) | (None, Some(text)) => text.clone(),
            (None, None) => String::new(),
        };
        let entry = Entry { amount, wording, payee: record.payee, reference: record.number, ..Entry::default() };
        self.output.entry(entry, date, &mut self.dates);
        Ok(())
    }

    fn finish(mut self, number: usize) -> Result<()> {
        self.end_record(number)?;
        self.dates.assume_month_first();
        self.output.release(&self.dates);
        Ok(())
    }
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// The events not yet given to the sink, because an entry before them has a date whose order is
/// unknown yet.
struct Output<'s> {
    sink: &'s mut dyn FnMut(Event),
    held: Vec<Held>,
    held_bytes: usize,
}

enum Held {
    Event(Event),
    /// An entry whose date is `first/second/year`, in an order to be decided.
    Entry(Entry, SlashDate),
}

impl Output<'_> {
    /// Gives `event` to the sink, or holds it behind the events already held.
    fn emit(&mut self, event: Event, order: &mut DateOrder) {
        if self.held.is_empty() {
            (self.sink)(event);
        } else {
            self.hold(Held::Event(event), order);
        }
    }

    fn entry(&mut self, mut entry: Entry, date: ReadDate, order: &mut DateOrder) {
        let date = match date {
            ReadDate::Known(date) => date,
            ReadDate::Either(date) => match order.resolve(date) {
                Some(date) => date,
                None => return self.hold(Held::Entry(entry, date), order),
            },
        };
        entry.booking_date = date;
        self.emit(Event::Entry(entry), order);
    }

    /// Holds `held`, unless that makes too much: then the order is assumed, and all is released.
    fn hold(&mut self, held: Held, order: &mut DateOrder) {
        let text = |entry: &Entry| {
            entry.wording.len()
                + entry.payee.as_ref().map_or(0, String::len)
                + entry.reference.as_ref().map_or(0, String::len)
        };
        self.held_bytes += match &held {
            Held::Entry(entry, _) | Held::Event(Event::Entry(entry)) => text(entry),
            Held::Event(Event::Statement(account)) => account.name.as_ref().map_or(0, String::len),
            Held::Event(Event::Warning(warning)) => warning.what.len() + warning.assumed.len(),
            Held::Event(Event::Balance(_)) => 0,
        };
        self.held.push(held);
        if self.held.len() > HOLD_ENTRIES || self.held_bytes > HOLD_BYTES {
            order.assume_month_first();
            self.release(order);
        }
    }

    /// Gives the held events to the sink, now that `order` is known.
    fn release(&mut self, order: &DateOrder) {
        self.held_bytes = 0;
        for held in std::mem::take(&mut self.held) {
            match held {
                Held::Event(event) => (self.sink)(event),
                Held::Entry(mut entry, date) => {
                    // Both readings of a held date are valid dates: `resolve` cannot fail here.
                    entry.booking_date = order.resolve(date).unwrap_or_default();
                    (self.sink)(Event::Entry(entry));
                }
            }
        }
    }
}

/// A date as written, before the file's day/month order is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateText {
    /// `.` and ISO dates, whose order is fixed.
    Fixed(NaiveDate),
    /// A `/`, `'` or `-` date: month first or day first.
    Slash(SlashDate),
}

/// `first/second/year`, with a four-digit year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlashDate {
    first: u32,
    second: u32,
    year: i32,
}

impl SlashDate {
    fn month_first(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.first, self.second)
    }

    fn day_first(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.second, self.first)
    }
}

/// A record's date, once its line has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadDate {
    Known(NaiveDate),
    /// Valid both ways, the order still unknown.
    Either(SlashDate),
}

/// What the file's `/` dates have shown of their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateOrder {
    Unknown,
    /// Proven by the date at this line.
    DayFirst(usize),
    /// Proven by the date at this line, or (`None`) assumed.
    MonthFirst(Option<usize>),
}

impl DateOrder {
    fn known(self) -> bool {
        self != DateOrder::Unknown
    }

    fn assume_month_first(&mut self) {
        if *self == DateOrder::Unknown {
            *self = DateOrder::MonthFirst(None);
        }
    }

    fn resolve(self, date: SlashDate) -> Option<NaiveDate> {
        match self {
            DateOrder::Unknown => None,
            DateOrder::DayFirst(_) => date.day_first(),
            DateOrder::MonthFirst(_) => date.month_first(),
        }
    }

    /// Reads `date` (written `text`, at line `number`), learning the order from it if it can.
    fn read(&mut self, date: DateText, text: &str, number: usize) -> Result<ReadDate> {
        let date = match date {
            DateText::Fixed(date) => return Ok(ReadDate::Known(date)),
            DateText::Slash(date) => date,
        };
        let contradiction = |earlier: String| {
            Error::at_line(Format::Qif, number, format!("date '{text}' is not in the day/month order of {earlier}"))
        };
        match (date.month_first(), date.day_first()) {
            (None, None) => Err(Error::at_line(Format::Qif, number, format!("date '{text}' is no calendar date"))),
            (Some(a), Some(b)) if a == b => Ok(ReadDate::Known(a)),
            (Some(_), Some(_)) => Ok(self.resolve(date).map_or(ReadDate::Either(date), ReadDate::Known)),
            (Some(date), None) => match *self {
                DateOrder::DayFirst(line) => Err(contradiction(format!("line {line}'s date (day first)"))),
                DateOrder::MonthFirst(_) => Ok(ReadDate::Known(date)),
                DateOrder::Unknown => {
                    *self = DateOrder::MonthFirst(Some(number));
                    Ok(ReadDate::Known(date))
                }
            },
            (None, Some(date)) => match *self {
                DateOrder::MonthFirst(Some(line)) => Err(contradiction(format!("line {line}'s date (month first)"))),
                DateOrder::MonthFirst(None) => Err(contradiction(
                    "the dates before it, read month first for want of an earlier date above 12".to_owned(),
                )),
                DateOrder::DayFirst(_) => Ok(ReadDate::Known(date)),
                DateOrder::Unknown => {
                    *self = DateOrder::DayFirst(number);
                    Ok(ReadDate::Known(date))
                }
            },
        }
    }
}

/// A `D` field: `12/31'99`, `1/ 2' 5`, `12/31/1999`, `31.12.99`, `1999-12-31`, …
fn date(text: &str) -> Option<DateText> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut parts = text.split(['/', '\'', '.', '-']);
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || ![a, b, c].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let number = |part: &str| part.parse::<u32>().ok();
    if a.len() == 4 {
        let year = i32::try_from(number(a)?).ok()?;
        return NaiveDate::from_ymd_opt(year, number(b)?, number(c)?).map(DateText::Fixed);
    }
    let (first, second, year) = (number(a)?, number(b)?, year(c)?);
    if a.len() > 2 || b.len() > 2 {
        return None;
    }
    let first_separator = text.as_bytes().get(a.len()).copied();
    if first_separator == Some(b'.') {
        NaiveDate::from_ymd_opt(year, second, first).map(DateText::Fixed)
    } else {
        Some(DateText::Slash(SlashDate { first, second, year }))
    }
}

/// A year of two digits (`00`–`69` are 2000–2069, `70`–`99` 1970–1999) or four.
fn year(text: &str) -> Option<i32> {
    let value: i32 = text.parse().ok()?;
    match text.len() {
        1 | 2 if value < 70 => Some(2000 + value),
        1 | 2 => Some(1900 + value),
        4 => Some(value),
        _ => None,
    }
}

/// A `T` or `U` field: `-1,234.56`, `1.234,56`, `-12,30`, `1 234,56`, `+5`.
fn amount(text: &str) -> Option<Decimal> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let decimal = decimal_separator(digits);
    let mut plain = String::with_capacity(digits.len());
    for c in digits.chars() {
        match c {
            '0'..='9' => plain.push(c),
            _ if Some(c) == decimal => plain.push('.'),
            ',' | '.' | '\'' => {}
            _ => return None,
        }
    }
    if !plain.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = Decimal::from_str(&plain).ok()?;
    Some(if negative { -value } else { value })
}

/// The decimal separator of an amount's digits (see the module's doc), `None` when it has none.
fn decimal_separator(digits: &str) -> Option<char> {
    let last = digits.rfind([',', '.'])?;
    let separator = if digits[last..].starts_with(',') { ',' } else { '.' };
    let other = if separator == ',' { '.' } else { ',' };
    if digits.contains(other) {
        return Some(separator);
    }
    if digits.matches(separator).count() > 1 {
        return None;
    }
    let decimals = digits.len() - last - 1;
    if separator == ',' && decimals == 3 { None } else { Some(separator) }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    fn slash(first: u32, second: u32, year: i32) -> Option<DateText> {
        Some(DateText::Slash(SlashDate { first, second, year }))
    }

    #[test]
    fn dates_as_quicken_and_banks_write_them() {
        assert_eq!(date("12/31'99"), slash(12, 31, 1999));
        assert_eq!(date("1/ 2' 5"), slash(1, 2, 2005));
        assert_eq!(date(" 1/ 2/ 5"), slash(1, 2, 2005));
        assert_eq!(date("12/31/1999"), slash(12, 31, 1999));
        assert_eq!(date("31/12/69"), slash(31, 12, 2069));
        assert_eq!(date("31/12/70"), slash(31, 12, 1970));
        assert_eq!(date("1/2'2005"), slash(1, 2, 2005));
        assert_eq!(date("12-31-2023"), slash(12, 31, 2023));
        assert_eq!(date("31.12.2023"), Some(DateText::Fixed(ymd(2023, 12, 31))));
        assert_eq!(date("01.02.24"), Some(DateText::Fixed(ymd(2024, 2, 1))));
        assert_eq!(date("2023-12-31"), Some(DateText::Fixed(ymd(2023, 12, 31))));
        for bad in ["", "12/31", "1/2/3/4", "12/31/199", "31.02.2024", "2024-13-01", "a/b/c", "123/1/2024", "1//2024"] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_day_month_order_is_learnt_from_dates_above_12() {
        let mut order = DateOrder::Unknown;
        let either = SlashDate { first: 5, second: 3, year: 2024 };
        assert_eq!(order.read(DateText::Slash(either), "05/03/2024", 1).unwrap(), ReadDate::Either(either));
        let same = SlashDate { first: 4, second: 4, year: 2024 };
        assert_eq!(order.read(DateText::Slash(same), "04/04/2024", 2).unwrap(), ReadDate::Known(ymd(2024, 4, 4)));
        assert_eq!(order, DateOrder::Unknown);
        let proof = SlashDate { first: 15, second: 3, year: 2024 };
        assert_eq!(order.read(DateText::Slash(proof), "15/03/2024", 3).unwrap(), ReadDate::Known(ymd(2024, 3, 15)));
        assert_eq!(order, DateOrder::DayFirst(3));
        assert_eq!(order.read(DateText::Slash(either), "05/03/2024", 4).unwrap(), ReadDate::Known(ymd(2024, 3, 5)));
        let against = SlashDate { first: 3, second: 15, year: 2024 };
        let err = order.read(DateText::Slash(against), "03/15/2024", 5).unwrap_err();
        assert_eq!(err.location, "line 5");
        assert_eq!(err.reason, "date '03/15/2024' is not in the day/month order of line 3's date (day first)");
        let never = SlashDate { first: 2, second: 30, year: 2024 };
        assert!(order.read(DateText::Slash(never), "02/30/2024", 6).is_err());
    }

    #[test]
    fn amounts_with_either_decimal_separator() {
        assert_eq!(amount("-1,234.56"), Some(dec!(-1234.56)));
        assert_eq!(amount("1.234,56"), Some(dec!(1234.56)));
        assert_eq!(amount("-12,30"), Some(dec!(-12.30)));
        assert_eq!(amount("12.3"), Some(dec!(12.3)));
        assert_eq!(amount("1,234,567"), Some(dec!(1234567)));
        assert_eq!(amount("1.234.567"), Some(dec!(1234567)));
        assert_eq!(amount("1,234"), Some(dec!(1234)), "a lone comma before three digits groups thousands");
        assert_eq!(amount("1.234"), Some(dec!(1.234)), "a lone point before three digits is decimal");
        assert_eq!(amount("1 234,56"), Some(dec!(1234.56)));
        assert_eq!(amount("+5"), Some(dec!(5)));
        assert_eq!(amount("- 5.00"), Some(dec!(-5.00)));
        for bad in ["", "-", "abc", "12.34.56,7,8", "1e5", "$12", "1_000", ".", "--5"] {
            assert_eq!(amount(bad), None, "{bad}");
        }
    }
}
