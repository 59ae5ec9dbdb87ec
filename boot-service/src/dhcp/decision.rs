//! What a DHCP decision reads and what it returns: its [`Context`] (everything but the request and the
//! leases: the configuration, and whether the request's MAC is registered, as data the serve loop looked
//! up), its [`Outcome`] (the effects as data: a reply and where it goes, a lease change, an enrolment, a
//! drop reason), and [`admit`], the enrolment policy full and proxy mode both apply. `respond.rs` (full
//! mode) and `proxy.rs` decide with these; none of them reads the store.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::Message;
use rackhand_api::MacAddr;

use super::bootfile::BootTarget;
use super::leases::LeaseChange;
use super::request::{DropReason, Request};
use crate::config::{BootConfig, Config, DhcpConfig, EnrolIn, Enrolment, Subnet};

/// Everything the decision reads besides the request and the leases.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub dhcp: &'a DhcpConfig,
    pub boot: &'a BootConfig,
    pub advertise: Ipv4Addr,
    pub public_url: &'a str,
    /// Whether a node has the request's MAC (the serve loop asks the node table once per packet).
    pub registration: Registration,
}

impl<'a> Context<'a> {
    /// The context of one request whose MAC is `registration`.
    pub fn new(config: &'a Config, registration: Registration) -> Self {
        Context {
            dhcp: &config.dhcp,
            boot: &config.boot,
            advertise: config.advertise,
            public_url: &config.http.public_url,
            registration,
        }
    }
}

/// What the node table says about a request's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// A node has it: registered through the API, or enrolled already.
    Registered,
    /// No node has it: a stranger.
    Unregistered,
}

impl Registration {
    /// `Registered` when `registered`, else `Unregistered`.
    pub fn of(registered: bool) -> Self {
        if registered { Registration::Registered } else { Registration::Unregistered }
    }
}

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255 on the client port, out of the socket the request came in on.
    Broadcast,
    Unicast(SocketAddrV4),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub message: Message,
    pub to: Destination,
    /// A relayed request's option 82 as it came: [`Reply::encode`] writes it as the last option.
    pub relay_info: Option<Vec<u8>>,
    /// The datagram to send: the message encoded once, fitted to the client (`fit::finish`).
    pub datagram: Vec<u8>,
}

/// What to do about one request. `drop` is set exactly when nothing is sent for a reason worth
/// counting; RELEASE and DECLINE have neither a reply nor a drop reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub reply: Option<Reply>,
    pub lease: Option<LeaseChange>,
    /// Enrol this MAC as a discovered node in this subnet: written with the batch's lease changes,
    /// before the reply leaves.
    pub enroll: Option<(MacAddr, EnrolIn)>,
    pub drop: Option<DropReason>,
    /// A boot client of an architecture we have no file for (served without one in full mode).
    pub unknown_arch: Option<u16>,
    /// The address this boot client network-boots with (the one ACKed, or the one it asked another
    /// server for): its iPXE script may be asked for from there, once the reply (if any) is sent.
    pub sighting: Option<Ipv4Addr>,
}

impl Outcome {
    pub fn dropped(reason: DropReason) -> Outcome {
        Outcome { drop: Some(reason), ..Outcome::default() }
    }

    /// A reply with its boot target noted for the counters.
    pub(super) fn reply(message: Message, to: Destination, target: &BootTarget) -> Outcome {
        Outcome {
            reply: Some(Reply { message, to, relay_info: None, datagram: Vec::new() }),
            unknown_arch: match target {
                BootTarget::UnknownArch(arch) => Some(*arch),
                _ => None,
            },
            ..Outcome::default()
        }
    }
}

/// Whether [`admit`] can tell a registered MAC from a stranger for `request`: a boot client (which a
/// stranger's enrolment concerns), or any client of a registered-only subnet or of no known subnet. For
/// the rest (plain clients in auto-enrolment subnets, most of a site's DHCP traffic) the decision is the
/// same either way, so the loop need not ask the node table.
pub fn needs_registration(request: &Request, dhcp: &DhcpConfig) -> bool {
    request.client.class.is_boot_client()
        || request
            .subnet_addr()
            .and_then(|addr| dhcp.subnet_for(addr))
            .is_none_or(|subnet| subnet.enrolment != Enrolment::Auto)
}

/// Whether the subnet's enrolment policy lets this client be answered, and with what boot target.
/// `Ok((target, enroll))`, where `enroll` says where a new boot client enrols itself; in
/// registered-only subnets an unregistered MAC with a reservation still gets its address
/// (`allow_reserved`), but no boot file.
pub(super) fn admit(
    request: &Request,
    ctx: &Context,
    subnet: &Subnet,
    allow_reserved: bool,
) -> Result<(BootTarget, Option<EnrolIn>), DropReason> {
    let client = &request.client;
    let target = BootTarget::for_client(client, ctx.boot, ctx.public_url);
    let registered = ctx.registration == Registration::Registered;
    match subnet.enrolment {
        Enrolment::Auto => {
            let new = client.class.is_boot_client() && !registered;
            Ok((target, subnet.enrols_strangers().filter(|_| new)))
        }
        Enrolment::RegisteredOnly if registered => Ok((target, None)),
        Enrolment::RegisteredOnly if allow_reserved && subnet.reservation_for(client.mac).is_some() => {
            Ok((BootTarget::None, None))
        }
        Enrolment::RegisteredOnly => Err(DropReason::NotRegistered),
    }
}
