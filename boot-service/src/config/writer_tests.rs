//! What [`ConfigWriter`] writes is what the service reads: each value set comes back from
//! [`Config::parse`] as it was set, and text that needs quoting survives.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use rackhand_api::{Location, MacAddr};

use super::*;

const TOKEN: &str = "writer-test-admin-token";
/// A real `ssh-keygen -t ed25519` public key.
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFu5+pKQ2y573dYFGYroQeYi1CNjkTfWOeomCln4ervB ops@site";

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, last)
}

fn parse(writer: &ConfigWriter) -> Config {
    let text = writer.render().expect("renders");
    Config::parse(&text, "written.toml").unwrap_or_else(|err| panic!("{err}\n{text}"))
}

/// The smallest config a service starts with: `new` and one subnet.
fn minimal(mode: DhcpMode) -> ConfigWriter {
    ConfigWriter::new(ip(1), "/var/lib/rackhand", TOKEN, mode, ["br0"])
        .subnet(SubnetWriter::new("10.77.0.0/24".parse().unwrap(), Enrolment::Auto))
}

#[test]
fn every_value_set_is_read_back_as_set() {
    let (http, tftp): (SocketAddr, SocketAddr) = ("0.0.0.0:8080".parse().unwrap(), "0.0.0.0:6969".parse().unwrap());
    let mac: MacAddr = "52:54:00:00:00:10".parse().unwrap();
    let writer = ConfigWriter::new(ip(1), "/srv/rackhand", TOKEN, DhcpMode::Full, ["br0", "br1"])
        .http_listen(http)
        .public_url("http://rackhand.example:8080")
        .http_max_connections(12_000)
        .tftp_listen(tftp)
        .tftp_max_window_size(16)
        .assets_dir("/srv/assets")
        .images_dir("/srv/images")
        .cmdline("console=ttyS0,115200n8 panic=-1")
        .store_path("/srv/db/rackhand.db")
        .dhcp_port(1067)
        .ipv6_null_router_advertisements(true)
        .subnet(
            SubnetWriter::new("10.77.0.0/24".parse().unwrap(), Enrolment::Auto)
                .router(ip(1))
                .dns([ip(1), ip(2)])
                .domain("rack.example")
                .lease_secs(600)
                .max_discovered(7)
                .pool(ip(100), ip(120))
                .pool(ip(130), ip(140))
                .reservation(mac, ip(10), Some("rack1-u10")),
        )
        .subnet(
            SubnetWriter::new("10.88.0.0/24".parse().unwrap(), Enrolment::RegisteredOnly)
                .pool(Ipv4Addr::new(10, 88, 0, 50), Ipv4Addr::new(10, 88, 0, 60)),
        )
        .ssh_authorized_key(KEY)
        .installer_deadline(Duration::from_secs(90))
        .reboot_deadline(Duration::from_secs(5 * 60))
        .first_boot_deadline(Duration::from_secs(2 * 3600))
        .bmc_boot_deadline(Duration::from_secs(120))
        .bmc_poll_interval(Duration::from_secs(10))
        .deadline_check_interval(Duration::from_secs(1))
        .location("sw-a", "Ethernet1", "rack1", 1)
        .location("sw-b", "Ethernet1", "rack1", 1);
    let config = parse(&writer);

    assert_eq!((config.advertise, config.data_dir.as_path()), (ip(1), "/srv/rackhand".as_ref()));
    assert_eq!(config.admin_token.expose(), TOKEN);
    assert_eq!((config.http.listen, config.http.public_url.as_str()), (http, "http://rackhand.example:8080"));
    assert_eq!(config.http.max_connections, 12_000);
    assert_eq!((config.tftp.listen, config.tftp.max_window_size), (tftp, 16));
    assert_eq!(config.boot.assets_dir, PathBuf::from("/srv/assets"));
    assert_eq!(config.tftp.root, PathBuf::from("/srv/assets"), "TFTP serves the assets unless told otherwise");
    assert_eq!(config.boot.images_dir, PathBuf::from("/srv/images"));
    assert_eq!(config.boot.cmdline, "console=ttyS0,115200n8 panic=-1");
    assert!(matches!(&config.store, StoreConfig::Sqlite { path } if path == &PathBuf::from("/srv/db/rackhand.db")));
    assert_eq!((config.dhcp.mode, &config.dhcp.interfaces), (DhcpMode::Full, &vec!["br0".into(), "br1".into()]));
    assert_eq!((config.dhcp.port, config.dhcp.ipv6_null_router_advertisements), (1067, true));
    let lab = Subnet {
        network: "10.77.0.0/24".parse().unwrap(),
        pools: vec![Pool { start: ip(100), end: ip(120) }, Pool { start: ip(130), end: ip(140) }],
        router: Some(ip(1)),
        dns: vec![ip(1), ip(2)],
        domain: Some("rack.example".into()),
        lease_secs: 600,
        enrolment: Enrolment::Auto,
        max_discovered: 7,
        reservations: vec![Reservation { mac, ip: ip(10), hostname: Some("rack1-u10".into()) }],
    };
    let relayed = Subnet {
        network: "10.88.0.0/24".parse().unwrap(),
        pools: vec![Pool { start: Ipv4Addr::new(10, 88, 0, 50), end: Ipv4Addr::new(10, 88, 0, 60) }],
        router: None,
        dns: vec![],
        domain: None,
        lease_secs: 3600,
        enrolment: Enrolment::RegisteredOnly,
        max_discovered: DEFAULT_MAX_DISCOVERED,
        reservations: vec![],
    };
    assert_eq!(config.dhcp.subnets, [lab, relayed]);
    let deploy = DeployConfig {
        ssh_authorized_keys: vec![KEY.into()],
        installer_deadline: Duration::from_secs(90),
        reboot_deadline: Duration::from_secs(300),
        first_boot_deadline: Duration::from_secs(7200),
        bmc_boot_deadline: Duration::from_secs(120),
        bmc_poll_interval: Duration::from_secs(10),
        deadline_check_interval: Duration::from_secs(1),
    };
    assert_eq!(config.deploy, deploy);
    let rack1_u1 = Location { rack: "rack1".into(), unit: 1 };
    let port =
        |switch: &str| PortLocation { switch: switch.into(), port: "Ethernet1".into(), location: rack1_u1.clone() };
    assert_eq!(config.locations, Locations(vec![port("sw-a"), port("sw-b")]));
}

