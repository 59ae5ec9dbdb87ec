//! Unit tests of the decision function, plus loopback tests of the serve loop. Requests are built
//! with dhcproto, encoded and parsed back, so decoding is exercised on every test. The decision's
//! tests set which MACs are registered as data on their [`Lab`]; the serve loop's ask a node table.

mod arch;
mod client;
mod commit;
mod full;
mod leases;
mod malformed;
mod peers;
mod proxy;
mod replies;
mod serve;
mod share;
mod sightings;
mod size;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::Encodable;
use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode, UnknownOption};
use rackhand_api::MacAddr;

use super::*;
use crate::config::{Config, ConfigWriter, DhcpMode, EnrolIn, Enrolment, SubnetWriter};
pub use client::Client;

pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The lab subnet: auto-enrolment, pool .100–.102, a reservation .10 for `RESERVED`.
pub const LAB_IFACE: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// A relay agent in the second, registered-only subnet.
pub const RELAY: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 1);
pub const RESERVED: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x10];
pub const NOW: i64 = 1_750_000_000;
pub const CLIENT_PORT: u16 = 68;
pub const UUID: [u8; 17] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

pub fn mac(last: u8) -> [u8; 6] {
    [0x52, 0x54, 0, 0xaa, 0, last]
}

/// The lab subnet 10.77.0.0/24: auto-enrolment, a router, two DNS servers and a domain, and in full mode
/// the pool .100–.102 and a reservation .10 for `RESERVED`.
pub fn lab_subnet(mode: DhcpMode) -> SubnetWriter {
    lab_subnet_in(mode, "10.77.0.0/24", Ipv4Addr::new(10, 77, 0, 102))
}

/// [`lab_subnet`] as `network` with its pool ending at `pool_end`, for a test that needs more room.
pub fn lab_subnet_in(mode: DhcpMode, network: &str, pool_end: Ipv4Addr) -> SubnetWriter {
    let subnet = SubnetWriter::new(network.parse().unwrap(), Enrolment::Auto)
        .router(SERVER)
        .dns([SERVER, Ipv4Addr::new(10, 77, 0, 2)])
        .domain("rack.example");
    match mode {
        DhcpMode::Full => subnet.pool(Ipv4Addr::new(10, 77, 0, 100), pool_end).reservation(
            MacAddr::new(RESERVED),
            Ipv4Addr::new(10, 77, 0, 10),
            Some("rack1-u10"),
        ),
        DhcpMode::Proxy => subnet,
    }
}

/// The test service with `lab` first, then a registered-only subnet behind `RELAY` (pool .50–.60 and a
/// reservation .20 in full mode) and, in full mode, a loopback subnet for the serve loop's test.
pub fn config_with(mode: DhcpMode, port: u16, lab: SubnetWriter) -> ConfigWriter {
    let relayed = SubnetWriter::new("10.88.0.0/24".parse().unwrap(), Enrolment::RegisteredOnly).router(RELAY);
    let writer = ConfigWriter::new(SERVER, "/nonexistent", "0123456789abcdef0123", mode, ["br-test"])
        .public_url("http://10.77.0.1:8080")
        .dhcp_port(port)
        .subnet(lab);
    match mode {
        DhcpMode::Full => {
            let relayed = relayed.pool(Ipv4Addr::new(10, 88, 0, 50), Ipv4Addr::new(10, 88, 0, 60)).reservation(
                MacAddr::new([0x52, 0x54, 0, 0, 0, 0x20]),
                Ipv4Addr::new(10, 88, 0, 20),
                None,
            );
            let loopback = SubnetWriter::new("127.0.0.0/8".parse().unwrap(), Enrolment::Auto)
                .lease_secs(600)
                .pool(Ipv4Addr::new(127, 0, 0, 100), Ipv4Addr::new(127, 0, 0, 110));
            writer.subnet(relayed).subnet(loopback)
        }
        DhcpMode::Proxy => writer.subnet(relayed),
    }
}

/// The config the service reads from what `writer` writes.
pub fn written(writer: &ConfigWriter) -> Config {
    let text = writer.render().expect("the test config renders");
    Config::parse(&text, "test.toml").expect("test config is valid")
}

pub fn config(mode: DhcpMode) -> Config {
    written(&config_with(mode, 67, lab_subnet(mode)))
}

/// The decision function with its surroundings: config, the MACs a node has, lease table, clock.
pub struct Lab {
    pub config: Config,
    /// The MACs the node table knows: what the serve loop would look up for each request.
    pub registered: HashSet<MacAddr>,
    pub table: LeaseTable,
    pub now: i64,
}

impl Lab {
    pub fn new(mode: DhcpMode) -> Lab {
        Lab::with_config(config(mode))
    }

    pub fn with_config(config: Config) -> Lab {
        let table = LeaseTable::new(&config.dhcp, [], NOW);
        Lab { config, registered: HashSet::new(), table, now: NOW }
    }

    /// A node has `mac` from now on.
    pub fn register(&mut self, mac: [u8; 6]) {
        self.registered.insert(MacAddr::new(mac));
    }

    /// The context of a request from `mac`.
    pub fn context(&self, mac: MacAddr) -> Context<'_> {
        Context::new(&self.config, Registration::of(self.registered.contains(&mac)))
    }

    pub fn ask(&self, client: Client) -> Outcome {
        let request = client.build();
        respond(&request, &self.context(request.client.mac), &self.table, self.now)
    }

    /// Ask, then apply the lease change as the loop would.
    pub fn exchange(&mut self, client: Client) -> Outcome {
        let outcome = self.ask(client);
        if let Some(change) = &outcome.lease {
            self.table.apply(change, self.now);
        }
        outcome
    }

    /// DISCOVER, then REQUEST the offered address: the bound address.
    pub fn lease(&mut self, mac: [u8; 6]) -> Ipv4Addr {
        let offer = reply(&self.exchange(Client::new(mac, MessageType::Discover)));
        let ip = offer.yiaddr();
        let ack = self.exchange(Client::new(mac, MessageType::Request).requested(ip).server_id(SERVER));
        assert_eq!(msg_type(&reply(&ack)), MessageType::Ack);
        ip
    }
}

pub fn reply(outcome: &Outcome) -> Message {
    outcome.reply.as_ref().unwrap_or_else(|| panic!("no reply: {outcome:?}")).message.clone()
}

pub fn msg_type(msg: &Message) -> MessageType {
    msg.opts().msg_type().expect("reply has a message type")
}

pub fn opt(msg: &Message, code: u8) -> Option<&DhcpOption> {
    msg.opts().get(OptionCode::from(code))
}

pub fn bootfile(msg: &Message) -> Option<String> {
    match opt(msg, 67) {
        Some(DhcpOption::BootfileName(f)) => Some(String::from_utf8(f.clone()).unwrap()),
        _ => None,
    }
}

pub fn vendor_class(msg: &Message) -> Option<&[u8]> {
    match opt(msg, 60) {
        Some(DhcpOption::ClassIdentifier(c)) => Some(c),
        _ => None,
    }
}

/// The raw bytes of option `code` in the encoded message (to check encapsulated options exactly).
pub fn raw_option(msg: &Message, code: u8) -> Option<Vec<u8>> {
    let bytes = msg.to_vec().unwrap();
    let mut opts = &bytes[240..];
    while let [c, rest @ ..] = opts {
        match c {
            0 => opts = rest,
            255 => return None,
            _ => {
                let len = usize::from(rest[0]);
                if *c == code {
                    return Some(rest[1..1 + len].to_vec());
                }
                opts = &rest[1 + len..];
            }
        }
    }
    None
}
