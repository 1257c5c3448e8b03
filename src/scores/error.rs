//! [`ScoreError`]: every way a scores request can be refused, each with a
//! stable `code`, the `rule` that refused it and its HTTP status (the
//! refusal contract of DESIGN §6). The mapping to a response lives in
//! `http.rs`; this file knows no framework.

use thiserror::Error;

use crate::store::StoreError;

/// Which limiter refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// Per verified address.
    Address,
    /// Per client IP.
    Ip,
}

/// A refused or failed scores request.
#[derive(Debug, Error)]
pub enum ScoreError {
    /// Unparseable JSON, a missing field, a bad query parameter.
    #[error("malformed request: {0}")]
    BadRequest(String),
    /// The score is not an integer within ±(2^53−1).
    #[error("score must be an integer within ±(2^53−1)")]
    InvalidScore,
    /// Body over `limits.max_body_bytes`.
    #[error("request body over {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No leaderboard with this id is declared.
    #[error("unknown leaderboard {0:?}")]
    UnknownLeaderboard(String),
    /// The signed request was refused by `auth`.
    #[error("{message}")]
    Auth {
        /// `auth`'s stable code.
        code: &'static str,
        /// `signature`, `hash_payload` or `metadata`.
        rule: &'static str,
        /// `auth`'s status (400, 401, 403, 503).
        status: u16,
        /// Human-readable reason.
        message: String,
    },
    /// The address is deny-listed.
    #[error("address is deny-listed")]
    Denied,
    /// A rate limit.
    #[error("too many score submissions; retry in {retry_after_ms} ms")]
    RateLimited {
        /// Which limiter.
        scope: LimitScope,
        /// When a retry can succeed.
        retry_after_ms: u64,
    },
    /// The per-day cap.
    #[error("daily cap of {cap} scores reached on this leaderboard")]
    DailyCap {
        /// The cap.
        cap: u32,
        /// Until the next UTC day.
        retry_after_ms: u64,
    },
    /// The leaderboard needs `session` and the claim has none.
    #[error("this leaderboard requires the session (seat id) the score was earned in")]
    SessionRequired,
    /// The server never saw this seat.
    #[error("unknown session")]
    SessionUnknown,
    /// The seat belongs to another address.
    #[error("session belongs to another address")]
    SessionNotYours,
    /// The seat's room type may not score on this board.
    #[error("sessions of room type {0:?} cannot score on this leaderboard")]
    SessionRoomType(String),
    /// The seat closed longer ago than the claim window.
    #[error("session closed too long ago")]
    SessionExpired,
    /// A claim for this session exists.
    #[error("a score was already submitted for this session")]
    SessionDuplicate,
    /// Played less than `min_play_ms`.
    #[error("played {played_ms} ms, minimum is {min_ms} ms")]
    TooShort {
        /// Time in the room.
        played_ms: u64,
        /// Required.
        min_ms: u64,
    },
    /// Above `base + max_per_second × seconds played`.
    #[error("score {score} is implausible: at most {max} after {played_ms} ms of play")]
    Implausible {
        /// Claimed.
        score: i64,
        /// Allowed.
        max: i64,
        /// Time in the room.
        played_ms: u64,
    },
    /// Outside `[min_score, max_score]`.
    #[error("score outside the leaderboard's range")]
    OutOfRange,
    /// The presence check did not find the player near the scene.
    #[error("player not found in-world near the scene: {0}")]
    NotInWorld(String),
    /// The presence service failed and the rule fails closed.
    #[error("presence check unavailable")]
    PresenceUnavailable,
    /// Admin route without the right bearer token.
    #[error("missing or wrong admin token")]
    Unauthorized,
    /// Route or resource not found (also admin routes when no token is set).
    #[error("not found")]
    NotFound,
    /// The database failed; nothing was written.
    #[error("storage unavailable")]
    Store(#[from] StoreError),
}

impl ScoreError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ScoreError::BadRequest(_) => "bad_request",
            ScoreError::InvalidScore => "invalid_score",
            ScoreError::BodyTooLarge { .. } => "body_too_large",
            ScoreError::UnknownLeaderboard(_) => "unknown_leaderboard",
            ScoreError::Auth { code, .. } => code,
            ScoreError::Denied => "address_denied",
            ScoreError::RateLimited {
                scope: LimitScope::Address,
                ..
            } => "rate_limited_address",
            ScoreError::RateLimited {
                scope: LimitScope::Ip,
                ..
            } => "rate_limited_ip",
            ScoreError::DailyCap { .. } => "daily_cap",
            ScoreError::SessionRequired => "session_required",
            ScoreError::SessionUnknown => "session_unknown",
            ScoreError::SessionNotYours => "session_not_yours",
            ScoreError::SessionRoomType(_) => "session_room_type",
            ScoreError::SessionExpired => "session_expired",
            ScoreError::SessionDuplicate => "session_duplicate",
            ScoreError::TooShort { .. } => "play_time_too_short",
            ScoreError::Implausible { .. } => "score_implausible",
            ScoreError::OutOfRange => "score_out_of_range",
            ScoreError::NotInWorld(_) => "not_in_world",
            ScoreError::PresenceUnavailable => "presence_unavailable",
            ScoreError::Unauthorized => "unauthorized",
            ScoreError::NotFound => "not_found",
            ScoreError::Store(_) => "store_unavailable",
        }
    }

    /// The anti-farming rule (or request check) that refused it.
    pub fn rule(&self) -> &'static str {
        match self {
            ScoreError::BadRequest(_)
            | ScoreError::InvalidScore
            | ScoreError::BodyTooLarge { .. } => "request",
            ScoreError::UnknownLeaderboard(_) => "leaderboard",
            ScoreError::Auth { rule, .. } => rule,
            ScoreError::Denied => "deny_list",
            ScoreError::RateLimited { .. } => "rate_limit",
            ScoreError::DailyCap { .. } => "daily_cap",
            ScoreError::SessionRequired
            | ScoreError::SessionUnknown
            | ScoreError::SessionNotYours
            | ScoreError::SessionRoomType(_)
            | ScoreError::SessionExpired
            | ScoreError::SessionDuplicate => "session",
            ScoreError::TooShort { .. } => "min_play_time",
            ScoreError::Implausible { .. } | ScoreError::OutOfRange => "plausibility",
            ScoreError::NotInWorld(_) | ScoreError::PresenceUnavailable => "presence",
            ScoreError::Unauthorized | ScoreError::NotFound => "admin",
            ScoreError::Store(_) => "store",
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ScoreError::BadRequest(_) | ScoreError::InvalidScore => 400,
            ScoreError::BodyTooLarge { .. } => 413,
            ScoreError::UnknownLeaderboard(_) | ScoreError::NotFound => 404,
            ScoreError::Auth { status, .. } => *status,
            ScoreError::Denied => 403,
            ScoreError::RateLimited { .. } | ScoreError::DailyCap { .. } => 429,
            ScoreError::SessionDuplicate => 409,
            ScoreError::SessionRequired
            | ScoreError::SessionUnknown
            | ScoreError::SessionNotYours
            | ScoreError::SessionRoomType(_)
            | ScoreError::SessionExpired
            | ScoreError::TooShort { .. }
            | ScoreError::Implausible { .. }
            | ScoreError::OutOfRange
            | ScoreError::NotInWorld(_) => 422,
            ScoreError::Unauthorized => 401,
            ScoreError::PresenceUnavailable | ScoreError::Store(_) => 503,
        }
    }

    /// Seconds for `Retry-After` (429 and 503), rounded up.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ScoreError::RateLimited { retry_after_ms, .. }
            | ScoreError::DailyCap { retry_after_ms, .. } => {
                Some(retry_after_ms.div_ceil(1000).max(1))
            }
            ScoreError::PresenceUnavailable
            | ScoreError::Store(_)
            | ScoreError::Auth { status: 503, .. } => Some(1),
            _ => None,
        }
    }

    /// The message sent to the client. Storage details stay in the log.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    /// Whether this refusal belongs in the audit log (refused claims, not
    /// server faults or admin mistakes).
    pub fn audited(&self) -> bool {
        !matches!(
            self,
            ScoreError::Store(_) | ScoreError::Unauthorized | ScoreError::NotFound
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_refusal_contract() {
        assert_eq!(ScoreError::InvalidScore.status(), 400);
        assert_eq!(ScoreError::BodyTooLarge { limit: 1 }.status(), 413);
        assert_eq!(ScoreError::UnknownLeaderboard("x".into()).status(), 404);
        assert_eq!(ScoreError::Denied.status(), 403);
        assert_eq!(ScoreError::SessionDuplicate.status(), 409);
        assert_eq!(ScoreError::SessionUnknown.status(), 422);
        let limited = ScoreError::RateLimited {
            scope: LimitScope::Ip,
            retry_after_ms: 1_200,
        };
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.retry_after_secs(), Some(2));
        assert_eq!(limited.rule(), "rate_limit");
        assert_eq!(ScoreError::SessionNotYours.rule(), "session");
    }
}
