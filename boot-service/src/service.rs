//! Wiring: open the store, bind every listener, tell the service manager it is ready, and run DHCP, TFTP
//! and HTTP until shutdown, with the deadline check beside them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, StoreConfig};
use crate::dhcp::{self, DhcpMetrics, NodeDirectory};
use crate::http::{self, AppState};
use crate::metrics::ServiceMetrics;
use crate::nodes::Nodes;
use crate::store::{PostgresStore, SqliteStore, Store};
use crate::tftp;

/// Run the whole service until `shutdown` resolves or one part fails.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = match &config.store {
        StoreConfig::Sqlite { path } => {
            Arc::new(SqliteStore::open(path).with_context(|| format!("opening store {}", path.display()))?)
        }
        StoreConfig::Postgres { config: connect } => {
            let opened = tokio::task::spawn_blocking({
                let connect = connect.clone();
                move || PostgresStore::open(&connect)
            });
            Arc::new(opened.await?.with_context(|| format!("opening store {}", config.store))?)
        }
    };
    let nodes = Arc::new(Nodes::configured(store.clone(), &config));
    let mut registry = Registry::default();
    let metrics = ServiceMetrics::register(&mut registry);
    let dhcp_metrics = DhcpMetrics::register(&mut registry);

    // Bind everything before serving anything, so a port clash or a missing privilege fails start-up as a
    // whole, before the service manager is told it is ready.
    let http_listener = listen_http(config.http.listen, config.http.max_connections)
        .map_err(|err| bind_error("HTTP", config.http.listen, err))?;
    let tftp_socket = tftp::bind(&config.tftp).map_err(|err| bind_error("TFTP", config.tftp.listen, err))?;
    // The TFTP server opens its root once it runs; a missing one fails here, before "ready".
    config.tftp.root.canonicalize().with_context(|| format!("TFTP root {}", config.tftp.root.display()))?;
    let dhcp_sockets = dhcp::bind(&config.dhcp).context("binding DHCP")?;
    let advertisers = if config.dhcp.ipv6_null_router_advertisements {
        Some(crate::ipv6_ra::open(config.dhcp.interfaces.clone())?)
    } else {
        None
    };

    let stop = CancellationToken::new();
    let state = AppState {
        config: config.clone(),
        nodes: nodes.clone(),
        registry: Arc::new(registry),
        metrics: metrics.clone(),
    };
    tracing::info!(
        http = %config.http.listen, tftp = %config.tftp.listen, url = %config.http.public_url,
        store = %config.store, "boot service started"
    );
    // The store is open and every listener bound: a `Type=notify` unit is started now (no-op without
    // systemd, i.e. without NOTIFY_SOCKET).
    notify(sd_notify::NotifyState::Ready);

    let http = tokio::spawn(http::serve(http_listener, state, stop.clone().cancelled_owned()));
    let tftp_config = config.tftp.clone();
    let tftp_stop = stop.clone();
    // async-tftp runs on async-io. On a thread of its own, `block_on` polls the reactor itself, so a
    // lock-step transfer's ACK wakes the transfer directly instead of via the reactor thread and a tokio
    // worker (two thread hand-offs per block).
    let tftp = tokio::task::spawn_blocking(move || {
        let requests = metrics.tftp_requests.clone();
        async_io::block_on(tftp::serve(tftp_socket, &tftp_config, requests, tftp_stop.cancelled_owned()))
    });

    let directory: Arc<dyn NodeDirectory> = nodes.clone();
    let dhcp = tokio::spawn(dhcp::serve(
        dhcp_sockets,
        config.clone(),
        store,
        directory,
        dhcp_metrics,
        stop.clone().cancelled_owned(),
    ));

    if let Some(advertisers) = advertisers {
        tokio::spawn(crate::ipv6_ra::serve(advertisers, stop.clone().cancelled_owned()));
    }

    tokio::spawn(watch_deadlines(nodes.clone(), config.deploy.deadline_check_interval, stop.clone()));
    tokio::spawn(watch_bmcs(nodes.clone(), config.deploy.bmc_poll_interval, stop.clone()));

    let watcher = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        notify(sd_notify::NotifyState::Stopping);
        watcher.cancel();
    });

    // Each server returns only when stopped or broken; the first to return ends the service.
    let result = tokio::select! {
        r = http => r.context("HTTP task")?.context("HTTP server"),
        r = tftp => r.context("TFTP task")?.context("TFTP server"),
        r = dhcp => r.context("DHCP task")?.context("DHCP server"),
    };
    stop.cancel();
    result
}

