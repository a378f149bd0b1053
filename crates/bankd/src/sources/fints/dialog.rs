//! Talking to a FinTS server: messages over HTTPS (base64 bodies), numbered within a dialog, and
//! the bank's return codes turned into what they mean for the connection.

use chrono::Utc;
use fints::message::{self, Signer};
use fints::{Feedback, Message, Segment};
use rand::Rng;

use crate::sources::{SourceError, SourceResult, Timeouts, describe_http_error, retry_after};

/// Who talks to the bank, and how to reach it.
pub struct Bank {
    pub http: reqwest::Client,
    pub url: String,
    pub timeouts: Timeouts,
    pub bank_code: String,
    /// The login (Benutzerkennung).
    pub user_id: String,
    /// The customer id (Kunden-ID): the login unless the bank gave the user another one.
    pub customer_id: String,
    pub pin: String,
    pub product_id: String,
}

/// An open dialog: its id and the number of the next message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dialog {
    pub id: String,
    pub next_number: u32,
}

/// The bank's answer to one message.
pub struct Answer {
    pub message: Message,
    /// The return codes, read once.
    pub feedback: Vec<Feedback>,
}

impl Answer {
    /// Whether any return code is `code`.
    pub fn has(&self, code: &str) -> bool {
        self.feedback.iter().any(|f| f.code == code)
    }

    /// A code's first parameter (3040's touchdown point).
    pub fn param_of(&self, code: &str) -> Option<&str> {
        let feedback = self.feedback.iter().find(|f| f.code == code)?;
        feedback.params.first().map(String::as_str).filter(|p| !p.is_empty())
    }
}

impl Bank {
    /// Sends `segments` as message `dialog.next_number` of `dialog` (`None`: a new dialog, id
    /// `0`), signed with the security function and, when given, the TAN. Fails when the bank could
    /// not be asked or answered garbage; its error codes are the caller's to read ([`Answer::check`]).
    pub async fn send(
        &self,
        dialog: Option<&mut Dialog>,
        system_id: &str,
        security_function: &str,
        tan: Option<&str>,
        segments: Vec<Segment>,
    ) -> SourceResult<Answer> {
        let (id, number) = dialog.as_ref().map_or(("0".to_owned(), 1), |d| (d.id.clone(), d.next_number));
        let now = Utc::now();
        let (date, time) = (now.format("%Y%m%d").to_string(), now.format("%H%M%S").to_string());
        let control_reference = rand::thread_rng().gen_range(1_000_000..10_000_000u32).to_string();
        let signer = Signer {
            bank_code: &self.bank_code,
            user_id: &self.user_id,
            system_id,
            security_function,
            pin: &self.pin,
            tan,
            control_reference: &control_reference,
            date: &date,
            time: &time,
        };
        let bytes = message::request(&id, number, &signer, segments);
        let message = self.exchange(&bytes).await?;
        if let Some(dialog) = dialog {
            dialog.next_number += 1;
        }
        Ok(Answer::new(message))
    }

    /// One HTTP round trip.
    async fn exchange(&self, bytes: &[u8]) -> SourceResult<Message> {
        let unavailable = |message: String| SourceError::WebsiteUnavailable { message: Some(message) };
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(message::to_wire(bytes))
            .send()
            .await
            .map_err(|e| {
                unavailable(format!("the bank's FinTS server: {}", describe_http_error(&e, &self.timeouts)))
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
            let wait = wait.and_then(retry_after);
            let said = wait.map(|wait| format!(" (Retry-After: {} s)", wait.as_secs())).unwrap_or_default();
            let message = Some(format!("the bank's FinTS server answered 429{said}"));
            return Err(SourceError::RateLimited { retry_after: wait, message });
        }
        if status.is_server_error() {
            return Err(unavailable(format!("the bank's FinTS server answered HTTP {status}")));
        }
        if !status.is_success() {
            // A FinTS server answers every message with 200: anything else is the wrong address.
            return Err(SourceError::Bug(format!("the bank's FinTS server answered HTTP {status}: check its address")));
        }
        let body = response.bytes().await.map_err(|e| {
            unavailable(format!("the bank's FinTS server: {}", describe_http_error(&e, &self.timeouts)))
        })?;
        let garbled = |why: String| SourceError::Bug(format!("the bank's FinTS answer cannot be read: {why}"));
        let decoded = message::from_wire(&body).map_err(|e| garbled(e.to_string()))?;
        Message::decode(&decoded).map_err(|e| garbled(e.to_string()))
    }
}

impl Answer {
    fn new(message: Message) -> Answer {
        Answer { feedback: message.feedback(), message }
    }

    /// The first error code, as what it means for the connection: a segment's own code says more
    /// than the message's summary (9050, "the message holds errors"), and a locked access, only a
    /// warning (3938) beside the refusal, says more than both.
    pub fn check(&self) -> SourceResult<()> {
        let errors = || self.feedback.iter().filter(|f| f.is_error());
        let specific = errors().find(|f| f.segment.is_some()).or_else(|| errors().next());
        match self.feedback.iter().find(|f| f.code == "3938").or(specific) {
            Some(feedback) => Err(refusal(feedback)),
            None => Ok(()),
        }
    }
}

/// The code that says a dialog has ended at the bank (its id unknown, or timed out): the run may
/// start a new one.
pub const DIALOG_ENDED: &str = "9800";

/// What an error code means for the connection. The codes are the FinTS return code list's; a
/// bank may use others of the same class, hence the ranges.
pub fn refusal(feedback: &Feedback) -> SourceError {
    let said = format!("{} ({})", feedback.text.trim(), feedback.code);
    let message = Some(said.clone());
    match feedback.code.as_str() {
        // The PIN or the login is wrong (9931 also when the access is now blocked for it).
        "9931" | "9942" | "9340" | "9930" => SourceError::WrongPass { message },
        "3938" | "9938" => SourceError::ActionNeeded { message },
        "9078" | "3078" => SourceError::Bug(format!(
            "The bank refuses bankd's FinTS product id ({}). Register the product with the FinTS \
             office of the Deutsche Kreditwirtschaft and set BANKD_FINTS_PRODUCT_ID",
            feedback.text.trim().trim_end_matches('.')
        )),
        // Message syntax and sequence errors: a defect on one side or the other.
        code if ("9110"..="9170").contains(&code) || code == "9210" => {
            SourceError::Bug(format!("the bank refused bankd's FinTS message: {said}"))
        }
        _ => SourceError::WebsiteUnavailable { message },
    }
}
