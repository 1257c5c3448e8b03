//! Every SQL statement the store runs, written once for both backends (see
//! the module docs of `store`), and the row types they return.

use serde::Serialize;
use sqlx::Row;

use super::board::{BoardSpec, Operator, Sort};
use super::{on_read_pool, on_write_pool, Store, StoreError};

/// A seat as persisted from room events: the anchor of session binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatRecord {
    /// Seat id (the score claim's `session`).
    pub seat: String,
    /// Lower-case wallet address.
    pub address: String,
    /// Room id.
    pub room: String,
    /// Room type name.
    pub room_type: String,
    /// Unix ms.
    pub joined_ms: i64,
    /// Unix ms; `None` while the seat is open.
    pub left_ms: Option<i64>,
}

/// One change to the seats table, applied in batches by the event writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatChange {
    /// A seat opened (ignored if the seat is already recorded).
    Open(SeatRecord),
    /// A seat closed (the first close wins).
    Close {
        /// Seat id.
        seat: String,
        /// Unix ms.
        left_ms: i64,
    },
}

/// Where a score came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A signed client request (`POST /v1/scores`).
    Claim,
    /// Room logic (server-authoritative).
    Award,
}

impl Source {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Source::Claim => "claim",
            Source::Award => "award",
        }
    }
}

/// A score to record.
#[derive(Debug, Clone)]
pub struct NewScore<'a> {
    /// The board it goes to.
    pub board: &'a BoardSpec,
    /// Lower-case address.
    pub address: &'a str,
    /// The value.
    pub score: i64,
    /// Seat id it was earned in.
    pub session: Option<&'a str>,
    /// Claim or award.
    pub source: Source,
    /// Client metadata, JSON text.
    pub metadata: Option<&'a str>,
    /// Client IP (claims).
    pub ip: Option<&'a str>,
    /// Unix ms.
    pub at_ms: i64,
    /// `Some((cap, day_start_ms))`: refuse when the address already has `cap`
    /// claims on this board since `day_start_ms` (checked in the transaction).
    pub daily_cap: Option<(u32, i64)>,
}

/// A player's running value on one board and period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Lower-case address.
    pub address: String,
    /// The operator's value.
    pub value: i64,
    /// When the value was reached (ties rank the earlier first), Unix ms.
    pub achieved_ms: i64,
    /// Last submission, Unix ms.
    pub updated_ms: i64,
    /// Submissions folded in.
    pub submissions: i64,
}

/// An entry with its 1-based rank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedEntry {
    /// 1 = first.
    pub rank: u64,
    /// Start of the entry's period, Unix ms (`0` = all time).
    pub period_start: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
}

/// The result of recording a score: committed when returned.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    /// Row id of the stored score.
    pub id: i64,
    /// The submitted value.
    pub score: i64,
    /// When it was recorded, Unix ms.
    pub created_ms: i64,
    /// The player's entry after folding it in, with rank.
    pub entry: RankedEntry,
}

/// Why a score was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A claim for this session and board exists.
    #[error("a score was already submitted for this session")]
    DuplicateSession,
    /// The daily cap is reached.
    #[error("daily cap of {cap} scores reached")]
    DailyCap {
        /// The cap.
        cap: u32,
    },
    /// The database failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RecordError {
    fn from(e: sqlx::Error) -> Self {
        RecordError::Store(StoreError::Db(e))
    }
}

/// Keyset position after which a page starts (the last entry of the
/// previous page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorKey {
    /// Its value.
    pub value: i64,
    /// Its time.
    pub achieved_ms: i64,
    /// Its address.
    pub address: String,
}

impl CursorKey {
    /// The key of an entry.
    pub fn of(e: &Entry) -> Self {
        Self {
            value: e.value,
            achieved_ms: e.achieved_ms,
            address: e.address.clone(),
        }
    }
}

/// A page of a leaderboard.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// Entries in rank order.
    pub entries: Vec<RankedEntry>,
    /// Present when more entries follow: where the next page starts.
    #[serde(skip)]
    pub next: Option<CursorKey>,
}

