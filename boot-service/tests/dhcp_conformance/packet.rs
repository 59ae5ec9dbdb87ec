//! Requests built with dhcproto (plus raw options where dhcproto would rewrite them), and replies read
//! from their bytes: the BOOTP header by offset, the options in the order they arrived.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, Ordering};

use dhcproto::Encodable;
use dhcproto::v4::{Architecture, DhcpOption, Message, MessageType, OptionCode, UnknownOption};

static XID: AtomicU32 = AtomicU32::new(0x5eed_0000);

/// The machine UUID PXE firmware sends in option 97 (type 0 + 16 bytes).
pub const UUID: [u8; 17] = [0, 0xa1, 0xa2, 0xa3, 0xa4, 0xb1, 0xb2, 0xc1, 0xc2, 0xd1, 0xd2, 1, 2, 3, 4, 5, 6];

/// A request under construction.
pub struct Msg {
    msg: Message,
    /// Options written as these bytes before END: dhcproto would re-sort option 82's sub-options.
    raw: Vec<u8>,
}

impl Msg {
    pub fn new(mac: [u8; 6], msg_type: MessageType) -> Msg {
        let xid = XID.fetch_add(1, Ordering::Relaxed);
        let unspecified = Ipv4Addr::UNSPECIFIED;
        let mut msg = Message::new_with_id(xid, unspecified, unspecified, unspecified, unspecified, &mac);
        msg.opts_mut().insert(DhcpOption::MessageType(msg_type));
        Msg { msg, raw: Vec::new() }
    }

    pub fn xid(&self) -> u32 {
        self.msg.xid()
    }

    pub fn opt(mut self, opt: DhcpOption) -> Msg {
        self.msg.opts_mut().insert(opt);
        self
    }

    pub fn requested(self, ip: Ipv4Addr) -> Msg {
        self.opt(DhcpOption::RequestedIpAddress(ip))
    }

    pub fn server_id(self, ip: Ipv4Addr) -> Msg {
        self.opt(DhcpOption::ServerIdentifier(ip))
    }

    pub fn ciaddr(mut self, ip: Ipv4Addr) -> Msg {
        self.msg.set_ciaddr(ip);
        self
    }

    /// As a relay forwards it: giaddr set, one hop, option 82 (these bytes) appended last.
    pub fn relayed(mut self, giaddr: Ipv4Addr, relay_info: &[u8]) -> Msg {
        self.msg.set_giaddr(giaddr).set_hops(1);
        self.raw.extend([82, u8::try_from(relay_info.len()).unwrap()]);
        self.raw.extend_from_slice(relay_info);
        self
    }

    /// BIOS or UEFI firmware PXE: vendor class, 93, 94 and (when `uuid`) 97.
    pub fn pxe(self, arch: u16, uuid: bool) -> Msg {
        let class = format!("PXEClient:Arch:{arch:05}:UNDI:002001");
        let msg = self
            .opt(DhcpOption::ClassIdentifier(class.into_bytes()))
            .opt(DhcpOption::ClientSystemArchitecture(Architecture(arch)))
            .opt(DhcpOption::ClientNetworkInterface(1, 2, 1));
        if uuid { msg.opt(DhcpOption::ClientMachineIdentifier(UUID.to_vec())) } else { msg }
    }

    /// iPXE as undionly.kpxe sends it: PXE vendor class and 97, user class `iPXE`, its option 175.
    pub fn ipxe(self) -> Msg {
        self.pxe(0, true).opt(DhcpOption::UserClass(b"iPXE".to_vec())).opt(DhcpOption::Unknown(UnknownOption::new(
            OptionCode::Unknown(175),
            vec![177, 5, 1, 0x10, 0xec, 0x80, 0x00],
        )))
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut bytes = self.msg.to_vec().expect("encodes");
        if !self.raw.is_empty() {
            assert_eq!(bytes.pop(), Some(255), "dhcproto ends the options with END");
            bytes.extend(&self.raw);
            bytes.push(255);
        }
        bytes
    }
}

/// A datagram as it arrived.
#[derive(Debug, Clone)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub from: SocketAddrV4,
    /// The IP header's destination: 255.255.255.255 for a broadcast.
    pub to: Ipv4Addr,
}

impl Reply {
    fn ip_at(&self, at: usize) -> Ipv4Addr {
        Ipv4Addr::new(self.bytes[at], self.bytes[at + 1], self.bytes[at + 2], self.bytes[at + 3])
    }

    pub fn is_reply(&self) -> bool {
        self.bytes.len() >= 240 && self.bytes[0] == 2
    }

    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(self.bytes[4..8].try_into().unwrap())
    }

    pub fn broadcast_flag(&self) -> bool {
        self.bytes[10] & 0x80 != 0
    }

    pub fn ciaddr(&self) -> Ipv4Addr {
        self.ip_at(12)
    }

    pub fn yiaddr(&self) -> Ipv4Addr {
        self.ip_at(16)
    }

    pub fn siaddr(&self) -> Ipv4Addr {
        self.ip_at(20)
    }

    pub fn giaddr(&self) -> Ipv4Addr {
        self.ip_at(24)
    }

    pub fn chaddr(&self) -> [u8; 6] {
        self.bytes[28..34].try_into().unwrap()
    }

    /// The `file` header field up to its first NUL.
    pub fn file(&self) -> String {
        let field = &self.bytes[108..236];
        String::from_utf8_lossy(field.split(|&b| b == 0).next().unwrap()).into_owned()
    }

    /// The options in wire order as (code, data), up to END; fails without the magic cookie or END.
    pub fn options(&self) -> Vec<(u8, Vec<u8>)> {
        assert_eq!(self.bytes[236..240], [99, 130, 83, 99], "magic cookie");
        let mut opts = &self.bytes[240..];
        let mut found = Vec::new();
        loop {
            match opts {
                [255, ..] => return found,
                [0, rest @ ..] => opts = rest,
                [code, len, rest @ ..] if rest.len() >= usize::from(*len) => {
                    found.push((*code, rest[..usize::from(*len)].to_vec()));
                    opts = &rest[usize::from(*len)..];
                }
                _ => panic!("options end without END: {:?}", self.bytes),
            }
        }
    }

    /// Option `code`'s data (long options joined, RFC 3396).
    pub fn option(&self, code: u8) -> Option<Vec<u8>> {
        let data: Vec<Vec<u8>> = self.options().into_iter().filter(|(c, _)| *c == code).map(|(_, d)| d).collect();
        (!data.is_empty()).then(|| data.concat())
    }

    pub fn has(&self, code: u8) -> bool {
        self.option(code).is_some()
    }

    pub fn msg_type(&self) -> MessageType {
        let data = self.option(53).expect("option 53");
        assert_eq!(data.len(), 1, "option 53 is one byte");
        MessageType::from(data[0])
    }

    pub fn ip_option(&self, code: u8) -> Option<Ipv4Addr> {
        self.option(code).map(|d| Ipv4Addr::new(d[0], d[1], d[2], d[3]))
    }

    pub fn u32_option(&self, code: u8) -> Option<u32> {
        self.option(code).map(|d| u32::from_be_bytes(d[..4].try_into().unwrap()))
    }
}
