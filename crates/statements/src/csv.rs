//! CSV statements: the export every bank has, each in its own shape.
//!
//! A [`Mapping`] says which column holds what and how values are written. Given none, [`parse`]
//! reads the first [`HEAD_LINES`] lines and [`guess`]es one from them:
//!
//! - **Delimiter and header.** Banks put lines before the header (`Account: …`, `Période du …`),
//!   so for each delimiter (`;` `,` tab `|`) the first of the first [`HEADER_LINES`] rows that
//!   names a date column and an amount column (or a debit and a credit column) is the header;
//!   when several delimiters find one, the one whose following rows have as many fields as the
//!   header, most often, wins (then the one with more columns, then the order above). The lines
//!   before it are skipped.
//! - **Columns**, by their names in English, French and German, compared without case, accents or
//!   punctuation, a name matching when it is one of the known names or begins with one followed by
//!   another word (`Betrag (EUR)`, `Débit Euros`). Value dates (`Valuta`, `Date de valeur`,
//!   `Wertstellung`) are looked for before dates, so that `Date de valeur` is not taken for the
//!   date. Among several candidates the more specific name wins (`Post Date` before `Date`,
//!   `Completed Date` before `Started Date`), then the leftmost column. The wording joins every
//!   description-like column (`Libellé`, `Buchungstext`, `Verwendungszweck`, `Memo`, …) and the
//!   payee column, left to right. A single signed amount column is preferred to debit and credit
//!   columns. A column mixing both (`Soll/Haben`, holding `S` or `H`) is not understood.
//! - **Decimal separator**, from the amounts of the sample rows: `1.234,56`, `-12,30` say comma,
//!   `1,234.56`, `12.3` point; `1,234` says nothing. Without a word from the amounts, a `;`-separated
//!   file is taken to use a decimal comma (that is why such files use `;`), any other a point.
//! - **Date format**: the first of [`DATE_FORMATS`] that reads every sample date (or, when none
//!   does, the most of them). Day-first formats come before month-first ones, so a file whose
//!   sample days are all 12 or below is read day first — a wrong guess for a short American file.
//!
//! The guessed mapping has index columns and is an ordinary [`Mapping`]: a caller can show it and
//! let the user correct it. Only the head is buffered; the rest of the file streams through the
//! `csv` crate, fed decoded lines from [`Lines`] (so UTF-8 or Windows-1252 per line, BOM and CR
//! stripped, no line longer than [`MAX_LINE`]), which keeps quoted fields spanning lines whole. A
//! record (several lines when a quote spans them) longer than [`MAX_LINE`] is refused: an
//! unbalanced quote would otherwise read the whole file as one field.
//!
//! CSV says nothing of the account: one [`Event::Statement`] opens the file, before its first
//! entry (with the currency of that entry, when a currency column gives one). Rows whose date and
//! amount cells are both empty (blank rows, continuation lines) are skipped. Amounts may carry
//! a currency (`€`, `$`, `£`, `¥`, an ISO code before or after), group thousands with the other
//! separator, spaces (also U+00A0, U+202F, U+2009) or `'`, and be negative by a sign before or
//! after (`-12,30`, `12,30-`) or parentheses (`(12.30)`). Errors: a row whose date or amount does
//! not read, at the record's first line, naming the column and the value; a named column absent
//! from the header; no header found when guessing, saying what was looked for.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::limits::MAX_LINE;
use crate::text::Lines;
use crate::{Account, Entry, Error, Event, Format, Result};

/// How many lines [`parse`] reads to guess a mapping.
pub const HEAD_LINES: usize = 50;
/// How far down the header may be (after the bank's preamble).
pub const HEADER_LINES: usize = 20;
/// The date formats [`guess`] tries, in order of preference.
#[rustfmt::skip]
pub const DATE_FORMATS: [&str; 12] = [
    "%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y", "%m-%d-%Y", "%d/%m/%y", "%m/%d/%y", "%d.%m.%y",
    "%d-%m-%y", "%Y/%m/%d", "%Y.%m.%d",
];
/// The delimiters [`guess`] tries, in order of preference.
const DELIMITERS: [u8; 4] = [b';', b',', b'\t', b'|'];
/// The buffer of the `csv` reader.
const BUFFER: usize = 8 * 1024;
/// Separators grouping thousands whatever the decimal separator: spaces (plain, no-break, narrow
/// no-break, thin) and the Swiss apostrophe.
const GROUPING: [char; 5] = [' ', '\u{A0}', '\u{202F}', '\u{2009}', '\''];