/// An audit-log row: a refused request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Row id (0 before it is written).
    pub id: i64,
    /// Unix ms.
    pub at_ms: i64,
    /// Verified address, when the refusal came after verification.
    pub address: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Leaderboard named in the request.
    pub board: Option<String>,
    /// The rule that refused it.
    pub rule: String,
    /// The error code.
    pub code: String,
    /// Short request summary.
    pub summary: String,
}

/// Filter for reading the audit log (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only rows with `id < before`.
    pub before: Option<i64>,
    /// Only this address.
    pub address: Option<String>,
    /// Only this rule.
    pub rule: Option<String>,
    /// At most this many rows.
    pub limit: u32,
}

/// A deny-listed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DenyEntry {
    /// Lower-case address.
    pub address: String,
    /// Why.
    pub reason: String,
    /// Unix ms.
    pub added_ms: i64,
}

// Rank order: a row ranks before ($3 value, $4 achieved_ms, $5 address)
// when its value is better, or equal and earlier, or equal, as early, and
// its address sorts first (a total order, so ranks are unique and stable).
const RANK_DESC: &str = "SELECT COUNT(*) FROM entries WHERE board = $1 AND period_start = $2 AND \
     (value > $3 OR (value = $3 AND (achieved_ms < $4 OR (achieved_ms = $4 AND address < $5))))";
const RANK_ASC: &str = "SELECT COUNT(*) FROM entries WHERE board = $1 AND period_start = $2 AND \
     (value < $3 OR (value = $3 AND (achieved_ms < $4 OR (achieved_ms = $4 AND address < $5))))";

const ENTRY_COLUMNS: &str = "address, value, achieved_ms, updated_ms, submissions";

const TOP_DESC: &str = "SELECT address, value, achieved_ms, updated_ms, submissions FROM entries \
     WHERE board = $1 AND period_start = $2 \
     ORDER BY value DESC, achieved_ms ASC, address ASC LIMIT $3";
const TOP_ASC: &str = "SELECT address, value, achieved_ms, updated_ms, submissions FROM entries \
     WHERE board = $1 AND period_start = $2 \
     ORDER BY value ASC, achieved_ms ASC, address ASC LIMIT $3";
// Rows after the key ($4, $5, $6) in rank order.
const AFTER_DESC: &str =
    "SELECT address, value, achieved_ms, updated_ms, submissions FROM entries \
     WHERE board = $1 AND period_start = $2 AND \
     (value < $4 OR (value = $4 AND (achieved_ms > $5 OR (achieved_ms = $5 AND address > $6)))) \
     ORDER BY value DESC, achieved_ms ASC, address ASC LIMIT $3";
const AFTER_ASC: &str = "SELECT address, value, achieved_ms, updated_ms, submissions FROM entries \
     WHERE board = $1 AND period_start = $2 AND \
     (value > $4 OR (value = $4 AND (achieved_ms > $5 OR (achieved_ms = $5 AND address > $6)))) \
     ORDER BY value ASC, achieved_ms ASC, address ASC LIMIT $3";
// Rows before the key, nearest first.
const BEFORE_DESC: &str =
    "SELECT address, value, achieved_ms, updated_ms, submissions FROM entries \
     WHERE board = $1 AND period_start = $2 AND \
     (value > $4 OR (value = $4 AND (achieved_ms < $5 OR (achieved_ms = $5 AND address < $6)))) \
     ORDER BY value ASC, achieved_ms DESC, address DESC LIMIT $3";
const BEFORE_ASC: &str =
    "SELECT address, value, achieved_ms, updated_ms, submissions FROM entries \
     WHERE board = $1 AND period_start = $2 AND \
     (value < $4 OR (value = $4 AND (achieved_ms < $5 OR (achieved_ms = $5 AND address < $6)))) \
     ORDER BY value DESC, achieved_ms DESC, address DESC LIMIT $3";

// Folding a score into an entry. In `DO UPDATE SET` every expression reads
// the old row (both backends), so the order of assignments does not matter.
const UPSERT_HEAD: &str = "INSERT INTO entries \
     (board, period_start, address, value, achieved_ms, updated_ms, submissions) \
     VALUES ($1, $2, $3, $4, $5, $5, 1) ON CONFLICT (board, period_start, address) DO UPDATE SET ";
