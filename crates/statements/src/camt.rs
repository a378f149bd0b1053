//! ISO 20022 bank-to-customer cash management messages: camt.053 statements
//! (`Document/BkToCstmrStmt/Stmt`) and camt.052 intraday account reports
//! (`Document/BkToCstmrAcctRpt/Rpt`), every version from `.001.02` to `.001.13`.
//!
//! # Reading
//!
//! The file is read as a stream of XML events (quick-xml). The parser keeps the path of open
//! elements and, when an element it knows closes, files its text into the statement, balance or
//! entry being read. Elements are recognised by their *local* name and their place under
//! `Stmt`/`Rpt`, never by namespace: the versions differ in namespace far more than in the
//! elements this model needs, and banks mislabel the namespace anyway. Each `Stmt`/`Rpt` is one
//! [`Event::Statement`], sent when its `Acct` closes (the schema puts balances and entries after
//! it); a `Bal` is sent when it closes, an `Ntry` when it closes — one `Ntry`, with its
//! transaction details, is all that is ever held in memory.
//!
//! # Account
//!
//! `Acct/Id/IBAN` is the IBAN, `Acct/Id/Othr/Id` the number, `Acct/Ccy` the currency,
//! `Acct/Nm` the name, `Acct/Svcr/FinInstnId/BIC` (up to .001.03) or `BICFI` (later) the BIC.
//! The owner's name (`Acct/Ownr/Nm`) is not the account's name and is not read.
//!
//! # Balances
//!
//! `Tp/CdOrPrtry/Cd`: `OPBD` (opening booked) and `PRCD` (previously closed booked, which some
//! banks send instead of `OPBD`) are the opening balance, `CLBD` the closing, `CLAV` the closing
//! available, `ITBD` the interim booked. The forward and intraday-available kinds (`OPAV`, `FWAV`,
//! `ITAV`, `INFO`, …) and proprietary types are skipped: they are forecasts, not balances the
//! entries can be reconciled against. `CdtDbtInd` `DBIT` makes the amount negative; a balance
//! without `CdtDbtInd` (some camt.053.001.08 exports) is a credit, with a warning: the indicator
//! exists to flag the debit balance.
//!
//! # Entries
//!
//! - **Sign.** `CdtDbtInd` `DBIT` makes `Amt` (always positive in camt) negative. `RvslInd` does
//!   *not* change the sign: the ISO 20022 definition of `RvslInd` says that with `CRDT` "the
//!   original operation was a debit entry", i.e. `CdtDbtInd` already states the direction of the
//!   reversal posting itself (a returned direct debit is a `CRDT` entry with `RvslInd` true).
//!   Inverting it again would put every reversal on the wrong side and break
//!   opening + entries = closing. (One function, `signed`, decides it.)
//! - **Status.** `Sts` is plain text (`BOOK`, `PDNG`, `INFO`) up to .001.07 and `Sts/Cd` from
//!   .001.08. `PDNG` and `FUTR` (future-dated, .001.08 on) are pending. `INFO` entries are skipped:
//!   the bank sends them for information only, they are not (and will not be) on the account.
//!   A proprietary status (`Sts/Prtry`) or none counts as booked.
//! - **Dates.** `BookgDt` and `ValDt` are either `Dt` or `DtTm`; a date-time gives its date as
//!   written (`2023-10-04T23:30:00-05:00` is the 4th): banks write their own local time, and
//!   converting to UTC would move late entries to the wrong day. An entry without `BookgDt`
//!   (pending entries often lack one) is dated by its value date. One with neither is dated by the
//!   statement, with a warning naming which date: the end of its period (`FrToDt/ToDtTm`), within
//!   which the bank booked what it lists, else its creation (`CreDtTm`); with neither, an error.
//! - **Reference.** `AcctSvcrRef`, else `NtryRef`, else the first detail's `Refs/AcctSvcrRef`,
//!   else its `Refs/EndToEndId` unless that is `NOTPROVIDED` (the placeholder the standard uses).
//! - **Wording.** The detail's `RmtInf/Ustrd` lines joined with a space, else the first
//!   `RmtInf/Strd/CdtrRefInf/Ref` (a structured creditor reference, e.g. an RF reference), else
//!   `AddtlTxInf`, else the entry's `AddtlNtryInf`. For an entry of several details that is kept
//!   whole, `AddtlNtryInf` comes first: the first detail alone would misdescribe the batch.
//! - **Payee.** For a debit the creditor (`RltdPties/Cdtr/Nm`, `Cdtr/Pty/Nm` from .001.08), for a
//!   credit the debtor; the counterparty account is that party's `CdtrAcct`/`DbtrAcct` `Id/IBAN`
//!   (or `Id/Othr/Id`). A reversal keeps the parties of the transaction it reverses, so its payee
//!   is chosen as for the opposite side (a returned direct debit, `CRDT`, names the creditor who
//!   had collected it). An unsplit entry of several details has a payee only when every detail
//!   names the same one.
//! - **Kind.** `BkTxCd/Domn/Cd`, `Fmly/Cd` and `Fmly/SubFmlyCd` joined with `-` (`PMNT-RCDT-ESCT`),
//!   else `BkTxCd/Prtry/Cd`.
//!
//! # Batches
//!
//! One `Ntry` may carry several `NtryDtls/TxDtls` (a batch booking: one debit for twenty
//! transfers). It becomes one entry per detail only when every detail has its own amount in the
//! entry's currency (`TxDtls/Amt`, which exists from .001.03, else `AmtDtls/TxAmt/Amt`) and the
//! details, each signed by its own `CdtDbtInd` (else the entry's), add up to the signed entry
//! amount: only then do the split entries sum to what the account really moved. Otherwise the
//! `Ntry` stays one entry. A split detail's reference is its own `Refs/AcctSvcrRef` when that is
//! unique within the batch and differs from the entry's, else the entry's reference + `/` + the
//! detail's 1-based index (stable for a re-sent file), else its own unique `EndToEndId`.
//!
//! # Limits and hostile input
//!
//! A `<!DOCTYPE` is refused outright: camt never needs one, and its entity declarations are the
//! classic "billion laughs" bomb (quick-xml would not expand them, but an unknown entity is an
//! error anyway). Nesting deeper than [`MAX_DEPTH`] and any text longer than [`MAX_TEXT`] are
//! refused — the latter *while* reading, through a reader that counts the bytes of each XML event,
//! so a single endless text or tag cannot fill memory. The details of one `Ntry` are bounded by
//! [`MAX_ENTRY_BYTES`]. Every error names the element path, with the index of repeated
//! elements: `Document/BkToCstmrStmt/Stmt[2]/Ntry[5]/Amt`.
//!
//! # Encoding
//!
//! UTF-8, with or without a byte-order mark (quick-xml drops it). When the XML declaration names
//! ISO-8859-1 or Windows-1252, texts are decoded as Windows-1252 (a superset of Latin-1).
//! Otherwise a text that is not valid UTF-8 is also read as Windows-1252 ([`Charset::Auto`]):
//! files that declare UTF-8 but hold Latin-1 umlauts exist, and a Latin-1 byte is almost never
//! valid UTF-8. quick-xml is used without its `encoding` feature, so it hands over raw bytes; they
//! are decoded first and then unescaped. UTF-16 files are refused.
//!
//! # Not read
//!
//! camt.054 notifications (`BkToCstmrDbtCdtNtfctn`) are refused as another message. Charges,
//! exchange rates, instructed amounts, ultimate parties, agents, purpose codes, return reasons
//! and pagination are not read: the model has no place for them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, Read};
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event as Xml};
use rust_decimal::Decimal;

