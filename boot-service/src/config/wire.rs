//! The config file as written: serde types that mirror the TOML one to one and refuse unknown keys.
//! Semantic checks live in `validate.rs`; fields that such a check may reject are `Spanned` so the
//! error can name their line. The same types serialize, so `writer.rs` writes the file by these names.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::Ipv4Net;
use rackhand_api::MacAddr;
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub server: ServerSection,
    #[serde(default, skip_serializing_if = "is_default")]
    pub http: HttpSection,
    #[serde(default, skip_serializing_if = "is_default")]
    pub tftp: TftpSection,
    #[serde(default, skip_serializing_if = "is_default")]
    pub boot: BootSection,
    #[serde(default, skip_serializing_if = "is_default")]
    pub store: StoreSection,
    pub dhcp: Spanned<DhcpSection>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub deploy: DeploySection,
    #[serde(default, rename = "location", skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<LocationSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSection>,
}

/// `[webhook]`: where every node state change is POSTed, and the secret its signature is made with.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub url: Spanned<String>,
    pub secret: Spanned<String>,
}

/// A table left out of a written file when it holds nothing but defaults.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `[[location]]`: the rack unit cabled to one switch port (see `locations.rs`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSection {
    /// The switch's LLDP system name or chassis id.
    pub switch: Spanned<String>,
    /// Its LLDP port id or port description.
    pub port: String,
    pub rack: Spanned<String>,
    pub unit: Spanned<u32>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub advertise: Ipv4Addr,
    pub data_dir: PathBuf,
    pub admin_token: Spanned<String>,
}

#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    pub listen: Option<SocketAddr>,
    pub public_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<Spanned<String>>,
    /// Durations as `10s`, `1m`.
    pub header_read_timeout: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub max_connections: Option<Spanned<u32>>,
}

#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TftpSection {
    pub listen: Option<SocketAddr>,
    pub root: Option<PathBuf>,
    pub max_window_size: Option<u16>,
    pub max_block_size: Option<Spanned<u16>>,
    /// A duration as `2s`.
    pub timeout: Option<Spanned<String>>,
    pub max_retries: Option<u32>,
    pub max_transfers: Option<Spanned<usize>>,
    pub max_transfers_per_source: Option<Spanned<usize>>,
}

#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootSection {
    pub assets_dir: Option<PathBuf>,
    pub images_dir: Option<PathBuf>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
    pub bios_file: Option<String>,
    pub uefi_x64_file: Option<String>,
    pub uefi_arm64_file: Option<String>,
}

#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// The SQLite database (the default store).
    pub path: Option<PathBuf>,
    /// A PostgreSQL database shared by several instances, in libpq's URL or `key=value` form.
    pub postgres: Option<Spanned<String>>,
}

/// What the installed OS gets, and how long the boot service waits for it.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySection {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_authorized_keys: Vec<Spanned<String>>,
    /// Durations as `90s`, `5m`, `2h`.
    pub installer_deadline: Option<Spanned<String>>,
    pub reboot_deadline: Option<Spanned<String>>,
    pub first_boot_deadline: Option<Spanned<String>>,
    pub bmc_boot_deadline: Option<Spanned<String>>,
    pub bmc_poll_interval: Option<Spanned<String>>,
    pub deadline_check_interval: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DhcpMode {
    Full,
    Proxy,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpSection {
    pub mode: DhcpMode,
    pub interfaces: Spanned<Vec<String>>,
    pub port: Option<u16>,
    pub ipv6_null_router_advertisements: Option<bool>,
    /// Most self-enrolled servers that have not booted yet, per auto-enrolment subnet (the default of
    /// each subnet's own `max_discovered`).
    pub max_discovered: Option<Spanned<u32>>,
    /// How long such a server is kept (`90s`, `5m`, `2h`).
    pub forget_discovered_after: Option<Spanned<String>>,
    #[serde(default, rename = "subnet", skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<SubnetSection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Enrolment {
    /// Unknown MACs are enrolled as discovered nodes and boot the installer.
    Auto,
    /// Only MACs registered through the API boot; others get no boot file.
    RegisteredOnly,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetSection {
    pub network: Spanned<Ipv4Net>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PoolSection>,
    pub router: Option<Spanned<Ipv4Addr>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub lease_secs: Option<Spanned<u32>>,
    pub enrolment: Enrolment,
    /// Most self-enrolled servers of this subnet that have not booted yet; `[dhcp] max_discovered` if unset.
    pub max_discovered: Option<Spanned<u32>>,
    #[serde(default, rename = "reservation", skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<ReservationSection>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    pub start: Spanned<Ipv4Addr>,
    pub end: Spanned<Ipv4Addr>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationSection {
    pub mac: Spanned<MacAddr>,
    pub ip: Spanned<Ipv4Addr>,
    pub hostname: Option<String>,
}
