//! The loop around [`respond`]: one worker thread reads the sockets itself (`inbox.rs`: ppoll, then
//! recvmmsg), owns the lease table, looks each packet's MAC up in the node table (the decision gets the
//! answer as data), decides, persists lease changes and enrolments (before answering) and sends the
//! replies. The store is synchronous, so the worker runs on a blocking thread and never stalls the
//! async runtime.
//!
//! Group commit: the worker takes every packet already queued on its sockets (up to [`MAX_BATCH`]),
//! decides each in order against the table, then writes all their lease changes and the new boot
//! clients' enrolments in one transaction and only then sends the replies (but OFFERs, which promise
//! nothing durable, leave before the commit). Under load that is one commit per burst instead of one per
//! ACK and one per new server; an enrolment waits (up to 50 ms) for a batch with lease changes to ride
//! with, so a new server's DISCOVER costs no commit of its own. A busy server's batch with writes waits up
//! to a millisecond for more packets before committing (`commit.rs` `gather_window`); an idle server
//! still answers each packet as it comes. An enrolment the subnet's cap refuses is told to the node
//! service; it holds no reply back.
//!
//! Several instances on one segment (`[http] peers`) split the clients (`share.rs`): the worker answers
//! only its share and that of silent peers, reloading its lease table from the store each time who is
//! alive changes; `peers.rs` beats the heartbeat and watches the others'.

mod commit;
mod inbox;
mod peers;

use std::future::Future;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::task::JoinSet;
use tracing::field::{Empty, display};

use super::decision::{Context, Outcome, Registration, needs_registration};
use super::leases::{LeaseChange, LeaseTable};
use super::request::{DropReason, Request, type_label};
use super::respond::respond;
use super::share::{Live, Members};
use super::socket::DhcpSocket;
use super::{DhcpMetrics, NodeDirectory};
use crate::config::Config;
use crate::store::{LeaseWrite, Store};
use commit::{Batch, HeldEnrolments, PendingReply, gather_window};
use inbox::{Datagram, Inbox, Wait};

/// How often an idle worker expires leases and refreshes the bound-leases gauge.
const IDLE_TICK: Duration = Duration::from_secs(5);
/// Most packets decided before their lease changes are committed together.
const MAX_BATCH: usize = 256;

/// Serve DHCP on `sockets` (from [`bind`](super::bind), or the caller's own) until `shutdown`
/// completes. Loads the stored leases first; fails only if that or setting up the sockets fails.
pub async fn serve(
    sockets: Vec<DhcpSocket>,
    config: Arc<Config>,
    store: Arc<dyn Store>,
    nodes: Arc<dyn NodeDirectory>,
    metrics: DhcpMetrics,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let members = Members::new(&config.http.public_url, &config.http.peers);
    // The store is synchronous (PostgreSQL's client refuses to block a runtime thread): load off it.
    let (table, peers) = tokio::task::spawn_blocking({
        let (config, store, members) = (config.clone(), store.clone(), members.clone());
        move || {
            let peers = (!members.alone()).then(|| peers::first_look(&*store, &members));
            load_table(&config, &*store, &members).map(|table| (table, peers))
        }
    })
    .await
    .context("dhcp: loading the stored leases")??;
    metrics.bound_leases.set(table.bound_leases() as i64);
    tracing::info!(mode = ?config.dhcp.mode, bound = table.bound_leases(), instances = members.urls().len(),
        "dhcp: serving");

    let mut receive = Vec::with_capacity(sockets.len());
    let mut outlets = Vec::with_capacity(sockets.len());
    for s in sockets {
        let send = s.socket.try_clone().context("dhcp: socket setup")?;
        receive.push(s.socket);
        outlets.push(DhcpSocket::new(s.iface, s.iface_addr, s.kind, send));
    }
    // The worker stops when the other end of this is dropped.
    let (stop, stop_signal) = UnixStream::pair().context("dhcp: socket setup")?;
    let inbox = Inbox::new(receive, stop_signal, inbox::RECEIVE_BUFFER).context("dhcp: socket setup")?;

    let mut background = JoinSet::new();
    let live = match peers {
        Some((watch, live)) => {
            background.spawn(peers::watch(store.clone(), members.clone(), watch, live.clone()));
            Some(live)
        }
        None => None,
    };
    let seen_live = live.as_ref().map_or(Live::default(), peers::LiveMembers::get);
    let held = HeldEnrolments::default();
    let worker = Worker { config, store, nodes, metrics, table, outlets, members, live, seen_live, held };
    let worker = tokio::task::spawn_blocking(move || worker.run(inbox));
    tokio::pin!(shutdown);
    shutdown.await;
    drop(stop);
    background.shutdown().await;
    worker.await.context("dhcp: worker thread")?;
    tracing::info!("dhcp: stopped");
    Ok(())
}

