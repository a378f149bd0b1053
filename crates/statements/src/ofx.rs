//! OFX statements: OFX 1.x (SGML), OFX 2.x (XML) and Quicken's QFX (OFX with `INTU.*` tags).
//!
//! # What is read
//!
//! - Bank statements (`BANKMSGSRSV1/STMTTRNRS/STMTRS`) and credit card statements
//!   (`CREDITCARDMSGSRSV1/CCSTMTTRNRS/CCSTMTRS`, `Account::card`), as many as the file holds, in
//!   as many message sets. Each is an [`Event::Statement`] reported when its account aggregate
//!   (`BANKACCTFROM`, `CCACCTFROM`) closes: `CURDEF` comes before it, the transactions after it. A
//!   statement without one is reported before its first entry or balance, or when it closes.
//! - Each `STMTTRN` is an [`Event::Entry`] when it closes; pending transactions (OFX 2.2's
//!   `BANKTRANLISTP/STMTTRNP`) are pending entries. `LEDGERBAL` is a closing balance and `AVAILBAL`
//!   an available one, each reported when it closes.
//! - Everything else is skipped: the sign-on, investment statements (`INVSTMTMSGSRSV1`, cash
//!   `STMTTRN`s included: they move a brokerage account this model does not describe), closing
//!   statement information, bill payment and any unknown message set, vendor tags (QFX's `INTU.BID`).
//!
//! # How the fields are mapped, where OFX leaves a choice
//!
//! - Account: `ACCTID` is the IBAN when it is a valid one (European banks put it there), else
//!   `number`. `BANKID` (a US routing number, a French bank code) and `BRANCHID` have no place in
//!   the model, except that a `BANKID` that is a BIC is `bic`.
//! - Dates: the calendar date of `YYYYMMDD[HHMMSS[.XXX]][[±H[:TZ]]]` as written. The time and zone are
//!   checked, not applied: `20240311220045[-5:EST]` is 11 March, the day the bank shows, though it is
//!   12 March in UTC.
//! - `DTPOSTED` is the booking date and `DTAVAIL` (when the funds are available) the value date.
//!   `DTUSER` (when the customer paid, say by card) is not a value date and is left out.
//! - Amounts are signed (OFX signs statement amounts from the customer's side), with a decimal point
//!   or comma, as the specification allows (`-12,30`); thousands separators are refused, not guessed.
//! - Wording: `NAME` (or `EXTDNAME`, its longer form, or else `PAYEE/NAME`), a space, then `MEMO`;
//!   only the longer when one begins with the other, as banks cut `NAME` at 32 characters and repeat
//!   the whole in `MEMO`. A check with neither reads `CHECK <CHECKNUM>`. The payee is `PAYEE/NAME`,
//!   else the name.
//! - Currency: a `CURRENCY/CURSYM` in the transaction, else the statement's `CURDEF`, which OFX makes
//!   the currency of every amount not otherwise marked. `ORIGCURRENCY` is ignored on purpose: it says
//!   the amount was *converted* to `CURDEF` from that currency.
//! - `FITID` is the reference; a pending transaction has none. `CORRECTFITID` corrections are
//!   reported as plain entries: the model cannot replace or delete an earlier one.
//!
//! # Syntax
//!
//! The tokenizer is hand-written, one for both syntaxes, because OFX 1.x is SGML whose elements
//! (leaves) have no end tag — `<TRNAMT>-12.30<FITID>42` — which no XML parser accepts, and OFX 2.x is
//! the same tree with end tags. It reads bytes, bounded ([`MAX_TEXT`] per text, [`MAX_DEPTH`] open
//! aggregates), so that a single-line file of any size streams; only the values used are decoded.
//!
//! - A tag followed by text is an element: the text up to the next tag (trimmed, line breaks made
//!   spaces, then `&amp;`-style entities decoded; `&nbsp;` is a space) is its value, and an end tag
//!   right after it is its optional end. A tag followed by another tag is an aggregate, unless it is a
//!   known element left empty (`<MEMO>` with nothing). A `<` that begins no tag is text.
//! - OFX requires aggregates to be closed, but some exporters (Mercury) close none: opening an
//!   aggregate whose place is known (`STMTTRN` in `BANKTRANLIST`, `LEDGERBAL` in `STMTRS`, …) closes
//!   whatever is still open inside its parent, as SGML's omitted end tags do. An end tag closes what
//!   is open inside its aggregate too; one for nothing open is ignored.
//! - Truncation: a file ending inside a `STMTTRN` is an error. A file that closes its aggregates must
//!   also close everything but (forgivably) `</OFX>`; one that closes none simply ends.
//! - Charset: an OFX 1.x header's `ENCODING:UTF-8` (or `CHARSET:UTF-8`), or an XML declaration's
//!   UTF-8, is held to: invalid UTF-8 is an error. `CHARSET:1252`/`ISO-8859-1` and undeclared files
//!   are read as UTF-8 where valid, else Windows-1252 ([`Charset::Auto`]): exporters writing UTF-8
//!   under a 1.x header copied with its `CHARSET:1252` are common, while accented Windows-1252 text
//!   is practically never valid UTF-8.

use std::borrow::Cow;
use std::io::BufRead;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::limits::{MAX_DEPTH, MAX_TEXT};
use crate::text::Charset;
use crate::{Account, Balance, BalanceKind, Entry, Error, Event, Format, Result};

/// The longest tag name (OFX's are under 20 bytes, QFX's `INTU.*` hardly more).
const MAX_NAME: usize = 64;
/// The most text before the first tag: an OFX 1.x header is nine short lines. More is not OFX.
const MAX_HEADER: usize = 4096;

/// Reads an OFX or QFX file, reporting each statement, balance and entry to `sink` as it is read.
pub fn parse<R: BufRead>(input: R, sink: &mut dyn FnMut(Event)) -> Result<()> {
    let mut scanner = Scanner { input, line: 1 };
    let (charset, root) = read_prolog(&mut scanner)?;
    let mut tree = Tree { scanner, stack: vec![root], ahead: None, unwind: None, closes: false };
    let mut statements = Statements { charset, sink, statement: None, entry: None, balance: None };
    while let Some(node) = tree.next()? {
        statements.node(node, &tree.stack)?;
    }
    Ok(())
}

fn error(line: usize, reason: impl Into<String>) -> Error {
    Error::at_line(Format::Ofx, line, reason)
}

// ---------------------------------------------------------------------------------------------
// Bytes to tags.

/// The text before a tag, and the tag.
struct Piece {
    /// Raw bytes, undecoded: most texts are whitespace between aggregates or values never used.
    text: Vec<u8>,
    tag: Tag,
    /// The line of the tag's `<`.
    line: usize,
}

enum Tag {
    /// `<NAME>`, or `<NAME/>` (`empty`). Names are upper-cased.
    Open {
        name: String,
        empty: bool,
    },
    Close(String),
    /// `<?xml ...?>`, `<?OFX ...?>`: what is between `<?` and `?>`.
    Instruction(Vec<u8>),
    Eof,
}

/// Splits bytes into texts and tags, counting lines, holding no more than one text at once.
struct Scanner<R> {
    input: R,
    /// The line of the next byte (1-based).
    line: usize,
}

