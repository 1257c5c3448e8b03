//! `GET /v1/ws`: the upgrade, the handshake and the per-connection task.
//!
//! A connection is one task: it reads frames ([`FrameReader`], straight from
//! each `read`'s bytes), runs the handshake, rate-limits, decodes and
//! dispatches. Everything sent to the client goes through its [`Link`],
//! which writes to the socket directly (rooms included) and leaves only a
//! backlog, when the socket is full, for this task to drain. Refusals go out
//! as an `error` message and then a close frame.
//!
//! Must not: touch room state (that is [`RoomManager`]'s), verify signatures
//! itself (that is [`Authenticator`]'s), or block on anything a client controls.

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use plaza_protocol::codec::decode_client;
use plaza_protocol::{ClientMsg, Format, ServerMsg};
use serde::Deserialize;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::{debug, field, info, info_span, Instrument};

use super::error::{close, WsRefusal};
use super::frame::{Event, Flow, FrameError, FrameReader};
use super::limits::{MessageRate, RateVerdict, Refused};
use super::session::Attached;
use super::wake::{self, Registration};
use super::AppState;
use crate::auth::{AuthMethod, Identity, SignedRequest};
use crate::events::now_ms;
use crate::link::{Link, WriteIo, FORMAT_JSON, FORMAT_MSGPACK};
use crate::outbox::{Outbox, OUTBOX_CAPACITY};
use crate::room::ClientRef;

/// The path signed requests for the connect name.
pub const WS_PATH: &str = "/v1/ws";

/// Bytes taken from the socket per `read`. The buffer lives on the stack for
/// the duration of one poll, so an idle connection holds no read buffer at
/// all; a frame that straddles two reads is the only thing kept.
const READ_CHUNK: usize = 4096;

/// Bytes and frames in are added to the shared counters in batches.
const METRICS_BATCH: u64 = 64;

/// The byte stream `axum::serve` hands hyper on the plain listener: an
/// upgraded connection is taken back to it, so frames go to the socket
/// without hyper's buffering layers or a lock around the split halves.
type PlainIo = TokioIo<tokio::net::TcpStream>;

/// Query options of the upgrade.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    /// `msgpack` or `json`: the form of the server's frames before the
    /// client's first frame (the challenge, or `welcome` after upgrade-header
    /// auth). Default `json`, which every runtime can read.
    #[serde(default)]
    format: Option<String>,
}

/// The upgrade handler: a plain RFC 6455 server handshake (HTTP/1.1), then
/// the connection task on the upgraded stream.
pub async fn upgrade(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<WsQuery>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let accept = match websocket_key(headers) {
        Ok(key) => derive_accept_key(key.as_bytes()),
        Err(why) => return bad_upgrade(why),
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return bad_upgrade("this connection cannot be upgraded (HTTP/1.1 is required)");
    };
    let headers = request.headers();
    let ip = super::client_ip(&app, peer, headers);
    let signed_headers = identity_headers(headers);
    let initial = match query.format.as_deref() {
        Some("msgpack") => FORMAT_MSGPACK,
        _ => FORMAT_JSON,
    };
    let tracker = app.tracker.clone();
    tokio::spawn(tracker.track_future(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => return debug!(error = %e, "upgrade failed"),
        };
        match hyper_util::server::conn::auto::upgrade::downcast::<PlainIo>(upgraded) {
            Ok(parts) => {
                // Owned halves: reads and writes share the socket, not a lock.
                let (rd, wr) = parts.io.into_inner().into_split();
                // Copied out: an (even empty) slice of hyper's read buffer
                // would keep that whole buffer alive for the connection's life.
                let early = parts.read_buf.to_vec();
                drop(parts.read_buf);
                let start = Start {
                    ip,
                    upgrade_headers: signed_headers,
                    initial_format: initial,
                    early,
                };
                connection(app, rd, Box::pin(super::socket::TcpWriter::new(wr)), start).await
            }
            // TLS (or any other stream): hyper's upgraded stream, split.
            Err(upgraded) => {
                let (rd, wr) = tokio::io::split(TokioIo::new(upgraded));
                let start = Start {
                    ip,
                    upgrade_headers: signed_headers,
                    initial_format: initial,
                    early: Vec::new(),
                };
                connection(app, rd, Box::pin(wr), start).await
            }
        }
    }));
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

