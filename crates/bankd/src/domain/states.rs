//! Connection states (Powens' closed list) and what each one means for whoever must act next.

use std::fmt;

/// The `state` of a connection or a connection source; `None` (healthy) is represented as
/// `Option<ConnectionState>` by callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    ScaRequired,
    WebauthRequired,
    AdditionalInformationNeeded,
    Decoupled,
    Validating,
    ActionNeeded,
    PasswordExpired,
    WrongPass,
    RateLimiting,
    WebsiteUnavailable,
    Bug,
}

/// Who has to move for a connection in this state to become healthy again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextMove {
    /// The user must act (new credentials, OTP, SCA, something at the bank).
    User,
    /// bankd retries by itself later.
    Retry,
    /// A sync is under way.
    Wait,
}

impl ConnectionState {
    pub const ALL: [ConnectionState; 11] = [
        ConnectionState::ScaRequired,
        ConnectionState::WebauthRequired,
        ConnectionState::AdditionalInformationNeeded,
        ConnectionState::Decoupled,
        ConnectionState::Validating,
        ConnectionState::ActionNeeded,
        ConnectionState::PasswordExpired,
        ConnectionState::WrongPass,
        ConnectionState::RateLimiting,
        ConnectionState::WebsiteUnavailable,
        ConnectionState::Bug,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::ScaRequired => "SCARequired",
            ConnectionState::WebauthRequired => "webauthRequired",
            ConnectionState::AdditionalInformationNeeded => "additionalInformationNeeded",
            ConnectionState::Decoupled => "decoupled",
            ConnectionState::Validating => "validating",
            ConnectionState::ActionNeeded => "actionNeeded",
            ConnectionState::PasswordExpired => "passwordExpired",
            ConnectionState::WrongPass => "wrongpass",
            ConnectionState::RateLimiting => "rateLimiting",
            ConnectionState::WebsiteUnavailable => "websiteUnavailable",
            ConnectionState::Bug => "bug",
        }
    }

    pub fn parse(s: &str) -> Option<ConnectionState> {
        ConnectionState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    pub fn next_move(self) -> NextMove {
        match self {
            ConnectionState::ScaRequired
            | ConnectionState::WebauthRequired
            | ConnectionState::AdditionalInformationNeeded
            | ConnectionState::Decoupled
            | ConnectionState::ActionNeeded
            | ConnectionState::PasswordExpired
            | ConnectionState::WrongPass => NextMove::User,
            ConnectionState::RateLimiting | ConnectionState::WebsiteUnavailable | ConnectionState::Bug => {
                NextMove::Retry
            }
            ConnectionState::Validating => NextMove::Wait,
        }
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_wire_spelling() {
        for state in ConnectionState::ALL {
            assert_eq!(ConnectionState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ConnectionState::parse("wrongPass"), None, "the spec spelling is lower-case");
    }

    #[test]
    fn who_acts_next() {
        use ConnectionState::*;
        let user = [
            ScaRequired,
            WebauthRequired,
            AdditionalInformationNeeded,
            Decoupled,
            ActionNeeded,
            PasswordExpired,
            WrongPass,
        ];
        for state in ConnectionState::ALL {
            let expected = if user.contains(&state) {
                NextMove::User
            } else if state == Validating {
                NextMove::Wait
            } else {
                NextMove::Retry
            };
            assert_eq!(state.next_move(), expected, "{state}");
        }
    }
}
