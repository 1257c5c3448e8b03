//! Typed configuration: defaults that need no file, a TOML file on top, then
//! `PLAZA_*` environment variables, then CLI flags (applied by `main`).
//!
//! Environment variables name a key path with `__` between levels:
//! `PLAZA_SERVER__BIND=0.0.0.0:8080`, `PLAZA_AUTH__WINDOW_MS=30000`. A value
//! is read as a TOML value when it parses as one (numbers, booleans, arrays),
//! else as a string.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listener, TLS, logging.
    pub server: ServerConfig,
    /// Connection limits.
    pub limits: LimitsConfig,
    /// Signed requests and handshakes.
    pub auth: crate::auth::AuthConfig,
    /// Room types and matchmaking.
    pub rooms: crate::room::RoomsConfig,
    /// Leaderboards and anti-farming rules.
    pub scores: crate::scores::ScoresConfig,
    /// Database.
    pub store: crate::store::StoreConfig,
}

/// Listener and process settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// PEM certificate chain; with `tls_key`, serves `wss://`/`https://`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Directory for the embedded database and other files.
    pub data_dir: PathBuf,
    /// Log as JSON lines instead of text.
    pub json_logs: bool,
    /// Bearer token for `/v1/admin/*`; admin routes answer 404 when unset.
    pub admin_token: Option<String>,
    /// Proxies whose `X-Forwarded-For` is trusted (exact IPs).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long shutdown waits for clients and writers to drain, ms.
    pub shutdown_grace_ms: u64,
    /// Runtime worker threads; 0 = one per CPU the process may run on.
    /// With one, the server runs tokio's single-threaded scheduler, which
    /// skips the work-stealing bookkeeping a lone worker never needs.
    pub workers: usize,
}

impl ServerConfig {
    /// The worker count `workers` resolves to on this machine (at least 1).
    pub fn resolved_workers(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            data_dir: PathBuf::from("./data"),
            json_logs: false,
            admin_token: None,
            trusted_proxies: Vec::new(),
            shutdown_grace_ms: 10_000,
            workers: 0,
        }
    }
}

/// Connection limits; every one is on by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest frame payload accepted, bytes. 64 KiB fits any sane room
    /// message; bigger frames are refused before they are buffered.
    pub max_frame_bytes: usize,
    /// Sustained messages per second per connection. The arena sends 11/s.
    pub messages_per_second: u32,
    /// Burst allowance on top of the sustained rate.
    pub message_burst: u32,
    /// Messages over the rate tolerated (dropped, then answered with an
    /// error) before the connection is closed.
    pub flood_strikes: u32,
    /// Time allowed from open to a successful handshake, ms.
    pub handshake_timeout_ms: u64,
    /// Close a connection that sent nothing (not even a pong) for this long, ms.
    pub idle_timeout_ms: u64,
    /// Server ping interval, ms.
    pub ping_interval_ms: u64,
    /// Open connections per client IP.
    pub connections_per_ip: usize,
    /// Open connections per wallet.
    pub connections_per_wallet: usize,
    /// Open connections in total.
    pub max_connections: usize,
    /// How long a dropped session is held for `resume`, ms.
    pub resume_grace_ms: u64,
    /// Largest HTTP request body, bytes.
    pub max_body_bytes: usize,
}

