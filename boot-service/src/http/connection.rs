//! One HTTP/1.1 connection: read a request head (within the header-read timeout), parse it with
//! `httparse`, and either serve a file by `sendfile` ([`sendfile`]) or hand the request
//! to hyper and the router ([`handoff`](super::handoff)) and take the connection back after it, so a
//! client that fetched its iPXE script through the router still gets its kernel by `sendfile` on the same
//! kept-alive connection. A request whose body's end is unknown (chunked) and anything `httparse` refuses
//! go to hyper for the rest of the connection, which answers as it always did.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::file_request::{self, Route};
use super::handoff::Handoff;
use super::idle::{Activity, Tracked};
use super::sendfile::{self, FileRoots};

/// The longest request head the loop reads itself; a longer one goes to hyper, with its own limits.
const MOST_HEAD: usize = 64 << 10;
/// As many headers as hyper takes by default.
const MOST_HEADERS: usize = 100;

/// What every connection shares.
pub struct Shared {
    pub router: Router,
    pub files: FileRoots,
    pub header_read_timeout: Duration,
    /// For one request at a time: half-close, so hyper's early end of file does not cut its response.
    pub one_request: http1::Builder,
    /// For the rest of a connection.
    pub whole: http1::Builder,
    pub shutdown: CancellationToken,
}

/// A request head in the buffer, or why there is none.
enum Head {
    /// The head is the buffer's first `n` bytes.
    Complete(usize),
    /// Too long, or not HTTP/1 as `httparse` reads it: hyper answers.
    ForHyper,
    /// The client closed, or the connection failed.
    Gone,
}

/// Serve `stream` until it closes, fails, or shutdown begins between requests.
pub async fn run(shared: Arc<Shared>, mut stream: TcpStream, remote: SocketAddr, activity: Activity) {
    let mut read = Vec::new();
    loop {
        let head = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            head = tokio::time::timeout(shared.header_read_timeout, read_head(&mut stream, &mut read, &activity)) => head,
        };
        let length = match head {
            Err(_elapsed) => {
                tracing::debug!(%remote, "HTTP connection closed: no request head in time");
                return;
            }
            Ok(Head::Gone) => return,
            Ok(Head::ForHyper) => {
                to_hyper(&shared, stream, read, None, remote, activity).await;
                return;
            }
            Ok(Head::Complete(length)) => length,
        };
        let mut headers = [httparse::EMPTY_HEADER; MOST_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let (route, keep_alive) = match request.parse(&read) {
            Ok(_) => {
                (file_request::route(&request), file_request::keep_alive(request.headers, request.version.unwrap_or(0)))
            }
            Err(_) => (Route::Router(None), false),
        };
        match route {
            Route::File(file) => {
                read.drain(..length);
                match sendfile::serve(&stream, &activity, &shared.files, file).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(err) => {
                        tracing::debug!(%err, %remote, "HTTP connection ended while sending a file");
                        return;
                    }
                }
            }
            Route::Router(body) => {
                let limit = body.and_then(|body| body.checked_add(length as u64));
                let Some((back, rest)) = to_hyper(&shared, stream, read, limit, remote, activity.clone()).await else {
                    return;
                };
                if !keep_alive {
                    // hyper answered `connection: close` and left the closing to its owner.
                    return;
                }
                (stream, read) = (back, rest);
            }
        }
        if read.is_empty() {
            // Hold no buffer while the connection waits.
            read = Vec::new();
        }
    }
}

/// Read into `read` until it holds a whole request head.
async fn read_head(stream: &mut TcpStream, read: &mut Vec<u8>, activity: &Activity) -> Head {
    loop {
        if !read.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MOST_HEADERS];
            match httparse::Request::new(&mut headers).parse(read) {
                Ok(httparse::Status::Complete(length)) => return Head::Complete(length),
                Ok(httparse::Status::Partial) if read.len() < MOST_HEAD => {}
                Ok(httparse::Status::Partial) | Err(_) => return Head::ForHyper,
            }
        }
        read.reserve(2048);
        match stream.read_buf(read).await {
            Ok(0) | Err(_) => return Head::Gone,
            Ok(_) => activity.touch(),
        }
    }
}

/// Let hyper answer the request(s) at the start of `read` and on `stream`: one, `limit` bytes long, after
/// which the stream and what is left of `read` come back; or (`None`) all of them to the end.
async fn to_hyper(
    shared: &Shared,
    stream: TcpStream,
    read: Vec<u8>,
    limit: Option<u64>,
    remote: SocketAddr,
    activity: Activity,
) -> Option<(TcpStream, Vec<u8>)> {
    let io = TokioIo::new(Handoff::new(Tracked::new(stream, activity), read, limit));
    let router = shared.router.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(remote));
        router.clone().oneshot(request)
    });
    if limit.is_some() {
        let parts = match shared.one_request.serve_connection(io, service).without_shutdown().await {
            Ok(parts) => parts,
            Err(err) => {
                tracing::debug!(%err, %remote, "HTTP connection ended");
                return None;
            }
        };
        let (stream, rest) = parts.io.into_inner().into_parts();
        return rest.filter(|_| parts.read_buf.is_empty()).map(|rest| (stream.into_inner(), rest));
    }
    let connection = shared.whole.serve_connection(io, service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shared.shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%err, %remote, "HTTP connection ended");
    }
    None
}
