use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;

const EXAMPLE: &str = include_str!("../../boot-service.example.toml");

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml")
}

/// The example with one line replaced, so each test states only what it breaks.
fn example_with(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "example has no `{from}`");
    EXAMPLE.replacen(from, to, 1)
}

fn line_containing(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
}

#[test]
fn shipped_example_parses_with_defaults() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.advertise, Ipv4Addr::new(10, 77, 0, 1));
    assert_eq!(config.http.public_url, "http://10.77.0.1");
    assert_eq!(config.tftp.root, PathBuf::from("/var/lib/rackhand/assets"));
    assert_eq!(config.boot.bios_file, "undionly.kpxe");
    assert_eq!(config.dhcp.mode, DhcpMode::Full);
    assert_eq!(config.dhcp.port, 67);
    let subnet = &config.dhcp.subnets[0];
    assert_eq!(subnet.lease_secs, 3600);
    assert_eq!(subnet.enrolment, Enrolment::Auto);
    assert_eq!(subnet.pools, [Pool { start: Ipv4Addr::new(10, 77, 0, 100), end: Ipv4Addr::new(10, 77, 0, 199) }]);
    assert_eq!(subnet.reservations[0].ip, Ipv4Addr::new(10, 77, 0, 10));
    assert!(matches!(config.store, StoreConfig::Sqlite { ref path } if path.ends_with("rackhand.db")));
    assert!(!format!("{config:?}").contains("change-me"), "the admin token must not show in Debug");
    assert_eq!(config.deploy.ssh_authorized_keys.len(), 1);
    assert!(config.deploy.ssh_authorized_keys[0].ends_with(" ops@site"));
    assert_eq!(config.deploy.reboot_deadline, Duration::from_secs(300));
    assert_eq!(config.deploy.first_boot_deadline, Duration::from_secs(600));
    assert_eq!(config.deploy.deadline_check_interval, Duration::from_secs(5));
    assert_eq!(config.http.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.http.idle_timeout, Duration::from_secs(60));
    assert_eq!(config.http.max_connections, 1024);
}

#[test]
fn http_limits_are_read_and_checked() {
    let text = example_with("# header_read_timeout = \"10s\"", "header_read_timeout = \"5s\"");
    let text = text.replacen("# idle_timeout = \"60s\"", "idle_timeout = \"2m\"", 1);
    let text = text.replacen("# max_connections = 1024", "max_connections = 64", 1);
    let http = parse(&text).unwrap().http;
    assert_eq!((http.header_read_timeout, http.idle_timeout), (Duration::from_secs(5), Duration::from_secs(120)));
    assert_eq!(http.max_connections, 64);

    let text = example_with("# idle_timeout = \"60s\"", "idle_timeout = \"0s\"");
    let err = parse(&text).unwrap_err();
    let ConfigError::Invalid { line, field, message, .. } = &err else { panic!("{err}") };
    assert_eq!((field.as_str(), *line), ("http.idle_timeout", line_containing(&text, "idle_timeout = ")));
    assert!(message.contains("between 1s and 24h"), "{message}");
    let text = example_with("# max_connections = 1024", "max_connections = 0");
    let err = parse(&text).unwrap_err();
    let ConfigError::Invalid { field, message, .. } = &err else { panic!("{err}") };
    assert_eq!((field.as_str(), message.as_str()), ("http.max_connections", "must be at least 1"));
}

#[test]
fn the_location_table_maps_switch_ports_to_rack_units() {
    let config = parse(EXAMPLE).unwrap();
    let rack1_u1 = rackhand_api::Location { rack: "rack1".into(), unit: 1 };
    let ports: Vec<_> = config.locations.0.iter().map(|p| (p.switch.as_str(), p.port.as_str(), &p.location)).collect();
    assert_eq!(ports, [("sw-a1", "swp1", &rack1_u1), ("sw-b1", "swp1", &rack1_u1)]);
}

#[test]
fn a_location_is_refused_by_its_line_and_field() {
    let text = example_with("unit = 1\n[[location]]", "unit = 0\n[[location]]");
    let err = parse(&text).unwrap_err();
    let ConfigError::Invalid { line, field, message, .. } = &err else { panic!("{err}") };
    assert_eq!((field.as_str(), message.as_str()), ("location.unit", "unit 0: from 1 to 99"));
    assert_eq!(*line, line_containing(&text, "unit = 0"));

    let text = example_with("rack = \"rack1\"", "rack = \"rack 1\"");
    let err = parse(&text).unwrap_err();
    assert!(err.to_string().contains("`location.rack`: rack `rack 1`"), "{err}");

    let text = example_with("switch = \"sw-b1\"", "switch = \"sw-a1\"");
    let err = parse(&text).unwrap_err();
    let ConfigError::Invalid { line, message, .. } = &err else { panic!("{err}") };
    assert_eq!(message, "sw-a1 port swp1 is already cabled to rack1-u1");
    assert_eq!(*line, text.lines().enumerate().filter(|(_, l)| l.contains("sw-a1")).nth(1).unwrap().0 + 1);
}

