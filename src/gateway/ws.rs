//! `GET /v1/ws`: the upgrade, the handshake and the per-connection tasks.
//!
//! A connection is a reader (this task: handshake, rate limit, decode,
//! dispatch) and a writer (drains the bounded [`Outbox`], batches what is
//! queued into one flush, sends keep-alive pings). Refusals go out as an
//! `error` message and then a close frame, through the writer's priority
//! channel so a full queue cannot hold them back.
//!
//! Must not: touch room state (that is [`RoomManager`]'s), verify signatures
//! itself (that is [`Authenticator`]'s), or block on anything a client controls.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use plaza_protocol::codec::decode_client;
use plaza_protocol::{encode, ClientMsg, Format, ServerMsg};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, field, info, info_span, Instrument};

use super::error::{close, WsRefusal};
use super::limits::{MessageRate, RateVerdict, Refused};
use super::session::Attached;
use super::AppState;
use crate::auth::{AuthMethod, Identity, SignedRequest};
use crate::events::now_ms;
use crate::outbox::{Outbox, Outgoing, OUTBOX_CAPACITY};
use crate::room::ClientRef;

/// The path signed requests for the connect name.
pub const WS_PATH: &str = "/v1/ws";

const FORMAT_MSGPACK: u8 = 1;
const FORMAT_JSON: u8 = 2;

/// tungstenite zero-fills the free part of its read buffer (up to this
/// size) before every read, WouldBlock reads included: at 4 KiB that fill was
/// the server's largest single user-space cost under arena load (11 % of
/// instructions, callgrind; see BENCHMARKS.md "Server hot path"). Client
/// frames are tens of bytes; a larger frame still gets a buffer of its own
/// size (tungstenite reserves the announced length), so 1 KiB only means
/// more `read` calls for a burst of over ~16 queued moves.
const READ_BUFFER_BYTES: usize = 1024;

/// Query options of the upgrade.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    /// `msgpack` or `json`: the form of the server's frames before the
    /// client's first frame (the challenge, or `welcome` after upgrade-header
    /// auth). Default `json`, which every runtime can read.
    #[serde(default)]
    format: Option<String>,
}

/// The upgrade handler.
pub async fn upgrade(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let ip = super::client_ip(&app, peer, &headers);
    let signed_headers = identity_headers(&headers);
    let initial = match query.format.as_deref() {
        Some("msgpack") => FORMAT_MSGPACK,
        _ => FORMAT_JSON,
    };
    let limit = app.config.limits.max_frame_bytes;
    let tracker = app.tracker.clone();
    ws.max_message_size(limit)
        .max_frame_size(limit)
        // Small buffers keep an idle connection cheap; tungstenite grows them
        // on demand for the rare large message.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| {
            tracker.track_future(connection(app, socket, ip, signed_headers, initial))
        })
}

/// The `x-identity-*` headers of a request, raw.
pub fn identity_headers(headers: &HeaderMap) -> Option<Vec<(String, Vec<u8>)>> {
    let found: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-identity-"))
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    if found.iter().any(|(n, _)| n == "x-identity-auth-chain-0") {
        Some(found)
    } else {
        None
    }
}

/// What the writer does when the connection ends.
struct Closing {
    error: Option<ServerMsg>,
    code: u16,
    reason: &'static str,
}

