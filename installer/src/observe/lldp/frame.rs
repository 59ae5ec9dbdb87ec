//! LLDP (IEEE 802.1AB) frames: a pure decoder for what switches send. (The switches of the namespace tests
//! and the lab are Debian's lldpd: Rackhand has no encoder of its own.)

use rackhand_api::{LldpNeighbor, MacAddr};

pub const ETH_P_LLDP: u16 = 0x88cc;
const ETH_P_8021Q: u16 = 0x8100;
/// Nearest-bridge group address: never forwarded by 802.1D bridges.
pub const LLDP_MULTICAST: MacAddr = MacAddr::new([0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]);

const TLV_END: u8 = 0;
const TLV_CHASSIS_ID: u8 = 1;
const TLV_PORT_ID: u8 = 2;
const TLV_TTL: u8 = 3;
const TLV_PORT_DESCRIPTION: u8 = 4;
const TLV_SYSTEM_NAME: u8 = 5;
const TLV_SYSTEM_DESCRIPTION: u8 = 6;
const TLV_MANAGEMENT_ADDRESS: u8 = 8;

const CHASSIS_MAC: u8 = 4;
const CHASSIS_NETWORK_ADDRESS: u8 = 5;
const PORT_MAC: u8 = 3;
const PORT_NETWORK_ADDRESS: u8 = 4;
/// IANA address family numbers, as the Management Address TLV names its address's kind.
const FAMILY_IPV4: u8 = 1;
const FAMILY_IPV6: u8 = 2;

/// A decoded LLDPDU with the sender's Ethernet source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LldpFrame {
    pub source: MacAddr,
    pub ttl_secs: u16,
    pub neighbor: LldpNeighbor,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LldpError {
    #[error("frame is {0} bytes, too short for an Ethernet header")]
    Short(usize),
    #[error("ethertype {0:#06x} is not LLDP")]
    NotLldp(u16),
    #[error("TLV at offset {0} runs past the end of the frame")]
    Truncated(usize),
    #[error("LLDPDU lacks its mandatory {0} TLV")]
    Missing(&'static str),
}

pub fn decode_lldp_frame(frame: &[u8]) -> Result<LldpFrame, LldpError> {
    if frame.len() < 14 {
        return Err(LldpError::Short(frame.len()));
    }
    let source = MacAddr::from_slice(&frame[6..12]).ok_or(LldpError::Short(frame.len()))?;
    let mut at = 12;
    let mut ethertype = u16::from_be_bytes([frame[at], frame[at + 1]]);
    if ethertype == ETH_P_8021Q && frame.len() >= 18 {
        at += 4;
        ethertype = u16::from_be_bytes([frame[at], frame[at + 1]]);
    }
    if ethertype != ETH_P_LLDP {
        return Err(LldpError::NotLldp(ethertype));
    }
    at += 2;
    let (mut chassis, mut port, mut ttl) = (None, None, None);
    let mut neighbor_extra = (None, None, None);
    let mut management_address = None;
    while at + 2 <= frame.len() {
        let header = u16::from_be_bytes([frame[at], frame[at + 1]]);
        let (kind, len) = ((header >> 9) as u8, usize::from(header & 0x1ff));
        let value = frame.get(at + 2..at + 2 + len).ok_or(LldpError::Truncated(at))?;
        match kind {
            TLV_END => break,
            TLV_CHASSIS_ID => chassis = id_value(value, CHASSIS_MAC, CHASSIS_NETWORK_ADDRESS),
            TLV_PORT_ID => port = id_value(value, PORT_MAC, PORT_NETWORK_ADDRESS),
            TLV_TTL if len >= 2 => ttl = Some(u16::from_be_bytes([value[0], value[1]])),
            TLV_PORT_DESCRIPTION => neighbor_extra.0 = Some(text(value)),
            TLV_SYSTEM_NAME => neighbor_extra.1 = Some(text(value)),
            TLV_SYSTEM_DESCRIPTION => neighbor_extra.2 = Some(text(value)),
            TLV_MANAGEMENT_ADDRESS if management_address.is_none() => management_address = ip_address(value),
            _ => {} // capabilities, organisationally specific, further management addresses: not needed
        }
        at += 2 + len;
    }
    Ok(LldpFrame {
        source,
        ttl_secs: ttl.ok_or(LldpError::Missing("TTL"))?,
        neighbor: LldpNeighbor {
            chassis_id: chassis.ok_or(LldpError::Missing("chassis ID"))?,
            port_id: port.ok_or(LldpError::Missing("port ID"))?,
            port_description: neighbor_extra.0,
            system_name: neighbor_extra.1,
            system_description: neighbor_extra.2,
            management_address,
        },
    })
}

/// A chassis or port ID: subtype byte then the ID, shown as a MAC, an address, or text.
fn id_value(value: &[u8], mac_subtype: u8, address_subtype: u8) -> Option<String> {
    let (&subtype, id) = value.split_first()?;
    if subtype == mac_subtype
        && let Some(mac) = MacAddr::from_slice(id).filter(|_| id.len() == 6)
    {
        return Some(mac.to_string());
    }
    if subtype == address_subtype
        && let [1, a, b, c, d] = id
    {
        return Some(std::net::Ipv4Addr::new(*a, *b, *c, *d).to_string());
    }
    Some(text(id))
}

/// The address of a Management Address TLV (802.1AB §8.5.9) when it is IPv4 or IPv6: its value starts
/// with the address string's length (the family byte and the address), the family, then the address;
/// the interface number and OID that follow are not needed. Other families (an 802 MAC, say) and a
/// length that disagrees with the family or runs past the TLV give `None`.
fn ip_address(value: &[u8]) -> Option<String> {
    let (&string_len, rest) = value.split_first()?;
    let (&family, address) = rest.get(..usize::from(string_len))?.split_first()?;
    match (family, address.len()) {
        (FAMILY_IPV4, 4) => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(address).ok()?).to_string()),
        (FAMILY_IPV6, 16) => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(address).ok()?).to_string()),
        _ => None,
    }
}

fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).trim_end_matches('\0').trim().to_owned()
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "frame_captured.rs"]
mod captured;
