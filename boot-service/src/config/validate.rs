//! Wire config → validated [`Config`]: defaults filled in, cross-field rules checked, each refusal
//! naming the line and field it is about.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_spanned::Spanned;

use super::deploy::{check_ssh_key, parse_duration};
use super::wire::{self, DhcpMode, Enrolment};
use super::{
    BootConfig, Config, ConfigError, DEFAULT_MAX_DISCOVERED, DeployConfig, DhcpConfig, EnrolmentLimits, HttpConfig,
    Locations, Pool, PortLocation, Reservation, StoreConfig, Subnet, TftpConfig, line_of,
};
use crate::token::Secret;
use crate::webhook::WebhookConfig;
use rackhand_api::Location;

const MIN_ADMIN_TOKEN_LEN: usize = 16;
const MIN_LEASE_SECS: u32 = 60;
const DEFAULT_LEASE_SECS: u32 = 3600;

struct Checker<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Checker<'_> {
    fn err<T>(&self, at: &Spanned<T>, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.origin.to_owned(),
            line: line_of(self.text, at.span().start),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

pub(super) fn validate(file: wire::ConfigFile, text: &str, origin: &str) -> Result<Config, ConfigError> {
    let c = Checker { text, origin };
    let server = file.server;

    let token = &server.admin_token;
    if token.get_ref().trim().len() < MIN_ADMIN_TOKEN_LEN {
        return Err(c.err(token, "server.admin_token", format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters")));
    }

    let http_listen = file.http.listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 80)));
    let public_url = match &file.http.public_url {
        Some(url) if !(url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://")) => {
            return Err(c.err(url, "http.public_url", "must start with http:// or https://"));
        }
        Some(url) => url.get_ref().trim_end_matches('/').to_owned(),
        None if http_listen.port() == 80 => format!("http://{}", server.advertise),
        None => format!("http://{}:{}", server.advertise, http_listen.port()),
    };

    let store = match &file.store.postgres {
        Some(url) if file.store.path.is_some() => {
            return Err(c.err(url, "store.postgres", "`path` (SQLite) is set too: a store is one or the other"));
        }
        Some(url) => match url.get_ref().parse::<postgres::Config>() {
            Ok(_) => StoreConfig::Postgres { config: url.get_ref().clone() },
            Err(err) => return Err(c.err(url, "store.postgres", format!("not a PostgreSQL connection string: {err}"))),
        },
        None => {
            StoreConfig::Sqlite { path: file.store.path.clone().unwrap_or_else(|| server.data_dir.join("rackhand.db")) }
        }
    };

    let boot = file.boot;
    let assets_dir = boot.assets_dir.unwrap_or_else(|| server.data_dir.join("assets"));
    let boot = BootConfig {
        images_dir: boot.images_dir.unwrap_or_else(|| server.data_dir.join("images")),
        kernel: boot.kernel.unwrap_or_else(|| "vmlinuz".into()),
        initrd: boot.initrd.unwrap_or_else(|| "initrd.img".into()),
        cmdline: boot.cmdline.unwrap_or_else(|| "console=ttyS0,115200n8".into()),
        bios_file: boot.bios_file.unwrap_or_else(|| "undionly.kpxe".into()),
        uefi_x64_file: boot.uefi_x64_file.unwrap_or_else(|| "ipxe.efi".into()),
        uefi_arm64_file: boot.uefi_arm64_file.unwrap_or_else(|| "ipxe-arm64.efi".into()),
        assets_dir: assets_dir.clone(),
    };

    let tftp: TftpConfig = super::tftp::validate(file.tftp, assets_dir).map_err(|refused| ConfigError::Invalid {
        file: origin.to_owned(),
        line: line_of(text, refused.at),
        field: refused.field.to_owned(),
        message: refused.message,
    })?;

    let mut peers: Vec<String> = Vec::with_capacity(file.http.peers.len());
    for peer in &file.http.peers {
        let url = match rackhand_api::cmdline::check_server_url("http.peers", peer.get_ref()) {
            Ok(url) if url == public_url => return Err(c.err(peer, "http.peers", "is this instance's own public_url")),
            Ok(url) if peers.contains(&url) => return Err(c.err(peer, "http.peers", format!("names {url} twice"))),
            Ok(url) => url,
            Err(err) => return Err(c.err(peer, "http.peers", err.to_string())),
        };
        if peers.len() + 1 >= crate::dhcp::MAX_MEMBERS {
            let most = crate::dhcp::MAX_MEMBERS - 1;
            return Err(c.err(
                peer,
                "http.peers",
                format!("more than {most} peers (the instances split DHCP clients)"),
            ));
        }
        peers.push(url);
    }
    let http = HttpConfig {
        listen: http_listen,
        public_url,
        peers,
        header_read_timeout: duration(&c, &file.http.header_read_timeout, "http.header_read_timeout")?
            .unwrap_or(HttpConfig::DEFAULT_HEADER_READ_TIMEOUT),
        idle_timeout: duration(&c, &file.http.idle_timeout, "http.idle_timeout")?
            .unwrap_or(HttpConfig::DEFAULT_IDLE_TIMEOUT),
        max_connections: match &file.http.max_connections {
            Some(max) if *max.get_ref() == 0 => {
                return Err(c.err(max, "http.max_connections", "must be at least 1"));
            }
            Some(max) => *max.get_ref() as usize,
            None => HttpConfig::DEFAULT_MAX_CONNECTIONS,
        },
    };
    let dhcp = validate_dhcp(&c, &file.dhcp)?;
    let deploy = validate_deploy(&c, &file.deploy)?;
    let webhook = match &file.webhook {
        None => None,
        Some(hook) => {
            let url = hook.url.get_ref();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(char::is_whitespace) {
                return Err(c.err(&hook.url, "webhook.url", "must be an http:// or https:// URL"));
            }
            if hook.secret.get_ref().trim().len() < MIN_ADMIN_TOKEN_LEN {
                let why = format!(
                    "must be at least {MIN_ADMIN_TOKEN_LEN} characters (the receiver checks signatures with it)"
                );
                return Err(c.err(&hook.secret, "webhook.secret", why));
            }
            Some(WebhookConfig::new(url.clone(), Secret::new(hook.secret.get_ref().trim().to_owned())))
        }
    };
    let locations = validate_locations(&c, &file.locations)?;

    Ok(Config {
        advertise: server.advertise,
        data_dir: server.data_dir,
        admin_token: Secret::new(server.admin_token.into_inner().trim().to_owned()),
        http,
        tftp,
        boot,
        store,
        dhcp,
        deploy,
        locations,
        webhook,
    })
}

