//! The in-memory lease table: who holds which address until when, and which address to offer next.
//!
//! Built from the store's leases at start, read by the pure decision function, changed only through
//! [`LeaseTable::apply`] by the loop (after the store has accepted the change). Allocation never
//! scans a pool: each subnet keeps an ordered set of never-used addresses, an ordered set of
//! addresses whose lease or offer has run out (kept for their last MAC until someone needs them),
//! and the live entries ordered by end time.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rackhand_api::MacAddr;

use crate::config::{DhcpConfig, Pool};
use crate::store::{Lease, LeaseWrite};

/// How long an offered address is held for the client it was offered to.
pub const OFFER_HOLD_SECS: i64 = 30;
/// How long an address a client declined (someone else answers on it) stays out of use.
pub const DECLINE_QUARANTINE_SECS: i64 = 600;

/// A change the decision function asks for; the loop persists it, then applies it here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseChange {
    /// Hold `ip` for `mac` for [`OFFER_HOLD_SECS`]. Not persisted.
    Offer { ip: Ipv4Addr, mac: MacAddr },
    /// A lease granted by an ACK: persisted with `Store::put_lease` before the ACK goes out.
    Bind(Lease),
    /// The client gave the address back: removed from the store.
    Release { ip: Ipv4Addr, mac: MacAddr },
    /// The client found the address in use: removed from the store, quarantined here.
    Decline { ip: Ipv4Addr, mac: MacAddr },
    /// The client chose another server: drop the offer we made it.
    ForgetOffer { mac: MacAddr },
}

impl LeaseChange {
    /// What the store keeps of this change made at `now`: offers live only in memory; a decline keeps
    /// its address out of use until the same end as [`LeaseTable::apply`] gives it, across restarts.
    pub fn stored(&self, now: i64) -> Option<LeaseWrite> {
        match self {
            LeaseChange::Bind(lease) => Some(LeaseWrite::Put { lease: lease.clone(), now }),
            LeaseChange::Release { ip, mac } => Some(LeaseWrite::Remove { ip: *ip, mac: *mac }),
            LeaseChange::Decline { ip, mac } => {
                Some(LeaseWrite::Quarantine { ip: *ip, mac: *mac, until: decline_until(now), now })
            }
            LeaseChange::Offer { .. } | LeaseChange::ForgetOffer { .. } => None,
        }
    }
}

/// When a decline at `now` ends its address's quarantine.
fn decline_until(now: i64) -> i64 {
    now + DECLINE_QUARANTINE_SECS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    Offered,
    Bound,
    Quarantined,
}

/// One address's current (or last) holder. Live while `until` is in the future.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub mac: MacAddr,
    pub state: EntryState,
    /// Unix seconds: end of the offer hold, the lease or the quarantine.
    pub until: i64,
    pub hostname: Option<String>,
}

#[derive(Debug)]
struct SubnetLeases {
    network: Ipv4Net,
    pools: Vec<Pool>,
    reserved: HashMap<u32, MacAddr>,
    reservation_of: HashMap<MacAddr, Ipv4Addr>,
    /// Pool addresses without any entry.
    free: BTreeSet<u32>,
    /// Pool addresses whose entry has run out (as of the last `tick`).
    expired: BTreeSet<u32>,
    /// Live entries (as of the last `tick`) by end time.
    timers: BTreeSet<(i64, u32)>,
}

impl SubnetLeases {
    /// In a pool and not reserved: handed out dynamically.
    fn is_dynamic(&self, ip: u32) -> bool {
        !self.reserved.contains_key(&ip) && self.pools.iter().any(|p| p.contains(Ipv4Addr::from(ip)))
    }
}

/// This instance's slice of every pool when several instances hand out addresses from the same pools
/// (`share.rs`): the `index`-th of `of` equal runs of each pool. New addresses come from it first, so
/// two instances rarely pick the same one; the rest of the pool is used when the slice is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSlice {
    pub index: usize,
    pub of: usize,
}

impl PoolSlice {
    /// The slice of `pool`: addresses `lo..hi` (as numbers).
    fn of_pool(self, pool: &Pool) -> std::ops::Range<u32> {
        let (start, end) = (u64::from(u32::from(pool.start)), u64::from(u32::from(pool.end)));
        let len = end - start + 1;
        let (index, of) = (self.index as u64, self.of.max(1) as u64);
        let at = |i: u64| u32::try_from(start + len * i / of).unwrap_or(u32::MAX);
        at(index)..at(index + 1)
    }
}

