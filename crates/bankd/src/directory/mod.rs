//! The bank directory: banks behind a PSD2 hub, each a connector on a catalog profile.
//!
//! The operator imports a CSV of banks (`bankd catalog import-aspsps FILE.csv`): name, BIC,
//! country, bank code, base URL and the catalog profile whose driver and settings reach them. The
//! store keeps the rows; at start each becomes a connector with one `openapi` source, under an id
//! the store keeps for its bank (country and bank code, else BIC) and a uuid derived from the same,
//! so connections survive restarts and re-imports. `GET /connectors?iban=` and `?bic=` find them.

pub mod iban;

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::catalog::{Catalog, Connector, ConnectorSource};

/// One bank of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aspsp {
    pub name: String,
    /// Upper case, 8 or 11 characters.
    pub bic: Option<String>,
    /// ISO 3166 alpha-2, upper case.
    pub country: String,
    /// The national bank code its IBANs carry.
    pub bank_code: Option<String>,
    /// Its API's base (a path is on bankd's own URL, as in the catalog).
    pub base_url: String,
    /// The catalog profile that reaches it.
    pub profile: String,
}

impl Aspsp {
    /// What identifies the bank across imports: its country and bank code, else its BIC (without
    /// the `XXX` of a head office). Its connector's id and uuid follow from it.
    pub fn key(&self) -> String {
        match (&self.bank_code, &self.bic) {
            (Some(code), _) => format!("{}/{code}", self.country),
            (None, Some(bic)) => format!("{}/bic/{}", self.country, bic.strip_suffix("XXX").unwrap_or(bic)),
            (None, None) => unreachable!("a row without a bank code nor a BIC is refused on import"),
        }
    }

    /// Its connector's uuid: the same on every bankd for the same bank.
    pub fn uuid(&self) -> Uuid {
        Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("bankd:aspsp:{}", self.key()).as_bytes())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListError {
    #[error("the file lists no bank")]
    Empty,
    #[error("the header (line 1) has no column {0:?}; expected name, bic, country, bank_code, base_url, profile")]
    MissingColumn(&'static str),
    #[error("line {line}: {why}")]
    Line { line: u64, why: String },
}

const NAME: &str = "name";
const BIC: &str = "bic";
const COUNTRY: &str = "country";
const BANK_CODE: &str = "bank_code";
const BASE_URL: &str = "base_url";
const PROFILE: &str = "profile";

/// Reads a directory CSV: a header naming the columns (any order and case; `name`, `country`,
/// `base_url`, `profile` required, `bic` and `bank_code` optional but one of them on every row),
/// comma- or semicolon-separated as the header shows, UTF-8. Every row is checked — its profile
/// among `profiles`, its bank code against its country's IBAN layout, a bank given once — and the
/// first bad one refuses the whole file with its line number.
pub fn read_aspsp_list(bytes: &[u8], profiles: &HashSet<&str>) -> Result<Vec<Aspsp>, ListError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ListError::Line { line: line_of(bytes, e.valid_up_to()), why: "not UTF-8".into() })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or_default();
    let delimiter = if first.contains(';') && !first.contains(',') { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    // csv's own line numbers skip blank lines: a line is counted from the byte a record starts at,
    // only for the row an error names.
    let line = |position: Option<&csv::Position>| {
        position.and_then(|p| usize::try_from(p.byte()).ok()).map_or(0, |byte| record_line(text.as_bytes(), byte))
    };
    let mut records = reader.records();
    let header = match records.next() {
        Some(header) => header.map_err(|e| ListError::Line { line: line(e.position()), why: e.to_string() })?,
        None => return Err(ListError::Empty),
    };
    let column = |name: &'static str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let required = |name| column(name).ok_or(ListError::MissingColumn(name));
    let columns = [required(NAME)?, required(COUNTRY)?, required(BASE_URL)?, required(PROFILE)?];
    let (bic, bank_code) = (column(BIC), column(BANK_CODE));
    if bic.is_none() && bank_code.is_none() {
        return Err(ListError::MissingColumn(BANK_CODE));
    }
    let mut banks = Vec::new();
    let mut seen = HashMap::new();
    for record in records {
        let record = record.map_err(|e| ListError::Line { line: line(e.position()), why: e.to_string() })?;
        let at = record.position();
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|v| !v.is_empty()).map(str::to_owned);
        let [name, country, base_url, profile] = columns.map(|i| cell(Some(i)));
        let bank = Aspsp {
            name: name.unwrap_or_default(),
            bic: cell(bic).map(|b| b.to_ascii_uppercase()),
            country: country.unwrap_or_default().to_ascii_uppercase(),
            bank_code: cell(bank_code).map(|c| c.to_ascii_uppercase()),
            base_url: base_url.unwrap_or_default(),
            profile: profile.unwrap_or_default(),
        };
        check(&bank, profiles).map_err(|why| ListError::Line { line: line(at), why })?;
        if let Some(earlier) = seen.insert(bank.key(), at.cloned()) {
            let why = format!("the bank of line {} again ({})", line(earlier.as_ref()), bank.key());
            return Err(ListError::Line { line: line(at), why });
        }
        banks.push(bank);
    }
    if banks.is_empty() {
        return Err(ListError::Empty);
    }
    Ok(banks)
}

