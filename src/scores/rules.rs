//! The pure anti-farming checks: score range and session binding (the seat
//! exists, is the claimant's, is of an allowed room type, is recent, was
//! played long enough, and the score fits the time played). No I/O: the
//! caller loads the seat; the duplicate-session and daily-cap checks need
//! the write transaction and live in `store`.

use super::{RulesConfig, ScoreError, MAX_SAFE_INTEGER};
use crate::store::SeatRecord;

/// Parses the JSON `score`: an integer within ±(2^53−1). `1.0`, `1e3`,
/// strings and larger values are refused rather than rounded.
pub(crate) fn parse_score(raw: &serde_json::Value) -> Result<i64, ScoreError> {
    let n = raw.as_i64().ok_or(ScoreError::InvalidScore)?;
    if n.abs() > MAX_SAFE_INTEGER {
        return Err(ScoreError::InvalidScore);
    }
    Ok(n)
}

/// `[min_score, max_score]`.
pub(crate) fn check_range(rules: &RulesConfig, score: i64) -> Result<(), ScoreError> {
    if rules.min_score.is_some_and(|lo| score < lo) || rules.max_score.is_some_and(|hi| score > hi)
    {
        return Err(ScoreError::OutOfRange);
    }
    Ok(())
}

/// Session binding for a claim by `address` naming `seat` (already looked
/// up; `None` = never seen), at `now_ms`.
pub(crate) fn check_session(
    rules: &RulesConfig,
    address: &str,
    seat: Option<&SeatRecord>,
    score: i64,
    now_ms: i64,
) -> Result<(), ScoreError> {
    let seat = seat.ok_or(ScoreError::SessionUnknown)?;
    if seat.address != address {
        return Err(ScoreError::SessionNotYours);
    }
    if !rules.room_types.is_empty() && !rules.room_types.contains(&seat.room_type) {
        return Err(ScoreError::SessionRoomType(seat.room_type.clone()));
    }
    if let Some(left) = seat.left_ms {
        if now_ms.saturating_sub(left) > i64::try_from(rules.claim_window_ms).unwrap_or(i64::MAX) {
            return Err(ScoreError::SessionExpired);
        }
    }
    let end = seat.left_ms.unwrap_or(now_ms).min(now_ms);
    let played_ms = u64::try_from(end.saturating_sub(seat.joined_ms)).unwrap_or(0);
    if played_ms < rules.min_play_ms {
        return Err(ScoreError::TooShort {
            played_ms,
            min_ms: rules.min_play_ms,
        });
    }
    if let Some(rate) = rules.max_per_second {
        // f64 is exact far beyond any realistic session length × rate; the
        // cast saturates instead of wrapping.
        let earned = (rate * played_ms as f64 / 1000.0).floor() as i64;
        let max = rules.base_score.saturating_add(earned);
        if score > max {
            return Err(ScoreError::Implausible {
                score,
                max,
                played_ms,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ME: &str = "0x00000000000000000000000000000000000000aa";

    fn seat(joined_ms: i64, left_ms: Option<i64>) -> SeatRecord {
        SeatRecord {
            seat: "s1".into(),
            address: ME.into(),
            room: "r1".into(),
            room_type: "arena".into(),
            joined_ms,
            left_ms,
        }
    }

    #[test]
    fn scores_must_be_safe_integers() {
        assert_eq!(parse_score(&json!(42)).expect("int"), 42);
        assert_eq!(
            parse_score(&json!(-9_007_199_254_740_991_i64)).expect("min safe"),
            -MAX_SAFE_INTEGER
        );
        assert!(parse_score(&json!(9_007_199_254_740_992_i64)).is_err());
        assert!(parse_score(&json!(1.5)).is_err());
        assert!(parse_score(&json!(1.0)).is_err());
        assert!(parse_score(&json!("7")).is_err());
        assert!(parse_score(&json!(null)).is_err());
    }

    #[test]
    fn session_must_exist_and_be_mine() {
        let rules = RulesConfig::default();
        assert!(matches!(
            check_session(&rules, ME, None, 1, 0),
            Err(ScoreError::SessionUnknown)
        ));
        let mut other = seat(0, None);
        other.address = "0x00000000000000000000000000000000000000bb".into();
        assert!(matches!(
            check_session(&rules, ME, Some(&other), 1, 10),
            Err(ScoreError::SessionNotYours)
        ));
        check_session(&rules, ME, Some(&seat(0, None)), 1, 10).expect("own open seat");
    }

    #[test]
    fn room_type_and_claim_window() {
        let rules = RulesConfig {
            room_types: vec!["race".into()],
            ..Default::default()
        };
        let err = check_session(&rules, ME, Some(&seat(0, None)), 1, 10).expect_err("wrong type");
        assert_eq!(err.code(), "session_room_type");
        let rules = RulesConfig {
            claim_window_ms: 1_000,
            ..Default::default()
        };
        check_session(&rules, ME, Some(&seat(0, Some(5_000))), 1, 6_000).expect("inside window");
        let err =
            check_session(&rules, ME, Some(&seat(0, Some(5_000))), 1, 6_001).expect_err("late");
        assert_eq!(err.code(), "session_expired");
    }

    #[test]
    fn plausibility_scales_with_time_played() {
        let rules = RulesConfig {
            max_per_second: Some(2.0),
            base_score: 10,
            ..Default::default()
        };
        // 30 s played → at most 10 + 60.
        check_session(&rules, ME, Some(&seat(0, None)), 70, 30_000).expect("at the bound");
        let err = check_session(&rules, ME, Some(&seat(0, None)), 71, 30_000).expect_err("over");
        assert!(matches!(
            err,
            ScoreError::Implausible {
                max: 70,
                played_ms: 30_000,
                ..
            }
        ));
        // A closed seat stops the clock.
        let err = check_session(&rules, ME, Some(&seat(0, Some(10_000))), 31, 60_000)
            .expect_err("closed");
        assert!(matches!(err, ScoreError::Implausible { max: 30, .. }));
    }

    #[test]
    fn minimum_play_time_and_range() {
        let rules = RulesConfig {
            min_play_ms: 5_000,
            ..Default::default()
        };
        let err = check_session(&rules, ME, Some(&seat(1_000, None)), 1, 5_999).expect_err("short");
        assert_eq!(err.code(), "play_time_too_short");
        check_session(&rules, ME, Some(&seat(1_000, None)), 1, 6_000).expect("long enough");
        let rules = RulesConfig {
            min_score: Some(0),
            max_score: Some(100),
            ..Default::default()
        };
        assert!(check_range(&rules, -1).is_err());
        assert!(check_range(&rules, 101).is_err());
        check_range(&rules, 100).expect("in range");
    }
}
