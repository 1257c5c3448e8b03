//! One client's way in: TCP connect (loopback, `TCP_NODELAY`), WebSocket
//! upgrade, the auth handshake (headers, ticket or challenge), then
//! `joinOrCreate`. Everything after the join belongs to the scenario.
//!
//! Owns the handshake order and its errors; signs nothing itself (a
//! [`Handshake`] arrives ready, or with the signer for the challenge).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use plaza_protocol::state::Value;
use plaza_protocol::{decode, encode, ClientMsg, DecodeError, EncodeError, Format, ServerMsg};
use serde::Deserialize;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::target::Target;

/// A connected client socket.
pub type Ws = WebSocketStream<TcpStream>;

/// Signs a challenge nonce into an auth chain (JSON links).
pub type ChallengeSigner = Arc<dyn Fn(&str) -> serde_json::Value + Send + Sync>;

/// How this client will authenticate, prepared before the connect so the
/// join time measures the server, not the load tool's signing.
#[derive(Clone)]
pub enum Handshake {
    /// First frame `auth {headers}` (signed for `GET <ws path>`).
    Headers(BTreeMap<String, String>),
    /// `POST /v1/auth/ticket` with these signed headers, then `ticket`.
    Ticket(Vec<(String, String)>),
    /// Wait for `challenge`, answer with the chain this signer builds.
    Challenge(ChallengeSigner),
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Handshake::Headers(h) => write!(f, "Headers({} headers)", h.len()),
            Handshake::Ticket(h) => write!(f, "Ticket({} headers)", h.len()),
            Handshake::Challenge(_) => f.write_str("Challenge"),
        }
    }
}