/// What is wrong with a row, if anything.
fn check(bank: &Aspsp, profiles: &HashSet<&str>) -> Result<(), String> {
    if bank.name.is_empty() {
        return Err("no name".into());
    }
    if bank.country.len() != 2 || !bank.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("country {:?} is not a two-letter ISO 3166 code", bank.country));
    }
    if let Some(bic) = &bank.bic {
        let bytes = bic.as_bytes();
        let letters = bytes.iter().take(6).all(u8::is_ascii_uppercase);
        if !matches!(bic.len(), 8 | 11) || !letters || !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(format!("BIC {bic:?} is not 8 or 11 characters, six letters first"));
        }
    }
    match &bank.bank_code {
        Some(code) => iban::bank_code_fits(&bank.country, code)?,
        None if bank.bic.is_none() => return Err("neither a BIC nor a bank code: nothing would find the bank".into()),
        None => {}
    }
    let url = &bank.base_url;
    if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/')) {
        return Err(format!("base URL {url:?} is neither an http(s) URL nor a path on bankd"));
    }
    if !profiles.contains(bank.profile.as_str()) {
        let mut known: Vec<&str> = profiles.iter().copied().collect();
        known.sort_unstable();
        return Err(format!("profile {:?} is not in the catalog (it has: {})", bank.profile, known.join(", ")));
    }
    Ok(())
}

/// The line of the byte at `offset`.
fn line_of(bytes: &[u8], offset: usize) -> u64 {
    1 + bytes[..offset.min(bytes.len())].iter().filter(|&&b| b == b'\n').count() as u64
}

/// The line of a record csv starts at `offset`: right after the previous record, so past the blank
/// lines it skipped.
fn record_line(bytes: &[u8], offset: usize) -> u64 {
    let blank = bytes.get(offset..).unwrap_or_default().iter().take_while(|&&b| b == b'\n' || b == b'\r');
    let newlines = blank.filter(|&&b| b == b'\n').count() as u64;
    line_of(bytes, offset) + newlines
}

