//! The configurations every server runs with: the same subnet and pool for each DHCP server, the same
//! files for each TFTP and HTTP server. Pure text; the binary writes and starts them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use boot_service::config::{ConfigWriter, DhcpMode, Enrolment, SubnetWriter};

/// The server end of the benchmark veth, inside the server namespace.
pub const SERVER_IF: &str = "bsrv";
/// The client end, inside the client namespace.
pub const CLIENT_IF: &str = "bcli";
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);
/// A second boot-service instance's own address, on [`SERVER_IF`] beside [`SERVER_IP`].
pub const SECOND_SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 3);
pub const PREFIX: u8 = 16;
/// A /16's worth of pool, so no run exhausts it.
pub const POOL_START: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 0);
pub const POOL_END: Ipv4Addr = Ipv4Addr::new(10, 201, 255, 250);
pub const LEASE_SECS: u32 = 3600;
/// Where nginx listens (boot-service has port 80).
pub const NGINX_PORT: u16 = 8080;

/// Directories the boot service is given.
pub struct BootServiceDirs<'a> {
    pub data: &'a Path,
    pub assets: &'a Path,
    pub images: &'a Path,
}

/// Which boot-service instance a config is for, and where it keeps its state.
#[derive(Debug, Clone, Default)]
pub struct Instance {
    /// `None`: the only instance, at [`SERVER_IP`], listening on every address. `Some`: one of several
    /// in the server namespace, at this address (its server identifier and `public_url`), its HTTP and
    /// TFTP bound there so that the instances' ports do not collide.
    pub address: Option<Ipv4Addr>,
    /// A PostgreSQL connection string; `None`: the SQLite store under the data dir.
    pub postgres: Option<String>,
    /// The other instances' addresses (`[http] peers`).
    pub peers: Vec<Ipv4Addr>,
    /// Sized for this many clients booting at once (the boot storm): auto-enrolment's cap
    /// (`max_discovered`, default 1024) and HTTP's connections served at once (default 1024) above it,
    /// so that neither limit, rather than the service, decides the storm's time. `None`: the defaults.
    pub clients: Option<u32>,
}

impl Instance {
    /// The first of `addresses` sharing the database `postgres`: instance `index`, the others its peers.
    pub fn shared(addresses: &[Ipv4Addr], index: usize, postgres: &str) -> Instance {
        let peers = addresses.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, ip)| *ip).collect();
        Instance { address: Some(addresses[index]), postgres: Some(postgres.to_owned()), peers, clients: None }
    }
}

/// boot-service in full DHCP mode on [`SERVER_IF`], leases persisted in its SQLite store under `data`
/// or in PostgreSQL as `instance` says.
pub fn boot_service_toml(dirs: &BootServiceDirs<'_>, instance: &Instance) -> anyhow::Result<String> {
    let network = format!("10.201.0.0/{PREFIX}").parse()?;
    let mut subnet =
        SubnetWriter::new(network, Enrolment::Auto).router(SERVER_IP).lease_secs(LEASE_SECS).pool(POOL_START, POOL_END);
    if let Some(clients) = instance.clients {
        subnet = subnet.max_discovered(clients.saturating_mul(2));
    }
    let address = instance.address.unwrap_or(SERVER_IP);
    let listen = instance.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let mut writer = ConfigWriter::new(address, dirs.data, "rackhand-bench-admin-token", DhcpMode::Full, [SERVER_IF])
        .http_listen(SocketAddr::from((listen, 80)))
        .tftp_listen(SocketAddr::from((listen, 69)))
        .tftp_max_window_size(64)
        .assets_dir(dirs.assets)
        .images_dir(dirs.images)
        .subnet(subnet);
    if let Some(postgres) = &instance.postgres {
        writer = writer.store_postgres(postgres.as_str());
    }
    if let Some(clients) = instance.clients {
        // Three requests per client on one connection each, a few in flight at once: room for all.
        writer = writer.http_max_connections(clients.saturating_mul(2).max(1024));
    }
    if !instance.peers.is_empty() {
        writer = writer
            .public_url(format!("http://{address}"))
            .peers(instance.peers.iter().map(|ip| format!("http://{ip}")));
    }
    Ok(writer.render()?)
}