/// An optional duration field, refused with its line when malformed.
fn duration(c: &Checker, value: &Option<Spanned<String>>, field: &str) -> Result<Option<Duration>, ConfigError> {
    value.as_ref().map(|text| parse_duration(text.get_ref()).map_err(|why| c.err(text, field, why))).transpose()
}

fn validate_locations(c: &Checker, sections: &[wire::LocationSection]) -> Result<Locations, ConfigError> {
    let mut ports: Vec<PortLocation> = Vec::new();
    for section in sections {
        let switch = section.switch.get_ref().trim();
        if switch.is_empty() || section.port.trim().is_empty() {
            return Err(c.err(&section.switch, "location", "name the switch and its port"));
        }
        let location = Location { rack: section.rack.get_ref().clone(), unit: *section.unit.get_ref() };
        if let Err(why) = location.check() {
            let (at, field) = if why.starts_with("unit") {
                (section.unit.span(), "location.unit")
            } else {
                (section.rack.span(), "location.rack")
            };
            return Err(c.err(&Spanned::new(at, ()), field, why));
        }
        if let Some(other) = ports.iter().find(|p| p.switch == switch && p.port == section.port.trim()) {
            return Err(c.err(
                &section.switch,
                "location",
                format!("{switch} port {} is already cabled to {}", other.port, other.location),
            ));
        }
        ports.push(PortLocation { switch: switch.to_owned(), port: section.port.trim().to_owned(), location });
    }
    Ok(Locations(ports))
}

