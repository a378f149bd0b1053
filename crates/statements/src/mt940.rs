//! SWIFT MT940 customer statements and MT942 interim transaction reports.
//!
//! A file holds one or more *messages*. A message is a run of *fields*, each opening on a line
//! `:TAG:value` and going on over the following lines until the next `:TAG:` line, or the line
//! starting with `-` that ends the message. Each message is one statement, reported as it is read:
//! [`Event::Statement`] (the account), then its balances and entries in file order. Only the entry
//! being read is held (a `:61:` waits for the `:86:` lines that may follow it), never the file.
//!
//! What each field becomes:
//! - `:20:`, the message's reference, has no field in the model; a `:20:` in a message that has
//!   already begun starts the next message (some banks write no `-` between messages).
//! - `:21:`, `:28:`, `:28C:`, `:13:`, `:13D:`, `:90D:`, `:90C:` are recognised and not kept (no
//!   field of the model).
//! - `:25:`, the account: an IBAN → [`Account::iban`], else [`Account::number`]; a leading BIC
//!   (`BIC/ACCOUNT`) → [`Account::bic`]; a currency suffix (`…/EUR`, `1291.99.348EUR`) →
//!   [`Account::currency`] until a balance says otherwise.
//! - `:60F:`/`:60M:` → [`BalanceKind::Opening`], whose currency is the account's: the statement is
//!   reported there. `:62F:`/`:62M:` → [`BalanceKind::Closing`], `:64:` → [`BalanceKind::Available`].
//! - `:65:` (forward available) is skipped: read as [`BalanceKind::Available`], a future balance
//!   would pass for today's, and the model has no kind for a forecast.
//! - `:34F:` (MT942 floor limit) gives only its currency, the account's when no `:60x:` does.
//! - `:61:` and the `:86:` after it → an [`Entry`], reported once its `:86:` lines are read.
//! - Any other tag (`:NS:`, `:12:`, `:940:`, …) is skipped with its continuation lines, and does
//!   not end the entry being read.
//!
//! The statement is reported at the opening balance, once `:25:` and the account's currency are
//! known. A message without `:60x:` (an MT942) reports it before its first entry or balance, or at
//! its end; a message with no `:25:` still reports one, with what it knows (a currency, say).
//!
//! # Awkward cases, and the choices made
//!
//! - **Envelopes.** SWIFT blocks (`{1:F01…}{2:…}{4:` before a message, `-}` and `{5:…}` after),
//!   banks' own header lines (ABN AMRO's `ABNANL2A`/`940`, ING's `0000 01INGB…`), control
//!   characters (mBank's SOH/ETX), blank lines and lone `-` lines may stand between messages, and
//!   a message may end with `-`, `-}`, `-XXX` or not at all. Before the first message any text is
//!   a preamble and skipped (sample files open with prose); after it, a line that is none of these
//!   is an error. A file with text but no message at all is an error; an empty file reads as no
//!   statement (an MT942 with nothing to report may be empty).
//! - **Dates** are `YYMMDD`, years 80–99 being 19xx and 00–79 20xx. The entry (booking) date of a
//!   `:61:` is `MMDD`: its year is the one that puts it nearest the value date, so that a value
//!   date of 2023-12-31 booked `0102` is booked 2024-01-02, and a value date of 2024-01-02 booked
//!   `1231` was booked 2023-12-31. An entry date further than half a year from the value date is
//!   an error.
//! - **Debit/credit.** `D` and `RC` (reversal of a credit) take money out: negative amounts; `C`
//!   and `RD` (reversal of a debit) bring it in. A letter after the mark is the funds code (third
//!   letter of the currency): `DR119,35` is a debit of 119.35 with funds code `R`, not a reversal.
//! - **Amounts** use a decimal comma (`1234,56`; `1234,` is 1234). One without it (Knab writes
//!   `C500NTRF`) is whole units, with a warning: the comma is the only way to write a fraction.
//! - **A balance without currency** (`:62M:C020315105000,00`, in a German export): the amount
//!   follows the date at once, so there is no code to misread; it is in the statement's currency
//!   (from `:25:` or the opening balance), with a warning.
//! - **The transaction type** is a letter and three characters (`NTRF`, `FCHK`, `S103`) and
//!   becomes [`Entry::kind`]. SWIFT allows the letters N, F and S; any capital letter is accepted
//!   since files write others (`MCI0`), the code only being informative.
//! - **References.** The customer reference runs to `//` (at most 16 characters when there is no
//!   `//`); the bank's reference follows `//` (16 characters). [`Entry::reference`] is the bank's
//!   reference only: the payer chooses the customer's, and banks repeat it (PostFinance puts the
//!   same one on every entry). `NONREF` and `NOTPROVIDED` mean none; a customer reference naming a
//!   code of a coded `:86:` (Rabobank's `EREF`: "see `/EREF/`") means that code's value, used in
//!   the wording. Even bank references are not unique in every bank's files (Danske Bank: `1234`).
//! - **Texts of a `:61:`.** What follows the references on the `:61:` line (old Rabobank files put
//!   the counterparty's name there) and the next line (supplementary details) are the entry's
//!   wording when its `:86:` says nothing, then the customer reference is (Danske Bank fills it
//!   with text, `DBT.Faktura 123`); they are its counterparty account when they are an IBAN.
//!   Entries carry the account's currency: an MT940 amount is in it.
//! - **`:86:`** (information to the account owner) comes in three forms:
//!   - German (ZKA/DATEV, also Polish and Triodos banks): a 3-digit business transaction code (GVC,
//!     then [`Entry::kind`]) and `?NN` subfields (`>NN` at Triodos). Its lines are concatenated
//!     as they are before being split, since banks cut them anywhere, even inside a `?NN` marker.
//!     `?20`–`?29` and `?60`–`?63` are the remittance information ([`Entry::wording`]; `?00`, the
//!     booking text, when there is none), `?32`–`?33` the counterparty's name ([`Entry::payee`]),
//!     `?31` its account (`?38` when `?31` is missing). `?30` (its bank code) has no field.
//!   - Dutch/SWIFT-coded (ABN AMRO, ING, Rabobank…): `/TRTP/…/IBAN/…/NAME/…/REMI/…`: `REMI` (or
//!     its `USTD` part) is the wording, else `TRTP`, else the whole text; `NAME` (else the name in
//!     `CNTP`) the payee; `IBAN` (else the account in `CNTP`) the counterparty account. Lines are
//!     concatenated as they are: these are machine-written and cut blindly at the line width.
//!   - Free text, everything else: lines become one wording. Where a line fills the 65 columns a
//!     line may have and ends in a non-blank, the bank cut a word there and the next line goes on
//!     without a space; every other line break becomes one space, and blank lines disappear. The
//!     same rule joins the 27-character `?2x` and `?3x` subfields of the German form. Control
//!     characters (ING's tabs) become spaces.
//!
//!   Several `:86:` fields after one `:61:` (old Rabobank files write a field per line) are lines
//!   of one; a `:86:` that follows no `:61:` (a statement-level note, as ING's after `:62F:`) is
//!   skipped.
//! - **MT942** entries are reported `pending: false`: an interim report lists transactions the
//!   bank has booked since the last statement (MT942's own fields give no status), and the next
//!   MT940 books the same transactions again, which the bank reference recognises.
//! - **Lenience where it costs no money:** a line that continues a one-line field (`:25:`,
//!   `:60F:`…) is ignored, as are blank lines in a message; no field is required, no order is
//!   checked beyond what the model needs. What decides an amount, a sign or a date is never
//!   guessed: a bad date, amount, currency or debit/credit mark, or a `:25:` once the statement has
//!   been reported, is an [`Error`] at its line.

