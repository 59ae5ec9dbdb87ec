//! Rackhand's benchmarks against the tools users would pick instead (`cargo xtask bench`).
//!
//! The library is the pure part: statistics over runs ([`stats`]), the result table and its JSON
//! ([`report`]), the README's table made from it ([`readme`]), the machine it was measured on
//! ([`machine`]), parsers for what the peers print ([`parse`]), the configs handed to them ([`configs`])
//! and the DHCP messages of the simulated clients ([`dhcpmsg`]). Everything that starts processes or
//! opens sockets is in the binary.

pub mod configs;
pub mod dhcpmsg;
pub mod machine;
pub mod parse;
pub mod readme;
pub mod report;
pub mod stats;
