//! When bankd syncs a connection without being asked: the pure rules of the scheduler.
//!
//! - After a success, the next sync comes one connector period later, jittered by ±10 % so that
//!   connections created together do not hit the bank together forever.
//! - After a failure bankd may retry (bank down, throttling, our bug), it backs off exponentially
//!   — 5 minutes, 10, 20, … up to 6 hours — and never sooner than the bank's own `Retry-After`.
//! - While the user must act (credentials, OTP, SCA, app validation, something at the bank),
//!   nothing happens in the background: retrying cannot help and would lock accounts.
//! - PSD2 caps unattended accesses (no user present) at 4 per account per 24 hours.

use chrono::{DateTime, Duration, Utc};

use super::states::{ConnectionState, NextMove};

/// First retry delay after a retryable failure.
pub const FIRST_RETRY: Duration = Duration::minutes(5);
/// Longest retry delay.
pub const MAX_RETRY: Duration = Duration::hours(6);
/// PSD2: unattended accesses allowed per account in any 24 hours.
pub const UNATTENDED_BUDGET: usize = 4;
const BUDGET_WINDOW: Duration = Duration::hours(24);

/// How a run ended, as far as scheduling is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunEnd {
    /// `None`: success.
    pub state: Option<ConnectionState>,
    /// Retryable failures in a row, this one included (0 after a success).
    pub failures: u32,
    /// The bank said when to come back.
    pub retry_after: Option<Duration>,
}

/// The next background sync after a run, or `None` while the user must act. `jitter` is a random
/// value in [-1, 1] (a parameter, so that tests choose it).
pub fn next_sync(end: RunEnd, now: DateTime<Utc>, period: Duration, jitter: f64) -> Option<DateTime<Utc>> {
    let jitter = jitter.clamp(-1.0, 1.0);
    let spread =
        |delay: Duration| delay + Duration::milliseconds((delay.num_milliseconds() as f64 * jitter / 10.0) as i64);
    match end.state.map(ConnectionState::next_move) {
        None => Some(now + spread(period)),
        Some(NextMove::Retry) => {
            let doublings = end.failures.saturating_sub(1).min(16);
            let backoff = (FIRST_RETRY * 2i32.pow(doublings)).min(MAX_RETRY);
            Some(now + spread(backoff).max(end.retry_after.unwrap_or(Duration::zero())))
        }
        Some(NextMove::User) | Some(NextMove::Wait) => None,
    }
}

/// Whether the scheduler may start a background sync now.
pub fn is_due(
    active: bool,
    state: Option<ConnectionState>,
    next_try: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    active && next_try.is_some_and(|at| at <= now) && state.is_none_or(|s| s.next_move() == NextMove::Retry)
}

/// Checks the unattended budget against the starts of recent unattended syncs: `Ok` if one more
/// is allowed now, else `Err` with the first instant it will be.
pub fn unattended_allowed(recent: &[DateTime<Utc>], now: DateTime<Utc>, budget: usize) -> Result<(), DateTime<Utc>> {
    let mut in_window: Vec<DateTime<Utc>> =
        recent.iter().copied().filter(|t| *t > now - BUDGET_WINDOW && *t <= now).collect();
    if in_window.len() < budget {
        return Ok(());
    }
    in_window.sort();
    // The budget frees up when enough of the oldest ones leave the window.
    Err(in_window[in_window.len() - budget] + BUDGET_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn end(state: Option<ConnectionState>, failures: u32) -> RunEnd {
        RunEnd { state, failures, retry_after: None }
    }

    const DAY: Duration = Duration::days(1);

    #[test]
    fn success_comes_back_one_period_later_within_ten_percent() {
        assert_eq!(next_sync(end(None, 0), t(0), DAY, 0.0), Some(t(0) + DAY));
        assert_eq!(next_sync(end(None, 0), t(0), DAY, 1.0), Some(t(0) + DAY + Duration::minutes(144)));
        assert_eq!(next_sync(end(None, 0), t(0), DAY, -1.0), Some(t(0) + DAY - Duration::minutes(144)));
        assert_eq!(next_sync(end(None, 0), t(0), DAY, 7.0), next_sync(end(None, 0), t(0), DAY, 1.0), "clamped");
    }

    #[test]
    fn retryable_failures_back_off_exponentially_up_to_six_hours() {
        let delays: Vec<i64> = (1..=9)
            .map(|failures| {
                let at = next_sync(end(Some(ConnectionState::WebsiteUnavailable), failures), t(0), DAY, 0.0).unwrap();
                (at - t(0)).num_minutes()
            })
            .collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 360, 360]);
        let huge = next_sync(end(Some(ConnectionState::Bug), u32::MAX), t(0), DAY, 0.0).unwrap();
        assert_eq!(huge - t(0), MAX_RETRY, "no overflow");
    }

    #[test]
    fn a_banks_retry_after_is_honoured() {
        let throttled =
            RunEnd { state: Some(ConnectionState::RateLimiting), failures: 1, retry_after: Some(Duration::hours(2)) };
        assert_eq!(next_sync(throttled, t(0), DAY, 0.0), Some(t(120)));
        let short = RunEnd { retry_after: Some(Duration::seconds(1)), ..throttled };
        assert_eq!(next_sync(short, t(0), DAY, 0.0), Some(t(5)), "never sooner than the back-off");
    }

    #[test]
    fn every_state_has_its_schedule() {
        for state in ConnectionState::ALL {
            let next = next_sync(end(Some(state), 1), t(0), DAY, 0.0);
            match state.next_move() {
                NextMove::Retry => assert_eq!(next, Some(t(5)), "{state}"),
                NextMove::User | NextMove::Wait => assert_eq!(next, None, "{state}"),
            }
        }
    }

    #[test]
    fn only_active_connections_past_next_try_and_not_waiting_for_the_user_are_due() {
        assert!(is_due(true, None, Some(t(0)), t(0)));
        assert!(!is_due(true, None, Some(t(1)), t(0)), "not yet");
        assert!(!is_due(true, None, None, t(0)), "never scheduled");
        assert!(!is_due(false, None, Some(t(0)), t(0)), "paused by the user");
        for state in ConnectionState::ALL {
            assert_eq!(is_due(true, Some(state), Some(t(0)), t(0)), state.next_move() == NextMove::Retry, "{state}");
        }
    }

    #[test]
    fn four_unattended_syncs_a_day() {
        let now = t(24 * 60);
        assert_eq!(unattended_allowed(&[], now, 4), Ok(()));
        let three = [t(100), t(200), t(300)];
        assert_eq!(unattended_allowed(&three, now, 4), Ok(()));
        let four = [t(300), t(100), t(400), t(200)];
        assert_eq!(unattended_allowed(&four, now, 4), Err(t(100) + DAY), "when the oldest leaves the window");
        let old = [t(-10), t(0), t(100), t(200), t(300)];
        assert_eq!(unattended_allowed(&old, now, 4), Ok(()), "older than 24 hours do not count");
        let five = [t(100), t(200), t(300), t(400), t(500)];
        assert_eq!(unattended_allowed(&five, now, 4), Err(t(200) + DAY));
    }
}