use std::io::BufRead;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::limits::MAX_TEXT;
use crate::text::Lines;
use crate::{Account, Balance, BalanceKind, Entry, Error, Event, Format, Result, Warning};

/// The width of an MT940 line: a free-text `:86:` line that fills it was cut by the bank.
const LINE_WIDTH: usize = 65;
/// The width of a German `?2x`/`?3x` subfield.
const SUBFIELD_WIDTH: usize = 27;

/// Reads a whole MT940 or MT942 file, reporting each statement, balance and entry to `sink`.
pub fn parse<R: BufRead>(input: R, sink: &mut dyn FnMut(Event)) -> Result<()> {
    let mut lines = Lines::new(input, Format::Mt940);
    let mut reader = Reader { sink, message: None, messages: 0, first_text: None };
    while let Some(line) = lines.next_line()? {
        reader.line(&line, lines.number())?;
    }
    reader.finish()
}

fn error(line: usize, reason: impl Into<String>) -> Error {
    Error::at_line(Format::Mt940, line, reason)
}

/// The file, line by line: which message we are in, if any.
struct Reader<'s> {
    sink: &'s mut dyn FnMut(Event),
    message: Option<Message>,
    /// Messages begun so far: before the first, stray text is a preamble.
    messages: usize,
    /// The first non-blank line outside any message, for the error of a file without one.
    first_text: Option<usize>,
}

impl Reader<'_> {
    fn line(&mut self, line: &str, number: usize) -> Result<()> {
        // SOH/ETX and the like frame messages in some exports; they are never content.
        let line = line.trim_matches(|c: char| c.is_ascii_control());
        if let Some((tag, value)) = split_tag(line) {
            return self.tag(tag, value, number);
        }
        if let Some(message) = &mut self.message {
            if let Some(after) = end_of_message(line) {
                self.end_message();
                return self.outside(after, number);
            }
            if line.starts_with("{1:") {
                // A new envelope: the bank left the previous message without its `-`.
                self.end_message();
                return self.outside(line, number);
            }
            return message.continuation(line, number);
        }
        self.outside(line, number)
    }

    fn tag(&mut self, tag: &str, value: &str, number: usize) -> Result<()> {
        if tag == "20" && self.message.as_ref().is_some_and(Message::has_begun) {
            self.end_message();
        }
        let message = match &mut self.message {
            Some(message) => message,
            None => {
                self.messages += 1;
                self.message.insert(Message::default())
            }
        };
        message.field(tag, value, number, self.sink)
    }

    /// A line between messages: envelopes, headers and separators are skipped, anything else is
    /// a preamble before the first message and an error after it.
    fn outside(&mut self, line: &str, number: usize) -> Result<()> {
        if line.trim().is_empty() {
            return Ok(());
        }
        self.first_text.get_or_insert(number);
        // `{1:…}{2:…}{4:` may carry the message's first field on the same line.
        if let Some(start) = line.rfind("{4:") {
            let rest = line.get(start + 3..).unwrap_or_default();
            return if split_tag(rest).is_some() { self.line(rest, number) } else { Ok(()) };
        }
        if line.starts_with(['{', '}', '-']) || is_header(line) || self.messages == 0 {
            return Ok(());
        }
        Err(error(number, "unexpected text between messages: expected `:20:`, a `{1:` block or a `-` line"))
    }

    fn end_message(&mut self) {
        if let Some(message) = self.message.take() {
            message.end(self.sink);
        }
    }

    fn finish(mut self) -> Result<()> {
        self.end_message();
        match (self.messages, self.first_text) {
            (0, Some(line)) => Err(error(line, "no MT940/MT942 message in the file: no `:20:` or other `:TAG:` line")),
            _ => Ok(()),
        }
    }
}

/// One message being read.
#[derive(Default)]
struct Message {
    /// A `:20:`, `:25:` or reported statement was met: the next `:20:` opens another message.
    begun: bool,
    account: Account,
    account_seen: bool,
    /// `Event::Statement` was reported: the account can no longer change.
    reported: bool,
    /// The `:61:` read last, waiting for its `:86:`.
    entry: Option<PendingEntry>,
    /// What the field being read does with its continuation lines.
    field: Continuation,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Continuation {
    /// One-line or unknown fields: further lines are ignored.
    #[default]
    Ignored,
    /// `:61:`: its supplementary details.
    Supplementary,
    /// `:86:` after a `:61:`: the entry's information lines.
    Information,
}

impl Message {
    fn has_begun(&self) -> bool {
        self.begun || self.account_seen || self.reported
    }

