//! Talking to the boot service: the kernel command line that says where and who ([`cmdline`]), and the
//! node API client with retries ([`client`]).

pub mod client;
pub mod cmdline;

pub use client::{Backoff, Client, RegisterError, Reporter};
pub use cmdline::{BootParams, CmdlineError, Token, parse_cmdline};
