//! A connection's write side, shared by its task and by every room that
//! sends to it.
//!
//! A room broadcasting a patch writes the frame straight into each member's
//! socket (one vectored write of header and shared payload: `sendmsg` on a
//! plain socket, see `gateway::socket`; no copy, no task wake-up). Only when a socket cannot take a frame whole does the frame wait
//! in a bounded queue, which the connection's task drains once the socket is
//! writable again; while anything waits, later frames queue behind it, so
//! the order is always the order of `send`.
//!
//! Invariant: with the queue empty, only direct senders touch the socket
//! (polled with a no-op waker); with anything queued, only the connection's
//! task does (with its own waker). The mutex makes each write atomic.
//!
//! Must not: read from the socket, or block: a full queue is an error the
//! caller handles (the seat is lagging, the client is slow).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use plaza_protocol::{encode, mpack, EncodeError, Format, ServerMsg};
use tokio::io::AsyncWrite;

use crate::gateway::frame::{
    server_header, MAX_HEADER, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT,
};
use crate::outbox::{Outgoing, SendError};

/// The write half of a connection's byte stream.
pub type WriteIo = Pin<Box<dyn AsyncWrite + Send>>;

/// Frames are counted into the shared metrics in batches of this many.
const METRICS_BATCH: u64 = 64;

/// The client's frame format: MessagePack in binary frames.
pub const FORMAT_MSGPACK: u8 = 1;
/// The client's frame format: JSON in text frames.
pub const FORMAT_JSON: u8 = 2;

/// One server frame: its header and a payload shared with other sockets.
struct Frame {
    head: [u8; MAX_HEADER],
    head_len: u8,
    body: Bytes,
}

impl Frame {
    fn new(opcode: u8, body: Bytes) -> Self {
        let (head, head_len) = server_header(opcode, body.len());
        Self {
            head,
            head_len,
            body,
        }
    }

    fn len(&self) -> usize {
        usize::from(self.head_len) + self.body.len()
    }

    /// The unwritten rest, from byte `from` of the frame.
    fn slices(&self, from: usize) -> [IoSlice<'_>; 2] {
        let head = &self.head[..usize::from(self.head_len)];
        if from < head.len() {
            [IoSlice::new(&head[from..]), IoSlice::new(&self.body)]
        } else {
            [
                IoSlice::new(&self.body[from - head.len()..]),
                IoSlice::new(&[]),
            ]
        }
    }
}

struct State {
    /// `None` once the socket failed or was shut down.
    io: Option<WriteIo>,
    queue: VecDeque<Frame>,
    /// Bytes of `queue[0]` already written.
    written: usize,
    /// A flush is owed (TLS buffers; a plain socket never needs one).
    unflushed: bool,
    /// A close frame is queued: nothing more is accepted.
    closing: bool,
    frames: u64,
    bytes: u64,
}

impl State {
    fn count(&mut self, frame_len: usize) {
        self.frames += 1;
        self.bytes += frame_len as u64;
        if self.frames >= METRICS_BATCH {
            self.flush_counts();
        }
    }

    fn flush_counts(&mut self) {
        if self.frames > 0 {
            metrics::counter!("plaza_messages_out_total").increment(self.frames);
            metrics::counter!("plaza_bytes_out_total").increment(self.bytes);
            self.frames = 0;
            self.bytes = 0;
        }
    }

    /// Writes queued frames with `cx`'s waker; `Ready(Ok)` once all are out
    /// and flushed.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let Some(io) = self.io.as_mut() else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            let Some(front) = self.queue.front() else {
                if self.unflushed {
                    match io.as_mut().poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.unflushed = false,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(e))),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                return Poll::Ready(Ok(()));
            };
            let slices = front.slices(self.written);
            match io.as_mut().poll_write_vectored(cx, &slices) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(self.fail(io::ErrorKind::WriteZero.into())))
                }
                Poll::Ready(Ok(n)) => {
                    self.unflushed = true;
                    self.written += n;
                    let len = front.len();
                    if self.written >= len {
                        self.written = 0;
                        self.queue.pop_front();
                        self.count(len);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.io = None;
        self.queue.clear();
        e
    }

    /// Tries to write `frame` now, without waiting; whatever does not go out
    /// is queued. Returns whether the connection's task must take over.
    fn write_or_queue(&mut self, frame: Frame) -> bool {
        if !self.queue.is_empty() {
            self.queue.push_back(frame);
            return false; // the task was told when the queue became non-empty
        }
        let Some(io) = self.io.as_mut() else {
            return false;
        };
        let mut cx = Context::from_waker(Waker::noop());
        let len = frame.len();
        let mut done = 0;
        while done < len {
            match io
                .as_mut()
                .poll_write_vectored(&mut cx, &frame.slices(done))
            {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    self.io = None;
                    return true;
                }
                Poll::Ready(Ok(n)) => done += n,
                Poll::Pending => break,
            }
        }
        if done == len {
            let flushed = io.as_mut().poll_flush(&mut cx);
            self.count(len);
            {
                match flushed {
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(_)) => {
                        self.io = None;
                        return true;
                    }
                    Poll::Pending => {
                        self.unflushed = true;
                        return true;
                    }
                }
            }
            return false;
        }
        self.unflushed |= done > 0;
        self.written = done;
        self.queue.push_back(frame);
        true
    }
}

