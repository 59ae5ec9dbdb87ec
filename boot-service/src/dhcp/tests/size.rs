//! Replies fit the client's maximum message size (option 57; 576 without it), IP and UDP headers
//! counted (issue 12, point 10): optional options go first, what a client boots with stays.

use super::replies::{RELAY_INFO, sent, wire_options};
use super::*;

/// 576 octets of IP datagram, less the IP (20) and UDP (8) headers.
const DEFAULT_LIMIT: usize = 548;
const DNS_SERVERS: u8 = 60;

/// The lab with a configuration that overflows 576 octets: 60 DNS servers, a 150-byte domain, and a
/// long public URL (so a long iPXE script URL).
fn big_lab(url_len: usize) -> Lab {
    let dns = (1..=DNS_SERVERS).map(|i| Ipv4Addr::new(10, 77, 1, i));
    let domain = format!("{}.example", "d".repeat(142));
    let url = format!("http://10.77.0.1:8080/{}", "u".repeat(url_len));
    let lab = lab_subnet(DhcpMode::Full).dns(dns).domain(domain);
    Lab::with_config(written(&config_with(DhcpMode::Full, 67, lab).public_url(url)))
}

fn dns_count(msg: &Message) -> usize {
    match opt(msg, 6) {
        Some(DhcpOption::DomainNameServer(servers)) => servers.len(),
        _ => 0,
    }
}

/// What no trimming may take: type, server id, address and lease, mask, router, boot file, PXE options.
fn assert_bootable(outcome: &Outcome, pxe: bool) {
    let msg = reply(outcome);
    let codes: Vec<u8> = wire_options(&sent(outcome)).into_iter().map(|(code, _)| code).collect();
    for code in [53, 54, 51, 1, 3] {
        assert!(codes.contains(&code), "option {code} was trimmed: {codes:?}");
    }
    if pxe {
        for code in [60, 43] {
            assert!(codes.contains(&code), "option {code} was trimmed: {codes:?}");
        }
        assert_eq!(msg.fname_str().and_then(Result::ok), Some("undionly.kpxe"));
    }
}

/// The outcome's reply, and the length of the datagram that would be sent.
fn sized(outcome: &Outcome) -> (Message, usize) {
    (reply(outcome), sent(outcome).len())
}

#[test]
fn without_option_57_a_reply_fits_576_octets_with_the_least_needed_options_gone() {
    let mut lab = big_lab(20);
    // The untrimmed reply would be far larger: 240 bytes of DNS servers and a 150-byte domain alone.
    let outcome = lab.exchange(Client::new(mac(1), MessageType::Discover).pxe(0));
    let (offer, len) = sized(&outcome);
    assert!(len <= DEFAULT_LIMIT, "{len} bytes");
    assert_bootable(&outcome, true);
    // T1 and T2 (the defaults anyway) went first, then DNS servers from the end, as few as needed; the
    // domain stays as there is room for it then.
    assert_eq!((opt(&offer, 58), opt(&offer, 59)), (None, None));
    assert!(opt(&offer, 15).is_some());
    assert!((1..usize::from(DNS_SERVERS)).contains(&dns_count(&offer)), "{} DNS servers", dns_count(&offer));
    let request = Client::new(mac(1), MessageType::Request).pxe(0).requested(offer.yiaddr()).server_id(SERVER);
    let outcome = lab.exchange(request);
    assert_eq!(msg_type(&reply(&outcome)), MessageType::Ack);
    assert!(sized(&outcome).1 <= DEFAULT_LIMIT, "{} bytes", sized(&outcome).1);
    assert_bootable(&outcome, true);
}

#[test]
fn a_client_accepting_1500_octets_gets_every_option_within_1472_bytes() {
    let lab = big_lab(20);
    let (offer, len) = sized(&lab.ask(Client::new(mac(1), MessageType::Discover).pxe(0).max_message_size(1500)));
    assert!(len <= 1500 - 28, "{len} bytes");
    assert!(len > DEFAULT_LIMIT, "nothing to trim: the test would prove nothing");
    assert_eq!(dns_count(&offer), usize::from(DNS_SERVERS));
    assert!(opt(&offer, 15).is_some() && opt(&offer, 58).is_some());
}

#[test]
fn a_maximum_below_576_is_read_as_576() {
    let lab = big_lab(20);
    let (_, len) = sized(&lab.ask(Client::new(mac(1), MessageType::Discover).pxe(0).max_message_size(300)));
    assert!(len <= DEFAULT_LIMIT && len > 300 - 28, "{len} bytes");
}

#[test]
fn option_82_is_kept_over_dns_servers_and_the_domain() {
    let mut lab = big_lab(20);
    lab.register(mac(5));
    let client = Client::new(mac(5), MessageType::Discover).pxe(0).relayed_by(RELAY).relay_info(&RELAY_INFO);
    let outcome = lab.ask(client);
    let (offer, len) = sized(&outcome);
    assert!(len <= DEFAULT_LIMIT, "{len} bytes");
    assert!(dns_count(&offer) < usize::from(DNS_SERVERS), "trimmed");
    assert_eq!(wire_options(&sent(&outcome)).last(), Some(&(82, RELAY_INFO.to_vec())));
    assert_bootable(&outcome, true);
}

#[test]
fn an_ipxe_script_url_too_long_for_the_file_field_keeps_option_67() {
    let lab = big_lab(150);
    let (offer, len) = sized(&lab.ask(Client::new(mac(1), MessageType::Discover).ipxe()));
    assert!(len <= DEFAULT_LIMIT, "{len} bytes");
    let url = bootfile(&offer).expect("option 67");
    assert!(url.len() > 127 && url.ends_with("/boot/52-54-00-aa-00-01.ipxe"), "{url}");
    assert_eq!(raw_option(&offer, 175).as_deref(), Some(&options::IPXE_NO_PXEDHCP[..]));
}

#[test]
fn without_room_for_a_full_option_82_the_reply_goes_without_it() {
    // RFC 3046 §2.2: a server that cannot copy the whole option sends the reply without it. The script
    // URL (160 bytes) is too long for the `file` field, so option 67 must stay.
    let mut lab = big_lab(110);
    lab.register(mac(5));
    let info: Vec<u8> = [1, 253].into_iter().chain([7; 253]).collect();
    let client = Client::new(mac(5), MessageType::Discover).ipxe().relayed_by(RELAY).relay_info(&info);
    let outcome = lab.ask(client);
    let (offer, len) = sized(&outcome);
    assert!(len <= DEFAULT_LIMIT, "{len} bytes");
    assert!(wire_options(&sent(&outcome)).iter().all(|(code, _)| *code != 82));
    assert!(bootfile(&offer).is_some_and(|url| url.ends_with(".ipxe")));
}

#[test]
fn a_reply_that_cannot_fit_is_not_sent() {
    // A script URL of ~350 bytes: too long for 576 octets even with everything optional gone.
    let lab = big_lab(300);
    let outcome = lab.ask(Client::new(mac(1), MessageType::Discover).ipxe());
    assert_eq!(outcome.reply, None);
    assert_eq!(outcome.drop, Some(DropReason::ReplyTooLarge));
    // A client that accepts more gets it.
    let offer = reply(&lab.ask(Client::new(mac(1), MessageType::Discover).ipxe().max_message_size(1500)));
    assert!(bootfile(&offer).is_some_and(|url| url.len() > 300));
}