/// Where Kea keeps its leases.
pub enum KeaLeases<'a> {
    /// The memfile backend, persisting to this CSV file (no lease file cleanup during the run).
    Memfile(&'a Path),
    /// The PostgreSQL backend (the schema made by `kea-admin db-init pgsql`): database `name` on the
    /// server at `host` (a Unix socket directory or an address), as `user`.
    Postgres { name: &'a str, host: &'a Path, user: &'a str },
}

/// How Kea receives and sends DHCP packets (`interfaces-config` `dhcp-socket-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeaSocket {
    /// Packet sockets (Kea's default): it can answer clients without an address directly.
    Raw,
    /// Ordinary UDP sockets bound to the interface's address: the kernel's UDP path, for relayed and
    /// unicast traffic (perfdhcp sends as a relay, so Kea answers it either way).
    Udp,
}

impl KeaSocket {
    pub fn as_str(self) -> &'static str {
        match self {
            KeaSocket::Raw => "raw",
            KeaSocket::Udp => "udp",
        }
    }
}

/// What is on disk when an ACK leaves, for each server as configured here (checked with strace on
/// Kea 2.2 and dnsmasq 2.90: Kea's memfile `write`s the lease's CSV row before the ACK and never
/// fsyncs; dnsmasq truncates, rewrites and fsyncs its whole lease file before each ACK).
pub const OURS_AT_ACK: &str = "ours: the burst's leases committed to SQLite (WAL, synchronous=FULL: fsynced) \
                               before its ACKs leave";
pub const KEA_MEMFILE_AT_ACK: &str = "Kea memfile (persist, lfc-interval 0): the lease's CSV row written (no fsync: \
                                      in the page cache, lost with a power cut) before the ACK";
pub const DNSMASQ_AT_ACK: &str = "dnsmasq: the whole lease file rewritten and fsynced before each ACK";

/// Kea dhcp4 serving the same subnet and pool, its leases where `leases` says, over `socket`s; with
/// `multi_threaded`, its packets handled by a pool of threads (Kea's default size, one per core), each
/// with its own connection to a lease database; else single-threaded, Kea 2.2's default.
pub fn kea_json(leases: &KeaLeases<'_>, socket: KeaSocket, multi_threaded: bool) -> String {
    let lease_database = match leases {
        KeaLeases::Memfile(file) => {
            serde_json::json!({ "type": "memfile", "persist": true, "name": file, "lfc-interval": 0 })
        }
        KeaLeases::Postgres { name, host, user } => {
            serde_json::json!({ "type": "postgresql", "name": name, "host": host, "user": user })
        }
    };
    let value = serde_json::json!({
        "Dhcp4": {
            "interfaces-config": { "interfaces": [SERVER_IF], "dhcp-socket-type": socket.as_str() },
            "lease-database": lease_database,
            "multi-threading": { "enable-multi-threading": multi_threaded },
            "valid-lifetime": LEASE_SECS,
            "subnet4": [{
                "id": 1,
                "subnet": format!("10.201.0.0/{PREFIX}"),
                "pools": [{ "pool": format!("{POOL_START} - {POOL_END}") }],
                "option-data": [{ "name": "routers", "data": SERVER_IP.to_string() }],
            }],
            "loggers": [{ "name": "kea-dhcp4", "output_options": [{ "output": "stderr" }], "severity": "WARN" }],
        }
    });
    serde_json::to_string_pretty(&value).expect("JSON always serializes")
}

/// dnsmasq as a DHCP server only (no DNS), persisting to `leases`, without the ping before offering.
pub fn dnsmasq_dhcp_args(leases: &Path) -> Vec<String> {
    let mut args = dnsmasq_common();
    args.extend([
        format!("--dhcp-range={POOL_START},{POOL_END},255.255.0.0,{LEASE_SECS}"),
        format!("--dhcp-leasefile={}", leases.display()),
        "--dhcp-option=option:router,10.201.0.1".into(),
        "--dhcp-lease-max=100000".into(),
        "--no-ping".into(),
        "--quiet-dhcp".into(),
    ]);
    args
}

/// The address blocks exactly covering the pool, as routes take them (`10.201.1.0/24`, …).
pub fn pool_blocks() -> Vec<String> {
    ipnet::Ipv4Subnets::new(POOL_START, POOL_END, 0).map(|net| net.to_string()).collect()
}

