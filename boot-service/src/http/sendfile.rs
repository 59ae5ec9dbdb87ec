//! The file fast path: a request [`file_request`](super::file_request) took is resolved as the router's
//! `files.rs` resolves it ([`crate::served_root`]: 403 on leaving the root, 404), answered as
//! [`file_response`] plans, and its bytes go from the page cache to the socket by
//! `sendfile(2)`, never through a user-space buffer: hyper can only write bytes it holds, which costs a
//! copy and a buffer per download (~0.5× nginx on one 1 GiB image over loopback, and memory in a storm).
//!
//! The socket is non-blocking: each `sendfile` moves what fits in the socket buffer inside tokio's
//! writable readiness (`try_io`), and every call that moved bytes restarts the connection's idle clock.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::sys::socket::{MsgFlags, send};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::file_request::{FileRequest, Tree};
use super::file_response::{self, Plan};
use super::idle::Activity;
use crate::metrics::{HttpLabels, ServiceMetrics};
use crate::served_root::{self, PathError};

/// The most one `sendfile` call may move. Linux would take up to 0x7ffff000 bytes and keep the calling core
/// pushing for as long as the receiver drains (80 ms a call for a 1 GiB image over loopback); pieces the
/// size of a few socket-buffer refills let each call end while its pages are still in the CPU's caches.
/// Measured (1 GiB over loopback, 2-core Xeon, six alternating rounds against nginx): 128 and 256 KiB sent
/// ~1.15× nginx's rate with ~15 % less server CPU; 1 MiB ~0.85×, 2 GiB ~0.79× with ~25 % more CPU.
const MOST_PER_CALL: usize = 256 << 10;

/// The two roots the fast path serves, and the request counter it shares with the router.
#[derive(Clone)]
pub struct FileRoots {
    pub assets: PathBuf,
    pub images: PathBuf,
    pub metrics: ServiceMetrics,
}

/// Answer `request` on `stream`. `Ok(true)`: the connection may carry another request. An error (the
/// client left, the file shrank while being sent) means the connection must close.
pub async fn serve(
    stream: &TcpStream,
    activity: &Activity,
    roots: &FileRoots,
    request: FileRequest,
) -> io::Result<bool> {
    let root = match request.tree {
        Tree::Assets => roots.assets.clone(),
        Tree::Images => roots.images.clone(),
    };
    let requested = PathBuf::from(&request.path);
    let opened = tokio::task::spawn_blocking(move || open(&root, &requested)).await;
    let keep_alive = request.keep_alive;
    let (plan, file) = match opened {
        Ok(Ok((file, full, len, modified))) => {
            let plan = file_response::plan(&request, len, modified);
            let content_type = mime_guess::from_path(&full).first_raw().unwrap_or("application/octet-stream");
            let shown = matches!(plan.status, 200 | 206 | 416).then_some((content_type, modified));
            let head = file_response::head(&plan, shown, keep_alive);
            (plan, Some((file, head)))
        }
        Ok(Err(refused)) => (Plan::refused(&refused, &request.path), None),
        Err(err) => {
            tracing::error!(%err, path = %request.path, "resolving a served path panicked");
            (Plan { status: 500, bytes: None, body: "", content_range: None }, None)
        }
    };
    roots.metrics.http_requests.get_or_create(&HttpLabels { route: request.tree.route(), status: plan.status }).inc();
    tracing::debug!(route = request.tree.route(), status = plan.status, "response (sendfile)");
    let (file, head) = match file {
        Some((file, head)) => (Some(file), head),
        None => (None, file_response::head(&plan, None, keep_alive)),
    };
    let body = match (&plan.bytes, &file) {
        (Some(bytes), Some(file)) if !request.head_only && bytes.start < bytes.end => Some((file, bytes.clone())),
        _ => None,
    };
    let mut out = head.into_bytes();
    if !request.head_only {
        out.extend_from_slice(plan.body.as_bytes());
    }
    // The head waits (MSG_MORE) to leave in the same segments as the file's first bytes.
    send_all(stream, activity, &out, body.is_some()).await?;
    if let Some((file, bytes)) = body {
        send_file(stream, activity, &roots.metrics, file, bytes.start, bytes.end).await?;
    }
    Ok(keep_alive)
}

/// Resolve `requested` under `root`, open it, and take its length and modification time from the open
/// file (so the length sent is the one of the file whose bytes are sent).
fn open(root: &Path, requested: &Path) -> Result<(File, PathBuf, u64, Option<SystemTime>), PathError> {
    let full = served_root::resolve_under(root, requested)?;
    let file = File::open(&full).map_err(|_| PathError::NotFound)?;
    let meta = file.metadata().map_err(|_| PathError::NotFound)?;
    if !meta.is_file() {
        return Err(PathError::NotFound);
    }
    Ok((file, full, meta.len(), meta.modified().ok()))
}

/// Write all of `bytes`; `more`: the file's bytes follow at once.
async fn send_all(stream: &TcpStream, activity: &Activity, mut bytes: &[u8], more: bool) -> io::Result<()> {
    // nix names no MSG_MORE; libc does.
    let more = if more { MsgFlags::from_bits_retain(libc::MSG_MORE) } else { MsgFlags::empty() };
    let flags = more | MsgFlags::MSG_NOSIGNAL;
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_io(Interest::WRITABLE, || send(stream.as_raw_fd(), bytes, flags).map_err(io::Error::from)) {
            Ok(sent) => {
                bytes = bytes.get(sent..).unwrap_or_default();
                activity.touch();
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Send bytes `from..to` of `file` by `sendfile(2)`. A file that ends early (truncated while being sent)
/// is an error, so the connection closes rather than wait for bytes that will not come.
async fn send_file(
    stream: &TcpStream,
    activity: &Activity,
    metrics: &ServiceMetrics,
    file: &File,
    from: u64,
    to: u64,
) -> io::Result<()> {
    let mut offset = i64::try_from(from).map_err(|_| io::Error::other("offset beyond i64"))?;
    let end = i64::try_from(to).map_err(|_| io::Error::other("length beyond i64"))?;
    while offset < end {
        let count = usize::try_from(end - offset).unwrap_or(MOST_PER_CALL).min(MOST_PER_CALL);
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile64(stream, file, Some(&mut offset), count).map_err(io::Error::from)
        });
        match sent {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ended before its length")),
            Ok(sent) => {
                activity.touch();
                metrics.http_sendfile_bytes.inc_by(sent as u64);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
        // Other tasks on this worker get their turn between calls, however fast the client reads.
        tokio::task::coop::consume_budget().await;
    }
    Ok(())
}