/// The connectors of the directory's banks, under the ids the store keeps for their keys. A bank
/// whose profile the catalog no longer defines (or a sandbox profile, the sandbox off) is left
/// out; returns how many were.
pub fn connectors(catalog: &Catalog, banks: &[Aspsp], ids: &HashMap<String, i64>) -> (Vec<Connector>, usize) {
    let mut skipped = 0;
    let mut connectors = Vec::with_capacity(banks.len());
    for bank in banks {
        let (Some(profile), Some(&id)) = (catalog.profile(&bank.profile), ids.get(&bank.key())) else {
            skipped += 1;
            continue;
        };
        connectors.push(Connector {
            id,
            uuid: bank.uuid(),
            name: bank.name.clone(),
            code: bank.bank_code.clone(),
            slug: None,
            color: None,
            capabilities: vec!["bank".into()],
            auth_mechanism: profile.auth_mechanism.clone().unwrap_or_else(|| "webauth".into()),
            sync_periodicity: 1.0,
            months_to_fetch: None,
            countries: vec![bank.country.clone()],
            bic: bank.bic.clone(),
            bank_code: bank.bank_code.clone(),
            hidden: false,
            beta: false,
            sandbox: profile.sandbox,
            icon: None,
            fields: profile.fields.clone(),
            sources: vec![ConnectorSource {
                id,
                name: "openapi".into(),
                priority: 1,
                disabled: None,
                auth_mechanism: None,
                driver: profile.driver.clone(),
                api: Some(profile.api.at(&bank.base_url)),
                module: None,
                modules_path: None,
            }],
        });
    }
    (connectors, skipped)
}

/// Whether `connector` is the bank of this IBAN: same country, and its bank code the IBAN's (for a
/// country whose IBANs carry a BIC's first four letters, a connector with only a BIC matches by them).
pub fn serves_iban(connector: &Connector, iban: &iban::Iban) -> bool {
    let Some(code) = &iban.bank_code else { return false };
    if !connector.countries.contains(&iban.country) {
        return false;
    }
    match (&connector.bank_code, &connector.bic) {
        (Some(own), _) => own.eq_ignore_ascii_case(code),
        (None, Some(bic)) => code.bytes().all(|b| b.is_ascii_alphabetic()) && bic.starts_with(code.as_str()),
        (None, None) => false,
    }
}

