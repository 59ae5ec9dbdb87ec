//! The accept loop around the router: HTTP/1.1 by hyper (every client here, iPXE, the installer, curl and
//! browsers, speaks it over plain HTTP), with the limits of `[http]`: a header-read timeout, an idle
//! timeout while bytes do not move (see [`idle`](super::idle)) and a cap on connections served at once.
//! Shutdown stops accepting and lets each connection finish its request, as `axum::serve` did.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::idle::{Activity, Tracked};
use crate::config::HttpConfig;

/// How long to wait before accepting again after `accept` failed (out of file descriptors, usually).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serve `router` on `listener` until `shutdown` resolves, then wait for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
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
        let activity = Activity::new();
        let io = TokioIo::new(Tracked::new(stream, activity.clone()));
        // The router for this connection, its requests carrying the peer's address (`ConnectInfo`).
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        let idle_timeout = limits.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                result = connection => if let Err(err) = result {
                    tracing::debug!(%err, %remote, "HTTP connection ended");
                },
                () = activity.idle_for(idle_timeout) => {
                    tracing::debug!(%remote, ?idle_timeout, "HTTP connection closed: no byte moved");
                }
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
