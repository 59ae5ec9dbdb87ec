//! Decoding a datagram into a DHCP message and classifying its sender: message type, MAC, and what
//! kind of boot client it is (plain DHCP, firmware PXE, UEFI HTTP boot, iPXE) with its architecture.
//! Anything malformed becomes a [`DropReason`]; nothing here may panic on hostile input.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, HType, Message, MessageType, Opcode, OptionCode};
use rackhand_api::MacAddr;

use super::raw;
use super::socket::PortKind;

/// iPXE's "encapsulated options" option: its presence marks iPXE.
pub(crate) const IPXE_ENCAP: u8 = 175;
/// Relay Agent Information (RFC 3046).
pub(crate) const RELAY_AGENT_INFO: u8 = 82;

/// Why a packet got no answer. Also the `reason` label of the drop counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Too short, no magic cookie, or dhcproto refused it.
    Malformed,
    NotBootRequest,
    /// Hardware type not Ethernet or address length not 6.
    BadHardware,
    /// A broadcast, multicast or all-zero client hardware address: no NIC sends from one, and none may
    /// become a node (spoofed packets would fill the node table).
    NotUnicast,
    NoMessageType,
    /// A message type a server does not answer (OFFER, ACK, lease query, ...).
    Unsupported,
    /// Non-relayed on an interface without an address in a configured subnet, or a relay
    /// address in no configured subnet.
    NoSubnet,
    /// A registered-only subnet and a MAC nobody registered.
    NotRegistered,
    PoolExhausted,
    /// A SELECTING REQUEST naming another server.
    OtherServer,
    /// A REQUEST with neither a requested address nor ciaddr.
    NoAddress,
    /// RELEASE or DECLINE of an address the client does not hold.
    UnknownLease,
    /// proxyDHCP: not a PXE client, or a message the real DHCP server answers.
    NotPxe,
    NotOurs,
    /// proxyDHCP: a PXE client of an architecture we have no boot file for.
    UnknownArch,
    /// Something other than a REQUEST on the proxy port.
    WrongPort,
    /// Even trimmed of every optional option, the reply is larger than the client accepts (option 57,
    /// or 576 octets): a boot file URL too long for it.
    ReplyTooLarge,
    /// The lease could not be persisted, so it is not ACKed.
    StoreError,
    /// The address was bound to this client here, but the store found another MAC holding it (another
    /// instance bound it first): the ACK is withheld and the holder learnt, so the client's retry is
    /// answered with a NAK or another address.
    AddressTaken,
    /// Another instance on the segment answers this client (its MAC hashes to that instance's share,
    /// and that instance is alive: `share.rs`).
    PeerShare,
    /// The decision loop is behind: the socket's receive buffer was full and the kernel dropped the
    /// packet (its `SO_RXQ_OVFL` count, read with the next packet taken from that socket).
    Overload,
    SendError,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NotBootRequest => "not_boot_request",
            DropReason::BadHardware => "bad_hardware",
            DropReason::NotUnicast => "not_unicast",
            DropReason::NoMessageType => "no_message_type",
            DropReason::Unsupported => "unsupported_message",
            DropReason::NoSubnet => "no_subnet",
            DropReason::NotRegistered => "not_registered",
            DropReason::PoolExhausted => "pool_exhausted",
            DropReason::OtherServer => "other_server",
            DropReason::NoAddress => "no_address",
            DropReason::UnknownLease => "unknown_lease",
            DropReason::NotPxe => "not_pxe",
            DropReason::NotOurs => "not_ours",
            DropReason::UnknownArch => "unknown_arch",
            DropReason::WrongPort => "wrong_port",
            DropReason::ReplyTooLarge => "reply_too_large",
            DropReason::StoreError => "store_error",
            DropReason::AddressTaken => "address_taken",
            DropReason::PeerShare => "peer_share",
            DropReason::Overload => "overload",
            DropReason::SendError => "send_error",
        }
    }
}

/// What kind of boot client sent the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientClass {
    /// An ordinary DHCP client (an OS, a BMC, the installer itself).
    Plain,
    /// Firmware PXE: vendor class `PXEClient...`.
    Pxe,
    /// UEFI HTTP boot: vendor class `HTTPClient...`.
    HttpBoot,
    /// iPXE: user class `iPXE` or option 175 present.
    Ipxe,
}

impl ClientClass {
    pub fn is_boot_client(self) -> bool {
        self != ClientClass::Plain
    }
}