use crate::limits::{MAX_DEPTH, MAX_TEXT};
use crate::text::Charset;
use crate::{Account, Balance, BalanceKind, Entry, Error, Event, Format, Result, Warning};

/// The most bytes one XML event (a text, a tag with its attributes, a comment) may take: a text
/// of [`MAX_TEXT`] bytes, plus room for the markup around the longest attribute.
const MAX_EVENT: usize = MAX_TEXT + 1024;
/// The most memory the details of one `Ntry` may hold (texts, plus a fixed cost per detail): a
/// batch of tens of thousands of transfers fits, a hostile endless batch does not.
pub const MAX_ENTRY_BYTES: usize = 16 << 20;
/// The element names the path tables (`opening`, `field` and below) match, as one byte each:
/// matching a path is then comparing small integers. `Other` is every name they never match;
/// the others are spelled as the elements, so their `Debug` is the name. A name a table uses
/// must be a variant here: the tables import these variants, so a missing one reads as a
/// (non-snake-case, hence refused) binding rather than silently never matching.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(clippy::upper_case_acronyms)] // spelled as in the schema (`IBAN`, `BICFI`)
enum Name {
    Acct,
    AcctSvcrRef,
    AddtlNtryInf,
    AddtlTxInf,
    Amt,
    AmtDtls,
    BIC,
    BICFI,
    Bal,
    BkToCstmrAcctRpt,
    BkToCstmrStmt,
    BkTxCd,
    BookgDt,
    Ccy,
    Cd,
    CdOrPrtry,
    CdtDbtInd,
    Cdtr,
    CdtrAcct,
    CdtrRefInf,
    CreDtTm,
    Dbtr,
    DbtrAcct,
    Document,
    Domn,
    Dt,
    DtTm,
    EndToEndId,
    FinInstnId,
    Fmly,
    FrToDt,
    IBAN,
    Id,
    Nm,
    Ntry,
    NtryDtls,
    NtryRef,
    Othr,
    Prtry,
    Pty,
    Ref,
    Refs,
    RltdPties,
    RmtInf,
    Rpt,
    RvslInd,
    Stmt,
    Strd,
    Sts,
    SubFmlyCd,
    Svcr,
    ToDtTm,
    Tp,
    TxAmt,
    TxDtls,
    Ustrd,
    ValDt,
    Other,
}

impl Name {
    /// The name of a local element name, as written.
    fn of(local: &[u8]) -> Name {
        use Name::*;
        match local {
            b"Acct" => Acct,
            b"AcctSvcrRef" => AcctSvcrRef,
            b"AddtlNtryInf" => AddtlNtryInf,
            b"AddtlTxInf" => AddtlTxInf,
            b"Amt" => Amt,
            b"AmtDtls" => AmtDtls,
            b"BIC" => BIC,
            b"BICFI" => BICFI,
            b"Bal" => Bal,
            b"BkToCstmrAcctRpt" => BkToCstmrAcctRpt,
            b"BkToCstmrStmt" => BkToCstmrStmt,
            b"BkTxCd" => BkTxCd,
            b"BookgDt" => BookgDt,
            b"Ccy" => Ccy,
            b"Cd" => Cd,
            b"CdOrPrtry" => CdOrPrtry,
            b"CdtDbtInd" => CdtDbtInd,
            b"Cdtr" => Cdtr,
            b"CdtrAcct" => CdtrAcct,
            b"CdtrRefInf" => CdtrRefInf,
            b"CreDtTm" => CreDtTm,
            b"Dbtr" => Dbtr,
            b"DbtrAcct" => DbtrAcct,
            b"Document" => Document,
            b"Domn" => Domn,
            b"Dt" => Dt,
            b"DtTm" => DtTm,
            b"EndToEndId" => EndToEndId,
            b"FinInstnId" => FinInstnId,
            b"Fmly" => Fmly,
            b"FrToDt" => FrToDt,
            b"IBAN" => IBAN,
            b"Id" => Id,
            b"Nm" => Nm,
            b"Ntry" => Ntry,
            b"NtryDtls" => NtryDtls,
            b"NtryRef" => NtryRef,
            b"Othr" => Othr,
            b"Prtry" => Prtry,
            b"Pty" => Pty,
            b"Ref" => Ref,
            b"Refs" => Refs,
            b"RltdPties" => RltdPties,
            b"RmtInf" => RmtInf,
            b"Rpt" => Rpt,
            b"RvslInd" => RvslInd,
            b"Stmt" => Stmt,
            b"Strd" => Strd,
            b"Sts" => Sts,
            b"SubFmlyCd" => SubFmlyCd,
            b"Svcr" => Svcr,
            b"ToDtTm" => ToDtTm,
            b"Tp" => Tp,
            b"TxAmt" => TxAmt,
            b"TxDtls" => TxDtls,
            b"Ustrd" => Ustrd,
            b"ValDt" => ValDt,
            _ => Other,
        }
    }
}

/// Elements that repeat, counted in error locations (`Ntry[5]`).
const REPEATED: [Name; 6] = [Name::Stmt, Name::Rpt, Name::Bal, Name::Ntry, Name::NtryDtls, Name::TxDtls];
/// The `EndToEndId` that stands for "none" in ISO 20022.
const NOT_PROVIDED: &str = "NOTPROVIDED";

/// Reads a camt.052 or camt.053 file, reporting each statement, balance and entry to `sink`.
pub fn parse<R: BufRead>(input: R, sink: &mut dyn FnMut(Event)) -> Result<()> {
    let mut input = Bounded { inner: input, taken: 0, exceeded: false };
    refuse_utf16(&mut input)?;
    let mut reader = Reader::from_reader(input);
    let mut parser = Parser::new(sink);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        reader.get_mut().taken = 0;
        let event = match reader.read_event_into(&mut buffer) {
            Ok(event) => event,
            Err(error) => {
                let exceeded = reader.get_ref().exceeded;
                return Err(parser.xml_error(&error, exceeded, reader.error_position()));
            }
        };
        match event {
            Xml::Decl(declaration) => {
                if let Some(Ok(label)) = declaration.encoding() {
                    parser.declare_charset(&String::from_utf8_lossy(&label));
                }
            }
            Xml::DocType(_) => {
                return Err(parser
                    .path
                    .error("a DOCTYPE is not allowed in camt (its entity declarations could be a bomb)"));
            }
            Xml::Start(element) => parser.start(&element)?,
            // `<Amt/>` reads like `<Amt></Amt>`. (quick-xml's `expand_empty_elements` would do the
            // same, at the cost of keeping the name for a synthetic end event.)
            Xml::Empty(element) => {
                parser.start(&element)?;
                parser.end()?;
            }
            Xml::End(_) => parser.end()?,
            Xml::Text(text) => parser.text(&text.into_inner(), true)?,
            Xml::CData(text) => parser.text(&text.into_inner(), false)?,
            Xml::Comment(_) | Xml::PI(_) => {}
            Xml::Eof => return parser.finish(),
        }
    }
}

