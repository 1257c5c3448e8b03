//! The bounded queue between everything that talks to a client (gateway,
//! rooms, lobby) and that client's socket: a connection's [`Link`] (written
//! directly, queued only when the socket is full), or a plain channel.
//!
//! Messages are queued *encoded-once*: a room encodes a patch a single time
//! into an [`Encoded`] and every seat gets a clone of the same `Arc`. The
//! writer picks the MessagePack or the JSON form to match how the client
//! speaks; the JSON form is produced lazily, at most once per message.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use plaza_protocol::{decode, encode, Format, ServerMsg};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::link::Link;

/// How many messages may wait for one client's socket before the client is
/// considered slow. At 20 patches/s this is ~6 s of backlog: enough for a
/// hiccup, small enough that a stalled reader costs bounded memory.
pub const OUTBOX_CAPACITY: usize = 128;

/// A server message encoded once, shareable by any number of clients.
pub struct Encoded {
    msgpack: Bytes,
    json: OnceLock<Bytes>,
    /// Kept to render JSON lazily: only text-frame clients need it.
    source: Option<Box<dyn Fn() -> Vec<u8> + Send + Sync>>,
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoded")
            .field("msgpack_len", &self.msgpack.len())
            .finish()
    }
}

impl Encoded {
    /// Encodes `msg` to MessagePack now; JSON is rendered on first use.
    pub fn new<T>(msg: T) -> Arc<Self>
    where
        T: Serialize + Send + Sync + 'static,
    {
        let mut bytes = encode(&msg, Format::MsgPack).unwrap_or_default();
        // Patches stay in a room's resume ring: keep no growth slack.
        bytes.shrink_to_fit();
        let msgpack = Bytes::from(bytes);
        let source: Box<dyn Fn() -> Vec<u8> + Send + Sync> =
            Box::new(move || encode(&msg, Format::Json).unwrap_or_default());
        Arc::new(Self {
            msgpack,
            json: OnceLock::new(),
            source: Some(source),
        })
    }

    /// Wraps a server message already encoded to MessagePack (a patch written
    /// by `plaza_protocol::mpack`). JSON, if a text-frame client asks, is
    /// rendered from those bytes: decoding gives back the same message (a
    /// document holds no non-finite floats and no `$` keys), so the text is
    /// what encoding the message itself would give.
    pub fn from_msgpack(bytes: Vec<u8>) -> Arc<Self> {
        let msgpack = Bytes::from(bytes);
        let kept = msgpack.clone();
        let source: Box<dyn Fn() -> Vec<u8> + Send + Sync> = Box::new(move || {
            decode::<ServerMsg>(&kept, Format::MsgPack)
                .ok()
                .and_then(|msg| encode(&msg, Format::Json).ok())
                .unwrap_or_default()
        });
        Arc::new(Self {
            msgpack,
            json: OnceLock::new(),
            source: Some(source),
        })
    }

    /// Wraps already-encoded forms.
    pub fn from_parts(msgpack: Bytes, json: Bytes) -> Arc<Self> {
        let cell = OnceLock::new();
        let _ = cell.set(json);
        Arc::new(Self {
            msgpack,
            json: cell,
            source: None,
        })
    }

    /// The bytes for a client that speaks `format`.
    pub fn bytes(&self, format: Format) -> Bytes {
        match format {
            Format::MsgPack => self.msgpack.clone(),
            Format::Json => self
                .json
                .get_or_init(|| Bytes::from(self.source.as_ref().map(|f| f()).unwrap_or_default()))
                .clone(),
        }
    }
}

/// One queued item.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A message for this client only; encoded by the writer.
    Msg(Box<ServerMsg>),
    /// A message encoded once and shared (patches, broadcasts).
    Shared(Arc<Encoded>),
    /// Send `error`-style message then close the socket with `code`.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Close reason (the error message was already queued).
        reason: &'static str,
    },
}

/// Why an item could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The queue is full: the client is not keeping up.
    #[error("client outbox is full")]
    Full,
    /// The connection is gone.
    #[error("client connection is closed")]
    Closed,
}

/// The sending side of a client's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    /// A queue read by someone else (tests, in-process seams).
    Channel(mpsc::Sender<Outgoing>),
    /// A WebSocket connection's write side.
    Link(Arc<Link>),
}

impl Outbox {
    /// A new queue; the receiver goes to whoever reads it.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            Self {
                inner: Inner::Channel(tx),
            },
            rx,
        )
    }

    /// The outbox of a connection: sends are written straight to its socket.
    pub fn link(link: Arc<Link>) -> Self {
        Self {
            inner: Inner::Link(link),
        }
    }

    /// Queues without waiting; never blocks a room.
    pub fn try_send(&self, item: Outgoing) -> Result<(), SendError> {
        match &self.inner {
            Inner::Channel(tx) => tx.try_send(item).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::Full,
                mpsc::error::TrySendError::Closed(_) => SendError::Closed,
            }),
            Inner::Link(link) => link.send(item),
        }
    }

    /// Queues one owned message.
    pub fn send_msg(&self, msg: ServerMsg) -> Result<(), SendError> {
        self.try_send(Outgoing::Msg(Box::new(msg)))
    }

    /// Queues a shared, already-encoded message.
    pub fn send_shared(&self, msg: &Arc<Encoded>) -> Result<(), SendError> {
        self.try_send(Outgoing::Shared(Arc::clone(msg)))
    }

    /// Whether the writer side is gone.
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            Inner::Channel(tx) => tx.is_closed(),
            Inner::Link(link) => link.is_closed(),
        }
    }

    /// Whether two handles feed the same queue.
    pub fn same_channel(&self, other: &Outbox) -> bool {
        match (&self.inner, &other.inner) {
            (Inner::Channel(a), Inner::Channel(b)) => a.same_channel(b),
            (Inner::Link(a), Inner::Link(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use plaza_protocol::mpack;
    use plaza_protocol::state::{Op, Seg, Value};

    use super::*;

    /// A patch written by the hand-written encoder renders to JSON exactly
    /// as encoding the message itself does (floats narrowed to f32 on the
    /// MessagePack side come back unchanged, bytes keep their `$bytes` form).
    #[test]
    fn a_msgpack_patch_renders_the_same_json_as_the_message() {
        let ops = vec![
            Op::Set(
                vec![Seg::Key("players".into()), Seg::Key("p1".into())],
                Value::List(vec![
                    Value::Float(f64::from(0.1f32)),
                    Value::Float(0.1),
                    Value::Int(7),
                ]),
            ),
            Op::Set(
                vec![Seg::Key("blob".into())],
                Value::Map(BTreeMap::from([
                    ("raw".to_owned(), Value::Bytes(vec![0, 255, 3])),
                    ("s".to_owned(), Value::Str("é\"\\".into())),
                ])),
            ),
            Op::Del(vec![Seg::Key("log".into()), Seg::Idx(3)]),
            Op::Push(vec![Seg::Key("log".into())], Value::Null),
        ];
        let msg = ServerMsg::Patch {
            room: "r1".into(),
            seq: 9,
            ops: ops.clone(),
        };
        let encoded = Encoded::from_msgpack(mpack::encode_patch("r1", 9, &ops));
        assert_eq!(
            encoded.bytes(Format::MsgPack),
            encode(&msg, Format::MsgPack).expect("msgpack")
        );
        assert_eq!(
            encoded.bytes(Format::Json),
            encode(&msg, Format::Json).expect("json")
        );
    }
}