#[test]
fn self_enrolment_is_bounded_by_default_and_a_zero_cap_is_refused() {
    assert_eq!(parse(EXAMPLE).unwrap().dhcp.enrolment_limits, EnrolmentLimits::default());
    let text = example_with("# max_discovered = 1024", "max_discovered = 0");
    let err = parse(&text).unwrap_err();
    let ConfigError::Invalid { line, field, .. } = &err else { panic!("{err}") };
    assert_eq!((field.as_str(), *line), ("dhcp.max_discovered", line_containing(&text, "max_discovered = 0")));
    let text = example_with("# forget_discovered_after = \"1h\"", "forget_discovered_after = \"10m\"");
    assert_eq!(parse(&text).unwrap().dhcp.enrolment_limits.forget_discovered_after, Duration::from_secs(600));
}

#[test]
fn each_auto_subnet_caps_self_enrolment_on_its_own() {
    let subnet = |text: &str| parse(text).map(|c| c.dhcp.subnets[0].max_discovered);
    assert_eq!(subnet(EXAMPLE).unwrap(), 1024, "[dhcp] max_discovered's default");
    let default = example_with("# max_discovered = 1024", "max_discovered = 64");
    assert_eq!(subnet(&default).unwrap(), 64, "[dhcp] max_discovered is every subnet's default");
    let own = example_with("# max_discovered = 256", "max_discovered = 256");
    assert_eq!(subnet(&own).unwrap(), 256);

    let zero = example_with("# max_discovered = 256", "max_discovered = 0");
    let err = parse(&zero).unwrap_err();
    let ConfigError::Invalid { line, field, .. } = &err else { panic!("{err}") };
    assert_eq!((field.as_str(), *line), ("dhcp.subnet.max_discovered", line_containing(&zero, "max_discovered = 0")));
    let registered_only = example_with(r#"enrolment = "auto""#, r#"enrolment = "registered-only""#);
    let err = parse(&registered_only.replace("# max_discovered = 256", "max_discovered = 256")).unwrap_err();
    assert!(err.to_string().contains("only an enrolment = \"auto\" subnet enrols servers"), "{err}");
}

#[test]
fn the_deploy_table_is_optional() {
    let start = EXAMPLE.find("[deploy]").unwrap();
    let end = EXAMPLE.find("[dhcp]").unwrap();
    let without = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    assert_eq!(parse(&without).unwrap().deploy, DeployConfig::default());
}

#[test]
fn deadlines_take_seconds_minutes_or_hours() {
    let text = example_with("# reboot_deadline = \"5m\"", "reboot_deadline = \"90s\"");
    assert_eq!(parse(&text).unwrap().deploy.reboot_deadline, Duration::from_secs(90));
    let text = example_with("# first_boot_deadline = \"10m\"", "first_boot_deadline = \"1h\"");
    assert_eq!(parse(&text).unwrap().deploy.first_boot_deadline, Duration::from_secs(3600));
}

#[test]
fn a_bad_ssh_key_is_refused_by_its_index() {
    let key = "    \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFu5+pKQ2y573dYFGYroQeYi1CNjkTfWOeomCln4ervB ops@site\",";
    let text = example_with(key, &format!("{key}\n    \"ssh-ed25519 AAAAC3Nza ops@laptop\","));
    let err = parse(&text).unwrap_err();
    let ConfigError::Invalid { line, field, message, .. } = &err else { panic!("{err}") };
    assert_eq!(field, "deploy.ssh_authorized_keys[1]");
    assert!(message.contains("not base64"), "{message}");
    assert_eq!(*line, line_containing(&text, "ops@laptop"));
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let text = example_with("# listen = \"0.0.0.0:80\"", "lisen = \"0.0.0.0:80\"");
    let err = parse(&text).unwrap_err();
    let ConfigError::Syntax { line, message, .. } = &err else { panic!("{err}") };
    assert_eq!(*line, line_containing(&text, "lisen"));
    assert!(message.contains("lisen"), "{message}");
    assert!(err.to_string().starts_with(&format!("test.toml:{line}:")));
}

#[test]
fn bad_address_is_refused_with_its_line() {
    let text = example_with("router = \"10.77.0.1\"", "router = \"10.77.0.300\"");
    let err = parse(&text).unwrap_err();
    let ConfigError::Syntax { line, .. } = err else { panic!("{err}") };
    assert_eq!(line, line_containing(&text, "10.77.0.300"));
}

#[test]
fn semantic_errors_name_field_and_line() {
    let cases = [
        ("end = \"10.77.0.199\"", "end = \"10.77.1.20\"", "dhcp.subnet.pools.end", "not a usable address"),
        ("ip = \"10.77.0.10\"", "ip = \"10.78.0.10\"", "dhcp.subnet.reservation.ip", "not a usable address"),
        (
            "admin_token = \"change-me-to-a-long-random-string\"",
            "admin_token = \"short\"",
            "server.admin_token",
            "at least 16",
        ),
        ("router = \"10.77.0.1\"", "router = \"10.9.0.1\"", "dhcp.subnet.router", "not inside"),
        ("# lease_secs = 3600", "lease_secs = 5", "dhcp.subnet.lease_secs", "at least 60"),
        ("# peers = [\"http://10.77.0.2\"]", "peers = [\"https://10.77.0.2\"]", "http.peers", "uses https"),
        ("# peers = [\"http://10.77.0.2\"]", "peers = [\"http://10.77.0.1\"]", "http.peers", "own public_url"),
        (
            "# peers = [\"http://10.77.0.2\"]",
            "peers = [\"http://b\", \"http://b/\"]",
            "http.peers",
            "names http://b twice",
        ),
        (
            "# postgres = \"postgres://rackhand:secret@db.example/rackhand\"",
            "postgres = \"postgres://rackhand@db.example:fivefourthreetwo/rackhand\"",
            "store.postgres",
            "not a PostgreSQL connection string",
        ),
        ("interfaces = [\"br-rackhand\"]", "interfaces = []", "dhcp.interfaces", "at least one"),
        (
            "# reboot_deadline = \"5m\"",
            "reboot_deadline = \"5 min\"",
            "deploy.reboot_deadline",
            "followed by s, m or h",
        ),
        ("# first_boot_deadline = \"10m\"", "first_boot_deadline = \"0s\"", "deploy.first_boot_deadline", "between 1s"),
        (
            "# deadline_check_interval = \"5s\"",
            "deadline_check_interval = \"5\"",
            "deploy.deadline_check_interval",
            "followed by s, m or h",
        ),
        (
            "# bmc_poll_interval = \"30s\"",
            "bmc_poll_interval = \"-1s\"",
            "deploy.bmc_poll_interval",
            "followed by s, m or h",
        ),
        (
            "# bmc_boot_deadline = \"3m\"",
            "bmc_boot_deadline = \"3\"",
            "deploy.bmc_boot_deadline",
            "followed by s, m or h",
        ),
        (
            "# [webhook]\n# url = \"https://platform.example/rackhand\"\n# secret = \"a-shared-secret-of-at-least-16-characters\"",
            "[webhook]\nsecret = \"a-shared-secret-of-at-least-16-characters\"\nurl = \"ftp://platform.example/rackhand\"",
            "webhook.url",
            "http:// or https://",
        ),
        (
            "# [webhook]\n# url = \"https://platform.example/rackhand\"\n# secret = \"a-shared-secret-of-at-least-16-characters\"",
            "[webhook]\nurl = \"https://platform.example/rackhand\"\nsecret = \"short\"",
            "webhook.secret",
            "at least 16 characters",
        ),
    ];
    for (from, to, want_field, want_message) in cases {
        let text = example_with(from, to);
        let err = parse(&text).unwrap_err();
        let ConfigError::Invalid { line, field, message, .. } = &err else { panic!("{to}: {err}") };
        assert_eq!(field, want_field, "{to}");
        assert!(message.contains(want_message), "{to}: {message}");
        // The line the error names is the replacement's last (the field it changed).
        let changed = to.lines().last().expect("a replacement");
        assert_eq!(*line, line_containing(&text, changed), "{to}: {err}");
    }
}

#[test]
fn at_most_63_peers_split_the_dhcp_clients() {
    let peers = |n: usize| (0..n).map(|i| format!("\"http://rh-{i}\"")).collect::<Vec<_>>().join(", ");
    let with = |n| example_with("# peers = [\"http://10.77.0.2\"]", &format!("peers = [{}]", peers(n)));
    assert_eq!(parse(&with(63)).unwrap().http.peers.len(), 63);
    let err = parse(&with(64)).unwrap_err().to_string();
    assert!(err.contains("http.peers") && err.contains("more than 63 peers"), "{err}");
}

#[test]
fn peers_are_the_other_instances_urls() {
    let text =
        example_with("# peers = [\"http://10.77.0.2\"]", "peers = [\"http://10.77.0.2/\", \"http://rh-c:8080\"]");
    assert_eq!(parse(&text).unwrap().http.peers, ["http://10.77.0.2", "http://rh-c:8080"]);
    assert!(parse(EXAMPLE).unwrap().http.peers.is_empty(), "none unless named");
}

#[test]
fn a_store_is_sqlite_or_postgres_and_its_password_is_never_shown() {
    let shared = "postgres = \"postgres://rackhand:s3cret@db.example:5433/rh\"";
    let text = example_with("# postgres = \"postgres://rackhand:secret@db.example/rackhand\"", shared);
    let config = parse(&text).unwrap();
    assert!(matches!(&config.store, StoreConfig::Postgres { config } if config.contains("s3cret")));
    assert_eq!(config.store.to_string(), "postgres:rackhand@db.example:5433/rh", "no password");
    let socket = StoreConfig::Postgres { config: "host=/run/postgresql user=rh password=s3cret".into() };
    assert_eq!(socket.to_string(), "postgres:rh@/run/postgresql/rh");

    let both = example_with("# path = \"/var/lib/rackhand/rackhand.db\"", "path = \"/srv/rackhand.db\"");
    let both = both.replace("# postgres = \"postgres://rackhand:secret@db.example/rackhand\"", shared);
    let err = parse(&both).unwrap_err();
    let ConfigError::Invalid { line, field, message, .. } = &err else { panic!("{err}") };
    assert_eq!((field.as_str(), *line), ("store.postgres", line_containing(&both, shared)));
    assert!(message.contains("one or the other"), "{message}");
}

#[test]
fn overlapping_pools_and_duplicate_reservations_are_refused() {
    let text = example_with(
        "{ start = \"10.77.0.100\", end = \"10.77.0.199\" },",
        "{ start = \"10.77.0.100\", end = \"10.77.0.199\" },\n    { start = \"10.77.0.150\", end = \"10.77.0.160\" },",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("overlaps pool 10.77.0.100-10.77.0.199"), "{err}");

    let text = format!("{EXAMPLE}\n[[dhcp.subnet.reservation]]\nmac = \"52:54:00:00:00:10\"\nip = \"10.77.0.11\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("52:54:00:00:00:10 is reserved twice"), "{err}");
}

#[test]
fn proxy_mode_refuses_pools() {
    let text = example_with("mode = \"full\"", "mode = \"proxy\"");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("proxy mode hands out no addresses"), "{err}");
}

#[test]
fn public_url_follows_the_http_port() {
    let text = example_with("# listen = \"0.0.0.0:80\"", "listen = \"0.0.0.0:8080\"");
    assert_eq!(parse(&text).unwrap().http.public_url, "http://10.77.0.1:8080");
}

#[test]
fn strangers_are_enrolled_only_from_auto_subnets() {
    let auto = parse(EXAMPLE).unwrap();
    let registered_only = parse(&example_with(r#"enrolment = "auto""#, r#"enrolment = "registered-only""#)).unwrap();
    let inside: std::net::IpAddr = "10.77.0.150".parse().unwrap();
    let mapped: std::net::IpAddr = "::ffff:10.77.0.150".parse().unwrap();
    let outside: std::net::IpAddr = "192.168.1.5".parse().unwrap();
    let v6: std::net::IpAddr = "fe80::1".parse().unwrap();
    let within = Some(EnrolIn { subnet: "10.77.0.0/24".parse().unwrap(), max_discovered: 1024 });
    assert_eq!(auto.dhcp.enrols_strangers_from(inside), within);
    assert_eq!(auto.dhcp.enrols_strangers_from(mapped), within, "an IPv4 peer on a dual-stack socket");
    assert_eq!(auto.dhcp.enrols_strangers_from(outside), None, "outside every subnet, never");
    assert_eq!(auto.dhcp.enrols_strangers_from(v6), None);
    assert_eq!(registered_only.dhcp.enrols_strangers_from(inside), None);
}
