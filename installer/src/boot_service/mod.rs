//! Talking to the boot service: the kernel command line that says where and who (its contract is
//! [`rackhand_api::cmdline`], written by the boot service), and the node API client with retries
//! ([`client`]).

pub mod client;

pub use client::{Backoff, Client, RegisterError, Reporter};
pub use rackhand_api::cmdline::{BootParams, CmdlineError, Token, parse_cmdline};
