//! The write half of a plain TCP connection, with vectored writes as one
//! `sendmsg`.
//!
//! tokio's `OwnedWriteHalf` turns a vectored write into `writev`, which the
//! kernel runs through the VFS (`fdget_pos`, `vfs_writev`) before reaching the
//! socket; `sendmsg` goes to the socket directly. Every patch frame is a
//! two-slice write (header, shared payload), so this is the write path of
//! nearly every frame: a connect-to-patch profile at N = 1000 had
//! `vfs_writev` + `fdget_pos` at 3.6 % of the server's samples.
//!
//! Must not: buffer. A write either reaches the socket or reports
//! `WouldBlock` readiness, exactly as the half it wraps.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use socket2::SockRef;
use tokio::io::{AsyncWrite, Interest};
use tokio::net::tcp::OwnedWriteHalf;

/// See the module documentation.
#[derive(Debug)]
pub struct TcpWriter(OwnedWriteHalf);

impl TcpWriter {
    /// Wraps the write half of a connected socket.
    pub fn new(half: OwnedWriteHalf) -> Self {
        Self(half)
    }
}

impl AsyncWrite for TcpWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let tcp = self.0.as_ref();
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            // `try_io` clears the readiness on `WouldBlock`, so the next
            // `poll_write_ready` registers the waker again.
            match tcp.try_io(Interest::WRITABLE, || {
                SockRef::from(tcp).send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A connected loopback pair: (client, server side).
    async fn pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, server)
    }

    /// Vectored writes arrive whole and in order, also past the point where
    /// the socket's buffer is full (the reader drains it concurrently).
    #[tokio::test]
    async fn vectored_writes_arrive_in_order() {
        let (client, server) = pair().await;
        let (_rd, wr) = server.into_split();
        let mut writer = TcpWriter::new(wr);
        let chunk: Vec<u8> = (0..=255u8).cycle().take(40_000).collect();
        let rounds = 100usize;
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.expect("read");
            got
        });
        let mut want = Vec::new();
        for i in 0..rounds {
            let head = [i as u8; 3];
            let mut slices = [IoSlice::new(&head), IoSlice::new(&chunk)];
            let mut left: &mut [IoSlice<'_>] = &mut slices;
            want.extend_from_slice(&head);
            want.extend_from_slice(&chunk);
            while !left.is_empty() {
                let n = writer.write_vectored(left).await.expect("write");
                assert!(n > 0);
                IoSlice::advance_slices(&mut left, n);
            }
        }
        writer.shutdown().await.expect("shutdown");
        let got = reader.await.expect("reader");
        assert_eq!(got.len(), want.len());
        assert!(got == want, "bytes differ");
    }

    /// A write to a socket whose peer is gone is an error, not a signal.
    #[tokio::test]
    async fn a_write_to_a_closed_peer_is_an_error() {
        let (client, server) = pair().await;
        drop(client);
        let (_rd, wr) = server.into_split();
        let mut writer = TcpWriter::new(wr);
        let data = [IoSlice::new(b"x"); 1];
        let mut failed = false;
        for _ in 0..1000 {
            if writer.write_vectored(&data).await.is_err() {
                failed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert!(failed, "writes to a closed peer kept succeeding");
    }
}
