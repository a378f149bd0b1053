//! Where a German bank's FinTS server is: the operator imports the FinTS institute list that
//! registered products receive (`bankd catalog import-fints FILE.csv`); bankd ships no copy of it.

use async_trait::async_trait;

/// The bank codes' FinTS PIN/TAN addresses.
#[async_trait]
pub trait Directory: Send + Sync {
    /// The PIN/TAN URL of the bank with this 8-digit bank code (BLZ), if the directory lists it.
    async fn fints_url(&self, bank_code: &str) -> Result<Option<String>, String>;
}

/// A directory that lists no bank (tests, and tools that build drivers without a store).
pub struct NoDirectory;

#[async_trait]
impl Directory for NoDirectory {
    async fn fints_url(&self, _bank_code: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
}

/// One bank of the FinTS institute list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institute {
    /// The 8-digit bank code (Bankleitzahl, BLZ).
    pub bank_code: String,
    pub bic: Option<String>,
    pub name: String,
    pub city: Option<String>,
    /// Where its FinTS server takes PIN/TAN messages.
    pub pintan_url: String,
    /// The FinTS version the list gives for that address (`FinTS V3.0`).
    pub fints_version: Option<String>,
}

/// What an institute list held: the banks reachable with PIN/TAN, and what was left out.
#[derive(Debug, Default)]
pub struct InstituteList {
    /// In the file's order; one per bank code.
    pub institutes: Vec<Institute>,
    /// Rows without a PIN/TAN URL (banks reachable only with HBCI keys or chip cards).
    pub without_pintan: usize,
    /// Rows whose bank code an earlier row had: the first one is kept.
    pub duplicates: usize,
    /// One line per row left out for another reason than a missing URL, with its line number.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListError {
    #[error("the file is empty")]
    Empty,
    #[error("the header (line 1) has no column {0:?}: is this the FinTS institute list?")]
    MissingColumn(&'static str),
    #[error("line {line}: {why}")]
    Line { line: u64, why: String },
}

/// The columns read, by the name the list gives them. The list has many more (HBCI addresses, the
/// security procedures, the date of the last change), which bankd does not need.
const BANK_CODE: &str = "BLZ";
const BIC: &str = "BIC";
const NAME: &str = "Institut";
const CITY: &str = "Ort";
const PINTAN_URL: &str = "PIN/TAN-Zugang URL";
const VERSION: &str = "Version";

/// Reads the FinTS institute list that the FinTS office hands registered products: semicolon
/// separated, a header row naming the columns, ISO-8859-1/Windows-1252 as published or UTF-8 (with
/// or without a BOM) once someone saved it again. Columns are found by name, whatever their order,
/// case, spacing, hyphens or umlauts; rows without a PIN/TAN URL are counted and left out. A bank
/// code that is not 8 digits refuses the whole file: it means the columns are not what they seem.
pub fn read_institute_list(bytes: &[u8]) -> Result<InstituteList, ListError> {
    // UTF-8 where the whole file is valid UTF-8: a Windows-1252 umlaut almost never is.
    let text = statements::text::Charset::Auto.decode(bytes).unwrap_or_default();
    // csv's own line numbers skip blank lines and count `\r\n` oddly: lines are counted here, on
    // `\n` alone, from the byte where each record starts.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).replace("\r\n", "\n");
    let mut lines = LineCounter { text: &text, byte: 0, line: 1 };
    let mut reader =
        csv::ReaderBuilder::new().delimiter(b';').has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(header) => header.map_err(|e| lines.error(&e))?,
        None => return Err(ListError::Empty),
    };
    let columns = Columns::find(&header)?;
    let mut list = InstituteList::default();
    let mut seen = std::collections::HashSet::new();
    for record in records {
        let record = record.map_err(|e| lines.error(&e))?;
        let line = lines.of(record.position());
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let cell = |index: Option<usize>| {
            index.and_then(|i| record.get(i)).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
        };
        let bank_code = cell(Some(columns.bank_code)).unwrap_or_default();
        if bank_code.len() != 8 || !bank_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ListError::Line { line, why: format!("bank code {bank_code:?} is not 8 digits") });
        }
        let Some(pintan_url) = cell(Some(columns.pintan_url)) else {
            list.without_pintan += 1;
            continue;
        };
        if !seen.insert(bank_code.clone()) {
            list.duplicates += 1;
            list.warnings.push(format!("line {line}: bank code {bank_code} listed again, the first entry is kept"));
            continue;
        }
        list.institutes.push(Institute {
            name: cell(Some(columns.name)).unwrap_or_else(|| bank_code.clone()),
            bank_code,
            bic: cell(columns.bic),
            city: cell(columns.city),
            pintan_url,
            fints_version: cell(columns.version),
        });
    }
    Ok(list)
}

