//! The stream hyper reads when the connection loop hands it a request: the bytes the loop already read
//! first, then the socket, ending after the request's `limit` bytes (its head and body), so hyper answers
//! that one request, reads end of file where the next would begin, and gives the connection back. With no
//! limit (a body of unknown length) hyper keeps the connection to its end. Writes go straight through.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct Handoff<S> {
    inner: S,
    /// Bytes read before the handoff, from `at` on not yet given to hyper.
    read: Vec<u8>,
    at: usize,
    /// How many more bytes hyper may read (`None`: all).
    left: Option<u64>,
}

impl<S> Handoff<S> {
    pub fn new(inner: S, read: Vec<u8>, limit: Option<u64>) -> Self {
        Self { inner, read, at: 0, left: limit }
    }

    /// The stream and the bytes read but not given to hyper (the next request's, if the client sent it
    /// early), if hyper read exactly the request (else the connection cannot go on).
    pub fn into_parts(mut self) -> (S, Option<Vec<u8>>) {
        let rest = (self.left == Some(0)).then(|| self.read.split_off(self.at));
        (self.inner, rest)
    }

    /// How many of `wanted` bytes hyper may read now.
    fn allowed(&self, wanted: usize) -> usize {
        self.left.map_or(wanted, |left| usize::try_from(left).unwrap_or(usize::MAX).min(wanted))
    }

    fn consumed(&mut self, n: usize) {
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(n as u64);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Handoff<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let allowed = this.allowed(buf.remaining());
        if allowed == 0 {
            return Poll::Ready(Ok(()));
        }
        let buffered = this.read.get(this.at..).unwrap_or_default();
        if !buffered.is_empty() {
            let n = allowed.min(buffered.len());
            buf.put_slice(&buffered[..n]);
            this.at += n;
            this.consumed(n);
            return Poll::Ready(Ok(()));
        }
        // Into an initialised part of `buf` no longer than allowed (safe code cannot fill a `take`n part).
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(allowed));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let n = limited.filled().len();
        buf.advance(n);
        this.consumed(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Handoff<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
