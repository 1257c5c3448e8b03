//! Signed requests and handshakes → [`Identity`].
//!
//! Owns: the time window, the replay cache, the verified-delegation cache,
//! tickets, challenges and the metadata policy. Uses `plaza_protocol::auth`
//! for the chain itself. Knows nothing of HTTP frameworks or sockets.

mod identity;

pub use identity::{AuthMethod, ChainKind, Identity, SceneMetadata};

use serde::{Deserialize, Serialize};

/// Settings for signed requests and handshakes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How old a signed timestamp may be, ms.
    pub window_ms: u64,
    /// How far in the future a signed timestamp may be, ms.
    pub skew_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { window_ms: 60_000, skew_ms: 5_000 }
    }
}