/// The line numbers of records met in order, counted once through the text.
struct LineCounter<'a> {
    text: &'a str,
    /// Up to where `line` is counted.
    byte: usize,
    line: u64,
}

impl LineCounter<'_> {
    /// The line a record starting at `position` is on: csv starts a record right after the
    /// previous one's end, so the blank lines it skipped come first.
    fn of(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(start) = position.and_then(|p| usize::try_from(p.byte()).ok()) else { return 0 };
        let start = start.min(self.text.len()).max(self.byte);
        let bytes = self.text.as_bytes();
        self.line += bytes[self.byte..start].iter().filter(|&&b| b == b'\n').count() as u64;
        self.byte = start;
        let blank = bytes[start..].iter().take_while(|&&b| b == b'\n').count();
        self.line + blank as u64
    }

    fn error(&mut self, error: &csv::Error) -> ListError {
        ListError::Line { line: self.of(error.position()), why: error.to_string() }
    }
}

/// Where the columns bankd reads are.
struct Columns {
    bank_code: usize,
    pintan_url: usize,
    name: usize,
    bic: Option<usize>,
    city: Option<usize>,
    version: Option<usize>,
}

impl Columns {
    fn find(header: &csv::StringRecord) -> Result<Columns, ListError> {
        let names: Vec<String> = header.iter().map(column_key).collect();
        let find_from = |from: usize, name: &str| {
            let key = column_key(name);
            names.iter().skip(from).position(|n| *n == key).map(|i| i + from)
        };
        let required = |name: &'static str| find_from(0, name).ok_or(ListError::MissingColumn(name));
        let pintan_url = required(PINTAN_URL)?;
        Ok(Columns {
            bank_code: required(BANK_CODE)?,
            name: required(NAME)?,
            bic: find_from(0, BIC),
            city: find_from(0, CITY),
            // The version of the PIN/TAN address is the column after it (`HBCI-Version` is another
            // column's, and does not match); a list without that order still has its one `Version`.
            version: find_from(pintan_url, VERSION).or_else(|| find_from(0, VERSION)),
            pintan_url,
        })
    }
}

