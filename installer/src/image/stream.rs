//! The fetching link of the chain: image bytes from an [`ImageSource`] into whole blocks. A lost connection
//! is reopened with a Range request at the start of the chunk group being read; one that fails
//! `attempts` times in a row at the same place is given up on, one that keeps making progress never is.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender};

use super::buffer::{AlignedBuf, Block};
use super::error::ImageError;
use super::source::{ImageBody, ImageSource};

pub(super) struct BlockFetcher<'s, S: ImageSource> {
    source: &'s mut S,
    url: String,
    size: u64,
    chunk_size: u64,
    body: Option<Box<dyn Read + Send>>,
    /// Where the last failure resumed, and how many failures in a row resumed there.
    last_resume: Option<u64>,
    failures: u32,
}

impl<'s, S: ImageSource> BlockFetcher<'s, S> {
    pub(super) fn new(source: &'s mut S, size: u64, chunk_size: u64) -> Self {
        let url = source.image_url().to_string();
        Self { source, url, size, chunk_size, body: None, last_resume: None, failures: 0 }
    }

    /// Fills `buf` with the image's bytes from `offset` (a chunk-group boundary) on.
    pub(super) fn fill(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        let mut filled = 0;
        while filled < buf.len() {
            let at = offset + filled as u64;
            match self.read_some(at, &mut buf[filled..]) {
                Ok(n) => filled += n,
                Err(ImageError::Connection { reason, .. }) => {
                    self.body = None;
                    let resume = at / self.chunk_size * self.chunk_size;
                    self.note_failure(resume, reason)?;
                    filled = usize::try_from(resume - offset).expect("offset <= resume <= at = offset + filled");
                }
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    /// After the last block the stream must end too (it may not have announced its length).
    pub(super) fn finish(&mut self) -> Result<(), ImageError> {
        let Some(body) = self.body.as_mut() else { return Ok(()) };
        match body.read(&mut [0u8; 1]) {
            Ok(0) | Err(_) => Ok(()),
            Ok(_) => Err(ImageError::TooLong { url: self.url.clone(), size: self.size }),
        }
    }

    fn read_some(&mut self, at: u64, buf: &mut [u8]) -> Result<usize, ImageError> {
        if self.body.is_none() {
            self.body = Some(self.open(at)?);
        }
        let body = self.body.as_mut().expect("opened above");
        loop {
            return match body.read(buf) {
                Ok(0) => Err(ImageError::Truncated { url: self.url.clone(), offset: at, size: self.size }),
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(ImageError::Connection { url: self.url.clone(), offset: at, reason: e.to_string() }),
            };
        }
    }

    fn open(&mut self, offset: u64) -> Result<Box<dyn Read + Send>, ImageError> {
        let url = self.url.clone();
        let ImageBody { reader, length } = match self.source.open_image(offset) {
            Err(ImageError::ImageStatus { status: 416, .. }) => {
                return Err(ImageError::Truncated { url, offset, size: self.size });
            }
            other => other?,
        };
        match length {
            Some(length) if offset + length < self.size => {
                Err(ImageError::Truncated { url, offset: offset + length, size: self.size })
            }
            Some(length) if offset + length > self.size => Err(ImageError::TooLong { url, size: self.size }),
            _ => Ok(reader),
        }
    }

    /// Counts a failure that resumes at `resume`; waits the backoff, or gives up after too many in a row.
    fn note_failure(&mut self, resume: u64, reason: String) -> Result<(), ImageError> {
        if self.last_resume == Some(resume) {
            self.failures += 1;
        } else {
            (self.last_resume, self.failures) = (Some(resume), 1);
        }
        let policy = self.source.retry_policy();
        if self.failures >= policy.attempts {
            let (url, attempts) = (self.url.clone(), self.failures);
            return Err(ImageError::ConnectionLost { url, offset: resume, attempts, reason });
        }
        std::thread::sleep(policy.backoff(self.failures));
        Ok(())
    }
}

/// The fetch thread: fills pool buffers block by block and sends them on; an error ends it, sent on too.
pub(super) fn fetch_blocks<S: ImageSource>(
    mut fetcher: BlockFetcher<'_, S>,
    size: u64,
    block_size: usize,
    empties: Receiver<AlignedBuf>,
    fetched: SyncSender<Result<Block, ImageError>>,
) {
    let mut offset = 0;
    while offset < size {
        let Ok(mut buf) = empties.recv() else { return }; // the writers have stopped
        let len = images::min_len(size - offset, block_size);
        let block = fetcher.fill(offset, &mut buf.as_mut_slice()[..len]).map(|()| Block { offset, buf, len, held: 0 });
        let failed = block.is_err();
        if fetched.send(block).is_err() || failed {
            return;
        }
        offset += len as u64;
    }
    if let Err(e) = fetcher.finish() {
        let _ = fetched.send(Err(e));
    }
}
