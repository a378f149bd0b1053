//! How a statement file's records become bankd's: account identities, transaction webids, types,
//! and the CSV mapping a user writes.

use serde::Deserialize;

/// How an account is recognised from one file to the next: IBAN, else number, else name and
/// currency (a format that names none of them has one account per file, named "Statement").
pub(super) fn identity(account: &statements::Account) -> String {
    let clean = |text: &str| text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    match (&account.iban, &account.number, &account.name) {
        (Some(iban), _, _) => clean(iban),
        (None, Some(number), _) => clean(number),
        (None, None, name) => {
            let currency = account.currency.as_deref().unwrap_or("");
            format!("{}:{currency}", name.as_deref().unwrap_or("Statement").trim())
        }
    }
}

/// A CSV mapping as a user writes it (the API's `csv` field, `bankd import --csv`), in JSON:
/// `{"delimiter": ";", "decimal_comma": true, "date_format": "%d/%m/%Y", "date": "Date",
/// "amount": "Montant"}` — a column is its header name or its index from 0; `debit` and `credit`
/// replace `amount`; `wording` lists columns; `value_date`, `payee`, `reference`, `currency`,
/// `skip_lines` and `has_header` (default true) are optional.
pub fn csv_mapping(json: &str) -> Result<statements::csv::Mapping, String> {
    use statements::csv::{AmountColumns, Column, Mapping};
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Spec {
        Index(usize),
        Name(String),
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Written {
        #[serde(default = "comma")]
        delimiter: String,
        #[serde(default)]
        decimal_comma: bool,
        #[serde(default = "day_first")]
        date_format: String,
        #[serde(default)]
        skip_lines: usize,
        #[serde(default = "yes")]
        has_header: bool,
        date: Spec,
        value_date: Option<Spec>,
        amount: Option<Spec>,
        debit: Option<Spec>,
        credit: Option<Spec>,
        #[serde(default)]
        wording: Vec<Spec>,
        payee: Option<Spec>,
        reference: Option<Spec>,
        currency: Option<Spec>,
    }
    fn comma() -> String {
        ",".into()
    }
    fn day_first() -> String {
        "%d/%m/%Y".into()
    }
    fn yes() -> bool {
        true
    }
    let column = |spec: Spec| match spec {
        Spec::Index(i) => Column::Index(i),
        Spec::Name(name) => Column::Name(name),
    };
    let written: Written = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let delimiter = match written.delimiter.as_bytes() {
        [byte] if byte.is_ascii() => *byte,
        _ => return Err("delimiter must be one ASCII character".into()),
    };
    let amount = match (written.amount, written.debit, written.credit) {
        (Some(amount), None, None) => AmountColumns::Amount(column(amount)),
        (None, Some(debit), Some(credit)) => {
            AmountColumns::DebitCredit { debit: column(debit), credit: column(credit) }
        }
        _ => return Err("give either amount, or debit and credit".into()),
    };
    Ok(Mapping {
        delimiter,
        decimal_comma: written.decimal_comma,
        date_format: written.date_format,
        skip_lines: written.skip_lines,
        has_header: written.has_header,
        date: column(written.date),
        value_date: written.value_date.map(column),
        amount,
        wording: written.wording.into_iter().map(column).collect(),
        payee: written.payee.map(column),
        reference: written.reference.map(column),
        currency: written.currency.map(column),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_recognised_by_iban_then_number_then_name_and_currency() {
        let account = |iban: Option<&str>, number: Option<&str>, name: Option<&str>| statements::Account {
            iban: iban.map(str::to_owned),
            number: number.map(str::to_owned),
            name: name.map(str::to_owned),
            currency: Some("EUR".into()),
            ..statements::Account::default()
        };
        assert_eq!(identity(&account(Some("fr76 3000 6000"), Some("1"), None)), "FR7630006000");
        assert_eq!(identity(&account(None, Some("12 345"), Some("x"))), "12345");
        assert_eq!(identity(&account(None, None, Some(" Joint "))), "Joint:EUR");
        assert_eq!(identity(&statements::Account::default()), "Statement:");
    }

    #[test]
    fn csv_mappings_are_written_in_json() {
        use statements::csv::{AmountColumns, Column};
        let mapping = csv_mapping(
            r#"{"delimiter": ";", "decimal_comma": true, "date": "Date", "debit": 3, "credit": 4,
            "wording": ["Libellé", 2]}"#,
        )
        .unwrap();
        assert_eq!((mapping.delimiter, mapping.date_format.as_str(), mapping.has_header), (b';', "%d/%m/%Y", true));
        assert_eq!(mapping.amount, AmountColumns::DebitCredit { debit: Column::Index(3), credit: Column::Index(4) });
        assert_eq!(mapping.wording, [Column::Name("Libellé".into()), Column::Index(2)]);
        assert!(csv_mapping(r#"{"date": 0}"#).unwrap_err().contains("amount"));
        assert!(csv_mapping(r#"{"date": 0, "amount": 1, "delimiter": ";;"}"#).unwrap_err().contains("delimiter"));
        assert!(csv_mapping(r#"{"date": 0, "amount": 1, "colour": 2}"#).unwrap_err().contains("colour"));
    }
}
