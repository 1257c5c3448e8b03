//! The edge's one mapping from failures to what a client sees: an `error`
//! message (code, message, retryable) followed, where the connection ends, by a
//! documented WebSocket close code; or an HTTP status with a JSON body.
//!
//! Every refusal sends the `error` message *before* the close, because some
//! scene WebSocket shims never surface close codes (see protocol/README.md §4).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use plaza_protocol::ServerMsg;

/// WebSocket close codes Plaza uses (4000–4999 is the private range).
pub mod close {
    /// Normal closure (the client asked to close).
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame could not be decoded, or a message is not allowed now.
    pub const PROTOCOL: u16 = 4000;
    /// The handshake's proof of identity was refused.
    pub const AUTH_FAILED: u16 = 4001;
    /// No successful handshake within the handshake timeout.
    pub const HANDSHAKE_TIMEOUT: u16 = 4002;
    /// A frame over the size limit.
    pub const FRAME_TOO_LARGE: u16 = 4003;
    /// Messages kept arriving over the rate limit.
    pub const FLOOD: u16 = 4004;
    /// A connection limit (per IP, per wallet, total) is reached.
    pub const TOO_MANY_CONNECTIONS: u16 = 4005;
    /// The resume token is unknown, spent or expired.
    pub const RESUME_FAILED: u16 = 4006;
    /// Nothing received for the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4007;
    /// The client did not read its messages fast enough.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// The session was taken over by a newer connection (resume).
    pub const REPLACED: u16 = 4009;
}

/// A refusal at the WebSocket edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsRefusal {
    /// Stable error code (protocol/README.md §4).
    pub code: &'static str,
    /// What a developer reads.
    pub message: String,
    /// Whether trying again later may work.
    pub retryable: bool,
    /// The close code that follows, if the connection ends.
    pub close: Option<u16>,
}

impl WsRefusal {
    /// A refusal that closes the connection.
    pub fn closing(
        code: &'static str,
        message: impl Into<String>,
        retryable: bool,
        close: u16,
    ) -> Self {
        Self {
            code,
            message: message.into(),
            retryable,
            close: Some(close),
        }
    }

    /// A refusal that keeps the connection open.
    pub fn soft(code: &'static str, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code,
            message: message.into(),
            retryable,
            close: None,
        }
    }

    /// The `error` message for the client.
    pub fn to_msg(&self) -> ServerMsg {
        ServerMsg::Error {
            code: self.code.to_owned(),
            message: self.message.clone(),
            retryable: self.retryable,
            rid: None,
            room: None,
        }
    }
}

/// An HTTP error: a status and `{"error":{"code","message"}}`.
#[derive(Debug, Clone)]
pub struct HttpError {
    /// Status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// What a developer reads.
    pub message: String,
}

impl HttpError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<&crate::auth::AuthError> for HttpError {
    fn from(e: &crate::auth::AuthError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
        Self::new(status, e.code(), e.to_string())
    }
}
