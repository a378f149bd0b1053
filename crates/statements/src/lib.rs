//! Bank statement files, read into one model: OFX/QFX ([`ofx`]), ISO 20022 camt.052/camt.053
//! ([`camt`]), SWIFT MT940/MT942 ([`mt940`]), QIF ([`qif`]) and CSV ([`csv`]).
//!
//! Pure: no I/O beyond the `BufRead` it is given, no async, no global state. Parsers stream: each
//! reports what it reads as [`Event`]s to a callback as soon as it has read it — a statement's
//! account, its balances, its entries — so memory does not grow with the file. Amounts are exact
//! `Decimal`s; dates are calendar dates (statements carry no time zone worth trusting).
//!
//! A file that bends its format's standard where only one reading is possible (an MT940 amount
//! without its decimal comma, a camt balance without its side) is read, and each such deviation is
//! reported as an [`Event::Warning`] — where, what, and what was assumed — in the stream, so a
//! warning costs no memory here; [`Warnings`] keeps a bounded list of them for whoever reports them.
//! What cannot be read without guessing is still refused.
//!
//! Bad input is an [`Error`] naming the format, where (a line, or an element path), and why; a
//! parser never panics, and refuses lines, texts and XML depths beyond [`limits`], so a hostile
//! file cannot exhaust memory.

pub mod camt;
pub mod csv;
mod error;
pub mod limits;
mod model;
pub mod mt940;
pub mod ofx;
pub mod qif;
pub mod text;

use std::io::BufRead;

pub use error::{Error, Result};
pub use model::{Account, Balance, BalanceKind, Entry, Event, Format, Warning, Warnings};

/// How to read a file whose format says too little about itself (CSV's columns, say).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// CSV: the column mapping; `None` guesses it from the header and the first rows.
    pub csv: Option<csv::Mapping>,
}

/// The format of a file, from its first bytes (up to a few kilobytes); `None` when unsure.
pub fn detect(head: &[u8]) -> Option<Format> {
    let text = String::from_utf8_lossy(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head));
    let text = text.trim_start();
    let upper = text.to_ascii_uppercase();
    if upper.starts_with("OFXHEADER") || upper.contains("<OFX>") || upper.contains("<?OFX ") {
        Some(Format::Ofx)
    } else if text.starts_with('<') && (text.contains("camt.05") || text.contains("<BkToCstmr")) {
        Some(Format::Camt)
    } else if text.starts_with("{1:") || text.starts_with(":20:") || text.contains("\n:20:") && text.contains(":25:") {
        Some(Format::Mt940)
    } else if upper.starts_with("!TYPE:") || upper.starts_with("!ACCOUNT") || upper.starts_with("!OPTION") {
        Some(Format::Qif)
    } else if text.lines().next().is_some_and(|line| [';', ',', '\t', '|'].iter().any(|d| line.contains(*d))) {
        Some(Format::Csv)
    } else {
        None
    }
}

/// Reads a whole file of `format`, reporting each event to `sink` as it is read.
pub fn parse<R: BufRead>(format: Format, input: R, options: &Options, sink: &mut dyn FnMut(Event)) -> Result<()> {
    match format {
        Format::Ofx => ofx::parse(input, sink),
        Format::Camt => camt::parse(input, sink),
        Format::Mt940 => mt940::parse(input, sink),
        Format::Qif => qif::parse(input, sink),
        Format::Csv => csv::parse(input, options.csv.as_ref(), sink),
    }
}
