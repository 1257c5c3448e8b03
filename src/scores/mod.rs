//! Scores and leaderboards with anti-farming rules.
//!
//! Owns: the leaderboard declarations (`[scores]` config), the refusal rules
//! and their order, the audit log writer, the consumer of room events, and
//! the HTTP routes under `/v1/scores`, `/v1/leaderboards` and `/v1/admin`.
//! Must not: verify chains itself (that is `auth`), write SQL (that is
//! `store`), or block a room actor (rooms `try_send` events to us).
//!
//! | file | owns |
//! |---|---|
//! | `error.rs` | [`ScoreError`]: every refusal with its code, rule and status |
//! | `rules.rs` | pure checks: score range, session binding, plausibility |
//! | `limits.rs` | per-address / per-IP rate limiters |
//! | `presence.rs` | the optional in-world check against a peers API |
//! | `audit.rs` | the bounded, batched audit-log writer |
//! | `service.rs` | [`ScoresService`]: the submission pipeline and reads |
//! | `events.rs` | [`spawn_event_writer`]: seats and awards from rooms |
//! | `http.rs` | [`router`] |

mod audit;
mod error;
mod events;
mod http;
mod limits;
mod presence;
mod rules;
mod service;

pub use error::ScoreError;
pub use events::spawn_event_writer;
pub use http::router;
pub use presence::PresenceConfig;
pub use service::{Accepted, Claim, ClaimInput, ScoresService};

pub use crate::store::{Operator, Period, Sort};

use serde::{Deserialize, Serialize};

use crate::auth::RequestPolicy;

/// Largest `|score|` accepted: 2^53 − 1, the largest integer a TypeScript
/// client can send exactly.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Leaderboards and their rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoresConfig {
    /// The declared leaderboards; a score for any other id is a 404.
    pub leaderboards: Vec<LeaderboardConfig>,
    /// Refusals buffered for the audit writer; beyond this they are counted
    /// (`plaza_scores_audit_dropped_total`) but not stored, so a flood of
    /// bad requests cannot turn into a flood of writes.
    pub audit_queue: usize,
}

impl Default for ScoresConfig {
    fn default() -> Self {
        Self {
            leaderboards: Vec::new(),
            audit_queue: 8_192,
        }
    }
}

/// One leaderboard: `[[scores.leaderboards]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardConfig {
    /// Stable id, used in URLs: `[A-Za-z0-9_-]{1,64}`.
    pub id: String,
    /// How a new score combines with the player's entry.
    #[serde(default = "default_operator")]
    pub operator: Operator,
    /// Which values rank first.
    #[serde(default = "default_sort")]
    pub sort: Sort,
    /// When the board resets (past periods are kept).
    #[serde(default = "default_period")]
    pub period: Period,
    /// Anti-farming rules for client claims (awards from room logic skip them).
    #[serde(default)]
    pub rules: RulesConfig,
}

fn default_operator() -> Operator {
    Operator::Best
}
fn default_sort() -> Sort {
    Sort::Desc
}
fn default_period() -> Period {
    Period::All
}

/// Anti-farming rules of one leaderboard. The defaults are the strict
/// ones: every claim needs a session of its own address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Metadata policy and body binding, enforced by `auth` on the signed
    /// request. A `policy` table replaces the default as a whole: fields it
    /// omits are off.
    pub policy: RequestPolicy,
    /// A claim must name the seat (`session`) it was earned in.
    pub require_session: bool,
    /// Room types whose sessions may score here; empty = any.
    pub room_types: Vec<String>,
    /// How long after a seat closes its score may still be claimed, ms.
    pub claim_window_ms: u64,
    /// Minimum time in the room before a score counts, ms.
    pub min_play_ms: u64,
    /// Plausibility: a score may not exceed `base_score + max_per_second ×
    /// seconds played`. `None` = no rate bound.
    pub max_per_second: Option<f64>,
    /// Plausibility allowance at zero seconds.
    pub base_score: i64,
    /// Smallest score accepted.
    pub min_score: Option<i64>,
    /// Largest score accepted.
    pub max_score: Option<i64>,
    /// Claims per address per minute; 0 = unlimited.
    pub per_address_per_minute: u32,
    /// Claims per client IP per minute (checked before the signature, so it
    /// also caps verification work); 0 = unlimited.
    pub per_ip_per_minute: u32,
    /// Claims per address per UTC day on this board; 0 = unlimited.
    pub daily_cap: u32,
    /// Optional in-world presence check.
    pub presence: Option<PresenceConfig>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            policy: RequestPolicy {
                require_kernel_scene: true,
                reject_guests: true,
                require_hash_payload: true,
                ..RequestPolicy::default()
            },
            require_session: true,
            room_types: Vec::new(),
            claim_window_ms: 10 * 60_000,
            min_play_ms: 0,
            max_per_second: None,
            base_score: 0,
            min_score: None,
            max_score: None,
            per_address_per_minute: 30,
            per_ip_per_minute: 600,
            daily_cap: 1_000,
            presence: None,
        }
    }
}

