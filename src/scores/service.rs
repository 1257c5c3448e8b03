//! [`ScoresService`]: the submission pipeline (which rule runs when, and
//! why in that order), awards from room logic, and the leaderboard reads.
//!
//! Order of a claim, cheapest and least trusting first:
//! body shape and score type (400) → leaderboard (404) → per-IP rate (429,
//! before any curve work) → signature, time window, replay, body binding and
//! metadata policy (`auth`: 401/403) → deny-list (403) → per-address rate
//! (429) → score range, session binding and plausibility (422) → presence
//! (422/503) → the write transaction (one claim per session 409, daily cap
//! 429) → commit → `201`.
//! Every refusal is counted by rule and queued for the audit log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::audit::AuditSink;
use super::limits::Limits;
use super::{presence, rules, LeaderboardConfig, RulesConfig, ScoreError};
use crate::auth::{AuthError, Authenticator, Identity, PolicyViolation, SignedRequest};
use crate::config::Config;
use crate::events::EventProgress;
use crate::store::{
    day_start, AuditRecord, BoardSpec, NewScore, RecordError, Recorded, SeatRecord, Source, Store,
};

/// A declared leaderboard with its limiters.
#[derive(Debug)]
pub(crate) struct Board {
    pub(crate) spec: BoardSpec,
    pub(crate) rules: RulesConfig,
    limits: Limits,
}

impl Board {
    fn new(c: &LeaderboardConfig) -> Self {
        Self {
            spec: BoardSpec {
                id: c.id.clone(),
                operator: c.operator,
                sort: c.sort,
                period: c.period,
            },
            rules: c.rules.clone(),
            limits: Limits::new(c.rules.per_address_per_minute, c.rules.per_ip_per_minute),
        }
    }
}

/// The JSON body of `POST /v1/scores`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Leaderboard id.
    pub leaderboard: String,
    /// Kept as JSON until the range check: `1.0` and `2^53` must be refused,
    /// not rounded by the parser.
    pub score: serde_json::Value,
    /// The seat id the score was earned in.
    #[serde(default)]
    pub session: Option<String>,
    /// Free-form game data stored with the score.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// What the HTTP layer hands the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct ClaimInput<'a> {
    /// HTTP method as received.
    pub method: &'a str,
    /// URL path (no query) as received.
    pub path: &'a str,
    /// Raw header pairs.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The request body.
    pub body: &'a [u8],
    /// The client IP (socket, or `X-Forwarded-For` from a trusted proxy).
    pub ip: IpAddr,
}

/// The `201` body: the stored score and the player's standing.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// Row id.
    pub id: i64,
    /// Leaderboard id.
    pub leaderboard: String,
    /// Lower-case address.
    pub address: String,
    /// The submitted score.
    pub score: i64,
    /// The seat it was earned in.
    pub session: Option<String>,
    /// Unix ms.
    pub created_ms: i64,
    /// Rank in the current period after this score.
    pub rank: u64,
    /// The player's entry after this score (operator value, period, rank).
    pub entry: crate::store::RankedEntry,
}

/// Scores, leaderboards and the anti-farming pipeline. Build one per
/// process and share it (`Arc`).
#[derive(Debug)]
pub struct ScoresService {
    auth: Authenticator,
    store: Store,
    boards: HashMap<String, Board>,
    audit: AuditSink,
    http: reqwest::Client,
    pub(crate) admin_token: Option<String>,
    pub(crate) trusted_proxies: Vec<IpAddr>,
    pub(crate) max_body_bytes: usize,
    /// The room-event queue's progress, once a writer follows it.
    events: OnceLock<Arc<EventProgress>>,
}

/// How long a claim naming a seat the store does not have yet waits for the
/// room events queued before it to be written.
const SEAT_WAIT: Duration = Duration::from_secs(2);

/// Facts gathered while a claim moves through the pipeline, for the audit
/// record if it is refused.
#[derive(Debug, Default)]
struct Trail {
    address: Option<String>,
    board: Option<String>,
    summary: String,
}