    fn field(&mut self, tag: &str, value: &str, line: usize, sink: &mut dyn FnMut(Event)) -> Result<()> {
        const KNOWN: [&str; 17] = [
            "20", "21", "25", "28", "28C", "60F", "60M", "61", "62F", "62M", "64", "65", "34F", "13", "13D", "90D",
            "90C",
        ];
        if tag == "86" {
            return self.information(value, line);
        }
        self.field = Continuation::Ignored;
        if !KNOWN.contains(&tag) {
            // Skipped, and not the end of the entry being read: Sparkasse's `:NS:` sits between a
            // `:61:` and its `:86:`.
            return Ok(());
        }
        self.flush(sink);
        match tag {
            "20" => self.begun = true,
            "25" => self.account(value, line)?,
            "34F" => self.floor_limit(value),
            "60F" | "60M" => self.balance(BalanceKind::Opening, value, line, sink)?,
            "62F" | "62M" => self.balance(BalanceKind::Closing, value, line, sink)?,
            "64" => self.balance(BalanceKind::Available, value, line, sink)?,
            "61" => {
                let mut deviations = Vec::new();
                let booked = statement_line(value, &mut deviations).map_err(|reason| error(line, reason))?;
                self.report(sink);
                warn(deviations, line, sink);
                let mut entry = PendingEntry { booked, supplementary: String::new(), information: Vec::new(), size: 0 };
                let extra = entry.booked.extra.clone();
                entry.add_supplementary(&extra, line)?;
                self.entry = Some(entry);
                self.field = Continuation::Supplementary;
            }
            _ => {} // recognised, nothing the model keeps (`:65:`: see the module's documentation)
        }
        Ok(())
    }

    fn account(&mut self, value: &str, line: usize) -> Result<()> {
        if self.reported {
            return Err(error(line, "`:25:` after the statement's balances or entries began: one account per message"));
        }
        if self.account_seen {
            return Err(error(line, "a second `:25:` in one message"));
        }
        let currency = self.account.currency.take();
        self.account = account_identification(value);
        self.account.currency = self.account.currency.take().or(currency);
        self.account_seen = true;
        Ok(())
    }

    /// `:34F:EURD0,00`: the floor limit is in the account's currency, all an MT942 may say of it.
    fn floor_limit(&mut self, value: &str) {
        let currency = value.get(..3).filter(|c| is_currency(c));
        if !self.reported && self.account.currency.is_none() {
            self.account.currency = currency.map(str::to_owned);
        }
    }

    fn balance(&mut self, kind: BalanceKind, value: &str, line: usize, sink: &mut dyn FnMut(Event)) -> Result<()> {
        let mut deviations = Vec::new();
        let (amount, currency, date) = balance(value, &mut deviations).map_err(|reason| error(line, reason))?;
        let currency = match currency {
            Some(currency) => Some(currency),
            None => {
                let known = self.account.currency.clone();
                let assumed = match &known {
                    Some(currency) => format!("the statement's currency, {currency}"),
                    None => "no currency: the statement names none".to_owned(),
                };
                deviations.push(Deviation::new("balance without its currency code", assumed));
                known
            }
        };
        if kind == BalanceKind::Opening && !self.reported && currency.is_some() {
            self.account.currency.clone_from(&currency);
        }
        self.report(sink);
        warn(deviations, line, sink);
        sink(Event::Balance(Balance { kind, amount, currency, date: Some(date) }));
        Ok(())
    }

    fn information(&mut self, value: &str, line: usize) -> Result<()> {
        match &mut self.entry {
            Some(entry) => {
                self.field = Continuation::Information;
                entry.add_information(value, line)
            }
            None => {
                self.field = Continuation::Ignored;
                Ok(())
            }
        }
    }

    fn continuation(&mut self, line: &str, number: usize) -> Result<()> {
        if line.trim().is_empty() {
            return Ok(());
        }
        match (self.field, &mut self.entry) {
            (Continuation::Supplementary, Some(entry)) => entry.add_supplementary(line, number),
            (Continuation::Information, Some(entry)) => entry.add_information(line, number),
            _ => Ok(()),
        }
    }

    /// Reports the statement, once.
    fn report(&mut self, sink: &mut dyn FnMut(Event)) {
        if !self.reported {
            self.reported = true;
            self.begun = true;
            sink(Event::Statement(self.account.clone()));
        }
    }

    /// Reports the entry being read: its `:86:`, if any, is complete.
    fn flush(&mut self, sink: &mut dyn FnMut(Event)) {
        if let Some(entry) = self.entry.take() {
            sink(Event::Entry(entry.into_entry(self.account.currency.clone())));
        }
    }

    fn end(mut self, sink: &mut dyn FnMut(Event)) {
        self.flush(sink);
        if self.account_seen {
            self.report(sink);
        }
    }
}

/// A deviation from the standard met in a field, read anyway: what the field does, what was assumed.
struct Deviation {
    what: String,
    assumed: String,
}

impl Deviation {
    fn new(what: impl Into<String>, assumed: impl Into<String>) -> Deviation {
        Deviation { what: what.into(), assumed: assumed.into() }
    }
}

/// Reports the deviations of the field at `line`.
fn warn(deviations: Vec<Deviation>, line: usize, sink: &mut dyn FnMut(Event)) {
    for Deviation { what, assumed } in deviations {
        sink(Event::Warning(Warning::new(format!("line {line}"), what, assumed)));
    }
}

/// A `:61:` and the text read after it so far.
struct PendingEntry {
    booked: StatementLine,
    supplementary: String,
    information: Vec<String>,
    /// Bytes of text held, bounded by [`MAX_TEXT`].
    size: usize,
}

impl PendingEntry {
    fn hold(&mut self, text: &str, line: usize) -> Result<()> {
        self.size += text.len();
        if self.size > MAX_TEXT {
            return Err(error(
                line,
                format!("the entry's text (`:61:` details and `:86:`) is longer than {MAX_TEXT} bytes"),
            ));
        }
        Ok(())
    }

    fn add_supplementary(&mut self, text: &str, line: usize) -> Result<()> {
        self.hold(text, line)?;
        let text = text.trim();
        if !text.is_empty() {
            if !self.supplementary.is_empty() {
                self.supplementary.push(' ');
            }
            self.supplementary.push_str(text);
        }
        Ok(())
    }

    fn add_information(&mut self, text: &str, line: usize) -> Result<()> {
        self.hold(text, line)?;
        // A tab (ING writes some) is a space to whoever reads the wording.
        self.information.push(text.replace(|c: char| c.is_control(), " "));
        Ok(())
    }