#[test]
fn a_writer_with_only_what_the_service_needs_gives_the_defaults() {
    let text = minimal(DhcpMode::Proxy).render().unwrap();
    for table in ["[http]", "[tftp]", "[boot]", "[store]", "[deploy]", "[[location]]"] {
        assert!(!text.contains(table), "nothing set, so no {table}:\n{text}");
    }
    let config = parse(&minimal(DhcpMode::Proxy));
    assert_eq!(config.http.public_url, "http://10.77.0.1");
    assert_eq!(config.http.max_connections, HttpConfig::DEFAULT_MAX_CONNECTIONS);
    assert_eq!(config.boot.assets_dir, PathBuf::from("/var/lib/rackhand/assets"));
    assert_eq!((config.dhcp.port, config.dhcp.ipv6_null_router_advertisements), (67, false));
    assert_eq!(config.dhcp.subnets[0].pools, []);
    assert_eq!(config.deploy, DeployConfig::default());
    assert_eq!(config.locations, Locations::default());
}

#[test]
fn quotes_backslashes_and_line_breaks_survive() {
    let dir = r#"/srv/a "quoted" dir\with\backslashes"#;
    let token = "a token with \"quotes\", \\ and 'apostrophes'";
    let cmdline = "console=ttyS0 rackhand.note=\"two words\" path=C:\\boot\ttab";
    let domain = "rack\nexample";
    let writer = ConfigWriter::new(ip(1), dir, token, DhcpMode::Proxy, ["br \"0\""])
        .cmdline(cmdline)
        .subnet(SubnetWriter::new("10.77.0.0/24".parse().unwrap(), Enrolment::Auto).domain(domain));
    let config = parse(&writer);
    assert_eq!(config.data_dir, PathBuf::from(dir));
    assert_eq!(config.admin_token.expose(), token);
    assert_eq!(config.boot.cmdline, cmdline);
    assert_eq!(config.dhcp.interfaces, ["br \"0\""]);
    assert_eq!(config.dhcp.subnets[0].domain.as_deref(), Some(domain));
}

#[test]
fn durations_are_written_in_their_largest_whole_unit() {
    let written = |secs| duration_text_of(Duration::from_secs(secs));
    assert_eq!(
        [written(45), written(90), written(300), written(3600), written(5400)],
        ["45s", "90s", "5m", "1h", "90m"]
    );
}

/// The `[deploy] reboot_deadline` line a writer renders for `deadline`.
fn duration_text_of(deadline: Duration) -> String {
    let text = minimal(DhcpMode::Proxy).reboot_deadline(deadline).render().unwrap();
    let line = text.lines().find(|l| l.starts_with("reboot_deadline")).expect("the deadline is written");
    line.split('"').nth(1).expect("a quoted duration").to_owned()
}