fn validate_deploy(c: &Checker, deploy: &wire::DeploySection) -> Result<DeployConfig, ConfigError> {
    let defaults = DeployConfig::default();
    let mut ssh_authorized_keys = Vec::new();
    for (index, key) in deploy.ssh_authorized_keys.iter().enumerate() {
        check_ssh_key(key.get_ref()).map_err(|why| c.err(key, &format!("deploy.ssh_authorized_keys[{index}]"), why))?;
        ssh_authorized_keys.push(key.get_ref().trim().to_owned());
    }
    let duration = |value: &Option<Spanned<String>>, field: &str, default| match value {
        Some(text) => parse_duration(text.get_ref()).map_err(|why| c.err(text, &format!("deploy.{field}"), why)),
        None => Ok(default),
    };
    Ok(DeployConfig {
        ssh_authorized_keys,
        installer_deadline: duration(&deploy.installer_deadline, "installer_deadline", defaults.installer_deadline)?,
        reboot_deadline: duration(&deploy.reboot_deadline, "reboot_deadline", defaults.reboot_deadline)?,
        first_boot_deadline: duration(
            &deploy.first_boot_deadline,
            "first_boot_deadline",
            defaults.first_boot_deadline,
        )?,
        bmc_boot_deadline: duration(&deploy.bmc_boot_deadline, "bmc_boot_deadline", defaults.bmc_boot_deadline)?,
        bmc_poll_interval: duration(&deploy.bmc_poll_interval, "bmc_poll_interval", defaults.bmc_poll_interval)?,
        deadline_check_interval: duration(
            &deploy.deadline_check_interval,
            "deadline_check_interval",
            defaults.deadline_check_interval,
        )?,
    })
}

/// A cap on self-enrolled servers (`field`), or `default` when unset.
fn max_discovered(c: &Checker, max: &Option<Spanned<u32>>, field: &str, default: usize) -> Result<usize, ConfigError> {
    match max {
        Some(max) if *max.get_ref() == 0 => {
            Err(c.err(max, field, "at least 1 (register servers instead of closing the subnet)"))
        }
        Some(max) => Ok(*max.get_ref() as usize),
        None => Ok(default),
    }
}

fn enrolment_limits(c: &Checker, dhcp: &wire::DhcpSection) -> Result<EnrolmentLimits, ConfigError> {
    let forget = duration(c, &dhcp.forget_discovered_after, "dhcp.forget_discovered_after")?;
    Ok(EnrolmentLimits {
        forget_discovered_after: forget.unwrap_or(EnrolmentLimits::default().forget_discovered_after),
    })
}

fn validate_dhcp(c: &Checker, section: &Spanned<wire::DhcpSection>) -> Result<DhcpConfig, ConfigError> {
    let dhcp = section.get_ref();
    if dhcp.interfaces.get_ref().is_empty() {
        return Err(c.err(&dhcp.interfaces, "dhcp.interfaces", "name at least one interface to serve"));
    }
    if dhcp.subnets.is_empty() {
        return Err(c.err(section, "dhcp.subnet", "define at least one [[dhcp.subnet]]"));
    }
    let limits = enrolment_limits(c, dhcp)?;
    let default_max = max_discovered(c, &dhcp.max_discovered, "dhcp.max_discovered", DEFAULT_MAX_DISCOVERED)?;
    let mut subnets: Vec<Subnet> = Vec::new();
    for wire in &dhcp.subnets {
        let subnet = validate_subnet(c, wire, dhcp.mode, default_max)?;
        if let Some(other) = subnets
            .iter()
            .find(|s| s.network.contains(&subnet.network.network()) || subnet.network.contains(&s.network.network()))
        {
            return Err(c.err(&wire.network, "dhcp.subnet.network", format!("overlaps subnet {}", other.network)));
        }
        subnets.push(subnet);
    }
    Ok(DhcpConfig {
        mode: dhcp.mode,
        interfaces: dhcp.interfaces.get_ref().clone(),
        port: dhcp.port.unwrap_or(67),
        ipv6_null_router_advertisements: dhcp.ipv6_null_router_advertisements.unwrap_or(false),
        enrolment_limits: limits,
        subnets,
    })
}

