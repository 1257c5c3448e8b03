//! The audit log writer: refusals are queued (bounded, never awaited by the
//! request) and written in batches, so refusing a flood costs the database
//! one transaction per batch instead of one per request. A full queue drops
//! the record and counts it.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{AuditRecord, Store};

/// Records written per transaction at most.
const BATCH: usize = 512;
/// Longest summary kept, bytes (requests are summarised, not stored whole).
pub(crate) const MAX_SUMMARY: usize = 256;

/// Sending side of the audit queue.
#[derive(Debug, Clone)]
pub(crate) struct AuditSink {
    tx: mpsc::Sender<AuditRecord>,
}

impl AuditSink {
    /// The queue and its writer task (ends when every sink is dropped).
    pub(crate) fn spawn(store: Store, capacity: usize) -> (AuditSink, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<AuditRecord>(capacity);
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = store.write_audit(&batch).await {
                    metrics::counter!("plaza_scores_audit_dropped_total")
                        .increment(batch.len() as u64);
                    tracing::error!(error = %e, lost = batch.len(), "audit batch not written");
                }
                batch.clear();
            }
        });
        (AuditSink { tx }, task)
    }

    pub(crate) fn record(&self, mut record: AuditRecord) {
        truncate(&mut record.summary, MAX_SUMMARY);
        if self.tx.try_send(record).is_err() {
            metrics::counter!("plaza_scores_audit_dropped_total").increment(1);
        }
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub(crate) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut s = "aé".repeat(3);
        truncate(&mut s, 2);
        assert_eq!(s, "a");
        let mut short = "ok".to_owned();
        truncate(&mut short, 10);
        assert_eq!(short, "ok");
    }
}