impl<R: BufRead> Scanner<R> {
    fn buffer(&mut self) -> Result<&[u8]> {
        // Retried when interrupted; the second call returns what the first filled (returning from
        // inside the loop would hold the borrow across iterations).
        loop {
            match self.input.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(error(self.line, format!("reading: {e}"))),
            }
        }
        self.input.fill_buf().map_err(|e| error(self.line, format!("reading: {e}")))
    }

    fn peek(&mut self) -> Result<Option<u8>> {
        Ok(self.buffer()?.first().copied())
    }

    /// Consumes `byte`, which `peek` just returned.
    fn bump(&mut self, byte: u8) {
        if byte == b'\n' {
            self.line += 1;
        }
        self.input.consume(1);
    }

    fn next_byte(&mut self) -> Result<Option<u8>> {
        let byte = self.peek()?;
        if let Some(byte) = byte {
            self.bump(byte);
        }
        Ok(byte)
    }

    /// Appends the bytes up to the next `<` or the end to `text`; false, having read a part, when
    /// `text` would grow beyond `limit`.
    fn read_text(&mut self, text: &mut Vec<u8>, limit: usize) -> Result<bool> {
        loop {
            let buffer = self.buffer()?;
            let (taken, found) = match buffer.iter().position(|b| *b == b'<') {
                Some(end) => (end, true),
                None => (buffer.len(), false),
            };
            if text.len() + taken > limit {
                return Ok(false);
            }
            let chunk = buffer.get(..taken).unwrap_or_default();
            text.extend_from_slice(chunk);
            let newlines = chunk.iter().filter(|b| **b == b'\n').count();
            self.line += newlines;
            self.input.consume(taken);
            if found || taken == 0 {
                return Ok(true);
            }
        }
    }

    /// The next text and tag, failing on a text longer than [`MAX_TEXT`].
    fn next(&mut self) -> Result<Piece> {
        let line = self.line;
        self.next_within(MAX_TEXT)?.ok_or_else(|| error(line, format!("text longer than {MAX_TEXT} bytes")))
    }

    /// The next text and tag; `None` when the text is longer than `limit`.
    fn next_within(&mut self, limit: usize) -> Result<Option<Piece>> {
        let mut text = Vec::new();
        loop {
            if !self.read_text(&mut text, limit)? {
                return Ok(None);
            }
            let line = self.line;
            if self.next_byte()?.is_none() {
                return Ok(Some(Piece { text, tag: Tag::Eof, line }));
            }
            // After `<`.
            let tag = match self.peek()? {
                Some(b'/') => {
                    self.bump(b'/');
                    let name = self.name(line)?;
                    if name.is_empty() {
                        return Err(error(line, "an end tag without a name"));
                    }
                    self.tag_end(line, &name)?;
                    Tag::Close(name)
                }
                Some(b'?') => {
                    self.bump(b'?');
                    Tag::Instruction(self.read_until(b"?>", line, "<?")?)
                }
                Some(b'!') => {
                    self.bump(b'!');
                    self.declaration(&mut text, limit, line)?;
                    continue;
                }
                Some(first) if first.is_ascii_alphabetic() => {
                    let name = self.name(line)?;
                    match self.peek()? {
                        Some(b'>' | b'/') => {
                            let empty = self.tag_end(line, &name)?;
                            Tag::Open { name, empty }
                        }
                        Some(space) if space.is_ascii_whitespace() => {
                            let empty = self.tag_end(line, &name)?;
                            Tag::Open { name, empty }
                        }
                        // `<B&` or `<3`: a `<` in SGML text, not a tag.
                        _ => {
                            text.push(b'<');
                            text.extend_from_slice(name.as_bytes());
                            continue;
                        }
                    }
                }
                _ => {
                    text.push(b'<');
                    continue;
                }
            };
            return Ok(Some(Piece { text, tag, line }));
        }
    }

    /// A tag name, upper-cased (OFX's are upper-case; tolerance costs nothing).
    fn name(&mut self, line: usize) -> Result<String> {
        let mut name = String::new();
        while let Some(byte) = self.peek()? {
            if !(byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-' | b':')) {
                break;
            }
            if name.len() == MAX_NAME {
                return Err(error(line, format!("a tag name longer than {MAX_NAME} bytes")));
            }
            name.push(char::from(byte.to_ascii_uppercase()));
            self.bump(byte);
        }
        Ok(name)
    }

    /// Skips what is left of a tag up to `>` (XML attributes, which OFX does not use); whether it
    /// ended with `/>`.
    fn tag_end(&mut self, line: usize, name: &str) -> Result<bool> {
        let mut last = b' ';
        for _ in 0..MAX_TEXT {
            match self.next_byte()? {
                Some(b'>') => return Ok(last == b'/'),
                Some(b'<') | None => break,
                Some(byte) if !byte.is_ascii_whitespace() => last = byte,
                Some(_) => {}
            }
        }
        Err(error(line, format!("the tag <{name} is not closed by '>'")))
    }

    /// The bytes up to `end` (consumed, not returned), at most [`MAX_TEXT`] of them.
    fn read_until(&mut self, end: &[u8], line: usize, what: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        while let Some(byte) = self.next_byte()? {
            bytes.push(byte);
            if bytes.ends_with(end) {
                bytes.truncate(bytes.len() - end.len());
                return Ok(bytes);
            }
            if bytes.len() > MAX_TEXT {
                return Err(error(line, format!("{what} longer than {MAX_TEXT} bytes")));
            }
        }
        Err(error(line, format!("{what} not closed before the end of the file")))
    }

    /// Skips the bytes up to `end`, however many, holding none.
    fn skip_until(&mut self, end: &[u8], line: usize, what: &str) -> Result<()> {
        let mut window = Vec::with_capacity(end.len());
        while let Some(byte) = self.next_byte()? {
            if window.len() == end.len() {
                window.remove(0);
            }
            window.push(byte);
            if window == end {
                return Ok(());
            }
        }
        Err(error(line, format!("{what} not closed before the end of the file")))
    }

    /// After `<!`: a comment or a `DOCTYPE`, skipped, or a CDATA section, whose text is appended to
    /// `text` with `&` and `<` escaped, as the entities are decoded later with the rest.
    fn declaration(&mut self, text: &mut Vec<u8>, limit: usize, line: usize) -> Result<()> {
        match self.peek()? {
            Some(b'-') => self.skip_until(b"-->", line, "a comment"),
            Some(b'[') => {
                self.bump(b'[');
                // `<![CDATA[`; any other marked section (`<![IGNORE[`) is skipped whole.
                if !self.read_until(b"[", line, "<![")?.eq_ignore_ascii_case(b"CDATA") {
                    return self.skip_until(b"]]>", line, "<![");
                }
                for byte in self.read_until(b"]]>", line, "a CDATA section")? {
                    match byte {
                        b'&' => text.extend_from_slice(b"&amp;"),
                        b'<' => text.extend_from_slice(b"&lt;"),
                        _ => text.push(byte),
                    }
                }
                if text.len() > limit {
                    return Err(error(line, format!("text longer than {MAX_TEXT} bytes")));
                }
                Ok(())
            }
            _ => self.skip_until(b">", line, "<!"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What comes before `<OFX>`.

/// Reads up to and including `<OFX>`: an OFX 1.x header (`OFXHEADER:100`, `KEY:VALUE`s), or the
/// XML declaration and `<?OFX ...?>` of OFX 2.x, or nothing. The charset they declare, and `<OFX>`.
fn read_prolog<R: BufRead>(scanner: &mut Scanner<R>) -> Result<(Charset, Frame)> {
    let not_ofx = |line| error(line, "not an OFX file: it begins with neither an OFXHEADER header nor <OFX>");
    let mut charset = Charset::Auto;
    let mut first = true;
    loop {
        let start = scanner.line;
        let piece = scanner.next_within(MAX_HEADER)?.ok_or_else(|| not_ofx(start))?;
        let text = match first {
            true => piece.text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&piece.text),
            false => &piece.text,
        };
        if !is_blank(text) {
            match first.then(|| header_charset(text)).flatten() {
                Some(declared) => charset = declared,
                None => return Err(not_ofx(start)),
            }
        }
        match piece.tag {
            Tag::Instruction(body) => {
                if let Some(label) = xml_encoding(&body) {
                    charset = declared_charset(&label);
                }
            }
            Tag::Open { name, .. } if name == "OFX" => return Ok((charset, Frame { name, line: piece.line })),
            Tag::Open { name, .. } | Tag::Close(name) => {
                return Err(error(piece.line, format!("not an OFX file: <{name}> where <OFX> was expected")));
            }
            Tag::Eof => return Err(error(piece.line, "not an OFX file: there is no <OFX> element")),
        }
        first = false;
    }
}

/// The charset of an OFX 1.x header, `None` when `text` is not one. `ENCODING:UTF-8` wins over
/// `CHARSET`, which OFX 1.6 leaves at `NONE` with it.
fn header_charset(text: &[u8]) -> Option<Charset> {
    let text = String::from_utf8_lossy(text);
    // `KEY:VALUE` on lines, or on one line, and `KEY: VALUE` from lax exporters.
    let mut fields: Vec<String> = Vec::new();
    for word in text.split_ascii_whitespace() {
        match fields.last_mut() {
            Some(last) if last.ends_with(':') => last.push_str(word),
            _ => fields.push(word.to_owned()),
        }
    }
    let value = |key: &str| {
        fields.iter().find_map(|field| field.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(key)).map(|f| f.1))
    };
    let starts = fields.first().and_then(|field| field.split_once(':')).map(|f| f.0);
    if !starts.is_some_and(|key| key.eq_ignore_ascii_case("OFXHEADER")) {
        return None;
    }
    Some(match (value("ENCODING"), value("CHARSET")) {
        (Some(encoding), _) if Charset::from_label(encoding) == Charset::Utf8 => Charset::Utf8,
        (_, Some(charset)) => declared_charset(charset),
        (_, None) => Charset::Auto,
    })
}

/// How a declared charset is read: UTF-8 strictly, anything else as [`Charset::Auto`] (see the
/// module documentation: Windows-1252 declarations are too often copied boilerplate to trust).
fn declared_charset(label: &str) -> Charset {
    match Charset::from_label(label) {
        Charset::Utf8 => Charset::Utf8,
        Charset::Windows1252 | Charset::Auto => Charset::Auto,
    }
}

/// `encoding="..."` of an `<?xml ...?>` declaration.
fn xml_encoding(body: &[u8]) -> Option<String> {
    let body = String::from_utf8_lossy(body);
    let rest = body.strip_prefix("xml")?;
    let (_, after) = rest.split_once("encoding")?;
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let (value, _) = after.get(1..)?.split_once(quote)?;
    Some(value.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Tags to a tree: which tag is an element, which an aggregate, and where unclosed ones end.

/// An open aggregate.
struct Frame {
    name: String,
    /// The line of its opening tag.
    line: usize,
}

/// What the tree reports. `stack` (the open aggregates) then includes an `Open`'s aggregate, no
/// longer a `Close`'s, and ends with a `Leaf`'s parent.
enum Node {
    Open {
        name: String,
        line: usize,
    },
    Close {
        name: String,
    },
    /// An element and its raw value (empty when the element is).
    Leaf {
        name: String,
        value: Vec<u8>,
        line: usize,
    },
}

/// Aggregates to close, innermost first, until `depth` are left open; then `then`.
struct Unwind {
    depth: usize,
    then: Option<(Frame, bool)>,
}

struct Tree<R> {
    scanner: Scanner<R>,
    stack: Vec<Frame>,
    /// The tag read after an element's value to see whether it was its end tag, when it was not.
    ahead: Option<Piece>,
    unwind: Option<Unwind>,
    /// The file has closed an aggregate with an end tag: it is expected to close them all.
    closes: bool,
}

impl<R: BufRead> Tree<R> {
    /// The next node; `None` once `<OFX>` is closed, or at the end of a file that never closes.
    fn next(&mut self) -> Result<Option<Node>> {
        loop {
            if let Some(unwind) = &self.unwind {
                if self.stack.len() > unwind.depth
                    && let Some(frame) = self.stack.pop()
                {
                    return Ok(Some(Node::Close { name: frame.name }));
                }
                if let Some((frame, empty)) = self.unwind.take().and_then(|unwind| unwind.then) {
                    return self.push(frame, empty).map(Some);
                }
            }
            if self.stack.is_empty() {
                // `</OFX>`: what follows, if anything, is not read.
                return Ok(None);
            }
            let piece = match self.ahead.take() {
                Some(piece) => piece,
                None => self.scanner.next()?,
            };
            match piece.tag {
                Tag::Open { name, empty } => {
                    if let Some(node) = self.open(name, empty, piece.line)? {
                        return Ok(Some(node));
                    }
                }
                Tag::Close(name) => {
                    // An end tag for nothing open: that of an aggregate the rules closed already.
                    if let Some(index) = self.stack.iter().rposition(|frame| frame.name == name) {
                        self.closes = true;
                        self.unwind = Some(Unwind { depth: index, then: None });
                    }
                }
                Tag::Instruction(_) => {}
                Tag::Eof => self.end()?,
            }
        }
    }

    /// An opening tag: an aggregate's, or an element's, read with its value.
    fn open(&mut self, name: String, empty: bool, line: usize) -> Result<Option<Node>> {
        let known = parents(&name).is_some();
        if empty {
            return match known {
                true => self.aggregate(Frame { name, line }, true),
                false => Ok(Some(Node::Leaf { name, value: Vec::new(), line })),
            };
        }
        let next = self.scanner.next()?;
        let closes_itself = matches!(&next.tag, Tag::Close(end) if *end == name);
        // Text makes an element even of a known aggregate's tag: `<CURRENCY>EUR` is written too.
        if !is_blank(&next.text) || closes_itself && !known {
            if !closes_itself {
                self.ahead = Some(Piece { text: Vec::new(), tag: next.tag, line: next.line });
            }
            return Ok(Some(Node::Leaf { name, value: next.text, line }));
        }
        let followed_by_tag = matches!(next.tag, Tag::Open { .. });
        self.ahead = Some(Piece { text: Vec::new(), tag: next.tag, line: next.line });
        if known {
            self.aggregate(Frame { name, line }, false)
        } else if is_element(&name) || !followed_by_tag {
            Ok(Some(Node::Leaf { name, value: Vec::new(), line }))
        } else {
            // An aggregate this parser does not know (`STATUS`, `FI`, a vendor's).
            self.push(Frame { name, line }, false).map(Some)
        }
    }

    /// Opens an aggregate of known place, first closing what is still open inside the nearest
    /// aggregate it may sit in, if one is open.
    fn aggregate(&mut self, frame: Frame, empty: bool) -> Result<Option<Node>> {
        let parents = parents(&frame.name).unwrap_or_default();
        let depth = match self.stack.iter().rposition(|open| parents.contains(&open.name.as_str())) {
            Some(parent) => parent + 1,
            None => self.stack.len(),
        };
        if depth < self.stack.len() {
            self.unwind = Some(Unwind { depth, then: Some((frame, empty)) });
            return Ok(None);
        }
        self.push(frame, empty).map(Some)
    }

    fn push(&mut self, frame: Frame, empty: bool) -> Result<Node> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(error(frame.line, format!("aggregates nested deeper than {MAX_DEPTH}")));
        }
        let node = Node::Open { name: frame.name.clone(), line: frame.line };
        self.stack.push(frame);
        if empty {
            self.unwind = Some(Unwind { depth: self.stack.len() - 1, then: None });
        }
        Ok(node)
    }

    /// The end of the file: closes what is open, unless the file is cut short.
    fn end(&mut self) -> Result<()> {
        let transaction = self.stack.iter().rev().find(|frame| matches!(frame.name.as_str(), "STMTTRN" | "STMTTRNP"));
        if let Some(frame) = transaction {
            return Err(error(frame.line, format!("the file ends inside this {}: it is truncated", frame.name)));
        }
        // A missing `</OFX>` alone loses nothing; anything else open in a file that closes its
        // aggregates means the file was cut.
        if let (true, Some(open)) = (self.closes && self.stack.len() > 1, self.stack.last()) {
            let reason =
                format!("the file ends before </{}> (opened at line {}): it is truncated", open.name, open.line);
            return Err(error(self.scanner.line, reason));
        }
        self.unwind = Some(Unwind { depth: 0, then: None });
        Ok(())
    }
}

/// The aggregates whose place the parser knows, and the aggregates each may sit in: opening one
/// closes what is still open inside the nearest of those. `None` for anything else.
fn parents(name: &str) -> Option<&'static [&'static str]> {
    const STATEMENTS: &[&str] = &["STMTRS", "CCSTMTRS"];
    const TRANSACTIONS: &[&str] = &["STMTTRN", "STMTTRNP"];
    Some(match name {
        "SONRS" => &["SIGNONMSGSRSV1"],
        "STMTTRNRS" => &["BANKMSGSRSV1"],
        "CCSTMTTRNRS" => &["CREDITCARDMSGSRSV1"],
        "STMTRS" => &["STMTTRNRS"],
        "CCSTMTRS" => &["CCSTMTTRNRS"],
        "BANKACCTFROM" => &["STMTRS"],
        "CCACCTFROM" => &["CCSTMTRS"],
        "BANKTRANLIST" | "BANKTRANLISTP" | "LEDGERBAL" | "AVAILBAL" | "BALLIST" => STATEMENTS,
        "STMTTRN" => &["BANKTRANLIST", "INVBANKTRAN"],
        "STMTTRNP" => &["BANKTRANLISTP"],
        "PAYEE" | "BANKACCTTO" | "CCACCTTO" | "ORIGCURRENCY" | "IMAGEDATA" | "LOANPMTINFO" => TRANSACTIONS,
        "CURRENCY" => &["STMTTRN", "STMTTRNP", "BAL"],
        "BAL" => &["BALLIST"],
        _ if name.ends_with("MSGSRSV1") => &["OFX"],
        _ => return None,
    })
}