/// A UTF-16 file would read as garbage bytes interleaved with NULs: say so instead.
fn refuse_utf16<R: BufRead>(input: &mut Bounded<R>) -> Result<()> {
    let head = input.inner.fill_buf().map_err(|e| Error::new(Format::Camt, "file", format!("reading: {e}")))?;
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err(Error::new(Format::Camt, "file", "UTF-16 files are not supported (only UTF-8 and Windows-1252)"));
    }
    Ok(())
}

/// The input, counting the bytes quick-xml takes for one event: past [`MAX_EVENT`] it fails,
/// so quick-xml stops growing its buffer for an endless text, tag or comment.
struct Bounded<R> {
    inner: R,
    /// Bytes consumed since the parser last reset it (before each event).
    taken: usize,
    /// Whether reading failed because of the bound (rather than the input).
    exceeded: bool,
}

impl<R: BufRead> Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.consume(n);
        Ok(n)
    }
}

// quick-xml calls these several times for each event: they are inlined, the error kept apart.
impl<R: BufRead> BufRead for Bounded<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.taken > MAX_EVENT {
            return Err(self.exceed());
        }
        self.inner.fill_buf()
    }

    #[inline]
    fn consume(&mut self, amount: usize) {
        self.taken = self.taken.saturating_add(amount);
        self.inner.consume(amount);
    }
}

impl<R> Bounded<R> {
    #[cold]
    fn exceed(&mut self) -> io::Error {
        self.exceeded = true;
        io::Error::other(format!("more than {MAX_EVENT} bytes in one XML event"))
    }
}

/// One open element.
struct Frame {
    known: Name,
    /// The local name (without namespace prefix) as written, when it is not a [`Name`]: a known
    /// one is spelled by its `Name`, which spares copying millions of names.
    other: Vec<u8>,
    /// 1-based position among same-named siblings, for [`REPEATED`] elements.
    index: Option<usize>,
    /// How many children of each [`REPEATED`] name were opened so far.
    children: [usize; REPEATED.len()],
    /// What its closing means, found once when it opens.
    field: Option<Field>,
}

impl Frame {
    /// The local name, for messages.
    fn name(&self) -> Cow<'_, str> {
        match self.known {
            Name::Other => String::from_utf8_lossy(&self.other),
            // The variants are spelled as the elements.
            known => Cow::Owned(format!("{known:?}")),
        }
    }
}

/// The open elements, from the root: where the parser is, for matching and for error locations.
/// Closed frames are kept for reuse (`known` says how many are open): opening an element then
/// costs no allocation, which matters with millions of them.
#[derive(Default)]
struct Path {
    frames: Vec<Frame>,
    /// The open elements' [`Name`]s: what the path tables match, as a slice that is kept
    /// rather than built for each element.
    known: Vec<Name>,
}

impl Path {
    fn depth(&self) -> usize {
        self.known.len()
    }

    fn open(&self) -> &[Frame] {
        &self.frames[..self.depth()]
    }

    fn push(&mut self, name: &[u8]) -> Result<()> {
        let depth = self.depth();
        if depth >= MAX_DEPTH {
            let location = format!("{}/{}", self.location(), String::from_utf8_lossy(name));
            return Err(Error::new(Format::Camt, location, format!("elements nested deeper than {MAX_DEPTH}")));
        }
        let known = Name::of(name);
        let parent = depth.checked_sub(1).and_then(|at| self.frames.get_mut(at));
        let index = match (REPEATED.iter().position(|r| *r == known), parent) {
            (Some(kind), Some(parent)) => parent.children.get_mut(kind).map(|count| {
                *count += 1;
                *count
            }),
            _ => None,
        };
        match self.frames.get_mut(depth) {
            Some(frame) => {
                frame.other.clear();
                if known == Name::Other {
                    frame.other.extend_from_slice(name);
                }
                (frame.known, frame.index, frame.children, frame.field) = (known, index, [0; REPEATED.len()], None);
            }
            None => {
                let children = [0; REPEATED.len()];
                self.frames.push(Frame { known, other: name.to_owned(), index, children, field: None });
            }
        }
        self.known.push(known);
        Ok(())
    }

    fn pop(&mut self) {
        self.known.pop();
    }

    fn names(&self) -> &[Name] {
        &self.known
    }

    /// Records what closing the innermost element will mean.
    fn set_field(&mut self, field: Option<Field>) {
        if let Some(frame) = self.depth().checked_sub(1).and_then(|at| self.frames.get_mut(at)) {
            frame.field = field;
        }
    }

    /// The innermost open element, as written.
    fn current(&self) -> Option<&Frame> {
        self.open().last()
    }

    /// `Document/BkToCstmrStmt/Stmt[2]/Ntry[5]/Amt`; `prolog` before the root element.
    fn location(&self) -> String {
        if self.depth() == 0 {
            return "prolog".to_owned();
        }
        let parts: Vec<String> = self
            .open()
            .iter()
            .map(|frame| match frame.index {
                Some(index) => format!("{}[{index}]", frame.name()),
                None => frame.name().into_owned(),
            })
            .collect();
        parts.join("/")
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::new(Format::Camt, self.location(), reason)
    }
}

/// Where an opening element starts something to collect.
enum Opening {
    Statement,
    Balance,
    Entry,
    Detail,
}

fn opening(names: &[Name]) -> Option<Opening> {
    use Name::*;
    match names {
        [_, _, Stmt | Rpt] => Some(Opening::Statement),
        [_, _, Stmt | Rpt, Bal] => Some(Opening::Balance),
        [_, _, Stmt | Rpt, Ntry] => Some(Opening::Entry),
        [_, _, Stmt | Rpt, Ntry, NtryDtls, TxDtls] => Some(Opening::Detail),
        _ => None,
    }
}

/// The two outer elements say which message this is: anything but camt.052/053 is refused
/// before reading further.
fn check_message(path: &Path) -> Result<()> {
    use Name::*;
    // The name as written, for the message: `Name` reads every unknown one as `Other`.
    let other = || path.current().map(Frame::name).unwrap_or_default();
    match path.names() {
        [root] if *root != Document => {
            Err(path.error(format!("not a camt document: the root element is <{}>, not <Document>", other())))
        }
        [Document, message] if !matches!(*message, BkToCstmrStmt | BkToCstmrAcctRpt) => Err(path.error(format!(
            "not a camt.052 or camt.053 message: <{}> where <BkToCstmrStmt> or <BkToCstmrAcctRpt> was expected",
            other()
        ))),
        _ => Ok(()),
    }
}

