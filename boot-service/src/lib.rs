//! Rackhand boot service: DHCPv4 (full and proxy), TFTP, HTTP (iPXE scripts, assets, images, node API)
//! on an embedded store. Decisions live in pure functions; sockets sit in thin loops around them.

pub mod admin;
pub mod boot_script;
pub mod config;
pub mod dhcp;
pub mod http;
pub mod ipv6_ra;
pub mod metrics;
pub mod nodes;
pub mod power;
pub mod served_root;
pub mod service;
pub mod store;
pub mod tftp;
pub mod tftp_limits;
pub mod tftp_read;
pub mod token;
pub mod webhook;
