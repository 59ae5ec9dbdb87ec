//! The verifying link of the read chain: whole chunk groups are pulled from an [`ImageSource`], checked
//! against the outboard, and only then handed on. A lost connection is reopened with a Range request at the
//! start of the chunk being read (the end of the last verified one).

use std::io::{self, Read};

use images::ExpectedChunk;

use super::error::ImageError;
use super::source::{ImageBody, ImageSource};

pub(super) struct VerifiedReader<'s, S: ImageSource> {
    source: &'s mut S,
    size: u64,
    chunks: std::vec::IntoIter<ExpectedChunk>,
    body: Option<Box<dyn Read + Send>>,
    /// The current verified chunk group and how much of it has been handed on.
    chunk: Vec<u8>,
    handed_on: usize,
}

impl<'s, S: ImageSource> VerifiedReader<'s, S> {
    pub(super) fn new(source: &'s mut S, size: u64, chunk_size: u64, chunks: Vec<ExpectedChunk>) -> Self {
        let chunk = Vec::with_capacity(chunk_size as usize);
        Self { source, size, chunks: chunks.into_iter(), body: None, chunk, handed_on: 0 }
    }

    /// Reads and verifies the next chunk group into `self.chunk`; `false` at the end of the image.
    fn next_chunk(&mut self) -> Result<bool, ImageError> {
        let Some(expected) = self.chunks.next() else {
            self.check_end()?;
            return Ok(false);
        };
        self.chunk.resize(expected.len, 0);
        self.handed_on = 0;
        let policy = self.source.retry_policy();
        let mut failures = 0;
        loop {
            let outcome = self.read_chunk(expected.offset);
            let reason = match outcome {
                Ok(()) => break,
                Err(ImageError::Connection { reason, .. }) => reason,
                Err(other) => return Err(other),
            };
            self.body = None;
            failures += 1;
            if failures >= policy.attempts {
                let url = self.source.image_url().to_string();
                return Err(ImageError::ConnectionLost { url, offset: expected.offset, attempts: failures, reason });
            }
            std::thread::sleep(policy.backoff(failures));
        }
        if !expected.matches(&self.chunk) {
            let url = self.source.image_url().to_string();
            let (index, offset, end) = (expected.index, expected.offset, expected.end());
            return Err(ImageError::CorruptChunk { url, index, offset, end });
        }
        Ok(true)
    }

    /// Fills `self.chunk` from the open body, opening one at `offset` first if there is none.
    fn read_chunk(&mut self, offset: u64) -> Result<(), ImageError> {
        let url = self.source.image_url().to_string();
        if self.body.is_none() {
            let body = self.open(offset)?;
            self.body = Some(body);
        }
        let body = self.body.as_mut().expect("opened above");
        let mut filled = 0;
        while filled < self.chunk.len() {
            match body.read(&mut self.chunk[filled..]) {
                Ok(0) => return Err(ImageError::Truncated { url, offset: offset + filled as u64, size: self.size }),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(ImageError::Connection { url, offset: offset + filled as u64, reason: e.to_string() });
                }
            }
        }
        Ok(())
    }

    fn open(&mut self, offset: u64) -> Result<Box<dyn Read + Send>, ImageError> {
        let url = self.source.image_url().to_string();
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

    /// After the last chunk group the stream must end too (it may not have announced its length).
    fn check_end(&mut self) -> Result<(), ImageError> {
        let Some(body) = self.body.as_mut() else { return Ok(()) };
        match body.read(&mut [0u8; 1]) {
            Ok(0) | Err(_) => Ok(()),
            Ok(_) => Err(ImageError::TooLong { url: self.source.image_url().to_string(), size: self.size }),
        }
    }
}

impl<S: ImageSource> Read for VerifiedReader<'_, S> {
    /// Verified bytes only. Failures are [`ImageError`]s inside the `io::Error` (see [`into_image_error`]).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.handed_on == self.chunk.len() && !self.next_chunk().map_err(io::Error::other)? {
            return Ok(0);
        }
        let n = buf.len().min(self.chunk.len() - self.handed_on);
        buf[..n].copy_from_slice(&self.chunk[self.handed_on..self.handed_on + n]);
        self.handed_on += n;
        Ok(n)
    }
}

/// The [`ImageError`] a [`VerifiedReader`] failed with.
pub(super) fn into_image_error(error: io::Error, url: &str, offset: u64) -> ImageError {
    if error.get_ref().is_some_and(|inner| inner.is::<ImageError>()) {
        let inner = error.into_inner().expect("checked above");
        return *inner.downcast::<ImageError>().expect("checked above");
    }
    ImageError::Connection { url: url.to_string(), offset, reason: error.to_string() }
}