/// What a closing element means to the model: the table of every path that is read.
#[derive(Clone, Copy)]
enum Field {
    StatementEnd,
    StatementCreated,
    StatementPeriodEnd,
    AccountEnd,
    AccountIban,
    AccountNumber,
    AccountCurrency,
    AccountName,
    AccountBic,
    BalanceEnd,
    BalanceCode,
    BalanceAmount,
    BalanceSide,
    BalanceDate,
    EntryEnd,
    EntryAmount,
    EntrySide,
    EntryReversal,
    EntryStatus,
    EntryBooking,
    EntryValue,
    EntryServicerRef,
    EntryRef,
    EntryInfo,
    EntryCode(CodePart),
    Detail(DetailField),
}

#[derive(Clone, Copy)]
enum CodePart {
    Domain,
    Family,
    SubFamily,
    Proprietary,
}

#[derive(Clone, Copy)]
enum DetailField {
    Amount,
    TransactionAmount,
    Side,
    ServicerRef,
    EndToEnd,
    Unstructured,
    CreditorReference,
    Info,
    Creditor,
    Debtor,
    CreditorAccount,
    DebtorAccount,
    Code(CodePart),
}

fn field(names: &[Name]) -> Option<Field> {
    use Name::*;
    let [_, _, Stmt | Rpt, rest @ ..] = names else { return None };
    Some(match rest {
        [] => Field::StatementEnd,
        [CreDtTm] => Field::StatementCreated,
        [FrToDt, ToDtTm] => Field::StatementPeriodEnd,
        [Acct] => Field::AccountEnd,
        [Acct, Id, IBAN] => Field::AccountIban,
        [Acct, Id, Othr, Id] => Field::AccountNumber,
        [Acct, Ccy] => Field::AccountCurrency,
        [Acct, Nm] => Field::AccountName,
        [Acct, Svcr, FinInstnId, BIC | BICFI] => Field::AccountBic,
        [Bal] => Field::BalanceEnd,
        [Bal, Tp, CdOrPrtry, Cd] => Field::BalanceCode,
        [Bal, Amt] => Field::BalanceAmount,
        [Bal, CdtDbtInd] => Field::BalanceSide,
        [Bal, Dt, Dt | DtTm] => Field::BalanceDate,
        [Ntry] => Field::EntryEnd,
        [Ntry, entry @ ..] => entry_field(entry)?,
        _ => return None,
    })
}

fn entry_field(names: &[Name]) -> Option<Field> {
    use Name::*;
    Some(match names {
        [Amt] => Field::EntryAmount,
        [CdtDbtInd] => Field::EntrySide,
        [RvslInd] => Field::EntryReversal,
        // Plain text up to .001.07, a `Cd` child from .001.08.
        [Sts] | [Sts, Cd] => Field::EntryStatus,
        [BookgDt, Dt | DtTm] => Field::EntryBooking,
        [ValDt, Dt | DtTm] => Field::EntryValue,
        [AcctSvcrRef] => Field::EntryServicerRef,
        [NtryRef] => Field::EntryRef,
        [AddtlNtryInf] => Field::EntryInfo,
        [BkTxCd, code @ ..] => Field::EntryCode(code_part(code)?),
        [NtryDtls, TxDtls, detail @ ..] => Field::Detail(detail_field(detail)?),
        _ => return None,
    })
}

fn detail_field(names: &[Name]) -> Option<DetailField> {
    use Name::*;
    Some(match names {
        [Amt] => DetailField::Amount,
        [AmtDtls, TxAmt, Amt] => DetailField::TransactionAmount,
        [CdtDbtInd] => DetailField::Side,
        [Refs, AcctSvcrRef] => DetailField::ServicerRef,
        [Refs, EndToEndId] => DetailField::EndToEnd,
        [RmtInf, Ustrd] => DetailField::Unstructured,
        [RmtInf, Strd, CdtrRefInf, Ref] => DetailField::CreditorReference,
        [AddtlTxInf] => DetailField::Info,
        // The party's name sits in `Pty` from .001.08 on.
        [RltdPties, Cdtr, Nm] | [RltdPties, Cdtr, Pty, Nm] => DetailField::Creditor,
        [RltdPties, Dbtr, Nm] | [RltdPties, Dbtr, Pty, Nm] => DetailField::Debtor,
        [RltdPties, CdtrAcct, Id, IBAN] | [RltdPties, CdtrAcct, Id, Othr, Id] => DetailField::CreditorAccount,
        [RltdPties, DbtrAcct, Id, IBAN] | [RltdPties, DbtrAcct, Id, Othr, Id] => DetailField::DebtorAccount,
        [BkTxCd, code @ ..] => DetailField::Code(code_part(code)?),
        _ => return None,
    })
}

fn code_part(names: &[Name]) -> Option<CodePart> {
    use Name::*;
    match names {
        [Domn, Cd] => Some(CodePart::Domain),
        [Domn, Fmly, Cd] => Some(CodePart::Family),
        [Domn, Fmly, SubFmlyCd] => Some(CodePart::SubFamily),
        [Prtry, Cd] => Some(CodePart::Proprietary),
        _ => None,
    }
}

/// `CdtDbtInd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Credit,
    Debit,
}

/// camt amounts are unsigned; the side gives the sign. `RvslInd` is deliberately not an input:
/// the side of a reversal entry is already the side of the reversal posting (module docs).
fn signed(amount: Decimal, side: Side) -> Decimal {
    match side {
        Side::Credit => amount,
        Side::Debit => -amount,
    }
}

/// The side whose counterparty is the other party: a reversal keeps the parties of the
/// transaction it reverses (a returned direct debit still names the original creditor as
/// `Cdtr`), so its other party is found as for the original, opposite, side.
fn original_side(side: Side, reversal: bool) -> Side {
    match (side, reversal) {
        (side, false) => side,
        (Side::Credit, true) => Side::Debit,
        (Side::Debit, true) => Side::Credit,
    }
}

/// A bank transaction code, as read.
#[derive(Default)]
struct Code {
    domain: Option<String>,
    family: Option<String>,
    sub_family: Option<String>,
    proprietary: Option<String>,
}

impl Code {
    fn set(&mut self, part: CodePart, value: String) {
        let slot = match part {
            CodePart::Domain => &mut self.domain,
            CodePart::Family => &mut self.family,
            CodePart::SubFamily => &mut self.sub_family,
            CodePart::Proprietary => &mut self.proprietary,
        };
        slot.get_or_insert(value);
    }