/// Elements (leaves) that stay elements when empty: without this, an empty `<MEMO>` in SGML would
/// pass for an aggregate holding the transaction's remaining elements. Those read, and their
/// commonest neighbours.
const ELEMENTS: &[&str] = &[
    "TRNTYPE",
    "DTPOSTED",
    "DTUSER",
    "DTAVAIL",
    "DTTRAN",
    "DTEXPIRE",
    "TRNAMT",
    "FITID",
    "CORRECTFITID",
    "CORRECTACTION",
    "SRVRTID",
    "CHECKNUM",
    "REFNUM",
    "SIC",
    "PAYEEID",
    "NAME",
    "EXTDNAME",
    "MEMO",
    "INV401KSOURCE",
    "CURSYM",
    "CURRATE",
    "CURDEF",
    "BANKID",
    "BRANCHID",
    "ACCTID",
    "ACCTTYPE",
    "ACCTKEY",
    "BALAMT",
    "DTASOF",
    "DTSTART",
    "DTEND",
    "CODE",
    "SEVERITY",
    "MESSAGE",
    "DTSERVER",
    "LANGUAGE",
    "TRNUID",
    "ADDR1",
    "ADDR2",
    "ADDR3",
    "CITY",
    "STATE",
    "POSTALCODE",
    "COUNTRY",
    "PHONE",
];