/// Why a client did not get in. [`ClientError::kind`] is the key the run
/// reports errors under.
#[derive(Debug, Error)]
pub enum ClientError {
    /// TCP connect failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The WebSocket upgrade failed.
    #[error("ws_upgrade: {0}")]
    Upgrade(tungstenite::Error),
    /// The ticket request failed.
    #[error("ticket: {0}")]
    Ticket(String),
    /// The server answered with an `error` frame.
    #[error("server error {code}: {message}")]
    Server {
        /// The server's stable code.
        code: String,
        /// Its explanation.
        message: String,
    },
    /// The socket closed before the step completed.
    #[error("closed during {0}")]
    Closed(&'static str),
    /// A socket error after the upgrade.
    #[error("ws: {0}")]
    Ws(tungstenite::Error),
    /// The step took longer than the join timeout.
    #[error("timeout")]
    Timeout,
    /// A frame that is not a valid server message.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// Encoding our own frame failed.
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    /// A valid message that makes no sense at this step.
    #[error("unexpected {0} during {1}")]
    Unexpected(String, &'static str),
}

impl ClientError {
    /// Stable error kind for the report (`server:<code>` for server errors).
    pub fn kind(&self) -> String {
        match self {
            ClientError::Connect(e) => match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connect_refused".into(),
                std::io::ErrorKind::AddrNotAvailable => "connect_no_port".into(),
                _ => "connect_error".into(),
            },
            ClientError::Upgrade(_) => "ws_upgrade".into(),
            ClientError::Ticket(_) => "ticket_http".into(),
            ClientError::Server { code, .. } => format!("server:{code}"),
            ClientError::Closed(step) => format!("closed_{step}"),
            ClientError::Ws(_) => "ws_error".into(),
            ClientError::Timeout => "join_timeout".into(),
            ClientError::Decode(_) => "decode".into(),
            ClientError::Encode(_) => "encode".into(),
            ClientError::Unexpected(_, step) => format!("unexpected_{step}"),
        }
    }
}

/// What to do after the handshake.
#[derive(Debug, Clone)]
pub struct JoinOpts {
    /// Room type for `joinOrCreate`; `None` = authenticate only.
    pub room_type: Option<String>,
    /// Limit for the whole connect + handshake + join.
    pub timeout: Duration,
}

/// A client that is in.
#[derive(Debug)]
pub struct Joined {
    /// The socket.
    pub ws: Ws,
    /// The verified address from `welcome`.
    pub address: String,
    /// The room, when joined.
    pub room: Option<String>,
    /// The seat (the arena's player key), when joined.
    pub seat: Option<String>,
    /// Snapshot seq from `joined`.
    pub seq: u64,
    /// Snapshot from `joined` (`Null` when not joined).
    pub state: Value,
    /// Connect start → join (or welcome) confirmed.
    pub elapsed: Duration,
}

/// Socket settings: a 4 KiB read buffer (tungstenite's default is 128 KiB,
/// which at 10k connections would cost the load tool 1.3 GB).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

#[derive(Deserialize)]
struct TicketResponse {
    ticket: String,
}

/// Connects, authenticates and (optionally) joins, within `opts.timeout`.
pub async fn connect(
    target: &Target,
    hs: &Handshake,
    opts: &JoinOpts,
    http: &reqwest::Client,
) -> Result<Joined, ClientError> {
    let start = Instant::now();
    tokio::time::timeout(opts.timeout, connect_inner(target, hs, opts, http, start))
        .await
        .map_err(|_| ClientError::Timeout)?
}

async fn connect_inner(
    target: &Target,
    hs: &Handshake,
    opts: &JoinOpts,
    http: &reqwest::Client,
    start: Instant,
) -> Result<Joined, ClientError> {
    let first = match hs {
        Handshake::Headers(h) => Some(ClientMsg::Auth { headers: h.clone() }),
        Handshake::Ticket(headers) => Some(ClientMsg::Ticket {
            ticket: fetch_ticket(target, headers, http).await?,
        }),
        Handshake::Challenge(_) => None,
    };
    let tcp = TcpStream::connect(target.addr)
        .await
        .map_err(ClientError::Connect)?;
    tcp.set_nodelay(true).map_err(ClientError::Connect)?;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(target.ws_url.as_str(), tcp, Some(ws_config()))
            .await
            .map_err(ClientError::Upgrade)?;
    match (first, hs) {
        (Some(msg), _) => send(&mut ws, &msg).await?,
        (None, Handshake::Challenge(sign)) => match next_msg(&mut ws, "challenge").await? {
            ServerMsg::Challenge { nonce } => {
                send(
                    &mut ws,
                    &ClientMsg::Answer {
                        auth_chain: sign(&nonce),
                    },
                )
                .await?;
            }
            other => return Err(unexpected(other, "challenge")),
        },
        (None, _) => {
            return Err(ClientError::Unexpected(
                "no first frame".into(),
                "handshake",
            ))
        }
    }
    let address = loop {
        match next_msg(&mut ws, "handshake").await? {
            ServerMsg::Challenge { .. } => continue, // sent on open to everyone
            ServerMsg::Welcome { address, .. } => break address,
            other => return Err(unexpected(other, "handshake")),
        }
    };
    let Some(kind) = &opts.room_type else {
        return Ok(Joined {
            ws,
            address,
            room: None,
            seat: None,
            seq: 0,
            state: Value::Null,
            elapsed: start.elapsed(),
        });
    };
    let rid = 1;
    send(
        &mut ws,
        &ClientMsg::JoinOrCreate {
            rid,
            kind: kind.clone(),
            filter: BTreeMap::new(),
            options: BTreeMap::new(),
        },
    )
    .await?;
    loop {
        match next_msg(&mut ws, "join").await? {
            ServerMsg::Joined {
                rid: r,
                room,
                seat,
                seq,
                state,
                ..
            } if r == rid => {
                return Ok(Joined {
                    ws,
                    address,
                    room: Some(room),
                    seat: Some(seat),
                    seq,
                    state,
                    elapsed: start.elapsed(),
                })
            }
            // A patch racing ahead of `joined` is older than its snapshot:
            // skipping it loses nothing.
            ServerMsg::Patch { .. } | ServerMsg::Msg { .. } | ServerMsg::Challenge { .. } => {
                continue
            }
            other => return Err(unexpected(other, "join")),
        }
    }
}

async fn fetch_ticket(
    target: &Target,
    headers: &[(String, String)],
    http: &reqwest::Client,
) -> Result<String, ClientError> {
    let mut req = http.post(format!("{}{}", target.http_base, crate::creds::TICKET_PATH));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| ClientError::Ticket(e.to_string()))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| ClientError::Ticket(e.to_string()))?;
    if !status.is_success() {
        return Err(ClientError::Ticket(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )));
    }
    let t: TicketResponse =
        serde_json::from_slice(&body).map_err(|e| ClientError::Ticket(e.to_string()))?;
    Ok(t.ticket)
}

fn unexpected(msg: ServerMsg, step: &'static str) -> ClientError {
    match msg {
        ServerMsg::Error { code, message, .. } => ClientError::Server { code, message },
        other => ClientError::Unexpected(format!("{other:?}").chars().take(80).collect(), step),
    }
}

/// Sends one client message as a binary MessagePack frame.
pub async fn send(ws: &mut Ws, msg: &ClientMsg) -> Result<(), ClientError> {
    let bytes = encode(msg, Format::MsgPack)?;
    ws.send(Message::Binary(bytes.into()))
        .await
        .map_err(ClientError::Ws)
}

/// The next server message (skips control frames).
pub async fn next_msg(ws: &mut Ws, step: &'static str) -> Result<ServerMsg, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return Ok(decode(&b, Format::MsgPack)?),
            Some(Ok(Message::Text(t))) => return Ok(decode(t.as_bytes(), Format::Json)?),
            Some(Ok(Message::Close(_))) | None => return Err(ClientError::Closed(step)),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ClientError::Ws(e)),
        }
    }
}