/// The `Sec-WebSocket-Key` of a valid upgrade request, or why it is not one.
fn websocket_key(headers: &HeaderMap) -> Result<&str, &'static str> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    if !has_token(header::CONNECTION, "upgrade") {
        return Err("`Connection: upgrade` header is missing");
    }
    if !has_token(header::UPGRADE, "websocket") {
        return Err("`Upgrade: websocket` header is missing");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return Err("`Sec-WebSocket-Version: 13` header is missing");
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .ok_or("`Sec-WebSocket-Key` header is missing")
}

fn bad_upgrade(why: &'static str) -> Response {
    let body = serde_json::json!({"error": {"code": "bad_upgrade", "message": why}});
    let mut response = (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    if why.contains("Version") {
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    response
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

/// What a connection starts from, besides its two halves.
struct Start {
    ip: IpAddr,
    upgrade_headers: Option<Vec<(String, Vec<u8>)>>,
    initial_format: u8,
    /// Bytes read past the upgrade request (a client may send its first
    /// frame without waiting for the 101).
    early: Vec<u8>,
}

/// Not an `async fn`: its arguments move straight into the instrumented
/// block instead of also being kept in an outer future (the task's size is
/// per-connection memory).
fn connection<R>(
    app: AppState,
    rd: R,
    wr: WriteIo,
    start: Start,
) -> impl std::future::Future<Output = ()> + Send
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let Start {
        ip,
        upgrade_headers,
        initial_format,
        mut early,
    } = start;
    let span = info_span!("conn", %ip, session = field::Empty, address = field::Empty);
    async move {
        let link = Arc::new(Link::new(wr, initial_format, OUTBOX_CAPACITY));
        let mut conn = Conn {
            app: app.clone(),
            rd,
            frames: FrameReader::new(app.config.limits.max_frame_bytes),
            inbox: VecDeque::new(),
            outbox: Outbox::link(Arc::clone(&link)),
            link,
            control: app.conns.register(),
            format_locked: false,
            eof: false,
            in_frames: 0,
            in_bytes: 0,
        };
        if !early.is_empty() {
            conn.parse(&mut early);
        }
        drop(early);
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
                conn.close_with(&refusal);
                conn.finish().await;
                return;
            }
        };
        metrics::gauge!("plaza_connections_open").increment(1.0);
        metrics::counter!("plaza_connections_total").increment(1);
        conn.run(upgrade_headers).await;
        if !conn.link.is_closing() {
            conn.close_plain(None, close::NORMAL, "bye");
        }
        conn.finish().await;
        metrics::gauge!("plaza_connections_open").decrement(1.0);
        drop(permit);
    }
    .instrument(span)
}

struct Conn<R> {
    app: AppState,
    rd: R,
    frames: FrameReader,
    /// Decoded frames of the last read not yet handed out.
    inbox: VecDeque<Incoming>,
    link: Arc<Link>,
    outbox: Outbox,
    /// Stop (shutdown, takeover) and keep-alive tick.
    control: Registration,
    format_locked: bool,
    /// The client closed its side (or the socket failed).
    eof: bool,
    in_frames: u64,
    in_bytes: u64,
}

/// One decoded frame, or why there is none.
enum Incoming {
    Msg(Box<ClientMsg>),
    Control,
    Closed,
    /// Boxed: keeps `Incoming` (queued per read) two words wide.
    Refused(Box<WsRefusal>),
}

impl<R: AsyncRead + Unpin + Send> Conn<R> {
    fn close_with(&mut self, refusal: &WsRefusal) {
        metrics::counter!("plaza_refusals_total", "reason" => refusal.code).increment(1);
        debug!(code = refusal.code, message = %refusal.message, "refused");
        let code = refusal.close.unwrap_or(close::PROTOCOL);
        self.link.close(Some(&refusal.to_msg()), code, refusal.code);
    }

    fn close_plain(&mut self, error: Option<ServerMsg>, code: u16, reason: &'static str) {
        self.link.close(error.as_ref(), code, reason);
    }

    /// Writes out what is queued (the close frame last), shuts the write side
    /// down and, if the client has not closed yet, reads (and discards) for a
    /// moment so the close is not lost to a reset. Bounded: a client that
    /// stopped reading cannot keep the task alive.
    async fn finish(&mut self) {
        self.flush_in_counts();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.link.finish()).await;
        if self.eof {
            return;
        }
        let linger = async {
            let mut scratch = [0u8; 512];
            loop {
                match tokio::io::AsyncReadExt::read(&mut self.rd, &mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), linger).await;
    }

