//! The shell around `share.rs` for an instance with peers: beat this instance's heartbeat in the store
//! every [`BEAT_EVERY`], read everyone's, and publish who is alive for the worker, which reloads its
//! lease table whenever that changes (a peer's share it now answers comes with that peer's leases).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::Worker;
use crate::dhcp::share::{BEAT_EVERY, Live, Members, PeerWatch, SILENT_AFTER};
use crate::store::{Heartbeat, Store};

/// Who is alive, as the heartbeat watcher last saw it; read by the worker at every batch.
#[derive(Clone)]
pub(super) struct LiveMembers(Arc<AtomicU64>);

impl LiveMembers {
    pub(super) fn get(&self) -> Live {
        Live(self.0.load(Ordering::Acquire))
    }
}

/// Beat once and read the heartbeats (blocking: the store is synchronous).
fn beat_and_read(store: &dyn Store, me: &str) -> Result<Vec<Heartbeat>, crate::store::StoreError> {
    store.beat(me, jiff::Timestamp::now())?;
    store.heartbeats()
}

/// The first look, before the first packet is answered: this instance's first beat, and the peers with
/// a row count as alive for [`SILENT_AFTER`] (so a restarted instance does not answer a live peer's
/// clients while it finds out). Should the store fail, only this instance counts until it answers.
pub(super) fn first_look(store: &dyn Store, members: &Members) -> (PeerWatch, LiveMembers) {
    let mut watch = PeerWatch::new(members.clone(), SILENT_AFTER);
    let me = &members.urls()[members.me()];
    let live = match beat_and_read(store, me) {
        Ok(beats) => watch.observe(&beats, Instant::now()),
        Err(err) => {
            tracing::warn!(%err, "dhcp: could not read the other instances' heartbeats");
            watch.observe(&[], Instant::now())
        }
    };
    (watch, LiveMembers(Arc::new(AtomicU64::new(live.0))))
}

/// Beat and watch until the task is dropped; log each instance that falls silent or comes back.
pub(super) async fn watch(store: Arc<dyn Store>, members: Members, mut watch: PeerWatch, live: LiveMembers) {
    let me = members.urls()[members.me()].clone();
    let mut ticks = tokio::time::interval(BEAT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let read = tokio::task::spawn_blocking({
            let (store, me) = (store.clone(), me.clone());
            move || beat_and_read(&*store, &me)
        })
        .await;
        let beats = match read {
            Ok(Ok(beats)) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("dhcp: heartbeats readable again");
                }
                beats
            }
            Ok(Err(err)) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(%err, "dhcp: could not beat or read the heartbeats; peers may take over \
                         this instance's clients, which is safe (the database decides every address)");
                }
                Vec::new()
            }
            Err(err) => {
                // Only a panic in the store gets here: say so, as the share stops following the peers.
                tracing::error!(%err, "dhcp: the heartbeat watch stopped; this instance keeps its current share");
                return;
            }
        };
        let now_live = watch.observe(&beats, Instant::now());
        let before = live.get();
        if now_live != before {
            for (i, url) in members.urls().iter().enumerate() {
                match (before.has(i), now_live.has(i)) {
                    (true, false) => tracing::warn!(instance = %url,
                        "dhcp: instance silent (heartbeat unchanged): answering its clients"),
                    (false, true) => tracing::info!(instance = %url,
                        "dhcp: instance alive: leaving its clients to it"),
                    _ => {}
                }
            }
            live.0.store(now_live.0, Ordering::Release);
        }
    }
}

impl Worker {
    /// When who is alive changed since the table was loaded, load it again (between batches, so no
    /// decided write is lost): a share taken over comes with its leases, so its clients keep their
    /// addresses. Until the load succeeds the share stays as it was.
    pub(super) fn follow_peers(&mut self) {
        let Some(live) = self.live.as_ref().map(LiveMembers::get) else {
            return;
        };
        if live == self.seen_live {
            return;
        }
        match super::load_table(&self.config, &*self.store, &self.members) {
            Ok(table) => {
                self.table = table;
                self.seen_live = live;
                self.metrics.bound_leases.set(self.table.bound_leases() as i64);
                tracing::info!(bound = self.table.bound_leases(), "dhcp: lease table reloaded for a new share");
            }
            Err(err) => tracing::warn!(%err, "dhcp: could not reload the leases for a new share; keeping the old"),
        }
    }
}
