//! The FinTS syntax ("Formals", chapter B): a message is a run of segments, each ended by `'`; a
//! segment is data elements separated by `+`; a data element group's elements are separated by
//! `:`. `?` escapes the next character (`?'`, `?+`, `?:`, `??`, `?@`), and `@n@` opens `n` bytes of
//! binary data that are copied as they are. Text is ISO-8859-1.
//!
//! The syntax does not say how groups nest (a group inside a group is just more `:` items), so a
//! data element is read as a flat list of items; the segment layouts say which item means what.
//! No crate speaks this syntax; it is small enough to write here.

use std::fmt;

/// One item of a data element: text, or binary data (`@n@…`).
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Binary(Vec<u8>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(text) => write!(f, "{text:?}"),
            Value::Binary(bytes) => write!(f, "@{}@", bytes.len()),
        }
    }
}

/// A data element or a data element group: its items, `:`-separated on the wire. An absent
/// element is one empty text item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element(pub Vec<Value>);

impl Element {
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Element {
        Element(vec![Value::Binary(bytes.into())])
    }

    /// The text of item `index`; `None` when absent, empty or binary.
    pub fn text(&self, index: usize) -> Option<&str> {
        match self.0.get(index) {
            Some(Value::Text(text)) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    /// Every item from `start`, as text (binary items read as empty).
    pub fn texts_from(&self, start: usize) -> Vec<&str> {
        let items = self.0.iter().skip(start);
        items.map(|v| if let Value::Text(t) = v { t.as_str() } else { "" }).collect()
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|v| matches!(v, Value::Text(t) if t.is_empty()))
    }
}

impl From<&str> for Element {
    fn from(text: &str) -> Element {
        Element(vec![Value::Text(text.to_owned())])
    }
}

impl From<String> for Element {
    fn from(text: String) -> Element {
        Element(vec![Value::Text(text)])
    }
}

impl<const N: usize> From<[&str; N]> for Element {
    fn from(items: [&str; N]) -> Element {
        Element(items.iter().map(|t| Value::Text((*t).to_owned())).collect())
    }
}

impl From<Vec<String>> for Element {
    fn from(items: Vec<String>) -> Element {
        Element(items.into_iter().map(Value::Text).collect())
    }
}

/// One segment: its header (`kind:number:version[:reference]`) and data elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// `HKIDN`, `HIRMS`, …
    pub kind: String,
    /// Its position in the message, from 1.
    pub number: u32,
    pub version: u32,
    /// In an answer: the number of the request's segment it answers.
    pub reference: Option<u32>,
    /// The data elements after the header.
    pub elements: Vec<Element>,
}

impl Segment {
    /// A segment to send; [`crate::message`] numbers it.
    pub fn new(kind: &str, version: u32) -> Segment {
        Segment { kind: kind.to_owned(), number: 0, version, reference: None, elements: Vec::new() }
    }

    /// Appends a data element.
    pub fn push(mut self, element: impl Into<Element>) -> Segment {
        self.elements.push(element.into());
        self
    }

    /// Answers the request's segment `number`.
    pub fn answering(mut self, number: u32) -> Segment {
        self.reference = Some(number);
        self
    }

    /// Data element `index` (from 0, after the header).
    pub fn element(&self, index: usize) -> Option<&Element> {
        self.elements.get(index)
    }

    /// The text of item `item` of data element `index`.
    pub fn text(&self, index: usize, item: usize) -> Option<&str> {
        self.element(index)?.text(item)
    }

    /// The binary data of data element `index` (its first item).
    pub fn binary(&self, index: usize) -> Option<&[u8]> {
        match self.element(index)?.0.first() {
            Some(Value::Binary(bytes)) => Some(bytes),
            _ => None,
        }
    }

    /// The segment on the wire, `'` included. Trailing empty items and elements are left out, as
    /// the syntax allows.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_text(out, &self.kind);
        out.extend_from_slice(format!(":{}:{}", self.number, self.version).as_bytes());
        if let Some(reference) = self.reference {
            out.extend_from_slice(format!(":{reference}").as_bytes());
        }
        let used = self.elements.iter().rposition(|e| !e.is_empty()).map_or(0, |last| last + 1);
        for element in &self.elements[..used] {
            out.push(b'+');
            let items = &element.0;
            let used = items.iter().rposition(|v| !matches!(v, Value::Text(t) if t.is_empty())).map_or(0, |i| i + 1);
            for (i, value) in items[..used].iter().enumerate() {
                if i > 0 {
                    out.push(b':');
                }
                match value {
                    Value::Text(text) => write_text(out, text),
                    Value::Binary(bytes) => {
                        out.extend_from_slice(format!("@{}@", bytes.len()).as_bytes());
                        out.extend_from_slice(bytes);
                    }
                }
            }
        }
        out.push(b'\'');
    }
}

