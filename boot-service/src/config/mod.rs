//! Boot service configuration: `wire` mirrors the TOML file, `validate` turns it into [`Config`], and
//! `writer` writes such a file from typed values ([`ConfigWriter`]).

mod deploy;
mod locations;
mod tftp;
mod validate;
pub mod wire;
mod writer;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use rackhand_api::MacAddr;

use crate::token::Secret;
pub use locations::{Located, Locations, PortLocation};
pub use wire::{DhcpMode, Enrolment};
pub use writer::{ConfigWriter, SubnetWriter};

/// The validated configuration the service runs on.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address clients reach the service on: DHCP server id, next-server, URL host.
    pub advertise: Ipv4Addr,
    pub data_dir: PathBuf,
    pub admin_token: Secret,
    pub http: HttpConfig,
    pub tftp: TftpConfig,
    pub boot: BootConfig,
    pub store: StoreConfig,
    pub dhcp: DhcpConfig,
    pub deploy: DeployConfig,
    /// `[[location]]`: switch port → rack unit.
    pub locations: Locations,
    /// `[webhook]`: where node state changes are told, if anywhere.
    pub webhook: Option<crate::webhook::WebhookConfig>,
}

/// `[deploy]`: what the installer puts into the installed OS, and how long the boot service waits on the
/// server after the install (see `nodes/lifecycle.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployConfig {
    /// OpenSSH public key lines for the installed OS's `root`.
    pub ssh_authorized_keys: Vec<String>,
    /// From the installer script served until the installer's first report (`booting`), and then between
    /// two of its reports while it works (`inspecting`, `installing`).
    pub installer_deadline: Duration,
    /// From the installer's `installed` until the server network-boots again (`rebooting`).
    pub reboot_deadline: Duration,
    /// From the handover to the disk until the installed OS reports (`first_boot`).
    pub first_boot_deadline: Duration,
    /// From a reprovision through the node's BMC (network boot, power cycle) until the server is seen
    /// network-booting (`booting`).
    pub bmc_boot_deadline: Duration,
    /// How often a ready node's BMC is read for its health (power supplies): a fault shows within two.
    pub bmc_poll_interval: Duration,
    /// How often the service fails the nodes whose deadline has passed.
    pub deadline_check_interval: Duration,
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            ssh_authorized_keys: Vec::new(),
            installer_deadline: Duration::from_secs(10 * 60),
            reboot_deadline: Duration::from_secs(5 * 60),
            first_boot_deadline: Duration::from_secs(10 * 60),
            bmc_boot_deadline: Duration::from_secs(3 * 60),
            bmc_poll_interval: Duration::from_secs(30),
            deadline_check_interval: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Base URL put into iPXE scripts and the kernel command line, without a trailing slash.
    pub public_url: String,
    /// The other instances' public URLs (they share this store): named on the installer's kernel line,
    /// so it reports to and fetches from them when this instance stops.
    pub peers: Vec<String>,
    /// How long a connection may take to send a request's headers, counted from when it opens or its
    /// previous response ended: also how long an idle keep-alive connection stays open.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moved either way for this long is closed (a client that stopped
    /// reading, a body that stopped coming). A transfer that keeps moving is never cut.
    pub idle_timeout: Duration,
    /// Connections served at once; beyond it new ones wait in the listen backlog.
    pub max_connections: usize,
}

impl HttpConfig {
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
}

#[derive(Debug, Clone)]
pub struct TftpConfig {
    pub listen: SocketAddr,
    /// Directory served read-only (iPXE binaries, kernel, initramfs).
    pub root: PathBuf,
    pub max_window_size: u16,
    /// Largest block a client may ask for (RFC 2348); with the window it bounds a transfer's memory.
    pub max_block_size: u16,
    /// The server's retransmit timeout; a client's `timeout` option (RFC 2349) is not honoured.
    pub timeout: Duration,
    /// Retransmissions of an unacknowledged window before the transfer is abandoned.
    pub max_retries: u32,
    /// Transfers open at once, in total and from one source address.
    pub max_transfers: usize,
    pub max_transfers_per_source: usize,
}

#[derive(Debug, Clone)]
pub struct BootConfig {
    /// Served under `/assets/` over HTTP: kernel, initramfs and anything else the script names.
    pub assets_dir: PathBuf,
    /// Served under `/images/` over HTTP, with Range.
    pub images_dir: PathBuf,
    pub kernel: String,
    pub initrd: String,
    /// Extra kernel arguments (console settings) appended after the `rackhand.*` ones.
    pub cmdline: String,
    pub bios_file: String,
    pub uefi_x64_file: String,
    pub uefi_arm64_file: String,
}

#[derive(Debug, Clone)]
pub enum StoreConfig {
    Sqlite {
        path: PathBuf,
    },
    /// libpq's connection string, password and all: shown only through [`fmt::Display`], which leaves
    /// the password out.
    Postgres {
        config: String,
    },
}

