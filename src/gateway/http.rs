//! Small HTTP endpoints: health, readiness, Prometheus metrics, the room
//! listing and tickets for the ticket handshake.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error::HttpError;
use super::AppState;
use crate::auth::SignedRequest;
use crate::events::now_ms;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: 200 while accepting work, 503 while draining.
pub async fn readyz(State(app): State<AppState>) -> Response {
    if app.is_ready() {
        (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "draining"})),
        )
            .into_response()
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    metrics::gauge!("plaza_rooms").set(app.rooms.room_count() as f64);
    metrics::gauge!("plaza_sessions").set(app.sessions.len() as f64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::render(),
    )
        .into_response()
}

/// Query of `GET /v1/rooms`.
#[derive(Debug, Deserialize)]
pub struct RoomsQuery {
    /// Only rooms of this type.
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `GET /v1/rooms?type=`: listed rooms.
pub async fn rooms(State(app): State<AppState>, Query(q): Query<RoomsQuery>) -> Response {
    Json(serde_json::json!({ "rooms": app.rooms.list(q.kind.as_deref()) })).into_response()
}

/// `POST /v1/auth/ticket` (signed request) → `201 {ticket, expiresAt}`.
pub async fn ticket(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    if !app.is_ready() {
        return Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutdown",
            "server shutting down",
        ));
    }
    let pairs: Vec<(&str, &[u8])> = headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-identity-"))
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let request = SignedRequest {
        method: "POST",
        path: "/v1/auth/ticket",
        headers: &pairs,
        body: if body.is_empty() { None } else { Some(&body) },
    };
    let now = now_ms();
    let identity = app
        .auth
        .verify_request(&request, &app.config.auth.connect_policy, now)
        .await
        .map_err(|e| {
            let ip = super::client_ip(&app, peer, &headers);
            tracing::debug!(%ip, code = e.code(), "ticket refused");
            HttpError::from(&e)
        })?;
    let (ticket, expires_at) = app.auth.issue_ticket(&identity, now);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"ticket": ticket, "expiresAt": expires_at})),
    )
        .into_response())
}
