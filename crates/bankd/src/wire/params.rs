//! Request input in Powens' conventions: named values from a JSON body, a form or a query string,
//! read with one set of coercions (`"true"`, `"1"`, `""` for a bare flag; numbers as text), and the
//! id and paging parameters every listing shares. Errors name the parameter (`invalidValue`,
//! `missingParameter`); they never echo a value, which may be a secret.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};

/// Named input values from a body or a query string, with typed, error-reporting accessors.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Map<String, Value>);

impl Params {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Params {
        Params(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A text value; numbers are accepted and rendered as text, `null` is absent.
    pub fn str(&self, name: &str) -> ApiResult<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(ApiError::invalid(name, "expected a string")),
        }
    }

    pub fn require_str(&self, name: &str) -> ApiResult<String> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// A boolean: `true/false`, `1/0`, or their text; a bare flag (empty text) means true.
    pub fn bool(&self, name: &str) -> ApiResult<Option<bool>> {
        let value = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => v,
        };
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "" | "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                "null" => return Ok(None),
                _ => None,
            },
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| ApiError::invalid(name, "expected a boolean (true, false, 1 or 0)"))
    }

    pub fn flag(&self, name: &str) -> ApiResult<bool> {
        Ok(self.bool(name)?.unwrap_or(false))
    }

    /// An integer, from a JSON number or its text.
    pub fn i64(&self, name: &str) -> ApiResult<Option<i64>> {
        let invalid = || ApiError::invalid(name, "expected an integer");
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(invalid),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
            Some(_) => Err(invalid()),
        }
    }

    pub fn require_i64(&self, name: &str) -> ApiResult<i64> {
        self.i64(name)?.ok_or_else(|| ApiError::missing(name))
    }

    /// A calendar day, `YYYY-MM-DD`.
    pub fn date(&self, name: &str) -> ApiResult<Option<NaiveDate>> {
        let Some(text) = self.str(name)? else { return Ok(None) };
        let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d");
        date.map(Some).map_err(|_| ApiError::invalid(name, "expected YYYY-MM-DD"))
    }
}

/// Parses an id from a path segment: a positive integer.
pub fn parse_id(segment: &str, name: &str) -> ApiResult<i64> {
    match segment.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::invalid(name, format!("'{segment}' is not a positive integer id"))),
    }
}

/// `limit`: `default` when absent, refused above `max` or below 1.
pub fn page_limit(query: &Params, default: i64, max: i64) -> ApiResult<i64> {
    match query.i64("limit")? {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::invalid("limit", format!("must be between 1 and {max}"))),
    }
}

/// `offset`: 0 when absent, never negative.
pub fn page_offset(query: &Params) -> ApiResult<i64> {
    match query.i64("offset")? {
        None => Ok(0),
        Some(offset) if offset >= 0 => Ok(offset),
        Some(_) => Err(ApiError::invalid("offset", "must not be negative")),
    }
}
