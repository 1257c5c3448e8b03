//! Signed requests and handshakes → [`Identity`].
//!
//! Owns: the time window, the replay cache, the verified-delegation cache,
//! tickets, challenges and the metadata policy. Uses `plaza_protocol::auth`
//! for the chain itself. Knows nothing of HTTP frameworks or sockets.
//!
//! [`Authenticator::verify_request`] runs, in order: cheap checks (header count and
//! sizes, chain JSON, timestamp and metadata format), the time window, the payload
//! binding (the last link must sign this method, path, timestamp and metadata),
//! the chain (one recovery when the delegation is cached), EIP-1654 contract calls,
//! `hashPayload`, the metadata policy, and last the replay store — so only requests
//! that would be accepted consume a replay slot.

mod cache;
pub mod cli;
mod error;
mod expiring;
mod identity;
mod policy;
mod redis_replay;
mod replay;
mod request;
mod rpc;

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use expiring::ExpiringMap;
use plaza_protocol::auth::{
    self as chain, ChainShape, ContractMode, Policy, VerifiedChain, VerifyOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cache::DelegationCache;
pub use error::{AuthError, PolicyViolation};
pub use identity::{AuthMethod, ChainKind, Identity, Metadata, SceneMetadata};
pub use policy::{scene_metadata, RequestPolicy, KERNEL_SCENE_SIGNER};
pub(crate) use redis_replay::redact as redact_url;
pub use redis_replay::{check_url as check_redis_url, RedisReplayError, RedisReplayStore};
pub use replay::{replay_key, MemoryReplayStore, ReplayFuture, ReplayStore};
pub use request::SignedRequest;

use plaza_protocol::auth::headers::{self as request_headers, HeaderLimits};

/// Settings for signed requests and handshakes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How old a signed timestamp may be, ms.
    pub window_ms: u64,
    /// How far in the future a signed timestamp may be, ms (ignored in compat).
    pub skew_ms: u64,
    /// Reproduce `decentraland-crypto-middleware` exactly (lenient chains, `Number()`
    /// timestamps, no future bound). Off: the strict policy of SPEC.md §11.
    pub compat: bool,
    /// Most `x-identity-*` headers a request may carry.
    pub max_identity_headers: usize,
    /// Largest single `x-identity-*` header value, bytes. A 3-link chain header is
    /// under 1 KiB; metadata with a scene's realm block about 500 bytes.
    pub max_header_bytes: usize,
    /// Signed requests remembered for replay refusal (live entries; full = 503).
    pub replay_capacity: usize,
    /// Redis shared by several nodes for replay refusal (`redis://…`); unset =
    /// the in-memory store of this node. Unreachable at start = refuse to start;
    /// unreachable later = 503 `auth_replay_unavailable`.
    pub replay_redis_url: Option<String>,
    /// Key prefix in that Redis.
    pub replay_redis_prefix: String,
    /// Deadline of one Redis command (and of the first connection), ms.
    pub replay_redis_timeout_ms: u64,
    /// Verified delegations cached (each saves one recovery per request).
    pub delegation_cache_size: usize,
    /// Ethereum JSON-RPC URL for EIP-1654 (contract wallet) links; unset = refused.
    pub eth_rpc_url: Option<String>,
    /// Timeout of one `eth_call`, ms.
    pub eth_rpc_timeout_ms: u64,
    /// Also accept the newer payload form with the metadata signed verbatim
    /// (SPEC.md §6.5); the legacy lower-cased form is always tried first.
    pub accept_verbatim_metadata: bool,
    /// Metadata rules for the WebSocket connect.
    pub connect_policy: RequestPolicy,
    /// Lifetime of a connect ticket, ms (single use).
    pub ticket_ttl_ms: u64,
    /// Outstanding tickets held at most (oldest dropped first).
    pub max_tickets: usize,
    /// Lifetime of a challenge, ms (single use).
    pub challenge_ttl_ms: u64,
    /// Outstanding challenges held at most (oldest dropped first).
    pub max_challenges: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            window_ms: 60_000,
            skew_ms: 5_000,
            compat: false,
            max_identity_headers: 16,
            max_header_bytes: 8 * 1024,
            replay_capacity: 200_000,
            replay_redis_url: None,
            replay_redis_prefix: "plaza:replay:".into(),
            replay_redis_timeout_ms: 1_000,
            delegation_cache_size: 50_000,
            eth_rpc_url: None,
            eth_rpc_timeout_ms: 5_000,
            accept_verbatim_metadata: false,
            connect_policy: RequestPolicy::default(),
            ticket_ttl_ms: 30_000,
            max_tickets: 50_000,
            challenge_ttl_ms: 30_000,
            max_challenges: 50_000,
        }
    }
}

