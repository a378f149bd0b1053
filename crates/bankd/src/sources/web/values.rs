//! Amounts and dates as web-banking pages print them: `1 234,56 €`, `-12.30`, `1.234,56-`,
//! `(12,30)`, `24/11/2026`, `24 nov. 2026`, `Nov 24, 2026`, `24. März 2026`, `24/11`.
//!
//! Pages are written for people in the bank's locale, so one value has many spellings. These
//! helpers turn each into an exact [`Decimal`] (never a float: amounts are summed and compared to
//! the cent) or a [`NaiveDate`], and refuse, saying which part they did not understand, wherever a
//! guess could change the value.
//!
//! # Amounts
//!
//! Around the number may stand one sign (`-`, `+`, `−` U+2212, `–` U+2013; before or after the
//! number), one currency (`€`, `EUR`, `$`, `USD`, `£`, `GBP`, `CHF`; before or after), parentheses
//! for a negative amount, and a statement's credit (`CR`, `C`) or debit (`DB`, `DR`, `D`) marker
//! after it. Codes and markers are case-insensitive.
//!
//! In the number, spaces of any width (U+0020, U+00A0, U+202F, …) and apostrophes (Swiss `1'234`)
//! only ever group thousands. The decimal separator is the last `.` or `,`, except:
//! - a mark that appears several times groups thousands (`1.234.567`, `1,234,567`);
//! - a lone `.` or `,` followed by exactly three digits, after one to three digits that do not
//!   start with `0` and with no other grouping, groups thousands: `1.234` is 1234. That is what a
//!   German page means by `1.234`, and no French or German bank prints a euro amount with three
//!   decimals, so `1,234` is read as 1234 too, as an English-language page means it. `0,125`,
//!   `1234,567` and `1 234,567` keep their three decimals, since nothing there can be a group.
//!
//! Groups of thousands must be well formed (1–3 digits, then groups of exactly 3) and use one
//! separator only: `12 30` or `1.234 567` are errors, not 1230 or 1234567.
//!
//! # Dates
//!
//! Numeric dates are day first (`24/11/2026`, `24.11.2026`, `24-11-2026`, `24/11/26`) unless the
//! year comes first (`2026-11-24`); two-digit years are 20yy. Month names and abbreviations are
//! French, English or German, in any case, with or without accents and trailing dots (`nov.`,
//! `févr`, `fevr.`, `Mär`, `Mrz`, `Sept.`); a 3-letter or longer start of a name is enough when
//! it names a single month (`jui` could be June or July: refused). The day comes before the month
//! (`24 nov. 2026`, `24. November 2026`, `1er janvier 2026`) or after it (`Nov 24, 2026`). A
//! leading weekday (`lundi`, `Mon,`, `Mo.`) is ignored. US numeric dates (`11/24/2026`) are not
//! guessed: they fail as month 24.
//!
//! A date without a year (`24/11`, `24 nov.`) is the latest one with that day and month that falls
//! no later than [`YEARLESS_GRACE_DAYS`] after `today`: lists of operations show the past, but a
//! pending card payment or a value date can be a few days ahead.

use chrono::{Datelike, Days, NaiveDate};
use rust_decimal::Decimal;

/// What a page printed that is not an amount or a date; `why` names the part not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("cannot read the amount {text:?}: {why}")]
    Amount { text: String, why: String },
    #[error("cannot read the date {text:?}: {why}")]
    Date { text: String, why: String },
}

/// How many days after `today` a date printed without a year may fall (see the module doc).
pub const YEARLESS_GRACE_DAYS: u64 = 7;

/// The amount in `text`, exactly, by the rules of the module doc.
pub fn parse_amount(text: &str) -> Result<Decimal, ValueError> {
    read_amount(text).map_err(|why| ValueError::Amount { text: text.to_owned(), why })
}

/// The date in `text`; `today` places a date printed without a year (see the module doc).
pub fn parse_date(text: &str, today: NaiveDate) -> Result<NaiveDate, ValueError> {
    read_date(text, today).map_err(|why| ValueError::Date { text: text.to_owned(), why })
}

// ---------------------------------------------------------------------------------------------
// Amounts

/// What may stand around the number.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Affix {
    Negative,
    Positive,
    Currency,
}

const SIGNS: [(char, Affix); 4] =
    [('-', Affix::Negative), ('+', Affix::Positive), ('\u{2212}', Affix::Negative), ('\u{2013}', Affix::Negative)];

