//! LLDP: which switch port each NIC is cabled to. The decoder is pure ([`frame`]); listening goes through a
//! raw AF_PACKET socket ([`socket`]) behind the [`LldpListener`] seam so observation can be tested with a
//! fake.

pub mod frame;
pub mod socket;

use std::collections::BTreeMap;
use std::time::Duration;

use rackhand_api::LldpNeighbor;

pub use frame::{ETH_P_LLDP, LLDP_MULTICAST, LldpError, LldpFrame, decode_lldp_frame};
pub use socket::listen_one;

/// How long to listen for LLDP by default, in seconds (as the command lines take it): a switch sends a
/// frame every 30 s, so one more second hears at least one from each port.
pub const DEFAULT_WAIT_SECS: &str = "31";

/// Something that can tell, per interface, which LLDP neighbour it hears.
pub trait LldpListener {
    /// Listen on every interface at once for at most `window`; interfaces that heard nothing are absent.
    fn neighbors(&self, ifaces: &[String], window: Duration) -> BTreeMap<String, LldpNeighbor>;
}

/// Listens on raw sockets, one thread per interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct RawSocketListener;

impl LldpListener for RawSocketListener {
    fn neighbors(&self, ifaces: &[String], window: Duration) -> BTreeMap<String, LldpNeighbor> {
        std::thread::scope(|scope| {
            let handles: Vec<_> =
                ifaces.iter().map(|iface| (iface, scope.spawn(move || listen_one(iface, window)))).collect();
            handles
                .into_iter()
                .filter_map(|(iface, handle)| match handle.join() {
                    Ok(Ok(Some(frame))) => Some((iface.clone(), frame.neighbor)),
                    Ok(Ok(None)) => None,
                    Ok(Err(e)) => {
                        tracing::warn!("LLDP on {iface}: {e}");
                        None
                    }
                    Err(_) => None,
                })
                .collect()
        })
    }
}

/// Hears nothing: for fixture trees and `--lldp-wait 0`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLldp;

impl LldpListener for NoLldp {
    fn neighbors(&self, _: &[String], _: Duration) -> BTreeMap<String, LldpNeighbor> {
        BTreeMap::new()
    }
}

/// Returns a fixed answer: the fake for tests.
#[derive(Debug, Default, Clone)]
pub struct FixedLldp(pub BTreeMap<String, LldpNeighbor>);

impl LldpListener for FixedLldp {
    fn neighbors(&self, ifaces: &[String], _: Duration) -> BTreeMap<String, LldpNeighbor> {
        self.0.iter().filter(|(iface, _)| ifaces.contains(iface)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