/// A column of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// By position, counting from 0 (as error messages do).
    Index(usize),
    /// By header name, compared after trimming and without case; needs [`Mapping::has_header`].
    Name(String),
}

/// Where a row's amount is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountColumns {
    /// One signed amount.
    Amount(Column),
    /// Money out in one column, money in in another, one of them (usually) empty. Debits are made
    /// negative whatever their printed sign; credits keep theirs. A row with both adds them up.
    DebitCredit { debit: Column, credit: Column },
}

/// How a CSV file's columns map to entries, and how its values are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The field delimiter (`b';'`, `b','`, `b'\t'`, …); fields may be quoted with `"`.
    pub delimiter: u8,
    /// Amounts are written `1.234,56` rather than `1,234.56`.
    pub decimal_comma: bool,
    /// The dates' format, in chrono's strftime syntax (`%d/%m/%Y`).
    pub date_format: String,
    /// Lines before the header (or before the first row, without a header), skipped unread.
    pub skip_lines: usize,
    /// The first record (after `skip_lines`) names the columns rather than being an entry.
    pub has_header: bool,
    /// The booking date.
    pub date: Column,
    /// The value date, when there is one.
    pub value_date: Option<Column>,
    pub amount: AmountColumns,
    /// The columns making the wording, joined with a space (empty cells left out).
    pub wording: Vec<Column>,
    /// The other party.
    pub payee: Option<Column>,
    /// The bank's reference of the entry (or the check number).
    pub reference: Option<Column>,
    /// The entry's currency (ISO 4217, or `€`/`£`).
    pub currency: Option<Column>,
}

/// Reads a CSV file by `mapping` (guessed from its first lines when `None`), reporting each
/// event to `sink` as it is read (see the module's doc).
pub fn parse<R: BufRead>(input: R, mapping: Option<&Mapping>, sink: &mut dyn FnMut(Event)) -> Result<()> {
    let mut lines = Lines::new(input, Format::Csv);
    let guessed;
    let (mapping, head) = match mapping {
        Some(mapping) => (mapping, Vec::new()),
        None => {
            let head = read_head(&mut lines)?;
            guessed = guess(&head)?;
            (&guessed, head)
        }
    };
    let source = Source {
        head: head.into_iter(),
        lines,
        skip: mapping.skip_lines,
        number: 0,
        line: Vec::new(),
        at: 0,
        fed: 0,
        starts: VecDeque::new(),
        record_start: Cell::new(0),
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(BUFFER)
        .from_reader(source);
    let mut record = ::csv::StringRecord::new();
    let mut header = None;
    if mapping.has_header {
        if !next(&mut reader, &mut record)? {
            sink(Event::Statement(Account::default()));
            return Ok(());
        }
        header = Some((record.iter().map(|name| name.trim().to_owned()).collect::<Vec<_>>(), line(&reader, &record)));
    }
    let columns = Columns::new(mapping, header.as_ref().map(|(names, line)| (names.as_slice(), *line)))?;
    let mut opened = false;
    while next(&mut reader, &mut record)? {
        let Some(entry) = columns.entry(&record, mapping, line(&reader, &record))? else { continue };
        if !opened {
            sink(Event::Statement(Account { currency: entry.currency.clone(), ..Account::default() }));
            opened = true;
        }
        sink(Event::Entry(entry));
    }
    if !opened {
        sink(Event::Statement(Account::default()));
    }
    Ok(())
}

/// Guesses the mapping of a file from its first lines (see the module's doc): an error says what
/// was looked for and not found.
pub fn guess(head: &[String]) -> Result<Mapping> {
    let mut best: Option<Found> = None;
    for delimiter in DELIMITERS {
        let rows = rows(head, delimiter);
        let Some((index, columns)) = rows
            .iter()
            .take_while(|row| row.line <= HEADER_LINES)
            .enumerate()
            .find_map(|(index, row)| HeaderColumns::find(&row.cells).map(|columns| (index, columns)))
        else {
            continue;
        };
        let width = rows.get(index).map_or(0, |row| row.cells.len());
        let score = rows.iter().skip(index + 1).filter(|row| row.cells.len() == width).count();
        if best.as_ref().is_none_or(|best| (score, width) > (best.score, best.width)) {
            best = Some(Found { delimiter, rows, index, columns, score, width });
        }
    }
    let Some(found) = best else {
        let location = match head.len().min(HEADER_LINES) {
            0 | 1 => "line 1".to_owned(),
            lines => format!("lines 1-{lines}"),
        };
        return Err(Error::new(Format::Csv, location, NOT_FOUND));
    };
    found.mapping(head.len() >= HEAD_LINES)
}

const NOT_FOUND: &str = "no header row found: looked for a date column (Date, Booking date, Post Date, Datum, \
    Buchungstag, Buchungsdatum, Date opération, Date comptable, …) with an amount column (Amount, Montant, Betrag, \
    Umsatz, …) or debit and credit columns (Debit, Débit, Soll, Withdrawal / Credit, Crédit, Haben, Deposit, …), \
    in one of the first 20 lines, separated by ';', ',', tab or '|'; give a column mapping";

/// The first [`HEAD_LINES`] lines of the file.
fn read_head<R: BufRead>(lines: &mut Lines<R>) -> Result<Vec<String>> {
    let mut head = Vec::new();
    while head.len() < HEAD_LINES {
        match lines.next_line()? {
            Some(line) => head.push(line),
            None => break,
        }
    }
    Ok(head)
}

/// A row of the head, for guessing.
struct Row {
    /// The line it starts at.
    line: usize,
    cells: Vec<String>,
}

fn rows(head: &[String], delimiter: u8) -> Vec<Row> {
    let text = head.join("\n");
    // Where each non-empty line starts: the `csv` reader's position of a record is before the
    // blank lines it skipped.
    let mut starts = Vec::new();
    let mut offset = 0;
    for (index, line) in head.iter().enumerate() {
        if !line.is_empty() {
            starts.push((offset, index + 1));
        }
        offset += line.len() + 1;
    }
    let mut reader =
        ::csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text.as_bytes());
    reader
        .records()
        .map_while(|record| record.ok())
        .map(|record| {
            let byte = record.position().map_or(0, |p| to_usize(p.byte()));
            Row {
                line: starts.iter().find(|(start, _)| *start >= byte).map_or(head.len(), |(_, line)| *line),
                cells: record.iter().map(|cell| cell.trim().to_owned()).collect(),
            }
        })
        .collect()
}

