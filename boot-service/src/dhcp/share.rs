//! Several instances on one segment split the DHCP clients between them, as Kea's HA load balancing
//! does: each client's hardware address hashes (RFC 3074 §6) to one of the instances named in
//! `[http] public_url` and `[http] peers`, and only that one answers it. An instance whose heartbeat
//! stops changing is silent; its share goes to the next live instance in their common order, and the
//! other shares stay where they were. Pure: the serve loop reads the heartbeats and keeps the sockets.
//!
//! Why split rather than let every instance answer: both answers would be safe (the database refuses a
//! second holder of an address), but a client would be offered two addresses, pick one, and every
//! offer the other instance made would hold an address for nothing; a client whose offer loses the race
//! in the database loses a round trip. Split by MAC, one instance answers each client, from its own
//! slice of each pool (`leases.rs`), and the database only arbitrates after a takeover.
//!
//! The hash is over the hardware address, not the client identifier Kea prefers: firmware, iPXE and the
//! installed OS of one NIC send different identifiers (or none), and one server must stay with one
//! instance through all three, as its lease does (see `dhcp/mod.rs`). The RFC's function is written
//! here (eight lines and its table): no maintained crate has it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rackhand_api::MacAddr;

use super::leases::PoolSlice;
use super::request::Request;
use super::socket::PortKind;
use crate::store::Heartbeat;

/// How often an instance beats (writes its heartbeat) and reads the others'.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);
/// An instance whose heartbeat count has not changed for this long is silent: the others answer its
/// clients. Five missed beats: long enough for a busy database, short enough that iPXE's DHCP (which
/// gives up after about 15 s) and PXE firmware (60 s) find the instance that took over.
pub const SILENT_AFTER: Duration = Duration::from_secs(5);
/// Most instances that can split the clients (one bit each in [`Live`]).
pub const MAX_MEMBERS: usize = 64;

/// RFC 3074 §6: a "mixing table" of 256 distinct values in pseudo-random order (the same table as
/// Kea's `QueryFilter` and ISC dhcpd's failover).
#[rustfmt::skip]
const MIX: [u8; 256] = [
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0,
    232, 31, 32, 55, 60, 152, 58, 17, 237, 174, 70, 160, 144, 220, 90, 57,
    223, 59, 3, 18, 140, 111, 166, 203, 196, 134, 243, 124, 95, 222, 179,
    197, 65, 180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23,
    97, 16, 40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108,
    244, 67, 207, 9, 178, 204, 74, 98, 126, 249, 167, 116, 34, 77, 193,
    200, 121, 5, 20, 113, 71, 35, 128, 13, 182, 94, 25, 226, 227, 199, 75,
    27, 41, 245, 230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115,
    241, 73, 88, 105, 39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221,
    148, 154, 122, 12, 84, 82, 163, 44, 139, 228, 236, 205, 242, 217, 11,
    187, 146, 159, 64, 86, 239, 195, 42, 106, 198, 118, 112, 184, 172, 87,
    2, 173, 117, 176, 229, 247, 253, 137, 185, 99, 164, 102, 147, 45, 66,
    231, 52, 141, 211, 194, 206, 246, 238, 56, 110, 78, 248, 63, 240, 189,
    93, 92, 51, 53, 183, 19, 171, 72, 50, 33, 104, 101, 69, 8, 252, 83, 120,
    76, 135, 85, 54, 202, 125, 188, 213, 96, 235, 136, 208, 162, 129, 190,
    132, 156, 38, 47, 1, 7, 254, 24, 4, 216, 131, 89, 21, 28, 133, 37, 153,
    149, 80, 170, 68, 6, 169, 234, 151,
];

/// RFC 3074 §6 (`loadb_p_hash`): the Pearson hash of `key`, seeded with its length, last byte first.
pub fn rfc3074_hash(key: &[u8]) -> u8 {
    // The RFC seeds with the length as a byte (its keys are at most 255 bytes; a MAC is 6).
    let mut hash = key.len().to_le_bytes()[0];
    for &byte in key.iter().rev() {
        hash = MIX[usize::from(hash ^ byte)];
    }
    hash
}

