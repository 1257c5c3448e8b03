//! Durable storage (SQLite or PostgreSQL through sqlx): seats, scores,
//! leaderboard entries, the audit log and the deny-list.
//!
//! Owns: connecting, the embedded migrations, every SQL statement. It must
//! not decide whether a score is acceptable (that is `scores`); it only
//! enforces what needs the transaction: one claim per session and the daily
//! cap, checked and written atomically.
//!
//! Both backends run the same SQL text: the schemas are identical column for
//! column and SQLite accepts `$N` placeholders, so each query is written once
//! and [`on_pool!`] expands it for each pool type.

mod board;
mod committer;
mod queries;

pub use board::{day_start, BoardSpec, Operator, Period, Sort};
pub use queries::{
    AuditQuery, AuditRecord, CursorKey, DenyEntry, Entry, NewScore, Page, RankedEntry, RecordError,
    Recorded, SeatChange, SeatRecord, Source,
};

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use thiserror::Error;

/// File name of the embedded database under `server.data_dir`.
pub const SQLITE_FILE: &str = "plaza.db";

/// How long a SQLite statement waits for a lock before failing. Writers are
/// serialised through one connection, so this only covers readers racing a
/// checkpoint and other processes opening the file.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Database settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://…` or `sqlite://…`; the embedded SQLite file
    /// `<server.data_dir>/plaza.db` when unset.
    pub database_url: Option<String>,
    /// PostgreSQL schema to use (created if missing); `None` = the server's
    /// `search_path`. Lets several deployments or test runs share a database.
    pub schema: Option<String>,
    /// SQLite `synchronous` pragma: `full` fsyncs every commit (survives power
    /// loss), `normal` fsyncs at checkpoints (a commit survives a process
    /// crash, not a power cut). Either way a `201` follows the commit.
    pub sqlite_synchronous: SqliteSync,
    /// Connections for reads (leaderboard queries). PostgreSQL also uses
    /// this many for writes; SQLite always writes through one connection.
    pub max_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            database_url: None,
            schema: None,
            sqlite_synchronous: SqliteSync::Full,
            max_connections: 8,
        }
    }
}

/// SQLite durability level (see [`StoreConfig::sqlite_synchronous`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSync {
    /// fsync on every commit.
    Full,
    /// fsync at WAL checkpoints.
    Normal,
}

impl StoreConfig {
    /// The URL to connect to: `database_url`, else the embedded file.
    pub fn resolved_url(&self, data_dir: &Path) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", data_dir.join(SQLITE_FILE).display()),
        }
    }

    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err("store.max_connections must be positive".into());
        }
        if let Some(url) = &self.database_url {
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres:")
                || url.starts_with("postgresql:"))
            {
                return Err("store.database_url must start with sqlite: or postgres://".into());
            }
        }
        if let Some(schema) = &self.schema {
            if !valid_schema_name(schema) {
                return Err("store.schema must be 1-63 characters of [a-z0-9_], starting with a letter or _".into());
            }
        }
        Ok(())
    }
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The URL or a setting is unusable.
    #[error("store configuration: {0}")]
    Config(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any database error.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A group commit failed (every write in it was rolled back).
    #[error("commit failed: {0}")]
    Commit(String),
    /// A stored value does not fit its Rust type (a corrupt row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Config(_) => "store_config",
            StoreError::Migrate(_) => "store_migrate",
            StoreError::Db(_) | StoreError::Commit(_) => "store_unavailable",
            StoreError::Corrupt(_) => "store_corrupt",
        }
    }
}

#[derive(Debug, Clone)]
enum Backend {
    /// One writer connection (SQLite allows one writer at a time; queueing
    /// in the pool is cheaper than spinning on `SQLITE_BUSY`) and a pool of
    /// readers, which WAL lets run beside the writer.
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
        committer: committer::Committer,
    },
    Postgres(PgPool),
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

/// Runs `$body` with `$pool` bound to the writer pool of either backend and
/// `$pg` to whether it is PostgreSQL. The body is type-checked once per
/// backend, so the same query text serves both.
macro_rules! on_write_pool {
    ($store:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { write: $pool, .. } => {
                #[allow(unused_variables)]
                let $pg = false;
                $body
            }
            $crate::store::Backend::Postgres($pool) => {
                #[allow(unused_variables)]
                let $pg = true;
                $body
            }
        }
    };
}

/// Like [`on_write_pool!`] with the reader pool.
macro_rules! on_read_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { read: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use {on_read_pool, on_write_pool};

impl Store {
    /// Connects with default settings and runs the embedded migrations.
    /// `url` is `sqlite://path` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, &StoreConfig::default()).await
    }

    /// Connects to `config.database_url`, or the embedded file under `data_dir`.
    pub async fn open(config: &StoreConfig, data_dir: &Path) -> Result<Store, StoreError> {
        config.validate().map_err(StoreError::Config)?;
        if config.database_url.is_none() {
            std::fs::create_dir_all(data_dir).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create data dir {}: {e}",
                    data_dir.display()
                ))
            })?;
        }
        Self::connect_with(&config.resolved_url(data_dir), config).await
    }

    /// Connects to `url` with `config`'s pool and durability settings (its
    /// `database_url` is ignored) and runs the embedded migrations.
    pub async fn connect_with(url: &str, config: &StoreConfig) -> Result<Store, StoreError> {
        config.validate().map_err(StoreError::Config)?;
        let backend = if url.starts_with("sqlite:") {
            let sync = match config.sqlite_synchronous {
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Normal => SqliteSynchronous::Normal,
            };
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(sync)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&write).await?;
            let read = SqlitePoolOptions::new()
                .max_connections(config.max_connections)
                .connect_with(options.read_only(true))
                .await?;
            let committer = committer::Committer::spawn(write.clone());
            Backend::Sqlite {
                write,
                read,
                committer,
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut options = PgConnectOptions::from_str(url)?;
            if let Some(schema) = &config.schema {
                if !valid_schema_name(schema) {
                    return Err(StoreError::Config(format!(
                        "invalid schema name {schema:?}"
                    )));
                }
                // Create it through a one-off connection before any pooled
                // connection sets it as its search_path.
                let setup = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options.clone())
                    .await?;
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .execute(&setup)
                    .await?;
                setup.close().await;
                options = options.options([("search_path", schema.as_str())]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections)
                .connect_with(options)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL scheme (want sqlite: or postgres:): {}",
                url.split(':').next().unwrap_or_default()
            )));
        };
        Ok(Store { backend })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection (waits for in-flight statements).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_url_is_the_embedded_file() {
        let c = StoreConfig::default();
        assert_eq!(
            c.resolved_url(Path::new("/var/plaza")),
            "sqlite:///var/plaza/plaza.db"
        );
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn bad_settings_are_refused() {
        let c = StoreConfig {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let c = StoreConfig {
            schema: Some("x; DROP TABLE".into()),
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let c = StoreConfig {
            schema: Some("plaza_test_1".into()),
            ..Default::default()
        };
        c.validate().expect("plain schema name");
    }
}
