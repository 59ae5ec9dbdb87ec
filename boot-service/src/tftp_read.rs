//! The file a TFTP transfer serves, read ahead in large pieces on the blocking thread pool.
//!
//! A lock-step transfer asks for one block per round trip. `blocking::Unblock` streams the file through a
//! pipe whose reader wakes the pool thread on every read, so each block cost a thread hand-off and a small
//! file read inside the round trip (measured: the lock-step transfer ~0.9x tftpd-hpa). Here the pool is
//! asked once per [`PIECE`]: while one piece is handed out block by block, the next is being read.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use blocking::{Task, unblock};
use futures_lite::AsyncRead;

/// Bytes read from the file per trip to the blocking pool; a transfer holds two pieces (one being served,
/// one being read), or two of the file's size when it is smaller.
pub const PIECE: usize = 512 << 10;

/// A finished read: the buffer and how much of it the file filled (less than its length at the end).
type Filled = (Vec<u8>, io::Result<usize>);

pub struct ReadAhead {
    file: Arc<File>,
    /// The piece being served and how much of it is handed out already.
    current: Vec<u8>,
    served: usize,
    /// The read of the piece after it, started as soon as `current` arrived.
    next: Option<Task<Filled>>,
    /// File offset of the piece `next` reads.
    offset: u64,
    piece: usize,
    at_end: bool,
}

impl ReadAhead {
    /// Serves `file` from its start; `size` (its length when opened, if known) caps the pieces of a small file.
    pub fn new(file: File, size: Option<u64>) -> Self {
        let piece = size.map_or(PIECE, |size| usize::try_from(size).unwrap_or(PIECE).clamp(1, PIECE));
        let file = Arc::new(file);
        let next = Some(read_piece(file.clone(), 0, vec![0; piece]));
        Self { file, current: Vec::new(), served: 0, next, offset: 0, piece, at_end: false }
    }
}

/// Reads the file from `offset` into `buf` on the blocking pool, until `buf` is full or the file ends.
fn read_piece(file: Arc<File>, offset: u64, mut buf: Vec<u8>) -> Task<Filled> {
    unblock(move || {
        let mut filled = 0;
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (buf, Err(e)),
            }
        }
        (buf, Ok(filled))
    })
}

impl AsyncRead for ReadAhead {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            let left = &this.current[this.served..];
            if !left.is_empty() || out.is_empty() {
                let n = left.len().min(out.len());
                out[..n].copy_from_slice(&left[..n]);
                this.served += n;
                return Poll::Ready(Ok(n));
            }
            let Some(task) = this.next.as_mut() else { return Poll::Ready(Ok(0)) };
            let (mut buf, filled) = ready!(Pin::new(task).poll(cx));
            this.next = None;
            let filled = filled?;
            buf.truncate(filled);
            this.offset += filled as u64;
            // A short piece is the file's end: nothing more to read after it.
            this.at_end = filled < this.piece;
            let spent = std::mem::replace(&mut this.current, buf);
            this.served = 0;
            if !this.at_end {
                let mut recycled = spent;
                recycled.resize(this.piece, 0);
                this.next = Some(read_piece(this.file.clone(), this.offset, recycled));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::AsyncReadExt;

    use super::*;

    fn read_all(file: File, size: Option<u64>, step: usize) -> Vec<u8> {
        let mut reader = ReadAhead::new(file, size);
        let mut out = Vec::new();
        let mut buf = vec![0; step];
        futures_lite::future::block_on(async {
            loop {
                let n = reader.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
        });
        out
    }

    #[test]
    fn serves_every_byte_in_order_across_pieces_whatever_the_block() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, 1427, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 777] {
            let path = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| u8::try_from(i * 7 % 251).unwrap()).collect();
            std::fs::write(&path, &data).unwrap();
            for (size, step) in [(Some(len as u64), 1428), (None, 512), (Some(len as u64), PIECE + 5)] {
                let got = read_all(File::open(&path).unwrap(), size, step);
                assert!(got == data, "len {len}, size {size:?}, step {step}: {} bytes back", got.len());
            }
        }
    }

    #[test]
    fn a_file_grown_after_opening_is_served_to_its_end() {
        // The size at open only caps the piece: a file that grows (rewritten in place) is read to its end.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grows");
        std::fs::write(&path, vec![1u8; 10]).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::write(&path, vec![2u8; 25]).unwrap();
        assert_eq!(read_all(file, Some(10), 4), vec![2u8; 25]);
    }
}
