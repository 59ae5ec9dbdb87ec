//! The datagram's own bytes, before and beside dhcproto: the checks that keep its decoder from
//! panicking on hostile input, and options read straight from the bytes where the decoded form loses
//! something the RFCs want kept (dhcproto decodes option 82 into a map of sub-options: re-sorted,
//! repeats merged; RFC 3046 §2.2 wants it echoed byte for byte).

use std::panic::{self, AssertUnwindSafe};

use dhcproto::Decodable;
use dhcproto::v4::Message;

use super::request::DropReason;

/// The fixed BOOTP header, then the magic cookie, then the options.
const HEADER_LEN: usize = 236;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
const OPTIONS_AT: usize = HEADER_LEN + MAGIC_COOKIE.len();
const PAD: u8 = 0;
const END: u8 = 255;

/// The data of every instance of option `code` in the options field, concatenated (RFC 3396: a long
/// option may be split into several of one code). `None` when the option is absent or the field is
/// truncated before it ends.
pub fn option_data(datagram: &[u8], code: u8) -> Option<Vec<u8>> {
    let mut opts = datagram.get(OPTIONS_AT..)?;
    let mut found: Option<Vec<u8>> = None;
    loop {
        match opts {
            [] | [END, ..] => return found,
            [PAD, rest @ ..] => opts = rest,
            [c, len, rest @ ..] if rest.len() >= usize::from(*len) => {
                let (data, rest) = rest.split_at(usize::from(*len));
                if *c == code {
                    found.get_or_insert_with(Vec::new).extend_from_slice(data);
                }
                opts = rest;
            }
            // A truncated option: what came before stands (dhcproto stops there too).
            _ => return found,
        }
    }
}

/// Decode a datagram. Never panics: dhcproto's debug assertions on option lengths are checked
/// first, and any other panic inside the decoder is caught and reported as malformed.
pub fn decode(bytes: &[u8]) -> Result<Message, DropReason> {
    if bytes.len() < HEADER_LEN + MAGIC_COOKIE.len()
        || bytes[HEADER_LEN..HEADER_LEN + 4] != MAGIC_COOKIE
        || !option_lengths_ok(&bytes[HEADER_LEN + 4..])
    {
        return Err(DropReason::Malformed);
    }
    match panic::catch_unwind(AssertUnwindSafe(|| Message::from_bytes(bytes))) {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(_)) | Err(_) => Err(DropReason::Malformed),
    }
}

/// Refuse option lengths that trip assertions or underflow in dhcproto's decoder (it concatenates
/// consecutive options of one code, so lengths are summed per run).
fn option_lengths_ok(mut opts: &[u8]) -> bool {
    let mut run: Option<(u8, usize)> = None;
    loop {
        let next = match opts {
            [] | [255, ..] => None,
            [0, rest @ ..] => {
                opts = rest;
                Some(None)
            }
            [code, len, rest @ ..] if rest.len() >= usize::from(*len) => {
                opts = &rest[usize::from(*len)..];
                Some(Some((*code, usize::from(*len))))
            }
            // Truncated: dhcproto stops reading options there, which is harmless.
            _ => None,
        };
        let finished = match (run, next) {
            (Some((code, sum)), Some(Some((c, len)))) if c == code => {
                run = Some((code, sum + len));
                continue;
            }
            (finished, Some(Some(opt))) => {
                run = Some(opt);
                finished
            }
            (finished, Some(None)) => {
                run = None;
                finished
            }
            (finished, None) => {
                return finished.is_none_or(|(code, len)| length_ok(code, len));
            }
        };
        if let Some((code, len)) = finished
            && !length_ok(code, len)
        {
            return false;
        }
    }
}

fn length_ok(code: u8, len: usize) -> bool {
    match code {
        80 => len == 0,
        81 => len >= 3,
        94 => len == 3,
        151 => len >= 1,
        152..=155 => len == 4,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(opts: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0; OPTIONS_AT];
        bytes.extend_from_slice(opts);
        bytes
    }

    #[test]
    fn split_instances_are_joined_in_order_and_pads_skipped() {
        let bytes = datagram(&[53, 1, 1, 82, 3, 2, 1, 9, 0, 0, 82, 2, 1, 0, 255, 82, 1, 7]);
        assert_eq!(option_data(&bytes, 82), Some(vec![2, 1, 9, 1, 0]));
        assert_eq!(option_data(&bytes, 61), None);
    }

    #[test]
    fn a_truncated_option_is_not_read_past_the_datagram() {
        assert_eq!(option_data(&datagram(&[82, 9, 1, 2]), 82), None);
        assert_eq!(option_data(&[0; 10], 82), None);
    }
}
