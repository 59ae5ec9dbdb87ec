//! The config file written from typed values, for whoever starts a boot service: the lab, the benchmark,
//! the tests. It fills the very serde types the service reads (`wire.rs`) and serializes them with the
//! `toml` crate, so key names, tables and quoting come from one place and a renamed key cannot leave a
//! hand-typed copy behind. What is not set is left out, and the service's default applies.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::Ipv4Net;
use rackhand_api::MacAddr;
use serde_spanned::Spanned;

use super::wire::{
    ConfigFile, DhcpMode, DhcpSection, Enrolment, LocationSection, PoolSection, ReservationSection, ServerSection,
    SubnetSection,
};

/// A boot-service config file under construction: what the service needs to start (`new`) and any other
/// value set by a method; [`ConfigWriter::render`] gives the TOML text.
#[must_use]
#[derive(Debug)]
pub struct ConfigWriter {
    file: ConfigFile,
}

/// One `[[dhcp.subnet]]` under construction, added with [`ConfigWriter::subnet`].
#[must_use]
#[derive(Debug)]
pub struct SubnetWriter {
    subnet: SubnetSection,
}

/// A value that comes from no text: spans only name lines of a file that was read.
fn unplaced<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

/// A duration as `[deploy]` takes it, in the largest unit that holds it whole (`90s`, `5m`, `2h`);
/// a part below a second is dropped.
fn duration_text(duration: Duration) -> Spanned<String> {
    let secs = duration.as_secs();
    let text = match secs {
        0 => "0s".to_owned(),
        _ if secs.is_multiple_of(3600) => format!("{}h", secs / 3600),
        _ if secs.is_multiple_of(60) => format!("{}m", secs / 60),
        _ => format!("{secs}s"),
    };
    unplaced(text)
}

impl ConfigWriter {
    /// `[server]` and the `[dhcp]` mode and interfaces. A service also needs a subnet to serve
    /// ([`ConfigWriter::subnet`]); everything else has a default.
    pub fn new(
        advertise: Ipv4Addr,
        data_dir: impl Into<PathBuf>,
        admin_token: impl Into<String>,
        mode: DhcpMode,
        interfaces: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let server = ServerSection { advertise, data_dir: data_dir.into(), admin_token: unplaced(admin_token.into()) };
        let dhcp = DhcpSection {
            mode,
            interfaces: unplaced(interfaces.into_iter().map(Into::into).collect()),
            port: None,
            ipv6_null_router_advertisements: None,
            max_discovered: None,
            forget_discovered_after: None,
            subnets: Vec::new(),
        };
        let file = ConfigFile {
            server,
            http: Default::default(),
            tftp: Default::default(),
            boot: Default::default(),
            store: Default::default(),
            dhcp: unplaced(dhcp),
            deploy: Default::default(),
            locations: Vec::new(),
            webhook: None,
        };
        Self { file }
    }

    /// `[server] advertise`, replacing the one given to [`ConfigWriter::new`].
    pub fn advertise(mut self, advertise: Ipv4Addr) -> Self {
        self.file.server.advertise = advertise;
        self
    }

    /// `[dhcp] interfaces`, replacing the ones given to [`ConfigWriter::new`].
    pub fn interfaces(mut self, interfaces: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.file.dhcp.get_mut().interfaces = unplaced(interfaces.into_iter().map(Into::into).collect());
        self
    }

    /// The config file's text.
    pub fn render(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(&self.file)
    }

    /// `[http] listen`.
    pub fn http_listen(mut self, listen: SocketAddr) -> Self {
        self.file.http.listen = Some(listen);
        self
    }