fn to_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl ScoresService {
    /// Builds the service from the whole config (leaderboards, admin token,
    /// trusted proxies, body limit). Spawns the audit writer, so it must run
    /// inside a Tokio runtime; the returned handle ends once the service is
    /// dropped and the queue drained.
    pub fn new(
        config: &Config,
        auth: Authenticator,
        store: Store,
    ) -> (Arc<ScoresService>, JoinHandle<()>) {
        let (audit, task) = AuditSink::spawn(store.clone(), config.scores.audit_queue);
        let boards = config
            .scores
            .leaderboards
            .iter()
            .map(|c| (c.id.clone(), Board::new(c)))
            .collect();
        let service = ScoresService {
            auth,
            store,
            boards,
            audit,
            http: reqwest::Client::new(),
            admin_token: config.server.admin_token.clone().filter(|t| !t.is_empty()),
            trusted_proxies: config.server.trusted_proxies.clone(),
            max_body_bytes: config.limits.max_body_bytes,
            events: OnceLock::new(),
        };
        (Arc::new(service), task)
    }

    /// The store handle.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Ties session lookups to the room-event queue (the first call wins).
    pub(crate) fn follow_events(&self, progress: Arc<EventProgress>) {
        if self.events.set(progress).is_err() {
            tracing::warn!("scores: a second event writer was started; lookups follow the first");
        }
    }

    /// The stored seat. A seat is stored by the event writer shortly after
    /// the room queued its `SeatOpened`, which happens before the client is
    /// told the seat id; so when the store does not know it yet, this waits
    /// (up to `SEAT_WAIT`) for every event queued so far and looks again. A
    /// claim sent the moment `joined` arrived is then judged on the seat, not
    /// refused as unknown.
    async fn seat(&self, seat: &str) -> Result<Option<SeatRecord>, ScoreError> {
        let pending = self.events.get().map(|p| (p, p.queued(), p.handled()));
        if let Some(found) = self.store.seat(seat).await? {
            return Ok(Some(found));
        }
        match pending {
            Some((progress, mark, handled)) if handled < mark => {
                if !progress.wait_handled(mark, SEAT_WAIT).await {
                    tracing::warn!(seat, "scores: room events still queued after the wait");
                }
                Ok(self.store.seat(seat).await?)
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn board(&self, id: &str) -> Result<&Board, ScoreError> {
        self.boards
            .get(id)
            .ok_or_else(|| ScoreError::UnknownLeaderboard(id.to_owned()))
    }

    /// The whole pipeline for a `POST /v1/scores` (see the module docs for
    /// the order); returns after the commit.
    pub async fn submit(&self, input: ClaimInput<'_>, now_ms: u64) -> Result<Accepted, ScoreError> {
        let mut trail = Trail::default();
        let result = self.submit_signed(&input, now_ms, &mut trail).await;
        self.account(&result, input.ip, now_ms, trail);
        result
    }

    async fn submit_signed(
        &self,
        input: &ClaimInput<'_>,
        now_ms: u64,
        trail: &mut Trail,
    ) -> Result<Accepted, ScoreError> {
        let claim: Claim = serde_json::from_slice(input.body)
            .map_err(|e| ScoreError::BadRequest(format!("invalid score body: {e}")))?;
        trail.board = Some(claim.leaderboard.clone());
        trail.summary = summarize(&claim);
        let score = rules::parse_score(&claim.score)?;
        let board = self.board(&claim.leaderboard)?;
        // Before the signature: bounds the curve work one IP can cause.
        board.limits.check_ip(input.ip)?;
        let request = SignedRequest {
            method: input.method,
            path: input.path,
            headers: input.headers,
            body: Some(input.body),
        };
        let identity = self
            .auth
            .verify_request(&request, &board.rules.policy, now_ms)
            .await
            .map_err(auth_refusal)?;
        trail.address = Some(identity.address.clone());
        self.after_verification(board, &identity, input.ip, &claim, score, now_ms)
            .await
    }

    /// Counts and audits a request refused before its body could be read.
    pub(crate) fn refuse_unparsed(&self, error: &ScoreError, ip: IpAddr, now_ms: u64) {
        self.account::<()>(&Err(clone_shallow(error)), ip, now_ms, Trail::default());
    }

    /// The rules after `auth`: deny-list, per-address rate, range, session
    /// binding, presence, then the write transaction.
    async fn after_verification(
        &self,
        board: &Board,
        identity: &Identity,
        ip: IpAddr,
        claim: &Claim,
        score: i64,
        now_ms: u64,
    ) -> Result<Accepted, ScoreError> {
        let address = identity.address.as_str();
        if self.store.is_denied(address).await? {
            return Err(ScoreError::Denied);
        }
        board.limits.check_address(address)?;
        rules::check_range(&board.rules, score)?;
        let now = to_i64(now_ms);
        match &claim.session {
            Some(session) => {
                let seat = self.seat(session).await?;
                rules::check_session(&board.rules, address, seat.as_ref(), score, now)?;
            }
            None if board.rules.require_session => return Err(ScoreError::SessionRequired),
            None => {}
        }
        if let Some(presence) = &board.rules.presence {
            presence::check(
                &self.http,
                presence,
                address,
                identity.scene.parcel.as_deref(),
            )
            .await?;
        }
        let metadata = claim.metadata.as_ref().map(|m| m.to_string());
        let ip_text = ip.to_string();
        let daily_cap =
            (board.rules.daily_cap > 0).then(|| (board.rules.daily_cap, day_start(now)));
        let new = NewScore {
            board: &board.spec,
            address,
            score,
            session: claim.session.as_deref(),
            source: Source::Claim,
            metadata: metadata.as_deref(),
            ip: Some(&ip_text),
            at_ms: now,
            daily_cap,
        };
        let recorded = self.store.record_score(&new).await.map_err(|e| match e {
            RecordError::DuplicateSession => ScoreError::SessionDuplicate,
            RecordError::DailyCap { cap } => ScoreError::DailyCap {
                cap,
                retry_after_ms: u64::try_from(day_start(now) + 86_400_000 - now).unwrap_or(0),
            },
            RecordError::Store(e) => ScoreError::Store(e),
        })?;
        metrics::counter!("plaza_scores_accepted_total", "leaderboard" => board.spec.id.clone())
            .increment(1);
        Ok(accepted(
            &board.spec.id,
            address,
            claim.session.clone(),
            recorded,
        ))
    }

    /// Records a refusal: metric, log, audit queue.
    fn account<T>(&self, result: &Result<T, ScoreError>, ip: IpAddr, now_ms: u64, trail: Trail) {
        let Err(e) = result else { return };
        metrics::counter!("plaza_scores_refused_total", "rule" => e.rule(), "code" => e.code())
            .increment(1);
        if let ScoreError::Store(inner) = e {
            tracing::error!(error = %inner, "score not recorded: store failed");
        }
        if !e.audited() {
            return;
        }
        self.audit.record(AuditRecord {
            id: 0,
            at_ms: to_i64(now_ms),
            address: trail.address,
            ip: Some(ip.to_string()),
            board: trail.board,
            rule: e.rule().to_owned(),
            code: e.code().to_owned(),
            summary: trail.summary,
        });
    }

    /// Applies a server-authoritative award from room logic: no claim rules,
    /// no daily cap (the room is trusted), still one durable transaction.
    pub async fn award(
        &self,
        leaderboard: &str,
        address: &str,
        score: i64,
        seat: &str,
        at_ms: u64,
    ) -> Result<Recorded, ScoreError> {
        let board = self.board(leaderboard)?;
        let new = NewScore {
            board: &board.spec,
            address,
            score,
            session: Some(seat),
            source: Source::Award,
            metadata: None,
            ip: None,
            at_ms: to_i64(at_ms),
            daily_cap: None,
        };
        self.store.record_score(&new).await.map_err(|e| match e {
            RecordError::Store(e) => ScoreError::Store(e),
            // Awards carry no cap and are not unique per session.
            other => ScoreError::Store(crate::store::StoreError::Corrupt(other.to_string())),
        })
    }
}

/// Maps an `auth` refusal onto the rule it breaks: the body binding,
/// the metadata policy, the time window, replay, or the signature itself.
fn auth_refusal(e: AuthError) -> ScoreError {
    let rule = match &e {
        AuthError::BodyHashMismatch | AuthError::Policy(PolicyViolation::BodyNotBound) => {
            "hash_payload"
        }
        AuthError::Policy(_) => "metadata",
        AuthError::Expired { .. } | AuthError::FutureTimestamp { .. } => "time_window",
        AuthError::Replayed => "replay",
        _ => "signature",
    };
    ScoreError::Auth {
        code: e.code(),
        rule,
        status: e.http_status(),
        message: e.to_string(),
    }
}

/// The refusals `refuse_unparsed` is called with carry no source error, so
/// a field copy is exact.
fn clone_shallow(e: &ScoreError) -> ScoreError {
    match e {
        ScoreError::BodyTooLarge { limit } => ScoreError::BodyTooLarge { limit: *limit },
        other => ScoreError::BadRequest(other.to_string()),
    }
}

fn accepted(board: &str, address: &str, session: Option<String>, r: Recorded) -> Accepted {
    Accepted {
        id: r.id,
        leaderboard: board.to_owned(),
        address: address.to_owned(),
        score: r.score,
        session,
        created_ms: r.created_ms,
        rank: r.entry.rank,
        entry: r.entry,
    }
}

fn summarize(claim: &Claim) -> String {
    let mut s = format!(
        "leaderboard={} score={} session={}",
        claim.leaderboard,
        claim.score,
        claim.session.as_deref().unwrap_or("-")
    );
    super::audit::truncate(&mut s, super::audit::MAX_SUMMARY);
    s
}