/// A header found with one delimiter.
struct Found {
    delimiter: u8,
    rows: Vec<Row>,
    /// The header's row.
    index: usize,
    columns: HeaderColumns,
    /// Rows after the header as wide as it.
    score: usize,
    width: usize,
}

impl Found {
    /// The mapping, its formats read from the rows after the header (the last one left out when
    /// the head may have cut it).
    fn mapping(self, cut: bool) -> Result<Mapping> {
        let header_line = self.rows.get(self.index).map_or(1, |row| row.line);
        let mut samples: Vec<&Row> = self.rows.iter().skip(self.index + 1).collect();
        if cut {
            samples.pop();
        }
        let columns = self.columns;
        let cells = |column: Option<usize>| -> Vec<(usize, &str)> {
            let Some(column) = column else { return Vec::new() };
            samples
                .iter()
                .filter_map(|row| row.cells.get(column).map(|cell| (row.line, cell.as_str())))
                .filter(|(_, cell)| !cell.is_empty())
                .collect()
        };
        let mut dates = cells(Some(columns.date));
        dates.extend(cells(columns.value_date));
        let date_format = date_format(&dates, self.rows.get(self.index).and_then(|row| row.cells.get(columns.date)))?;
        let (amount, amounts) = match columns.amount {
            Amounts::Signed(column) => (AmountColumns::Amount(Column::Index(column)), cells(Some(column))),
            Amounts::DebitCredit(debit, credit) => {
                let amounts = [cells(Some(debit)), cells(Some(credit))].concat();
                (AmountColumns::DebitCredit { debit: Column::Index(debit), credit: Column::Index(credit) }, amounts)
            }
        };
        let (comma, point) = amounts.iter().fold((0, 0), |(comma, point), (_, value)| match decimal_evidence(value) {
            Some(true) => (comma + 1, point),
            Some(false) => (comma, point + 1),
            None => (comma, point),
        });
        let decimal_comma = if comma == point { self.delimiter == b';' } else { comma > point };
        Ok(Mapping {
            delimiter: self.delimiter,
            decimal_comma,
            date_format,
            skip_lines: header_line.saturating_sub(1),
            has_header: true,
            date: Column::Index(columns.date),
            value_date: columns.value_date.map(Column::Index),
            amount,
            wording: columns.wording.into_iter().map(Column::Index).collect(),
            payee: columns.payee.map(Column::Index),
            reference: columns.reference.map(Column::Index),
            currency: columns.currency.map(Column::Index),
        })
    }
}