/// The lease table as stored: the leases, and the addresses still quarantined; new addresses from this
/// instance's slice of the pools when it has peers.
fn load_table(config: &Config, store: &dyn Store, members: &Members) -> anyhow::Result<LeaseTable> {
    let now = unix_now();
    let stored = store.leases().context("dhcp: loading the stored leases")?;
    let mut table = LeaseTable::new(&config.dhcp, stored, now).in_slice(members.pool_slice());
    for q in store.quarantined(now).context("dhcp: loading the quarantined addresses")? {
        table.quarantine(q.ip, q.mac, q.until, now);
    }
    Ok(table)
}

struct Worker {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    nodes: Arc<dyn NodeDirectory>,
    metrics: DhcpMetrics,
    table: LeaseTable,
    outlets: Vec<DhcpSocket>,
    /// The instances splitting the clients, and who of them is alive (`None`: no peers).
    members: Members,
    live: Option<peers::LiveMembers>,
    /// Who was alive when the table was last loaded: the share this worker answers.
    seen_live: Live,
    /// Enrolments waiting for a lease commit to ride with.
    held: HeldEnrolments,
}

impl Worker {
    fn run(mut self, mut inbox: Inbox) {
        let mut last_commit: Option<Instant> = None;
        loop {
            let wake = self.held.due_in(Instant::now()).map_or(IDLE_TICK, |due| due.min(IDLE_TICK));
            match inbox.wait(wake) {
                Wait::Ready => {
                    self.follow_peers();
                    let mut batch = Batch::default();
                    let mut taken = inbox.take(MAX_BATCH, |packet| self.handle(packet, &mut batch));
                    let window = gather_window(!batch.writes.is_empty(), last_commit.map(|t| t.elapsed()));
                    let until = Instant::now() + window;
                    while taken.datagrams < MAX_BATCH {
                        let left = until.saturating_duration_since(Instant::now());
                        if left.is_zero() || inbox.wait(left) != Wait::Ready {
                            break;
                        }
                        taken += inbox.take(MAX_BATCH - taken.datagrams, |packet| self.handle(packet, &mut batch));
                    }
                    if taken.overflowed > 0 {
                        self.metrics.count_drops(DropReason::Overload, taken.overflowed);
                    }
                    if !batch.writes.is_empty() {
                        last_commit = Some(Instant::now());
                    }
                    self.commit(batch);
                }
                Wait::Idle => {
                    // Enrolments that found no lease to ride with are written now (if due).
                    self.commit(Batch::default());
                    self.follow_peers();
                    self.table.tick(unix_now());
                    self.metrics.bound_leases.set(self.table.bound_leases() as i64);
                }
                Wait::Stopped => {
                    // Nothing held is left behind.
                    let writes = self.held.take_all();
                    self.commit(Batch { writes, replies: Vec::new() });
                    return;
                }
            }
        }
    }