const CURRENCIES: [&str; 7] = ["€", "EUR", "$", "USD", "£", "GBP", "CHF"];

/// A statement's credit or debit marker, after the number. Checked after the currencies, so that
/// `USD` is not read as `US` and a debit `D`.
const MARKERS: [(&str, Affix); 5] = [
    ("CR", Affix::Positive),
    ("C", Affix::Positive),
    ("DB", Affix::Negative),
    ("DR", Affix::Negative),
    ("D", Affix::Negative),
];

fn read_amount(text: &str) -> Result<Decimal, String> {
    let (number, negative) = peel_affixes(text)?;
    let value = read_number(number)?;
    Ok(if negative { -value } else { value })
}

/// The number without what stands around it, and whether a sign said it is negative. One sign and
/// one currency at most: `-12,30 DB` is refused rather than read one way or the other.
fn peel_affixes(text: &str) -> Result<(&str, bool), String> {
    let mut rest = text.trim();
    let (mut sign, mut currency) = (None, false);
    while let Some((inner, affix)) = peel_one(rest) {
        match affix {
            Affix::Currency if currency => return Err("two currencies".into()),
            Affix::Currency => currency = true,
            _ if sign.is_some() => return Err("more than one sign".into()),
            _ => sign = Some(affix),
        }
        rest = inner.trim();
    }
    Ok((rest, sign == Some(Affix::Negative)))
}

fn peel_one(s: &str) -> Option<(&str, Affix)> {
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return Some((inner, Affix::Negative));
    }
    let signs = SIGNS.iter().find_map(|&(c, affix)| Some((s.strip_prefix(c).or_else(|| s.strip_suffix(c))?, affix)));
    let currencies = || {
        CURRENCIES.iter().find_map(|code| {
            Some((strip_word_prefix(s, code).or_else(|| strip_word_suffix(s, code))?, Affix::Currency))
        })
    };
    let markers = || MARKERS.iter().find_map(|&(marker, affix)| Some((strip_word_suffix(s, marker)?, affix)));
    signs.or_else(currencies).or_else(markers)
}

/// `s` without `word` at its start, ignoring ASCII case; a word of letters must not be glued to
/// more letters (`EURO` does not start with the code `EUR`).
fn strip_word_prefix<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let (head, tail) = (s.get(..word.len())?, s.get(word.len()..)?);
    let glued = is_letters(word) && tail.starts_with(char::is_alphabetic);
    (head.eq_ignore_ascii_case(word) && !glued).then_some(tail)
}

/// `s` without `word` at its end, ignoring ASCII case; a word of letters must not be glued to
/// more letters (`USD` does not end with the debit marker `D`).
fn strip_word_suffix<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(word.len())?;
    let (head, tail) = (s.get(..cut)?, s.get(cut..)?);
    let glued = is_letters(word) && head.ends_with(char::is_alphabetic);
    (tail.eq_ignore_ascii_case(word) && !glued).then_some(head)
}

fn is_letters(word: &str) -> bool {
    word.chars().all(char::is_alphabetic)
}

/// Spaces of every width and the Swiss apostrophes, which only group thousands.
fn is_group_space(c: char) -> bool {
    c.is_whitespace() || c == '\'' || c == '’'
}

fn read_number(s: &str) -> Result<Decimal, String> {
    if let Some(c) = s.chars().find(|&c| !(c.is_ascii_digit() || c == '.' || c == ',' || is_group_space(c))) {
        return Err(format!("unexpected {c:?}"));
    }
    let (int, frac) = split_decimal(s)?;
    let int = ungroup(int)?;
    let exact = match (int.as_str(), frac) {
        ("", "") => return Err("no digits".into()),
        (int, "") => int.to_owned(),
        ("", frac) => format!("0.{frac}"),
        (int, frac) => format!("{int}.{frac}"),
    };
    Decimal::from_str_exact(&exact).map_err(|_| "too many digits for an exact decimal".into())
}