/// The first of [`DATE_FORMATS`] reading all `dates` (or else the most of them).
fn date_format(dates: &[(usize, &str)], name: Option<&String>) -> Result<String> {
    let mut best = (0, DATE_FORMATS[0]);
    for format in DATE_FORMATS {
        let read = dates.iter().filter(|(_, text)| date(text, format).is_some()).count();
        if read == dates.len() {
            return Ok(format.to_owned());
        }
        if read > best.0 {
            best = (read, format);
        }
    }
    match dates.first() {
        Some((line, text)) if best.0 == 0 => Err(Error::at_line(
            Format::Csv,
            *line,
            format!(
                "date column \"{}\": '{text}' has none of the formats tried ({})",
                name.map_or("", String::as_str),
                DATE_FORMATS.join(", ")
            ),
        )),
        _ => Ok(best.1.to_owned()),
    }
}

/// Column positions recognised in a header row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeaderColumns {
    date: usize,
    value_date: Option<usize>,
    amount: Amounts,
    wording: Vec<usize>,
    payee: Option<usize>,
    reference: Option<usize>,
    currency: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Amounts {
    Signed(usize),
    DebitCredit(usize, usize),
}

/// Known header names, normalised (see [`normalize`]), in order of preference.
#[rustfmt::skip]
const VALUE_DATE: &[&str] = &[
    "value date", "valuta", "valutadatum", "wertstellung", "wertstellungsdatum", "date de valeur", "date valeur",
    "dateval", "date val", "valeur",
];
#[rustfmt::skip]
const DATE: &[&str] = &[
    "booking date", "buchungstag", "buchungsdatum", "buchung", "posting date", "post date", "posted date",
    "completed date", "date comptable", "date operation", "date d operation", "date de l operation", "dateop",
    "date", "datum", "transaction date", "trans date", "started date",
];
#[rustfmt::skip]
const AMOUNT: &[&str] = &["amount", "montant", "betrag", "umsatz", "transaction amount", "somme"];
#[rustfmt::skip]
const DEBIT: &[&str] = &[
    "debit", "soll", "withdrawal", "withdrawals", "debit amount", "money out", "paid out", "ausgang", "depense",
];
#[rustfmt::skip]
const CREDIT: &[&str] = &[
    "credit", "haben", "deposit", "deposits", "credit amount", "money in", "paid in", "eingang", "recette",
];
#[rustfmt::skip]
const PAYEE: &[&str] = &[
    "payee", "beneficiary", "beneficiaire", "counterparty", "merchant", "tiers", "name", "nom", "auftraggeber",
    "empfanger", "empfaenger", "begunstigter", "beguenstigter", "zahlungsempfanger", "zahlungsempfaenger",
    "zahlungspflichtige", "zahlungspflichtiger",
];
#[rustfmt::skip]
const REFERENCE: &[&str] = &[
    "reference", "ref", "referenz", "kundenreferenz", "transaction id", "transaction reference", "check number",
    "check", "cheque", "numero de cheque", "n de cheque",
];
#[rustfmt::skip]
const CURRENCY: &[&str] = &["currency", "devise", "wahrung", "waehrung", "ccy", "monnaie"];
#[rustfmt::skip]
const WORDING: &[&str] = &[
    "description", "libelle", "verwendungszweck", "buchungstext", "memo", "details", "detail", "narrative",
    "label", "wording", "text", "informations", "nature", "communication", "mitteilung",
];

impl HeaderColumns {
    /// The columns `cells` name, when they name at least a date and an amount.
    fn find(cells: &[String]) -> Option<HeaderColumns> {
        let names: Vec<String> = cells.iter().map(|cell| normalize(cell)).collect();
        // A column both debit and credit (`Soll/Haben`, `Debit/Credit`) is an indicator: none of them.
        let mut taken: Vec<bool> =
            names.iter().map(|name| rank(name, DEBIT).is_some() && rank(name, CREDIT).is_some()).collect();
        let mut pick = |keys: &[&str]| {
            let (_, column) = names
                .iter()
                .enumerate()
                .filter(|(column, _)| !taken.get(*column).copied().unwrap_or(true))
                .filter_map(|(column, name)| rank(name, keys).map(|rank| (rank, column)))
                .min()?;
            if let Some(taken) = taken.get_mut(column) {
                *taken = true;
            }
            Some(column)
        };
        let value_date = pick(VALUE_DATE);
        let date = pick(DATE)?;
        let amount = match pick(AMOUNT) {
            Some(column) => Amounts::Signed(column),
            None => Amounts::DebitCredit(pick(DEBIT)?, pick(CREDIT)?),
        };
        let currency = pick(CURRENCY);
        let reference = pick(REFERENCE);
        let payee = pick(PAYEE);
        let mut wording: Vec<usize> = std::iter::from_fn(|| pick(WORDING)).collect();
        wording.extend(payee);
        wording.sort_unstable();
        Some(HeaderColumns { date, value_date, amount, wording, payee, reference, currency })
    }
}