/// The HTTP listener, its backlog as deep as the connections served at once (`[http] max_connections`;
/// the kernel caps it at `net.core.somaxconn`): a storm of booting servers waits in it to be accepted
/// instead of overflowing tokio's fixed 1024, where a dropped handshake costs a client a reset after its
/// retransmissions run out.
fn listen_http(addr: SocketAddr, max_connections: usize) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted service binds again while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(u32::try_from(max_connections).unwrap_or(u32::MAX).max(1024))
}

/// A listener that could not be bound; a refused port below 1024 names the capability it takes.
fn bind_error(what: &str, addr: SocketAddr, err: std::io::Error) -> anyhow::Error {
    let hint = if err.kind() == std::io::ErrorKind::PermissionDenied && addr.port() < 1024 {
        " (ports below 1024 need CAP_NET_BIND_SERVICE)"
    } else {
        ""
    };
    anyhow::Error::new(err).context(format!("binding {what} on {addr}{hint}"))
}

/// Tell the service manager (systemd, `Type=notify`) about a state change; nothing when it did not ask
/// (`NOTIFY_SOCKET` unset). A failure to tell it is logged, never fatal.
fn notify(state: sd_notify::NotifyState) {
    if let Err(err) = sd_notify::notify(&[state]) {
        tracing::warn!(%err, "telling the service manager (NOTIFY_SOCKET) failed");
    }
}

/// Run `work` every `period` (a tick missed while it ran is not made up), until `stop`.
async fn every<W: Future<Output = ()>>(period: Duration, stop: CancellationToken, mut work: impl FnMut() -> W) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        work().await;
    }
}

/// Every `period`, read the BMC of each ready node that has one for its health
/// (`Nodes::read_bmc_health`); until `stop`.
pub async fn watch_bmcs(nodes: Arc<Nodes>, period: Duration, stop: CancellationToken) {
    every(period, stop, || {
        let nodes = nodes.clone();
        async move {
            match tokio::task::spawn_blocking(move || nodes.read_bmc_health(Timestamp::now())).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => tracing::error!(%err, "reading the ready nodes' BMCs failed"),
                Err(err) => tracing::error!(%err, "reading the ready nodes' BMCs panicked"),
            }
        }
    })
    .await;
}

/// Every `period`, forget self-enrolled nodes that never booted and fail the nodes whose deadline passed
/// (the decision is `nodes::lifecycle::expired` and `decide`); until `stop`.
pub async fn watch_deadlines(nodes: Arc<Nodes>, period: Duration, stop: CancellationToken) {
    every(period, stop, || check_deadlines(nodes.clone())).await;
}

async fn check_deadlines(nodes: Arc<Nodes>) {
    let forget = nodes.clone();
    match tokio::task::spawn_blocking(move || forget.forget_stale_self_enrolled(Timestamp::now())).await {
        Ok(Ok(forgotten)) if !forgotten.is_empty() => {
            tracing::info!(count = forgotten.len(), "forgot self-enrolled nodes that never booted");
        }
        Ok(Ok(_)) => {}
        Ok(Err(err)) => tracing::error!(%err, "forgetting stale self-enrolled nodes failed"),
        Err(err) => tracing::error!(%err, "forgetting stale self-enrolled nodes panicked"),
    }
    match tokio::task::spawn_blocking(move || nodes.expire_deadlines(Timestamp::now())).await {
        Ok(Ok(failed)) => {
            for node in failed {
                let reason = node.failure.as_ref().map(|f| f.reason.as_str());
                tracing::warn!(node = %node.id, reason, "deadline passed: node failed");
            }
        }
        Ok(Err(err)) => tracing::error!(%err, "checking deadlines failed"),
        Err(err) => tracing::error!(%err, "deadline check panicked"),
    }
}

#[cfg(test)]
mod tests {
    /// `ss` shows a listening socket's backlog as its Send-Q.
    fn backlog_of(port: u16) -> Option<u32> {
        let out = std::process::Command::new("ss").args(["-Hltn", &format!("sport = :{port}")]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).split_whitespace().nth(2)?.parse().ok()
    }

    #[tokio::test]
    async fn the_http_backlog_is_as_deep_as_the_connections_served() {
        if std::process::Command::new("ss").arg("-V").output().is_err() {
            eprintln!("SKIPPED: no ss (iproute2) to read the backlog with");
            return;
        }
        let listener = super::listen_http("127.0.0.1:0".parse().unwrap(), 3000).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(backlog_of(port), Some(3000), "below net.core.somaxconn's default (4096)");
        let small = super::listen_http("127.0.0.1:0".parse().unwrap(), 10).unwrap();
        assert_eq!(backlog_of(small.local_addr().unwrap().port()), Some(1024), "never shallower than tokio's default");
    }
}
