//! The ethtool seam: what a NIC's driver says about itself (`ETHTOOL_GDRVINFO` through the `SIOCETHTOOL`
//! ioctl, as `ethtool -i` asks): driver, driver version, firmware version, bus address. Only the parsing
//! of the kernel's `struct ethtool_drvinfo` into strings decides anything, and it is pure.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsRawFd;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

/// `ETHTOOL_GDRVINFO` from `<linux/ethtool.h>`.
const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;
/// Each string of `struct ethtool_drvinfo` is a NUL-padded `char[32]`.
const FIELD: usize = 32;

/// What the driver of one interface reports; empty fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverInfo {
    pub driver: Option<String>,
    pub version: Option<String>,
    pub firmware_version: Option<String>,
    /// `0000:3b:00.0` for a PCI NIC; empty for virtual ones.
    pub bus_info: Option<String>,
}

/// Asks a network interface's driver about itself.
pub trait Ethtool {
    fn driver_info(&self, iface: &str) -> io::Result<DriverInfo>;
}

/// `struct ethtool_drvinfo` (196 bytes): `cmd`, then driver, version, fw_version, bus_info,
/// erom_version (each `char[32]`), `reserved2[12]` and five `__u32` counts, kept here as bytes.
#[repr(C)]
struct RawDrvinfo {
    cmd: u32,
    rest: [u8; 5 * FIELD + 12 + 5 * 4],
}

/// The strings of `struct ethtool_drvinfo` after its `cmd` word: driver, version, fw_version, bus_info.
/// Each is cut at its first NUL and trimmed; an empty one, or the `N/A` some drivers fill in, is `None`.
pub fn parse_drvinfo(rest: &[u8]) -> DriverInfo {
    let field = |index: usize| {
        let bytes = rest.get(index * FIELD..(index + 1) * FIELD)?;
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let text = String::from_utf8_lossy(&bytes[..end]).trim().to_owned();
        (!text.is_empty() && text != "N/A").then_some(text)
    };
    DriverInfo { driver: field(0), version: field(1), firmware_version: field(2), bus_info: field(3) }
}

nix::ioctl_readwrite_bad!(siocethtool, libc::SIOCETHTOOL, libc::ifreq);

/// The kernel's answer, through an `AF_INET` datagram socket in the calling thread's network namespace.
#[derive(Debug, Default, Clone, Copy)]
pub struct EthtoolIoctl;

impl Ethtool for EthtoolIoctl {
    #[allow(unsafe_code)]
    fn driver_info(&self, iface: &str) -> io::Result<DriverInfo> {
        let name = iface.as_bytes();
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(&0) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("`{iface}` is not an interface name")));
        }
        let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
        let mut info = RawDrvinfo { cmd: ETHTOOL_GDRVINFO, rest: [0; 5 * FIELD + 12 + 5 * 4] };
        // SAFETY: `ifreq` is plain data for which all-zero bytes are valid (name empty, union zero). The
        // name is copied in with its NUL terminator (shorter than IFNAMSIZ, checked above); `ifru_data`
        // points at `info`, a correctly sized and laid out `struct ethtool_drvinfo` that outlives the call
        // and that the kernel writes at most `sizeof(struct ethtool_drvinfo)` bytes of.
        unsafe {
            let mut request: libc::ifreq = std::mem::zeroed();
            for (slot, &byte) in request.ifr_name.iter_mut().zip(name) {
                *slot = libc::c_char::from_ne_bytes([byte]);
            }
            request.ifr_ifru.ifru_data = (&raw mut info).cast();
            siocethtool(sock.as_raw_fd(), &raw mut request)
                .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("ethtool -i {iface}: {e}")))?;
        }
        Ok(parse_drvinfo(&info.rest))
    }
}

/// Fixed answers per interface, for fixture trees (where the names are not this machine's); an
/// interface it does not know answers `NotFound`, as the kernel does for a name it has no device for.
#[derive(Debug, Default, Clone)]
pub struct FixedEthtool(pub BTreeMap<String, DriverInfo>);

impl Ethtool for FixedEthtool {
    fn driver_info(&self, iface: &str) -> io::Result<DriverInfo> {
        self.0.get(iface).cloned().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no device {iface}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(fields: [&str; 4]) -> [u8; 5 * FIELD + 12 + 5 * 4] {
        let mut rest = [0u8; 5 * FIELD + 12 + 5 * 4];
        for (i, text) in fields.iter().enumerate() {
            rest[i * FIELD..i * FIELD + text.len()].copy_from_slice(text.as_bytes());
        }
        rest
    }

    #[test]
    fn the_struct_is_the_kernels_size() {
        assert_eq!(std::mem::size_of::<RawDrvinfo>(), 196);
    }

    #[test]
    fn reads_each_string_up_to_its_nul() {
        let info = parse_drvinfo(&raw(["i40e", "6.1.0-18-amd64", "8.70 0x8000c40f 1.3179.0", "0000:3b:00.0"]));
        assert_eq!(info.driver.as_deref(), Some("i40e"));
        assert_eq!(info.version.as_deref(), Some("6.1.0-18-amd64"));
        assert_eq!(info.firmware_version.as_deref(), Some("8.70 0x8000c40f 1.3179.0"));
        assert_eq!(info.bus_info.as_deref(), Some("0000:3b:00.0"));
    }

    #[test]
    fn empty_and_not_applicable_fields_are_absent() {
        let info = parse_drvinfo(&raw(["veth", "1.0", "", ""]));
        assert_eq!((info.firmware_version, info.bus_info), (None, None));
        assert_eq!(parse_drvinfo(&raw(["tun", "1.6", "N/A", "tap"])).firmware_version, None);
    }

    #[test]
    fn a_field_filling_all_32_bytes_is_read_whole_and_a_short_buffer_is_not_read_past() {
        let full = "x".repeat(FIELD);
        let info = parse_drvinfo(&raw(["bnxt_en", "", &full, ""]));
        assert_eq!(info.firmware_version.as_deref(), Some(full.as_str()));
        assert_eq!(info.version, None);
        assert_eq!(
            parse_drvinfo(&raw(["e1000e", "", "", ""])[..40]),
            DriverInfo { driver: Some("e1000e".into()), ..DriverInfo::default() }
        );
    }

    #[test]
    fn names_the_kernel_cannot_take_are_refused_before_any_ioctl() {
        for name in ["", "a-name-far-too-long", "nul\0"] {
            let err = EthtoolIoctl.driver_info(name).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
    }
}
