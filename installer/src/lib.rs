//! The Rackhand installer's library: observe the hardware (I/O under an injectable root), judge it against
//! a hardware profile (pure), and the small protocol codecs the lab reuses (SMBIOS type 39, LLDP).

pub mod agent;
pub mod apply;
pub mod boot_service;
pub mod console;
pub mod image;
pub mod ipmi;
pub mod judge;
pub mod layout;
pub mod lldp;
pub mod log;
pub mod observe;
pub mod os_config;
pub mod pid1;
pub mod plan;
pub mod smbios;
pub mod text;
pub mod wipe;
