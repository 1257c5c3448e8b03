//! Scores and leaderboards with anti-farming rules.

use serde::{Deserialize, Serialize};

/// Leaderboards and their rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoresConfig {}

impl ScoresConfig {
    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
