//! Which bank an IBAN belongs to: its country and the national bank code inside it, checked by
//! its mod-97 check digits (ISO 13616).

/// Where a country's IBANs carry the bank code: the IBAN's length, and the bank code's 1-based
/// first and last positions and kind. From the SWIFT IBAN registry (ISO 13616), "Bank identifier
/// position within the IBAN"; a country missing here is still checked, but routes to no bank.
const LAYOUTS: &[(&str, usize, usize, usize, Kind)] = &[
    ("AT", 20, 5, 9, Kind::Digits),
    ("BE", 16, 5, 7, Kind::Digits),
    ("CH", 21, 5, 9, Kind::Digits),
    ("CZ", 24, 5, 8, Kind::Digits),
    ("DE", 22, 5, 12, Kind::Digits),
    ("DK", 18, 5, 8, Kind::Digits),
    ("ES", 24, 5, 8, Kind::Digits),
    ("FI", 18, 5, 7, Kind::Digits),
    ("FR", 27, 5, 9, Kind::Digits),
    ("GB", 22, 5, 8, Kind::Letters),
    ("IE", 22, 5, 8, Kind::Letters),
    // Position 5 is the national check character (CIN); the ABI code follows.
    ("IT", 27, 6, 10, Kind::Digits),
    ("LU", 20, 5, 7, Kind::Digits),
    ("MC", 27, 5, 9, Kind::Digits),
    ("NL", 18, 5, 8, Kind::Letters),
    ("NO", 15, 5, 8, Kind::Digits),
    ("PT", 25, 5, 8, Kind::Digits),
    ("SE", 24, 5, 7, Kind::Digits),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Digits,
    /// The first four letters of the bank's BIC.
    Letters,
}

impl Kind {
    fn fits(self, code: &str) -> bool {
        match self {
            Kind::Digits => code.bytes().all(|b| b.is_ascii_digit()),
            Kind::Letters => code.bytes().all(|b| b.is_ascii_uppercase()),
        }
    }
}

/// A checked IBAN's country and bank code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iban {
    /// Upper case, without spaces.
    pub iban: String,
    pub country: String,
    /// `None` for a country whose layout bankd does not know.
    pub bank_code: Option<String>,
}

impl Iban {
    /// Reads an IBAN as typed (spaces allowed, any case); the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Iban, String> {
        let iban: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        if !(15..=34).contains(&iban.len()) || !iban.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("an IBAN is 15 to 34 letters and digits".into());
        }
        let (country, check) = (&iban[..2], &iban[2..4]);
        if !country.bytes().all(|b| b.is_ascii_uppercase()) || !check.bytes().all(|b| b.is_ascii_digit()) {
            return Err("an IBAN starts with its country's two letters and two check digits".into());
        }
        let layout = LAYOUTS.iter().find(|(c, ..)| *c == country);
        if let Some((_, length, ..)) = layout.filter(|(_, length, ..)| *length != iban.len()) {
            return Err(format!("an IBAN of {country} has {length} characters, not {}", iban.len()));
        }
        if mod97(&iban) != 1 {
            return Err("the IBAN's check digits do not match: mistyped?".into());
        }
        let bank_code = layout.and_then(|(_, _, first, last, kind)| {
            let code = &iban[first - 1..*last];
            kind.fits(code).then(|| code.to_owned())
        });
        if layout.is_some() && bank_code.is_none() {
            return Err(format!("the bank code of an IBAN of {country} is not where it should be"));
        }
        Ok(Iban { country: country.to_owned(), bank_code, iban })
    }
}

/// ISO 7064 MOD 97-10 of the IBAN, its first four characters moved to the end and letters counted
/// as 10 to 35.
fn mod97(iban: &str) -> u32 {
    let moved = iban[4..].bytes().chain(iban[..4].bytes());
    moved.fold(0u32, |r, b| match b {
        b'0'..=b'9' => (r * 10 + u32::from(b - b'0')) % 97,
        _ => (r * 100 + u32::from(b - b'A') + 10) % 97,
    })
}

/// Whether a bank code fits the layout of `country`'s IBANs (any code, for a country not known):
/// what a directory row must give to be found by its customers' IBANs.
pub fn bank_code_fits(country: &str, code: &str) -> Result<(), String> {
    match LAYOUTS.iter().find(|(c, ..)| *c == country) {
        Some((_, _, first, last, kind)) => {
            let length = last - first + 1;
            if code.len() == length && kind.fits(code) {
                Ok(())
            } else {
                let what = if *kind == Kind::Digits { "digits" } else { "capital letters (its BIC's first four)" };
                Err(format!("a bank code of {country} is {length} {what}, not {code:?}"))
            }
        }
        None if !code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok(()),
        None => Err(format!("bank code {code:?} is not letters and digits")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bank_code_is_read_where_each_country_puts_it() {
        let de = Iban::parse("DE89 3704 0044 0532 0130 00").unwrap();
        assert_eq!((de.country.as_str(), de.bank_code.as_deref()), ("DE", Some("37040044")));
        assert_eq!(de.iban, "DE89370400440532013000");
        let fr = Iban::parse("fr1420041010050500013m02606").unwrap();
        assert_eq!(fr.bank_code.as_deref(), Some("20041"));
        let it = Iban::parse("IT60X0542811101000000123456").unwrap();
        assert_eq!(it.bank_code.as_deref(), Some("05428"));
        let nl = Iban::parse("NL91ABNA0417164300").unwrap();
        assert_eq!(nl.bank_code.as_deref(), Some("ABNA"));
        let es = Iban::parse("ES9121000418450200051332").unwrap();
        assert_eq!(es.bank_code.as_deref(), Some("2100"));
        let at = Iban::parse("AT611904300234573201").unwrap();
        assert_eq!(at.bank_code.as_deref(), Some("19043"));
        // Valid, in a country whose layout is not in the table: no bank code.
        let hr = Iban::parse("HR1210010051863000160").unwrap();
        assert_eq!((hr.country.as_str(), hr.bank_code), ("HR", None));
    }

    #[test]
    fn a_mistyped_iban_is_refused_with_the_reason() {
        assert!(Iban::parse("DE89370400440532013001").unwrap_err().contains("check digits"));
        assert!(Iban::parse("DE8937040044053201300").unwrap_err().contains("22 characters"));
        assert!(Iban::parse("DE89-3704").unwrap_err().contains("15 to 34"));
        assert!(Iban::parse("1289370400440532013000").unwrap_err().contains("two letters"));
    }

    #[test]
    fn bank_codes_are_checked_against_the_countrys_layout() {
        assert!(bank_code_fits("DE", "37040044").is_ok());
        assert!(bank_code_fits("DE", "3704004").unwrap_err().contains("8 digits"));
        assert!(bank_code_fits("NL", "ABNA").is_ok());
        assert!(bank_code_fits("NL", "1234").is_err());
        assert!(bank_code_fits("HR", "1001005").is_ok());
        assert!(bank_code_fits("HR", "10-01").is_err());
    }
}