async fn connection(
    app: AppState,
    socket: WebSocket,
    ip: IpAddr,
    upgrade_headers: Option<Vec<(String, Vec<u8>)>>,
    initial_format: u8,
) {
    let span = info_span!("conn", %ip, session = field::Empty, address = field::Empty);
    async move {
        let (sink, stream) = socket.split();
        let format = Arc::new(AtomicU8::new(initial_format));
        let (outbox, rx) = Outbox::channel(OUTBOX_CAPACITY);
        let (close_tx, close_rx) = oneshot::channel();
        let ping_every = Duration::from_millis(app.config.limits.ping_interval_ms.max(100));
        let writer = tokio::spawn(
            writer(sink, rx, close_rx, Arc::clone(&format), ping_every).in_current_span(),
        );
        let permit = match app.admission.admit(ip) {
            Ok(p) => p,
            Err(which) => {
                let refusal = match which {
                    Refused::Total => WsRefusal::closing(
                        "server_full",
                        "the server has reached its connection limit; try again later",
                        true,
                        close::TOO_MANY_CONNECTIONS,
                    ),
                    Refused::PerIp => WsRefusal::closing(
                        "too_many_connections_ip",
                        "too many open connections from this address",
                        true,
                        close::TOO_MANY_CONNECTIONS,
                    ),
                };
                refuse(&app, close_tx, &refusal);
                let _ = writer.await;
                return;
            }
        };
        metrics::gauge!("plaza_connections_open").increment(1.0);
        metrics::counter!("plaza_connections_total").increment(1);
        let mut conn = Conn {
            app: app.clone(),
            stream,
            outbox,
            format,
            close_tx: Some(close_tx),
            takeover: CancellationToken::new(),
            format_locked: false,
            bytes_in: metrics::counter!("plaza_bytes_in_total"),
        };
        conn.run(upgrade_headers).await;
        // Dropping the connection drops its close sender, which ends a writer
        // that was not already told to close.
        drop(conn);
        // Give the writer a moment to flush the close, then stop it: a
        // client that stopped reading must not keep the task alive.
        let abort = writer.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), writer)
            .await
            .is_err()
        {
            abort.abort();
        }
        metrics::gauge!("plaza_connections_open").decrement(1.0);
        drop(permit);
    }
    .instrument(span)
    .await
}

fn refuse(app: &AppState, close_tx: oneshot::Sender<Closing>, refusal: &WsRefusal) {
    metrics::counter!("plaza_refusals_total", "reason" => refusal.code).increment(1);
    debug!(code = refusal.code, message = %refusal.message, "refused");
    let _ = app;
    let _ = close_tx.send(Closing {
        error: Some(refusal.to_msg()),
        code: refusal.close.unwrap_or(close::PROTOCOL),
        reason: refusal.code,
    });
}

struct Conn {
    app: AppState,
    stream: SplitStream<WebSocket>,
    outbox: Outbox,
    format: Arc<AtomicU8>,
    close_tx: Option<oneshot::Sender<Closing>>,
    takeover: CancellationToken,
    format_locked: bool,
    /// Resolved once: a `counter!` per frame would look the key up again.
    bytes_in: metrics::Counter,
}

/// One decoded frame, or why there is none.
enum Incoming {
    Msg(Box<ClientMsg>),
    Control,
    Closed,
    Refused(WsRefusal),
}

impl Conn {
    fn close_with(&mut self, refusal: &WsRefusal) {
        if let Some(tx) = self.close_tx.take() {
            refuse(&self.app, tx, refusal);
        }
    }

    fn close_plain(&mut self, error: Option<ServerMsg>, code: u16, reason: &'static str) {
        if let Some(tx) = self.close_tx.take() {
            let _ = tx.send(Closing {
                error,
                code,
                reason,
            });
        }
    }

    fn send(&self, msg: ServerMsg) -> bool {
        self.outbox.send_msg(msg).is_ok()
    }

    async fn run(&mut self, upgrade_headers: Option<Vec<(String, Vec<u8>)>>) {
        let handshake_timeout = Duration::from_millis(self.app.config.limits.handshake_timeout_ms);
        let started = Instant::now();
        let shutdown = self.app.shutdown.clone();
        let outcome = tokio::select! {
            // Boxed: the handshake's futures (signature checks, an optional
            // RPC call) are large and live only until it ends, so they must
            // not size every connection task for its whole life.
            r = Box::pin(self.handshake(upgrade_headers)) => r,
            _ = tokio::time::sleep(handshake_timeout) => Err(Some(WsRefusal::closing(
                "handshake_timeout",
                format!("no successful handshake within {} ms", handshake_timeout.as_millis()),
                true,
                close::HANDSHAKE_TIMEOUT,
            ))),
            _ = shutdown.cancelled() => Err(Some(shutdown_refusal())),
        };
        let (attached, method) = match outcome {
            Ok(ok) => ok,
            Err(Some(refusal)) => {
                self.close_with(&refusal);
                return;
            }
            Err(None) => return, // the client went away
        };
        let span = tracing::Span::current();
        span.record("session", &*attached.session_id);
        span.record("address", attached.identity.address.as_str());
        metrics::histogram!("plaza_handshake_seconds").record(started.elapsed().as_secs_f64());
        info!(method = ?method, "session attached");
        let client = ClientRef {
            session_id: Arc::clone(&attached.session_id),
            identity: Arc::clone(&attached.identity),
            outbox: self.outbox.clone(),
        };
        let shutting_down = self.serve(&client).await;
        if shutting_down {
            return;
        }
        self.app
            .sessions
            .detach(&attached.session_id, attached.generation);
    }

