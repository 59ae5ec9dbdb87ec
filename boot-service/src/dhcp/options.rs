//! Building replies: the BOOTP header copied from the request, the server options, the subnet's
//! network options, lease times, and the boot options for each kind of boot client.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode, UnknownOption};

use super::bootfile::BootTarget;
use super::request::IPXE_ENCAP;
use crate::config::Subnet;

/// PXE vendor sub-option 6 (PXE_DISCOVERY_CONTROL) = 8: skip boot-server discovery and boot the
/// file named in the offer (what pixiecore sends); then the end marker.
pub const PXE_VENDOR_OPTIONS: [u8; 4] = [6, 1, 8, 255];
/// iPXE encapsulated option 176 (no-pxedhcp) = 1: do not wait for a ProxyDHCP offer.
pub const IPXE_NO_PXEDHCP: [u8; 3] = [176, 1, 1];
/// The `file` header field holds 128 bytes including the terminating NUL.
const FILE_FIELD_MAX: usize = 127;

/// A reply to `request` of type `msg_type` from `server_id`: same xid, flags, giaddr and chaddr;
/// `siaddr` (next server) = `server_id`.
pub fn reply_to(request: &Message, msg_type: MessageType, server_id: Ipv4Addr) -> Message {
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut reply =
        Message::new_with_id(request.xid(), unspecified, unspecified, server_id, request.giaddr(), request.chaddr());
    reply.set_opcode(Opcode::BootReply).set_htype(HType::Eth).set_flags(request.flags());
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::MessageType(msg_type));
    opts.insert(DhcpOption::ServerIdentifier(server_id));
    reply
}

/// A NAK: no addresses, no boot options. Relayed NAKs ask the relay to broadcast.
pub fn nak(request: &Message, server_id: Ipv4Addr, why: &str) -> Message {
    let mut reply = reply_to(request, MessageType::Nak, server_id);
    reply.set_siaddr(Ipv4Addr::UNSPECIFIED);
    if !request.giaddr().is_unspecified() {
        reply.set_flags(Flags::default().set_broadcast());
    }
    reply.opts_mut().insert(DhcpOption::Message(why.to_owned()));
    reply
}

/// Subnet mask, router, DNS, domain and (from a reservation or lease) the host name.
pub fn add_network(reply: &mut Message, subnet: &Subnet, hostname: Option<&str>) {
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::SubnetMask(subnet.network.netmask()));
    if let Some(router) = subnet.router {
        opts.insert(DhcpOption::Router(vec![router]));
    }
    if !subnet.dns.is_empty() {
        opts.insert(DhcpOption::DomainNameServer(subnet.dns.clone()));
    }
    if let Some(domain) = &subnet.domain {
        opts.insert(DhcpOption::DomainName(domain.clone()));
    }
    if let Some(hostname) = hostname {
        opts.insert(DhcpOption::Hostname(hostname.to_owned()));
    }
}

/// Lease time with T1 at half and T2 at seven eighths of it.
pub fn add_lease_times(reply: &mut Message, lease_secs: u32) {
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::AddressLeaseTime(lease_secs));
    opts.insert(DhcpOption::Renewal(lease_secs / 2));
    let rebinding = u32::try_from(u64::from(lease_secs) * 7 / 8).expect("seven eighths of a u32 fit in a u32");
    opts.insert(DhcpOption::Rebinding(rebinding));
}

/// Boot options for `target`. `server` names the TFTP server (option 66).
pub fn add_boot(reply: &mut Message, target: &BootTarget, server: Ipv4Addr) {
    let Some(file) = target.file() else {
        return;
    };
    if file.len() <= FILE_FIELD_MAX {
        reply.set_fname_str(file);
    }
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::TFTPServerName(server.to_string().into_bytes()));
    opts.insert(DhcpOption::BootfileName(file.as_bytes().to_vec()));
    match target {
        BootTarget::Http(_) => {
            opts.insert(DhcpOption::ClassIdentifier(b"HTTPClient".to_vec()));
        }
        BootTarget::IpxeScript(_) => {
            opts.insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::Unknown(IPXE_ENCAP),
                IPXE_NO_PXEDHCP.to_vec(),
            )));
        }
        _ => {}
    }
}

/// Full mode: a firmware client's reply (PXE, UEFI HTTP boot) carries what a proxyDHCP answer does
/// (60, 43, 97; dnsmasq does the same), so firmware that wants a PXE offer takes ours. iPXE's replies get
/// none of it: option 60 `PXEClient` would send iPXE looking for a ProxyDHCP server on 4011.
pub fn add_firmware(reply: &mut Message, request: &Message, target: &BootTarget) {
    if matches!(target, BootTarget::Tftp(_) | BootTarget::Http(_)) {
        add_proxy(reply, request, target);
    }
}

/// What a proxyDHCP answer adds so firmware accepts it as a PXE offer: option 60 `PXEClient`
/// (`HTTPClient` already set for HTTP boot), option 43 discovery control, option 97 echoed.
pub fn add_proxy(reply: &mut Message, request: &Message, target: &BootTarget) {
    let opts = reply.opts_mut();
    if !matches!(target, BootTarget::Http(_)) {
        opts.insert(DhcpOption::ClassIdentifier(b"PXEClient".to_vec()));
        opts.insert(DhcpOption::VendorExtensions(PXE_VENDOR_OPTIONS.to_vec()));
    }
    if let Some(uuid @ DhcpOption::ClientMachineIdentifier(_)) = request.opts().get(OptionCode::ClientMachineIdentifier)
    {
        opts.insert(uuid.clone());
    }
}
