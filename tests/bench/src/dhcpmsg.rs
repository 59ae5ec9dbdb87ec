//! The DHCP messages of a simulated iPXE client (boot storm, lease durability check), built and read
//! with dhcproto.

use std::net::Ipv4Addr;

use dhcproto::v4::{Architecture, DhcpOption, Flags, Message, MessageType};
use dhcproto::{Decodable, Encodable};

/// A distinct, locally administered MAC for simulated client `n`.
pub fn client_mac(n: u32) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0xbe, b[0], b[1], b[2], b[3]]
}

/// A DISCOVER (no `requested`) or REQUEST as iPXE sends it: PXE vendor class, arch 0, user class `iPXE`.
/// A REQUEST without `server_id` is the INIT-REBOOT kind (asking for a known lease back).
pub fn ipxe_message(
    mac: [u8; 6],
    xid: u32,
    msg_type: MessageType,
    requested: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
) -> Vec<u8> {
    let zero = Ipv4Addr::UNSPECIFIED;
    let mut msg = Message::new_with_id(xid, zero, zero, zero, zero, &mac);
    msg.set_flags(Flags::default().set_broadcast());
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(msg_type));
    opts.insert(DhcpOption::ClassIdentifier(b"PXEClient:Arch:00000:UNDI:002001".to_vec()));
    opts.insert(DhcpOption::ClientSystemArchitecture(Architecture(0)));
    opts.insert(DhcpOption::UserClass(b"iPXE".to_vec()));
    if let Some(ip) = requested {
        opts.insert(DhcpOption::RequestedIpAddress(ip));
    }
    if let Some(ip) = server_id {
        opts.insert(DhcpOption::ServerIdentifier(ip));
    }
    msg.to_vec().expect("a message we built always encodes")
}

/// What a client needs from a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub xid: u32,
    pub mac: [u8; 6],
    pub msg_type: MessageType,
    pub yiaddr: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    /// Option 67 or the `file` field: where iPXE goes next.
    pub bootfile: Option<String>,
}

/// Decode a server reply; `None` for anything that is not a BOOTREPLY with a message type.
pub fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    let msg = Message::from_bytes(bytes).ok()?;
    if msg.opcode() != dhcproto::v4::Opcode::BootReply {
        return None;
    }
    let msg_type = msg.opts().msg_type()?;
    let server_id = msg.opts().iter().find_map(|(_, o)| match o {
        DhcpOption::ServerIdentifier(ip) => Some(*ip),
        _ => None,
    });
    let bootfile = msg
        .opts()
        .iter()
        .find_map(|(_, o)| match o {
            DhcpOption::BootfileName(name) => Some(String::from_utf8_lossy(name).trim_end_matches('\0').to_owned()),
            _ => None,
        })
        .or_else(|| {
            let file = msg.fname().unwrap_or_default();
            let name = String::from_utf8_lossy(file).trim_end_matches('\0').to_owned();
            (!name.is_empty()).then_some(name)
        });
    let mac: [u8; 6] = msg.chaddr().get(..6)?.try_into().ok()?;
    Some(Reply { xid: msg.xid(), mac, msg_type, yiaddr: msg.yiaddr(), server_id, bootfile })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_distinct_and_local() {
        assert_eq!(client_mac(0x0102), [0x02, 0xbe, 0, 0, 1, 2]);
        assert_ne!(client_mac(1), client_mac(2));
        assert_eq!(client_mac(7)[0] & 0x02, 0x02, "locally administered");
    }

    #[test]
    fn a_reply_is_read_back() {
        let mac = client_mac(9);
        let ip = Ipv4Addr::new(10, 201, 1, 9);
        let server = Ipv4Addr::new(10, 201, 0, 1);
        let mut msg = Message::new_with_id(77, Ipv4Addr::UNSPECIFIED, ip, server, Ipv4Addr::UNSPECIFIED, &mac);
        msg.set_opcode(dhcproto::v4::Opcode::BootReply);
        msg.opts_mut().insert(DhcpOption::MessageType(MessageType::Offer));
        msg.opts_mut().insert(DhcpOption::ServerIdentifier(server));
        msg.opts_mut().insert(DhcpOption::BootfileName(b"http://10.201.0.1/boot/x.ipxe".to_vec()));
        let reply = parse_reply(&msg.to_vec().unwrap()).unwrap();
        assert_eq!(reply.xid, 77);
        assert_eq!(reply.mac, mac);
        assert_eq!((reply.msg_type, reply.yiaddr, reply.server_id), (MessageType::Offer, ip, Some(server)));
        assert_eq!(reply.bootfile.as_deref(), Some("http://10.201.0.1/boot/x.ipxe"));
    }

    #[test]
    fn requests_are_not_replies() {
        let request = ipxe_message(client_mac(1), 5, MessageType::Request, Some(Ipv4Addr::LOCALHOST), None);
        assert_eq!(parse_reply(&request), None);
        let parsed = Message::from_bytes(&request).unwrap();
        assert_eq!(parsed.opts().msg_type(), Some(MessageType::Request));
        assert!(parsed.flags().broadcast());
    }
}