/// Whether `connector` has this BIC: an 8-character BIC (the institution) matches its branches'
/// 11, and `XXX` (the head office) matches the 8.
pub fn has_bic(connector: &Connector, bic: &str) -> bool {
    let Some(own) = &connector.bic else { return false };
    let head = |b: &str| b.get(..8).map(str::to_ascii_uppercase);
    let wanted = bic.to_ascii_uppercase();
    own.eq_ignore_ascii_case(&wanted) || (wanted.len() == 8 || wanted.ends_with("XXX")) && head(own) == head(&wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles() -> HashSet<&'static str> {
        HashSet::from(["hub"])
    }

    const HEADER: &str = "name,bic,country,bank_code,base_url,profile\n";

    #[test]
    fn rows_are_read_by_column_name_in_any_order() {
        let text = "Profile;Base_URL;Country;Name;BIC;Bank_Code\n\
                    hub;https://api.hub.example/12345678;de;Sparkasse A;spkadeaaxxx;12345678\n\n\
                    hub;/sandbox/xs2a;FR;Banque B;BNPAFRPP;\n";
        let banks = read_aspsp_list(text.as_bytes(), &profiles()).unwrap();
        assert_eq!(
            banks[0],
            Aspsp {
                name: "Sparkasse A".into(),
                bic: Some("SPKADEAAXXX".into()),
                country: "DE".into(),
                bank_code: Some("12345678".into()),
                base_url: "https://api.hub.example/12345678".into(),
                profile: "hub".into(),
            }
        );
        assert_eq!((banks[1].key(), banks[1].bank_code.as_ref()), ("FR/bic/BNPAFRPP".into(), None));
        assert_ne!(banks[0].uuid(), banks[1].uuid());
        assert_eq!(banks[0].uuid(), banks[0].clone().uuid(), "derived from the bank alone");
    }

    #[test]
    fn a_bad_row_refuses_the_file_at_its_line() {
        let refused = |row: &str| {
            let text = format!("{HEADER}A,,DE,12345678,https://a.example,hub\n{row}\n");
            match read_aspsp_list(text.as_bytes(), &profiles()).unwrap_err() {
                ListError::Line { line, why } => {
                    assert_eq!(line, 3, "{why}");
                    why
                }
                other => panic!("{other}"),
            }
        };
        assert!(refused("B,,DE,1234567,https://b.example,hub").contains("8 digits"));
        assert!(refused("B,,DE,87654321,https://b.example,other").contains("profile \"other\" is not in the catalog"));
        assert!(refused("B,,DE,,https://b.example,hub").contains("neither a BIC nor a bank code"));
        assert!(refused("B,BANK,DE,87654321,https://b.example,hub").contains("BIC"));
        assert!(refused("B,,DEU,87654321,https://b.example,hub").contains("country"));
        assert!(refused("B,,DE,87654321,ftp://b.example,hub").contains("base URL"));
        assert!(refused(",,DE,87654321,https://b.example,hub").contains("no name"));
        assert!(refused("A again,,DE,12345678,https://a2.example,hub").contains("the bank of line 2 again"));
        let after_blank_lines = format!("{HEADER}\r\n\nB,,DE,1234567,https://b.example,hub\r\n");
        let refused = read_aspsp_list(after_blank_lines.as_bytes(), &profiles()).unwrap_err();
        assert!(matches!(refused, ListError::Line { line: 4, .. }), "{refused}");
    }

    #[test]
    fn a_file_without_the_columns_or_banks_is_refused() {
        assert_eq!(read_aspsp_list(b"", &profiles()), Err(ListError::Empty));
        assert_eq!(read_aspsp_list(HEADER.as_bytes(), &profiles()), Err(ListError::Empty));
        let no_profile = "name,bic,country,bank_code,base_url\n";
        assert_eq!(read_aspsp_list(no_profile.as_bytes(), &profiles()), Err(ListError::MissingColumn(PROFILE)));
    }

    #[test]
    fn bics_match_by_institution_and_branch() {
        let with_bic = |bic: &str| Connector { bic: Some(bic.into()), ..test_connector() };
        assert!(has_bic(&with_bic("SPKADEAAXXX"), "spkadeaa"));
        assert!(has_bic(&with_bic("SPKADEAAXXX"), "SPKADEAAXXX"));
        assert!(has_bic(&with_bic("SPKADEAA"), "SPKADEAAXXX"));
        assert!(has_bic(&with_bic("SPKADEAA123"), "SPKADEAA"));
        assert!(!has_bic(&with_bic("SPKADEAA123"), "SPKADEAA456"));
        assert!(!has_bic(&with_bic("SPKADEBB"), "SPKADEAA"));
        assert!(!has_bic(&test_connector(), "SPKADEAA"));
    }

    #[test]
    fn an_iban_finds_its_bank_by_country_and_bank_code() {
        let iban = iban::Iban::parse("DE89370400440532013000").unwrap();
        let de = Connector { countries: vec!["DE".into()], bank_code: Some("37040044".into()), ..test_connector() };
        assert!(serves_iban(&de, &iban));
        assert!(!serves_iban(&Connector { countries: vec!["AT".into()], ..de.clone() }, &iban));
        assert!(!serves_iban(&Connector { bank_code: Some("37040045".into()), ..de }, &iban));
        let nl = Connector { countries: vec!["NL".into()], bic: Some("ABNANL2A".into()), ..test_connector() };
        assert!(serves_iban(&nl, &iban::Iban::parse("NL91ABNA0417164300").unwrap()));
    }

    fn test_connector() -> Connector {
        let text = "[[connector]]\nid = 1\nuuid = \"00000000-0000-0000-0000-000000000001\"\nname = \"C\"\n\
                    [[connector.source]]\nid = 1\nname = \"openapi\"\npriority = 1\ndriver = \"sandbox\"\n";
        toml::from_str::<Catalog>(text).unwrap().connectors.remove(0)
    }
}