impl LimitsConfig {
    /// How often each connection's idle check (and server ping) runs:
    /// min(idle timeout / 4, ping interval), at least 100 ms.
    pub fn keepalive_period(&self) -> std::time::Duration {
        let idle = std::time::Duration::from_millis(self.idle_timeout_ms.max(1_000));
        let ping = std::time::Duration::from_millis(self.ping_interval_ms.max(100));
        (idle / 4).min(ping)
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            messages_per_second: 30,
            message_burst: 60,
            flood_strikes: 50,
            handshake_timeout_ms: 5_000,
            idle_timeout_ms: 60_000,
            ping_interval_ms: 15_000,
            connections_per_ip: 64,
            connections_per_wallet: 8,
            max_connections: 20_000,
            resume_grace_ms: 30_000,
            max_body_bytes: 16 * 1024,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax or a value of the wrong type / unknown key.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then `file` (if any), then `PLAZA_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut tree = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?
            }
            None => toml::Table::new(),
        };
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("PLAZA_") else {
                continue;
            };
            if rest.is_empty() || rest == "CONFIG" || rest == "LOG" {
                continue;
            }
            let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            set_path(&mut tree, &parts, parse_env_value(&value))?;
        }
        let config: Config = toml::Value::Table(tree)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Cross-field checks serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "server.tls_cert and server.tls_key must be set together".into(),
            ));
        }
        if self.server.workers > 1024 {
            return Err(ConfigError::Invalid(
                "server.workers must be at most 1024 (0 = one per CPU)".into(),
            ));
        }
        if self.limits.max_frame_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "limits.max_frame_bytes must be at least 1024".into(),
            ));
        }
        if self.limits.messages_per_second == 0 || self.limits.message_burst == 0 {
            return Err(ConfigError::Invalid(
                "limits.messages_per_second and limits.message_burst must be positive".into(),
            ));
        }
        if let Some(url) = self
            .auth
            .replay_redis_url
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            crate::auth::check_redis_url(url).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        self.rooms.validate().map_err(ConfigError::Invalid)?;
        self.scores.validate().map_err(ConfigError::Invalid)?;
        self.store.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// The effective configuration as TOML (what `plaza config check` prints),
    /// with secrets masked: the admin token and any password in the Redis URL.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.server.admin_token.is_some() {
            shown.server.admin_token = Some("***".into());
        }
        if let Some(url) = shown.auth.replay_redis_url.as_mut() {
            *url = crate::auth::redact_url(url);
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match probe.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(
    table: &mut toml::Table,
    parts: &[String],
    value: toml::Value,
) -> Result<(), ConfigError> {
    match parts {
        [] => Ok(()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, value),
                _ => Err(ConfigError::Invalid(format!(
                    "PLAZA_ variable nests under non-table key {first}"
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None, Vec::new()).expect("defaults load");
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
        assert!(c.server.tls_cert.is_none());
    }

    #[test]
    fn the_printed_config_masks_secrets() {
        let env = vec![
            (
                "PLAZA_SERVER__ADMIN_TOKEN".to_owned(),
                "tok-secret".to_owned(),
            ),
            (
                "PLAZA_AUTH__REPLAY_REDIS_URL".to_owned(),
                "redis://:pw-secret@10.0.0.5:6379/1".to_owned(),
            ),
        ];
        let c = Config::load(None, env).expect("load");
        assert_eq!(c.server.admin_token.as_deref(), Some("tok-secret"));
        let shown = c.to_toml();
        assert!(
            !shown.contains("tok-secret") && !shown.contains("pw-secret"),
            "{shown}"
        );
        assert!(shown.contains("redis://:***@10.0.0.5:6379/1"), "{shown}");
    }

    #[test]
    fn env_overrides_nested_keys_with_types() {
        let env = vec![
            ("PLAZA_SERVER__BIND".to_owned(), "0.0.0.0:9000".to_owned()),
            (
                "PLAZA_LIMITS__MAX_FRAME_BYTES".to_owned(),
                "2048".to_owned(),
            ),
            ("HOME".to_owned(), "/root".to_owned()),
        ];
        let c = Config::load(None, env).expect("load");
        assert_eq!(c.server.bind.to_string(), "0.0.0.0:9000");
        assert_eq!(c.limits.max_frame_bytes, 2048);
    }

    #[test]
    fn store_settings_are_checked_by_config_check() {
        let env = vec![(
            "PLAZA_STORE__DATABASE_URL".to_owned(),
            "mysql://x".to_owned(),
        )];
        let err = Config::load(None, env).expect_err("bad store url");
        assert!(err.to_string().contains("database_url"), "{err}");
    }

    #[test]
    fn unknown_keys_and_half_tls_are_refused() {
        let env = vec![("PLAZA_SERVER__NOPE".to_owned(), "1".to_owned())];
        assert!(Config::load(None, env).is_err());
        let env = vec![("PLAZA_SERVER__TLS_CERT".to_owned(), "/x.pem".to_owned())];
        let err = Config::load(None, env).expect_err("half tls");
        assert!(err.to_string().contains("tls_key"));
    }
}