    fn into_entry(self, currency: Option<String>) -> Entry {
        let StatementLine { value_date, entry_date, amount, kind, customer_reference, bank_reference, .. } =
            self.booked;
        let details = information(&self.information, customer_reference.as_deref());
        // Rabobank writes `EREF` (or `PREF`, `MARF`) as the customer reference: "see `/EREF/`".
        let customer_reference = match customer_reference {
            Some(code) if codes().any(|c| c == code) => details.reference,
            reference => reference,
        };
        let supplementary = Some(self.supplementary).filter(|s| !s.is_empty());
        let counterparty_account = details
            .counterparty_account
            .or_else(|| supplementary.as_deref().map(compact).filter(|account| is_iban(account)));
        // The entry's best words: its `:86:`, else the `:61:`'s own text, else the customer
        // reference, which some banks fill with text (Danske Bank's `DBT.Faktura 123`).
        let wording = [Some(details.wording), supplementary, customer_reference.clone()]
            .into_iter()
            .flatten()
            .find(|text| !text.is_empty())
            .unwrap_or_default();
        Entry {
            booking_date: entry_date,
            value_date: Some(value_date),
            amount,
            currency,
            wording,
            payee: details.payee,
            counterparty_account,
            // Payers choose customer references: they repeat, so only the bank's identifies.
            reference: bank_reference,
            pending: false,
            kind: details.code.or(kind),
        }
    }
}

/// `line` as `:TAG:value`, when it opens a field: a tag is 2 or 3 letters or digits (`20`, `28C`,
/// `NS`, `940`), which text that merely starts with a colon rarely is.
fn split_tag(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(':')?;
    let (tag, value) = rest.split_once(':')?;
    let valid = (2..=3).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    valid.then_some((tag, value))
}

/// What follows the `-` of a line that ends a message (`-`, `-}`, `-}{5:…}`, ING's `-XXX`).
/// SWIFT forbids a text line to start with `-`, so such lines are not taken for wording.
fn end_of_message(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('-')?.trim();
    let ends = rest.is_empty() || rest.starts_with('}') || rest.bytes().all(|b| b.is_ascii_uppercase());
    ends.then_some(rest)
}

/// A bank's header line between messages: a BIC, a message type (`940`, `940 00`), ING's
/// `0000 01INGBNL2AXXXX00001`: short, in capitals, digits and spaces.
fn is_header(line: &str) -> bool {
    line.len() <= 35 && line.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ')
}

/// The subfields of a `:61:` statement line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatementLine {
    value_date: NaiveDate,
    /// The entry (booking) date, the value date when the line has none.
    entry_date: NaiveDate,
    /// Signed: negative for `D` and `RC`.
    amount: Decimal,
    /// The transaction type (`NTRF`).
    kind: Option<String>,
    customer_reference: Option<String>,
    bank_reference: Option<String>,
    /// Text after the references on the same line.
    extra: String,
}

/// `YYMMDD[MMDD](D|C|RD|RC)[funds code]amount(N|F|S)xxx[customer reference][//bank reference]`.
fn statement_line(value: &str, deviations: &mut Vec<Deviation>) -> std::result::Result<StatementLine, String> {
    let (value_date, rest) = date(value, "value date")?;
    let (entry_date, rest) = match digits(rest, 4) {
        Some((mmdd, rest)) => {
            let date = entry_date(value_date, mmdd).ok_or_else(|| {
                format!("entry date `{mmdd}` is not a date (MMDD) within half a year of value date {value_date}")
            })?;
            (date, rest)
        }
        None => (value_date, rest),
    };
    let (credit, rest) = debit_credit(rest)?;
    let rest = rest.strip_prefix(|c: char| c.is_ascii_alphabetic()).unwrap_or(rest);
    let end = rest.find(|c: char| !c.is_ascii_digit() && c != ',').unwrap_or(rest.len());
    let (amount, rest) = rest.split_at_checked(end).unwrap_or((rest, ""));
    let amount = self::amount(amount, deviations)?;
    let (kind, rest) = transaction_type(rest)?;
    let (customer, bank, extra) = match rest.split_once("//") {
        Some((customer, after)) => {
            let (bank, extra) = split_chars(after, 16);
            (customer, bank, extra)
        }
        None => {
            let (customer, extra) = split_chars(rest, 16);
            (customer, "", extra)
        }
    };
    Ok(StatementLine {
        value_date,
        entry_date,
        amount: if credit { amount } else { -amount },
        kind: Some(kind).filter(|k| !k.is_empty()),
        customer_reference: reference(customer),
        bank_reference: reference(bank),
        extra: extra.trim().to_owned(),
    })
}

/// `D`, `C`, `RD`, `RC`: whether money comes in.
fn debit_credit(text: &str) -> std::result::Result<(bool, &str), String> {
    for (mark, credit) in [("RD", true), ("RC", false), ("D", false), ("C", true)] {
        if let Some(rest) = text.strip_prefix(mark) {
            return Ok((credit, rest));
        }
    }
    let found: String = text.chars().take(2).collect();
    Err(format!("expected a debit/credit mark (D, C, RD or RC), found `{found}`"))
}

/// A letter and three characters: `NTRF`, `FMSC`, `S103`.
fn transaction_type(text: &str) -> std::result::Result<(String, &str), String> {
    let mut chars = text.chars();
    let letter = chars.next().filter(char::is_ascii_uppercase);
    let code: String = chars.by_ref().take(3).collect();
    match letter {
        Some(letter) if code.chars().count() == 3 => {
            Ok((format!("{letter}{code}").trim_end().to_owned(), chars.as_str()))
        }
        _ => Err(format!("expected the transaction type (N, F or S and three characters), found `{text}`")),
    }
}

/// A reference: blank, `NONREF` or (SEPA's) `NOTPROVIDED` is none.
fn reference(text: &str) -> Option<String> {
    let text = text.trim();
    let none = text.is_empty() || text.eq_ignore_ascii_case("NONREF") || text.eq_ignore_ascii_case("NOTPROVIDED");
    (!none).then(|| text.to_owned())
}

/// `text` cut after `n` characters.
fn split_chars(text: &str, n: usize) -> (&str, &str) {
    match text.char_indices().nth(n) {
        Some((at, _)) => text.split_at_checked(at).unwrap_or((text, "")),
        None => (text, ""),
    }
}

/// A balance, `C240131EUR1234,56`: signed amount, currency (none when the amount follows the date
/// at once: a digit cannot begin a currency code), date.
fn balance(
    value: &str,
    deviations: &mut Vec<Deviation>,
) -> std::result::Result<(Decimal, Option<String>, NaiveDate), String> {
    let (credit, rest) = match value.chars().next() {
        Some('C') => (true, value.get(1..).unwrap_or_default()),
        Some('D') => (false, value.get(1..).unwrap_or_default()),
        _ => return Err(format!("expected a balance's debit/credit mark (D or C), found `{value}`")),
    };
    let (date, rest) = date(rest, "balance date")?;
    let (currency, rest) = match rest.split_at_checked(3) {
        _ if rest.starts_with(|c: char| c.is_ascii_digit()) => (None, rest),
        Some((currency, rest)) if is_currency(currency) => (Some(currency.to_owned()), rest),
        _ => return Err(format!("expected the balance's currency (3 capital letters), found `{rest}`")),
    };
    let amount = amount(rest.trim_end(), deviations)?;
    Ok((if credit { amount } else { -amount }, currency, date))
}

