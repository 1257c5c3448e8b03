//! Rooms: matchmaking, room actors, room logic and the state they own.

use serde::{Deserialize, Serialize};

/// Room types and matchmaking settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsConfig {}

impl RoomsConfig {
    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