/// The static iPXE script the boot storm's peer (nginx) serves every client: the same files ours names.
pub fn storm_script(kernel: &str, initrd: &str) -> String {
    format!(
        "#!ipxe\nkernel http://{SERVER_IP}/assets/{kernel} initrd={initrd} console=ttyS0,115200n8 || goto failed\n\
         initrd http://{SERVER_IP}/assets/{initrd} || goto failed\nboot || goto failed\n:failed\nshell\n"
    )
}

/// Where the storm's peer script is, under nginx's root.
pub const STORM_SCRIPT_PATH: &str = "boot.ipxe";

/// dnsmasq as the boot storm's DHCP server: [`dnsmasq_dhcp_args`], and iPXE (user class `iPXE`) sent
/// to the script nginx serves.
pub fn dnsmasq_storm_args(leases: &Path) -> Vec<String> {
    let mut args = dnsmasq_dhcp_args(leases);
    args.extend([
        "--dhcp-userclass=set:ipxe,iPXE".into(),
        format!("--dhcp-boot=tag:ipxe,http://{SERVER_IP}/{STORM_SCRIPT_PATH}"),
    ]);
    args
}

/// nginx as the boot storm's HTTP server at [`SERVER_IP`]:80, serving `root` (the script and
/// `assets/`): one worker per core, sendfile, room for `clients` connections at once, and the same
/// listen backlog as boot-service's (its `max_connections`; nginx's own default is 511).
pub fn nginx_storm_conf(prefix: &Path, root: &Path, clients: u32) -> String {
    let prefix = prefix.display();
    let root = root.display();
    let connections = clients.saturating_mul(2).max(1024);
    let files = connections.saturating_mul(2);
    nginx_config(
        &prefix.to_string(),
        &format!("worker_processes auto;\nworker_rlimit_nofile {files};"),
        &format!("worker_connections {connections};"),
        &format!("        listen {SERVER_IP}:80 backlog={connections};\n        root {root};"),
    )
}

/// dnsmasq as a TFTP server only, serving `root`.
pub fn dnsmasq_tftp_args(root: &Path) -> Vec<String> {
    let mut args = dnsmasq_common();
    args.extend(["--enable-tftp".into(), format!("--tftp-root={}", root.display())]);
    args
}

fn dnsmasq_common() -> Vec<String> {
    [
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--interface=bsrv",
        "--bind-interfaces",
        "--user=root",
        "--pid-file=",
        "--log-facility=-",
    ]
    .map(String::from)
    .to_vec()
}

/// tftpd-hpa in the foreground serving `root`, chrooted there.
pub fn tftpd_hpa_args(root: &Path) -> Vec<String> {
    vec![
        "-L".into(),
        "-s".into(),
        "-u".into(),
        "root".into(),
        "-a".into(),
        format!("{SERVER_IP}:69"),
        root.display().to_string(),
    ]
}

/// atftpd (RFC 7440 windowsize, as we have) in the foreground on the server address, as root so it reads
/// the bench's files, logging to stdout. Debian's atftpd conflicts with tftpd-hpa (both are `in.tftpd`),
/// so the bench runs it from its unpacked package (see [`ATFTPD`]).
pub fn atftpd_args(root: &Path) -> Vec<String> {
    let args = ["--daemon", "--no-fork", "--user", "root.root", "--logfile", "-", "--port", "69", "--bind-address"];
    let mut args: Vec<String> = args.into_iter().map(String::from).collect();
    args.extend([SERVER_IP.to_string(), root.display().to_string()]);
    args
}

/// Where `cargo xtask bench` unpacks Debian's atftpd package (`apt-get download` + `dpkg-deb -x`), beside
/// the installed tftpd-hpa it cannot be installed with.
pub const ATFTPD: &str = "/opt/rackhand-peers/atftpd/usr/sbin/atftpd";

/// nginx in the foreground on loopback, serving `/images/` from `images` (sendfile on, no access log).
pub fn nginx_conf(prefix: &Path, images: &Path) -> String {
    let prefix = prefix.display();
    let parent = images.parent().unwrap_or(images).display();
    nginx_config(
        &prefix.to_string(),
        "worker_processes 2;",
        "worker_connections 4096;",
        &format!("        listen 127.0.0.1:{NGINX_PORT};\n        location /images/ {{ root {parent}; }}"),
    )
}

