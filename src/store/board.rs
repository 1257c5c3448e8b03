//! What a leaderboard *is* to the store: how a new score folds into a
//! player's entry (operator), which end ranks first (sort) and when the board
//! resets (period). Pure values and arithmetic; no SQL, no config parsing
//! beyond serde names.

use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// 1970-01-01 was a Thursday; ISO weeks start on Monday, three days earlier.
const EPOCH_TO_MONDAY_MS: i64 = 3 * DAY_MS;

/// How a submission combines with the player's current entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Keep the best value (by the board's sort); ties keep the earlier time.
    Best,
    /// Keep the most recent value.
    Latest,
    /// Add every submission.
    Sum,
}

/// Which values rank first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Highest first (points).
    Desc,
    /// Lowest first (lap times).
    Asc,
}

/// When the board starts over. Past periods are kept and stay queryable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Never resets.
    All,
    /// Resets at 00:00 UTC.
    Daily,
    /// Resets on Monday 00:00 UTC.
    Weekly,
}

impl Period {
    /// Start (Unix ms) of the period containing `at_ms`; `0` for [`Period::All`].
    pub fn start(self, at_ms: i64) -> i64 {
        match self {
            Period::All => 0,
            Period::Daily => at_ms.div_euclid(DAY_MS) * DAY_MS,
            Period::Weekly => {
                (at_ms + EPOCH_TO_MONDAY_MS).div_euclid(WEEK_MS) * WEEK_MS - EPOCH_TO_MONDAY_MS
            }
        }
    }

    /// End (exclusive, Unix ms) of the period starting at `start`; `None` for [`Period::All`].
    pub fn end(self, start: i64) -> Option<i64> {
        match self {
            Period::All => None,
            Period::Daily => Some(start + DAY_MS),
            Period::Weekly => Some(start + WEEK_MS),
        }
    }
}

/// Start (Unix ms) of the UTC day containing `at_ms` (daily caps count from here).
pub fn day_start(at_ms: i64) -> i64 {
    Period::Daily.start(at_ms)
}

/// A leaderboard as the store needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardSpec {
    /// Stable id (the URL segment).
    pub id: String,
    /// Fold rule.
    pub operator: Operator,
    /// Rank order.
    pub sort: Sort,
    /// Reset period.
    pub period: Period,
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-02T10:43:35Z, a Wednesday.
    const WED: i64 = 1_796_208_215_000;

    #[test]
    fn daily_starts_at_utc_midnight() {
        let start = Period::Daily.start(WED);
        assert_eq!(start, 1_796_169_600_000); // 2026-12-02T00:00:00Z
        assert_eq!(Period::Daily.start(start), start);
        assert_eq!(Period::Daily.start(start - 1), start - DAY_MS);
        assert_eq!(Period::Daily.end(start), Some(start + DAY_MS));
    }

    #[test]
    fn weekly_starts_on_monday_utc() {
        let start = Period::Weekly.start(WED);
        assert_eq!(start, 1_795_996_800_000); // 2026-11-30T00:00:00Z, a Monday
        assert_eq!(Period::Weekly.start(start + WEEK_MS - 1), start);
        assert_eq!(Period::Weekly.start(start + WEEK_MS), start + WEEK_MS);
        // The epoch week (Thu 1970-01-01) began on Monday 1969-12-29.
        assert_eq!(Period::Weekly.start(0), -3 * DAY_MS);
    }

    #[test]
    fn all_time_is_one_period() {
        assert_eq!(Period::All.start(WED), 0);
        assert_eq!(Period::All.end(0), None);
    }
}
