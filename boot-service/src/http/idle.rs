//! When bytes last moved on a connection, and a future that resolves once none have for a while.
//!
//! Hand-written because no maintained piece measures this: hyper's `header_read_timeout` only covers the
//! wait for a request's head, tower-http's `TimeoutLayer` bounds a request's whole duration (it would cut
//! an image download of hundreds of MiB), and tokio-io-timeout times each pending read on its own, while
//! hyper keeps a read pending for the whole of a response to notice the client leaving, so a long
//! download would time out too. Here any byte read or written restarts the clock.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The clock of one connection, shared by its stream and its watchdog.
#[derive(Clone)]
pub struct Activity {
    opened: Instant,
    /// Nanoseconds after `opened` at which a byte last moved.
    last: Arc<AtomicU64>,
}

impl Activity {
    pub fn new() -> Self {
        Self { opened: Instant::now(), last: Arc::new(AtomicU64::new(0)) }
    }

    pub fn touch(&self) {
        let nanos = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.store(nanos, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `limit`.
    pub async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.opened + Duration::from_nanos(self.last.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A stream that restarts its [`Activity`] clock on every byte read or written.
pub struct Tracked<S> {
    inner: S,
    activity: Activity,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Activity) -> Self {
        Self { inner, activity }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.touch();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        if written > 0 {
            self.activity.touch();
        }
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
        if written > 0 {
            self.activity.touch();
        }
        Poll::Ready(Ok(written))
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn bytes_either_way_restart_the_clock() {
        let activity = Activity::new();
        let (near, mut far) = tokio::io::duplex(64);
        let mut near = Tracked::new(near, activity.clone());
        let limit = Duration::from_millis(300);
        tokio::time::sleep(Duration::from_millis(200)).await;
        far.write_all(b"y").await.unwrap();
        near.read_exact(&mut [0; 1]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The last byte is one written: a write that did not restart the clock would let it run out
        // 300 ms after the read, 100 ms after this write.
        let last_byte = Instant::now();
        near.write_all(b"x").await.unwrap();
        activity.idle_for(limit).await;
        // Sleeps last at least as long as asked, so this holds however slow the machine; without the
        // restarts the clock would have run out 300 ms after the start, before the second byte.
        assert!(last_byte.elapsed() >= limit, "idle {:?} after the last byte", last_byte.elapsed());
    }
}