fn is_element(name: &str) -> bool {
    ELEMENTS.contains(&name) || name.starts_with("INTU.")
}

fn is_blank(text: &[u8]) -> bool {
    text.iter().all(u8::is_ascii_whitespace)
}

// ---------------------------------------------------------------------------------------------
// The tree to events.

/// The statement being read.
struct Statement {
    card: bool,
    currency: Option<String>,
    bank_id: Option<String>,
    account_id: Option<String>,
    /// Its `Event::Statement` has been reported.
    reported: bool,
}

impl Statement {
    fn account(&self) -> Account {
        let id = self.account_id.clone();
        let (iban, number) = match id.as_deref().and_then(iban) {
            Some(iban) => (Some(iban), None),
            None => (None, id),
        };
        let bic = self.bank_id.clone().filter(|id| is_bic(id));
        Account { iban, number, bic, currency: self.currency.clone(), name: None, card: self.card }
    }
}

/// A `STMTTRN` (or `STMTTRNP`) being read.
#[derive(Default)]
struct Transaction {
    line: usize,
    pending: bool,
    kind: Option<String>,
    booked: Option<NaiveDate>,
    available: Option<NaiveDate>,
    amount: Option<Decimal>,
    currency: Option<String>,
    name: Option<String>,
    extended_name: Option<String>,
    payee: Option<String>,
    memo: Option<String>,
    fitid: Option<String>,
    check: Option<String>,
    counterparty: Option<String>,
}

impl Transaction {
    fn finish(self, currency: Option<&str>) -> Result<Entry> {
        let (what, date) = if self.pending { ("STMTTRNP", "DTTRAN") } else { ("STMTTRN", "DTPOSTED") };
        let booking_date = self.booked.ok_or_else(|| error(self.line, format!("a {what} without {date}")))?;
        let amount = self.amount.ok_or_else(|| error(self.line, format!("a {what} without TRNAMT")))?;
        let name = self.extended_name.or(self.name);
        let mut wording = wording(name.as_deref().or(self.payee.as_deref()), self.memo.as_deref());
        if let (true, Some(check)) = (wording.is_empty(), &self.check) {
            wording = format!("CHECK {check}");
        }
        Ok(Entry {
            booking_date,
            value_date: self.available,
            amount,
            currency: self.currency.or_else(|| currency.map(str::to_owned)),
            wording,
            payee: self.payee.or(name),
            counterparty_account: self.counterparty,
            reference: self.fitid,
            pending: self.pending,
            kind: self.kind,
        })
    }
}