    fn handle(&mut self, packet: Datagram<'_>, batch: &mut Batch) {
        let outlet = &self.outlets[packet.socket];
        let span = tracing::info_span!(
            "dhcp",
            iface = %outlet.iface,
            mac = Empty,
            xid = Empty,
            msg_type = Empty
        );
        let _entered = span.enter();
        let request = match Request::parse(packet.bytes, outlet.iface_addr, outlet.kind, packet.from) {
            Ok(request) => request,
            Err(reason) => {
                tracing::debug!(from = %packet.from, len = packet.bytes.len(),
                        reason = reason.as_str(), "dhcp: dropped a packet");
                self.metrics.count_drop(reason);
                return;
            }
        };
        let msg_type = type_label(request.client.msg_type);
        span.record("mac", display(request.client.mac));
        span.record("xid", display(format_args!("{:#010x}", request.message.xid())));
        span.record("msg_type", msg_type);
        self.metrics.received.get_or_create(&super::metrics::TypeLabels { msg_type }).inc();
        if !self.members.answers(&request, self.config.advertise, self.seen_live) {
            self.metrics.count_drop(DropReason::PeerShare);
            return;
        }

        let now = unix_now();
        self.table.tick(now);
        // A store read only where the decision can tell the answers apart (not for most plain clients).
        let registered =
            needs_registration(&request, &self.config.dhcp) && self.nodes.is_registered(request.client.mac);
        let registration = Registration::of(registered);
        let ctx = Context::new(&self.config, registration);
        let outcome = respond(&request, &ctx, &self.table, now);
        self.decide(&request, packet.socket, outcome, now, span.clone(), batch);
    }

    /// Count, apply to the table, and queue the writes (lease change, enrolment) and the reply for
    /// [`Self::commit`]. The table takes a bind at once, so later packets of the batch see it; should the
    /// commit fail, the ACK is not sent and the address stays held until the client asks again (and is
    /// persisted then). No reply waits for an enrolment: a refused or failed one holds back nothing.
    fn decide(
        &mut self,
        request: &Request,
        socket: usize,
        outcome: Outcome,
        now: i64,
        span: tracing::Span,
        batch: &mut Batch,
    ) {
        if let Some(arch) = outcome.unknown_arch {
            tracing::info!(arch, class = ?request.client.class, "dhcp: no boot file for this architecture");
            let labels = super::metrics::ArchLabels { arch };
            self.metrics.unknown_arch.get_or_create(&labels).inc();
        }
        if let Some(reason) = outcome.drop {
            self.log_drop(request, reason);
            self.metrics.count_drop(reason);
        }
        let mut write = None;
        if let Some(change) = &outcome.lease {
            if let Some(stored) = change.stored(now) {
                // Only an ACK waits for its write; a release or decline has no reply to hold.
                write = matches!(change, LeaseChange::Bind(_)).then_some(batch.writes.len());
                batch.writes.push(stored);
            }
            self.table.apply(change, now);
            self.metrics.bound_leases.set(self.table.bound_leases() as i64);
        }
        if let Some((mac, within)) = outcome.enroll {
            // Held for the next lease commit (at the latest this client's ACK), which precedes its script
            // request. (A MAC enrolled earlier is enrolled once; the store sees it is known.)
            self.held.hold(LeaseWrite::Enrol { mac, within, at: jiff::Timestamp::now() }, Instant::now());
        }
        let sighting = outcome.sighting.map(|address| (request.client.mac, address));
        match outcome.reply {
            Some(reply) => batch.replies.push(PendingReply { span, socket, reply, write, sighting }),
            None => {
                if let Some((mac, address)) = sighting {
                    self.nodes.saw_booting(mac, address);
                }
            }
        }
    }

    fn log_drop(&self, request: &Request, reason: DropReason) {
        let subnet = request
            .subnet_addr()
            .and_then(|a| self.config.dhcp.subnet_for(a))
            .map(|s| s.network.to_string())
            .unwrap_or_else(|| "none".into());
        match reason {
            DropReason::PoolExhausted => {
                tracing::warn!(%subnet, "dhcp: address pool exhausted; not answering")
            }
            DropReason::ReplyTooLarge => {
                tracing::warn!(%subnet, "dhcp: the reply does not fit the client's maximum message size even \
                     without optional options (is the boot file URL too long?); not answering")
            }
            DropReason::NotRegistered => {
                tracing::info!(%subnet, "dhcp: MAC not registered in a registered-only subnet")
            }
            _ => tracing::debug!(%subnet, reason = reason.as_str(), "dhcp: not answering"),
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
