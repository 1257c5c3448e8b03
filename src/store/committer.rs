//! SQLite group commit. SQLite has one writer and, with
//! `synchronous = FULL`, one fsync per commit (≈5 ms on this class of disk),
//! which would cap accepted scores near 200/s. So score writes queue here; a
//! single task takes everything queued (up to [`MAX_BATCH`]), runs them in
//! one transaction (a refused one writes nothing, see [`commit_batch`]),
//! commits once, and only then answers every caller. A `201` therefore still
//! follows the commit of its row; the fsync is shared.

use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::board::BoardSpec;
use super::queries::{record_in_tx, NewScore, RecordError, Recorded, Source};
use super::StoreError;

/// Most writes per transaction: bounds the latency one commit adds to the
/// first caller of a batch.
const MAX_BATCH: usize = 512;
/// Writes waiting beyond the running batch; callers wait (backpressure)
/// when it is full.
const QUEUE: usize = 4_096;

/// An owned copy of a [`NewScore`] for the queue.
#[derive(Debug)]
struct OwnedScore {
    board: BoardSpec,
    address: String,
    score: i64,
    session: Option<String>,
    source: Source,
    metadata: Option<String>,
    ip: Option<String>,
    at_ms: i64,
    daily_cap: Option<(u32, i64)>,
}

impl OwnedScore {
    fn of(s: &NewScore<'_>) -> Self {
        Self {
            board: s.board.clone(),
            address: s.address.to_owned(),
            score: s.score,
            session: s.session.map(str::to_owned),
            source: s.source,
            metadata: s.metadata.map(str::to_owned),
            ip: s.ip.map(str::to_owned),
            at_ms: s.at_ms,
            daily_cap: s.daily_cap,
        }
    }

    fn borrow(&self) -> NewScore<'_> {
        NewScore {
            board: &self.board,
            address: &self.address,
            score: self.score,
            session: self.session.as_deref(),
            source: self.source,
            metadata: self.metadata.as_deref(),
            ip: self.ip.as_deref(),
            at_ms: self.at_ms,
            daily_cap: self.daily_cap,
        }
    }
}

struct Job {
    score: OwnedScore,
    reply: oneshot::Sender<Result<Recorded, RecordError>>,
}

/// Handle to the group-commit task; cheap to clone. The task ends when the
/// last handle is dropped.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the task on the writer pool.
    pub(super) fn spawn(pool: SqlitePool) -> Committer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, rx));
        Committer { tx }
    }

    /// Queues a write and waits for its batch to commit.
    pub(super) async fn record(&self, s: &NewScore<'_>) -> Result<Recorded, RecordError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                score: OwnedScore::of(s),
                reply,
            })
            .await
            .map_err(|_| StoreError::Commit("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| {
            RecordError::Store(StoreError::Commit(
                "the SQLite writer dropped the write".into(),
            ))
        })?
    }
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        metrics::histogram!("plaza_store_commit_batch").record(jobs.len() as f64);
        match commit_batch(&pool, &jobs).await {
            Ok(results) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    // A caller that went away (client disconnected) is fine:
                    // its row is committed either way.
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = jobs.len(), "score batch not committed");
                let why = e.to_string();
                for job in jobs.drain(..) {
                    let _ = job
                        .reply
                        .send(Err(RecordError::Store(StoreError::Commit(why.clone()))));
                }
            }
        }
    }
}

/// One transaction for the batch. A refused write (duplicate session, daily
/// cap) has written nothing by the time it is refused: the cap is read
/// before any write, and SQLite backs out just the failing `INSERT` on a
/// unique violation (conflict resolution `ABORT`) and keeps the transaction.
/// So refusals need no savepoint (two round trips to the connection thread
/// saved per write). Any other error may leave a half-applied write, so it
/// fails the whole batch. `Err` means nothing was committed.
async fn commit_batch(
    pool: &SqlitePool,
    jobs: &[Job],
) -> Result<Vec<Result<Recorded, RecordError>>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let score = job.score.borrow();
        match record_in_tx!(&mut *tx, &score, false).await {
            Err(RecordError::Store(e)) => return Err(e),
            result => results.push(result),
        }
    }
    tx.commit().await?;
    Ok(results)
}