    /// `DOMN-FMLY-SUBFMLY`, else the proprietary code.
    fn text(&self) -> Option<String> {
        match &self.domain {
            Some(domain) => {
                let parts = [Some(domain), self.family.as_ref(), self.sub_family.as_ref()];
                // Sized once: growing it part by part would reallocate for every entry.
                let mut text = String::with_capacity(parts.iter().flatten().map(|part| part.len() + 1).sum());
                for part in parts.into_iter().flatten() {
                    if !text.is_empty() {
                        text.push('-');
                    }
                    text.push_str(part);
                }
                Some(text)
            }
            None => self.proprietary.clone(),
        }
    }
}

/// An amount with the currency of its `Ccy` attribute.
type Money = (Decimal, Option<String>);

#[derive(Default)]
struct BalanceDraft {
    code: Option<String>,
    amount: Option<Money>,
    side: Option<Side>,
    date: Option<NaiveDate>,
}

/// One `NtryDtls/TxDtls`.
#[derive(Default)]
struct Detail {
    amount: Option<Money>,
    transaction_amount: Option<Money>,
    side: Option<Side>,
    servicer_ref: Option<String>,
    end_to_end: Option<String>,
    unstructured: Option<String>,
    creditor_reference: Option<String>,
    info: Option<String>,
    creditor: Option<String>,
    debtor: Option<String>,
    creditor_account: Option<String>,
    debtor_account: Option<String>,
    code: Code,
}

impl Detail {
    /// Its own amount in `currency`: `TxDtls/Amt`, else `AmtDtls/TxAmt/Amt` (either may be in
    /// the instructed currency rather than the account's, then it is no use for the split).
    fn amount_in(&self, currency: Option<&str>) -> Option<Decimal> {
        [&self.amount, &self.transaction_amount].into_iter().flatten().find_map(|(amount, ccy)| {
            match (ccy.as_deref(), currency) {
                (Some(a), Some(b)) if a != b => None,
                _ => Some(*amount),
            }
        })
    }

    /// What it says: remittance lines, else the creditor reference, else the additional info.
    fn wording(&self) -> Option<&String> {
        self.unstructured.as_ref().or(self.creditor_reference.as_ref()).or(self.info.as_ref())
    }

    /// The other party for a movement on `side`: who was paid, or who paid.
    fn party(&self, side: Side) -> (Option<&String>, Option<&String>) {
        match side {
            Side::Debit => (self.creditor.as_ref(), self.creditor_account.as_ref()),
            Side::Credit => (self.debtor.as_ref(), self.debtor_account.as_ref()),
        }
    }

    fn end_to_end_id(&self) -> Option<&String> {
        self.end_to_end.as_ref().filter(|id| !id.eq_ignore_ascii_case(NOT_PROVIDED))
    }
}

#[derive(Default)]
struct EntryDraft {
    amount: Option<Money>,
    side: Option<Side>,
    reversal: bool,
    status: Option<String>,
    booking: Option<NaiveDate>,
    value: Option<NaiveDate>,
    servicer_ref: Option<String>,
    entry_ref: Option<String>,
    info: Option<String>,
    code: Code,
    details: Vec<Detail>,
    /// Memory held by `details`, against [`MAX_ENTRY_BYTES`].
    held: usize,
}

impl EntryDraft {
    /// Accounts for `bytes` more of details; false past the bound.
    fn hold(&mut self, bytes: usize) -> bool {
        self.held = self.held.saturating_add(bytes);
        self.held <= MAX_ENTRY_BYTES
    }

    /// An `INFO` entry: sent for information, not on the account.
    fn is_information(&self) -> bool {
        self.status.as_deref().is_some_and(|status| status.eq_ignore_ascii_case("INFO"))
    }

    /// The entry's own reference (no detail's).
    fn own_reference(&self) -> Option<&String> {
        self.servicer_ref.as_ref().or(self.entry_ref.as_ref())
    }
}

#[derive(Default)]
struct Statement {
    account: Account,
    announced: bool,
    /// `CreDtTm` and `FrToDt/ToDtTm`: the dates of an entry that has none of its own.
    created: Option<NaiveDate>,
    period_end: Option<NaiveDate>,
    balance: Option<BalanceDraft>,
    entry: Option<EntryDraft>,
}

impl Statement {
    /// The date of an entry without `BookgDt` and `ValDt`, and where it comes from: the end of the
    /// statement's period, within which the bank booked what it lists, else its creation.
    fn date(&self) -> Option<(NaiveDate, &'static str)> {
        let period_end = self.period_end.map(|date| (date, "FrToDt/ToDtTm"));
        period_end.or(self.created.map(|date| (date, "CreDtTm")))
    }
}

struct Parser<'s> {
    sink: &'s mut dyn FnMut(Event),
    path: Path,
    charset: Charset,
    /// Text of the innermost element since it (or its last child) opened or closed.
    text: String,
    /// The `Ccy` attribute of the `Amt` element being read.
    currency: Option<String>,
    statement: Option<Statement>,
    seen_root: bool,
}