const UPSERT_BEST_DESC: &str = "value = CASE WHEN excluded.value > entries.value THEN excluded.value ELSE entries.value END, \
     achieved_ms = CASE WHEN excluded.value > entries.value THEN excluded.achieved_ms ELSE entries.achieved_ms END, ";
const UPSERT_BEST_ASC: &str = "value = CASE WHEN excluded.value < entries.value THEN excluded.value ELSE entries.value END, \
     achieved_ms = CASE WHEN excluded.value < entries.value THEN excluded.achieved_ms ELSE entries.achieved_ms END, ";
const UPSERT_LATEST: &str = "value = excluded.value, achieved_ms = excluded.achieved_ms, ";
const UPSERT_SUM: &str =
    "value = entries.value + excluded.value, achieved_ms = excluded.achieved_ms, ";
const UPSERT_TAIL: &str =
    "updated_ms = excluded.updated_ms, submissions = entries.submissions + 1 \
     RETURNING address, value, achieved_ms, updated_ms, submissions";

pub(super) fn upsert_sql(board: &BoardSpec) -> String {
    let fold = match (board.operator, board.sort) {
        (Operator::Best, Sort::Desc) => UPSERT_BEST_DESC,
        (Operator::Best, Sort::Asc) => UPSERT_BEST_ASC,
        (Operator::Latest, _) => UPSERT_LATEST,
        (Operator::Sum, _) => UPSERT_SUM,
    };
    [UPSERT_HEAD, fold, UPSERT_TAIL].concat()
}

pub(super) fn rank_sql(sort: Sort) -> &'static str {
    match sort {
        Sort::Desc => RANK_DESC,
        Sort::Asc => RANK_ASC,
    }
}

pub(super) fn entry_from_row<R>(row: &R) -> Result<Entry, sqlx::Error>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Entry {
        address: row.try_get("address")?,
        value: row.try_get("value")?,
        achieved_ms: row.try_get("achieved_ms")?,
        updated_ms: row.try_get("updated_ms")?,
        submissions: row.try_get("submissions")?,
    })
}

pub(super) fn rank_from_count(count: i64) -> Result<u64, StoreError> {
    u64::try_from(count)
        .map(|c| c + 1)
        .map_err(|_| StoreError::Corrupt(format!("negative count {count}")))
}

fn limit_i64(limit: u32) -> i64 {
    i64::from(limit)
}

/// One recording inside an open transaction: `$conn` is a `&mut` connection
/// of either backend, `$pg` whether it is PostgreSQL. Expands to a future of
/// `Result<Recorded, RecordError>`; the caller commits (or rolls back).
macro_rules! record_in_tx {
    ($conn:expr, $s:expr, $pg:expr) => {{
        let conn = $conn;
        let s: &$crate::store::NewScore<'_> = $s;
        async move {
            let period_start = s.board.period.start(s.at_ms);
            if $pg && s.daily_cap.is_some() {
                // Serialise one address's submissions so two concurrent
                // requests cannot both see `cap - 1` (SQLite is already
                // serialised by its single writer).
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind(s.address)
                    .execute(&mut *conn)
                    .await?;
            }
            // The cap check rides on the insert (one statement, one round
            // trip): no row comes back when the day's claims reached it.
            // Without a cap, `since = i64::MAX` counts nothing.
            let (cap, since) = match s.daily_cap {
                Some((cap, since)) => (i64::from(cap), since),
                None => (i64::MAX, i64::MAX),
            };
            let inserted = sqlx::query_scalar::<_, i64>(
                "INSERT INTO scores (board, address, score, session, source, metadata, ip, period_start, created_ms) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
                 WHERE (SELECT COUNT(*) FROM scores WHERE address = $2 AND board = $1 \
                        AND source = 'claim' AND created_ms >= $10) < $11 \
                 RETURNING id",
            )
            .bind(&s.board.id)
            .bind(s.address)
            .bind(s.score)
            .bind(s.session)
            .bind(s.source.as_str())
            .bind(s.metadata)
            .bind(s.ip)
            .bind(period_start)
            .bind(s.at_ms)
            .bind(since)
            .bind(cap)
            .fetch_optional(&mut *conn)
            .await;
            let id = match inserted {
                Ok(Some(id)) => id,
                Ok(None) => {
                    let cap = s.daily_cap.map(|(cap, _)| cap).unwrap_or(u32::MAX);
                    return Err($crate::store::RecordError::DailyCap { cap });
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err($crate::store::RecordError::DuplicateSession);
                }
                Err(e) => return Err(e.into()),
            };
            let row = sqlx::query(&$crate::store::queries::upsert_sql(s.board))
                .bind(&s.board.id)
                .bind(period_start)
                .bind(s.address)
                .bind(s.score)
                .bind(s.at_ms)
                .fetch_one(&mut *conn)
                .await?;
            let entry = $crate::store::queries::entry_from_row(&row)?;
            let better: i64 = sqlx::query_scalar($crate::store::queries::rank_sql(s.board.sort))
                .bind(&s.board.id)
                .bind(period_start)
                .bind(entry.value)
                .bind(entry.achieved_ms)
                .bind(&entry.address)
                .fetch_one(&mut *conn)
                .await?;
            Ok::<$crate::store::Recorded, $crate::store::RecordError>($crate::store::Recorded {
                id,
                score: s.score,
                created_ms: s.at_ms,
                entry: $crate::store::RankedEntry {
                    rank: $crate::store::queries::rank_from_count(better)?,
                    period_start,
                    entry,
                },
            })
        }
    }};
}
pub(super) use record_in_tx;