    /// Runs the handshake; `Err(None)` when the socket closed.
    async fn handshake(
        &mut self,
        upgrade_headers: Option<Vec<(String, Vec<u8>)>>,
    ) -> Result<(Attached, AuthMethod), Option<WsRefusal>> {
        let app = self.app.clone();
        if let Some(headers) = upgrade_headers {
            let identity = self
                .verify_headers(&headers, AuthMethod::UpgradeHeaders)
                .await
                .map_err(Some)?;
            let attached = self.attach_new(identity)?;
            return Ok((attached, AuthMethod::UpgradeHeaders));
        }
        let nonce = app.auth.new_challenge();
        self.send(ServerMsg::Challenge {
            nonce: nonce.clone(),
        });
        loop {
            let msg = match self.next_frame().await {
                Incoming::Msg(msg) => msg,
                Incoming::Control => continue,
                Incoming::Closed => return Err(None),
                Incoming::Refused(r) => return Err(Some(r)),
            };
            let now = now_ms();
            let (identity, method) = match *msg {
                ClientMsg::Auth { headers } => {
                    let mut raw = Vec::with_capacity(headers.len());
                    for (name, value) in headers {
                        let bytes = latin1(&value).ok_or_else(|| {
                            Some(auth_refusal(
                                "auth_malformed",
                                format!("header {name} has characters outside ISO-8859-1"),
                            ))
                        })?;
                        raw.push((name.to_ascii_lowercase(), bytes));
                    }
                    let id = self
                        .verify_headers(&raw, AuthMethod::FirstFrame)
                        .await
                        .map_err(Some)?;
                    (id, AuthMethod::FirstFrame)
                }
                ClientMsg::Ticket { ticket } => {
                    let mut id = app.auth.redeem_ticket(&ticket, now).map_err(|e| {
                        count_handshake("ticket", false);
                        Some(auth_error_refusal(&e))
                    })?;
                    id.method = AuthMethod::Ticket;
                    count_handshake("ticket", true);
                    (id, AuthMethod::Ticket)
                }
                ClientMsg::Answer { auth_chain } => {
                    let mut id = app
                        .auth
                        .verify_challenge(&nonce, &auth_chain, now)
                        .await
                        .map_err(|e| {
                            count_handshake("challenge", false);
                            Some(auth_error_refusal(&e))
                        })?;
                    id.method = AuthMethod::Challenge;
                    count_handshake("challenge", true);
                    (id, AuthMethod::Challenge)
                }
                ClientMsg::Resume { token, rooms } => {
                    let attached = self.resume(&token, &rooms).await?;
                    return Ok((attached, AuthMethod::SignedRequest));
                }
                ClientMsg::Ping { d } => {
                    self.send(ServerMsg::Pong { d });
                    continue;
                }
                _ => {
                    return Err(Some(WsRefusal::closing(
                        "not_authenticated",
                        "the first message must be auth, ticket, answer or resume",
                        false,
                        close::PROTOCOL,
                    )))
                }
            };
            let attached = self.attach_new(identity)?;
            return Ok((attached, method));
        }
    }

    async fn verify_headers(
        &self,
        headers: &[(String, Vec<u8>)],
        method: AuthMethod,
    ) -> Result<Identity, WsRefusal> {
        let pairs: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let request = SignedRequest {
            method: "GET",
            path: WS_PATH,
            headers: &pairs,
            body: None,
        };
        let label = match method {
            AuthMethod::UpgradeHeaders => "upgrade_headers",
            _ => "first_frame",
        };
        match self
            .app
            .auth
            .verify_request(&request, &self.app.config.auth.connect_policy, now_ms())
            .await
        {
            Ok(mut identity) => {
                count_handshake(label, true);
                identity.method = method;
                Ok(identity)
            }
            Err(e) => {
                count_handshake(label, false);
                Err(auth_error_refusal(&e))
            }
        }
    }

