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

/// boot-service in full DHCP mode on [`SERVER_IF`], leases persisted in its SQLite store under `data`.
pub fn boot_service_toml(dirs: &BootServiceDirs<'_>) -> anyhow::Result<String> {
    let network = format!("10.201.0.0/{PREFIX}").parse()?;
    let subnet =
        SubnetWriter::new(network, Enrolment::Auto).router(SERVER_IP).lease_secs(LEASE_SECS).pool(POOL_START, POOL_END);
    let writer = ConfigWriter::new(SERVER_IP, dirs.data, "rackhand-bench-admin-token", DhcpMode::Full, [SERVER_IF])
        .http_listen(SocketAddr::from(([0, 0, 0, 0], 80)))
        .tftp_listen(SocketAddr::from(([0, 0, 0, 0], 69)))
        .tftp_max_window_size(64)
        .assets_dir(dirs.assets)
        .images_dir(dirs.images)
        .subnet(subnet);
    Ok(writer.render()?)
}

/// Kea dhcp4 with the memfile backend persisting to `leases` (no lease file cleanup during the run).
pub fn kea_json(leases: &Path) -> String {
    let value = serde_json::json!({
        "Dhcp4": {
            "interfaces-config": { "interfaces": [SERVER_IF], "dhcp-socket-type": "raw" },
            "lease-database": { "type": "memfile", "persist": true, "name": leases, "lfc-interval": 0 },
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

/// nginx in the foreground on loopback, serving `/images/` from `images` (sendfile on, no access log).
pub fn nginx_conf(prefix: &Path, images: &Path) -> String {
    let prefix = prefix.display();
    let parent = images.parent().unwrap_or(images).display();
    format!(
        r#"daemon off;
user root;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
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
        listen 127.0.0.1:{NGINX_PORT};
        location /images/ {{ root {parent}; }}
    }}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_service_config_is_accepted_by_boot_service() {
        let dirs = BootServiceDirs { data: Path::new("/d"), assets: Path::new("/a"), images: Path::new("/i") };
        let config = boot_service::config::Config::parse(&boot_service_toml(&dirs).unwrap(), "bench.toml").unwrap();
        assert_eq!(config.advertise, SERVER_IP);
        assert_eq!(config.dhcp.interfaces, [SERVER_IF]);
        let pool = config.dhcp.subnets[0].pools[0];
        assert_eq!((pool.start, pool.end), (POOL_START, POOL_END));
    }

    #[test]
    fn kea_gets_the_same_pool_and_a_persistent_memfile() {
        let text = kea_json(Path::new("/w/leases.csv"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let d = &v["Dhcp4"];
        assert_eq!(d["lease-database"]["persist"], true);
        assert_eq!(d["lease-database"]["name"], "/w/leases.csv");
        assert_eq!(d["subnet4"][0]["pools"][0]["pool"], "10.201.1.0 - 10.201.255.250");
    }

    #[test]
    fn dnsmasq_gets_the_same_pool_without_ping() {
        let args = dnsmasq_dhcp_args(Path::new("/w/leases"));
        assert!(args.contains(&"--dhcp-range=10.201.1.0,10.201.255.250,255.255.0.0,3600".to_string()));
        assert!(args.contains(&"--no-ping".to_string()));
        assert!(args.contains(&"--dhcp-leasefile=/w/leases".to_string()));
    }

    #[test]
    fn nginx_serves_the_images_dir_on_loopback() {
        let conf = nginx_conf(Path::new("/w/nginx"), Path::new("/w/images"));
        assert!(conf.contains("listen 127.0.0.1:8080;"));
        assert!(conf.contains("location /images/ { root /w; }"));
        assert!(conf.contains("daemon off;"));
    }
}