/// The integer part (still grouped) and the decimals, by the rules of the module doc.
fn split_decimal(s: &str) -> Result<(&str, &str), String> {
    let Some((at, mark)) = s.char_indices().rfind(|&(_, c)| c == '.' || c == ',') else { return Ok((s, "")) };
    let (int, frac) = (&s[..at], &s[at + 1..]);
    if frac.is_empty() {
        return Err(format!("no digits after the last {mark:?}"));
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{frac:?} after the decimal separator {mark:?} is not digits"));
    }
    let other = if mark == '.' { ',' } else { '.' };
    match (int.contains(mark), int.contains(other)) {
        (true, true) => Err(format!("{mark:?} is repeated after a {other:?}: no decimal separator can be told")),
        (true, false) => Ok((s, "")),
        (false, _) if is_one_group(int, frac) => Ok((s, "")),
        (false, _) => Ok((int, frac)),
    }
}

/// `1.234` or `12,345`: a lone mark that can only be grouping thousands in a bank's amount.
fn is_one_group(int: &str, frac: &str) -> bool {
    frac.len() == 3 && (1..=3).contains(&int.len()) && int.chars().all(|c| c.is_ascii_digit()) && !int.starts_with('0')
}

/// The digits of an integer part grouped by thousands, checked to be grouped that way.
fn ungroup(int: &str) -> Result<String, String> {
    let mut kinds = int.chars().filter(|c| !c.is_ascii_digit()).map(|c| if is_group_space(c) { ' ' } else { c });
    let Some(kind) = kinds.next() else { return Ok(int.to_owned()) };
    if kinds.any(|other| other != kind) {
        return Err(format!("{int:?} mixes thousands separators"));
    }
    let groups: Vec<&str> = int.split(|c: char| !c.is_ascii_digit()).collect();
    let well_formed = match groups.split_first() {
        Some((first, rest)) => (1..=3).contains(&first.len()) && rest.iter().all(|group| group.len() == 3),
        None => false,
    };
    if !well_formed {
        return Err(format!("{int:?} is not grouped by thousands"));
    }
    Ok(groups.concat())
}

// ---------------------------------------------------------------------------------------------
// Dates

/// Month names in French, English and German, with and without accents; any unambiguous start of
/// three letters or more names the month. `mrz` is the one abbreviation that is no such start.
const MONTHS: [(&str, u32); 39] = [
    ("janvier", 1),
    ("january", 1),
    ("januar", 1),
    ("jänner", 1),
    ("janner", 1),
    ("février", 2),
    ("fevrier", 2),
    ("february", 2),
    ("februar", 2),
    ("mars", 3),
    ("march", 3),
    ("märz", 3),
    ("marz", 3),
    ("maerz", 3),
    ("mrz", 3),
    ("avril", 4),
    ("april", 4),
    ("mai", 5),
    ("may", 5),
    ("juin", 6),
    ("june", 6),
    ("juni", 6),
    ("juillet", 7),
    ("july", 7),
    ("juli", 7),
    ("août", 8),
    ("aout", 8),
    ("august", 8),
    ("septembre", 9),
    ("september", 9),
    ("octobre", 10),
    ("october", 10),
    ("oktober", 10),
    ("novembre", 11),
    ("november", 11),
    ("décembre", 12),
    ("decembre", 12),
    ("december", 12),
    ("dezember", 12),
];

/// Weekday names, whose start of two letters or more (`Mo`, `lun`, `Mon`) is dropped before a date.
const WEEKDAYS: [&str; 21] = [
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
];

/// What follows a day number as an ordinal: `1er`, `2e`, `1st`, `24th`.
const ORDINALS: [&str; 7] = ["er", "re", "e", "st", "nd", "rd", "th"];

/// A run of digits, or a run of letters (lowercased).
#[derive(Debug, PartialEq)]
enum Token<'a> {
    Number(&'a str),
    Word(String),
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Digit,
    Letter,
    Separator,
    Other,
}

fn class(c: char) -> Class {
    match c {
        '0'..='9' => Class::Digit,
        c if c.is_alphabetic() => Class::Letter,
        c if c.is_whitespace() || matches!(c, '/' | '.' | '-' | ',') => Class::Separator,
        _ => Class::Other,
    }
}

fn read_date(text: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let tokens = drop_weekday(drop_ordinals(tokenize(text)?));
    let (day, month, year) = fields(&tokens)?;
    match year {
        Some(year) => {
            NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| format!("{year} has no day {day} in month {month}"))
        }
        None => latest(day, month, today),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, String> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let end = rest.find(|d: char| class(d) != class(c)).unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        match class(c) {
            Class::Digit => tokens.push(Token::Number(run)),
            Class::Letter => tokens.push(Token::Word(run.to_lowercase())),
            Class::Separator => {}
            Class::Other => return Err(format!("unexpected {c:?}")),
        }
        rest = tail;
    }
    Ok(tokens)
}