    fn wallet_refusal(&self, address: &str) -> Option<WsRefusal> {
        let max = self.app.config.limits.connections_per_wallet;
        (self.app.sessions.wallet_connections(address) >= max).then(|| {
            WsRefusal::closing(
                "too_many_connections_wallet",
                format!("this wallet already has {max} open connections"),
                true,
                close::TOO_MANY_CONNECTIONS,
            )
        })
    }

    fn attach_new(&mut self, identity: Identity) -> Result<Attached, Option<WsRefusal>> {
        if let Some(r) = self.wallet_refusal(&identity.address) {
            return Err(Some(r));
        }
        let attached = self.app.sessions.create(identity, self.takeover.clone());
        self.send(ServerMsg::Welcome {
            address: attached.identity.address.clone(),
            session_id: attached.session_id.to_string(),
            resume_token: attached.resume_token.clone(),
            server_time: now_ms(),
            limits: self.app.wire_limits(),
        });
        Ok(attached)
    }

    async fn resume(
        &mut self,
        token: &str,
        last_seqs: &std::collections::BTreeMap<String, u64>,
    ) -> Result<Attached, Option<WsRefusal>> {
        let attached = self
            .app
            .sessions
            .resume(token, self.takeover.clone())
            .map_err(|e| {
                count_handshake("resume", false);
                Some(WsRefusal::closing(
                    "resume_invalid",
                    e.to_string(),
                    false,
                    close::RESUME_FAILED,
                ))
            })?;
        count_handshake("resume", true);
        let client = ClientRef {
            session_id: Arc::clone(&attached.session_id),
            identity: Arc::clone(&attached.identity),
            outbox: self.outbox.clone(),
        };
        // Missed patches (or snapshots) are queued first; `resumed` follows.
        let rooms = self.app.rooms.resume(&client, last_seqs).await;
        self.send(ServerMsg::Resumed {
            address: attached.identity.address.clone(),
            session_id: attached.session_id.to_string(),
            resume_token: attached.resume_token.clone(),
            rooms,
        });
        Ok(attached)
    }

    /// Reads one frame, enforcing one format per session.
    async fn next_frame(&mut self) -> Incoming {
        let Some(frame) = self.stream.next().await else {
            return Incoming::Closed;
        };
        let message = match frame {
            Ok(m) => m,
            Err(e) => return read_error(&e),
        };
        let (format, payload): (Format, &[u8]) = match &message {
            Message::Binary(b) => (Format::MsgPack, b),
            Message::Text(t) => (Format::Json, t.as_bytes()),
            Message::Ping(_) | Message::Pong(_) => return Incoming::Control,
            Message::Close(_) => return Incoming::Closed,
        };
        self.bytes_in.increment(payload.len() as u64);
        let code = if format == Format::MsgPack {
            FORMAT_MSGPACK
        } else {
            FORMAT_JSON
        };
        if !self.format_locked {
            // The first client frame fixes the session's format; frames the
            // server sent before it used the upgrade's `?format=`.
            self.format.store(code, Ordering::Release);
            self.format_locked = true;
        } else if self.format.load(Ordering::Acquire) != code {
            return Incoming::Refused(WsRefusal::closing(
                "format_mismatch",
                "a session speaks either binary (MessagePack) or text (JSON) frames, not both",
                false,
                close::PROTOCOL,
            ));
        }
        // `decode_client`: the same verdicts as `decode::<ClientMsg>`, with
        // `msg` frames (the scene's hot path) read without serde's buffering.
        match decode_client(payload, format) {
            Ok(msg) => Incoming::Msg(Box::new(msg)),
            Err(e) => Incoming::Refused(WsRefusal::closing(
                "protocol_error",
                format!("cannot decode message: {e}"),
                false,
                close::PROTOCOL,
            )),
        }
    }
}