impl<'s> Parser<'s> {
    fn new(sink: &'s mut dyn FnMut(Event)) -> Parser<'s> {
        Parser {
            sink,
            path: Path::default(),
            charset: Charset::Auto,
            text: String::new(),
            currency: None,
            statement: None,
            seen_root: false,
        }
    }

    /// Trusts a declared Latin-1/Windows-1252; anything else reads as UTF-8 with the
    /// Windows-1252 fallback (module docs).
    fn declare_charset(&mut self, label: &str) {
        self.charset = match Charset::from_label(label) {
            Charset::Windows1252 => Charset::Windows1252,
            Charset::Utf8 | Charset::Auto => Charset::Auto,
        };
    }

    fn start(&mut self, element: &BytesStart) -> Result<()> {
        self.path.push(element.local_name().as_ref())?;
        self.text.clear();
        check_message(&self.path)?;
        let names = self.path.names();
        let is_amount = names.last() == Some(&Name::Amt);
        let opened = opening(names);
        let closing = field(names);
        self.seen_root |= names.len() == 1;
        self.path.set_field(closing);
        self.currency = if is_amount { self.attribute(element, b"Ccy")? } else { None };
        match opened {
            Some(Opening::Statement) => self.statement = Some(Statement::default()),
            Some(Opening::Balance) => {
                self.announce();
                if let Some(statement) = &mut self.statement {
                    statement.balance = Some(BalanceDraft::default());
                }
            }
            Some(Opening::Entry) => {
                self.announce();
                if let Some(statement) = &mut self.statement {
                    statement.entry = Some(EntryDraft::default());
                }
            }
            Some(Opening::Detail) => {
                if let Some(entry) = self.statement.as_mut().and_then(|s| s.entry.as_mut()) {
                    if !entry.hold(size_of::<Detail>()) {
                        return Err(self.path.error(too_large()));
                    }
                    // Most entries have one detail: room for exactly one spares the four a Vec
                    // starts with, a block large enough to make the allocator tidy up each time.
                    if entry.details.is_empty() {
                        entry.details.reserve_exact(1);
                    }
                    entry.details.push(Detail::default());
                }
            }
            None => {}
        }
        Ok(())
    }

    /// An attribute's value, decoded and unescaped, if present and not blank.
    fn attribute(&self, element: &BytesStart, key: &[u8]) -> Result<Option<String>> {
        for attribute in element.attributes() {
            let attribute = attribute.map_err(|e| self.path.error(format!("malformed attribute: {e}")))?;
            if attribute.key.local_name().as_ref() == key {
                return Ok(value(&self.decode(&attribute.value, true)?));
            }
        }
        Ok(None)
    }

    /// Raw bytes as text: decoded by the charset, then (for escaped text) entity references
    /// resolved — only the predefined ones and character references exist without a DTD.
    fn decode<'r>(&self, raw: &'r [u8], escaped: bool) -> Result<Cow<'r, str>> {
        // Most values are plain UTF-8 without references: borrowed as they are, no allocation.
        if let (Charset::Utf8 | Charset::Auto, Ok(plain)) = (self.charset, std::str::from_utf8(raw))
            && !(escaped && plain.contains('&'))
        {
            return Ok(Cow::Borrowed(plain));
        }
        let text = self.charset.decode(raw).ok_or_else(|| self.path.error("text is not valid UTF-8"))?;
        if !escaped {
            return Ok(Cow::Owned(text));
        }
        match quick_xml::escape::unescape(&text) {
            Ok(unescaped) => Ok(Cow::Owned(unescaped.into_owned())),
            Err(e) => Err(self.path.error(format!("bad character or entity reference: {e}"))),
        }
    }

    fn text(&mut self, raw: &[u8], escaped: bool) -> Result<()> {
        // Indentation between elements: never part of a value (values are trimmed).
        if self.text.is_empty() && raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        if self.text.len() + raw.len() > MAX_TEXT {
            return Err(self.path.error(format!("text longer than {MAX_TEXT} bytes")));
        }
        let text = self.decode(raw, escaped)?;
        if self.text.len() + text.len() > MAX_TEXT {
            return Err(self.path.error(format!("text longer than {MAX_TEXT} bytes")));
        }
        self.text.push_str(&text);
        Ok(())
    }

    fn end(&mut self) -> Result<()> {
        let mut text = std::mem::take(&mut self.text);
        if let Some(field) = self.path.current().and_then(|frame| frame.field) {
            self.apply(field, &text)?;
        }
        // The buffer goes back, emptied, for the next element's text.
        text.clear();
        self.text = text;
        self.path.pop();
        Ok(())
    }

    /// Sends the statement's account, once: when `Acct` closes, or before the first balance or
    /// entry, or at the statement's end if the file has no `Acct` at all.
    fn announce(&mut self) {
        if let Some(statement) = &mut self.statement
            && !statement.announced
        {
            statement.announced = true;
            (self.sink)(Event::Statement(std::mem::take(&mut statement.account)));
        }
    }

    fn apply(&mut self, field: Field, text: &str) -> Result<()> {
        match field {
            Field::StatementEnd => {
                self.announce();
                self.statement = None;
                return Ok(());
            }
            Field::AccountEnd => {
                self.announce();
                return Ok(());
            }
            Field::BalanceEnd => return self.finish_balance(),
            Field::EntryEnd => return self.finish_entry(),
            _ => {}
        }
        let Some(statement) = &mut self.statement else { return Ok(()) };
        let path = &self.path;
        let account = &mut statement.account;
        match field {
            // Read only for entries without dates: an unreadable one is no reason to refuse the file.
            Field::StatementCreated => statement.created = date_part(text.trim()),
            Field::StatementPeriodEnd => statement.period_end = date_part(text.trim()),
            Field::AccountIban => set(&mut account.iban, text),
            Field::AccountNumber => set(&mut account.number, text),
            Field::AccountCurrency => set(&mut account.currency, text),
            Field::AccountName => set(&mut account.name, text),
            Field::AccountBic => set(&mut account.bic, text),
            Field::BalanceCode | Field::BalanceAmount | Field::BalanceSide | Field::BalanceDate => {
                if let Some(balance) = &mut statement.balance {
                    apply_balance(balance, field, text, self.currency.take(), path)?;
                }
            }
            _ => {
                if let Some(entry) = &mut statement.entry {
                    apply_entry(entry, field, text, self.currency.take(), path)?;
                }
            }
        }
        Ok(())
    }

    fn finish_balance(&mut self) -> Result<()> {
        let Some(draft) = self.statement.as_mut().and_then(|s| s.balance.take()) else { return Ok(()) };
        let kind = match draft.code.as_deref() {
            Some("OPBD" | "PRCD") => BalanceKind::Opening,
            Some("CLBD") => BalanceKind::Closing,
            Some("CLAV") => BalanceKind::Available,
            Some("ITBD") => BalanceKind::Interim,
            _ => return Ok(()),
        };
        let Some((amount, currency)) = draft.amount else { return Err(self.path.error("balance without Amt")) };
        let side = match draft.side {
            Some(side) => side,
            // The side of nothing does not matter.
            None if amount.is_zero() => Side::Credit,
            // Banks that leave it out (in camt.053.001.08 exports) mean a positive balance: a debit
            // balance is the exception the indicator exists to flag.
            None => {
                self.warn("balance without CdtDbtInd", format!("CRDT: a credit balance of {amount}"));
                Side::Credit
            }
        };
        (self.sink)(Event::Balance(Balance { kind, amount: signed(amount, side), currency, date: draft.date }));
        Ok(())
    }

    fn finish_entry(&mut self) -> Result<()> {
        let Some(statement) = self.statement.as_mut() else { return Ok(()) };
        let Some(mut draft) = statement.entry.take() else { return Ok(()) };
        if draft.booking.is_none()
            && draft.value.is_none()
            && !draft.is_information()
            && let Some((date, source)) = statement.date()
        {
            draft.booking = Some(date);
            self.warn("entry with neither BookgDt nor ValDt", format!("booked on {date}, the statement's {source}"));
        }
        for entry in entries(draft, &self.path)? {
            (self.sink)(Event::Entry(entry));
        }
        Ok(())
    }

    /// Reports a deviation at the element being closed.
    fn warn(&mut self, what: &str, assumed: String) {
        (self.sink)(Event::Warning(Warning::new(self.path.location(), what, assumed)));
    }

    fn finish(self) -> Result<()> {
        if let Some(frame) = self.path.current() {
            return Err(self.path.error(format!("the file ends inside <{}>", frame.name())));
        }
        if !self.seen_root {
            return Err(Error::new(Format::Camt, "file", "no XML element: not a camt document"));
        }
        Ok(())
    }

    fn xml_error(&self, error: &quick_xml::Error, exceeded: bool, position: u64) -> Error {
        if exceeded {
            return self.path.error(format!("text or tag longer than {MAX_TEXT} bytes"));
        }
        match error {
            quick_xml::Error::Io(e) => self.path.error(format!("reading: {e}")),
            other => self.path.error(format!("not well-formed XML at byte {position}: {other}")),
        }
    }
}

