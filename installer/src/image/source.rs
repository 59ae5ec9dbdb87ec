//! Where image bytes come from: a small trait, and its HTTP implementation (ureq, plain HTTP: the installer
//! is a static binary without TLS, and the bytes are verified against the signed manifest anyway).

use std::io::Read;
use std::time::Duration;

use rackhand_api::Manifest;

use super::error::ImageError;
use super::http_body;
use super::url::resolve_url;

/// How often and how patiently a lost connection is retried, counted per chunk: a link that keeps making
/// progress is never given up on, one that fails `attempts` times in a row at the same chunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 6, first_backoff: Duration::from_millis(250), max_backoff: Duration::from_secs(8) }
    }
}

impl RetryPolicy {
    /// The pause before retry number `failures` (from 1): doubling from `first_backoff` up to `max_backoff`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        self.first_backoff.saturating_mul(1 << doublings).min(self.max_backoff)
    }
}

/// An open stream of image bytes from some offset on.
pub struct ImageBody {
    pub reader: Box<dyn Read + Send>,
    /// Bytes the server announced (`Content-Length`), if it did.
    pub length: Option<u64>,
}

/// The seam between streaming and transport.
pub trait ImageSource {
    /// The image's URL, for messages.
    fn image_url(&self) -> &str;
    /// The outboard's URL, for messages.
    fn outboard_url(&self) -> &str;
    /// The whole outboard; more than `max_len` bytes is an error.
    fn fetch_outboard(&mut self, max_len: u64) -> Result<Vec<u8>, ImageError>;
    /// The image bytes from `offset` to the end. A failure worth retrying is [`ImageError::Connection`].
    fn open_image(&mut self, offset: u64) -> Result<ImageBody, ImageError>;
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::default()
    }
    /// Random access to the image from any thread, for sources that have it (a local file). With it every
    /// verifying core reads and checks its own part of a block while the bytes are still in its cache,
    /// instead of one thread streaming them all and the others hashing them out of memory.
    fn read_at(&self) -> Option<&dyn ReadAt> {
        None
    }
}

/// The image's bytes read at any offset, from any thread.
pub trait ReadAt: Sync {
    /// The image's length as stored (checked against the manifest before reading).
    fn size(&self) -> u64;
    /// Fills `buf` with the image's bytes from `offset` on.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ImageError>;
    /// The image's `len` bytes from `offset` where they lie, for a dry run to hash without copying them, if
    /// this source can give them so (a local file's pages already in the page cache); `None`: read them.
    fn cached_slice(&self, _offset: u64, _len: usize) -> Option<&[u8]> {
        None
    }
}

/// The boot service's `/images/...` over HTTP, with `Range: bytes=N-` to resume. The outboard comes
/// through ureq, the image body straight off the socket (see [`http_body`]).
///
/// Several boot-service instances may serve the same image (mirrors: each from its own images directory;
/// the bytes are verified against the one signed manifest whichever serves them). A resume after a lost
/// connection goes to the next mirror, so an instance that stops mid-image is left for another at the
/// chunk where it stopped.
pub struct HttpImageSource {
    agent: ureq::Agent,
    mirrors: Vec<Mirror>,
    /// The mirror asked now.
    current: usize,
    /// Whether the image was opened before: opening it again means the last stream failed.
    opened: bool,
    retry: RetryPolicy,
}

struct Mirror {
    image_url: String,
    outboard_url: String,
}

impl HttpImageSource {
    /// The source for `manifest` on one or more mirrors, by the URL each serves the manifest at (the
    /// manifest's relative URLs resolve against it), the first asked first. `manifest_urls` must not be
    /// empty.
    pub fn new(manifest_urls: &[String], manifest: &Manifest) -> Self {
        let mirrors = manifest_urls
            .iter()
            .map(|url| Mirror {
                image_url: resolve_url(url, &manifest.image_url),
                outboard_url: resolve_url(url, &manifest.outboard_url),
            })
            .collect::<Vec<_>>();
        assert!(!mirrors.is_empty(), "an image source needs a mirror");
        Self { agent: http_agent(), mirrors, current: 0, opened: false, retry: RetryPolicy::default() }
    }

    fn mirror(&self) -> &Mirror {
        &self.mirrors[self.current]
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

impl ImageSource for HttpImageSource {
    fn image_url(&self) -> &str {
        &self.mirror().image_url
    }

    fn outboard_url(&self) -> &str {
        &self.mirror().outboard_url
    }

    /// From the first mirror that serves it (and the image from that one on); the first mirror's error
    /// when none does.
    fn fetch_outboard(&mut self, max_len: u64) -> Result<Vec<u8>, ImageError> {
        let mut first_error = None;
        for index in 0..self.mirrors.len() {
            let url = &self.mirrors[index].outboard_url;
            match fetch_outboard_from(&self.agent, url, max_len) {
                Ok(outboard) => {
                    self.current = index;
                    return Ok(outboard);
                }
                Err(err) => {
                    tracing::warn!(%url, %err, "outboard not served here");
                    first_error.get_or_insert(err);
                }
            }
        }
        Err(first_error.expect("at least one mirror"))
    }

    fn open_image(&mut self, offset: u64) -> Result<ImageBody, ImageError> {
        if std::mem::replace(&mut self.opened, true) && self.mirrors.len() > 1 {
            self.current = (self.current + 1) % self.mirrors.len();
            tracing::warn!(url = %self.mirror().image_url, offset, "resuming the image from the next instance");
        }
        let url = self.mirror().image_url.clone();
        let response = http_body::get(&url, offset).map_err(|reason| ImageError::Connection {
            url: url.clone(),
            offset,
            reason,
        })?;
        match (response.status, offset) {
            (200, 0) | (206, 1..) => {}
            (200, _) => return Err(ImageError::RangeIgnored { url, offset }),
            (status, _) => return Err(ImageError::ImageStatus { url, offset, status }),
        }
        Ok(ImageBody { reader: Box::new(response.body), length: response.length })
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }
}

fn fetch_outboard_from(agent: &ureq::Agent, url: &str, max_len: u64) -> Result<Vec<u8>, ImageError> {
    let fetch_error = |reason: String| ImageError::OutboardFetch { url: url.to_owned(), reason };
    let mut response = agent.get(url).call().map_err(|e| fetch_error(e.to_string()))?;
    if response.status().as_u16() != 200 {
        return Err(fetch_error(format!("HTTP status {}", response.status().as_u16())));
    }
    let body = response.body_mut().with_config().limit(max_len + 1).read_to_vec();
    body.map_err(|e| fetch_error(e.to_string()))
}

/// The installer's HTTP client: no proxy (the boot service is on the provisioning network), bounded
/// connect and per-read waits so a dead link is noticed, status codes handled by the caller.
pub(super) fn http_agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_per_read(Some(Duration::from_secs(30)))
        .build();
    ureq::Agent::new_with_config(config)
}
