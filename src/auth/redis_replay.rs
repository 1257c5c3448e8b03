//! The replay store shared by several nodes: one Redis key per accepted signed
//! request, written with `SET key 1 NX PX ttl`, so the first node to see a
//! request wins and every node refuses it again until its window closes.
//!
//! Owns: the Redis connection (one multiplexed connection that reconnects on
//! its own) and the per-command deadline.
//! Must not: guess when Redis cannot answer. An error or a timeout refuses the
//! request (`auth_replay_unavailable`, 503, retryable): letting it through
//! could let a replay through.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::error::AuthError;
use super::replay::{ReplayFuture, ReplayStore};

/// Why the shared store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RedisReplayError {
    /// The URL is not a Redis URL.
    #[error("auth.replay_redis_url: {0}")]
    Url(String),
    /// The first connection failed.
    #[error("connecting to Redis at {url}: {reason}")]
    Connect {
        /// The URL without its password.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Checks that `url` is a Redis URL, without connecting (`plaza config check`).
pub fn check_url(url: &str) -> Result<(), RedisReplayError> {
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| RedisReplayError::Url(e.to_string()))
}

/// The replay store in Redis. Cheap to share behind an `Arc`.
pub struct RedisReplayStore {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisReplayStore {
    /// Connects (the first connection must succeed within `timeout`); keys are
    /// `prefix` followed by the hex replay key.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<RedisReplayStore, RedisReplayError> {
        let client = redis::Client::open(url).map_err(|e| RedisReplayError::Url(e.to_string()))?;
        let shown = redact(url);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1);
        let conn =
            tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
                .await
                .map_err(|_| RedisReplayError::Connect {
                    url: shown.clone(),
                    reason: format!("no answer within {} ms", timeout.as_millis()),
                })?
                .map_err(|e| RedisReplayError::Connect {
                    url: shown,
                    reason: e.to_string(),
                })?;
        Ok(RedisReplayStore {
            conn,
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    fn key(&self, key: &[u8; 32]) -> String {
        let mut k = String::with_capacity(self.prefix.len() + 64);
        k.push_str(&self.prefix);
        k.push_str(&hex::encode(key));
        k
    }
}

impl ReplayStore for RedisReplayStore {
    fn insert_new(&self, key: [u8; 32], expires_ms: u64, now_ms: u64) -> ReplayFuture<'_> {
        let name = self.key(&key);
        // The key lives until the signed timestamp leaves the window; at least
        // 1 ms, since Redis refuses PX 0.
        let ttl_ms = expires_ms.saturating_sub(now_ms).max(1);
        let mut conn = self.conn.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&name).arg(1u8).arg("NX").arg("PX").arg(ttl_ms);
            let set = cmd.query_async::<Option<String>>(&mut conn);
            match tokio::time::timeout(timeout, set).await {
                Ok(Ok(Some(_))) => Ok(true),
                Ok(Ok(None)) => Ok(false),
                Ok(Err(e)) => {
                    metrics::counter!("plaza_auth_replay_store_errors_total").increment(1);
                    tracing::warn!(error = %e, "replay store: Redis failed");
                    Err(AuthError::ReplayUnavailable(e.to_string()))
                }
                Err(_) => {
                    metrics::counter!("plaza_auth_replay_store_errors_total").increment(1);
                    tracing::warn!("replay store: Redis did not answer in time");
                    Err(AuthError::ReplayUnavailable(format!(
                        "no answer within {} ms",
                        timeout.as_millis()
                    )))
                }
            }
        })
    }
}

/// `url` with any password replaced by `***`, for logs, errors and
/// `plaza config check`.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme + 3 => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
            } else {
                url.to_owned()
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("redis://user:secret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(
            redact("redis://:secret@host:6379"),
            "redis://:***@host:6379"
        );
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact("redis://user@host"), "redis://user@host");
    }

    #[test]
    fn only_redis_urls_pass_the_check() {
        check_url("redis://127.0.0.1:6379").expect("plain");
        check_url("redis://:pw@cache.example:6380/2").expect("password and db");
        // This build has no TLS to Redis: refused at config check, not at start.
        assert!(check_url("rediss://cache.example:6380/2").is_err());
        assert!(check_url("http://127.0.0.1:6379").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[tokio::test]
    async fn a_closed_port_fails_at_connect_not_at_the_first_request() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let err =
            RedisReplayStore::connect(&format!("redis://{addr}"), "t:", Duration::from_millis(500))
                .await
                .expect_err("nothing listens");
        assert!(matches!(err, RedisReplayError::Connect { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out_at_connect() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Accepts and never answers.
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let started = std::time::Instant::now();
        let err =
            RedisReplayStore::connect(&format!("redis://{addr}"), "t:", Duration::from_millis(300))
                .await
                .expect_err("never answers");
        assert!(matches!(err, RedisReplayError::Connect { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10), "bounded");
        hold.abort();
    }
}
