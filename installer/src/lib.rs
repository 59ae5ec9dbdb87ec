//! The Rackhand installer's library: observe the hardware (I/O under an injectable root, with the SMBIOS,
//! IPMI and LLDP codecs the lab reuses to play the hardware's part), judge it against a hardware profile
//! and plan the install (pure), then apply the plan and report it. ARCHITECTURE.md has the map.

pub mod agent;
pub mod apply;
pub mod boot_service;
pub mod console;
pub mod image;
pub mod judge;
pub mod layout;
pub mod log;
pub mod observe;
pub mod os_config;
pub mod pid1;
pub mod plan;
pub mod text;
pub mod wipe;
