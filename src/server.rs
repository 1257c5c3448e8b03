//! Wires the pieces together and runs them: `run(listener, config, shutdown)`.
//!
//! Shutdown you can prove: when `shutdown` resolves, readiness turns 503, the
//! listener stops accepting, every connection is told (`shutdown` message,
//! close 1001), connection tasks are awaited up to the grace deadline, rooms
//! are disposed (their seat events flushed), then `run` returns.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::auth::Authenticator;
use crate::config::Config;
use crate::events::EventSink;
use crate::gateway::{self, limits::Admission, session::Sessions, AppState};
use crate::room::RoomManager;
use crate::scores::{self, ScoresService};
use crate::store::Store;

/// A server assembled from a config, ready to serve.
pub struct Plaza {
    state: AppState,
    router: axum::Router,
    scores: Arc<ScoresService>,
    store: Store,
    background: Vec<(&'static str, JoinHandle<()>)>,
}

impl Plaza {
    /// Builds every component.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        crate::metrics::install();
        let config = Arc::new(config);
        let store = Store::open(&config.store, &config.server.data_dir)
            .await
            .context("opening the store")?;
        let auth = Authenticator::from_config(&config.auth)
            .await
            .context("the shared replay store (auth.replay_redis_url)")?;
        let (scores, audit_task) = ScoresService::new(&config, auth.clone(), store.clone());
        let (events, events_rx) = EventSink::channel();
        let event_task = scores::spawn_event_writer(Arc::clone(&scores), events_rx);
        let rooms = RoomManager::new(&config.rooms, events);
        let shutdown = CancellationToken::new();
        let sessions = Sessions::new(
            Duration::from_millis(config.limits.resume_grace_ms),
            rooms.clone(),
            shutdown.clone(),
        );
        let conns = gateway::wake::Conns::new();
        let ticker = conns.spawn_ticker(config.limits.keepalive_period(), shutdown.clone());
        let state = AppState {
            conns,
            auth: Arc::new(auth),
            rooms,
            sessions,
            admission: Admission::new(
                config.limits.max_connections,
                config.limits.connections_per_ip,
            ),
            shutdown,
            tracker: TaskTracker::new(),
            ready: Arc::new(AtomicBool::new(true)),
            config,
        };
        let router = gateway::app(state.clone()).merge(scores::router(Arc::clone(&scores)));
        Ok(Self {
            state,
            router,
            scores,
            store,
            background: vec![
                ("room events", event_task),
                ("audit", audit_task),
                ("keep-alive ticker", ticker),
            ],
        })
    }

    /// The shared state (tests and embedders register room types through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves on `listener` until `shutdown` resolves, then drains.
    pub async fn serve(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Plaza {
            state,
            router,
            scores,
            store,
            background,
        } = self;
        listener
            .set_nonblocking(true)
            .context("listener non-blocking")?;
        let addr = listener.local_addr().context("listener address")?;
        let make = router.into_make_service_with_connect_info::<SocketAddr>();
        let cancel = state.shutdown.clone();
        let ready = Arc::clone(&state.ready);
        let begin_drain = async move {
            shutdown.await;
            info!("shutdown requested: draining");
            ready.store(false, Ordering::Release);
            cancel.cancel();
        };
        let grace = Duration::from_millis(state.config.server.shutdown_grace_ms);
        match (&state.config.server.tls_cert, &state.config.server.tls_key) {
            (Some(cert), Some(key)) => {
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .with_context(|| format!("loading TLS certificate {}", cert.display()))?;
                let handle = axum_server::Handle::new();
                let h = handle.clone();
                tokio::spawn(async move {
                    begin_drain.await;
                    h.graceful_shutdown(Some(grace));
                });
                info!(%addr, "serving wss/https");
                axum_server::from_tcp_rustls(listener, tls)
                    .context("TLS listener")?
                    .handle(handle)
                    .serve(make)
                    .await
                    .context("TLS server")?;
            }
            _ => {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .context("tokio listener")?
                    .tap_io(|tcp| {
                        // Patches are small and latency-bound: no Nagle.
                        let _ = tcp.set_nodelay(true);
                    });
                info!(%addr, "serving ws/http");
                axum::serve(listener, make)
                    .with_graceful_shutdown(begin_drain)
                    .await
                    .context("server")?;
            }
        }
        state.tracker.close();
        if tokio::time::timeout(grace, state.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                open = state.tracker.len(),
                "connections still open at the shutdown deadline"
            );
        }
        state.rooms.shutdown().await;
        state.sessions.end_all();
        // Dropping the last room and service handles lets the writers drain
        // their queues (seat events, awards, audit records) and end.
        drop(state);
        drop(scores);
        for (name, task) in background {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                warn!(name, "background writer did not drain before the deadline");
                abort.abort();
            }
        }
        store.close().await;
        info!("shutdown complete");
        Ok(())
    }
}

/// Builds and serves in one call (what `main` and most tests use).
pub async fn run(
    listener: std::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Plaza::build(config).await?.serve(listener, shutdown).await
}