fn too_large() -> String {
    format!("entry details larger than {MAX_ENTRY_BYTES} bytes")
}

fn apply_balance(
    balance: &mut BalanceDraft,
    field: Field,
    text: &str,
    currency: Option<String>,
    path: &Path,
) -> Result<()> {
    match field {
        Field::BalanceCode => set(&mut balance.code, text),
        Field::BalanceAmount => balance.amount = Some((amount(path, text)?, currency)),
        Field::BalanceSide => balance.side = Some(side(path, text)?),
        Field::BalanceDate => balance.date = Some(date(path, text)?),
        _ => {}
    }
    Ok(())
}

fn apply_entry(entry: &mut EntryDraft, field: Field, text: &str, currency: Option<String>, path: &Path) -> Result<()> {
    match field {
        Field::EntryAmount => entry.amount = Some((amount(path, text)?, currency)),
        Field::EntrySide => entry.side = Some(side(path, text)?),
        Field::EntryReversal => entry.reversal = boolean(path, text)?,
        Field::EntryStatus => set(&mut entry.status, text),
        Field::EntryBooking => entry.booking = Some(date(path, text)?),
        Field::EntryValue => entry.value = Some(date(path, text)?),
        Field::EntryServicerRef => set(&mut entry.servicer_ref, text),
        Field::EntryRef => set(&mut entry.entry_ref, text),
        Field::EntryInfo => set(&mut entry.info, text),
        Field::EntryCode(part) => {
            if let Some(text) = value(text) {
                entry.code.set(part, text);
            }
        }
        Field::Detail(field) => {
            if !entry.hold(text.len()) {
                return Err(path.error(too_large()));
            }
            if let Some(detail) = entry.details.last_mut() {
                apply_detail(detail, field, text, currency, path)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn apply_detail(
    detail: &mut Detail,
    field: DetailField,
    text: &str,
    currency: Option<String>,
    path: &Path,
) -> Result<()> {
    match field {
        DetailField::Amount => detail.amount = Some((amount(path, text)?, currency)),
        DetailField::TransactionAmount => detail.transaction_amount = Some((amount(path, text)?, currency)),
        DetailField::Side => detail.side = Some(side(path, text)?),
        DetailField::ServicerRef => set(&mut detail.servicer_ref, text),
        DetailField::EndToEnd => set(&mut detail.end_to_end, text),
        DetailField::Unstructured => {
            if let Some(line) = value(text) {
                match &mut detail.unstructured {
                    Some(lines) => {
                        lines.push(' ');
                        lines.push_str(&line);
                    }
                    None => detail.unstructured = Some(line),
                }
            }
        }
        DetailField::CreditorReference => set(&mut detail.creditor_reference, text),
        DetailField::Info => set(&mut detail.info, text),
        DetailField::Creditor => set(&mut detail.creditor, text),
        DetailField::Debtor => set(&mut detail.debtor, text),
        DetailField::CreditorAccount => set(&mut detail.creditor_account, text),
        DetailField::DebtorAccount => set(&mut detail.debtor_account, text),
        DetailField::Code(part) => {
            if let Some(text) = value(text) {
                detail.code.set(part, text);
            }
        }
    }
    Ok(())
}

/// The entries one `Ntry` stands for: none (`INFO`), one, or one per detail of a batch that
/// adds up.
fn entries(mut draft: EntryDraft, path: &Path) -> Result<Vec<Entry>> {
    let Some((amount, currency)) = draft.amount.take() else { return Err(path.error("entry without Amt")) };
    let Some(side) = draft.side else { return Err(path.error("entry without CdtDbtInd")) };
    let status = |code: &str| draft.status.as_deref().is_some_and(|status| status.eq_ignore_ascii_case(code));
    if draft.is_information() {
        return Ok(Vec::new());
    }
    let Some(booking_date) = draft.booking.or(draft.value) else {
        return Err(path.error("entry with neither BookgDt nor ValDt"));
    };
    let total = signed(amount, side);
    let base = Entry {
        booking_date,
        value_date: draft.value,
        amount: total,
        currency,
        pending: status("PDNG") || status("FUTR"),
        kind: draft.code.text(),
        ..Entry::default()
    };
    Ok(match split(&draft, total, base.currency.as_deref(), side) {
        Some(parts) => batch_entries(&draft, &base, &parts),
        None => vec![whole_entry(&draft, base, side)],
    })
}

/// Each detail's signed amount and side, when the details of a batch add up to the entry.
fn split(draft: &EntryDraft, total: Decimal, currency: Option<&str>, side: Side) -> Option<Vec<(Decimal, Side)>> {
    if draft.details.len() < 2 {
        return None;
    }
    let mut parts = Vec::with_capacity(draft.details.len());
    let mut sum = Decimal::ZERO;
    for detail in &draft.details {
        let side = detail.side.unwrap_or(side);
        let amount = signed(detail.amount_in(currency)?, side);
        sum = sum.checked_add(amount)?;
        parts.push((amount, side));
    }
    (sum == total).then_some(parts)
}

/// One entry per detail, each with a reference unique within the batch.
fn batch_entries(draft: &EntryDraft, base: &Entry, parts: &[(Decimal, Side)]) -> Vec<Entry> {
    let own = draft.own_reference();
    let mut servicer_refs: HashMap<&str, usize> = HashMap::new();
    let mut end_to_ends: HashMap<&str, usize> = HashMap::new();
    for detail in &draft.details {
        if let Some(reference) = &detail.servicer_ref {
            *servicer_refs.entry(reference).or_default() += 1;
        }
        if let Some(reference) = detail.end_to_end_id() {
            *end_to_ends.entry(reference).or_default() += 1;
        }
    }
    let unique = |counts: &HashMap<&str, usize>, reference: &String| {
        counts.get(reference.as_str()) == Some(&1) && Some(reference) != own
    };
    draft
        .details
        .iter()
        .zip(parts)
        .enumerate()
        .map(|(index, (detail, &(amount, side)))| {
            // Banks often copy the entry's AcctSvcrRef into every detail: then it names the
            // batch, not the detail, and the index has to tell them apart.
            let reference = match (&detail.servicer_ref, own) {
                (Some(reference), _) if unique(&servicer_refs, reference) => Some(reference.clone()),
                (_, Some(own)) => Some(format!("{own}/{}", index + 1)),
                _ => detail.end_to_end_id().filter(|id| unique(&end_to_ends, id)).cloned(),
            };
            let (payee, account) = detail.party(original_side(side, draft.reversal));
            Entry {
                amount,
                wording: detail.wording().or(draft.info.as_ref()).cloned().unwrap_or_default(),
                payee: payee.cloned(),
                counterparty_account: account.cloned(),
                reference,
                kind: detail.code.text().or_else(|| base.kind.clone()),
                ..base.clone()
            }
        })
        .collect()
}

/// The `Ntry` as one entry: with one detail, that detail describes it; with several (a batch
/// that does not add up), the entry's own information comes first.
fn whole_entry(draft: &EntryDraft, base: Entry, side: Side) -> Entry {
    let first = draft.details.first();
    let detail_wording = first.and_then(Detail::wording);
    let wording = if draft.details.len() > 1 {
        draft.info.as_ref().or(detail_wording)
    } else {
        detail_wording.or(draft.info.as_ref())
    };
    let side = original_side(side, draft.reversal);
    let reference = draft
        .own_reference()
        .or_else(|| first.and_then(|detail| detail.servicer_ref.as_ref().or(detail.end_to_end_id())))
        .cloned();
    Entry {
        wording: wording.cloned().unwrap_or_default(),
        payee: common(&draft.details, |detail| detail.party(side).0),
        counterparty_account: common(&draft.details, |detail| detail.party(side).1),
        reference,
        ..base
    }
}

/// The value every detail agrees on (none when there is no detail or they differ).
fn common<'d>(details: &'d [Detail], get: impl Fn(&'d Detail) -> Option<&'d String>) -> Option<String> {
    let mut values = details.iter().map(get);
    let first = values.next()??;
    values.all(|value| value == Some(first)).then(|| first.clone())
}

/// Trimmed, and `None` when blank.
fn value(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Keeps the first non-blank value: a field that repeats (a second `Strd`) does not overwrite.
fn set(slot: &mut Option<String>, text: &str) {
    if slot.is_none() {
        *slot = value(text);
    }
}

/// At most 40 characters of a bad value, for an error message.
fn shown(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// An ISO 20022 amount: digits with an optional fraction, never signed (the side is apart).
fn amount(path: &Path, text: &str) -> Result<Decimal> {
    let trimmed = text.trim();
    let (units, fraction) = trimmed.split_once('.').unwrap_or((trimmed, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if digits(units)
        && digits(fraction)
        && let Ok(amount) = Decimal::from_str(trimmed)
    {
        return Ok(amount);
    }
    Err(path.error(format!("not an amount: '{}'", shown(text))))
}

fn side(path: &Path, text: &str) -> Result<Side> {
    match text.trim() {
        "CRDT" => Ok(Side::Credit),
        "DBIT" => Ok(Side::Debit),
        other => Err(path.error(format!("CdtDbtInd is CRDT or DBIT, not '{}'", shown(other)))),
    }
}

/// xs:boolean.
fn boolean(path: &Path, text: &str) -> Result<bool> {
    match text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(path.error(format!("not a boolean: '{}'", shown(other)))),
    }
}

fn date(path: &Path, text: &str) -> Result<NaiveDate> {
    date_part(text.trim()).ok_or_else(|| path.error(format!("not a date or date-time: '{}'", shown(text))))
}

/// The date of an xs:date (`2023-10-04`, maybe with a zone) or xs:dateTime
/// (`2023-10-04T09:30:47.123456789+02:00`, with or without fraction and zone), as written.
fn date_part(text: &str) -> Option<NaiveDate> {
    let (day, rest) = (text.get(..10)?, text.get(10..)?);
    let shape = day.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !shape {
        return None;
    }
    // The shape is checked: reading the numbers directly is several times faster than strftime.
    let number = |range: std::ops::Range<usize>| day.get(range)?.parse::<u32>().ok();
    let date = NaiveDate::from_ymd_opt(i32::try_from(number(0..4)?).ok()?, number(5..7)?, number(8..10)?)?;
    let valid = match rest.strip_prefix('T') {
        Some(time) => {
            let (clock, zone) = split_zone(time);
            zone_valid(zone) && NaiveTime::parse_from_str(clock, "%H:%M:%S%.f").is_ok()
        }
        None => zone_valid(rest),
    };
    valid.then_some(date)
}

/// `09:30:47.1+02:00` → (`09:30:47.1`, `+02:00`).
fn split_zone(time: &str) -> (&str, &str) {
    match time.find(['Z', '+', '-']) {
        Some(at) => (time.get(..at).unwrap_or(time), time.get(at..).unwrap_or("")),
        None => (time, ""),
    }
}

/// Nothing, `Z`, or `±hh:mm`.
fn zone_valid(zone: &str) -> bool {
    if zone.is_empty() || zone == "Z" {
        return true;
    }
    let bytes = zone.as_bytes();
    matches!(bytes, [b'+' | b'-', h1, h2, b':', m1, m2] if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_date_times_give_their_date_as_written() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(date_part("2014-12-31"), day(2014, 12, 31));
        assert_eq!(date_part("2014-12-31+01:00"), day(2014, 12, 31));
        assert_eq!(date_part("2023-10-04T09:30:47.123456789+02:00"), day(2023, 10, 4));
        assert_eq!(date_part("2023-10-04T23:30:00-05:00"), day(2023, 10, 4));
        assert_eq!(date_part("2025-07-23T00:00:00.000000000"), day(2025, 7, 23));
        assert_eq!(date_part("2007-10-18T10:15:00Z"), day(2007, 10, 18));
        for bad in
            ["2014-13-01", "2014-12-31T25:00:00", "2014-12-31 10:00:00", "31.12.2014", "2014-12-31T10:00:00+1", ""]
        {
            assert_eq!(date_part(bad), None, "{bad}");
        }
    }

    #[test]
    fn amounts_are_unsigned_decimals() {
        let path = Path::default();
        assert_eq!(amount(&path, " 8.85 ").unwrap().to_string(), "8.85");
        assert_eq!(amount(&path, "200000").unwrap().to_string(), "200000");
        assert_eq!(amount(&path, "5442.09000").unwrap().to_string(), "5442.09000");
        for bad in ["-1", "1,50", "1e5", ".5", "5.", "", "1.2.3", "99999999999999999999999999999999"] {
            assert!(amount(&path, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_read_by_their_local_spelling() {
        assert_eq!(Name::of(b"TxDtls"), Name::TxDtls);
        assert_eq!(Name::of(b"BICFI"), Name::BICFI);
        assert_eq!(Name::of(b"txdtls"), Name::Other);
        assert_eq!(Name::of(b"Foo"), Name::Other);
    }

    #[test]
    fn paths_count_repeated_elements() {
        let mut path = Path::default();
        for name in ["Document", "BkToCstmrStmt", "Stmt"] {
            path.push(name.as_bytes()).unwrap();
        }
        path.pop();
        for name in ["Stmt", "Ntry"] {
            path.push(name.as_bytes()).unwrap();
        }
        path.pop();
        for name in ["Ntry", "Amt"] {
            path.push(name.as_bytes()).unwrap();
        }
        assert_eq!(path.location(), "Document/BkToCstmrStmt/Stmt[2]/Ntry[2]/Amt");
    }
}