/// The instances that split the clients, in the one order they all agree on (sorted by URL, whatever
/// order each one's config names them in), and which of them this one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    urls: Vec<String>,
    me: usize,
}

impl Members {
    /// This instance's public URL and its peers' (validated: distinct, at most [`MAX_MEMBERS`] in all).
    pub fn new(me: &str, peers: &[String]) -> Members {
        let mut urls: Vec<String> = peers.iter().cloned().chain([me.to_owned()]).collect();
        urls.sort();
        urls.dedup();
        urls.truncate(MAX_MEMBERS);
        let me = urls.iter().position(|u| u == me).unwrap_or(0);
        Members { urls, me }
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// This instance's index in [`Self::urls`].
    pub fn me(&self) -> usize {
        self.me
    }

    /// Whether this instance is alone (no peers): it answers everyone and watches no heartbeats.
    pub fn alone(&self) -> bool {
        self.urls.len() == 1
    }

    /// This instance's slice of every pool, where its new addresses come from first; `None` when alone.
    pub fn pool_slice(&self) -> Option<PoolSlice> {
        (!self.alone()).then_some(PoolSlice { index: self.me, of: self.urls.len() })
    }

    /// The instance that answers `mac` while `live` are alive: the one its hash picks (bucket modulo the
    /// number of instances, as Kea does), else, when that one is silent, the next live one after it.
    pub fn owner(&self, mac: MacAddr, live: Live) -> usize {
        let n = self.urls.len();
        let preferred = usize::from(rfc3074_hash(&mac.octets())) % n;
        let live = live.with(self.me);
        (0..n).map(|step| (preferred + step) % n).find(|&i| live.has(i)).unwrap_or(self.me)
    }

    /// Whether this instance answers `request` while `live` are alive: when it owns the client's MAC,
    /// and always when the request is addressed to it (the PXE boot-server port after its proxy offer,
    /// or a REQUEST naming `advertise`, its address, as the server: it made that offer).
    pub fn answers(&self, request: &Request, advertise: Ipv4Addr, live: Live) -> bool {
        self.alone()
            || request.port == PortKind::Proxy
            || request.server_id() == Some(advertise)
            || self.owner(request.client.mac, live) == self.me
    }
}

/// Which instances are alive: bit `i` for [`Members::urls`]`[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Live(pub u64);

impl Live {
    pub fn has(self, member: usize) -> bool {
        member < MAX_MEMBERS && self.0 & (1 << member) != 0
    }

    #[must_use]
    pub fn with(self, member: usize) -> Live {
        if member < MAX_MEMBERS { Live(self.0 | (1 << member)) } else { self }
    }
}

/// Watches the other instances' heartbeat counts, with this instance's clock only: a member is alive
/// while its count changed (or was first seen) less than [`SILENT_AFTER`] ago. This instance always is.
#[derive(Debug)]
pub struct PeerWatch {
    members: Members,
    silent_after: Duration,
    /// Per member: its last count and since when it has had it.
    seen: Vec<Option<(i64, Instant)>>,
}

impl PeerWatch {
    pub fn new(members: Members, silent_after: Duration) -> PeerWatch {
        let seen = vec![None; members.urls.len()];
        PeerWatch { members, silent_after, seen }
    }

    /// Take in the heartbeats read at `now`; who is alive. Rows of instances not among the members
    /// (ones since removed from the config) are ignored; a member without a row is silent.
    pub fn observe(&mut self, heartbeats: &[Heartbeat], now: Instant) -> Live {
        for beat in heartbeats {
            let Some(i) = self.members.urls.iter().position(|u| *u == beat.instance) else {
                continue;
            };
            match &mut self.seen[i] {
                Some((beats, _)) if *beats == beat.beats => {}
                slot => *slot = Some((beat.beats, now)),
            }
        }
        let mut live = Live::default().with(self.members.me);
        for (i, seen) in self.seen.iter().enumerate() {
            if seen.is_some_and(|(_, since)| now.saturating_duration_since(since) < self.silent_after) {
                live = live.with(i);
            }
        }
        live
    }
}