impl ScoresConfig {
    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), String> {
        if self.audit_queue == 0 {
            return Err("scores.audit_queue must be positive".into());
        }
        let mut seen = std::collections::HashSet::new();
        for lb in &self.leaderboards {
            let id = &lb.id;
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "scores.leaderboards: invalid id {id:?} (want [A-Za-z0-9_-]{{1,64}})"
                ));
            }
            if !seen.insert(id.as_str()) {
                return Err(format!("scores.leaderboards: duplicate id {id:?}"));
            }
            let r = &lb.rules;
            let needs_session =
                r.max_per_second.is_some() || r.min_play_ms > 0 || !r.room_types.is_empty();
            if needs_session && !r.require_session {
                return Err(format!(
                    "scores.leaderboards[{id}]: max_per_second, min_play_ms and room_types need require_session = true"
                ));
            }
            if let Some(rate) = r.max_per_second {
                if !(rate.is_finite() && rate >= 0.0) {
                    return Err(format!(
                        "scores.leaderboards[{id}]: max_per_second must be a finite number >= 0"
                    ));
                }
            }
            if let (Some(lo), Some(hi)) = (r.min_score, r.max_score) {
                if lo > hi {
                    return Err(format!("scores.leaderboards[{id}]: min_score > max_score"));
                }
            }
            if let Some(p) = &r.presence {
                p.validate()
                    .map_err(|e| format!("scores.leaderboards[{id}].rules.presence: {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> ScoresConfig {
        toml::from_str(toml_text).expect("valid toml")
    }

    #[test]
    fn leaderboards_parse_with_defaults() {
        let c = parse(
            r#"
            [[leaderboards]]
            id = "kills"
            [[leaderboards]]
            id = "laps"
            operator = "best"
            sort = "asc"
            period = "weekly"
            rules = { room_types = ["race"], max_per_second = 2.5, daily_cap = 5 }
            "#,
        );
        c.validate().expect("valid");
        assert_eq!(c.leaderboards[0].operator, Operator::Best);
        assert_eq!(c.leaderboards[0].sort, Sort::Desc);
        assert_eq!(c.leaderboards[0].period, Period::All);
        assert!(c.leaderboards[0].rules.require_session);
        assert_eq!(c.leaderboards[1].sort, Sort::Asc);
        assert_eq!(c.leaderboards[1].rules.room_types, vec!["race".to_owned()]);
        assert_eq!(c.leaderboards[1].rules.daily_cap, 5);
    }

    #[test]
    fn bad_declarations_are_refused() {
        let dup = parse("[[leaderboards]]\nid = \"a\"\n[[leaderboards]]\nid = \"a\"\n");
        assert!(dup.validate().expect_err("duplicate").contains("duplicate"));
        let bad_id = parse("[[leaderboards]]\nid = \"a/b\"\n");
        assert!(bad_id.validate().is_err());
        let no_session =
            parse("[[leaderboards]]\nid = \"a\"\nrules = { require_session = false, max_per_second = 1.0 }\n");
        assert!(no_session
            .validate()
            .expect_err("needs session")
            .contains("require_session"));
        let nan = parse("[[leaderboards]]\nid = \"a\"\nrules = { max_per_second = nan }\n");
        assert!(nan.validate().is_err());
        assert!(toml::from_str::<ScoresConfig>(
            "[[leaderboards]]\nid = \"a\"\noperator = \"max\"\n"
        )
        .is_err());
    }
}