/// An amount with a decimal comma: `1234,56`, `1234,`, `0000001234,5`; one without (`500`, as
/// Knab writes some) is whole units, since the comma is the only way MT940 writes a fraction.
fn amount(text: &str, deviations: &mut Vec<Deviation>) -> std::result::Result<Decimal, String> {
    if text.is_empty() {
        return Err("expected an amount (digits with a decimal comma), found nothing".into());
    }
    if !text.bytes().all(|b| b.is_ascii_digit() || b == b',') {
        return Err(format!("amount `{text}` is not digits with a decimal comma"));
    }
    let (units, cents) = text.split_once(',').unwrap_or_else(|| {
        deviations.push(Deviation::new(
            format!("amount `{text}` without its decimal comma"),
            format!("{text},00: whole units"),
        ));
        (text, "")
    });
    if cents.contains(',') {
        return Err(format!("amount `{text}` has more than one decimal comma"));
    }
    if units.is_empty() {
        return Err(format!("amount `{text}` has no digit before its decimal comma"));
    }
    // Leading zeros pad fixed-width amounts (`000000001000,00`); they are no digits of the value.
    let units = match units.trim_start_matches('0') {
        "" => "0",
        units => units,
    };
    let number = if cents.is_empty() { units.to_owned() } else { format!("{units}.{cents}") };
    if number.len() > 28 {
        return Err(format!("amount `{text}` is too long"));
    }
    Decimal::from_str(&number).map_err(|_| format!("amount `{text}` is not a number"))
}

/// The first `n` characters of `text` when they are all digits, and the rest.
fn digits(text: &str, n: usize) -> Option<(&str, &str)> {
    let (head, rest) = text.split_at_checked(n)?;
    head.bytes().all(|b| b.is_ascii_digit()).then_some((head, rest))
}

/// A `YYMMDD` date at the start of `text`.
fn date<'t>(text: &'t str, what: &str) -> std::result::Result<(NaiveDate, &'t str), String> {
    let Some((yymmdd, rest)) = digits(text, 6) else {
        let found: String = text.chars().take(6).collect();
        return Err(format!("expected the {what} as YYMMDD, found `{found}`"));
    };
    let [yy, mm, dd] = [0, 2, 4].map(|at| yymmdd.get(at..at + 2).and_then(|n| n.parse::<u32>().ok()).unwrap_or(0));
    // Two-digit years: 80–99 are the 1980s and 1990s, the rest this century.
    let year = if yy >= 80 { 1900 + yy } else { 2000 + yy };
    let date = i32::try_from(year).ok().and_then(|year| NaiveDate::from_ymd_opt(year, mm, dd));
    date.map(|date| (date, rest)).ok_or_else(|| format!("{what} `{yymmdd}` is not a date (YYMMDD)"))
}

/// The `MMDD` entry date of a `:61:` whose value date is `value`: in the year that puts it
/// nearest, within half a year.
fn entry_date(value: NaiveDate, mmdd: &str) -> Option<NaiveDate> {
    let month = mmdd.get(..2)?.parse().ok()?;
    let day = mmdd.get(2..)?.parse().ok()?;
    [value.year() - 1, value.year(), value.year() + 1]
        .into_iter()
        .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
        .min_by_key(|date| (*date - value).num_days().abs())
        .filter(|date| (*date - value).num_days().abs() <= 183)
}

/// Reads `:25:`: `IBAN`, `NUMBER`, `BIC/NUMBER`, `BANKCODE/NUMBER`, each maybe with a currency,
/// `…/EUR` or glued (`1291.99.348EUR`). A bank code that is not a BIC stays in the number: a
/// national account number means little without it.
fn account_identification(value: &str) -> Account {
    let mut parts: Vec<&str> = value.split('/').map(str::trim).filter(|part| !part.is_empty()).collect();
    let mut account = Account::default();
    if parts.len() > 1 && parts.last().is_some_and(|part| is_currency(part)) {
        account.currency = parts.pop().map(str::to_owned);
    }
    if parts.len() > 1 && parts.first().is_some_and(|part| is_bic(part)) {
        account.bic = Some(parts.remove(0).to_owned());
    }
    let id = match parts.last() {
        // `BANKCODE/IBAN`: the IBAN holds the bank code.
        Some(last) if parts.len() > 1 && is_iban(&compact(last)) => (*last).to_owned(),
        _ => parts.join("/"),
    };
    let (id, currency) = split_currency_suffix(&id);
    account.currency = account.currency.or(currency);
    let compacted = compact(id);
    if is_iban(&compacted) {
        account.iban = Some(compacted);
    } else if !id.is_empty() {
        account.number = Some(id.to_owned());
    }
    account
}

/// `1291.99.348EUR` → (`1291.99.348`, `EUR`): three capitals after a digit, unless the whole is an
/// IBAN with a valid checksum (some IBANs end so).
fn split_currency_suffix(id: &str) -> (&str, Option<String>) {
    let Some(at) = id.len().checked_sub(3) else { return (id, None) };
    match id.split_at_checked(at) {
        Some((rest, suffix))
            if is_currency(suffix)
                && rest.ends_with(|c: char| c.is_ascii_digit())
                && !(is_iban(&compact(id)) && iban_checksum_ok(&compact(id))) =>
        {
            (rest, Some(suffix.to_owned()))
        }
        _ => (id, None),
    }
}

fn is_currency(text: &str) -> bool {
    text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase())
}