/// The facts about a request the decision needs, taken out of the message once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub mac: MacAddr,
    pub msg_type: MessageType,
    pub class: ClientClass,
    /// Option 93, or the `Arch:NNNNN` field of a PXE vendor class.
    pub arch: Option<u16>,
}

/// A decoded, classified request and where it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub message: Message,
    pub client: ClientInfo,
    /// The receiving interface's address in a configured subnet (`None`: it has none).
    pub iface_addr: Option<Ipv4Addr>,
    pub port: PortKind,
    pub source: SocketAddrV4,
    /// Option 82 as the relay sent it, byte for byte (every reply to the relay echoes it).
    pub relay_info: Option<Vec<u8>>,
}

impl Request {
    pub fn parse(
        bytes: &[u8],
        iface_addr: Option<Ipv4Addr>,
        port: PortKind,
        source: SocketAddrV4,
    ) -> Result<Request, DropReason> {
        let message = raw::decode(bytes)?;
        let client = classify(&message)?;
        // The datagram's own bytes, not dhcproto's re-sorted sub-options.
        let relay_info = raw::option_data(bytes, RELAY_AGENT_INFO);
        Ok(Request { message, client, iface_addr, port, source, relay_info })
    }

    /// Option 57, the largest DHCP message the client accepts.
    pub(super) fn max_message_size(&self) -> Option<u16> {
        match self.message.opts().get(OptionCode::MaxMessageSize) {
            Some(DhcpOption::MaxMessageSize(size)) => Some(*size),
            _ => None,
        }
    }

    pub(super) fn requested_ip(&self) -> Option<Ipv4Addr> {
        match self.message.opts().get(OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
            _ => None,
        }
    }

    pub(super) fn server_id(&self) -> Option<Ipv4Addr> {
        match self.message.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        }
    }

    pub(super) fn relayed(&self) -> bool {
        !self.message.giaddr().is_unspecified()
    }

    /// The address that says which subnet the client is on: the relay's giaddr, else the address of the
    /// interface the request came in on.
    pub(super) fn subnet_addr(&self) -> Option<Ipv4Addr> {
        if self.relayed() { Some(self.message.giaddr()) } else { self.iface_addr }
    }
}

/// Check that a message is a request we could answer and pull out what the decision needs.
pub fn classify(message: &Message) -> Result<ClientInfo, DropReason> {
    if message.opcode() != Opcode::BootRequest {
        return Err(DropReason::NotBootRequest);
    }
    // `hlen` is checked before `chaddr()`, which slices by it.
    if message.htype() != HType::Eth || message.hlen() != 6 {
        return Err(DropReason::BadHardware);
    }
    let mac = MacAddr::from_slice(message.chaddr()).ok_or(DropReason::BadHardware)?;
    if !mac.is_unicast() {
        return Err(DropReason::NotUnicast);
    }
    let msg_type = message.opts().msg_type().ok_or(DropReason::NoMessageType)?;
    let opts = message.opts();
    let vendor_class = match opts.get(OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(class)) => class.as_slice(),
        _ => &[],
    };
    let user_class_ipxe = matches!(
        opts.get(OptionCode::UserClass),
        Some(DhcpOption::UserClass(class)) if class.windows(4).any(|w| w == b"iPXE")
    );
    let class = if user_class_ipxe || opts.contains(OptionCode::Unknown(IPXE_ENCAP)) {
        ClientClass::Ipxe
    } else if vendor_class.starts_with(b"HTTPClient") {
        ClientClass::HttpBoot
    } else if vendor_class.starts_with(b"PXEClient") {
        ClientClass::Pxe
    } else {
        ClientClass::Plain
    };
    let arch = match opts.get(OptionCode::ClientSystemArchitecture) {
        Some(DhcpOption::ClientSystemArchitecture(arch)) => Some(arch.0),
        _ => arch_from_vendor_class(vendor_class),
    };
    Ok(ClientInfo { mac, msg_type, class, arch })
}

/// `PXEClient:Arch:00007:UNDI:003016` → 7.
fn arch_from_vendor_class(class: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(class).ok()?;
    let mut fields = text.split(':');
    fields.find(|f| *f == "Arch")?;
    fields.next()?.parse().ok()
}

/// The message type as a metric label.
pub(crate) fn type_label(msg_type: MessageType) -> &'static str {
    match msg_type {
        MessageType::Discover => "discover",
        MessageType::Offer => "offer",
        MessageType::Request => "request",
        MessageType::Decline => "decline",
        MessageType::Ack => "ack",
        MessageType::Nak => "nak",
        MessageType::Release => "release",
        MessageType::Inform => "inform",
        _ => "other",
    }
}
