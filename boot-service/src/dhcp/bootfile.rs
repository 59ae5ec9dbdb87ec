//! Which boot file a client gets, by its class and architecture (option 93, RFC 4578):
//! firmware PXE gets an iPXE binary over TFTP, UEFI HTTP boot gets it over HTTP, and iPXE itself
//! gets the URL of its node's script.

use rackhand_api::MacAddr;

use super::request::{ClientClass, ClientInfo};
use crate::config::BootConfig;

/// Option 93 values we have boot files for.
pub mod arch {
    pub const BIOS: u16 = 0;
    pub const UEFI_X64: u16 = 7;
    /// "EFI BC": what most x64 UEFI firmware actually sends.
    pub const UEFI_BC: u16 = 9;
    pub const UEFI_ARM64: u16 = 11;
    pub const UEFI_X64_HTTP: u16 = 16;
    pub const UEFI_ARM64_HTTP: u16 = 19;
}

/// What goes into option 67 and the `file` header of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootTarget {
    /// Not a boot client: an address and network options only.
    None,
    /// A boot client of an architecture we have nothing for: served like [`BootTarget::None`],
    /// counted and logged.
    UnknownArch(u16),
    /// A file name relative to the TFTP root.
    Tftp(String),
    /// UEFI HTTP boot: a URL under `/assets/`; the reply carries option 60 `HTTPClient`.
    Http(String),
    /// iPXE: the URL of the node's script; the reply carries option 175 with 176 = 1.
    IpxeScript(String),
}

impl BootTarget {
    pub fn for_client(client: &ClientInfo, boot: &BootConfig, public_url: &str) -> BootTarget {
        match client.class {
            ClientClass::Plain => BootTarget::None,
            ClientClass::Ipxe => BootTarget::IpxeScript(script_url(public_url, client.mac)),
            // Legacy PXE ROMs may omit option 93; the PXE spec makes them x86 BIOS.
            ClientClass::Pxe | ClientClass::HttpBoot => {
                let http = |file: &str| BootTarget::Http(format!("{public_url}/assets/{file}"));
                match client.arch.unwrap_or(arch::BIOS) {
                    arch::UEFI_X64_HTTP => http(&boot.uefi_x64_file),
                    arch::UEFI_ARM64_HTTP => http(&boot.uefi_arm64_file),
                    _ if client.class == ClientClass::HttpBoot => {
                        BootTarget::UnknownArch(client.arch.unwrap_or(arch::BIOS))
                    }
                    arch::BIOS => BootTarget::Tftp(boot.bios_file.clone()),
                    arch::UEFI_X64 | arch::UEFI_BC => BootTarget::Tftp(boot.uefi_x64_file.clone()),
                    arch::UEFI_ARM64 => BootTarget::Tftp(boot.uefi_arm64_file.clone()),
                    other => BootTarget::UnknownArch(other),
                }
            }
        }
    }

    /// The boot file name or URL, if there is one.
    pub fn file(&self) -> Option<&str> {
        match self {
            BootTarget::None | BootTarget::UnknownArch(_) => None,
            BootTarget::Tftp(f) | BootTarget::Http(f) | BootTarget::IpxeScript(f) => Some(f),
        }
    }
}

/// The per-node iPXE script the HTTP side serves: `{public_url}/boot/52-54-00-12-34-56.ipxe`.
pub fn script_url(public_url: &str, mac: MacAddr) -> String {
    format!("{public_url}/boot/{}.ipxe", mac.hyphenated())
}