/// The position in `keys` of the first that `name` is, or begins with (followed by a space).
fn rank(name: &str, keys: &[&str]) -> Option<usize> {
    keys.iter().position(|key| name.strip_prefix(key).is_some_and(|rest| rest.is_empty() || rest.starts_with(' ')))
}

/// A header name in lower case, accents removed, anything but letters and digits a single space.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' => 'i',
            'ô' | 'ö' | 'ó' | 'õ' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ç' => 'c',
            'ß' => {
                out.push_str("ss");
                continue;
            }
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        if folded != ' ' || !out.is_empty() && !out.ends_with(' ') {
            out.push(folded);
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// What an amount says of the decimal separator: `Some(true)` a comma, `Some(false)` a point,
/// `None` nothing (no separator, or a lone one before three digits).
fn decimal_evidence(value: &str) -> Option<bool> {
    let last = value.rfind([',', '.'])?;
    let comma = value[last..].starts_with(',');
    if value.contains(if comma { '.' } else { ',' }) {
        return Some(comma);
    }
    if value.matches(if comma { ',' } else { '.' }).count() > 1 {
        return Some(!comma);
    }
    let decimals = value[last + 1..].chars().take_while(char::is_ascii_digit).count();
    if decimals == 3 { None } else { Some(comma) }
}

/// The mapping's columns as positions, with what to call them in errors.
struct Columns {
    date: (usize, String),
    value_date: Option<(usize, String)>,
    amount: ResolvedAmount,
    wording: Vec<usize>,
    payee: Option<usize>,
    reference: Option<usize>,
    currency: Option<usize>,
}

enum ResolvedAmount {
    Signed((usize, String)),
    DebitCredit { debit: (usize, String), credit: (usize, String) },
}

impl Columns {
    /// Resolves `mapping`'s columns against `header` (its names, and line).
    fn new(mapping: &Mapping, header: Option<(&[String], usize)>) -> Result<Columns> {
        let find = |column: &Column| -> Result<(usize, String)> {
            let names = header.map_or(&[][..], |(names, _)| names);
            match column {
                Column::Index(index) => Ok((
                    *index,
                    names.get(*index).map_or_else(|| format!("column {index}"), |name| format!("column \"{name}\"")),
                )),
                Column::Name(name) => {
                    let Some((names, line)) = header else {
                        return Err(Error::at_line(
                            Format::Csv,
                            mapping.skip_lines + 1,
                            format!("column \"{name}\" is named, but the mapping says the file has no header"),
                        ));
                    };
                    let wanted = name.trim().to_lowercase();
                    match names.iter().enumerate().find(|(_, n)| n.to_lowercase() == wanted) {
                        Some((index, found)) => Ok((index, format!("column \"{found}\""))),
                        None => Err(Error::at_line(
                            Format::Csv,
                            line,
                            format!("no column \"{name}\" in the header (it has: {})", names.join(", ")),
                        )),
                    }
                }
            }
        };
        let index = |column: &Column| find(column).map(|(index, _)| index);
        Ok(Columns {
            date: find(&mapping.date)?,
            value_date: mapping.value_date.as_ref().map(find).transpose()?,
            amount: match &mapping.amount {
                AmountColumns::Amount(column) => ResolvedAmount::Signed(find(column)?),
                AmountColumns::DebitCredit { debit, credit } => {
                    ResolvedAmount::DebitCredit { debit: find(debit)?, credit: find(credit)? }
                }
            },
            wording: mapping.wording.iter().map(index).collect::<Result<_>>()?,
            payee: mapping.payee.as_ref().map(index).transpose()?,
            reference: mapping.reference.as_ref().map(index).transpose()?,
            currency: mapping.currency.as_ref().map(index).transpose()?,
        })
    }

    /// The entry of a row at `line`; `None` for a row without date and amount.
    fn entry(&self, record: &::csv::StringRecord, mapping: &Mapping, line: usize) -> Result<Option<Entry>> {
        let cell = |index: usize| record.get(index).map_or("", str::trim);
        let date_text = cell(self.date.0);
        let no_amount = match &self.amount {
            ResolvedAmount::Signed((index, _)) => cell(*index).is_empty(),
            ResolvedAmount::DebitCredit { debit, credit } => cell(debit.0).is_empty() && cell(credit.0).is_empty(),
        };
        if date_text.is_empty() && no_amount {
            return Ok(None);
        }
        let error = |reason: String| Error::at_line(Format::Csv, line, reason);
        let read_date = |(index, label): &(usize, String)| {
            let text = cell(*index);
            if text.is_empty() {
                return Err(error(format!("{label}: no date")));
            }
            date(text, &mapping.date_format)
                .ok_or_else(|| error(format!("{label}: '{text}' is not a date of the form {}", mapping.date_format)))
        };
        let read_amount = |(index, label): &(usize, String)| {
            let text = cell(*index);
            if text.is_empty() {
                return Ok(None);
            }
            let separator = if mapping.decimal_comma { "comma" } else { "point" };
            amount(text, mapping.decimal_comma)
                .map(Some)
                .ok_or_else(|| error(format!("{label}: '{text}' is not an amount (with a decimal {separator})")))
        };
        let booking_date = read_date(&self.date)?;
        let value_date = match &self.value_date {
            Some(column) if !cell(column.0).is_empty() => Some(read_date(column)?),
            _ => None,
        };
        let amount = match &self.amount {
            ResolvedAmount::Signed(column) => {
                read_amount(column)?.ok_or_else(|| error(format!("{}: no amount", column.1)))?
            }
            ResolvedAmount::DebitCredit { debit, credit } => match (read_amount(debit)?, read_amount(credit)?) {
                (None, None) => return Err(error(format!("{} and {}: no amount", debit.1, credit.1))),
                (debit, credit) => credit.unwrap_or_default() - debit.unwrap_or_default().abs(),
            },
        };
        let text = |index: Option<usize>| index.map(cell).filter(|text| !text.is_empty()).map(str::to_owned);
        let wording: Vec<&str> =
            self.wording.iter().map(|index| cell(*index)).filter(|text| !text.is_empty()).collect();
        Ok(Some(Entry {
            booking_date,
            value_date,
            amount,
            currency: self.currency.map(cell).and_then(currency),
            wording: wording.join(" ").split_whitespace().collect::<Vec<_>>().join(" "),
            payee: text(self.payee),
            reference: text(self.reference),
            ..Entry::default()
        }))
    }
}

/// The next record; `false` at the end of the file.
fn next<R: BufRead>(reader: &mut ::csv::Reader<Source<R>>, record: &mut ::csv::StringRecord) -> Result<bool> {
    reader.get_ref().record_start.set(reader.position().byte());
    reader.read_record(record).map_err(|err| {
        let line = reader.get_ref().line_at(err.position().map_or(0, |p| p.byte()));
        match err.into_kind() {
            ::csv::ErrorKind::Io(err) => {
                let reason = format!("reading: {err}");
                match err.into_inner().map(|inner| inner.downcast::<Error>()) {
                    Some(Ok(error)) => *error,
                    _ => Error::at_line(Format::Csv, line, reason),
                }
            }
            kind => Error::at_line(Format::Csv, line, format!("{kind:?}")),
        }
    })
}

/// The line `record` (just read) starts at, in the file.
fn line<R: BufRead>(reader: &::csv::Reader<Source<R>>, record: &::csv::StringRecord) -> usize {
    reader.get_ref().line_at(record.position().map_or(0, |p| p.byte()))
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The file's text for the `csv` reader: the lines already read for guessing, then the rest, one
/// decoded line at a time, each ended by `\n`; `skip` lines are left out first.
struct Source<R> {
    head: std::vec::IntoIter<String>,
    lines: Lines<R>,
    /// Lines still to leave out.
    skip: usize,
    /// The number of the last line read from the file.
    number: usize,
    /// The line being handed out, and how much of it is.
    line: Vec<u8>,
    at: usize,
    /// Bytes handed out so far.
    fed: u64,
    /// Where the non-empty lines handed out since the current record's start begin (byte, line
    /// number): the `csv` reader gives a record's position before the blank lines it skipped.
    starts: VecDeque<(u64, usize)>,
    /// Where the record being read starts (byte).
    record_start: Cell<u64>,
}

impl<R: BufRead> Source<R> {
    fn next_line(&mut self) -> Result<Option<String>> {
        loop {
            let line = match self.head.next() {
                Some(line) => Some(line),
                None => self.lines.next_line()?,
            };
            if line.is_some() {
                self.number += 1;
            }
            match line {
                Some(_) if self.skip > 0 => self.skip -= 1,
                line => return Ok(line),
            }
        }
    }

    /// The number of the first non-empty line at or after `byte` of what was handed out.
    fn line_at(&self, byte: u64) -> usize {
        self.starts.iter().find(|(start, _)| *start >= byte).map_or(self.number.max(1), |(_, line)| *line)
    }
}

impl<R: BufRead> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The `csv` reader asks for more only when it has used all it was given: all of it since the
        // record's start is that record.
        let start = self.record_start.get();
        while self.starts.front().is_some_and(|(byte, _)| *byte < start) {
            self.starts.pop_front();
        }
        if self.fed.saturating_sub(start) > MAX_LINE as u64 {
            let line = self.line_at(start);
            let reason = format!("record longer than {MAX_LINE} bytes (a quote left open?)");
            return Err(io::Error::other(Error::at_line(Format::Csv, line, reason)));
        }
        if self.at == self.line.len() {
            let Some(line) = self.next_line().map_err(io::Error::other)? else { return Ok(0) };
            if !line.is_empty() {
                self.starts.push_back((self.fed, self.number));
            }
            self.line.clear();
            self.line.extend_from_slice(line.as_bytes());
            self.line.push(b'\n');
            self.at = 0;
        }
        let rest = self.line.get(self.at..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        self.fed += n as u64;
        Ok(n)
    }
}

/// `text` as a date of `format`, in a year a statement can have (1900–2100: chrono reads `%Y`
/// from `24` as the year 24).
fn date(text: &str, format: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, format).ok().filter(|date| (1900..=2100).contains(&date.year()))
}