/// `NAME MEMO`, or only the longer when one begins with the other: banks cut `NAME` at 32
/// characters and repeat the whole text in `MEMO` (`Coinbase.com` / `Coinbase.com; X7H22ZYU`).
fn wording(name: Option<&str>, memo: Option<&str>) -> String {
    match (name, memo) {
        (Some(name), Some(memo)) => {
            let (lower_name, lower_memo) = (name.to_lowercase(), memo.to_lowercase());
            if lower_memo.starts_with(&lower_name) {
                memo.to_owned()
            } else if lower_name.starts_with(&lower_memo) {
                name.to_owned()
            } else {
                format!("{name} {memo}")
            }
        }
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => String::new(),
    }
}

/// A `LEDGERBAL` or `AVAILBAL` being read.
struct BalanceDraft {
    kind: BalanceKind,
    line: usize,
    amount: Option<Decimal>,
    date: Option<NaiveDate>,
}

struct Statements<'s> {
    charset: Charset,
    sink: &'s mut dyn FnMut(Event),
    statement: Option<Statement>,
    entry: Option<Transaction>,
    balance: Option<BalanceDraft>,
}

/// The name of the aggregate `up` levels above the top of `stack`; "" above the root.
fn above(stack: &[Frame], up: usize) -> &str {
    stack.len().checked_sub(up + 1).and_then(|index| stack.get(index)).map_or("", |frame| frame.name.as_str())
}

fn is_statement(name: &str) -> bool {
    matches!(name, "STMTRS" | "CCSTMTRS")
}