/// Wakes the connection's task when a sender handed it work. There is one
/// waiter, so a flag and an [`AtomicWaker`] (re-registering the same waker is
/// a compare, not a waiter-list insert and remove per poll as with `Notify`).
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    fn notify_one(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.set.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // A notify between the first check and the registration woke no one.
        if self.set.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// One client's message: the hot ones (a room's `msg`, `pong`) by the
/// hand-written MessagePack writer, the rest by serde. Same bytes either way.
fn encode_one(msg: &ServerMsg, format: Format) -> Result<Vec<u8>, EncodeError> {
    match (format, msg) {
        (Format::MsgPack, ServerMsg::Msg { room, kind, data }) => {
            Ok(mpack::encode_room_msg(room, kind, data))
        }
        (Format::MsgPack, ServerMsg::Pong { d }) => Ok(mpack::encode_pong(*d)),
        _ => encode(msg, format),
    }
}

/// See the module documentation.
pub struct Link {
    state: Mutex<State>,
    wake: Signal,
    format: AtomicU8,
    capacity: usize,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("format", &self.format.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link over `io` that holds at most `capacity` frames back.
    pub fn new(io: WriteIo, format: u8, capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                io: Some(io),
                queue: VecDeque::new(),
                written: 0,
                unflushed: false,
                closing: false,
                frames: 0,
                bytes: 0,
            }),
            wake: Signal::default(),
            format: AtomicU8::new(format),
            capacity,
        }
    }

    /// The client's format ([`FORMAT_MSGPACK`] or [`FORMAT_JSON`]).
    pub fn format(&self) -> u8 {
        self.format.load(Ordering::Acquire)
    }

    /// Fixes the client's format (its first frame decides).
    pub fn set_format(&self, format: u8) {
        self.format.store(format, Ordering::Release);
    }

    fn wire(&self) -> (Format, u8) {
        if self.format() == FORMAT_MSGPACK {
            (Format::MsgPack, OP_BINARY)
        } else {
            (Format::Json, OP_TEXT)
        }
    }

    /// Sends one queued item: written now if the socket takes it, else queued.
    pub fn send(&self, item: Outgoing) -> Result<(), SendError> {
        let (format, opcode) = self.wire();
        let body = match item {
            Outgoing::Msg(msg) => {
                Bytes::from(encode_one(&msg, format).map_err(|_| SendError::Closed)?)
            }
            Outgoing::Shared(enc) => enc.bytes(format),
            Outgoing::Close { code, reason } => {
                self.close(None, code, reason);
                return Ok(());
            }
        };
        let mut st = self.state.lock();
        if st.io.is_none() || st.closing {
            return Err(SendError::Closed);
        }
        if st.queue.len() >= self.capacity {
            return Err(SendError::Full);
        }
        let wake = st.write_or_queue(Frame::new(opcode, body));
        drop(st);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Sends a control frame (ping or pong); never refused for a full queue.
    fn control(&self, opcode: u8, payload: &[u8]) {
        let mut st = self.state.lock();
        if st.io.is_none() || st.closing {
            return;
        }
        let wake = st.write_or_queue(Frame::new(opcode, Bytes::copy_from_slice(payload)));
        drop(st);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Answers a client's ping.
    pub fn pong(&self, payload: &[u8]) {
        self.control(OP_PONG, payload);
    }

    /// A keep-alive ping.
    pub fn ping(&self) {
        self.control(OP_PING, &[]);
    }

    /// Queues `error` (if any) and a close frame behind what is already
    /// queued (a bounded amount), then refuses everything else. The
    /// connection's task writes them out in [`Link::finish`].
    pub fn close(&self, error: Option<&ServerMsg>, code: u16, reason: &str) {
        let (format, opcode) = self.wire();
        let mut st = self.state.lock();
        if st.io.is_none() || st.closing {
            return;
        }
        st.closing = true;
        if let Some(msg) = error {
            if let Ok(bytes) = encode(msg, format) {
                st.queue.push_back(Frame::new(opcode, Bytes::from(bytes)));
            }
        }
        let mut body = Vec::with_capacity(2 + reason.len());
        body.extend_from_slice(&code.to_be_bytes());
        body.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
        st.queue.push_back(Frame::new(OP_CLOSE, Bytes::from(body)));
        drop(st);
        self.wake.notify_one();
    }

    /// Whether the connection is closed or closing (nothing more goes out).
    pub fn is_closed(&self) -> bool {
        let st = self.state.lock();
        st.io.is_none() || st.closing
    }

    /// Whether a close was queued with [`Link::close`].
    pub fn is_closing(&self) -> bool {
        self.state.lock().closing
    }

    /// Whether frames wait for the connection's task.
    pub fn has_backlog(&self) -> bool {
        let st = self.state.lock();
        st.io.is_some() && (!st.queue.is_empty() || st.unflushed)
    }

    /// Resolves when a sender handed the task work (a backlog or a close).
    pub async fn notified(&self) {
        std::future::poll_fn(|cx| self.wake.poll(cx)).await;
    }

    /// Writes the backlog; `Ready(Ok)` once it is all out.
    pub fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.state.lock().poll_drain(cx)
    }

    /// Writes the backlog out (a close frame included).
    pub async fn drain(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_drain(cx)).await
    }

    /// Ends the write side: what is queued goes out, then the socket's write
    /// half is shut down; nothing is accepted afterwards.
    pub async fn finish(&self) {
        let _ = self.drain().await;
        let _ = std::future::poll_fn(|cx| {
            let mut st = self.state.lock();
            st.flush_counts();
            match st.io.as_mut() {
                Some(io) => io.as_mut().poll_shutdown(cx),
                None => Poll::Ready(Ok(())),
            }
        })
        .await;
        let mut st = self.state.lock();
        st.io = None;
        st.queue.clear();
        st.flush_counts();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Encoded;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    fn link_pair(capacity: usize, buffer: usize) -> (Arc<Link>, tokio::io::DuplexStream) {
        let (a, b) = tokio::io::duplex(buffer);
        (
            Arc::new(Link::new(Box::pin(a), FORMAT_MSGPACK, capacity)),
            b,
        )
    }

    async fn read_frames(peer: &mut tokio::io::DuplexStream, n: usize) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        for _ in 0..n {
            let mut head = [0u8; 2];
            peer.read_exact(&mut head).await.expect("head");
            let len = match head[1] {
                126 => {
                    let mut l = [0u8; 2];
                    peer.read_exact(&mut l).await.expect("len");
                    usize::from(u16::from_be_bytes(l))
                }
                127 => {
                    let mut l = [0u8; 8];
                    peer.read_exact(&mut l).await.expect("len");
                    u64::from_be_bytes(l) as usize
                }
                n => usize::from(n),
            };
            let mut body = vec![0u8; len];
            peer.read_exact(&mut body).await.expect("body");
            out.push((head[0], body));
        }
        out
    }

    #[tokio::test]
    async fn writes_directly_when_the_socket_has_room() {
        let (link, mut peer) = link_pair(4, 1 << 16);
        let enc = Encoded::from_parts(Bytes::from_static(b"patch"), Bytes::from_static(b"{}"));
        link.send(Outgoing::Shared(enc)).expect("sent");
        assert!(!link.has_backlog(), "written without the task");
        link.pong(b"p");
        let got = read_frames(&mut peer, 2).await;
        assert_eq!(got, vec![(0x82, b"patch".to_vec()), (0x8A, b"p".to_vec())]);
    }

    #[tokio::test]
    async fn a_full_socket_queues_in_order_then_refuses_past_capacity() {
        // A 64-byte pipe: the second 50-byte frame only half fits.
        let (link, mut peer) = link_pair(2, 64);
        let frame =
            |b: u8| Outgoing::Shared(Encoded::from_parts(Bytes::from(vec![b; 50]), Bytes::new()));
        link.send(frame(1)).expect("first");
        link.send(frame(2)).expect("second, partly written");
        link.send(frame(3)).expect("third, queued");
        assert!(link.has_backlog());
        assert_eq!(link.send(frame(4)), Err(SendError::Full));
        let drain = {
            let link = Arc::clone(&link);
            tokio::spawn(async move { link.drain().await })
        };
        let got = read_frames(&mut peer, 3).await;
        drain.await.expect("task").expect("drained");
        assert_eq!(
            got.iter().map(|(_, b)| b[0]).collect::<Vec<_>>(),
            vec![1, 2, 3],
            "frames arrive whole and in order"
        );
        assert!(!link.has_backlog());
    }

    #[tokio::test]
    async fn close_goes_out_after_the_backlog_and_refuses_the_rest() {
        let (link, mut peer) = link_pair(8, 1 << 16);
        link.send(Outgoing::Msg(Box::new(ServerMsg::Pong { d: 1.0 })))
            .expect("sent");
        let err = ServerMsg::Pong { d: 7.0 };
        link.close(Some(&err), 4004, "flood");
        assert!(link.is_closed());
        assert_eq!(
            link.send(Outgoing::Msg(Box::new(ServerMsg::Pong { d: 1.0 }))),
            Err(SendError::Closed)
        );
        link.finish().await;
        let got = read_frames(&mut peer, 3).await;
        assert_eq!(got[0].0, 0x82);
        assert_eq!(got[1].0, 0x82);
        assert_eq!(
            got[2],
            (0x88, [&4004u16.to_be_bytes()[..], b"flood"].concat())
        );
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest)
            .await
            .expect("eof after shutdown");
        assert!(rest.is_empty());
    }
}
