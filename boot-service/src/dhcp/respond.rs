//! The decision: one pure function from a request, the configuration and the lease table to an
//! [`Outcome`]. Full mode lives here; proxyDHCP and the proxy port are in `proxy.rs`.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{Message, MessageType};
use rackhand_api::MacAddr;

use super::bootfile::BootTarget;
use super::decision::{Context, Destination, Outcome, admit};
use super::leases::{LeaseChange, LeaseTable};
use super::request::{DropReason, Request};
use super::socket::PortKind;
use super::{fit, options, proxy};
use crate::config::{DhcpMode, Subnet};
use crate::store::Lease;

/// Decide what to do about `request`. Pure: reads `leases`, changes nothing. Every reply leaves
/// through `fit::finish`: option 82 echoed, trimmed to the client's maximum message size.
pub fn respond(request: &Request, ctx: &Context, leases: &LeaseTable, now: i64) -> Outcome {
    fit::finish(request, decide(request, ctx, leases, now))
}

fn decide(request: &Request, ctx: &Context, leases: &LeaseTable, now: i64) -> Outcome {
    let Some((index, subnet)) = request
        .subnet_addr()
        .and_then(|addr| ctx.dhcp.subnets.iter().enumerate().find(|(_, s)| s.network.contains(&addr)))
    else {
        return Outcome::dropped(DropReason::NoSubnet);
    };
    if request.port == PortKind::Proxy {
        return proxy::respond_proxy_port(request, ctx, subnet);
    }
    if ctx.dhcp.mode == DhcpMode::Proxy {
        return proxy::respond_server_port(request, ctx, subnet);
    }
    let full = Full { request, ctx, leases, now, index, subnet };
    match request.client.msg_type {
        MessageType::Discover => full.discover(),
        MessageType::Request => full.request(),
        MessageType::Release => full.release(),
        MessageType::Decline => full.decline(),
        MessageType::Inform => full.inform(),
        _ => Outcome::dropped(DropReason::Unsupported),
    }
}

/// Full mode: we own the subnet's addresses.
struct Full<'a> {
    request: &'a Request,
    ctx: &'a Context<'a>,
    leases: &'a LeaseTable,
    now: i64,
    index: usize,
    subnet: &'a Subnet,
}