/// Verifies signed requests, tickets and challenges. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    config: AuthConfig,
    replay: Arc<dyn ReplayStore>,
    delegations: DelegationCache,
    rpc: Option<Result<rpc::EthRpc, AuthError>>,
    tickets: Mutex<ExpiringMap<Identity>>,
    /// Deadlines in ms since `epoch`.
    challenges: Mutex<ExpiringMap<()>>,
    epoch: Instant,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Longest chain read from headers in compat mode (the reference has no limit; this
/// only bounds work).
const COMPAT_MAX_LINKS: usize = 64;

impl Authenticator {
    /// An authenticator with the in-memory replay store.
    pub fn new(config: &AuthConfig) -> Authenticator {
        let store = Arc::new(MemoryReplayStore::new(config.replay_capacity));
        Authenticator::with_replay_store(config, store)
    }

    /// The authenticator `config` asks for: with the Redis replay store when
    /// `replay_redis_url` is set (connecting first), else the in-memory one.
    pub async fn from_config(config: &AuthConfig) -> Result<Authenticator, RedisReplayError> {
        match config.replay_redis_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => {
                let store = RedisReplayStore::connect(
                    url,
                    &config.replay_redis_prefix,
                    std::time::Duration::from_millis(config.replay_redis_timeout_ms.max(1)),
                )
                .await?;
                Ok(Authenticator::with_replay_store(config, Arc::new(store)))
            }
            None => Ok(Authenticator::new(config)),
        }
    }

    /// An authenticator with a given replay store (e.g. shared through Redis).
    pub fn with_replay_store(config: &AuthConfig, replay: Arc<dyn ReplayStore>) -> Authenticator {
        let rpc = config
            .eth_rpc_url
            .as_deref()
            .map(|url| rpc::EthRpc::new(url, config.eth_rpc_timeout_ms));
        Authenticator {
            inner: Arc::new(Inner {
                config: config.clone(),
                replay,
                delegations: DelegationCache::new(config.delegation_cache_size),
                rpc,
                tickets: Mutex::new(ExpiringMap::new(config.max_tickets)),
                challenges: Mutex::new(ExpiringMap::new(config.max_challenges)),
                epoch: Instant::now(),
            }),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// Verifies a signed HTTP request (or first-frame headers). See the module doc for
    /// the order of checks. The identity's `method` is `SignedRequest` when a body is
    /// given, else `FirstFrame` (the gateway may overwrite it, e.g. `UpgradeHeaders`).
    pub async fn verify_request(
        &self,
        req: &SignedRequest<'_>,
        policy: &RequestPolicy,
        now_ms: u64,
    ) -> Result<Identity, AuthError> {
        let cfg = &self.inner.config;
        let compat = cfg.compat;
        let limits = HeaderLimits {
            max_headers: cfg.max_identity_headers,
            max_header_bytes: cfg.max_header_bytes,
            max_links: if compat {
                COMPAT_MAX_LINKS
            } else {
                chain::MAX_CHAIN_LINKS
            },
        };
        let parsed = request_headers::parse_headers(req.headers, limits, compat)?;
        let ts_raw = parsed.timestamp.as_deref();
        let meta_raw = parsed.metadata.as_deref();

        // Timestamp format and window (before any curve work).
        let now = now_ms as f64;
        let timestamp_ms = if compat {
            let ts = request_headers::parse_timestamp_compat(ts_raw)?;
            // The middleware's rule, verbatim: expired when `timestamp + window < now`.
            if ts + (cfg.window_ms as f64) < now {
                return Err(AuthError::Expired {
                    timestamp_ms: ts as i64,
                    now_ms,
                    window_ms: cfg.window_ms,
                });
            }
            ts as i64
        } else {
            let ts = request_headers::parse_timestamp_strict(ts_raw)?;
            let now_i = i64::try_from(now_ms).unwrap_or(i64::MAX);
            if ts < now_i.saturating_sub(cfg.window_ms as i64) {
                return Err(AuthError::Expired {
                    timestamp_ms: ts,
                    now_ms,
                    window_ms: cfg.window_ms,
                });
            }
            if ts > now_i.saturating_add(cfg.skew_ms as i64) {
                return Err(AuthError::FutureTimestamp {
                    timestamp_ms: ts,
                    now_ms,
                    skew_ms: cfg.skew_ms,
                });
            }
            ts
        };

        // Metadata: the header as sent (reported), and the text that was signed (policy).
        let metadata: Value = match meta_raw.filter(|m| !m.is_empty()) {
            None => Value::Object(Default::default()),
            Some(m) => {
                serde_json::from_str(m).map_err(|e| AuthError::BadMetadata(e.to_string()))?
            }
        };
        if !compat && !metadata.is_object() {
            return Err(AuthError::BadMetadata(format!(
                "found {}",
                json_kind(&metadata)
            )));
        }

        // Payload binding: which form (if any) the last link signed. Cheap string work.
        let path = request_headers::pathname(req.path);
        let ts_text = ts_raw.unwrap_or_default();
        let meta_text = meta_raw.unwrap_or_default();
        let legacy = chain::signed_fetch_payload(req.method, path, ts_text, meta_text);
        let signed = last_payload(&parsed.chain);
        let (payload, verbatim) = if signed == Some(legacy.as_str()) {
            (legacy, false)
        } else {
            let alt = format!(
                "{}:{}:{ts_text}:{meta_text}",
                req.method.to_lowercase(),
                path.to_lowercase()
            );
            if cfg.accept_verbatim_metadata && signed == Some(alt.as_str()) {
                (alt, true)
            } else {
                return Err(AuthError::InvalidChain(
                    chain::ChainError::FinalAuthorityMismatch {
                        expected: legacy,
                        actual: signed.unwrap_or_default().to_owned(),
                    },
                ));
            }
        };

        let verified = self
            .verify_chain_value(&parsed.chain, &payload, compat, now_ms)
            .await?;

        // Policy fields come from what was signed (lower-cased in the legacy form).
        let signed_meta = if verbatim {
            metadata.clone()
        } else {
            serde_json::from_str(&meta_text.to_lowercase()).unwrap_or(Value::Null)
        };
        let scene = scene_metadata(&signed_meta);
        // hashPayload binds the body when there is one; `None` (a WebSocket connect, or
        // a recorded request without its body) has nothing to bind, and `""` means unbound.
        if let (Some(hash), Some(body)) = (
            scene.hash_payload.as_deref().filter(|h| !h.is_empty()),
            req.body,
        ) {
            if request::sha256_hex(body) != hash {
                return Err(AuthError::BodyHashMismatch);
            }
        }
        let has_body = req.body.is_some_and(|b| !b.is_empty());
        policy.check(&scene, has_body).map_err(AuthError::Policy)?;

        let address = verified.signer.to_lowercase();
        let expires = u64::try_from(timestamp_ms.saturating_add(cfg.window_ms as i64)).unwrap_or(0);
        if !self
            .inner
            .replay
            .insert_new(replay_key(&address, &payload), expires, now_ms)
            .await?
        {
            return Err(AuthError::Replayed);
        }
        Ok(Identity {
            address,
            chain: chain_kind(verified.shape),
            metadata: Metadata::from_value(&metadata),
            scene,
            method: if req.body.is_some() {
                AuthMethod::SignedRequest
            } else {
                AuthMethod::FirstFrame
            },
            verified_at_ms: now_ms,
        })
    }

    /// Walks the chain, then runs any EIP-1654 contract checks.
    async fn verify_chain_value(
        &self,
        chain_value: &Value,
        expected: &str,
        compat: bool,
        now_ms: u64,
    ) -> Result<VerifiedChain, AuthError> {
        let rpc = match &self.inner.rpc {
            None => None,
            Some(Ok(rpc)) => Some(rpc),
            Some(Err(e)) => return Err(e.clone()),
        };
        let opts = VerifyOptions {
            policy: if compat {
                Policy::Compat
            } else {
                Policy::Strict
            },
            now_ms,
            contracts: if rpc.is_some() {
                ContractMode::Defer
            } else {
                ContractMode::Refuse
            },
        };
        let verified =
            chain::verify_chain(chain_value, expected, &opts, Some(&self.inner.delegations))?;
        if let Some(rpc) = rpc {
            for check in &verified.contract_checks {
                rpc.check(check).await?;
            }
        }
        Ok(verified)
    }

    /// Issues a single-use ticket for `identity`, valid `ticket_ttl_ms`.
    pub fn issue_ticket(&self, identity: &Identity, now_ms: u64) -> (String, u64) {
        let cfg = &self.inner.config;
        let ticket = random_token();
        let expires = now_ms.saturating_add(cfg.ticket_ttl_ms);
        self.inner
            .tickets
            .lock()
            .insert(ticket.clone(), identity.clone(), expires, now_ms);
        (ticket, expires)
    }

    /// Redeems a ticket once; the identity comes back with `method = Ticket`.
    pub fn redeem_ticket(&self, ticket: &str, now_ms: u64) -> Result<Identity, AuthError> {
        let mut identity = self
            .inner
            .tickets
            .lock()
            .take(ticket, now_ms)
            .ok_or(AuthError::InvalidTicket)?;
        identity.method = AuthMethod::Ticket;
        identity.verified_at_ms = now_ms;
        Ok(identity)
    }

    /// A fresh challenge: `plaza-challenge-` + 256 random bits in hex, single use.
    pub fn new_challenge(&self) -> String {
        let cfg = &self.inner.config;
        let nonce = format!("plaza-challenge-{}", random_token());
        let now = self.monotonic_ms();
        let deadline = now.saturating_add(cfg.challenge_ttl_ms);
        let mut challenges = self.inner.challenges.lock();
        challenges.insert(nonce.clone(), (), deadline, now);
        metrics::gauge!("plaza_auth_challenges_outstanding").set(challenges.len() as f64);
        nonce
    }

    /// Forgets a challenge the connection no longer needs (it authenticated
    /// another way, or ended): it could never be answered anyway.
    pub fn discard_challenge(&self, nonce: &str) {
        let mut challenges = self.inner.challenges.lock();
        challenges.discard(nonce);
        metrics::gauge!("plaza_auth_challenges_outstanding").set(challenges.len() as f64);
    }

    /// Challenges issued and not yet answered, discarded or expired.
    pub fn outstanding_challenges(&self) -> usize {
        self.inner.challenges.lock().len()
    }

    fn monotonic_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Verifies an auth chain whose last link signs `nonce` (issued by
    /// [`Authenticator::new_challenge`], unexpired, unused). Always the strict policy.
    pub async fn verify_challenge(
        &self,
        nonce: &str,
        auth_chain: &Value,
        now_ms: u64,
    ) -> Result<Identity, AuthError> {
        let now = self.monotonic_ms();
        self.inner
            .challenges
            .lock()
            .take(nonce, now)
            .ok_or(AuthError::InvalidChallenge)?;
        let verified = self
            .verify_chain_value(auth_chain, nonce, false, now_ms)
            .await?;
        Ok(Identity {
            address: verified.signer.to_lowercase(),
            chain: chain_kind(verified.shape),
            metadata: Metadata::empty(),
            scene: SceneMetadata::default(),
            method: AuthMethod::Challenge,
            verified_at_ms: now_ms,
        })
    }

    /// Delegations currently cached (for metrics and tests).
    pub fn cached_delegations(&self) -> usize {
        self.inner.delegations.len()
    }
}

fn last_payload(chain_value: &Value) -> Option<&str> {
    chain_value.as_array()?.last()?.get("payload")?.as_str()
}

fn chain_kind(shape: ChainShape) -> ChainKind {
    match shape {
        ChainShape::Direct => ChainKind::Direct,
        ChainShape::Ephemeral => ChainKind::Ephemeral,
        ChainShape::Contract => ChainKind::Contract,
        ChainShape::Other => ChainKind::Other,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// 256 random bits as 64 hex digits. Falls back to hashing the clock and a counter
/// only if the OS source fails (never observed on supported platforms), so issuing a
/// ticket cannot panic.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = format!(
            "{:?}{}",
            Instant::now(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        bytes = plaza_protocol::auth::crypto::keccak256(seed.as_bytes());
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_from_toml_with_defaults() {
        let cfg: AuthConfig = toml::from_str(
            "compat = false\neth_rpc_url = \"http://127.0.0.1:8545\"\n[connect_policy]\nreject_guests = true\nparcels = [\"0,0\"]\n",
        )
        .expect("parses");
        assert_eq!(cfg.window_ms, 60_000);
        assert_eq!(cfg.skew_ms, 5_000);
        assert_eq!(cfg.eth_rpc_url.as_deref(), Some("http://127.0.0.1:8545"));
        assert!(cfg.connect_policy.reject_guests);
        assert_eq!(cfg.connect_policy.parcels, ["0,0"]);
        assert!(
            toml::from_str::<AuthConfig>("windw_ms = 1").is_err(),
            "typos are refused"
        );
    }
}
