//! Durable storage (SQLite or PostgreSQL through sqlx).

use serde::{Deserialize, Serialize};

/// Database settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://…` or `sqlite://…`; the embedded SQLite file under
    /// `server.data_dir` when unset.
    pub database_url: Option<String>,
}
