//! Lines of a text format, bounded and decoded: UTF-8 with or without a BOM, or Windows-1252
//! (a superset of Latin-1, the other encoding banks write), with `\n`, `\r\n` or `\r\n`-less last
//! lines alike.

use std::io::BufRead;

use crate::limits::MAX_LINE;
use crate::{Error, Format, Result};

/// How the bytes of a file are to be read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8 where the line is valid UTF-8, else Windows-1252: files rarely say, and a Latin-1
    /// byte is almost never valid UTF-8.
    Auto,
    Utf8,
    Windows1252,
}

impl Charset {
    /// The charset an OFX header or XML declaration names (`1252`, `ISO-8859-1`, `UTF-8`, …).
    pub fn from_label(label: &str) -> Charset {
        match label.trim().to_ascii_uppercase().as_str() {
            "UTF-8" | "UTF8" | "CSUNICODE" | "UNICODE" => Charset::Utf8,
            "1252" | "WINDOWS-1252" | "CP1252" | "ISO-8859-1" | "ISO8859-1" | "LATIN1" | "LATIN-1" | "8859-1" => {
                Charset::Windows1252
            }
            _ => Charset::Auto,
        }
    }

    /// `bytes` as text.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        match (self, std::str::from_utf8(bytes)) {
            (Charset::Utf8 | Charset::Auto, Ok(text)) => Some(text.to_owned()),
            (Charset::Utf8, Err(_)) => None,
            (Charset::Windows1252 | Charset::Auto, _) => {
                Some(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned())
            }
        }
    }
}

/// Reads a text file line by line, never holding more than [`MAX_LINE`] bytes of one line.
pub struct Lines<R> {
    reader: R,
    format: Format,
    charset: Charset,
    /// Number of the line last returned (1-based).
    number: usize,
    buffer: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R, format: Format) -> Lines<R> {
        Lines { reader, format, charset: Charset::Auto, number: 0, buffer: Vec::new() }
    }

    pub fn set_charset(&mut self, charset: Charset) {
        self.charset = charset;
    }

    /// The number of the line last returned.
    pub fn number(&self) -> usize {
        self.number
    }

    /// An error at the line last returned.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::at_line(self.format, self.number.max(1), reason)
    }

    /// The next line, without its line end; `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<String>> {
        self.buffer.clear();
        let mut read_any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::at_line(self.format, self.number + 1, format!("reading: {e}"))),
            };
            if available.is_empty() {
                if !read_any {
                    return Ok(None);
                }
                break;
            }
            read_any = true;
            let (taken, done) = match available.iter().position(|b| *b == b'\n') {
                Some(end) => (end, true),
                None => (available.len(), false),
            };
            if self.buffer.len() + taken > MAX_LINE {
                return Err(Error::at_line(self.format, self.number + 1, format!("line longer than {MAX_LINE} bytes")));
            }
            self.buffer.extend_from_slice(&available[..taken]);
            self.reader.consume(if done { taken + 1 } else { taken });
            if done {
                break;
            }
        }
        self.number += 1;
        let mut bytes = self.buffer.as_slice();
        if self.number == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        match self.charset.decode(bytes) {
            Some(line) => Ok(Some(line)),
            None => Err(self.error("not valid UTF-8")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Result<Vec<String>> {
        let mut reader = Lines::new(bytes, Format::Mt940);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line()? {
            out.push(line);
        }
        Ok(out)
    }

    #[test]
    fn line_ends_bom_and_latin1_are_read() {
        assert_eq!(lines(b"\xEF\xBB\xBFa\r\nb\nc").unwrap(), ["a", "b", "c"]);
        assert_eq!(lines(b"caf\xE9 \xA4\n").unwrap(), ["café ¤"], "Windows-1252 when not UTF-8");
        assert_eq!(lines("café".as_bytes()).unwrap(), ["café"]);
        assert_eq!(lines(b"").unwrap(), Vec::<String>::new());
        assert_eq!(lines(b"\n\n").unwrap(), ["", ""]);
    }

    #[test]
    fn an_endless_line_is_refused_without_reading_it_all() {
        let long = vec![b'x'; MAX_LINE + 1];
        let err = lines(&long).unwrap_err();
        assert_eq!((err.location.as_str(), err.reason.as_str()), ("line 1", "line longer than 65536 bytes"));
    }

    #[test]
    fn declared_charsets() {
        assert_eq!(Charset::from_label("1252"), Charset::Windows1252);
        assert_eq!(Charset::from_label("ISO-8859-1"), Charset::Windows1252);
        assert_eq!(Charset::from_label("utf-8"), Charset::Utf8);
        assert_eq!(Charset::Utf8.decode(b"\xE9"), None);
    }
}