/// A BIC's shape: bank (4 letters), country (2), location (2), maybe branch (3).
fn is_bic(text: &str) -> bool {
    let b = text.as_bytes();
    (b.len() == 8 || b.len() == 11)
        && b.iter().take(6).all(u8::is_ascii_uppercase)
        && b.iter().skip(6).all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// An IBAN's shape: country, check digits, 11 to 30 letters and digits. The checksum is not
/// required: a statement's account is the bank's own word, and sample files use made-up IBANs.
fn is_iban(text: &str) -> bool {
    let b = text.as_bytes();
    (15..=34).contains(&b.len())
        && b.iter().take(2).all(u8::is_ascii_uppercase)
        && b.iter().skip(2).take(2).all(u8::is_ascii_digit)
        && b.iter().skip(4).all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// ISO 13616's mod-97 check of an IBAN-shaped `text`.
fn iban_checksum_ok(text: &str) -> bool {
    let rearranged = text.chars().skip(4).chain(text.chars().take(4));
    let mut remainder = 0u32;
    for c in rearranged {
        let Some(value) = c.to_digit(36) else { return false };
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    remainder == 1
}

/// `text` without whitespace (account numbers are printed in groups).
fn compact(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// What a `:86:` says of an entry.
#[derive(Debug, Default, PartialEq, Eq)]
struct Information {
    wording: String,
    payee: Option<String>,
    counterparty_account: Option<String>,
    /// The German form's business transaction code (GVC).
    code: Option<String>,
    /// The coded form's value of the code that the customer reference names (`EREF`).
    reference: Option<String>,
}

/// Reads the lines of an entry's `:86:`; `customer_reference` may name one of its codes.
fn information(lines: &[String], customer_reference: Option<&str>) -> Information {
    let concatenated = lines.concat();
    german(&concatenated)
        .or_else(|| coded(&concatenated, customer_reference))
        .unwrap_or_else(|| Information { wording: join_wrapped(lines, LINE_WIDTH), ..Information::default() })
}

/// `166?00GUTSCHRIFT?20…?32NAME`: a 3-digit code then `?NN` (or Triodos's `>NN`) subfields.
fn german(text: &str) -> Option<Information> {
    let text = text.trim_start();
    let (code, rest) = digits(text, 3)?;
    let separator = rest.chars().next().filter(|c| *c == '?' || *c == '>')?;
    let mut booking_text = "";
    let mut remittance = Vec::new();
    let mut name = Vec::new();
    let (mut account, mut iban) = (None, None);
    for (number, content) in subfields(rest, separator) {
        match number {
            0 => booking_text = content,
            20..=29 | 60..=63 => remittance.push(content),
            31 => account = Some(compact(content)).filter(|a| !a.is_empty()),
            32 | 33 => name.push(content),
            38 => iban = Some(compact(content)).filter(|a| !a.is_empty()),
            _ => {}
        }
    }
    let mut wording = join_wrapped(&remittance, SUBFIELD_WIDTH);
    if wording.is_empty() {
        wording = booking_text.trim().to_owned();
    }
    Some(Information {
        wording,
        payee: Some(join_wrapped(&name, SUBFIELD_WIDTH)).filter(|n| !n.is_empty()),
        counterparty_account: account.or(iban),
        code: Some(code.to_owned()),
        reference: None,
    })
}

/// `text`'s subfields: each `separator` followed by two digits opens one.
fn subfields(text: &str, separator: char) -> Vec<(u8, &str)> {
    let markers: Vec<(usize, u8)> = text
        .match_indices(separator)
        .filter_map(|(at, _)| {
            let number = text.get(at + 1..at + 3).filter(|n| n.bytes().all(|b| b.is_ascii_digit()))?;
            Some((at, number.parse().ok()?))
        })
        .collect();
    let ends = markers.iter().skip(1).map(|(at, _)| *at).chain([text.len()]);
    markers.iter().zip(ends).map(|((at, number), end)| (*number, text.get(at + 3..end).unwrap_or_default())).collect()
}

/// The codes of the Dutch/SWIFT-coded form: a value runs from `/CODE/` to the next `/CODE/`.
#[rustfmt::skip]
const CODES: [&str; 32] = [
    "TRTP", "IBAN", "BIC", "NAME", "REMI", "EREF", "MARF", "CSID", "ORDP", "BENM", "CNTP", "ISDT", "RTRN", "PREF",
    "ID", "ADDR", "ULTC", "ULTD", "ULTB", "PURP", "USTD", "STRD", "CDTRREF", "CDTRREFTP", "CD", "ISSR", "SVCL",
    "OCMT", "CHGS", "EXCH", "RTYP", "ACCW",
];

fn codes() -> impl Iterator<Item = &'static str> {
    CODES.iter().copied()
}

/// `/TRTP/SEPA OVERBOEKING/IBAN/NL…/BIC/…/NAME/…/REMI/…`, when `text` opens with a code.
fn coded(text: &str, customer_reference: Option<&str>) -> Option<Information> {
    let text = text.trim();
    if !text.starts_with('/') {
        return None;
    }
    let fields = coded_fields(text);
    if fields.first().is_none_or(|(at, _, _)| *at != 0) {
        return None;
    }
    let value = |code: &str| fields.iter().find(|(_, c, v)| *c == code && !v.is_empty()).map(|(_, _, v)| v.to_string());
    // `CNTP/account/BIC/name/city`.
    let counterparty: Vec<String> =
        value("CNTP").map(|v| v.split('/').map(|part| part.trim().to_owned()).collect()).unwrap_or_default();
    let from_counterparty = |index: usize| counterparty.get(index).filter(|part| !part.is_empty()).cloned();
    let wording = value("REMI").or_else(|| value("USTD")).or_else(|| value("TRTP")).unwrap_or_else(|| text.to_owned());
    Some(Information {
        wording,
        payee: value("NAME").or_else(|| from_counterparty(2)),
        counterparty_account: value("IBAN").or_else(|| from_counterparty(0)).map(|a| compact(&a)),
        code: None,
        reference: customer_reference.and_then(value).as_deref().and_then(reference),
    })
}

/// (position, code, value) of each `/CODE/` in `text`, values trimmed of blanks and slashes.
fn coded_fields(text: &str) -> Vec<(usize, &'static str, &str)> {
    let mut starts: Vec<(usize, &'static str)> = Vec::new();
    let mut next = 0;
    for (at, _) in text.match_indices('/') {
        if at < next {
            continue;
        }
        let after = text.get(at + 1..).unwrap_or_default();
        if let Some(code) = codes().find(|code| after.strip_prefix(code).is_some_and(|r| r.starts_with('/'))) {
            starts.push((at, code));
            // The closing slash may open the next code (`/BENM//NAME/`).
            next = at + code.len() + 1;
        }
    }
    let ends = starts.iter().skip(1).map(|(at, _)| *at).chain([text.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|((at, code), end)| {
            let value = text.get(at + code.len() + 2..end.max(at + code.len() + 2)).unwrap_or_default();
            (*at, *code, value.trim_matches(|c: char| c == '/' || c.is_whitespace()))
        })
        .collect()
}

/// Joins lines (or subfields) of at most `width` characters into one text. A piece that fills
/// `width` and ends in a non-blank was cut by the writer, mid-word maybe: the next goes on directly.
/// Any other break is one space; blank pieces vanish.
fn join_wrapped<S: AsRef<str>>(pieces: &[S], width: usize) -> String {
    let mut text = String::new();
    let mut cut = false;
    for piece in pieces {
        let piece = piece.as_ref();
        let continues = cut;
        cut = piece.chars().count() == width && !piece.ends_with(char::is_whitespace);
        let piece = if cut { piece } else { piece.trim_end() };
        if continues {
            text.push_str(piece);
            continue;
        }
        let piece = piece.trim_start();
        if piece.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(piece);
    }
    text
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn statement_line_subfields() {
        let line = statement_line("2401150116RCR1234,5NTRFCUSTREF//BANKREF123").unwrap();
        assert_eq!(
            line,
            StatementLine {
                value_date: date(2024, 1, 15),
                entry_date: date(2024, 1, 16),
                amount: dec!(-1234.5),
                kind: Some("NTRF".into()),
                customer_reference: Some("CUSTREF".into()),
                bank_reference: Some("BANKREF123".into()),
                extra: String::new(),
            }
        );
        // No entry date, `RD` is money in, `NONREF` is no reference, `1234,` is 1234.
        let line = statement_line("240115RD1234,FCHKNONREF").unwrap();
        assert_eq!((line.entry_date, line.amount, line.kind.as_deref()), (date(2024, 1, 15), dec!(1234), Some("FCHK")));
        assert_eq!((line.customer_reference, line.bank_reference), (None, None));
        // Old Rabobank: 16 characters of customer reference, then the counterparty's name.
        let line = statement_line("110527D000000001213,28N0440121470966      W.P. Jansen          ").unwrap();
        assert_eq!(line.customer_reference.as_deref(), Some("0121470966"));
        assert_eq!((line.amount, line.extra.as_str()), (dec!(-1213.28), "W.P. Jansen"));
        // A bank reference longer than 16 characters: the rest is text.
        let line = statement_line("240115C1,S103A//1234567890123456 more").unwrap();
        assert_eq!((line.kind.as_deref(), line.bank_reference.as_deref()), (Some("S103"), Some("1234567890123456")));
        assert_eq!(line.extra, "more");
        // Marks and funds codes: `CR` is a credit with funds code R, `DR` a debit, `RC` a reversed credit.
        for (text, amount) in [("240115CR1,NMSC", dec!(1)), ("240115DR1,NMSC", dec!(-1)), ("240115RC1,NMSC", dec!(-1))]
        {
            assert_eq!(statement_line(text).unwrap().amount, amount, "{text}");
        }
    }

    #[test]
    fn entry_date_year_is_the_one_nearest_the_value_date() {
        assert_eq!(entry_date(date(2023, 12, 31), "0102"), Some(date(2024, 1, 2)));
        assert_eq!(entry_date(date(2024, 1, 2), "1231"), Some(date(2023, 12, 31)));
        assert_eq!(entry_date(date(2024, 6, 30), "0701"), Some(date(2024, 7, 1)));
        assert_eq!(entry_date(date(2024, 3, 1), "0229"), Some(date(2024, 2, 29)));
        assert_eq!(entry_date(date(2023, 3, 1), "0229"), None, "2024-02-29 is too far away");
        assert_eq!(entry_date(date(2024, 1, 2), "1301"), None);
        assert_eq!(entry_date(date(2024, 1, 2), "0230"), None);
    }

    #[test]
    fn two_digit_years() {
        assert_eq!(date_of("991231"), date(1999, 12, 31));
        assert_eq!(date_of("800101"), date(1980, 1, 1));
        assert_eq!(date_of("791231"), date(2079, 12, 31));
        assert_eq!(date_of("000229"), date(2000, 2, 29));
    }

    fn date_of(text: &str) -> NaiveDate {
        super::date(text, "date").unwrap().0
    }

    // The field parsers, for tests that look at values and not at deviations.
    fn statement_line(text: &str) -> std::result::Result<StatementLine, String> {
        super::statement_line(text, &mut Vec::new())
    }

    fn balance(text: &str) -> std::result::Result<(Decimal, Option<String>, NaiveDate), String> {
        super::balance(text, &mut Vec::new())
    }

    fn amount(text: &str) -> std::result::Result<Decimal, String> {
        super::amount(text, &mut Vec::new())
    }

    #[test]
    fn an_amount_without_its_decimal_comma_is_whole_units() {
        let mut deviations = Vec::new();
        assert_eq!(super::amount("500", &mut deviations), Ok(dec!(500)));
        let [deviation] = deviations.as_slice() else { panic!("one deviation") };
        assert_eq!(deviation.what, "amount `500` without its decimal comma");
        assert_eq!(deviation.assumed, "500,00: whole units");
    }

    #[test]
    fn amounts_have_a_decimal_comma() {
        assert_eq!(amount("1234,56"), Ok(dec!(1234.56)));
        assert_eq!(amount("1234,"), Ok(dec!(1234)));
        assert_eq!(amount("000000001000,00"), Ok(dec!(1000.00)));
        assert_eq!(amount("0,"), Ok(dec!(0)));
        assert_eq!(amount(",5"), Err("amount `,5` has no digit before its decimal comma".into()));
        assert_eq!(amount(""), Err("expected an amount (digits with a decimal comma), found nothing".into()));
        assert_eq!(amount("1 000,00"), Err("amount `1 000,00` is not digits with a decimal comma".into()));
        let huge = format!("{},", "9".repeat(40));
        assert_eq!(amount(&huge), Err(format!("amount `{huge}` is too long")));
    }

    #[test]
    fn balances() {
        assert_eq!(balance("C240131EUR1234,56"), Ok((dec!(1234.56), Some("EUR".into()), date(2024, 1, 31))));
        assert_eq!(balance("D240131EUR5, "), Ok((dec!(-5), Some("EUR".into()), date(2024, 1, 31))));
        assert_eq!(balance("C020315105000,00"), Ok((dec!(105000.00), None, date(2002, 3, 15))));
        assert_eq!(
            balance("C240131EUR"),
            Err("expected an amount (digits with a decimal comma), found nothing".into())
        );
        assert!(balance("").is_err());
    }

    #[test]
    fn account_identification_forms() {
        let account = |iban: Option<&str>, number: Option<&str>, bic: Option<&str>, currency: Option<&str>| Account {
            iban: iban.map(Into::into),
            number: number.map(Into::into),
            bic: bic.map(Into::into),
            currency: currency.map(Into::into),
            ..Account::default()
        };
        let cases = [
            ("NL91ABNA0417164300", account(Some("NL91ABNA0417164300"), None, None, None)),
            ("NL91ABNA0417164300EUR", account(Some("NL91ABNA0417164300"), None, None, Some("EUR"))),
            ("DE89 3704 0044 0532 0130 00", account(Some("DE89370400440532013000"), None, None, None)),
            // Seychelles IBANs end in a currency by design; the checksum keeps it.
            ("SC74MCBL01031234567890123456USD", account(Some("SC74MCBL01031234567890123456USD"), None, None, None)),
            ("123456789", account(None, Some("123456789"), None, None)),
            ("1291.99.348EUR", account(None, Some("1291.99.348"), None, Some("EUR"))),
            ("DABADKKK/111111-11111111", account(None, Some("111111-11111111"), Some("DABADKKK"), None)),
            (
                "COBADEFFXXX/DE89370400440532013000",
                account(Some("DE89370400440532013000"), None, Some("COBADEFFXXX"), None),
            ),
            (
                "UBRTHUHB/123456789150ABCDEF002/HUF",
                account(None, Some("123456789150ABCDEF002"), Some("UBRTHUHB"), Some("HUF")),
            ),
            ("20752041/0291593375", account(None, Some("20752041/0291593375"), None, None)),
            ("50880050/DE89370400440532013000", account(Some("DE89370400440532013000"), None, None, None)),
            ("BPHKPLPK/320000546101 ", account(None, Some("320000546101"), Some("BPHKPLPK"), None)),
            ("", account(None, None, None, None)),
        ];
        for (text, expected) in cases {
            assert_eq!(account_identification(text), expected, "{text}");
        }
    }

    #[test]
    fn free_text_lines_are_joined() {
        let full = "x".repeat(64) + "y";
        let lines = [full.as_str(), "z continues", "", "   ", "next line  ", "  after"];
        assert_eq!(join_wrapped(&lines, LINE_WIDTH), format!("{}yz continues next line after", "x".repeat(64)));
        // A full line ending in a blank was padded, not cut.
        let padded = format!("{:<65}", "padded");
        assert_eq!(join_wrapped(&[padded.as_str(), "next"], LINE_WIDTH), "padded next");
        // A line longer than the width was not wrapped by it.
        let long = "w".repeat(70);
        assert_eq!(join_wrapped(&[long.as_str(), "next"], LINE_WIDTH), format!("{long} next"));
    }

    #[test]
    fn german_subfields_split_anywhere() {
        let lines = [
            "166?00GUTSCHRIFT?100399?20EREF+123?2",
            "1SVWZ+Rechnung 4711?30DRESDEFF508?31DE1450880",
            "0500194785000?32KARL?33        KAUFMANN?34000",
        ];
        assert_eq!(
            information(&lines.map(String::from), None),
            Information {
                wording: "EREF+123 SVWZ+Rechnung 4711".into(),
                payee: Some("KARL KAUFMANN".into()),
                counterparty_account: Some("DE14508800500194785000".into()),
                code: Some("166".into()),
                reference: None,
            }
        );
        // No remittance information: the booking text.
        let lines = ["835?00ENTGELTABSCHLUSS?106666?3012345678".to_owned()];
        assert_eq!(information(&lines, None).wording, "ENTGELTABSCHLUSS");
        // Not structured: three digits and no marker.
        let lines = ["999PN5477SCHECK-NR. 0000016703074".to_owned()];
        assert_eq!(information(&lines, None).code, None);
    }

    #[test]
    fn dutch_coded_fields() {
        let text = "/TRTP/SEPA OVERBOEKING/IBAN/NL20INGB0001234567/BIC/INGBNL2A\
                    /NAME/A/B Holding/REMI/Factuur 12/EREF/NOTPROVIDED";
        assert_eq!(
            information(&[text.to_owned()], Some("EREF")),
            Information {
                wording: "Factuur 12".into(),
                // A value runs to the next code: a slash of its own stays.
                payee: Some("A/B Holding".into()),
                counterparty_account: Some("NL20INGB0001234567".into()),
                code: None,
                reference: None,
            }
        );
        let text = "/EREF/E2E-1//CNTP/NL69INGB0123456789/INGBNL2A/J. Jansen/Utrecht/REMI/USTD//Lunch/";
        let coded = information(&[text.to_owned()], Some("EREF"));
        assert_eq!(coded.wording, "Lunch");
        assert_eq!((coded.payee.as_deref(), coded.reference.as_deref()), (Some("J. Jansen"), Some("E2E-1")));
        assert_eq!(coded.counterparty_account.as_deref(), Some("NL69INGB0123456789"));
        // Text that merely starts with a slash is free text.
        assert_eq!(information_of("/ 13.05.2008 Your reference").wording, "/ 13.05.2008 Your reference");
    }

    fn information_of(text: &str) -> Information {
        information(&[text.to_owned()], None)
    }

    #[test]
    fn tag_and_end_lines() {
        assert_eq!(split_tag(":61:2401"), Some(("61", "2401")));
        assert_eq!(split_tag(":28C:1/1"), Some(("28C", "1/1")));
        assert_eq!(split_tag(":NS:22Name"), Some(("NS", "22Name")));
        assert_eq!(split_tag(":86:"), Some(("86", "")));
        assert_eq!(split_tag(":Z RACH.: 561"), None);
        assert_eq!(split_tag("20:44:45"), None);
        assert_eq!(split_tag(":2:x"), None);
        assert_eq!(end_of_message("-"), Some(""));
        assert_eq!(end_of_message("-}{5:{CHK:1}}"), Some("}{5:{CHK:1}}"));
        assert_eq!(end_of_message("-XXX"), Some("XXX"));
        assert_eq!(end_of_message("- 200 EUR"), None);
        assert_eq!(end_of_message("-Rest"), None);
    }

    #[test]
    fn an_endless_information_field_is_refused() {
        let mut text = String::from(":20:X\n:25:1\n:61:240102C5,NTRFNONREF\n:86:start\n");
        let line = "x".repeat(60) + "\n";
        text.push_str(&line.repeat(MAX_TEXT / 60 + 1));
        let error = parse(text.as_bytes(), &mut |_| {}).unwrap_err();
        assert_eq!(
            error.reason,
            format!("the entry's text (`:61:` details and `:86:`) is longer than {MAX_TEXT} bytes")
        );
        // Lines of a skipped field are not held: any number is fine.
        let mut text = String::from(":20:X\n:25:1\n:NS:start\n");
        text.push_str(&line.repeat(MAX_TEXT / 60 + 1));
        assert!(parse(text.as_bytes(), &mut |_| {}).is_ok());
    }
}
