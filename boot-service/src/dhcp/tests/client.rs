//! A request under construction, encoded and parsed back as the serve loop would.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::Encodable;
use dhcproto::v4::{Architecture, DhcpOption, Message, MessageType, OptionCode, UnknownOption};

use super::{CLIENT_PORT, LAB_IFACE, UUID};
use crate::dhcp::{PortKind, Request};

/// A request under construction.
pub struct Client {
    pub msg: Message,
    iface: Option<Ipv4Addr>,
    port: PortKind,
    source: SocketAddrV4,
    /// Options appended as raw bytes before END (dhcproto writes an option 82 of raw bytes twice).
    raw: Vec<u8>,
}

impl Client {
    pub fn new(mac: [u8; 6], msg_type: MessageType) -> Client {
        let unspecified = Ipv4Addr::UNSPECIFIED;
        let mut msg = Message::new_with_id(0x1234_5678, unspecified, unspecified, unspecified, unspecified, &mac);
        msg.opts_mut().insert(DhcpOption::MessageType(msg_type));
        Client {
            msg,
            iface: Some(LAB_IFACE),
            port: PortKind::Server,
            source: SocketAddrV4::new(unspecified, CLIENT_PORT),
            raw: Vec::new(),
        }
    }

    pub(super) fn opt(mut self, opt: DhcpOption) -> Client {
        self.msg.opts_mut().insert(opt);
        self
    }

    /// Firmware PXE of architecture `arch`, as it really sends it (vendor class, 93, 94, 97).
    pub fn pxe(self, arch: u16) -> Client {
        let class = format!("PXEClient:Arch:{arch:05}:UNDI:002001");
        self.opt(DhcpOption::ClassIdentifier(class.into_bytes()))
            .opt(DhcpOption::ClientSystemArchitecture(Architecture(arch)))
            .opt(DhcpOption::ClientNetworkInterface(1, 2, 1))
            .opt(DhcpOption::ClientMachineIdentifier(UUID.to_vec()))
    }

    pub fn http_boot(self, arch: u16) -> Client {
        let class = format!("HTTPClient:Arch:{arch:05}:UNDI:003000");
        self.opt(DhcpOption::ClassIdentifier(class.into_bytes()))
            .opt(DhcpOption::ClientSystemArchitecture(Architecture(arch)))
    }

    /// iPXE (undionly): PXE vendor class, user class `iPXE`, and its option 175.
    pub fn ipxe(self) -> Client {
        self.pxe(0).opt(DhcpOption::UserClass(b"iPXE".to_vec())).opt(DhcpOption::Unknown(UnknownOption::new(
            OptionCode::Unknown(175),
            vec![177, 5, 1, 0x10, 0xec, 0x80, 0x00],
        )))
    }

    /// Option 82 as a relay adds it: last, as these bytes.
    pub fn relay_info(mut self, info: &[u8]) -> Client {
        self.raw.extend([82, u8::try_from(info.len()).unwrap()]);
        self.raw.extend_from_slice(info);
        self
    }

    pub fn client_id(self, id: &[u8]) -> Client {
        self.opt(DhcpOption::ClientIdentifier(id.to_vec()))
    }

    pub fn max_message_size(self, size: u16) -> Client {
        self.opt(DhcpOption::MaxMessageSize(size))
    }

    pub fn vendor_class(self, class: &str) -> Client {
        self.opt(DhcpOption::ClassIdentifier(class.as_bytes().to_vec()))
    }

    pub fn requested(self, ip: Ipv4Addr) -> Client {
        self.opt(DhcpOption::RequestedIpAddress(ip))
    }

    pub fn server_id(self, ip: Ipv4Addr) -> Client {
        self.opt(DhcpOption::ServerIdentifier(ip))
    }

    pub fn ciaddr(mut self, ip: Ipv4Addr) -> Client {
        self.msg.set_ciaddr(ip);
        self
    }

    pub fn relayed_by(mut self, giaddr: Ipv4Addr) -> Client {
        self.msg.set_giaddr(giaddr);
        self.iface = None;
        self
    }

    pub fn on_iface(mut self, addr: Option<Ipv4Addr>) -> Client {
        self.iface = addr;
        self
    }

    pub fn via_proxy_port(mut self, from: SocketAddrV4) -> Client {
        self.port = PortKind::Proxy;
        self.source = from;
        self
    }

    /// Encode and parse back, as the loop would.
    pub fn build(self) -> Request {
        let mut bytes = self.msg.to_vec().expect("encodes");
        if !self.raw.is_empty() {
            assert_eq!(bytes.pop(), Some(255));
            bytes.extend(&self.raw);
            bytes.push(255);
        }
        Request::parse(&bytes, self.iface, self.port, self.source).expect("parses")
    }
}