impl Store {
    // ---- seats -----------------------------------------------------------

    /// Records an opened seat (idempotent: a replayed event changes nothing).
    pub async fn open_seat(&self, seat: &SeatRecord) -> Result<(), StoreError> {
        on_write_pool!(self, |pool, _pg| {
            sqlx::query(
                "INSERT INTO seats (seat, address, room, room_type, joined_ms, left_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seat) DO NOTHING",
            )
            .bind(&seat.seat)
            .bind(&seat.address)
            .bind(&seat.room)
            .bind(&seat.room_type)
            .bind(seat.joined_ms)
            .bind(seat.left_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Applies seat changes in order, in one transaction (one commit, one
    /// fsync, for a whole burst of joins). Each change is idempotent, so a
    /// failed batch can be retried whole.
    ///
    /// A run of opens is one multi-row `INSERT` and a run of closes one
    /// `UPDATE … FROM (VALUES …)` (up to [`SEAT_ROWS`] rows each): with
    /// SQLite every statement is a round trip to its worker thread, and a
    /// connect storm opens thousands of seats a second.
    pub async fn apply_seats(&self, changes: &[SeatChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        on_write_pool!(self, |pool, _pg| {
            let mut tx = pool.begin().await?;
            for run in seat_runs(changes) {
                match run {
                    SeatRun::Open(seats) => {
                        let mut q = sqlx::QueryBuilder::new(
                            "INSERT INTO seats (seat, address, room, room_type, joined_ms, left_ms) ",
                        );
                        q.push_values(seats, |mut row, seat| {
                            row.push_bind(&seat.seat)
                                .push_bind(&seat.address)
                                .push_bind(&seat.room)
                                .push_bind(&seat.room_type)
                                .push_bind(seat.joined_ms)
                                .push_bind(seat.left_ms);
                        });
                        q.push(" ON CONFLICT (seat) DO NOTHING");
                        q.build().execute(&mut *tx).await?;
                    }
                    SeatRun::Close(closes) => {
                        let mut q = sqlx::QueryBuilder::new("WITH v (seat, left_ms) AS (");
                        q.push_values(closes, |mut row, (seat, left_ms)| {
                            row.push_bind(seat).push_bind(left_ms);
                        });
                        q.push(
                            ") UPDATE seats SET left_ms = v.left_ms FROM v \
                             WHERE seats.seat = v.seat AND seats.left_ms IS NULL",
                        );
                        q.build().execute(&mut *tx).await?;
                    }
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records that a seat closed; the first close wins.
    pub async fn close_seat(&self, seat: &str, left_ms: i64) -> Result<(), StoreError> {
        on_write_pool!(self, |pool, _pg| {
            sqlx::query("UPDATE seats SET left_ms = $2 WHERE seat = $1 AND left_ms IS NULL")
                .bind(seat)
                .bind(left_ms)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A seat by id.
    pub async fn seat(&self, seat: &str) -> Result<Option<SeatRecord>, StoreError> {
        let row = on_read_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT seat, address, room, room_type, joined_ms, left_ms FROM seats WHERE seat = $1",
            )
            .bind(seat)
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some(r) => Some(SeatRecord {
                    seat: r.try_get("seat")?,
                    address: r.try_get("address")?,
                    room: r.try_get("room")?,
                    room_type: r.try_get("room_type")?,
                    joined_ms: r.try_get("joined_ms")?,
                    left_ms: r.try_get("left_ms")?,
                }),
            }
        });
        Ok(row)
    }

    // ---- scores ----------------------------------------------------------

    /// Records a score and folds it into the player's entry in one
    /// transaction, enforcing one claim per session and the daily cap.
    /// Returns only after the commit. On SQLite the write joins the group
    /// commit of `committer.rs`.
    pub async fn record_score(&self, s: &NewScore<'_>) -> Result<Recorded, RecordError> {
        match &self.backend {
            super::Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let recorded = record_in_tx!(&mut *tx, s, true).await?;
                tx.commit().await?;
                Ok(recorded)
            }
            super::Backend::Sqlite { committer, .. } => committer.record(s).await,
        }
    }

    /// A player's entry and rank in one period.
    pub async fn player_entry(
        &self,
        board: &BoardSpec,
        period_start: i64,
        address: &str,
    ) -> Result<Option<RankedEntry>, StoreError> {
        let found = on_read_pool!(self, |pool| {
            let row = sqlx::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE board = $1 AND period_start = $2 AND address = $3"
            ))
            .bind(&board.id)
            .bind(period_start)
            .bind(address)
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some(row) => {
                    let entry = entry_from_row(&row)?;
                    let better: i64 = sqlx::query_scalar(rank_sql(board.sort))
                        .bind(&board.id)
                        .bind(period_start)
                        .bind(entry.value)
                        .bind(entry.achieved_ms)
                        .bind(&entry.address)
                        .fetch_one(pool)
                        .await?;
                    Some(RankedEntry {
                        rank: rank_from_count(better)?,
                        period_start,
                        entry,
                    })
                }
            }
        });
        Ok(found)
    }

    /// A player's entries in every period, newest period first (no ranks
    /// for past periods: each would cost a count).
    pub async fn player_history(
        &self,
        board: &BoardSpec,
        address: &str,
        limit: u32,
    ) -> Result<Vec<(i64, Entry)>, StoreError> {
        let rows = on_read_pool!(self, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT period_start, {ENTRY_COLUMNS} FROM entries WHERE board = $1 AND address = $2 \
                 ORDER BY period_start DESC LIMIT $3"
            ))
            .bind(&board.id)
            .bind(address)
            .bind(limit_i64(limit))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push((row.try_get::<i64, _>("period_start")?, entry_from_row(row)?));
            }
            out
        });
        Ok(rows)
    }

    /// A page of the board in rank order, starting after `after`.
    pub async fn top(
        &self,
        board: &BoardSpec,
        period_start: i64,
        limit: u32,
        after: Option<&CursorKey>,
    ) -> Result<Page, StoreError> {
        // One extra row tells whether another page follows.
        let fetch = limit_i64(limit) + 1;
        let mut entries: Vec<Entry> = on_read_pool!(self, |pool| {
            let rows = match after {
                None => {
                    let sql = match board.sort {
                        Sort::Desc => TOP_DESC,
                        Sort::Asc => TOP_ASC,
                    };
                    sqlx::query(sql)
                        .bind(&board.id)
                        .bind(period_start)
                        .bind(fetch)
                        .fetch_all(pool)
                        .await?
                }
                Some(key) => {
                    let sql = match board.sort {
                        Sort::Desc => AFTER_DESC,
                        Sort::Asc => AFTER_ASC,
                    };
                    sqlx::query(sql)
                        .bind(&board.id)
                        .bind(period_start)
                        .bind(fetch)
                        .bind(key.value)
                        .bind(key.achieved_ms)
                        .bind(&key.address)
                        .fetch_all(pool)
                        .await?
                }
            };
            rows.iter().map(entry_from_row).collect::<Result<_, _>>()?
        });
        let more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let first_rank = match entries.first() {
            None => 1,
            Some(first) => self.count_better(board, period_start, first).await? + 1,
        };
        let next = if more {
            entries.last().map(CursorKey::of)
        } else {
            None
        };
        let entries = entries
            .into_iter()
            .zip(first_rank..)
            .map(|(entry, rank)| RankedEntry {
                rank,
                period_start,
                entry,
            })
            .collect();
        Ok(Page { entries, next })
    }

    /// The player's entry with up to `span` entries on each side, in rank
    /// order; empty when the player has no entry in the period.
    pub async fn around(
        &self,
        board: &BoardSpec,
        period_start: i64,
        address: &str,
        span: u32,
    ) -> Result<Vec<RankedEntry>, StoreError> {
        let Some(me) = self.player_entry(board, period_start, address).await? else {
            return Ok(Vec::new());
        };
        let key = CursorKey::of(&me.entry);
        let (before_sql, after_sql) = match board.sort {
            Sort::Desc => (BEFORE_DESC, AFTER_DESC),
            Sort::Asc => (BEFORE_ASC, AFTER_ASC),
        };
        let (above, below): (Vec<Entry>, Vec<Entry>) = on_read_pool!(self, |pool| {
            let mut out = Vec::with_capacity(2);
            for sql in [before_sql, after_sql] {
                let rows = sqlx::query(sql)
                    .bind(&board.id)
                    .bind(period_start)
                    .bind(limit_i64(span))
                    .bind(key.value)
                    .bind(key.achieved_ms)
                    .bind(&key.address)
                    .fetch_all(pool)
                    .await?;
                out.push(
                    rows.iter()
                        .map(entry_from_row)
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            let below = out.pop().unwrap_or_default();
            let above = out.pop().unwrap_or_default();
            (above, below)
        });
        let mut result = Vec::with_capacity(above.len() + below.len() + 1);
        // `above` is nearest first: reverse it into rank order.
        let n_above = above.len() as u64;
        for (i, entry) in above.into_iter().rev().enumerate() {
            result.push(RankedEntry {
                rank: me.rank - n_above + i as u64,
                period_start,
                entry,
            });
        }
        let my_rank = me.rank;
        result.push(me);
        for (i, entry) in below.into_iter().enumerate() {
            result.push(RankedEntry {
                rank: my_rank + 1 + i as u64,
                period_start,
                entry,
            });
        }
        Ok(result)
    }

    async fn count_better(
        &self,
        board: &BoardSpec,
        period_start: i64,
        e: &Entry,
    ) -> Result<u64, StoreError> {
        let better: i64 = on_read_pool!(self, |pool| {
            sqlx::query_scalar(rank_sql(board.sort))
                .bind(&board.id)
                .bind(period_start)
                .bind(e.value)
                .bind(e.achieved_ms)
                .bind(&e.address)
                .fetch_one(pool)
                .await?
        });
        Ok(rank_from_count(better)? - 1)
    }

    /// How many scores an address has on a board, by source (tests, audits).
    pub async fn count_scores(&self, board: &str, address: &str) -> Result<i64, StoreError> {
        let n = on_read_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM scores WHERE board = $1 AND address = $2",
            )
            .bind(board)
            .bind(address)
            .fetch_one(pool)
            .await?
        });
        Ok(n)
    }

    /// Every stored score's `(session, score)` on a board, oldest first.
    pub async fn scores_by_session(
        &self,
        board: &str,
    ) -> Result<Vec<(Option<String>, i64)>, StoreError> {
        let rows = on_read_pool!(self, |pool| {
            sqlx::query_as::<_, (Option<String>, i64)>(
                "SELECT session, score FROM scores WHERE board = $1 ORDER BY id",
            )
            .bind(board)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    // ---- audit -----------------------------------------------------------

    /// Appends refusals in one transaction.
    pub async fn write_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        on_write_pool!(self, |pool, _pg| {
            let mut tx = pool.begin().await?;
            for r in records {
                sqlx::query(
                    "INSERT INTO audit (at_ms, address, ip, board, rule, code, summary) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(r.at_ms)
                .bind(&r.address)
                .bind(&r.ip)
                .bind(&r.board)
                .bind(&r.rule)
                .bind(&r.code)
                .bind(&r.summary)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Reads the audit log, newest first.
    pub async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = on_read_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, at_ms, address, ip, board, rule, code, summary FROM audit \
                 WHERE id < $1 AND ($2 IS NULL OR address = $2) AND ($3 IS NULL OR rule = $3) \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(q.before.unwrap_or(i64::MAX))
            .bind(&q.address)
            .bind(&q.rule)
            .bind(limit_i64(q.limit))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(AuditRecord {
                    id: r.try_get("id")?,
                    at_ms: r.try_get("at_ms")?,
                    address: r.try_get("address")?,
                    ip: r.try_get("ip")?,
                    board: r.try_get("board")?,
                    rule: r.try_get("rule")?,
                    code: r.try_get("code")?,
                    summary: r.try_get("summary")?,
                });
            }
            out
        });
        Ok(rows)
    }

    // ---- deny-list -------------------------------------------------------

    /// Adds (or updates the reason of) a deny-listed address.
    pub async fn deny(&self, address: &str, reason: &str, at_ms: i64) -> Result<(), StoreError> {
        on_write_pool!(self, |pool, _pg| {
            sqlx::query(
                "INSERT INTO deny_list (address, reason, added_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (address) DO UPDATE SET reason = excluded.reason",
            )
            .bind(address)
            .bind(reason)
            .bind(at_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes an address; `true` if it was listed.
    pub async fn undeny(&self, address: &str) -> Result<bool, StoreError> {
        let n = on_write_pool!(self, |pool, _pg| {
            sqlx::query("DELETE FROM deny_list WHERE address = $1")
                .bind(address)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Whether an address is deny-listed.
    pub async fn is_denied(&self, address: &str) -> Result<bool, StoreError> {
        let found = on_read_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT 1 FROM deny_list WHERE address = $1")
                .bind(address)
                .fetch_optional(pool)
                .await?
                .is_some()
        });
        Ok(found)
    }

    /// The deny-list, by address.
    pub async fn deny_list(&self) -> Result<Vec<DenyEntry>, StoreError> {
        let rows = on_read_pool!(self, |pool| {
            sqlx::query_as::<_, (String, String, i64)>(
                "SELECT address, reason, added_ms FROM deny_list ORDER BY address",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(address, reason, added_ms)| DenyEntry {
                address,
                reason,
                added_ms,
            })
            .collect())
    }
}

/// Rows per multi-row seat statement: 6 binds a row stays far below the
/// bind limits (SQLite 32,766; PostgreSQL 65,535).
pub(crate) const SEAT_ROWS: usize = 500;

/// A run of consecutive changes of one kind, at most [`SEAT_ROWS`] long.
#[derive(Debug, PartialEq)]
enum SeatRun<'a> {
    Open(Vec<&'a SeatRecord>),
    /// `(seat, left_ms)`, each seat once: the first close in the run wins,
    /// as it would applied one by one.
    Close(Vec<(&'a str, i64)>),
}

/// Splits `changes` into runs, keeping their order; applying the runs in
/// order gives what applying each change in order gives.
fn seat_runs(changes: &[SeatChange]) -> Vec<SeatRun<'_>> {
    let mut runs: Vec<SeatRun<'_>> = Vec::new();
    // The seats of the last close run.
    let mut closed: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for change in changes {
        match (change, runs.last_mut()) {
            (SeatChange::Open(seat), Some(SeatRun::Open(v))) if v.len() < SEAT_ROWS => v.push(seat),
            (SeatChange::Open(seat), _) => runs.push(SeatRun::Open(vec![seat])),
            (SeatChange::Close { seat, left_ms }, Some(SeatRun::Close(v)))
                if v.len() < SEAT_ROWS =>
            {
                if closed.insert(seat) {
                    v.push((seat, *left_ms));
                }
            }
            (SeatChange::Close { seat, left_ms }, _) => {
                closed.clear();
                closed.insert(seat);
                runs.push(SeatRun::Close(vec![(seat.as_str(), *left_ms)]));
            }
        }
    }
    runs
}
