//! WebSocket framing (RFC 6455 §5) for the server side of `/v1/ws`: the
//! reader of client frames and the header of server frames.
//!
//! Frame headers are parsed and formatted by tungstenite's [`FrameHeader`];
//! this module owns what Plaza needs around them: reading straight from the
//! bytes of one `read` (no per-connection read buffer while idle), an owned
//! tail only when a frame straddles two reads, fragment reassembly, the size
//! limit, and the client-side rules (masked frames, no extensions, short
//! final control frames).
//!
//! Must not: decode messages (that is `plaza_protocol::codec`'s) or write to
//! the socket (that is [`crate::link`]'s).

use std::io::Cursor;

use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// The longest server frame header: 2 bytes plus a 64-bit length (unmasked).
pub const MAX_HEADER: usize = 10;

/// The header of an unmasked, final server frame carrying `len` bytes.
pub fn server_header(opcode: u8, len: usize) -> ([u8; MAX_HEADER], u8) {
    let mut out = [0u8; MAX_HEADER];
    out[0] = 0x80 | (opcode & 0x0F);
    let n = if len < 126 {
        out[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (out, n)
}

/// One complete thing read from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A whole data message (fragments already joined), unmasked.
    Message {
        /// A text frame (UTF-8 not yet checked) rather than binary.
        text: bool,
        /// The payload.
        payload: &'a [u8],
    },
    /// A ping; its payload must be echoed in a pong.
    Ping(&'a [u8]),
    /// A pong (an answer to a server ping).
    Pong,
    /// A close frame, with its status code if it carried one.
    Close(Option<u16>),
}

/// Why the client's byte stream is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame or a reassembled message over the limit.
    #[error("frame of {size} bytes over the {limit}-byte limit")]
    TooLarge {
        /// Announced (or accumulated) size.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A rule of RFC 6455 broken.
    #[error("{0}")]
    Protocol(&'static str),
}

/// What the event handler wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep parsing.
    Continue,
    /// Stop: the connection is ending; the rest of the input is ignored.
    Stop,
}

/// Reads client frames out of the bytes each `read` returns.
#[derive(Debug, Default)]
pub struct FrameReader {
    /// Bytes of a frame that straddles reads (empty, and unallocated, otherwise).
    tail: Vec<u8>,
    /// A fragmented message being joined: `Some(text)` while one is open.
    frag_text: Option<bool>,
    frag: Vec<u8>,
    max: usize,
}

impl FrameReader {
    /// A reader that refuses frames and messages over `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// Bytes held between reads (for tests and memory accounting).
    pub fn buffered(&self) -> usize {
        self.tail.len() + self.frag.len()
    }

    /// Parses every complete frame of `input` (bytes just read, in order),
    /// handing each to `on_event`; an incomplete frame at the end is kept for
    /// the next call. `input` is unmasked in place.
    pub fn feed(
        &mut self,
        input: &mut [u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Flow, FrameError> {
        if self.tail.is_empty() {
            let (flow, used) = self.parse(input, on_event)?;
            if flow == Flow::Continue && used < input.len() {
                self.tail.extend_from_slice(&input[used..]);
            }
            return Ok(flow);
        }
        let mut joined = std::mem::take(&mut self.tail);
        joined.extend_from_slice(input);
        let (flow, used) = self.parse(&mut joined, on_event)?;
        if flow == Flow::Continue && used < joined.len() {
            joined.drain(..used);
            self.tail = joined;
        }
        Ok(flow)
    }

    /// Parses complete frames from the start of `buf`; returns how many bytes
    /// they used.
    fn parse(
        &mut self,
        buf: &mut [u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<(Flow, usize), FrameError> {
        let mut pos = 0usize;
        while pos < buf.len() {
            let mut cursor = Cursor::new(&buf[pos..]);
            let Some((header, len)) = FrameHeader::parse(&mut cursor).map_err(|_| {
                FrameError::Protocol("bad frame header (reserved opcode or length)")
            })?
            else {
                break;
            };
            let header_len = cursor.position() as usize;
            check_header(&header, len)?;
            let limit = self.max as u64;
            let joined = if matches!(header.opcode, OpCode::Data(_)) {
                self.frag.len() as u64 + len
            } else {
                len
            };
            if len > limit || joined > limit {
                return Err(FrameError::TooLarge {
                    size: joined,
                    limit: self.max,
                });
            }
            let len = len as usize; // <= max, a usize
            if buf.len() - pos - header_len < len {
                break;
            }
            let start = pos + header_len;
            let payload = &mut buf[start..start + len];
            if let Some(mask) = header.mask {
                unmask(payload, mask);
            }
            pos = start + len;
            let flow = self.frame(&header, payload, on_event)?;
            if flow == Flow::Stop {
                return Ok((Flow::Stop, pos));
            }
        }
        Ok((Flow::Continue, pos))
    }

    fn frame(
        &mut self,
        header: &FrameHeader,
        payload: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Flow, FrameError> {
        match header.opcode {
            OpCode::Control(Control::Ping) => Ok(on_event(Event::Ping(payload))),
            OpCode::Control(Control::Pong) => Ok(on_event(Event::Pong)),
            OpCode::Control(Control::Close) => {
                let code = match payload.len() {
                    0 => None,
                    1 => return Err(FrameError::Protocol("close frame with a 1-byte payload")),
                    _ => {
                        if std::str::from_utf8(&payload[2..]).is_err() {
                            return Err(FrameError::Protocol("close reason is not UTF-8"));
                        }
                        Some(u16::from_be_bytes([payload[0], payload[1]]))
                    }
                };
                Ok(on_event(Event::Close(code)))
            }
            OpCode::Data(data) => {
                let text = match data {
                    Data::Text => Some(true),
                    Data::Binary => Some(false),
                    Data::Continue => None,
                    Data::Reserved(_) => return Err(FrameError::Protocol("reserved opcode")),
                };
                match (text, self.frag_text) {
                    (Some(text), None) if header.is_final => {
                        Ok(on_event(Event::Message { text, payload }))
                    }
                    (Some(text), None) => {
                        self.frag_text = Some(text);
                        self.frag.extend_from_slice(payload);
                        Ok(Flow::Continue)
                    }
                    (Some(_), Some(_)) => Err(FrameError::Protocol(
                        "a new message started before the fragmented one ended",
                    )),
                    (None, None) => Err(FrameError::Protocol(
                        "continuation frame without a message to continue",
                    )),
                    (None, Some(text)) => {
                        self.frag.extend_from_slice(payload);
                        if !header.is_final {
                            return Ok(Flow::Continue);
                        }
                        self.frag_text = None;
                        let joined = std::mem::take(&mut self.frag);
                        Ok(on_event(Event::Message {
                            text,
                            payload: &joined,
                        }))
                    }
                }
            }
            OpCode::Control(Control::Reserved(_)) => {
                Err(FrameError::Protocol("reserved control opcode"))
            }
        }
    }
}

fn check_header(header: &FrameHeader, len: u64) -> Result<(), FrameError> {
    if header.rsv1 || header.rsv2 || header.rsv3 {
        return Err(FrameError::Protocol(
            "reserved bits set (no extension was negotiated)",
        ));
    }
    if header.mask.is_none() {
        return Err(FrameError::Protocol("client frames must be masked"));
    }
    if matches!(header.opcode, OpCode::Control(_)) && (!header.is_final || len > 125) {
        return Err(FrameError::Protocol(
            "control frames must be final and at most 125 bytes",
        ));
    }
    Ok(())
}

/// XORs `buf` with the 4-byte `mask` (RFC 6455 §5.3).
pub fn unmask(buf: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = buf.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let v = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A client frame as a browser would send it.
    fn client_frame(opcode: u8, fin: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        let mut body = payload.to_vec();
        unmask(&mut body, mask);
        out.extend_from_slice(&body);
        out
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Message(bool, Vec<u8>),
        Ping(Vec<u8>),
        Pong,
        Close(Option<u16>),
    }

    fn collect(reader: &mut FrameReader, chunks: &[&[u8]]) -> Result<Vec<Owned>, FrameError> {
        let mut out = Vec::new();
        for chunk in chunks {
            let mut bytes = chunk.to_vec();
            reader.feed(&mut bytes, &mut |ev| {
                out.push(match ev {
                    Event::Message { text, payload } => Owned::Message(text, payload.to_vec()),
                    Event::Ping(p) => Owned::Ping(p.to_vec()),
                    Event::Pong => Owned::Pong,
                    Event::Close(c) => Owned::Close(c),
                });
                Flow::Continue
            })?;
        }
        Ok(out)
    }

    #[test]
    fn reads_masked_messages_and_controls() {
        let mut bytes = client_frame(OP_BINARY, true, b"\x82\xa1t\xa3msg", [1, 2, 3, 4]);
        bytes.extend(client_frame(
            OP_TEXT,
            true,
            b"{\"t\":\"ping\"}",
            [9, 8, 7, 6],
        ));
        bytes.extend(client_frame(OP_PING, true, b"hi", [0, 0, 0, 1]));
        bytes.extend(client_frame(OP_PONG, true, b"", [5, 5, 5, 5]));
        bytes.extend(client_frame(
            OP_CLOSE,
            true,
            &[0x03, 0xE8, b'o', b'k'],
            [1, 1, 1, 1],
        ));
        let mut reader = FrameReader::new(1024);
        let got = collect(&mut reader, &[&bytes]).expect("valid");
        assert_eq!(
            got,
            vec![
                Owned::Message(false, b"\x82\xa1t\xa3msg".to_vec()),
                Owned::Message(true, b"{\"t\":\"ping\"}".to_vec()),
                Owned::Ping(b"hi".to_vec()),
                Owned::Pong,
                Owned::Close(Some(1000)),
            ]
        );
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn joins_fragments_with_controls_between() {
        let mut bytes = client_frame(OP_TEXT, false, b"hel", [1, 2, 3, 4]);
        bytes.extend(client_frame(OP_PING, true, b"", [1, 2, 3, 4]));
        bytes.extend(client_frame(0, false, b"lo ", [4, 3, 2, 1]));
        bytes.extend(client_frame(0, true, b"world", [7, 7, 7, 7]));
        let got = collect(&mut FrameReader::new(64), &[&bytes]).expect("valid");
        assert_eq!(
            got,
            vec![
                Owned::Ping(vec![]),
                Owned::Message(true, b"hello world".to_vec())
            ]
        );
    }

    #[test]
    fn refuses_what_rfc6455_forbids_a_client() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                {
                    let mut f = client_frame(OP_BINARY, true, b"x", [1, 2, 3, 4]);
                    f[1] &= 0x7F; // unmasked
                    f.drain(2..6);
                    f
                },
                "masked",
            ),
            (
                {
                    let mut f = client_frame(OP_BINARY, true, b"x", [1, 2, 3, 4]);
                    f[0] |= 0x40; // rsv1
                    f
                },
                "reserved bits",
            ),
            (
                client_frame(OP_PING, false, b"", [1, 2, 3, 4]),
                "control frames",
            ),
            (
                client_frame(OP_PING, true, &[0u8; 126], [1, 2, 3, 4]),
                "control frames",
            ),
            (client_frame(0, true, b"x", [1, 2, 3, 4]), "continuation"),
            // tungstenite's header parser refuses reserved opcodes itself.
            (
                client_frame(0x3, true, b"x", [1, 2, 3, 4]),
                "bad frame header",
            ),
            (
                client_frame(0xB, true, b"x", [1, 2, 3, 4]),
                "bad frame header",
            ),
            (client_frame(OP_CLOSE, true, &[3], [1, 2, 3, 4]), "1-byte"),
            (
                client_frame(OP_CLOSE, true, &[3, 232, 0xFF], [1, 2, 3, 4]),
                "UTF-8",
            ),
            (
                {
                    let mut f = client_frame(OP_TEXT, false, b"a", [1, 2, 3, 4]);
                    f.extend(client_frame(OP_TEXT, true, b"b", [1, 2, 3, 4]));
                    f
                },
                "new message",
            ),
        ];
        for (bytes, want) in cases {
            match collect(&mut FrameReader::new(1024), &[&bytes]) {
                Err(FrameError::Protocol(why)) => assert!(why.contains(want), "{why} vs {want}"),
                other => panic!("expected a protocol error ({want}), got {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_frames_and_joined_messages_over_the_limit() {
        let big = client_frame(OP_BINARY, true, &[0u8; 65], [1, 2, 3, 4]);
        // Refused from the header alone: the payload never has to arrive.
        let err = collect(&mut FrameReader::new(64), &[&big[..8]]).expect_err("too large");
        assert_eq!(
            err,
            FrameError::TooLarge {
                size: 65,
                limit: 64
            }
        );
        let mut parts = client_frame(OP_BINARY, false, &[0u8; 40], [1, 2, 3, 4]);
        parts.extend(client_frame(0, true, &[0u8; 40], [1, 2, 3, 4]));
        let err = collect(&mut FrameReader::new(64), &[&parts]).expect_err("too large");
        assert_eq!(
            err,
            FrameError::TooLarge {
                size: 80,
                limit: 64
            }
        );
    }

    #[test]
    fn stop_leaves_the_rest_unread() {
        let mut bytes = client_frame(OP_CLOSE, true, &[], [1, 2, 3, 4]);
        bytes.extend(client_frame(OP_BINARY, true, b"late", [1, 2, 3, 4]));
        let mut seen = 0;
        let flow = FrameReader::new(64)
            .feed(&mut bytes, &mut |_| {
                seen += 1;
                Flow::Stop
            })
            .expect("valid");
        assert_eq!((flow, seen), (Flow::Stop, 1));
    }

    #[test]
    fn server_headers_match_tungstenite() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 1 << 20] {
            let (head, n) = server_header(OP_BINARY, len);
            let mut want = Vec::new();
            let h = FrameHeader {
                opcode: OpCode::Data(Data::Binary),
                ..FrameHeader::default()
            };
            h.format(len as u64, &mut want).expect("format");
            assert_eq!(&head[..n as usize], &want[..], "len {len}");
        }
    }

    proptest! {
        /// Any split of a valid stream into reads gives the same events, and
        /// nothing stays buffered once every frame is complete.
        #[test]
        fn any_split_reads_the_same(
            msgs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), any::<[u8; 4]>(), 1usize..4), 1..8),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let mut stream = Vec::new();
            let mut want = Vec::new();
            for (text, payload, mask, pieces) in &msgs {
                let op = if *text { OP_TEXT } else { OP_BINARY };
                let size = payload.len().div_ceil(*pieces).max(1);
                let chunks: Vec<&[u8]> = if payload.is_empty() { vec![&payload[..]] } else { payload.chunks(size).collect() };
                for (i, chunk) in chunks.iter().enumerate() {
                    let first = i == 0;
                    let last = i + 1 == chunks.len();
                    stream.extend(client_frame(if first { op } else { 0 }, last, chunk, *mask));
                }
                want.push(Owned::Message(*text, payload.clone()));
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points {
                pieces.push(&stream[last..p]);
                last = p;
            }
            pieces.push(&stream[last..]);
            let mut reader = FrameReader::new(4096);
            let got = collect(&mut reader, &pieces).expect("valid stream");
            prop_assert_eq!(got, want);
            prop_assert_eq!(reader.buffered(), 0);
        }

        /// Arbitrary bytes never panic, in any split.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), cut in any::<prop::sample::Index>()) {
            let at = cut.index(bytes.len() + 1);
            let _ = collect(&mut FrameReader::new(256), &[&bytes[..at], &bytes[at..]]);
        }
    }
}
