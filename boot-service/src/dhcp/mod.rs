//! DHCPv4 for PXE booting, in full mode (we own the addresses) and proxyDHCP mode (another server
//! does; we only answer PXE clients, on the server port and on 4011).
//!
//! Decisions are made by one pure function, [`respond()`], from a decoded [`Request`], the [`Context`]
//! (the configuration, and the request MAC's [`Registration`] as data) and a read-only [`LeaseTable`];
//! it returns an [`Outcome`] (reply + destination, a lease change, an enrolment, a drop reason).
//! [`serve`] is the thin loop around it: it receives on the sockets [`bind`] opened, looks the MAC's
//! registration up in the [`NodeDirectory`] once per packet, persists lease changes and enrolments
//! through the [`Store`](crate::store::Store) in one transaction per batch before answering, sends,
//! and counts everything in [`DhcpMetrics`].
//!
//! Files: `raw.rs` checks the datagram's bytes (and keeps option 82 as sent), `request.rs` classifies a
//! packet into a [`Request`], `bootfile.rs` picks the boot file, `decision.rs` holds what a decision reads and returns, `respond.rs` and `proxy.rs` decide,
//! `options.rs` builds replies, `fit.rs` echoes option 82 and fits each reply to the client's maximum
//! message size, `leases.rs` allocates, `socket.rs` binds, `server.rs` loops, `metrics.rs` counts.
//!
//! Leases are keyed by the hardware address (chaddr), not by the client identifier (option 61), on
//! purpose: the firmware, iPXE and the installed OS of one NIC each send a different identifier (or
//! none), and one server must keep one address through all three.

mod bootfile;
mod decision;
mod fit;
mod leases;
mod metrics;
mod options;
mod proxy;
mod raw;
mod request;
mod respond;
mod server;
mod share;
mod socket;

pub use bootfile::BootTarget;
pub use decision::{Context, Destination, Outcome, Registration, Reply, needs_registration};
pub use leases::{DECLINE_QUARANTINE_SECS, LeaseChange, LeaseTable, OFFER_HOLD_SECS, PoolSlice};
pub use metrics::DhcpMetrics;
pub use raw::decode;
pub use request::{ClientClass, ClientInfo, DropReason, Request, classify};
pub use respond::respond;
pub use server::serve;
pub use share::{BEAT_EVERY, Live, MAX_MEMBERS, Members, PeerWatch, SILENT_AFTER, rfc3074_hash};
pub use socket::{BindError, DhcpSocket, PortKind, bind};

use rackhand_api::MacAddr;

/// The port PXE firmware sends its boot-server REQUEST to after a proxyDHCP offer.
pub const PROXY_PORT: u16 = 4011;

/// What the DHCP server needs to know about nodes, and tells the node service. Implemented by the node
/// service. (Enrolments are not asked of it: the server writes them with its lease batch.)
pub trait NodeDirectory: Send + Sync {
    /// Whether `mac` belongs to a node registered through the API (or already enrolled).
    fn is_registered(&self, mac: MacAddr) -> bool;
    /// The lease batch did not enrol `mac`: `within` already holds its `max_discovered` self-enrolled
    /// servers that have not booted yet. Nothing was written for it; its reply went out all the same.
    fn enrolment_refused(&self, mac: MacAddr, within: crate::config::EnrolIn);
    /// A boot client was answered with (or is known to use) `address`: its script request may come
    /// from there (see `nodes/sightings.rs`).
    fn saw_booting(&self, mac: MacAddr, address: std::net::Ipv4Addr);
}

#[cfg(test)]
mod tests;