#[derive(Debug)]
pub struct LeaseTable {
    subnets: Vec<SubnetLeases>,
    /// Where new addresses come from first; `None`: the whole pool, lowest first.
    slice: Option<PoolSlice>,
    entries: HashMap<u32, Entry>,
    /// Each MAC's most recent address (offered or bound), kept after expiry so it gets it back.
    by_mac: HashMap<MacAddr, u32>,
    /// Bound entries still in `timers`.
    bound: usize,
}

impl LeaseTable {
    /// The table for `config`'s subnets, with the stored `leases` (those outside every subnet are
    /// ignored: the config changed since they were granted).
    pub fn new(config: &DhcpConfig, leases: impl IntoIterator<Item = Lease>, now: i64) -> Self {
        let subnets = config
            .subnets
            .iter()
            .map(|s| {
                let reserved: HashMap<u32, MacAddr> = s.reservations.iter().map(|r| (u32::from(r.ip), r.mac)).collect();
                let free = s
                    .pools
                    .iter()
                    .flat_map(|p| u32::from(p.start)..=u32::from(p.end))
                    .filter(|ip| !reserved.contains_key(ip))
                    .collect();
                SubnetLeases {
                    network: s.network,
                    pools: s.pools.clone(),
                    reservation_of: s.reservations.iter().map(|r| (r.mac, r.ip)).collect(),
                    reserved,
                    free,
                    expired: BTreeSet::new(),
                    timers: BTreeSet::new(),
                }
            })
            .collect();
        let mut table = LeaseTable { subnets, slice: None, entries: HashMap::new(), by_mac: HashMap::new(), bound: 0 };
        let mut leases: Vec<Lease> = leases.into_iter().collect();
        // The latest lease of a MAC wins its `by_mac` slot.
        leases.sort_by_key(|l| l.expires_at);
        for lease in leases {
            if table.subnet_of(lease.ip).is_some() {
                table.apply(&LeaseChange::Bind(lease), now);
            }
        }
        table
    }

    /// New addresses come from `slice` of each pool first (this instance's, when several share them).
    #[must_use]
    pub fn in_slice(mut self, slice: Option<PoolSlice>) -> Self {
        self.slice = slice.filter(|s| s.index < s.of);
        self
    }

    /// The address to offer `mac` in subnet `subnet` (an index into `DhcpConfig::subnets`):
    /// its reservation, else its last address if still free, else the `requested` one if free,
    /// else the lowest never-used address of this instance's slice of the pools, else of the pools,
    /// else the lowest expired one. `None`: exhausted.
    pub fn allocate(&self, subnet: usize, mac: MacAddr, requested: Option<Ipv4Addr>, now: i64) -> Option<Ipv4Addr> {
        let sn = self.subnets.get(subnet)?;
        if let Some(&ip) = sn.reservation_of.get(&mac) {
            return Some(ip);
        }
        let candidates = self.by_mac.get(&mac).copied().into_iter();
        let candidates = candidates.chain(requested.map(u32::from));
        for ip in candidates {
            if sn.is_dynamic(ip) && self.available(ip, mac, now) {
                return Some(Ipv4Addr::from(ip));
            }
        }
        let ran_out = sn
            .timers
            .iter()
            .take_while(|(until, _)| *until <= now)
            .map(|&(_, ip)| ip)
            .filter(|&ip| sn.is_dynamic(ip))
            .min();
        let expired = sn.expired.first().copied().into_iter().chain(ran_out).min();
        let in_slice = self.slice.and_then(|slice| {
            sn.pools.iter().filter_map(|pool| sn.free.range(slice.of_pool(pool)).next().copied()).min()
        });
        in_slice.or(sn.free.first().copied()).or(expired).map(Ipv4Addr::from)
    }

    /// Whether `mac` may be bound to `ip` in `subnet` (an ACK), or must be refused (a NAK).
    pub fn may_bind(&self, subnet: usize, mac: MacAddr, ip: Ipv4Addr, now: i64) -> bool {
        let Some(sn) = self.subnets.get(subnet) else {
            return false;
        };
        if let Some(&reserved) = sn.reservation_of.get(&mac) {
            return reserved == ip;
        }
        let ip = u32::from(ip);
        if !sn.is_dynamic(ip) {
            return false;
        }
        if let Some(&current) = self.by_mac.get(&mac)
            && current != ip
            && self.entries.get(&current).is_some_and(|e| e.mac == mac && e.state == EntryState::Bound && e.until > now)
        {
            return false;
        }
        self.available(ip, mac, now)
    }

    /// Whether `mac` holds (or held, and nobody took it since) `ip`: a RELEASE or DECLINE counts.
    pub fn holds(&self, mac: MacAddr, ip: Ipv4Addr) -> bool {
        self.entries.get(&u32::from(ip)).is_some_and(|e| e.mac == mac && e.state != EntryState::Quarantined)
    }