#[derive(Debug, Clone)]
pub struct DhcpConfig {
    pub mode: DhcpMode,
    pub interfaces: Vec<String>,
    /// Server port; 67 in production, the client port is always this plus one.
    pub port: u16,
    /// Send IPv6 router advertisements with lifetime 0 on the served interfaces (see `ipv6_ra.rs`).
    pub ipv6_null_router_advertisements: bool,
    /// How far servers may enrol themselves before they boot.
    pub enrolment_limits: EnrolmentLimits,
    pub subnets: Vec<Subnet>,
}

/// Auto-enrolment's bounds: spoofed DHCP with a new MAC per packet would otherwise add a node per packet.
/// Servers that enrolled themselves but never booted the installer are counted, per subnet, against
/// that subnet's `max_discovered` (`[dhcp] max_discovered` is the default) and forgotten after
/// `forget_discovered_after`; registered servers never are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrolmentLimits {
    pub forget_discovered_after: Duration,
}

impl Default for EnrolmentLimits {
    fn default() -> Self {
        Self { forget_discovered_after: Duration::from_secs(3600) }
    }
}

/// The cap of an auto-enrolment subnet when neither it nor `[dhcp]` sets `max_discovered`.
pub const DEFAULT_MAX_DISCOVERED: usize = 1024;

/// Where a server enrols itself: its auto-enrolment subnet, and how many self-enrolled servers that
/// have not booted yet the subnet holds at most. A flood of spoofed MACs in one subnet fills only
/// that subnet's room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrolIn {
    pub subnet: Ipv4Net,
    pub max_discovered: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    pub network: Ipv4Net,
    pub pools: Vec<Pool>,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub lease_secs: u32,
    pub enrolment: Enrolment,
    /// Most self-enrolled servers of this subnet that have not booted yet (auto-enrolment only).
    pub max_discovered: usize,
    pub reservations: Vec<Reservation>,
}

impl Subnet {
    /// Where an unknown server asking from this subnet is enrolled: only when its policy is `auto`.
    pub fn enrols_strangers(&self) -> Option<EnrolIn> {
        (self.enrolment == Enrolment::Auto)
            .then_some(EnrolIn { subnet: self.network, max_discovered: self.max_discovered })
    }
}

/// An inclusive address range handed out dynamically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

impl Pool {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.start..=self.end).contains(&ip)
    }

    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.start)..=u32::from(self.end)).map(Ipv4Addr::from)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub hostname: Option<String>,
}

impl Subnet {
    pub fn reservation_for(&self, mac: MacAddr) -> Option<&Reservation> {
        self.reservations.iter().find(|r| r.mac == mac)
    }

    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        self.reservations.iter().any(|r| r.ip == ip)
    }
}

impl DhcpConfig {
    /// The subnet an address belongs to (the interface's own address, or a relay's giaddr).
    pub fn subnet_for(&self, ip: Ipv4Addr) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.network.contains(&ip))
    }

    /// Where a MAC nobody registered, asking from `client` (an iPXE script request's peer), is enrolled:
    /// only inside a subnet whose policy is `auto`; from outside every subnet, never.
    pub fn enrols_strangers_from(&self, client: std::net::IpAddr) -> Option<EnrolIn> {
        let v4 = match client {
            std::net::IpAddr::V4(ip) => Some(ip),
            std::net::IpAddr::V6(ip) => ip.to_ipv4_mapped(),
        };
        v4.and_then(|ip| self.subnet_for(ip)).and_then(Subnet::enrols_strangers)
    }
}

/// Why a config file was refused. The message names the file, the line and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{file}:{line}: {message}")]
    Syntax { file: String, line: usize, message: String },
    #[error("{file}:{line}: `{field}`: {message}")]
    Invalid { file: String, line: usize, field: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parse and validate TOML text; `origin` names it in errors (usually the file path).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let wire: wire::ConfigFile = toml::from_str(text).map_err(|err| ConfigError::Syntax {
            file: origin.to_owned(),
            line: err.span().map_or(0, |span| line_of(text, span.start)),
            message: err.message().trim().to_owned(),
        })?;
        validate::validate(wire, text, origin)
    }
}

/// 1-based line number of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            StoreConfig::Postgres { config } => {
                let Ok(config) = config.parse::<postgres::Config>() else { return write!(f, "postgres:?") };
                let ports = config.get_ports().iter().chain(std::iter::repeat(&5432));
                let hosts: Vec<String> = (config.get_hosts().iter().zip(ports))
                    .map(|(host, port)| match host {
                        postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                        postgres::config::Host::Unix(dir) => dir.display().to_string(),
                    })
                    .collect();
                let user = config.get_user().unwrap_or("?");
                write!(f, "postgres:{user}@{}/{}", hosts.join(","), config.get_dbname().unwrap_or(user))
            }
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod writer_tests;