/// What both nginx peers share: in the foreground as root, sendfile, no access log, its pid, log and
/// temporary files under `prefix`; `main` (its worker lines), `events` and `server` are each one's own.
fn nginx_config(prefix: &str, main: &str, events: &str, server: &str) -> String {
    format!(
        r#"daemon off;
user root;
{main}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ {events} }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
{server}
    }}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use boot_service::config::StoreConfig;

    use super::*;

    #[test]
    fn boot_service_config_is_accepted_by_boot_service() {
        let dirs = BootServiceDirs { data: Path::new("/d"), assets: Path::new("/a"), images: Path::new("/i") };
        let text = boot_service_toml(&dirs, &Instance::default()).unwrap();
        let config = boot_service::config::Config::parse(&text, "bench.toml").unwrap();
        assert_eq!(config.advertise, SERVER_IP);
        assert_eq!(config.dhcp.interfaces, [SERVER_IF]);
        let pool = config.dhcp.subnets[0].pools[0];
        assert_eq!((pool.start, pool.end), (POOL_START, POOL_END));
        assert!(matches!(&config.store, StoreConfig::Sqlite { path } if path == Path::new("/d/rackhand.db")));
        assert_eq!(config.http.listen, SocketAddr::from(([0, 0, 0, 0], 80)));
        assert!(config.http.peers.is_empty());
    }

    #[test]
    fn instances_sharing_postgres_each_have_an_address_and_name_the_others() {
        let dirs = BootServiceDirs { data: Path::new("/d"), assets: Path::new("/a"), images: Path::new("/i") };
        let db = "host=/run/pg user=postgres dbname=t0";
        let both = [SERVER_IP, SECOND_SERVER_IP];
        let configs: Vec<_> = (0..2)
            .map(|i| {
                let text = boot_service_toml(&dirs, &Instance::shared(&both, i, db)).unwrap();
                boot_service::config::Config::parse(&text, "bench.toml").unwrap()
            })
            .collect();
        for (config, (own, other)) in configs.iter().zip([(SERVER_IP, SECOND_SERVER_IP), (SECOND_SERVER_IP, SERVER_IP)])
        {
            assert!(matches!(&config.store, StoreConfig::Postgres { config } if config == db));
            assert_eq!(config.advertise, own, "its own server identifier");
            assert_eq!(config.http.public_url, format!("http://{own}"));
            assert_eq!(config.http.peers, [format!("http://{other}")]);
            assert_eq!(config.http.listen, SocketAddr::from((own, 80)), "ports do not collide");
            assert_eq!(config.tftp.listen, SocketAddr::from((own, 69)));
            assert_eq!(config.dhcp.interfaces, [SERVER_IF], "the same segment");
        }
        let one = Instance { postgres: Some(db.into()), ..Instance::default() };
        let config = boot_service::config::Config::parse(&boot_service_toml(&dirs, &one).unwrap(), "b").unwrap();
        assert!(matches!(&config.store, StoreConfig::Postgres { config } if config == db));
        assert_eq!(config.advertise, SERVER_IP);
    }

    #[test]
    fn kea_gets_the_same_pool_and_a_persistent_memfile() {
        let text = kea_json(&KeaLeases::Memfile(Path::new("/w/leases.csv")), KeaSocket::Raw, false);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let d = &v["Dhcp4"];
        assert_eq!(d["interfaces-config"]["dhcp-socket-type"], "raw");
        assert_eq!(d["lease-database"]["type"], "memfile");
        assert_eq!(d["lease-database"]["persist"], true);
        assert_eq!(d["lease-database"]["name"], "/w/leases.csv");
        assert_eq!(d["subnet4"][0]["pools"][0]["pool"], "10.201.1.0 - 10.201.255.250");
        assert_eq!(d["multi-threading"]["enable-multi-threading"], false);
    }

    #[test]
    fn kea_on_postgres_names_the_database_server_and_user() {
        let leases = KeaLeases::Postgres { name: "kea0", host: Path::new("/run/pg"), user: "postgres" };
        let v: serde_json::Value = serde_json::from_str(&kea_json(&leases, KeaSocket::Udp, true)).unwrap();
        assert_eq!(v["Dhcp4"]["interfaces-config"]["dhcp-socket-type"], "udp");
        assert_eq!(v["Dhcp4"]["multi-threading"]["enable-multi-threading"], true);
        let db = &v["Dhcp4"]["lease-database"];
        let expected =
            serde_json::json!({ "type": "postgresql", "name": "kea0", "host": "/run/pg", "user": "postgres" });
        assert_eq!(db, &expected);
        assert_eq!(v["Dhcp4"]["subnet4"][0]["pools"][0]["pool"], "10.201.1.0 - 10.201.255.250");
    }

    #[test]
    fn dnsmasq_gets_the_same_pool_without_ping() {
        let args = dnsmasq_dhcp_args(Path::new("/w/leases"));
        assert!(args.contains(&"--dhcp-range=10.201.1.0,10.201.255.250,255.255.0.0,3600".to_string()));
        assert!(args.contains(&"--no-ping".to_string()));
        assert!(args.contains(&"--dhcp-leasefile=/w/leases".to_string()));
    }

    #[test]
    fn the_routes_cover_the_pool_exactly() {
        let blocks = pool_blocks();
        assert_eq!(
            blocks[..8],
            [
                "10.201.1.0/24",
                "10.201.2.0/23",
                "10.201.4.0/22",
                "10.201.8.0/21",
                "10.201.16.0/20",
                "10.201.32.0/19",
                "10.201.64.0/18",
                "10.201.128.0/18"
            ]
        );
        assert_eq!(blocks.last().unwrap(), "10.201.255.250/32");
        let nets: Vec<ipnet::Ipv4Net> = blocks.iter().map(|b| b.parse().unwrap()).collect();
        let count: u64 = nets.iter().map(|n| 1u64 << (32 - n.prefix_len())).sum();
        assert_eq!(count, u64::from(u32::from(POOL_END) - u32::from(POOL_START) + 1), "{blocks:?}");
        assert!(!nets.iter().any(|n| n.contains(&SERVER_IP) || n.contains(&CLIENT_IP)));
    }

    #[test]
    fn the_storm_peer_boots_ipxe_from_nginx() {
        let args = dnsmasq_storm_args(Path::new("/w/leases"));
        assert!(args.contains(&"--dhcp-boot=tag:ipxe,http://10.201.0.1/boot.ipxe".to_string()), "{args:?}");
        assert!(args.contains(&"--no-ping".to_string()));
        let conf = nginx_storm_conf(Path::new("/w/nginx"), Path::new("/w/root"), 10_000);
        assert!(conf.contains("listen 10.201.0.1:80 backlog=20000;") && conf.contains("root /w/root;"), "{conf}");
        assert!(conf.contains("worker_connections 20000;") && conf.contains("worker_rlimit_nofile 40000;"), "{conf}");
        let script = storm_script("vmlinuz", "initrd.img");
        assert_eq!(
            crate::parse::script_files(&script),
            ["http://10.201.0.1/assets/vmlinuz", "http://10.201.0.1/assets/initrd.img"]
        );
    }

    #[test]
    fn a_storm_instance_lifts_the_enrolment_and_connection_caps() {
        let dirs = BootServiceDirs { data: Path::new("/d"), assets: Path::new("/a"), images: Path::new("/i") };
        let storm = Instance { clients: Some(10_000), ..Instance::default() };
        let config = boot_service::config::Config::parse(&boot_service_toml(&dirs, &storm).unwrap(), "b").unwrap();
        assert_eq!(config.dhcp.subnets[0].max_discovered, 20_000);
        assert_eq!(config.http.max_connections, 20_000);
        let plain = boot_service::config::Config::parse(&boot_service_toml(&dirs, &Instance::default()).unwrap(), "b");
        assert_eq!(plain.unwrap().http.max_connections, 1024, "the service's default");
    }

    #[test]
    fn nginx_serves_the_images_dir_on_loopback() {
        let conf = nginx_conf(Path::new("/w/nginx"), Path::new("/w/images"));
        assert!(conf.contains("listen 127.0.0.1:8080;"));
        assert!(conf.contains("location /images/ { root /w; }"));
        assert!(conf.contains("daemon off;"));
    }
}