/// An amount cell (see the module's doc); `None` when it is not one.
fn amount(text: &str, decimal_comma: bool) -> Option<Decimal> {
    let mut text = strip_currency(text);
    let mut negative = false;
    if let Some(inner) = text.strip_prefix('(').and_then(|rest| rest.strip_suffix(')')) {
        negative = true;
        text = strip_currency(inner);
    }
    if let Some(rest) = text.strip_prefix(['-', '\u{2212}']) {
        if negative {
            return None;
        }
        negative = true;
        text = rest;
    } else if let Some(rest) = text.strip_prefix('+') {
        text = rest;
    }
    if let Some(rest) = text.strip_suffix('-') {
        if negative {
            return None;
        }
        negative = true;
        text = rest;
    }
    let text = strip_currency(text);
    let (decimal, thousands) = if decimal_comma { (',', '.') } else { ('.', ',') };
    let (integer, fraction) = match text.split_once(decimal) {
        Some((integer, fraction)) => (integer, fraction),
        None => (text, ""),
    };
    let groups: Vec<&str> = integer.split(|c| c == thousands || GROUPING.contains(&c)).collect();
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let grouped = match groups.as_slice() {
        [] | [_] => true,
        [first, middle @ .., last] => {
            first.len() <= 3 && middle.iter().all(|group| (2..=3).contains(&group.len())) && last.len() == 3
        }
    };
    if !grouped || !groups.iter().all(|group| digits(group)) || text.contains(decimal) && !digits(fraction) {
        return None;
    }
    let value =
        Decimal::from_str(&format!("{}.{}", groups.concat(), if fraction.is_empty() { "0" } else { fraction })).ok()?;
    Some(if negative { -value } else { value })
}