impl Conn {
    /// The authenticated loop. Returns true when it ended for shutdown.
    async fn serve(&mut self, client: &ClientRef) -> bool {
        let limits = &self.app.config.limits;
        let mut rate = MessageRate::new(
            limits.messages_per_second,
            limits.message_burst,
            limits.flood_strikes,
        );
        let idle = Duration::from_millis(limits.idle_timeout_ms.max(1_000));
        let mut idle_check = tokio::time::interval(idle / 4);
        let mut last_seen = Instant::now();
        let messages_in = metrics::counter!("plaza_messages_in_total");
        let shutdown = self.app.shutdown.clone();
        let takeover = self.takeover.clone();
        loop {
            let incoming = tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    let msg = ServerMsg::Shutdown {
                        reason: "server shutting down".into(),
                        retry_after_ms: 1_000,
                    };
                    self.close_plain(Some(msg), close::GOING_AWAY, "shutdown");
                    return true;
                }
                _ = takeover.cancelled() => {
                    let refusal = WsRefusal::closing(
                        "replaced",
                        "this session was resumed on another connection",
                        false,
                        close::REPLACED,
                    );
                    self.close_with(&refusal);
                    // The new connection owns the session now: no detach.
                    return true;
                }
                incoming = self.next_frame() => incoming,
                _ = idle_check.tick() => {
                    if last_seen.elapsed() > idle {
                        let refusal = WsRefusal::closing(
                            "idle_timeout",
                            format!("nothing received for {} ms", idle.as_millis()),
                            true,
                            close::IDLE_TIMEOUT,
                        );
                        self.close_with(&refusal);
                        return false;
                    }
                    continue;
                }
            };
            last_seen = Instant::now();
            let msg = match incoming {
                Incoming::Msg(msg) => msg,
                Incoming::Control => continue,
                Incoming::Closed => {
                    self.close_plain(None, close::NORMAL, "bye");
                    return false;
                }
                Incoming::Refused(refusal) => {
                    self.close_with(&refusal);
                    return false;
                }
            };
            messages_in.increment(1);
            match rate.check() {
                RateVerdict::Allow => {}
                RateVerdict::Drop => continue,
                RateVerdict::Warn => {
                    metrics::counter!("plaza_refusals_total", "reason" => "rate_limited")
                        .increment(1);
                    let _ = self.outbox.send_msg(
                        WsRefusal::soft(
                            "rate_limited",
                            "too many messages: some were dropped; slow down",
                            true,
                        )
                        .to_msg(),
                    );
                    continue;
                }
                RateVerdict::Close => {
                    self.close_with(&WsRefusal::closing(
                        "flood",
                        "messages kept arriving over the rate limit",
                        false,
                        close::FLOOD,
                    ));
                    return false;
                }
            }
            match *msg {
                ClientMsg::Ping { d } => {
                    if self.outbox.send_msg(ServerMsg::Pong { d }).is_err() {
                        self.close_with(&slow_refusal());
                        return false;
                    }
                }
                ClientMsg::Auth { .. }
                | ClientMsg::Ticket { .. }
                | ClientMsg::Answer { .. }
                | ClientMsg::Resume { .. } => {
                    let _ = self.outbox.send_msg(
                        WsRefusal::soft(
                            "already_authenticated",
                            "this connection is already authenticated",
                            false,
                        )
                        .to_msg(),
                    );
                }
                room_msg => self.app.rooms.dispatch(client, room_msg).await,
            }
        }
    }
}

fn slow_refusal() -> WsRefusal {
    WsRefusal::closing(
        "slow_consumer",
        "the client is not reading its messages fast enough",
        true,
        close::SLOW_CONSUMER,
    )
}

fn shutdown_refusal() -> WsRefusal {
    WsRefusal::closing("shutdown", "server shutting down", true, close::GOING_AWAY)
}

fn auth_refusal(code: &'static str, message: String) -> WsRefusal {
    WsRefusal::closing(code, message, false, close::AUTH_FAILED)
}

fn auth_error_refusal(e: &crate::auth::AuthError) -> WsRefusal {
    WsRefusal::closing(e.code(), e.to_string(), e.retryable(), close::AUTH_FAILED)
}