    pub fn entry(&self, ip: Ipv4Addr) -> Option<&Entry> {
        self.entries.get(&u32::from(ip))
    }

    /// Bound leases not yet run out as of the last [`tick`](Self::tick).
    pub fn bound_leases(&self) -> usize {
        self.bound
    }

    /// Move entries whose time has come into the expired sets. Cheap: only touches those entries.
    pub fn tick(&mut self, now: i64) {
        for sn in &mut self.subnets {
            while let Some(&(until, ip)) = sn.timers.first() {
                if until > now {
                    break;
                }
                sn.timers.pop_first();
                if self.entries.get(&ip).is_some_and(|e| e.state == EntryState::Bound) {
                    self.bound -= 1;
                }
                if sn.is_dynamic(ip) {
                    sn.expired.insert(ip);
                }
            }
        }
    }

    /// Keep `ip`, declined by `mac`, out of use until `until`: a fresh decline, or one the store kept
    /// across a restart.
    pub fn quarantine(&mut self, ip: Ipv4Addr, mac: MacAddr, until: i64, now: i64) {
        if self.subnet_of(ip).is_none() {
            return;
        }
        self.set(ip, Entry::new(mac, EntryState::Quarantined, until), now);
        if self.by_mac.get(&mac) == Some(&u32::from(ip)) {
            self.by_mac.remove(&mac);
        }
    }

    pub fn apply(&mut self, change: &LeaseChange, now: i64) {
        self.tick(now);
        match change {
            LeaseChange::Offer { ip, mac } => {
                let keep =
                    self.entry(*ip).is_some_and(|e| e.mac == *mac && e.state == EntryState::Bound && e.until > now);
                if !keep {
                    self.set(*ip, Entry::new(*mac, EntryState::Offered, now + OFFER_HOLD_SECS), now);
                }
            }
            LeaseChange::Bind(lease) => {
                let mut entry = Entry::new(lease.mac, EntryState::Bound, lease.expires_at);
                entry.hostname = lease.hostname.clone();
                self.set(lease.ip, entry, now);
            }
            LeaseChange::Release { ip, mac } => {
                if let Some(e) = self.entry(*ip).filter(|_| self.holds(*mac, *ip)) {
                    let released = Entry { until: now, ..e.clone() };
                    self.set(*ip, released, now);
                }
            }
            LeaseChange::Decline { ip, mac } => self.quarantine(*ip, *mac, decline_until(now), now),
            LeaseChange::ForgetOffer { mac } => {
                let offered = self.by_mac.get(mac).and_then(|ip| {
                    let e = self.entries.get(ip)?;
                    (e.state == EntryState::Offered && e.until > now)
                        .then(|| (Ipv4Addr::from(*ip), Entry { until: now, ..e.clone() }))
                });
                if let Some((ip, entry)) = offered {
                    self.set(ip, entry, now);
                }
            }
        }
    }

    fn subnet_of(&self, ip: Ipv4Addr) -> Option<usize> {
        self.subnets.iter().position(|s| s.network.contains(&ip))
    }

    /// Free for `mac`: no entry, or one that has run out, or `mac`'s own (unless it declined it).
    fn available(&self, ip: u32, mac: MacAddr, now: i64) -> bool {
        self.entries.get(&ip).is_none_or(|e| e.until <= now || (e.mac == mac && e.state != EntryState::Quarantined))
    }

    /// Replace the entry of `ip`, keeping the free/expired/timer sets and `by_mac` in step.
    fn set(&mut self, ip: Ipv4Addr, entry: Entry, now: i64) {
        let Some(index) = self.subnet_of(ip) else {
            return;
        };
        let key = u32::from(ip);
        let sn = &mut self.subnets[index];
        sn.free.remove(&key);
        sn.expired.remove(&key);
        if let Some(old) = self.entries.remove(&key) {
            if sn.timers.remove(&(old.until, key)) && old.state == EntryState::Bound {
                self.bound -= 1;
            }
            if old.mac != entry.mac && self.by_mac.get(&old.mac) == Some(&key) {
                self.by_mac.remove(&old.mac);
            }
        }
        if entry.until > now {
            sn.timers.insert((entry.until, key));
            if entry.state == EntryState::Bound {
                self.bound += 1;
            }
        } else if sn.is_dynamic(key) {
            sn.expired.insert(key);
        }
        self.by_mac.insert(entry.mac, key);
        self.entries.insert(key, entry);
    }
}

impl Entry {
    fn new(mac: MacAddr, state: EntryState, until: i64) -> Self {
        Entry { mac, state, until, hostname: None }
    }
}