impl Statements<'_> {
    fn node(&mut self, node: Node, stack: &[Frame]) -> Result<()> {
        match node {
            Node::Open { name, line } => self.open(&name, line, stack),
            Node::Leaf { name, value, line } => self.leaf(&name, &value, line, stack)?,
            Node::Close { name } => self.close(&name, stack)?,
        }
        Ok(())
    }

    fn open(&mut self, name: &str, line: usize, stack: &[Frame]) {
        let in_statement = self.statement.is_some();
        match name {
            "STMTRS" if above(stack, 1) == "STMTTRNRS" && above(stack, 2) == "BANKMSGSRSV1" => {
                self.statement = Some(Statement::new(false));
            }
            "CCSTMTRS" if above(stack, 1) == "CCSTMTTRNRS" && above(stack, 2) == "CREDITCARDMSGSRSV1" => {
                self.statement = Some(Statement::new(true));
            }
            "STMTTRN" | "STMTTRNP" if in_statement && is_statement(above(stack, 2)) => {
                let pending = name == "STMTTRNP";
                let list = if pending { "BANKTRANLISTP" } else { "BANKTRANLIST" };
                if above(stack, 1) == list {
                    self.entry = Some(Transaction { line, pending, ..Transaction::default() });
                }
            }
            "LEDGERBAL" | "AVAILBAL" if in_statement && is_statement(above(stack, 1)) => {
                let kind = if name == "LEDGERBAL" { BalanceKind::Closing } else { BalanceKind::Available };
                self.balance = Some(BalanceDraft { kind, line, amount: None, date: None });
            }
            _ => {}
        }
    }

    fn leaf(&mut self, name: &str, raw: &[u8], line: usize, stack: &[Frame]) -> Result<()> {
        let charset = self.charset;
        let text = || decode(charset, raw, line);
        let parent = above(stack, 0);
        if let Some(entry) = &mut self.entry {
            if matches!(parent, "STMTTRN" | "STMTTRNP") {
                match name {
                    "TRNTYPE" => entry.kind = text()?,
                    "DTPOSTED" if !entry.pending => entry.booked = date(name, text()?, line)?,
                    "DTTRAN" if entry.pending => entry.booked = date(name, text()?, line)?,
                    "DTAVAIL" => entry.available = date(name, text()?, line)?,
                    "TRNAMT" => entry.amount = amount(name, text()?, line)?,
                    "FITID" if !entry.pending => entry.fitid = text()?,
                    "NAME" => entry.name = text()?,
                    "EXTDNAME" => entry.extended_name = text()?,
                    "MEMO" => entry.memo = text()?,
                    "CHECKNUM" => entry.check = text()?,
                    // `CURRENCY` written as an element rather than holding `CURSYM`.
                    "CURRENCY" => entry.currency = text()?,
                    _ => {}
                }
            } else if matches!(above(stack, 1), "STMTTRN" | "STMTTRNP") {
                match (parent, name) {
                    ("PAYEE", "NAME") => entry.payee = text()?,
                    ("CURRENCY", "CURSYM") => entry.currency = text()?,
                    ("BANKACCTTO" | "CCACCTTO", "ACCTID") => entry.counterparty = text()?,
                    _ => {}
                }
            }
        } else if let Some(balance) = &mut self.balance {
            match (parent, name) {
                ("LEDGERBAL" | "AVAILBAL", "BALAMT") => balance.amount = amount(name, text()?, line)?,
                ("LEDGERBAL" | "AVAILBAL", "DTASOF") => balance.date = date(name, text()?, line)?,
                _ => {}
            }
        } else if let Some(statement) = &mut self.statement {
            let in_account = matches!(parent, "BANKACCTFROM" | "CCACCTFROM") && is_statement(above(stack, 1));
            match name {
                "CURDEF" if is_statement(parent) => statement.currency = text()?,
                "BANKID" if in_account => statement.bank_id = text()?,
                "ACCTID" if in_account => statement.account_id = text()?,
                _ => {}
            }
        }
        Ok(())
    }

    fn close(&mut self, name: &str, stack: &[Frame]) -> Result<()> {
        match name {
            "STMTTRN" | "STMTTRNP" => {
                if let Some(transaction) = self.entry.take() {
                    let currency = self.statement.as_ref().and_then(|statement| statement.currency.as_deref());
                    let entry = transaction.finish(currency)?;
                    self.report_statement();
                    (self.sink)(Event::Entry(entry));
                }
            }
            "LEDGERBAL" | "AVAILBAL" => {
                if let Some(draft) = self.balance.take() {
                    let amount = draft.amount.ok_or_else(|| error(draft.line, format!("a {name} without BALAMT")))?;
                    let currency = self.statement.as_ref().and_then(|statement| statement.currency.clone());
                    self.report_statement();
                    (self.sink)(Event::Balance(Balance { kind: draft.kind, amount, currency, date: draft.date }));
                }
            }
            "BANKACCTFROM" | "CCACCTFROM" if is_statement(above(stack, 0)) => self.report_statement(),
            "STMTRS" | "CCSTMTRS" => {
                self.report_statement();
                self.statement = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// Reports the statement being read, once.
    fn report_statement(&mut self) {
        if let Some(statement) = &mut self.statement
            && !statement.reported
        {
            statement.reported = true;
            (self.sink)(Event::Statement(statement.account()));
        }
    }
}

impl Statement {
    fn new(card: bool) -> Statement {
        Statement { card, currency: None, bank_id: None, account_id: None, reported: false }
    }
}

// ---------------------------------------------------------------------------------------------
// Values.

/// An element's value as text: decoded, trimmed, line breaks made spaces, entities decoded. `None`
/// when empty: an empty element says nothing.
fn decode(charset: Charset, raw: &[u8], line: usize) -> Result<Option<String>> {
    let text = charset.decode(raw).ok_or_else(|| error(line, "not valid UTF-8, as the file declares it is"))?;
    let mut value = String::with_capacity(text.len());
    for part in text.split(['\r', '\n']).map(str::trim).filter(|part| !part.is_empty()) {
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(part);
    }
    // After trimming: `&nbsp;` is how OFX keeps a leading or trailing space.
    Ok(Some(entities(&value).into_owned()).filter(|value| !value.is_empty()))
}

/// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` (a space) and `&#233;`/`&#xE9;` decoded; any
/// other `&`, as in SGML's unescaped `AT&T`, kept.
fn entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let decoded = from.get(1..).and_then(|after| {
            // A name is short: a `;` further away ends something else (`&T co;`).
            let end = after.bytes().take(10).position(|b| b == b';')?;
            let name = after.get(..end)?;
            Some((entity(name)?, name.len() + 2))
        });
        match decoded {
            Some((char, length)) => {
                out.push(char);
                rest = from.get(length..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = from.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// An OFX date's calendar date: `YYYYMMDD`, then optionally `HHMM`, `HHMMSS`, `.XXX`, `[-5:EST]`.
fn date(tag: &str, value: Option<String>, line: usize) -> Result<Option<NaiveDate>> {
    let Some(value) = value else { return Ok(None) };
    parse_date(&value).map(Some).ok_or_else(|| error(line, format!("{tag}: {value:?} is not an OFX date")))
}

fn parse_date(value: &str) -> Option<NaiveDate> {
    let (day, rest) = value.split_at_checked(8)?;
    let (time, zone) = match rest.split_once('[') {
        Some((time, zone)) => (time.trim_end(), Some(zone.strip_suffix(']')?)),
        None => (rest, None),
    };
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits(day) || !(clock.is_empty() || digits(clock) && clock.len() <= 6) || !digits(fraction) {
        return None;
    }
    if let Some(zone) = zone {
        // `[-5:EST]`, `[+1]`, `[0:GMT]`, `[-3.5]`: checked, not applied (see the module documentation).
        let offset = zone.split_once(':').map_or(zone, |(offset, _)| offset);
        let offset = offset.strip_prefix(['+', '-']).unwrap_or(offset);
        let (hours, minutes) = offset.split_once('.').unwrap_or((offset, "0"));
        if !digits(hours) || !digits(minutes) {
            return None;
        }
    }
    let year = day.get(0..4)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, day.get(4..6)?.parse().ok()?, day.get(6..8)?.parse().ok()?)
}

fn amount(tag: &str, value: Option<String>, line: usize) -> Result<Option<Decimal>> {
    let Some(value) = value else { return Ok(None) };
    parse_amount(&value).map(Some).ok_or_else(|| error(line, format!("{tag}: {value:?} is not an amount")))
}

/// A signed amount with a decimal point or comma (`-12.30`, `-12,30`, `+5`, `.5`). No thousands
/// separators (OFX forbids them): `1,234.56` is refused rather than guessed at.
fn parse_amount(value: &str) -> Option<Decimal> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let separators = digits.bytes().filter(|b| matches!(b, b'.' | b',')).count();
    let valid = digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b','));
    if !valid || separators > 1 || !digits.bytes().any(|b| b.is_ascii_digit()) || digits.len() > 32 {
        return None;
    }
    let (whole, fraction) = digits.split_once(['.', ',']).unwrap_or((digits, ""));
    let whole = if whole.is_empty() { "0" } else { whole };
    // The scale written is kept (`2500.0`), with no trailing point to trip the decimal parser.
    let amount = match fraction {
        "" => Decimal::from_str(whole),
        _ => Decimal::from_str(&format!("{whole}.{fraction}")),
    }
    .ok()?;
    Some(if negative { -amount } else { amount })
}

/// `id` as an IBAN (spaces removed, upper-cased) when it is a valid one: country, check digits
/// that verify (ISO 13616's mod 97), then up to 30 letters and digits.
fn iban(id: &str) -> Option<String> {
    let compact: String = id.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let bytes = compact.as_bytes();
    let (country, rest) = bytes.split_at_checked(2)?;
    let (check, account) = rest.split_at_checked(2)?;
    let shaped = country.iter().all(u8::is_ascii_uppercase)
        && check.iter().all(u8::is_ascii_digit)
        && (11..=30).contains(&account.len())
        && account.iter().all(u8::is_ascii_alphanumeric);
    if !shaped {
        return None;
    }
    let mut remainder = 0u32;
    for byte in account.iter().chain(country).chain(check) {
        remainder = match byte {
            b'0'..=b'9' => (remainder * 10 + u32::from(byte - b'0')) % 97,
            _ => (remainder * 100 + u32::from(byte - b'A') + 10) % 97,
        };
    }
    (remainder == 1).then_some(compact)
}

/// A BIC: bank (4 letters), country (2 letters), location (2), optionally a branch (3).
fn is_bic(id: &str) -> bool {
    let bytes = id.as_bytes();
    matches!(bytes.len(), 8 | 11)
        && bytes.iter().take(6).all(u8::is_ascii_uppercase)
        && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn events(input: &[u8]) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        parse(input, &mut |event| events.push(event))?;
        Ok(events)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn failure(input: &str) -> (String, String) {
        let err = events(input.as_bytes()).unwrap_err();
        assert_eq!(err.format, Format::Ofx);
        (err.location, err.reason)
    }

    /// A bank statement around `transactions`, SGML, one tag a line.
    fn sgml(transactions: &str) -> String {
        format!(
            "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX>\n<BANKMSGSRSV1>\n<STMTTRNRS>\n<STMTRS>\n\
             <CURDEF>EUR\n<BANKACCTFROM>\n<BANKID>1\n<ACCTID>2\n</BANKACCTFROM>\n<BANKTRANLIST>\n{transactions}\
             </BANKTRANLIST>\n</STMTRS>\n</STMTTRNRS>\n</BANKMSGSRSV1>\n</OFX>\n"
        )
    }

    #[test]
    fn dates_keep_the_day_as_written() {
        assert_eq!(parse_date("20240323"), Some(day(2024, 3, 23)));
        assert_eq!(parse_date("20240323000000[-3:GMT]"), Some(day(2024, 3, 23)));
        assert_eq!(parse_date("20240311220045.572[-5:EST]"), Some(day(2024, 3, 11)), "not moved to UTC");
        assert_eq!(parse_date("20260319000000.000[+0:UTC]"), Some(day(2026, 3, 19)));
        assert_eq!(parse_date("20240101120000[+1]"), Some(day(2024, 1, 1)));
        assert_eq!(parse_date("20240101120000 [0:GMT]"), Some(day(2024, 1, 1)));
        assert_eq!(parse_date("20240101120000[-3.5:NST]"), Some(day(2024, 1, 1)));
        assert_eq!(parse_date("200510291120"), Some(day(2005, 10, 29)), "HHMM without seconds");
        for bad in ["2024-03-23", "20240230", "2024032", "20240323T1200", "20240323[EST]", "20240323[-5", ""] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn amounts_take_a_point_or_a_comma() {
        assert_eq!(parse_amount("-12.30"), Some(dec!(-12.30)));
        assert_eq!(parse_amount("-12,30"), Some(dec!(-12.30)));
        assert_eq!(parse_amount("+5"), Some(dec!(5)));
        assert_eq!(parse_amount("2500.0"), Some(dec!(2500)));
        assert_eq!(parse_amount(".5"), Some(dec!(0.5)));
        assert_eq!(parse_amount("-7."), Some(dec!(-7)));
        for bad in ["", "-", ".", "1,234.56", "12 30", "1e3", "--1", "EUR 5", "99999999999999999999999999999999999"] {
            assert_eq!(parse_amount(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn entities_are_decoded_and_stray_ampersands_kept() {
        assert_eq!(entities("AT&amp;T &lt;b&gt; &quot;x&apos;"), "AT&T <b> \"x'");
        assert_eq!(entities("&nbsp;a&#233;&#xE9;"), " aéé");
        assert_eq!(entities("&amp;éééééé"), "&éééééé", "multi-byte text after an entity");
        assert_eq!(entities("AT&T & co; &bogus; &#xFFFFFFFF; &"), "AT&T & co; &bogus; &#xFFFFFFFF; &");
        assert_eq!(
            decode(Charset::Auto, b"  CAF\xC9\r\n  DE &amp; FLORE&nbsp;", 1).unwrap().unwrap(),
            "CAFÉ DE & FLORE "
        );
        assert_eq!(decode(Charset::Auto, b" \n ", 1).unwrap(), None);
    }

    #[test]
    fn ibans_and_bics_are_recognised() {
        assert_eq!(iban("DE89 3704 0044 0532 0130 00").as_deref(), Some("DE89370400440532013000"));
        assert_eq!(iban("fr7630006000011234567890189").as_deref(), Some("FR7630006000011234567890189"));
        assert_eq!(iban("DE88370400440532013000"), None, "wrong check digits");
        assert_eq!(iban("202497494038"), None);
        assert_eq!(iban("4111111111111111"), None);
        assert!(is_bic("DEUTDEFF") && is_bic("DEUTDEFF500"));
        assert!(!is_bic("121000248") && !is_bic("30004") && !is_bic("DEUTDEF"));
    }

    #[test]
    fn header_charsets() {
        assert_eq!(header_charset(b"OFXHEADER:100\nENCODING:USASCII\nCHARSET:1252\n"), Some(Charset::Auto));
        assert_eq!(header_charset(b"OFXHEADER:100\r\nENCODING:UTF-8\r\nCHARSET:NONE\r\n"), Some(Charset::Utf8));
        assert_eq!(header_charset(b"OFXHEADER: 100 ENCODING:USASCII CHARSET: UTF-8"), Some(Charset::Utf8));
        assert_eq!(header_charset(b"DATA:OFXSGML\nOFXHEADER:100"), None);
        assert_eq!(header_charset(b"Date;Amount\n"), None);
        assert_eq!(xml_encoding(b"xml version=\"1.0\" encoding='utf-8' standalone=\"no\"").as_deref(), Some("utf-8"));
        assert_eq!(xml_encoding(b"OFX OFXHEADER=\"200\""), None);
    }

    #[test]
    fn a_declared_utf8_file_must_be_utf8() {
        let input = sgml("<STMTTRN>\n<DTPOSTED>20240101\n<TRNAMT>1\n<NAME>CAF#\n</STMTTRN>\n")
            .replace("VERSION:102", "VERSION:102\nENCODING:UTF-8");
        // A lone Latin-1 `É`.
        let bytes: Vec<u8> = input.bytes().map(|b| if b == b'#' { 0xC9 } else { b }).collect();
        let err = events(&bytes).unwrap_err();
        assert_eq!(
            (err.location.as_str(), err.reason.as_str()),
            ("line 19", "not valid UTF-8, as the file declares it is")
        );
        let auto = input.replace("\nENCODING:UTF-8", "\nENCODING:USASCII\nCHARSET:1252");
        let bytes: Vec<u8> = auto.bytes().map(|b| if b == b'#' { 0xC9 } else { b }).collect();
        assert!(matches!(&events(&bytes).unwrap()[1], Event::Entry(entry) if entry.wording == "CAFÉ"));
    }

    #[test]
    fn a_statement_reads_its_account_entries_and_balances() {
        let input = sgml(
            "<STMTTRN><TRNTYPE>POS<DTPOSTED>20240102<DTUSER>20231231<DTAVAIL>20240103<TRNAMT>-4,5\
             <FITID>A1<NAME>BAKERY<MEMO>BREAD</STMTTRN>\n",
        )
        .replace("</BANKTRANLIST>", "</BANKTRANLIST><LEDGERBAL><BALAMT>10<DTASOF>20240131</LEDGERBAL>");
        let events = events(input.as_bytes()).unwrap();
        let account = Account { number: Some("2".into()), currency: Some("EUR".into()), ..Account::default() };
        let entry = Entry {
            booking_date: day(2024, 1, 2),
            value_date: Some(day(2024, 1, 3)),
            amount: dec!(-4.5),
            currency: Some("EUR".into()),
            wording: "BAKERY BREAD".into(),
            payee: Some("BAKERY".into()),
            reference: Some("A1".into()),
            kind: Some("POS".into()),
            ..Entry::default()
        };
        let balance = Balance {
            kind: BalanceKind::Closing,
            amount: dec!(10),
            currency: Some("EUR".into()),
            date: Some(day(2024, 1, 31)),
        };
        assert_eq!(events, [Event::Statement(account), Event::Entry(entry), Event::Balance(balance)]);
    }

    #[test]
    fn wordings_join_name_and_memo_unless_one_repeats_the_other() {
        assert_eq!(wording(Some("Best Buy"), Some("BESTBUY.COM")), "Best Buy BESTBUY.COM");
        assert_eq!(wording(Some("Figma"), Some("FIGMA ANNUAL RENEWAL")), "FIGMA ANNUAL RENEWAL", "any case");
        assert_eq!(wording(Some("Coinbase.com"), Some("Coinbase.com; X7H22ZYU")), "Coinbase.com; X7H22ZYU");
        assert_eq!(wording(Some("RING MULTI PLAN"), Some("RING MULTI PLAN")), "RING MULTI PLAN");
        assert_eq!(wording(Some("LONG NAME HERE"), Some("long")), "LONG NAME HERE");
        assert_eq!(wording(None, Some("memo")), "memo");
        assert_eq!(wording(None, None), "");
    }

    #[test]
    fn a_transaction_without_date_or_amount_is_an_error_at_its_line() {
        let missing_date = sgml("<STMTTRN>\n<TRNTYPE>DEBIT\n<TRNAMT>-1\n</STMTTRN>\n");
        assert_eq!(failure(&missing_date), ("line 15".into(), "a STMTTRN without DTPOSTED".into()));
        let missing_amount = sgml("<STMTTRN>\n<DTPOSTED>20240101\n<TRNAMT>\n</STMTTRN>\n");
        assert_eq!(failure(&missing_amount), ("line 15".into(), "a STMTTRN without TRNAMT".into()));
    }

    #[test]
    fn bad_values_are_errors_at_their_tag() {
        let bad_amount = sgml("<STMTTRN>\n<DTPOSTED>20240101\n<TRNAMT>1.234,5\n</STMTTRN>\n");
        assert_eq!(failure(&bad_amount), ("line 17".into(), "TRNAMT: \"1.234,5\" is not an amount".into()));
        let bad_date = sgml("<STMTTRN>\n<DTPOSTED>2024-01-01\n<TRNAMT>1\n</STMTTRN>\n");
        assert_eq!(failure(&bad_date), ("line 16".into(), "DTPOSTED: \"2024-01-01\" is not an OFX date".into()));
        let bad_balance = sgml("").replace("</BANKTRANLIST>", "</BANKTRANLIST><AVAILBAL><DTASOF>20240101</AVAILBAL>");
        assert_eq!(failure(&bad_balance), ("line 15".into(), "a AVAILBAL without BALAMT".into()));
    }

    #[test]
    fn what_is_not_ofx_is_refused() {
        let reason = "not an OFX file: it begins with neither an OFXHEADER header nor <OFX>";
        assert_eq!(failure("Date;Amount\n2024-01-01;5\n"), ("line 1".into(), reason.into()));
        assert_eq!(failure(&"x".repeat(MAX_HEADER + 1)), ("line 1".into(), reason.into()));
        assert_eq!(failure(""), ("line 1".into(), "not an OFX file: there is no <OFX> element".into()));
        assert_eq!(
            failure("<?xml version=\"1.0\"?>\n<Document>"),
            ("line 2".into(), "not an OFX file: <DOCUMENT> where <OFX> was expected".into())
        );
        assert_eq!(
            failure("OFXHEADER:100\n\n"),
            ("line 3".into(), "not an OFX file: there is no <OFX> element".into())
        );
    }

    #[test]
    fn a_truncated_file_is_an_error() {
        let full = sgml("<STMTTRN>\n<DTPOSTED>20240101\n<TRNAMT>1\n</STMTTRN>\n<STMTTRN>\n<DTPOSTED>20240102\n");
        let cut = full.split("</BANKTRANLIST>").next().unwrap();
        assert_eq!(failure(cut), ("line 19".into(), "the file ends inside this STMTTRN: it is truncated".into()));
        let cut = full.split("</STMTRS>").next().unwrap().replace("<STMTTRN>\n<DTPOSTED>20240102\n", "");
        assert_eq!(
            failure(&cut),
            ("line 20".into(), "the file ends before </STMTRS> (opened at line 8): it is truncated".into())
        );
        let no_end = sgml("").replace("</OFX>\n", "");
        assert_eq!(events(no_end.as_bytes()).unwrap().len(), 1, "a missing </OFX> alone is forgiven");
    }

    #[test]
    fn unclosed_aggregates_end_where_the_next_one_begins() {
        let input = "OFXHEADER:100\n<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<BANKMSGSRSV1><STMTTRNRS><STATUS>\
                     <CODE>0<STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>9<BANKTRANLIST><STMTTRN><DTPOSTED>20240101\
                     <TRNAMT>1<STMTTRN><DTPOSTED>20240102<TRNAMT>2<LEDGERBAL><BALAMT>3<DTASOF>20240103";
        let events = events(input.as_bytes()).unwrap();
        let amounts: Vec<_> = events
            .iter()
            .map(|event| match event {
                Event::Statement(account) => (0, account.number.clone().unwrap()),
                Event::Entry(entry) => (1, entry.amount.to_string()),
                Event::Balance(balance) => (2, balance.amount.to_string()),
                Event::Warning(warning) => (3, warning.what.clone()),
            })
            .collect();
        assert_eq!(amounts, [(0, "9".into()), (1, "1".into()), (1, "2".into()), (2, "3".into())]);
        let cut = input.split("<LEDGERBAL>").next().unwrap();
        assert_eq!(failure(cut), ("line 2".into(), "the file ends inside this STMTTRN: it is truncated".into()));
    }

    #[test]
    fn empty_elements_do_not_swallow_their_siblings() {
        let input = sgml("<STMTTRN>\n<MEMO>\n<SIC>\n<DTPOSTED>20240101\n<TRNAMT>7\n<NAME>X\n</STMTTRN>\n");
        let entries: Vec<_> = events(input.as_bytes())
            .unwrap()
            .into_iter()
            .filter_map(|event| if let Event::Entry(entry) = event { Some(entry) } else { None })
            .collect();
        // `SIC` is known; an unknown empty tag would be taken for an aggregate, and is the one
        // thing an SGML file cannot say unambiguously.
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].amount, entries[0].wording.as_str()), (dec!(7), "X"));
    }

    #[test]
    fn a_known_aggregate_tag_followed_by_text_is_an_element() {
        let input = sgml("<STMTTRN>\n<DTPOSTED>20240101\n<CURRENCY>CHF\n<TRNAMT>-8\n<MEMO>LUNCH\n</STMTTRN>\n");
        let events = events(input.as_bytes()).unwrap();
        let Some(Event::Entry(entry)) = events.get(1) else { panic!("{events:?}") };
        assert_eq!((entry.currency.as_deref(), entry.amount, entry.wording.as_str()), (Some("CHF"), dec!(-8), "LUNCH"));
    }

    #[test]
    fn xml_empty_elements_comments_cdata_and_stray_angle_brackets() {
        let input = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?OFX OFXHEADER=\"200\" VERSION=\"211\"?>\n\
                     <!-- exported --><!DOCTYPE OFX><![IGNORE[ <OFX> ]]><OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR</CURDEF>\
                     <BANKACCTFROM><ACCTID/></BANKACCTFROM><BANKTRANLIST><STMTTRN><DTPOSTED>20240101</DTPOSTED>\
                     <TRNAMT>1</TRNAMT><NAME><![CDATA[ A&B <1> ]]></NAME><MEMO>x < y <3 &lt;z</MEMO><PAYEEID></PAYEEID>\
                     </STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>trailing junk <";
        let events = events(input.as_bytes()).unwrap();
        let Some(Event::Statement(account)) = events.first() else { panic!("{events:?}") };
        assert_eq!((account.number.as_deref(), account.currency.as_deref()), (None, Some("EUR")));
        let Some(Event::Entry(entry)) = events.get(1) else { panic!("{events:?}") };
        assert_eq!(entry.wording, "A&B <1> x < y <3 <z");
    }

    #[test]
    fn hostile_input_is_bounded() {
        let deep = format!("<OFX>{}", "<A><B>".repeat(MAX_DEPTH));
        assert_eq!(failure(&deep).1, format!("aggregates nested deeper than {MAX_DEPTH}"));
        let long = format!("<OFX><MEMO>{}", "x".repeat(MAX_TEXT + 1));
        assert_eq!(failure(&long), ("line 1".into(), format!("text longer than {MAX_TEXT} bytes")));
        let name = format!("<OFX><{}>", "N".repeat(MAX_NAME + 1));
        assert_eq!(failure(&name).1, format!("a tag name longer than {MAX_NAME} bytes"));
        assert_eq!(failure("<OFX><MEMO x").1, "the tag <MEMO is not closed by '>'");
        assert_eq!(failure("<OFX><!-- never closed").1, "a comment not closed before the end of the file");
        // Odd but harmless: no events, no error, no panic.
        for input in ["<OFX>", "<OFX></OFX>", "<OFX/>", "<OFX></>", "<OFX><", "<OFX><![", "<OFX>&#;"] {
            let _ = events(input.as_bytes());
        }
    }
}
