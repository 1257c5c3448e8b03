//! Metric names in one place and the Prometheus recorder.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `plaza_connections_open` | gauge | |
//! | `plaza_connections_total` | counter | |
//! | `plaza_handshakes_total` | counter | `method`, `result` |
//! | `plaza_handshake_seconds` | histogram | |
//! | `plaza_refusals_total` | counter | `reason` (the error code) |
//! | `plaza_bytes_in_total`, `plaza_bytes_out_total` | counter | |
//! | `plaza_messages_in_total`, `plaza_messages_out_total` | counter | |
//! | `plaza_sessions`, `plaza_rooms` | gauge | |
//! | `plaza_sessions_expired_total` | counter | |
//! | `plaza_auth_challenges_outstanding` | gauge | |
//! | `plaza_events_dropped_total` | counter | |

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the global recorder once per process (tests start many servers).
pub fn install() {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).ok().map(|()| handle)
    });
}

/// The Prometheus text of every metric.
pub fn render() -> String {
    install();
    HANDLE
        .get()
        .and_then(|h| h.as_ref())
        .map(|h| h.render())
        .unwrap_or_default()
}
