//! Hostile and broken packets: each refused with its reason, none may panic.

use std::net::SocketAddrV4;

use dhcproto::v4::{HType, Opcode};

use super::*;

fn parse(bytes: &[u8]) -> Result<Request, DropReason> {
    Request::parse(bytes, Some(LAB_IFACE), PortKind::Server, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68))
}

fn discover_bytes() -> Vec<u8> {
    Client::new(mac(1), MessageType::Discover).pxe(0).msg.to_vec().unwrap()
}

#[test]
fn short_and_cookieless_packets_are_malformed() {
    let good = discover_bytes();
    assert!(parse(&good).is_ok());
    for len in [0, 1, 100, 235, 239] {
        assert_eq!(parse(&good[..len]).unwrap_err(), DropReason::Malformed, "length {len}");
    }
    let mut no_cookie = good.clone();
    no_cookie[236] = 0;
    assert_eq!(parse(&no_cookie).unwrap_err(), DropReason::Malformed);
}

#[test]
fn replies_and_non_ethernet_requests_are_refused() {
    let mut reply = Client::new(mac(1), MessageType::Discover).msg;
    reply.set_opcode(Opcode::BootReply);
    assert_eq!(parse(&reply.to_vec().unwrap()).unwrap_err(), DropReason::NotBootRequest);

    let mut token_ring = Client::new(mac(1), MessageType::Discover).msg;
    token_ring.set_htype(HType::from(6));
    assert_eq!(parse(&token_ring.to_vec().unwrap()).unwrap_err(), DropReason::BadHardware);

    // hlen is checked on the raw bytes too: 16 (InfiniBand-style) and an impossible 200.
    for hlen in [0u8, 16, 200] {
        let mut bytes = discover_bytes();
        bytes[2] = hlen;
        assert_eq!(parse(&bytes).unwrap_err(), DropReason::BadHardware, "hlen {hlen}");
    }
}

#[test]
fn a_client_address_no_nic_sends_from_is_refused() {
    for not_a_nic in [[0xff; 6], [0x01, 0x00, 0x5e, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 1], [0; 6]] {
        let bytes = Client::new(not_a_nic, MessageType::Discover).msg.to_vec().unwrap();
        assert_eq!(parse(&bytes).unwrap_err(), DropReason::NotUnicast, "{not_a_nic:02x?}");
    }
    assert!(parse(&Client::new(mac(1), MessageType::Discover).msg.to_vec().unwrap()).is_ok());
}

#[test]
fn a_request_without_message_type_is_refused() {
    let mut msg = Client::new(mac(1), MessageType::Discover).msg;
    msg.opts_mut().remove(OptionCode::MessageType);
    msg.opts_mut().insert(DhcpOption::Hostname("x".into()));
    assert_eq!(parse(&msg.to_vec().unwrap()).unwrap_err(), DropReason::NoMessageType);
}

#[test]
fn option_lengths_that_trip_the_decoder_are_malformed_not_panics() {
    // (code, length) pairs dhcproto asserts on or underflows with.
    for (code, len) in [(80u8, 1u8), (94, 2), (94, 0), (151, 0), (81, 1), (152, 3)] {
        let mut bytes = discover_bytes();
        bytes.truncate(240);
        bytes.extend([53, 1, 1, code, len]);
        bytes.extend(std::iter::repeat_n(0x41, usize::from(len)));
        bytes.push(255);
        assert_eq!(parse(&bytes).unwrap_err(), DropReason::Malformed, "option {code} len {len}");
    }
}

/// xorshift64*: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
    /// The low byte of the next value.
    fn byte(&mut self) -> u8 {
        u8::try_from(self.next() % 256).unwrap()
    }
}

#[test]
fn random_and_mutated_packets_never_panic_and_are_counted_or_answered() {
    let mut lab = Lab::new(DhcpMode::Full);
    lab.register(mac(1));
    let seeds = [
        discover_bytes(),
        Client::new(mac(1), MessageType::Request).ipxe().requested(Ipv4Addr::new(10, 77, 0, 100)).msg.to_vec().unwrap(),
        Client::new(mac(2), MessageType::Request)
            .ciaddr(Ipv4Addr::new(10, 77, 0, 101))
            .relayed_by(RELAY)
            .msg
            .to_vec()
            .unwrap(),
    ];
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let (mut decoded, mut refused) = (0, 0);
    for round in 0..30_000 {
        let bytes: Vec<u8> = match round % 3 {
            // Pure noise of any length.
            0 => (0..noise.below(600)).map(|_| noise.byte()).collect(),
            // A real packet with a few bytes flipped (often in the options).
            1 => {
                let mut b = seeds[noise.below(seeds.len())].clone();
                for _ in 0..1 + noise.below(4) {
                    let at = noise.below(b.len());
                    b[at] = noise.byte();
                }
                b
            }
            // A real header followed by random options, possibly truncated.
            _ => {
                let mut b = seeds[noise.below(seeds.len())][..240].to_vec();
                b.extend([53, 1, 1 + u8::try_from(noise.below(8)).unwrap()]);
                b.extend((0..noise.below(120)).map(|_| noise.byte()));
                b
            }
        };
        match parse(&bytes) {
            Ok(request) => {
                decoded += 1;
                let ctx = lab.context(request.client.mac);
                let outcome = respond(&request, &ctx, &lab.table, lab.now);
                assert!(
                    outcome.reply.is_some() || outcome.drop.is_some() || outcome.lease.is_some(),
                    "an outcome that does nothing and says nothing: {outcome:?}"
                );
                if let Some(reply) = &outcome.reply {
                    reply.message.to_vec().expect("every reply encodes");
                }
                if let Some(change) = &outcome.lease {
                    lab.table.apply(change, lab.now);
                }
            }
            Err(_) => refused += 1,
        }
    }
    assert!(decoded > 1000 && refused > 1000, "decoded {decoded}, refused {refused}");
}