    fn flush_in_counts(&mut self) {
        if self.in_frames > 0 {
            metrics::counter!("plaza_messages_in_total").increment(self.in_frames);
            metrics::counter!("plaza_bytes_in_total").increment(self.in_bytes);
            self.in_frames = 0;
            self.in_bytes = 0;
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
            let identity = Self::verify_headers(&app, &headers, AuthMethod::UpgradeHeaders)
                .await
                .map_err(Some)?;
            let attached = self.attach_new(identity)?;
            return Ok((attached, AuthMethod::UpgradeHeaders));
        }
        let nonce = app.auth.new_challenge();
        self.send(ServerMsg::Challenge {
            nonce: nonce.clone(),
        });
        let outcome = self.first_frames(&app, &nonce).await;
        // Answered, or dead: the connection authenticated another way or is
        // ending. Either way it must not wait in the map for its expiry.
        app.auth.discard_challenge(&nonce);
        outcome
    }

    /// The handshake's frames after the `challenge`.
    async fn first_frames(
        &mut self,
        app: &AppState,
        nonce: &str,
    ) -> Result<(Attached, AuthMethod), Option<WsRefusal>> {
        loop {
            let msg = match self.next_frame().await {
                Incoming::Msg(msg) => msg,
                Incoming::Control => continue,
                Incoming::Closed => return Err(None),
                Incoming::Refused(r) => return Err(Some(*r)),
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
                    let id = Self::verify_headers(app, &raw, AuthMethod::FirstFrame)
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
                        .verify_challenge(nonce, &auth_chain, now)
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

    /// Takes the app rather than `&self`: the connection's read half is not
    /// `Sync`, so `&Conn` cannot be held across an await.
    async fn verify_headers(
        app: &AppState,
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
        match app
            .auth
            .verify_request(&request, &app.config.auth.connect_policy, now_ms())
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
        let attached = self
            .app
            .sessions
            .create(identity, Arc::clone(self.control.control()));
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
            .resume(token, Arc::clone(self.control.control()))
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

    /// The next frame from the client, enforcing one format per session.
    /// While it waits it also drains the link's backlog, if any.
    /// Cancel-safe: everything read is kept in `self`.
    async fn next_frame(&mut self) -> Incoming {
        loop {
            if let Some(incoming) = self.inbox.pop_front() {
                return incoming;
            }
            // Ended from the other side: the client is gone, or something
            // (a room's kick, a write error) closed the link.
            if self.eof || self.link.is_closed() {
                return Incoming::Closed;
            }
            let link = Arc::clone(&self.link);
            let backlog = link.has_backlog();
            tokio::select! {
                biased;
                drained = link.drain(), if backlog => {
                    if drained.is_err() {
                        self.eof = true;
                    }
                }
                _ = link.notified(), if !backlog => {}
                () = self.read_some() => {}
            }
        }
    }

    /// One `read` from the socket, parsed into `inbox`.
    async fn read_some(&mut self) {
        std::future::poll_fn(|cx| {
            let mut chunk = [const { MaybeUninit::<u8>::uninit() }; READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk);
            match Pin::new(&mut self.rd).poll_read(cx, &mut buf) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => {
                    debug!(error = %e, "read error");
                    self.eof = true;
                    Poll::Ready(())
                }
                Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                    self.eof = true;
                    Poll::Ready(())
                }
                Poll::Ready(Ok(())) => {
                    self.parse(buf.filled_mut());
                    Poll::Ready(())
                }
            }
        })
        .await;
    }

    /// Turns the frames in `bytes` into `inbox` entries.
    fn parse(&mut self, bytes: &mut [u8]) {
        let Self {
            frames,
            inbox,
            link,
            format_locked,
            in_frames,
            in_bytes,
            ..
        } = self;
        let result = frames.feed(bytes, &mut |event| {
            let incoming = match event {
                Event::Message { text, payload } => {
                    *in_frames += 1;
                    *in_bytes += payload.len() as u64;
                    decode_frame(link, format_locked, text, payload)
                }
                Event::Ping(payload) => {
                    link.pong(payload);
                    Incoming::Control
                }
                Event::Pong => Incoming::Control,
                Event::Close(_) => {
                    // Answer the client's close (RFC 6455 §5.5.1), then end.
                    link.close(None, close::NORMAL, "");
                    Incoming::Closed
                }
            };
            let stop = matches!(incoming, Incoming::Closed | Incoming::Refused(_));
            inbox.push_back(incoming);
            if stop {
                Flow::Stop
            } else {
                Flow::Continue
            }
        });
        if *in_frames >= METRICS_BATCH {
            self.flush_in_counts();
        }
        match result {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop) => self.eof = true,
            Err(e) => {
                self.eof = true;
                self.inbox
                    .push_back(Incoming::Refused(Box::new(frame_refusal(&e))));
            }
        }
    }
}

/// Decodes one client message, fixing the session's format on the first.
fn decode_frame(link: &Link, format_locked: &mut bool, text: bool, payload: &[u8]) -> Incoming {
    let (format, code) = if text {
        (Format::Json, FORMAT_JSON)
    } else {
        (Format::MsgPack, FORMAT_MSGPACK)
    };
    if !*format_locked {
        // The first client frame fixes the session's format; frames the
        // server sent before it used the upgrade's `?format=`.
        link.set_format(code);
        *format_locked = true;
    } else if link.format() != code {
        return Incoming::Refused(Box::new(WsRefusal::closing(
            "format_mismatch",
            "a session speaks either binary (MessagePack) or text (JSON) frames, not both",
            false,
            close::PROTOCOL,
        )));
    }
    if text {
        if let Err(e) = std::str::from_utf8(payload) {
            return Incoming::Refused(Box::new(WsRefusal::closing(
                "protocol_error",
                format!("invalid frame: text frame is not UTF-8: {e}"),
                false,
                close::PROTOCOL,
            )));
        }
    }
    // `decode_client`: the same verdicts as `decode::<ClientMsg>`, with
    // `msg` frames (the scene's hot path) read without serde's buffering.
    match decode_client(payload, format) {
        Ok(msg) => Incoming::Msg(Box::new(msg)),
        Err(e) => Incoming::Refused(Box::new(WsRefusal::closing(
            "protocol_error",
            format!("cannot decode message: {e}"),
            false,
            close::PROTOCOL,
        ))),
    }
}

fn frame_refusal(e: &FrameError) -> WsRefusal {
    match e {
        FrameError::TooLarge { .. } => WsRefusal::closing(
            "frame_too_large",
            format!("frame over the size limit: {e}"),
            false,
            close::FRAME_TOO_LARGE,
        ),
        FrameError::Protocol(_) => WsRefusal::closing(
            "protocol_error",
            format!("invalid frame: {e}"),
            false,
            close::PROTOCOL,
        ),
    }
}

impl<R: AsyncRead + Unpin + Send> Conn<R> {
    /// The authenticated loop. Returns true when it ended for shutdown.
    async fn serve(&mut self, client: &ClientRef) -> bool {
        let limits = &self.app.config.limits;
        let mut rate = MessageRate::new(
            limits.messages_per_second,
            limits.message_burst,
            limits.flood_strikes,
        );
        let idle = Duration::from_millis(limits.idle_timeout_ms.max(1_000));
        let ping_every = Duration::from_millis(limits.ping_interval_ms.max(100));
        // The keep-alive tick comes from the server's one ticker (every
        // `LimitsConfig::keepalive_period`). A frame only sets `seen`; the
        // clock is read per tick, not per frame. Silence is measured from
        // the first tick that found none.
        let mut seen = true;
        let mut silent_since = Instant::now();
        let mut last_ping = Instant::now();
        let control = Arc::clone(self.control.control());
        loop {
            let incoming = tokio::select! {
                biased;
                flags = control.flags() => {
                    if flags & wake::STOP != 0 {
                        if self.app.shutdown.is_cancelled() {
                            let msg = ServerMsg::Shutdown {
                                reason: "server shutting down".into(),
                                retry_after_ms: 1_000,
                            };
                            self.close_plain(Some(msg), close::GOING_AWAY, "shutdown");
                            return true;
                        }
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
                    let now = Instant::now();
                    if now.duration_since(last_ping) >= ping_every {
                        self.link.ping();
                        last_ping = now;
                    }
                    if std::mem::take(&mut seen) {
                        silent_since = now;
                    } else if now.duration_since(silent_since) > idle {
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
                incoming = self.next_frame() => incoming,
            };
            seen = true;
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

/// Encodes `s` as ISO-8859-1 bytes (how HTTP carries header values), or
/// `None` if a character is above U+00FF.
fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}
