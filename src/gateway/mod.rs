//! The edge: the HTTP router, the WebSocket endpoint and the mapping of every
//! internal error to a status or close code. The only module that knows axum.
//!
//! | file | owns |
//! |---|---|
//! | `ws.rs` | `GET /v1/ws`: upgrade, handshake, reader/writer tasks |
//! | `session.rs` | sessions, resume tokens, per-wallet counts |
//! | `wake.rs` | live connections' stop and keep-alive tick signals |
//! | `limits.rs` | connection admission and per-connection message rates |
//! | `http.rs` | health, readiness, metrics, room listing, tickets |
//! | `error.rs` | close codes, error codes, HTTP error bodies |

pub mod error;
pub mod frame;
pub mod http;
pub mod limits;
pub mod session;
pub mod socket;
pub mod wake;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::room::RoomManager;

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// Signed requests and handshakes.
    pub auth: Arc<Authenticator>,
    /// Rooms.
    pub rooms: RoomManager,
    /// Sessions.
    pub sessions: session::Sessions,
    /// Connection admission.
    pub admission: limits::Admission,
    /// Cancelled when shutdown starts.
    pub shutdown: CancellationToken,
    /// Live connections (stopped at shutdown, ticked for keep-alive).
    pub conns: wake::Conns,
    /// Tracks connection tasks (axum does not track upgraded sockets).
    pub tracker: TaskTracker,
    /// False while draining.
    pub ready: Arc<AtomicBool>,
}

impl AppState {
    /// The limits announced in `welcome`.
    pub fn wire_limits(&self) -> plaza_protocol::Limits {
        let l = &self.config.limits;
        plaza_protocol::Limits {
            max_frame_bytes: u32::try_from(l.max_frame_bytes).unwrap_or(u32::MAX),
            messages_per_second: l.messages_per_second,
            message_burst: l.message_burst,
            resume_grace_ms: l.resume_grace_ms,
        }
    }

    /// Whether the server accepts new work.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// The router for the whole HTTP surface (without the scores routes, which
/// [`crate::server`] merges in).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(ws::WS_PATH, get(ws::upgrade))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(http::metrics))
        .route("/v1/rooms", get(http::rooms))
        .route("/v1/auth/ticket", post(http::ticket))
        .with_state(state)
}

/// The client's IP: the socket's, or from `X-Forwarded-For` when the socket
/// is a trusted proxy (walking right to left past trusted hops).
pub fn client_ip(app: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    client_ip_from(&app.config.server.trusted_proxies, peer, headers)
}

/// [`client_ip`] without the state, for other routers.
pub fn client_ip_from(trusted: &[IpAddr], peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let mut ip = peer.ip();
    if !trusted.contains(&ip) {
        return ip;
    }
    let Some(xff) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) else {
        return ip;
    };
    for hop in xff.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(hop_ip) => {
                ip = hop_ip;
                if !trusted.contains(&hop_ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    ip
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 10.0.0.1".parse().expect("header"),
        );
        let from_proxy = SocketAddr::new(proxy, 1);
        let direct = SocketAddr::new([198, 51, 100, 7].into(), 1);
        assert_eq!(
            client_ip_from(&[proxy], from_proxy, &headers),
            IpAddr::from([203, 0, 113, 9])
        );
        assert_eq!(client_ip_from(&[proxy], direct, &headers), direct.ip());
        assert_eq!(client_ip_from(&[], from_proxy, &headers), proxy);
    }
}