/// `text` without a currency symbol or ISO code before or after it, trimmed.
fn strip_currency(text: &str) -> &str {
    let symbols = ['€', '$', '£', '¥'];
    let text = text.trim().trim_matches(symbols).trim();
    let is_code = |code: &str| code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase());
    let text = match text.get(..3) {
        Some(code) if is_code(code) => text.get(3..).unwrap_or_default(),
        _ => text,
    };
    let text = match text.len().checked_sub(3).and_then(|end| Some((text.get(..end)?, text.get(end..)?))) {
        Some((rest, code)) if is_code(code) => rest,
        _ => text,
    };
    text.trim().trim_matches(symbols).trim()
}

/// A currency cell as ISO 4217.
fn currency(text: &str) -> Option<String> {
    match text {
        "€" => Some("EUR".to_owned()),
        "£" => Some("GBP".to_owned()),
        _ if text.len() == 3 && text.bytes().all(|b| b.is_ascii_alphabetic()) => Some(text.to_ascii_uppercase()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn amounts_as_banks_write_them() {
        let cases = [
            ("-12,30", true, dec!(-12.30)),
            ("1.234,56", true, dec!(1234.56)),
            ("1 234,56 €", true, dec!(1234.56)),
            ("1\u{A0}234,56", true, dec!(1234.56)),
            ("-1\u{202F}234,56 EUR", true, dec!(-1234.56)),
            ("12,30-", true, dec!(-12.30)),
            ("(12.30)", false, dec!(-12.30)),
            ("($1,234.50)", false, dec!(-1234.50)),
            ("-$5.00", false, dec!(-5.00)),
            ("USD 1,234,567.8", false, dec!(1234567.8)),
            ("1'234.50 CHF", false, dec!(1234.50)),
            ("+7", false, dec!(7)),
            ("1,00,000.00", false, dec!(100000.00)),
            ("\u{2212}3.5", false, dec!(-3.5)),
        ];
        for (text, decimal_comma, expected) in cases {
            assert_eq!(amount(text, decimal_comma), Some(expected), "{text}");
        }
        for (text, decimal_comma) in [
            ("12.30", true),
            ("12,30", false),
            ("1,2,3", false),
            ("-12,30-", true),
            ("12,3x", true),
            ("", true),
            ("-", true),
            ("1.234,56", false),
            ("12,", true),
            ("EURO 5", true),
        ] {
            assert_eq!(amount(text, decimal_comma), None, "{text}");
        }
    }

    #[test]
    fn header_names_in_three_languages() {
        assert_eq!(normalize(" Date de l'opération "), "date de l operation");
        assert_eq!(normalize("Betrag (€)"), "betrag");
        assert_eq!(normalize("Zahlungsempfänger*in"), "zahlungsempfanger in");
        let header = |names: &[&str]| HeaderColumns::find(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        let found = header(&["Date de valeur", "Date opération", "Libellé", "Débit euros", "Crédit euros"]).unwrap();
        assert_eq!((found.date, found.value_date, found.amount), (1, Some(0), Amounts::DebitCredit(3, 4)));
        assert_eq!(found.wording, [2]);
        let found = header(&[
            "Buchungstag",
            "Valutadatum",
            "Buchungstext",
            "Verwendungszweck",
            "Beguenstigter/Zahlungspflichtiger",
            "Kontonummer/IBAN",
            "Betrag",
            "Waehrung",
            "Soll/Haben",
        ])
        .unwrap();
        assert_eq!((found.date, found.value_date, found.amount), (0, Some(1), Amounts::Signed(6)));
        assert_eq!((found.wording.as_slice(), found.payee, found.currency), (&[2, 3, 4][..], Some(4), Some(7)));
        let found = header(&["Transaction Date", "Post Date", "Description", "Category", "Amount", "Memo"]).unwrap();
        assert_eq!((found.date, found.wording.as_slice()), (1, &[2, 5][..]));
        assert_eq!(header(&["Date", "Description", "Balance"]), None);
        assert_eq!(header(&["Account: 1234", "Currency: EUR"]), None);
    }

    #[test]
    fn decimal_evidence_from_amounts() {
        assert_eq!(decimal_evidence("-12,30"), Some(true));
        assert_eq!(decimal_evidence("1.234,56"), Some(true));
        assert_eq!(decimal_evidence("1.234.567"), Some(true));
        assert_eq!(decimal_evidence("1,234.56"), Some(false));
        assert_eq!(decimal_evidence("12.3"), Some(false));
        assert_eq!(decimal_evidence("1,234"), None);
        assert_eq!(decimal_evidence("1234"), None);
    }

    #[test]
    fn date_formats_prefer_day_first() {
        assert_eq!(date_format(&[(2, "01/02/2024"), (3, "12/11/2024")], None).unwrap(), "%d/%m/%Y");
        assert_eq!(date_format(&[(2, "01/02/2024"), (3, "12/31/2024")], None).unwrap(), "%m/%d/%Y");
        assert_eq!(date_format(&[(2, "01.02.24")], None).unwrap(), "%d.%m.%y");
        assert_eq!(date_format(&[(2, "2024-02-01")], None).unwrap(), "%Y-%m-%d");
        assert_eq!(date_format(&[(2, "01/02/24")], None).unwrap(), "%d/%m/%y", "not the year 24");
        assert_eq!(date_format(&[(2, "01/02/2024"), (3, "Total")], None).unwrap(), "%d/%m/%Y");
        let err = date_format(&[(4, "yesterday")], Some(&"Date".to_owned())).unwrap_err();
        assert_eq!(err.location, "line 4");
        assert!(err.reason.starts_with("date column \"Date\": 'yesterday' has none of the formats tried"), "{err}");
    }
}
