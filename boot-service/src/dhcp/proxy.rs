//! proxyDHCP (PXE spec §2.2.3): another server owns the addresses; we answer PXE clients' DISCOVERs
//! on the server port with an address-less offer naming the boot file, and their REQUESTs on the
//! proxy port (4011) with an ACK unicast back to the sender.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{Message, MessageType};

use super::bootfile::BootTarget;
use super::decision::{Context, Destination, Outcome, admit};
use super::options;
use super::request::{DropReason, Request};
use crate::config::Subnet;

/// proxyDHCP mode, server port: only DISCOVERs of boot clients get an (address-less) offer.
pub(super) fn respond_server_port(request: &Request, ctx: &Context, subnet: &Subnet) -> Outcome {
    if !request.client.class.is_boot_client() {
        return Outcome::dropped(DropReason::NotPxe);
    }
    if request.client.msg_type == MessageType::Request {
        // Between the client and the site's server, but broadcast: the address it asks for is the one
        // its iPXE script request will come from.
        let ciaddr = Some(request.message.ciaddr()).filter(|ip| !ip.is_unspecified());
        return Outcome { sighting: request.requested_ip().or(ciaddr), ..Outcome::dropped(DropReason::NotOurs) };
    }
    if request.client.msg_type != MessageType::Discover {
        // RELEASE, DECLINE, INFORM: between the client and the real DHCP server.
        return Outcome::dropped(DropReason::NotOurs);
    }
    let destination = if request.message.giaddr().is_unspecified() {
        Destination::Broadcast
    } else {
        Destination::Unicast(SocketAddrV4::new(request.message.giaddr(), ctx.dhcp.port))
    };
    proxy_answer(request, ctx, subnet, MessageType::Offer, destination)
}

/// The proxy port (4011), in either mode: a boot client's REQUEST gets an ACK with the boot file,
/// unicast back to where it came from.
pub(super) fn respond_proxy_port(request: &Request, ctx: &Context, subnet: &Subnet) -> Outcome {
    if !request.client.class.is_boot_client() {
        return Outcome::dropped(DropReason::NotPxe);
    }
    if request.client.msg_type != MessageType::Request {
        return Outcome::dropped(DropReason::WrongPort);
    }
    let destination = Destination::Unicast(request.source);
    let mut outcome = proxy_answer(request, ctx, subnet, MessageType::Ack, destination);
    if outcome.reply.is_some() {
        // The client has its address by now: in ciaddr, or as the source it sent from.
        let from = [request.message.ciaddr(), *request.source.ip()].into_iter().find(|ip| !ip.is_unspecified());
        outcome.sighting = from;
    }
    outcome
}

fn proxy_answer(
    request: &Request,
    ctx: &Context,
    subnet: &Subnet,
    msg_type: MessageType,
    destination: Destination,
) -> Outcome {
    let (target, enroll) = match admit(request, ctx, subnet, false) {
        Ok(admitted) => admitted,
        Err(reason) => return Outcome::dropped(reason),
    };
    if let BootTarget::UnknownArch(arch) = target {
        // Nothing to offer: without a boot file a proxy answer is only noise.
        return Outcome { unknown_arch: Some(arch), ..Outcome::dropped(DropReason::UnknownArch) };
    }
    let mut reply = proxy_reply(&request.message, msg_type, ctx.advertise, &target);
    if msg_type == MessageType::Ack {
        reply.set_ciaddr(request.message.ciaddr());
    }
    let mut outcome = Outcome::reply(reply, destination, &target);
    outcome.enroll = enroll.map(|within| (request.client.mac, within));
    outcome
}

/// No yiaddr; siaddr and option 54 = us; the boot options; 60, 43 and 97 for PXE firmware.
fn proxy_reply(request: &Message, msg_type: MessageType, advertise: Ipv4Addr, target: &BootTarget) -> Message {
    let mut reply = options::reply_to(request, msg_type, advertise);
    options::add_boot(&mut reply, target, advertise);
    options::add_proxy(&mut reply, request, target);
    reply
}
