//! Which servers were just seen network-booting, and from which address. A node's script (and with it
//! a fresh node token, or a move of its state) goes only to the server that just network-booted: the
//! DHCP side records a sighting when it answers a boot client with an address (full mode: the address
//! it ACKed; proxyDHCP: the address the client asked the site's server for, or its `ciaddr` on port
//! 4011), and the script request must come from that address within [`SIGHTING_WINDOW`]. Each sighting
//! serves one script: a second fetch without a new DHCP exchange changes nothing, so it cannot take a
//! running install's token away.
//!
//! What this does not stop: a host on the boot segment that spoofs a server's MAC in DHCP and then
//! takes the address it was offered. That needs layer-2 access; port security on the switch is the
//! answer there.
//!
//! In memory: after a restart of the boot service a server that was mid-DHCP asks again (iPXE's
//! script fetch fails with 403 and the firmware retries its boot).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rackhand_api::MacAddr;

/// From the DHCP answer to the script request: iPXE asks at once; TCG-emulated lab servers take seconds.
pub const SIGHTING_WINDOW: Duration = Duration::from_secs(120);
/// Most sightings kept: a flood of spoofed MACs ages out instead of growing the map.
const MAX_SIGHTINGS: usize = 16_384;

/// Why a script request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSeen {
    #[error("{mac} was not seen network-booting: its script is served once per DHCP boot, to the address DHCP saw")]
    Never { mac: MacAddr },
    #[error("{mac} network-booted from {seen}, but its script was asked for from {from}")]
    OtherAddress { mac: MacAddr, seen: Ipv4Addr, from: String },
    #[error("{mac} network-booted {secs} s ago, longer than the {window} s a script request may take")]
    TooLate { mac: MacAddr, secs: u64, window: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Sighting {
    address: Ipv4Addr,
    at: Instant,
}

/// The sightings, shared by the DHCP worker (writes) and the HTTP side (takes).
#[derive(Debug, Default)]
pub struct BootSightings {
    seen: Mutex<Seen>,
}

/// The sightings by MAC, and the same ordered by age, so the oldest makes room in O(log n) when a flood
/// of spoofed boot clients fills the table (the DHCP worker notes one per answer).
#[derive(Debug, Default)]
struct Seen {
    by_mac: HashMap<MacAddr, Sighting>,
    by_age: BTreeSet<(Instant, MacAddr)>,
}

impl Seen {
    fn remove(&mut self, mac: MacAddr) -> Option<Sighting> {
        let sighting = self.by_mac.remove(&mac)?;
        self.by_age.remove(&(sighting.at, mac));
        Some(sighting)
    }
}

impl BootSightings {
    /// DHCP answered `mac`, a boot client, with (or learned that it uses) `address`.
    pub fn saw(&self, mac: MacAddr, address: Ipv4Addr, now: Instant) {
        let mut seen = self.lock();
        if seen.remove(mac).is_none()
            && seen.by_mac.len() >= MAX_SIGHTINGS
            && let Some((_, oldest)) = seen.by_age.pop_first()
        {
            seen.by_mac.remove(&oldest);
        }
        seen.by_mac.insert(mac, Sighting { address, at: now });
        seen.by_age.insert((now, mac));
    }

    /// A script request for `mac` from `from` (`None`: not an IPv4 peer): spend the sighting it needs.
    /// A refused request leaves the sighting for the real server's own request, unless it is stale.
    pub fn take(&self, mac: MacAddr, from: Option<Ipv4Addr>, now: Instant) -> Result<(), NotSeen> {
        let mut seen = self.lock();
        let sighting = *seen.by_mac.get(&mac).ok_or(NotSeen::Never { mac })?;
        if from != Some(sighting.address) {
            let from = from.map_or_else(|| "a non-IPv4 address".to_owned(), |ip| ip.to_string());
            return Err(NotSeen::OtherAddress { mac, seen: sighting.address, from });
        }
        seen.remove(mac);
        let age = now.saturating_duration_since(sighting.at);
        if age > SIGHTING_WINDOW {
            return Err(NotSeen::TooLate { mac, secs: age.as_secs(), window: SIGHTING_WINDOW.as_secs() });
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr::new([0x52, 0x54, 0, 0, 0, 1]);
    const IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);

    #[test]
    fn one_dhcp_boot_serves_one_script_to_the_address_it_was_given() {
        let (sightings, t0) = (BootSightings::default(), Instant::now());
        assert_eq!(sightings.take(MAC, Some(IP), t0), Err(NotSeen::Never { mac: MAC }));
        sightings.saw(MAC, IP, t0);
        let elsewhere = Some(Ipv4Addr::new(10, 99, 0, 5));
        let refused = sightings.take(MAC, elsewhere, t0).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "52:54:00:00:00:01 network-booted from 10.77.0.100, but its script was asked for from 10.99.0.5"
        );
        assert!(sightings.take(MAC, None, t0).unwrap_err().to_string().ends_with("from a non-IPv4 address"));
        assert_eq!(sightings.take(MAC, Some(IP), t0 + Duration::from_secs(3)), Ok(()), "the refusals left it");
        assert_eq!(sightings.take(MAC, Some(IP), t0), Err(NotSeen::Never { mac: MAC }), "spent");
        sightings.saw(MAC, IP, t0 + Duration::from_secs(60));
        assert_eq!(sightings.take(MAC, Some(IP), t0 + Duration::from_secs(61)), Ok(()), "booted again");
    }

    #[test]
    fn a_stale_sighting_serves_nothing() {
        let (sightings, t0) = (BootSightings::default(), Instant::now());
        sightings.saw(MAC, IP, t0);
        let late = t0 + SIGHTING_WINDOW + Duration::from_secs(1);
        assert_eq!(sightings.take(MAC, Some(IP), late), Err(NotSeen::TooLate { mac: MAC, secs: 121, window: 120 }));
        assert_eq!(sightings.take(MAC, Some(IP), late), Err(NotSeen::Never { mac: MAC }));
    }

    #[test]
    fn a_flood_of_sightings_stays_bounded_and_keeps_the_newest() {
        let (sightings, t0) = (BootSightings::default(), Instant::now());
        for n in 0..(MAX_SIGHTINGS as u64 + 100) {
            let b = n.to_be_bytes();
            sightings.saw(MacAddr::new([0x52, 0x54, b[4], b[5], b[6], b[7]]), IP, t0 + Duration::from_millis(n));
        }
        assert_eq!(sightings.lock().by_mac.len(), MAX_SIGHTINGS);
        assert_eq!(sightings.lock().by_age.len(), MAX_SIGHTINGS);
        let newest = (MAX_SIGHTINGS as u64 + 99).to_be_bytes();
        let newest = MacAddr::new([0x52, 0x54, newest[4], newest[5], newest[6], newest[7]]);
        assert_eq!(sightings.take(newest, Some(IP), t0 + Duration::from_secs(30)), Ok(()));
        let oldest = MacAddr::new([0x52, 0x54, 0, 0, 0, 0]);
        assert_eq!(sightings.take(oldest, Some(IP), t0), Err(NotSeen::Never { mac: oldest }));
    }
}