fn validate_subnet(
    c: &Checker,
    s: &wire::SubnetSection,
    mode: DhcpMode,
    default_max_discovered: usize,
) -> Result<Subnet, ConfigError> {
    let network = s.network.get_ref().trunc();
    if network.prefix_len() > 30 {
        return Err(c.err(&s.network, "dhcp.subnet.network", "prefix must be /30 or wider"));
    }
    let usable = |ip: Ipv4Addr| network.contains(&ip) && ip != network.network() && ip != network.broadcast();

    if mode == DhcpMode::Proxy {
        if let Some(pool) = s.pools.first() {
            return Err(c.err(&pool.start, "dhcp.subnet.pools", "proxy mode hands out no addresses: remove the pools"));
        }
        if let Some(r) = s.reservations.first() {
            return Err(c.err(
                &r.ip,
                "dhcp.subnet.reservation",
                "proxy mode hands out no addresses: remove the reservations",
            ));
        }
    } else if s.pools.is_empty() && s.reservations.is_empty() {
        return Err(c.err(&s.network, "dhcp.subnet.pools", "full mode needs a pool or a reservation to hand out"));
    }

    let mut pools: Vec<Pool> = Vec::new();
    for p in &s.pools {
        for (end, name) in [(&p.start, "start"), (&p.end, "end")] {
            if !usable(*end.get_ref()) {
                return Err(c.err(
                    end,
                    &format!("dhcp.subnet.pools.{name}"),
                    format!("{} is not a usable address of {network}", end.get_ref()),
                ));
            }
        }
        let pool = Pool { start: *p.start.get_ref(), end: *p.end.get_ref() };
        if pool.start > pool.end {
            return Err(c.err(
                &p.end,
                "dhcp.subnet.pools.end",
                format!("{} comes before start {}", pool.end, pool.start),
            ));
        }
        if let Some(other) = pools.iter().find(|o| o.start <= pool.end && pool.start <= o.end) {
            return Err(c.err(&p.start, "dhcp.subnet.pools", format!("overlaps pool {}-{}", other.start, other.end)));
        }
        pools.push(pool);
    }

    let mut reservations: Vec<Reservation> = Vec::new();
    for r in &s.reservations {
        let (mac, ip) = (*r.mac.get_ref(), *r.ip.get_ref());
        if !usable(ip) {
            return Err(c.err(
                &r.ip,
                "dhcp.subnet.reservation.ip",
                format!("{ip} is not a usable address of {network}"),
            ));
        }
        if reservations.iter().any(|o| o.mac == mac) {
            return Err(c.err(&r.mac, "dhcp.subnet.reservation.mac", format!("{mac} is reserved twice")));
        }
        if reservations.iter().any(|o| o.ip == ip) {
            return Err(c.err(&r.ip, "dhcp.subnet.reservation.ip", format!("{ip} is reserved twice")));
        }
        reservations.push(Reservation { mac, ip, hostname: r.hostname.clone() });
    }

    if let Some(router) = &s.router
        && !usable(*router.get_ref())
    {
        return Err(c.err(router, "dhcp.subnet.router", format!("{} is not inside {network}", router.get_ref())));
    }
    let lease_secs = match &s.lease_secs {
        Some(secs) if *secs.get_ref() < MIN_LEASE_SECS => {
            return Err(c.err(secs, "dhcp.subnet.lease_secs", format!("must be at least {MIN_LEASE_SECS}")));
        }
        Some(secs) => *secs.get_ref(),
        None => DEFAULT_LEASE_SECS,
    };
    if let Some(max) = &s.max_discovered
        && s.enrolment != Enrolment::Auto
    {
        return Err(c.err(
            max,
            "dhcp.subnet.max_discovered",
            "only an enrolment = \"auto\" subnet enrols servers: remove it, or make the subnet auto",
        ));
    }
    let max_discovered = max_discovered(c, &s.max_discovered, "dhcp.subnet.max_discovered", default_max_discovered)?;

    Ok(Subnet {
        network,
        pools,
        router: s.router.as_ref().map(|r| *r.get_ref()),
        dns: s.dns.clone(),
        domain: s.domain.clone(),
        lease_secs,
        enrolment: s.enrolment,
        max_discovered,
        reservations,
    })
}