fn count_handshake(method: &'static str, ok: bool) {
    let result = if ok { "ok" } else { "refused" };
    metrics::counter!("plaza_handshakes_total", "method" => method, "result" => result)
        .increment(1);
}

fn read_error(e: &axum::Error) -> Incoming {
    // tungstenite reports an over-limit frame as a capacity error; axum only
    // exposes it boxed, so it is recognised by its text.
    let text = e.to_string();
    if text.contains("Space limit exceeded")
        || text.contains("too long")
        || text.contains("too big")
    {
        Incoming::Refused(WsRefusal::closing(
            "frame_too_large",
            format!("frame over the size limit: {text}"),
            false,
            close::FRAME_TOO_LARGE,
        ))
    } else if text.contains("Utf8") || text.contains("UTF-8") || text.contains("utf-8") {
        Incoming::Refused(WsRefusal::closing(
            "protocol_error",
            format!("invalid frame: {text}"),
            false,
            close::PROTOCOL,
        ))
    } else {
        debug!(error = %text, "read error");
        Incoming::Closed
    }
}

/// Encodes `s` as ISO-8859-1 bytes (how HTTP carries header values), or
/// `None` if a character is above U+00FF.
fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

fn frame(format: u8, bytes: Bytes) -> Option<Message> {
    if format == FORMAT_MSGPACK {
        Some(Message::Binary(bytes))
    } else {
        Utf8Bytes::try_from(bytes).ok().map(Message::Text)
    }
}

fn render(item: Outgoing, format: u8) -> Option<Message> {
    let wire = if format == FORMAT_MSGPACK {
        Format::MsgPack
    } else {
        Format::Json
    };
    match item {
        Outgoing::Msg(msg) => frame(format, Bytes::from(encode(&*msg, wire).ok()?)),
        Outgoing::Shared(enc) => frame(format, enc.bytes(wire)),
        Outgoing::Close { code, reason } => Some(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        }))),
    }
}

/// Drains the outbox into the socket: everything already queued goes out in
/// one flush; keep-alive pings on a timer; the close path first.
async fn writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    mut close_rx: oneshot::Receiver<Closing>,
    format: Arc<AtomicU8>,
    ping_every: Duration,
) {
    let bytes_out = metrics::counter!("plaza_bytes_out_total");
    let messages_out = metrics::counter!("plaza_messages_out_total");
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    loop {
        tokio::select! {
            biased;
            closing = &mut close_rx => {
                if let Ok(closing) = closing {
                    let f = format.load(Ordering::Acquire);
                    // What was queued before the refusal still goes out (a
                    // bounded amount: the queue's capacity), then the error.
                    while let Ok(item) = rx.try_recv() {
                        if matches!(item, Outgoing::Close { .. }) {
                            break;
                        }
                        if let Some(m) = render(item, f) {
                            if sink.feed(m).await.is_err() {
                                return;
                            }
                        }
                    }
                    if let Some(error) = closing.error {
                        if let Some(m) = render(Outgoing::Msg(Box::new(error)), f) {
                            let _ = sink.feed(m).await;
                        }
                    }
                    let frame = CloseFrame { code: closing.code, reason: Utf8Bytes::from(closing.reason) };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                }
                let _ = sink.close().await;
                return;
            }
            item = rx.recv() => {
                let Some(item) = item else {
                    let _ = sink.close().await;
                    return;
                };
                let f = format.load(Ordering::Acquire);
                let mut batch = 0u64;
                let mut next = Some(item);
                while let Some(item) = next.take() {
                    let closing = matches!(item, Outgoing::Close { .. });
                    if let Some(m) = render(item, f) {
                        bytes_out.increment(message_len(&m));
                        batch += 1;
                        if sink.feed(m).await.is_err() {
                            return;
                        }
                    }
                    if closing {
                        let _ = sink.flush().await;
                        return;
                    }
                    next = rx.try_recv().ok();
                }
                messages_out.increment(batch);
                if sink.flush().await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn message_len(m: &Message) -> u64 {
    match m {
        Message::Binary(b) => b.len() as u64,
        Message::Text(t) => t.len() as u64,
        _ => 0,
    }
}