    /// `[http] public_url`: the base of every URL handed to iPXE and the installer.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.file.http.public_url = Some(unplaced(url.into()));
        self
    }

    /// `[http] peers`: the other instances' public URLs.
    pub fn peers<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        self.file.http.peers = urls.into_iter().map(|url| unplaced(url.into())).collect();
        self
    }

    /// `[http] max_connections`: connections served at once (beyond it new ones wait in the backlog).
    pub fn http_max_connections(mut self, max: u32) -> Self {
        self.file.http.max_connections = Some(unplaced(max));
        self
    }

    /// `[tftp] listen`.
    pub fn tftp_listen(mut self, listen: SocketAddr) -> Self {
        self.file.tftp.listen = Some(listen);
        self
    }

    /// `[tftp] max_window_size`: the largest RFC 7440 window a client may ask for.
    pub fn tftp_max_window_size(mut self, blocks: u16) -> Self {
        self.file.tftp.max_window_size = Some(blocks);
        self
    }

    /// `[boot] assets_dir`: served under `/assets/` (kernel, initramfs, iPXE binaries) and over TFTP.
    pub fn assets_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.file.boot.assets_dir = Some(dir.into());
        self
    }

    /// `[boot] images_dir`: served under `/images/`.
    pub fn images_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.file.boot.images_dir = Some(dir.into());
        self
    }

    /// `[boot] cmdline`: kernel arguments after the `rackhand.*` ones.
    pub fn cmdline(mut self, cmdline: impl Into<String>) -> Self {
        self.file.boot.cmdline = Some(cmdline.into());
        self
    }

    /// `[store] path`: the SQLite database.
    pub fn store_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.file.store.path = Some(path.into());
        self
    }

    /// `[store] postgres`: a PostgreSQL connection string, instead of the SQLite file.
    pub fn store_postgres(mut self, config: impl Into<String>) -> Self {
        self.file.store.postgres = Some(unplaced(config.into()));
        self
    }

    /// `[webhook]`: every node state change POSTed to `url`, signed with `secret`.
    pub fn webhook(mut self, url: impl Into<String>, secret: impl Into<String>) -> Self {
        self.file.webhook =
            Some(super::wire::WebhookSection { url: unplaced(url.into()), secret: unplaced(secret.into()) });
        self
    }

    /// `[dhcp] port`: the server port (67 unless a test needs another).
    pub fn dhcp_port(mut self, port: u16) -> Self {
        self.file.dhcp.get_mut().port = Some(port);
        self
    }

    /// `[dhcp] ipv6_null_router_advertisements`.
    pub fn ipv6_null_router_advertisements(mut self, send: bool) -> Self {
        self.file.dhcp.get_mut().ipv6_null_router_advertisements = Some(send);
        self
    }

    /// A `[[dhcp.subnet]]` after those added before.
    pub fn subnet(mut self, subnet: SubnetWriter) -> Self {
        self.file.dhcp.get_mut().subnets.push(subnet.subnet);
        self
    }

    /// One more line of `[deploy] ssh_authorized_keys`.
    pub fn ssh_authorized_key(mut self, key: impl Into<String>) -> Self {
        self.file.deploy.ssh_authorized_keys.push(unplaced(key.into()));
        self
    }

    /// `[deploy] installer_deadline`.
    pub fn installer_deadline(mut self, deadline: Duration) -> Self {
        self.file.deploy.installer_deadline = Some(duration_text(deadline));
        self
    }

    /// `[deploy] bmc_poll_interval`.
    pub fn bmc_poll_interval(mut self, every: Duration) -> Self {
        self.file.deploy.bmc_poll_interval = Some(duration_text(every));
        self
    }

    /// `[deploy] bmc_boot_deadline`.
    pub fn bmc_boot_deadline(mut self, deadline: Duration) -> Self {
        self.file.deploy.bmc_boot_deadline = Some(duration_text(deadline));
        self
    }

    /// `[deploy] reboot_deadline`.
    pub fn reboot_deadline(mut self, deadline: Duration) -> Self {
        self.file.deploy.reboot_deadline = Some(duration_text(deadline));
        self
    }

    /// `[deploy] first_boot_deadline`.
    pub fn first_boot_deadline(mut self, deadline: Duration) -> Self {
        self.file.deploy.first_boot_deadline = Some(duration_text(deadline));
        self
    }

    /// `[deploy] deadline_check_interval`.
    pub fn deadline_check_interval(mut self, every: Duration) -> Self {
        self.file.deploy.deadline_check_interval = Some(duration_text(every));
        self
    }

    /// A `[[location]]`: the server cabled to `port` of `switch` stands in `rack` at `unit`.
    pub fn location(
        mut self,
        switch: impl Into<String>,
        port: impl Into<String>,
        rack: impl Into<String>,
        unit: u32,
    ) -> Self {
        self.file.locations.push(LocationSection {
            switch: unplaced(switch.into()),
            port: port.into(),
            rack: unplaced(rack.into()),
            unit: unplaced(unit),
        });
        self
    }
}

impl SubnetWriter {
    /// A subnet and who may boot from it; in full mode it also needs a pool or a reservation.
    pub fn new(network: Ipv4Net, enrolment: Enrolment) -> Self {
        let subnet = SubnetSection {
            network: unplaced(network),
            pools: Vec::new(),
            router: None,
            dns: Vec::new(),
            domain: None,
            lease_secs: None,
            enrolment,
            max_discovered: None,
            reservations: Vec::new(),
        };
        Self { subnet }
    }

    /// The router handed out (DHCP option 3).
    pub fn router(mut self, router: Ipv4Addr) -> Self {
        self.subnet.router = Some(unplaced(router));
        self
    }

    /// The DNS servers handed out (option 6), in place of any set before.
    pub fn dns(mut self, servers: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        self.subnet.dns = servers.into_iter().collect();
        self
    }

    /// The domain name handed out (option 15).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.subnet.domain = Some(domain.into());
        self
    }

    /// How long a lease lasts, in seconds.
    pub fn lease_secs(mut self, secs: u32) -> Self {
        self.subnet.lease_secs = Some(unplaced(secs));
        self
    }

    /// Most self-enrolled servers of this (auto-enrolment) subnet that have not booted yet.
    pub fn max_discovered(mut self, max: u32) -> Self {
        self.subnet.max_discovered = Some(unplaced(max));
        self
    }

    /// One more address range handed out, `start` to `end` inclusive.
    pub fn pool(mut self, start: Ipv4Addr, end: Ipv4Addr) -> Self {
        self.subnet.pools.push(PoolSection { start: unplaced(start), end: unplaced(end) });
        self
    }

    /// One more `[[dhcp.subnet.reservation]]`: `mac` always gets `ip`.
    pub fn reservation(mut self, mac: MacAddr, ip: Ipv4Addr, hostname: Option<&str>) -> Self {
        let hostname = hostname.map(str::to_owned);
        self.subnet.reservations.push(ReservationSection { mac: unplaced(mac), ip: unplaced(ip), hostname });
        self
    }
}
