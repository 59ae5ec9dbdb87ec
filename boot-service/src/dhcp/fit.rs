//! The last touches every reply gets, whichever decision made it: a relayed request's option 82
//! echoed unchanged (RFC 3046 §2.2), and the whole message fitted to what the client accepts.
//!
//! Size: RFC 2131 §2 makes every client accept an IP datagram of 576 octets (a 236-octet header and
//! 312 octets of options, plus IP and UDP headers); option 57 (RFC 2132 §9.10) may raise that, and a
//! value below 576 is not legal, so it is read as 576. The limit counts the IP and UDP headers, as
//! dnsmasq and Kea read it: the encoded DHCP message may take `max - 28` octets.
//!
//! When a reply is too large, optional options go, least needed first ([`TRIM_ORDER`]); what is left
//! (message type, server id, address and lease time, mask, router, the boot file and the PXE options)
//! is what a client cannot boot without. Option overload (52) is not used: firmware parses it poorly,
//! and trimming suffices for every reply a sane configuration produces. A reply that still does not fit
//! is not sent ([`DropReason::ReplyTooLarge`]).

use dhcproto::Encodable;
use dhcproto::error::EncodeError;
use dhcproto::v4::{DhcpOption, Message, OptionCode};

use super::decision::{Outcome, Reply};
use super::request::{DropReason, RELAY_AGENT_INFO, Request};

/// The smallest maximum message size a client may name, and the one assumed when it names none.
const MIN_MAX_MESSAGE_SIZE: u16 = 576;
/// IPv4 header without options (20) and UDP header (8): option 57 counts them.
const IP_UDP_HEADERS: usize = 28;

/// One way to make a reply smaller.
#[derive(Debug, Clone, Copy)]
enum Trim {
    Remove(OptionCode),
    /// Every DNS server but the first, from the end, as few as needed.
    DnsTail,
    /// The echoed option 82.
    RelayInfo,
}

/// Least needed first. T1 and T2 go first because ours equal the defaults a client computes without
/// them (RFC 2131 §4.4.5: 0.5 and 0.875 of the lease). Option 82 goes last of all: RFC 3046 §2.2 says to
/// send the reply without it when it cannot be copied whole.
const TRIM_ORDER: [Trim; 10] = [
    Trim::Remove(OptionCode::Renewal),
    Trim::Remove(OptionCode::Rebinding),
    // A NAK's explanation.
    Trim::Remove(OptionCode::Message),
    Trim::DnsTail,
    Trim::Remove(OptionCode::DomainName),
    Trim::Remove(OptionCode::Hostname),
    Trim::Remove(OptionCode::DomainNameServer),
    // siaddr names the same TFTP server.
    Trim::Remove(OptionCode::TFTPServerName),
    // The `file` header field holds names of up to 127 bytes; only longer ones (URLs) need option 67.
    Trim::Remove(OptionCode::BootfileName),
    Trim::RelayInfo,
];

/// The limit on the encoded DHCP message (IP and UDP headers excluded) for a client that sent
/// `max_message_size` (option 57), if anything.
fn message_limit(max_message_size: Option<u16>) -> usize {
    usize::from(max_message_size.unwrap_or(MIN_MAX_MESSAGE_SIZE).max(MIN_MAX_MESSAGE_SIZE)) - IP_UDP_HEADERS
}

/// Echo option 82 and fit the reply, if there is one; a reply that cannot fit becomes a drop.
pub(super) fn finish(request: &Request, mut outcome: Outcome) -> Outcome {
    let Some(reply) = outcome.reply.as_mut() else {
        return outcome;
    };
    reply.relay_info.clone_from(&request.relay_info);
    match fit(reply, message_limit(request.max_message_size())) {
        Ok(datagram) => reply.datagram = datagram,
        Err(_) => {
            return Outcome { unknown_arch: outcome.unknown_arch, ..Outcome::dropped(DropReason::ReplyTooLarge) };
        }
    }
    outcome
}

/// The reply is larger than the client accepts even without its optional options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TooLarge {
    needed: usize,
    limit: usize,
}

/// Drop optional options from `reply`, least needed first, until it encodes to at most `limit` bytes;
/// that encoding, the datagram to send. Option 67 goes only when the `file` header field holds the same
/// name.
fn fit(reply: &mut Reply, limit: usize) -> Result<Vec<u8>, TooLarge> {
    let mut encoded = encode(reply);
    for trim in TRIM_ORDER {
        let len = encoded.as_ref().map_or(usize::MAX, Vec::len);
        if len <= limit {
            return Ok(encoded.unwrap_or_default());
        }
        let message = &mut reply.message;
        match trim {
            Trim::Remove(OptionCode::BootfileName) if !file_field_holds_bootfile(message) => {}
            Trim::Remove(code) => {
                message.opts_mut().remove(code);
            }
            Trim::DnsTail => trim_dns_tail(message, len - limit),
            Trim::RelayInfo => reply.relay_info = None,
        }
        encoded = encode(reply);
    }
    match encoded {
        Some(bytes) if bytes.len() <= limit => Ok(bytes),
        other => Err(TooLarge { needed: other.map_or(usize::MAX, |b| b.len()), limit }),
    }
}

/// Drop enough DNS servers from the end (keeping the first) to save `excess` bytes, if that many are there.
fn trim_dns_tail(message: &mut Message, excess: usize) {
    if let Some(DhcpOption::DomainNameServer(servers)) = message.opts_mut().get_mut(OptionCode::DomainNameServer) {
        let keep = servers.len().saturating_sub(excess.div_ceil(4)).max(1);
        servers.truncate(keep);
    }
}

fn file_field_holds_bootfile(message: &Message) -> bool {
    match message.opts().get(OptionCode::BootfileName) {
        Some(DhcpOption::BootfileName(name)) => message.fname() == Some(name.as_slice()),
        _ => true,
    }
}

/// The encoding; `None` for a reply dhcproto cannot encode, which is too large for anyone.
fn encode(reply: &Reply) -> Option<Vec<u8>> {
    reply.encode().ok()
}

impl Reply {
    /// The datagram: dhcproto's encoding of the message, with the relay's option 82 spliced in as the last
    /// option before END, as it came (split in 255-byte pieces if it came longer, RFC 3396). dhcproto
    /// cannot do this itself: it would re-sort a decoded option 82's sub-options, and an option 82 inserted
    /// as raw bytes it writes twice (once in code order, once last).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut bytes = self.message.to_vec()?;
        if let Some(info) = &self.relay_info {
            // dhcproto always ends the options with END (every reply has option 53).
            let end = bytes.pop();
            debug_assert_eq!(end, Some(255));
            for piece in info.chunks(255) {
                bytes.extend([RELAY_AGENT_INFO, u8::try_from(piece.len()).expect("pieces of at most 255 bytes")]);
                bytes.extend_from_slice(piece);
            }
            bytes.push(255);
        }
        Ok(bytes)
    }
}