impl Full<'_> {
    fn mac(&self) -> MacAddr {
        self.request.client.mac
    }

    fn discover(&self) -> Outcome {
        let (target, enroll) = match admit(self.request, self.ctx, self.subnet, true) {
            Ok(admitted) => admitted,
            Err(reason) => return Outcome::dropped(reason),
        };
        let requested = self.request.requested_ip();
        let Some(ip) = self.leases.allocate(self.index, self.mac(), requested, self.now) else {
            return Outcome::dropped(DropReason::PoolExhausted);
        };
        let mut offer = self.answer(MessageType::Offer, &target, Some(ip));
        options::add_lease_times(&mut offer, self.subnet.lease_secs);
        let mut outcome = Outcome::reply(offer, self.destination(), &target);
        outcome.lease = Some(LeaseChange::Offer { ip, mac: self.mac() });
        outcome.enroll = enroll.map(|within| (self.mac(), within));
        outcome
    }

    fn request(&self) -> Outcome {
        let ciaddr = self.request.message.ciaddr();
        let ciaddr = (!ciaddr.is_unspecified()).then_some(ciaddr);
        let ip = match self.request.server_id() {
            // SELECTING: the client picked another server's offer; forget ours, say nothing.
            Some(server) if server != self.ctx.advertise => {
                return Outcome {
                    lease: Some(LeaseChange::ForgetOffer { mac: self.mac() }),
                    ..Outcome::dropped(DropReason::OtherServer)
                };
            }
            // SELECTING (ours) and INIT-REBOOT name the address in option 50; RENEWING and
            // REBINDING in ciaddr.
            _ => self.request.requested_ip().or(ciaddr),
        };
        let Some(ip) = ip else {
            return Outcome::dropped(DropReason::NoAddress);
        };
        let (target, enroll) = match admit(self.request, self.ctx, self.subnet, true) {
            Ok(admitted) => admitted,
            Err(reason) => return Outcome::dropped(reason),
        };
        if !self.subnet.network.contains(&ip) || !self.leases.may_bind(self.index, self.mac(), ip, self.now) {
            let why = format!("{ip} is not available to this client");
            let nak = options::nak(&self.request.message, self.ctx.advertise, &why);
            return Outcome::reply(nak, self.nak_destination(), &BootTarget::None);
        }
        let hostname = self.hostname(ip);
        let mut ack = self.answer(MessageType::Ack, &target, Some(ip));
        options::add_lease_times(&mut ack, self.subnet.lease_secs);
        let lease = Lease { ip, mac: self.mac(), expires_at: self.now + i64::from(self.subnet.lease_secs), hostname };
        let mut outcome = Outcome::reply(ack, self.destination(), &target);
        outcome.lease = Some(LeaseChange::Bind(lease));
        outcome.enroll = enroll.map(|within| (self.mac(), within));
        outcome.sighting = self.request.client.class.is_boot_client().then_some(ip);
        outcome
    }

    fn release(&self) -> Outcome {
        let ip = self.request.message.ciaddr();
        if !self.leases.holds(self.mac(), ip) {
            return Outcome::dropped(DropReason::UnknownLease);
        }
        Outcome { lease: Some(LeaseChange::Release { ip, mac: self.mac() }), ..Outcome::default() }
    }

    fn decline(&self) -> Outcome {
        let Some(ip) = self.request.requested_ip() else {
            return Outcome::dropped(DropReason::NoAddress);
        };
        if !self.leases.holds(self.mac(), ip) {
            return Outcome::dropped(DropReason::UnknownLease);
        }
        Outcome { lease: Some(LeaseChange::Decline { ip, mac: self.mac() }), ..Outcome::default() }
    }

    /// INFORM: the client has an address already; network and boot options only.
    fn inform(&self) -> Outcome {
        let (target, enroll) = match admit(self.request, self.ctx, self.subnet, true) {
            Ok(admitted) => admitted,
            Err(reason) => return Outcome::dropped(reason),
        };
        let mut ack = self.answer(MessageType::Ack, &target, None);
        ack.set_ciaddr(self.request.message.ciaddr());
        let mut outcome = Outcome::reply(ack, self.destination(), &target);
        outcome.enroll = enroll.map(|within| (self.mac(), within));
        outcome
    }

    /// OFFER or ACK with network and boot options (lease times are added by the caller).
    fn answer(&self, msg_type: MessageType, target: &BootTarget, yiaddr: Option<Ipv4Addr>) -> Message {
        let mut reply = options::reply_to(&self.request.message, msg_type, self.ctx.advertise);
        if let Some(ip) = yiaddr {
            reply.set_yiaddr(ip).set_ciaddr(self.request.message.ciaddr());
        }
        let hostname = yiaddr.and_then(|ip| self.hostname(ip));
        options::add_network(&mut reply, self.subnet, hostname.as_deref());
        options::add_boot(&mut reply, target, self.ctx.advertise);
        options::add_firmware(&mut reply, &self.request.message, target);
        reply
    }

    fn hostname(&self, ip: Ipv4Addr) -> Option<String> {
        match self.subnet.reservation_for(self.mac()) {
            Some(r) if r.ip == ip => r.hostname.clone(),
            _ => None,
        }
    }

    /// Relay → giaddr:server port; a client with an address → ciaddr:client port; else broadcast.
    fn destination(&self) -> Destination {
        let message = &self.request.message;
        let port = self.ctx.dhcp.port;
        if self.request.relayed() {
            Destination::Unicast(SocketAddrV4::new(message.giaddr(), port))
        } else if !message.ciaddr().is_unspecified() {
            Destination::Unicast(SocketAddrV4::new(message.ciaddr(), port.wrapping_add(1)))
        } else {
            Destination::Broadcast
        }
    }

    /// NAKs are broadcast unless relayed (the client may not own ciaddr any more).
    fn nak_destination(&self) -> Destination {
        let port = self.ctx.dhcp.port;
        if self.request.relayed() {
            Destination::Unicast(SocketAddrV4::new(self.request.message.giaddr(), port))
        } else {
            Destination::Broadcast
        }
    }
}
