//! Wire types: the JSON shapes Powens clients parse, kept apart from the store's models so the
//! wire format stays Powens-compatible whatever the models become.
//!
//! Datetimes go out as naive `YYYY-MM-DD HH:MM:SS` in the API time zone (Europe/Paris by default,
//! as Powens integrators expect); the store keeps UTC.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use crate::store::users::User;

const DATETIME: &str = "%Y-%m-%d %H:%M:%S";

/// Converts between stored UTC instants and the API's naive local datetimes.
#[derive(Debug, Clone, Copy)]
pub struct ApiClock {
    pub tz: Tz,
}

impl ApiClock {
    pub fn datetime(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.tz).format(DATETIME).to_string()
    }

    pub fn opt_datetime(&self, at: Option<DateTime<Utc>>) -> Option<String> {
        at.map(|at| self.datetime(at))
    }

    /// Reads a query bound: `YYYY-MM-DD HH:MM:SS` (API zone), `YYYY-MM-DD` (its midnight), or RFC 3339.
    pub fn parse_datetime(&self, field: &str, text: &str) -> ApiResult<DateTime<Utc>> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(at.with_timezone(&Utc));
        }
        let naive = NaiveDateTime::parse_from_str(text, DATETIME)
            .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(Default::default())))
            .map_err(|_| ApiError::invalid(field, "expected YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"))?;
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Ok(at.with_timezone(&Utc)),
            // In a spring-forward gap: the instant the clocks jumped to.
            LocalResult::None => Ok(Utc.from_utc_datetime(&naive) - self.tz.offset_from_utc_datetime(&naive).fix()),
        }
    }
}

/// `GET /users/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    /// When the user was created.
    #[schema(example = "2026-11-25 18:08:16")]
    pub signin: String,
    pub platform: String,
}

impl UserView {
    pub fn new(user: &User, clock: &ApiClock) -> Self {
        UserView {
            id: user.id,
            signin: clock.datetime(user.signin),
            platform: user.platform.clone(),
        }
    }
}