fn drop_ordinals(tokens: Vec<Token<'_>>) -> Vec<Token<'_>> {
    let mut kept: Vec<Token<'_>> = Vec::with_capacity(tokens.len());
    for token in tokens {
        let ordinal =
            matches!((&token, kept.last()), (Token::Word(w), Some(Token::Number(_))) if ORDINALS.contains(&w.as_str()));
        if !ordinal {
            kept.push(token);
        }
    }
    kept
}

/// Without a leading weekday. `mar` is both Tuesday's (`mardi`) and March's start: it is a
/// weekday only when a month name follows (`mar. 24 nov.`, not `Mar 24, 2026`).
fn drop_weekday(mut tokens: Vec<Token<'_>>) -> Vec<Token<'_>> {
    let more_words = tokens.iter().skip(1).any(|t| matches!(t, Token::Word(_)));
    let weekday = match tokens.first() {
        Some(Token::Word(w)) => is_weekday(w) && (month(w).is_err() || more_words),
        _ => false,
    };
    if weekday {
        tokens.remove(0);
    }
    tokens
}

fn is_weekday(word: &str) -> bool {
    word.chars().count() >= 2 && WEEKDAYS.iter().any(|name| name.starts_with(word))
}

/// Day, month and maybe year, from the forms the module doc lists.
fn fields(tokens: &[Token<'_>]) -> Result<(u32, u32, Option<i32>), String> {
    use Token::{Number as N, Word as W};
    match tokens {
        [N(y), N(m), N(d)] if y.len() == 4 => Ok((day(d)?, month_number(m)?, Some(year(y)?))),
        [N(d), N(m), N(y)] => Ok((day(d)?, month_number(m)?, Some(year(y)?))),
        [N(d), N(m)] => Ok((day(d)?, month_number(m)?, None)),
        [N(d), W(m), N(y)] | [W(m), N(d), N(y)] => Ok((day(d)?, month(m)?, Some(year(y)?))),
        [N(d), W(m)] | [W(m), N(d)] => Ok((day(d)?, month(m)?, None)),
        [] => Err("no date".into()),
        _ => Err("not a day, a month and an optional year".into()),
    }
}

fn day(digits: &str) -> Result<u32, String> {
    small_number(digits).filter(|d| (1..=31).contains(d)).ok_or_else(|| format!("{digits:?} is not a day"))
}

fn month_number(digits: &str) -> Result<u32, String> {
    small_number(digits).filter(|m| (1..=12).contains(m)).ok_or_else(|| format!("{digits:?} is not a month"))
}

fn small_number(digits: &str) -> Option<u32> {
    if digits.len() <= 2 { digits.parse().ok() } else { None }
}

/// A four-digit year, or 20yy for two digits (bank pages show this century's operations).
fn year(digits: &str) -> Result<i32, String> {
    let parsed: Option<i32> = digits.parse().ok();
    match (digits.len(), parsed) {
        (4, Some(year)) => Ok(year),
        (2, Some(yy)) => Ok(2000 + yy),
        _ => Err(format!("{digits:?} is not a year of 2 or 4 digits")),
    }
}

fn month(word: &str) -> Result<u32, String> {
    let long_enough = word.chars().count() >= 3;
    let mut found = MONTHS.iter().filter(|(name, _)| long_enough && name.starts_with(word)).map(|&(_, m)| m);
    let first = found.next().ok_or_else(|| format!("{word:?} is not a month"))?;
    if found.all(|m| m == first) { Ok(first) } else { Err(format!("{word:?} could be more than one month")) }
}

/// The latest date with this day and month no later than [`YEARLESS_GRACE_DAYS`] after `today`.
/// Eight years back always hold a 29 February.
fn latest(day: u32, month: u32, today: NaiveDate) -> Result<NaiveDate, String> {
    let limit = today.checked_add_days(Days::new(YEARLESS_GRACE_DAYS)).unwrap_or(today);
    (today.year() - 8..=limit.year())
        .rev()
        .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
        .find(|date| *date <= limit)
        .ok_or_else(|| format!("no year has a day {day} in month {month}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn amount(text: &str) -> Decimal {
        parse_amount(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn amount_error(text: &str) -> String {
        parse_amount(text).expect_err(text).to_string()
    }

    #[test]
    fn plain_numbers_with_either_decimal_separator() {
        for (text, value) in [
            ("0", dec!(0)),
            ("1234", dec!(1234)),
            ("12.30", dec!(12.30)),
            ("12,30", dec!(12.30)),
            ("12,3", dec!(12.3)),
            ("1234,56", dec!(1234.56)),
            ("0,125", dec!(0.125)),
            ("1234.567", dec!(1234.567)),
            ("1,2345", dec!(1.2345)),
            (",50", dec!(0.50)),
            ("  42,00  ", dec!(42.00)),
        ] {
            assert_eq!(amount(text), value, "{text}");
        }
    }

    #[test]
    fn the_decimals_are_kept_exactly_as_printed() {
        assert_eq!(amount("12,30").to_string(), "12.30");
        assert_eq!(amount("0,1").to_string(), "0.1");
        assert_eq!(amount("1 000 000 000,01").to_string(), "1000000000.01");
    }

    #[test]
    fn thousands_are_grouped_by_spaces_apostrophes_or_the_other_mark() {
        for (text, value) in [
            ("1 234,56", dec!(1234.56)),
            ("1\u{a0}234,56", dec!(1234.56)),
            ("1\u{202f}234,56", dec!(1234.56)),
            ("1\u{2009}234\u{2009}567,8", dec!(1234567.8)),
            ("1'234.50", dec!(1234.50)),
            ("1’234.50", dec!(1234.50)),
            ("1.234,56", dec!(1234.56)),
            ("1,234.56", dec!(1234.56)),
            ("12.345.678,90", dec!(12345678.90)),
            ("12,345,678.90", dec!(12345678.90)),
            ("1 234", dec!(1234)),
            ("1.234.567", dec!(1234567)),
            ("1,234,567", dec!(1234567)),
        ] {
            assert_eq!(amount(text), value, "{text}");
        }
    }

    #[test]
    fn a_lone_mark_before_three_digits_groups_thousands_only_where_nothing_else_can() {
        // A German page's 1234; no bank prints euros with three decimals, so `,` alike.
        assert_eq!(amount("1.234"), dec!(1234));
        assert_eq!(amount("1,234"), dec!(1234));
        assert_eq!(amount("999.999"), dec!(999999));
        assert_eq!(amount("-12.345 €"), dec!(-12345));
        // A leading 0, four integer digits or another grouping: decimals.
        assert_eq!(amount("0.125"), dec!(0.125));
        assert_eq!(amount("1234,567"), dec!(1234.567));
        assert_eq!(amount("1 234,567"), dec!(1234.567));
        assert_eq!(amount("1.234,567"), dec!(1234.567));
        // Other than three digits after the mark: decimals.
        assert_eq!(amount("1.23"), dec!(1.23));
        assert_eq!(amount("1,2345"), dec!(1.2345));
    }

    #[test]
    fn signs_before_or_after_and_parentheses() {
        for (text, value) in [
            ("-12.30", dec!(-12.30)),
            ("+12,30", dec!(12.30)),
            ("\u{2212}12,30", dec!(-12.30)),
            ("\u{2013}12,30", dec!(-12.30)),
            ("- 12,30", dec!(-12.30)),
            ("1.234,56-", dec!(-1234.56)),
            ("1 234,56 -", dec!(-1234.56)),
            ("12,30+", dec!(12.30)),
            ("(12,30)", dec!(-12.30)),
            ("( 1 234,56 € )", dec!(-1234.56)),
            ("(€12.30)", dec!(-12.30)),
            ("€ (12.30)", dec!(-12.30)),
            ("-0,00", dec!(0)),
        ] {
            assert_eq!(amount(text), value, "{text}");
        }
    }

    #[test]
    fn currencies_before_or_after() {
        for (text, value) in [
            ("1 234,56 €", dec!(1234.56)),
            ("1\u{a0}234,56\u{a0}€", dec!(1234.56)),
            ("12,30€", dec!(12.30)),
            ("€12.30", dec!(12.30)),
            ("-€12.30", dec!(-12.30)),
            ("€-12.30", dec!(-12.30)),
            ("-12,30 EUR", dec!(-12.30)),
            ("EUR 12,30", dec!(12.30)),
            ("eur 12,30", dec!(12.30)),
            ("12.30 $", dec!(12.30)),
            ("$1,234.56", dec!(1234.56)),
            ("12.30 USD", dec!(12.30)),
            ("£12.30", dec!(12.30)),
            ("12.30 GBP", dec!(12.30)),
            ("CHF 1'234.50", dec!(1234.50)),
            ("1'234.50 CHF-", dec!(-1234.50)),
        ] {
            assert_eq!(amount(text), value, "{text}");
        }
    }

    #[test]
    fn credit_and_debit_markers() {
        for (text, value) in [
            ("12,30 CR", dec!(12.30)),
            ("12,30CR", dec!(12.30)),
            ("12,30 C", dec!(12.30)),
            ("12,30 DB", dec!(-12.30)),
            ("12.30 DR", dec!(-12.30)),
            ("12,30 D", dec!(-12.30)),
            ("12,30 db", dec!(-12.30)),
            ("12,30 € DB", dec!(-12.30)),
            ("12.30 USD", dec!(12.30)),
        ] {
            assert_eq!(amount(text), value, "{text}");
        }
    }

    #[test]
    fn what_is_not_understood_is_named() {
        for (text, why) in [
            ("", "no digits"),
            ("€", "no digits"),
            ("-", "no digits"),
            ("abc", "unexpected 'a'"),
            ("12,30 EURO", "unexpected 'E'"),
            ("12#30", "unexpected '#'"),
            ("12 h 30", "unexpected 'h'"),
            ("12,", "no digits after the last ','"),
            ("12.30.", "no digits after the last '.'"),
            ("1.234,56.78", "'.' is repeated after a ',': no decimal separator can be told"),
            ("1.23.45", "\"1.23.45\" is not grouped by thousands"),
            ("12 30", "\"12 30\" is not grouped by thousands"),
            ("1234 567", "\"1234 567\" is not grouped by thousands"),
            ("1.234 567,89", "\"1.234 567\" mixes thousands separators"),
            ("--12", "more than one sign"),
            ("-12,30-", "more than one sign"),
            ("(-12,30)", "more than one sign"),
            ("-12,30 DB", "more than one sign"),
            ("+12,30 D", "more than one sign"),
            ("€ 12,30 EUR", "two currencies"),
            ("99999999999999999999999999999999", "too many digits for an exact decimal"),
        ] {
            let message = amount_error(text);
            assert_eq!(message, format!("cannot read the amount {text:?}: {why}"));
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    }

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        parse_date(text, today()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn numeric_dates_are_day_first_unless_the_year_is() {
        for text in
            ["24/11/2026", "24.11.2026", "24-11-2026", "2026-11-24", "2026/11/24", "24/11/26", " 24 / 11 / 2026 "]
        {
            assert_eq!(date(text), ymd(2026, 11, 24), "{text}");
        }
        assert_eq!(date("1/2/2026"), ymd(2026, 2, 1));
        assert_eq!(date("01.02.99"), ymd(2099, 2, 1));
        assert_eq!(date("29/02/2024"), ymd(2024, 2, 29));
    }

    #[test]
    fn french_month_names() {
        for text in [
            "24 nov. 2026",
            "24 novembre 2026",
            "24 NOVEMBRE 2026",
            "24 Nov 2026",
            "lundi 24 novembre 2026",
            "Lun. 24 nov. 2026",
            "mar. 24 nov. 2026",
        ] {
            assert_eq!(date(text), ymd(2026, 11, 24), "{text}");
        }
        for (text, month) in [
            ("1er janvier 2026", 1),
            ("1 janv. 2026", 1),
            ("3 févr. 2026", 2),
            ("3 fevr 2026", 2),
            ("3 FÉVRIER 2026", 2),
            ("3 mars 2026", 3),
            ("3 avr. 2026", 4),
            ("3 mai 2026", 5),
            ("3 juin 2026", 6),
            ("3 juil. 2026", 7),
            ("3 août 2026", 8),
            ("3 aout 2026", 8),
            ("3 sept. 2026", 9),
            ("3 oct. 2026", 10),
            ("3 déc. 2026", 12),
            ("3 dec 2026", 12),
        ] {
            assert_eq!(date(text).month(), month, "{text}");
        }
    }

    #[test]
    fn english_month_names() {
        for text in [
            "Nov 24, 2026",
            "November 24, 2026",
            "November 24th, 2026",
            "24 Nov 2026",
            "Tue, 24 Nov 2026",
            "24th November 2026",
        ] {
            assert_eq!(date(text), ymd(2026, 11, 24), "{text}");
        }
        for (text, month) in [
            ("Jan 3, 2026", 1),
            ("Feb 3, 2026", 2),
            ("Mar 3, 2026", 3),
            ("Apr 3, 2026", 4),
            ("May 3, 2026", 5),
            ("Jun 3, 2026", 6),
            ("Jul 3, 2026", 7),
            ("Aug 3, 2026", 8),
            ("Sep 3, 2026", 9),
            ("Sept. 3, 2026", 9),
            ("Oct 3, 2026", 10),
            ("Dec 3, 2026", 12),
        ] {
            assert_eq!(date(text).month(), month, "{text}");
        }
    }

    #[test]
    fn german_month_names() {
        for text in ["24. November 2026", "24. Nov. 2026", "Di., 24. Nov. 2026", "Dienstag, 24. November 2026"] {
            assert_eq!(date(text), ymd(2026, 11, 24), "{text}");
        }
        for (text, month) in [
            ("3. Januar 2026", 1),
            ("3. Jänner 2026", 1),
            ("3. Jän. 2026", 1),
            ("3. Februar 2026", 2),
            ("3. März 2026", 3),
            ("3. Mär 2026", 3),
            ("3. MÄR. 2026", 3),
            ("3. Marz 2026", 3),
            ("3. Mrz. 2026", 3),
            ("3. Mai 2026", 5),
            ("3. Juni 2026", 6),
            ("3. Juli 2026", 7),
            ("3. Okt. 2026", 10),
            ("3. Dez. 2026", 12),
        ] {
            assert_eq!(date(text).month(), month, "{text}");
        }
    }

    #[test]
    fn a_date_without_a_year_is_the_latest_not_after_a_few_days_from_today() {
        // today is 26/11/2026
        for (text, expected) in [
            ("24/11", ymd(2026, 11, 24)),
            ("24.11.", ymd(2026, 11, 24)),
            ("24 nov.", ymd(2026, 11, 24)),
            ("Nov 24", ymd(2026, 11, 24)),
            ("26/11", ymd(2026, 11, 26)),
            ("03/12", ymd(2026, 12, 3)),
            ("04/12", ymd(2025, 12, 4)),
            ("31/12", ymd(2025, 12, 31)),
            ("1er janvier", ymd(2026, 1, 1)),
            ("29/02", ymd(2024, 2, 29)),
        ] {
            assert_eq!(date(text), expected, "{text}");
        }
        // Across the new year: a pending operation early in January, or December's just past.
        let new_year = ymd(2026, 12, 29);
        assert_eq!(parse_date("04/01", new_year).unwrap(), ymd(2027, 1, 4));
        assert_eq!(parse_date("06/01", new_year).unwrap(), ymd(2026, 1, 6));
        assert_eq!(parse_date("28/12", ymd(2027, 1, 2)).unwrap(), ymd(2026, 12, 28));
    }

    #[test]
    fn what_is_not_a_date_is_named() {
        for (text, why) in [
            ("", "no date"),
            ("hier", "not a day, a month and an optional year"),
            ("24/11/2026 14:32", "unexpected ':'"),
            ("24112026", "not a day, a month and an optional year"),
            ("11/24/2026", "\"24\" is not a month"),
            ("32/01/2026", "\"32\" is not a day"),
            ("0/01/2026", "\"0\" is not a day"),
            ("31/02/2026", "2026 has no day 31 in month 2"),
            ("29/02/2026", "2026 has no day 29 in month 2"),
            ("31/04", "no year has a day 31 in month 4"),
            ("24/11/202", "\"202\" is not a year of 2 or 4 digits"),
            ("24 jui 2026", "\"jui\" could be more than one month"),
            ("24 ma 2026", "\"ma\" is not a month"),
            ("24 brumaire 2026", "\"brumaire\" is not a month"),
            ("Nov 2026", "\"2026\" is not a day"),
            ("24 nov nov 2026", "not a day, a month and an optional year"),
        ] {
            let message = parse_date(text, today()).expect_err(text).to_string();
            assert_eq!(message, format!("cannot read the date {text:?}: {why}"));
        }
    }
}