/// A column name as compared: lower case, umlauts spelled out, letters and digits only
/// (`PIN/TAN-Zugang URL`, `pin/tan zugang url` and `PINTAN-Zugang-URL` are one column).
fn column_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.trim_start_matches('\u{feff}').chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => key.push_str("ae"),
            'ö' => key.push_str("oe"),
            'ü' => key.push_str("ue"),
            'ß' => key.push_str("ss"),
            c if c.is_alphanumeric() => key.push(c),
            _ => {}
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list laid out as the FinTS office's (more columns than bankd reads, `Version` after the
    /// PIN/TAN address), with made-up banks.
    const HEADER: &str = "Nr.;BLZ;BIC;Institut;Ort;RZ;Organisation;HBCI-Zugang DNS;HBCI- Zugang IP-Adresse;\
                          HBCI-Version;DDV;RDH-1;RDH-2;PIN/TAN-Zugang URL;Version;Datum letzte Änderung";

    fn list(rows: &[&str]) -> String {
        let mut text = HEADER.to_owned();
        for row in rows {
            text.push_str("\r\n");
            text.push_str(row);
        }
        text.push_str("\r\n");
        text
    }

    const MUSTER: &str = "1;10020030;TESTDEFFXXX;Musterbank Köln;Köln;RZ;BdB;hbci.example;;300;;;;\
                          https://fints.musterbank.example/fints30;FinTS V3.0;01.02.2024";
    const NO_URL: &str = "2;20030040;;Chipkartenbank;Essen;;;hbci.chip.example;;300;ja;;;;;01.02.2024";
    const SPARKASSE: &str =
        "3;30040050;SPKADE3XXX;Sparkasse Süd;Würzburg;;DSGV;;;;;;;https://fints.sparkasse.example/fints;FinTS V3.0;";

    #[test]
    fn the_banks_with_a_pintan_address_are_read_and_the_others_counted() {
        let read = read_institute_list(list(&[MUSTER, NO_URL, SPARKASSE]).as_bytes()).unwrap();
        assert_eq!(read.without_pintan, 1);
        assert_eq!(read.duplicates, 0);
        assert_eq!(
            read.institutes[0],
            Institute {
                bank_code: "10020030".into(),
                bic: Some("TESTDEFFXXX".into()),
                name: "Musterbank Köln".into(),
                city: Some("Köln".into()),
                pintan_url: "https://fints.musterbank.example/fints30".into(),
                fints_version: Some("FinTS V3.0".into()),
            }
        );
        assert_eq!(read.institutes[1].bank_code, "30040050");
        assert_eq!(read.institutes[1].city.as_deref(), Some("Würzburg"));
    }

    #[test]
    fn the_published_latin1_and_a_resaved_utf8_with_bom_read_alike() {
        let text = list(&[MUSTER, SPARKASSE]);
        let from_latin1 = read_institute_list(&latin1(&text)).unwrap();
        let from_bom = read_institute_list(format!("\u{feff}{text}").as_bytes()).unwrap();
        assert_eq!(from_latin1.institutes, from_bom.institutes);
        assert_eq!(from_latin1.institutes[0].name, "Musterbank Köln");
    }

    /// `text` in ISO-8859-1, where every char below U+0100 is the byte of its number.
    fn latin1(text: &str) -> Vec<u8> {
        text.chars().map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 char")).collect()
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_and_spelling() {
        let text = "institut ; pin/tan zugang url;VERSION;blz;ort\nBank A;https://a.example/fints;3.0;12345678;Ulm\n";
        let read = read_institute_list(text.as_bytes()).unwrap();
        let bank = &read.institutes[0];
        assert_eq!((bank.bank_code.as_str(), bank.name.as_str()), ("12345678", "Bank A"));
        assert_eq!(bank.pintan_url, "https://a.example/fints");
        assert_eq!((bank.bic.as_deref(), bank.fints_version.as_deref()), (None, Some("3.0")));
        assert_eq!(column_key("Datum letzte Änderung"), "datumletzteaenderung");
        assert_eq!(column_key("HBCI- Zugang IP-Adresse"), "hbcizugangipadresse");
    }

    #[test]
    fn a_bank_code_listed_twice_keeps_its_first_entry() {
        let again = MUSTER.replace("https://fints.musterbank.example/fints30", "https://other.example/fints");
        let read = read_institute_list(list(&[MUSTER, SPARKASSE, &again]).as_bytes()).unwrap();
        assert_eq!(read.institutes.len(), 2);
        assert_eq!(read.institutes[0].pintan_url, "https://fints.musterbank.example/fints30");
        assert_eq!(read.duplicates, 1);
        assert_eq!(read.warnings, ["line 4: bank code 10020030 listed again, the first entry is kept"]);
    }

    #[test]
    fn a_bank_code_that_is_not_8_digits_refuses_the_file_at_its_line() {
        let short = MUSTER.replace("10020030", "1002003");
        let refused = read_institute_list(list(&[SPARKASSE, "", &short]).as_bytes()).unwrap_err();
        assert_eq!(refused, ListError::Line { line: 4, why: "bank code \"1002003\" is not 8 digits".into() });
        let letters = SPARKASSE.replace("30040050", "3004005X");
        assert!(matches!(read_institute_list(list(&[&letters]).as_bytes()), Err(ListError::Line { line: 2, .. })));
    }

    #[test]
    fn a_file_that_is_not_the_list_is_refused() {
        assert_eq!(read_institute_list(b"").unwrap_err(), ListError::Empty);
        let other = "Datum;Betrag;Verwendungszweck\n01.02.2024;12,00;Miete\n";
        assert_eq!(read_institute_list(other.as_bytes()).unwrap_err(), ListError::MissingColumn(PINTAN_URL));
    }
}