/// Text as ISO-8859-1 with the syntax characters escaped. A character ISO-8859-1 lacks becomes `_`:
/// what must arrive unchanged (a PIN) is checked first with [`is_latin1`].
fn write_text(out: &mut Vec<u8>, text: &str) {
    for c in text.chars() {
        let byte = u8::try_from(u32::from(c)).unwrap_or(b'_');
        if matches!(byte, b'?' | b'\'' | b'+' | b':' | b'@') {
            out.push(b'?');
        }
        out.push(byte);
    }
}

/// Text that ISO-8859-1 can carry (a PIN, a name) — what [`Segment::encode`] sends unchanged.
pub fn is_latin1(text: &str) -> bool {
    text.chars().all(|c| u32::from(c) <= 0xFF)
}

/// What is wrong with a message, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("FinTS syntax error at byte {offset}: {why}")]
pub struct SyntaxError {
    pub offset: usize,
    pub why: String,
}

/// Reads the segments of `bytes`; a message that does not end with a complete segment is refused.
pub fn decode(bytes: &[u8]) -> Result<Vec<Segment>, SyntaxError> {
    let mut reader = Reader { bytes, at: 0 };
    let mut segments = Vec::new();
    while reader.at < bytes.len() {
        // Line breaks between segments are not FinTS, but some servers add them.
        if matches!(bytes[reader.at], b'\r' | b'\n') {
            reader.at += 1;
            continue;
        }
        segments.push(reader.segment()?);
    }
    Ok(segments)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// What ended an item.
#[derive(PartialEq)]
enum End {
    Item,
    Element,
    Segment,
}

impl Reader<'_> {
    fn error(&self, why: impl Into<String>) -> SyntaxError {
        SyntaxError { offset: self.at, why: why.into() }
    }

    fn segment(&mut self) -> Result<Segment, SyntaxError> {
        let start = self.at;
        let mut elements = Vec::new();
        let mut element = Element::default();
        loop {
            let (value, end) = self.item()?;
            element.0.push(value);
            if end != End::Item {
                elements.push(std::mem::take(&mut element));
            }
            if end == End::Segment {
                break;
            }
        }
        let mut elements = elements.into_iter();
        let header = elements.next().unwrap_or_default();
        let number = |i: usize| header.text(i).and_then(|t| t.parse::<u32>().ok());
        let (Some(kind), Some(number_), Some(version)) = (header.text(0), number(1), number(2)) else {
            return Err(SyntaxError { offset: start, why: "a segment header is not `kind:number:version`".into() });
        };
        Ok(Segment {
            kind: kind.to_owned(),
            number: number_,
            version,
            reference: number(3),
            elements: elements.collect(),
        })
    }

    /// One item and the separator after it.
    fn item(&mut self) -> Result<(Value, End), SyntaxError> {
        let value = if self.bytes.get(self.at) == Some(&b'@') { self.binary()? } else { self.text()? };
        let end = match self.bytes.get(self.at) {
            Some(b':') => End::Item,
            Some(b'+') => End::Element,
            Some(b'\'') => End::Segment,
            Some(other) => return Err(self.error(format!("`{}` after binary data", char::from(*other)))),
            None => return Err(self.error("the message ends inside a segment")),
        };
        self.at += 1;
        Ok((value, end))
    }

    fn text(&mut self) -> Result<Value, SyntaxError> {
        let mut text = String::new();
        while let Some(&byte) = self.bytes.get(self.at) {
            match byte {
                b':' | b'+' | b'\'' => break,
                b'?' => {
                    let Some(&escaped) = self.bytes.get(self.at + 1) else {
                        return Err(self.error("`?` escapes nothing at the end"));
                    };
                    text.push(char::from(escaped));
                    self.at += 2;
                }
                _ => {
                    text.push(char::from(byte));
                    self.at += 1;
                }
            }
        }
        Ok(Value::Text(text))
    }

    fn binary(&mut self) -> Result<Value, SyntaxError> {
        let digits_start = self.at + 1;
        let digits_len = self.bytes[digits_start..].iter().take_while(|b| b.is_ascii_digit()).count();
        let digits_end = digits_start + digits_len;
        if digits_len == 0 || self.bytes.get(digits_end) != Some(&b'@') {
            return Err(self.error("`@` does not open binary data as `@length@`"));
        }
        let length: usize = std::str::from_utf8(&self.bytes[digits_start..digits_end])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| self.error("binary length out of range"))?;
        let data_start = digits_end + 1;
        let Some(data) = data_start.checked_add(length).and_then(|end| self.bytes.get(data_start..end)) else {
            return Err(self.error(format!("binary data of {length} bytes runs past the message's end")));
        };
        self.at = data_start + length;
        Ok(Value::Binary(data.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(segment: &Segment) -> Vec<u8> {
        let mut out = Vec::new();
        segment.encode(&mut out);
        out
    }

    #[test]
    fn escapes_survive_a_round_trip() {
        let text = "Miete 5?+6: 'Mai' @home ü";
        let segment = Segment::new("HKTST", 1).push(text).push(["a:b", "c+d"]);
        let bytes = encoded(&segment);
        assert_eq!(bytes, b"HKTST:0:1+Miete 5???+6?: ?'Mai?' ?@home \xFC+a?:b:c?+d'".to_vec());
        assert_eq!(decode(&bytes).unwrap(), vec![segment]);
    }

    #[test]
    fn binary_data_is_copied_as_is() {
        // MT940 text full of the syntax's own characters, and a length that ends on a quote.
        let mt940 = b":20:STARTUMS\r\n:86:166?00GUTSCHR?20Miete'\r\n+:x@";
        let wire = [b"HIKAZ:5:7:3+@".as_slice(), mt940.len().to_string().as_bytes(), b"@", mt940, b"'"].concat();
        let segments = decode(&wire).unwrap();
        assert_eq!((segments[0].kind.as_str(), segments[0].reference), ("HIKAZ", Some(3)));
        assert_eq!(segments[0].binary(0), Some(mt940.as_slice()));
        assert_eq!(encoded(&segments[0]), wire);
    }

    #[test]
    fn groups_of_binaries_and_empty_items_keep_their_places() {
        let wire = b"HICAZ:4:1:3+DE02:BIC:::280:12345678+urn:x+@2@<a:@1@b+@0@'";
        let segment = &decode(wire).unwrap()[0];
        assert_eq!(segment.text(0, 0), Some("DE02"));
        assert_eq!(segment.text(0, 2), None, "an empty item");
        assert_eq!(segment.text(0, 5), Some("12345678"));
        assert_eq!(segment.element(2).unwrap().0, vec![Value::Binary(b"<a".to_vec()), Value::Binary(b"b".to_vec())]);
        assert_eq!(segment.binary(3), Some(b"".as_slice()));
    }

    #[test]
    fn trailing_empty_elements_are_left_out() {
        let segment = Segment::new("HKTAN", 6).push("2").push("").push(["", ""]).push("ref").push("").push(["N", ""]);
        assert_eq!(encoded(&segment), b"HKTAN:0:6+2+++ref++N'".to_vec());
    }

    #[test]
    fn broken_messages_are_refused_with_the_place() {
        let cases: [(&[u8], &str); 5] = [
            (b"HNHBK:1:3+00", "the message ends inside a segment"),
            (b"HIKAZ:1:7+@10@short'", "binary data of 10 bytes runs past the message's end"),
            (b"HIKAZ:1:7+@x@'", "`@` does not open binary data as `@length@`"),
            (b"HIKAZ:1:7+@1@ab'", "`b` after binary data"),
            (b"HIRMG+0010'", "a segment header is not `kind:number:version`"),
        ];
        for (wire, why) in cases {
            assert_eq!(decode(wire).unwrap_err().why, why, "{}", String::from_utf8_lossy(wire));
        }
        assert_eq!(decode(b"X:1:1+a?").unwrap_err().why, "`?` escapes nothing at the end");
    }

    #[test]
    fn latin1_is_read_byte_for_character() {
        let segment = &decode(b"HIRMS:3:2:2+0020::Auftrag ausgef\xFChrt.'\r\n").unwrap()[0];
        assert_eq!(segment.text(0, 2), Some("Auftrag ausgeführt."));
        assert!(is_latin1("Grüße") && !is_latin1("€"));
    }
}
