//! Delivery workers: claim a due delivery, render its event, sign it, POST it, record the answer.
//!
//! A delivery is at least once: the answer is recorded after the receiver gave it, so a process
//! that dies in between sends it again once the lease runs out. Receivers deduplicate on
//! `webhook-id`, which is the event's id and the same on every attempt and replay.
//!
//! A receiver that fails (no answer in time, or anything but a 2xx) is tried again after a
//! back-off that doubles from `webhook_retry_seconds` up to an hour, with jitter so receivers
//! coming back are not hit by every process at once; past `webhook_give_up_seconds` after the
//! event the delivery is `failed`. While one delivery waits for its retry, the later ones to the
//! same URL for the same user wait behind it (see `store::webhooks`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::client::{Answer, Failure, WebhookClient};
use super::payload::Renderer;
use super::signing::{bi_signature, standard_signature};
use crate::config::WebhookSettings;
use crate::crypto::MasterKey;
use crate::store::outbox::{Event, Snapshot};
use crate::store::webhooks::{Attempted, ClaimedDelivery};
use crate::store::{Store, StoreError};

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Runs the delivery workers of a process; cheap to clone.
#[derive(Clone)]
pub struct Deliverer {
    pub store: Store,
    pub key: Arc<MasterKey>,
    pub renderer: Renderer,
    pub client: WebhookClient,
    pub settings: WebhookSettings,
}

impl Deliverer {
    /// Starts `webhook_workers` workers, stopped by `stop`.
    pub fn start(&self, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
        let process = crate::crypto::random_secret();
        (0..self.settings.webhook_workers)
            .map(|i| tokio::spawn(self.clone().run(format!("webhooks-{}-{i}", &process[..8]), stop.clone())))
            .collect()
    }

    async fn run(self, name: String, stop: CancellationToken) {
        while !stop.is_cancelled() {
            match self.store.claim_delivery(&name, self.lease()).await {
                Ok(Some(delivery)) => self.deliver(&name, delivery).await,
                Ok(None) => idle(&stop).await,
                Err(e) => {
                    tracing::error!(worker = name, error = %e, "could not claim a webhook delivery");
                    idle(&stop).await;
                }
            }
        }
    }

    /// Longer than any attempt: the request's timeout, plus time to render and record it.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.settings.webhook_timeout_seconds as i64 + 30)
    }

    async fn deliver(&self, worker: &str, delivery: ClaimedDelivery) {
        let result = self.attempt(&delivery).await;
        let attempted = self.outcome(&delivery, &result);
        let (event, outcome) = (&delivery.event, attempted.state);
        match &result {
            Ok(answer) => {
                tracing::info!(
                    delivery = delivery.id,
                    request_id = attempt_id(&delivery),
                    event,
                    status = answer.status,
                    outcome,
                    "webhook delivery"
                )
            }
            Err(e) => {
                tracing::info!(delivery = delivery.id, request_id = attempt_id(&delivery), event, error = %e, outcome, "webhook delivery")
            }
        }
        crate::telemetry::record_delivery(event, outcome, result.as_ref().ok().map(|a| a.latency));
        match self.store.record_attempt(delivery.id, worker, &attempted).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(delivery = delivery.id, "lost the delivery's lease before recording it"),
            Err(e) => tracing::error!(delivery = delivery.id, error = %e, "could not record a webhook delivery"),
        }
    }

    /// Renders, signs and sends the delivery.
    async fn attempt(&self, delivery: &ClaimedDelivery) -> Result<Answer, AttemptError> {
        let event = Event::parse(&delivery.event).ok_or_else(|| AttemptError::Event(delivery.event.clone()))?;
        let snapshot: Snapshot =
            serde_json::from_str(&delivery.snapshot).map_err(|e| AttemptError::Event(e.to_string()))?;
        let body = serde_json::to_vec(&self.renderer.render(event, &snapshot))
            .map_err(|e| AttemptError::Event(e.to_string()))?;
        let secret = match delivery.id_auth {
            Some(id) => self.store.auth_secret(id, &self.key).await?,
            None => None,
        };
        let headers = headers(delivery, event, secret.as_deref(), &body)?;
        Ok(self.client.post(&delivery.url, &headers, body).await?)
    }

    /// What the attempt leaves on the delivery: delivered, retried later, or given up.
    fn outcome(&self, delivery: &ClaimedDelivery, result: &Result<Answer, AttemptError>) -> Attempted {
        let now = Utc::now();
        let (status, latency_ms) = match result {
            Ok(answer) => (Some(i64::from(answer.status)), Some(answer.latency.as_millis() as i64)),
            Err(_) => (None, None),
        };
        let error = match result {
            Ok(answer) if (200..300).contains(&answer.status) => None,
            Ok(answer) => Some(format!("HTTP {}: {}", answer.status, answer.excerpt)),
            Err(e) => Some(e.to_string()),
        };
        let give_up = delivery.created + chrono::Duration::seconds(self.settings.webhook_give_up_seconds as i64);
        let wait =
            backoff(self.settings.webhook_retry_seconds, delivery.attempts, rand::thread_rng().gen_range(0.5..=1.0));
        let next = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        // Nothing to retry when the event cannot be rendered or the URL is refused.
        let retryable = !matches!(result, Err(AttemptError::Event(_) | AttemptError::Client(Failure::Refused(_))));
        let state = delivery_state(error.is_none(), retryable, next, give_up);
        Attempted { state, run_at: next, status, latency_ms, error }
    }
}

