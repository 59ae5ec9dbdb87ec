//! The accept loop: HTTP/1.1 (every client here, iPXE, the installer, curl and browsers, speaks it over
//! plain HTTP), each connection served by [`connection`] (files by `sendfile`, the
//! rest by hyper and the router), with the limits of `[http]`: a header-read timeout, an idle timeout
//! while bytes do not move (see [`idle`](super::idle)) and a cap on connections served at once.
//! Shutdown stops accepting and lets each connection finish its request, as `axum::serve` did.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::connection::{self, Shared};
use super::idle::Activity;
use super::sendfile::FileRoots;
use crate::config::HttpConfig;

/// How long to wait before accepting again after `accept` failed (out of file descriptors, usually).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serve `router` and the file roots `files` on `listener` until `shutdown` resolves, then wait for open
/// connections to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    files: FileRoots,
    limits: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut whole = http1::Builder::new();
    whole.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut one_request = whole.clone();
    one_request.half_close(true);
    let stop = CancellationToken::new();
    let shared = Arc::new(Shared {
        router,
        files,
        header_read_timeout: limits.header_read_timeout,
        one_request,
        whole,
        shutdown: stop.clone(),
    });
    // Every connection holds a slot; at shutdown, all slots back means all connections have finished.
    let capacity = u32::try_from(limits.max_connections).unwrap_or(u32::MAX >> 3);
    let slots = Arc::new(Semaphore::new(capacity as usize));
    tokio::pin!(shutdown);
    let mut at_cap = false;
    loop {
        let full = slots.available_permits() == 0;
        if full && !at_cap {
            tracing::warn!(max = limits.max_connections, "connection cap reached: new connections wait");
        }
        at_cap = full;
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "accepting an HTTP connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses leave as soon as written: a file's last partial segment does not wait for an ACK.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, %remote, "setting TCP_NODELAY failed");
        }
        let activity = Activity::new();
        let shared = shared.clone();
        let idle_timeout = limits.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                () = connection::run(shared, stream, remote, activity.clone()) => {},
                () = activity.idle_for(idle_timeout) => {
                    tracing::debug!(%remote, ?idle_timeout, "HTTP connection closed: no byte moved");
                }
            }
        });
    }
    stop.cancel();
    drop(listener);
    let _all_back = slots.acquire_many(capacity).await;
    Ok(())
}
