use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An Ethernet MAC address, written `aa:bb:cc:dd:ee:ff` on the wire and in config files.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a MAC address (expected six hex bytes like 52:54:00:12:34:56)")]
pub struct MacParseError {
    pub input: String,
}

impl MacAddr {
    pub const fn new(bytes: [u8; 6]) -> Self {
        Self(bytes)
    }

    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Take the first six bytes of a DHCP `chaddr` (hardware type Ethernet).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let six: [u8; 6] = bytes.get(..6)?.try_into().ok()?;
        Some(Self(six))
    }

    /// A unicast address with something in it: the least significant bit of the first octet clear, not
    /// all zeros. Only such an address can name one NIC.
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0 && self.0 != [0; 6]
    }

    /// The form iPXE's `${net0/mac:hexhyp}` produces, used in file names: `52-54-00-12-34-56`.
    pub fn hyphenated(&self) -> String {
        self.to_string().replace(':', "-")
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Six pairs of hex digits, any case, all separated by `:` or all by `-`; nothing else (no sign, no
    /// spaces, no mixed separators).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError { input: s.to_owned() };
        let separator = if s.contains(':') { ':' } else { '-' };
        let mut out = [0u8; 6];
        let mut parts = s.split(separator);
        for byte in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Self(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_colon_and_hyphen_forms() {
        let mac: MacAddr = "52:54:00:AB:cd:0f".parse().unwrap();
        assert_eq!(mac.octets(), [0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f]);
        assert_eq!(mac, "52-54-00-ab-cd-0f".parse().unwrap());
        assert_eq!(mac.to_string(), "52:54:00:ab:cd:0f");
        assert_eq!(mac.hyphenated(), "52-54-00-ab-cd-0f");
    }

    #[test]
    fn only_unicast_addresses_name_a_nic() {
        assert!(MacAddr::new([0x52, 0x54, 0, 0, 0, 1]).is_unicast());
        for not_one_nic in [[0xff; 6], [0x01, 0x00, 0x5e, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 1], [0; 6]] {
            assert!(!MacAddr::new(not_one_nic).is_unicast(), "{not_one_nic:02x?}");
        }
    }

    #[test]
    fn rejects_malformed_and_names_input() {
        let strictly = [
            "+2-00-00-00-00-01", // u8::from_str_radix takes a sign
            "52:54-00:ab:cd:0f", // mixed separators
            " 2:54:00:ab:cd:0f",
            "52:54:00:ab:cd:0\n",
        ];
        let malformed = ["", "52:54:00:ab:cd", "52:54:00:ab:cd:0f:11", "5:54:00:ab:cd:0f", "zz:54:00:ab:cd:0f"];
        for bad in malformed.into_iter().chain(strictly) {
            let err = bad.parse::<MacAddr>().unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains(bad));
        }
    }

    #[test]
    fn serde_round_trip() {
        let mac = MacAddr::new([1, 2, 3, 4, 5, 6]);
        let json = serde_json::to_string(&mac).unwrap();
        assert_eq!(json, "\"01:02:03:04:05:06\"");
        assert_eq!(serde_json::from_str::<MacAddr>(&json).unwrap(), mac);
    }
}