/// What an attempt leaves: `delivered`, `pending` for a retry at `next`, or `failed` when it cannot
/// be retried or `next` is past `give_up`.
fn delivery_state(delivered: bool, retryable: bool, next: DateTime<Utc>, give_up: DateTime<Utc>) -> &'static str {
    match (delivered, retryable) {
        (true, _) => "delivered",
        (false, true) if next <= give_up => "pending",
        (false, _) => "failed",
    }
}

/// `Content-Type` aside (the client sets it), the headers of a delivery: the event's name, the
/// Standard Webhooks id and timestamp, and both signatures when the subscription has a secret.
fn headers(
    delivery: &ClaimedDelivery,
    event: Event,
    secret: Option<&str>,
    body: &[u8],
) -> Result<Vec<(String, String)>, AttemptError> {
    let now = Utc::now();
    let id = format!("evt_{}", delivery.id_event);
    let timestamp = now.timestamp();
    let mut headers = vec![
        ("bankd-event".to_owned(), event.as_str().to_owned()),
        ("webhook-id".to_owned(), id.clone()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        ("X-Request-ID".to_owned(), attempt_id(delivery)),
    ];
    if let Some(secret) = secret {
        let url =
            reqwest::Url::parse(&delivery.url).map_err(|e| AttemptError::Client(Failure::Refused(e.to_string())))?;
        let date = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        headers.push(("BI-Signature".to_owned(), bi_signature(secret, "POST", url.path(), &date, body)));
        headers.push(("BI-Signature-Date".to_owned(), date));
        let signature = standard_signature(secret, &id, timestamp, body).map_err(AttemptError::Event)?;
        headers.push(("webhook-signature".to_owned(), signature));
    }
    Ok(headers)
}

/// The id of one attempt of a delivery (`webhook-id` is the same on every attempt, for receivers
/// to deduplicate; this one tells attempts apart, in their logs and ours).
fn attempt_id(delivery: &ClaimedDelivery) -> String {
    format!("dlv_{}_{}", delivery.id, delivery.attempts)
}

/// The wait before retry number `attempts` (1: the first retry): `base` doubled each time, up to
/// [`MAX_BACKOFF`], times `jitter` (0.5–1.0).
pub fn backoff(base_seconds: f64, attempts: i64, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 30) as i32;
    let seconds = (base_seconds * 2f64.powi(doublings)).min(MAX_BACKOFF.as_secs_f64());
    Duration::from_secs_f64((seconds * jitter).max(0.0))
}

async fn idle(stop: &CancellationToken) {
    let poll = Duration::from_millis(rand::thread_rng().gen_range(200..600));
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(poll) => {}
    }
}

#[derive(Debug, thiserror::Error)]
enum AttemptError {
    /// The stored event does not render: a defect, not the receiver's fault.
    #[error("the event could not be rendered: {0}")]
    Event(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] Failure),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_attempt_is_retried_until_the_give_up_time_unless_it_cannot_be() {
        let at = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        assert_eq!(delivery_state(true, true, at(10), at(0)), "delivered", "even late");
        assert_eq!(delivery_state(false, true, at(10), at(10)), "pending");
        assert_eq!(delivery_state(false, true, at(11), at(10)), "failed", "the next try would be past 24 h");
        assert_eq!(delivery_state(false, false, at(0), at(10)), "failed", "a refused URL is not retried");
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        let seconds = |attempts| backoff(30.0, attempts, 1.0).as_secs();
        assert_eq!([seconds(1), seconds(2), seconds(3), seconds(4)], [30, 60, 120, 240]);
        assert_eq!(seconds(8), 3600, "30 s × 2⁷ = 3840 s, capped");
        assert_eq!(seconds(1_000), 3600, "no overflow");
        assert_eq!(seconds(0), 30, "a first attempt counts as the first retry");
        assert_eq!(backoff(30.0, 2, 0.5).as_secs(), 30, "jitter shortens the wait by at most half");
    }
}
