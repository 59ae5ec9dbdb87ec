//! The real `boot-service` binary inside a network namespace, with real clients in namespaces of their
//! own cabled to a bridge: busybox `udhcpc` as firmware PXE and as iPXE, `curl` and `atftp` for TFTP
//! (blksize, tsize, windowsize), `curl` for the iPXE script, and a restart and a crash (SIGKILL right after
//! an ACK) that keep the leases.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use boot_service::config::{ConfigWriter, DhcpMode, Enrolment, SubnetWriter};
use rackhand_netns::client::{DhcpClient, FIRMWARE};
use rackhand_netns::service::start_until_up;
use rackhand_netns::{Netns, require_netns};

const SERVER_IP: &str = "10.77.0.1";
const BRIDGE: &str = "br0";

struct Service {
    ns: Netns,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Service {
    /// The service on its SQLite file, or on `postgres` (a connection string) when given.
    fn start(postgres: Option<String>) -> Service {
        let ns = Netns::create("bsvc").expect("server namespace");
        ns.bridge(BRIDGE).unwrap();
        ns.addr_up(BRIDGE, &format!("{SERVER_IP}/24")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("assets")).unwrap();
        // A pseudo-random boot file large enough to need many blocks and several windows.
        let payload: Vec<u8> =
            (0u32..300_000).map(|i| u8::try_from((i.wrapping_mul(2_654_435_761) >> 13) % 256).unwrap()).collect();
        std::fs::write(dir.path().join("assets/undionly.kpxe"), payload).unwrap();
        std::fs::write(dir.path().join("config.toml"), config(dir.path(), postgres)).unwrap();
        let mut service = Service { ns, dir, child: None };
        service.spawn();
        service
    }

    fn spawn(&mut self) {
        let mut command = self.ns.command(env!("CARGO_BIN_EXE_boot-service"));
        command.args(["serve", "--config"]).arg(self.dir.path().join("config.toml"));
        let healthz = format!("http://{SERVER_IP}:8080/healthz");
        let up = || self.ns.exec("curl", &["-sf", &healthz]).is_ok();
        let log = self.dir.path().join("log");
        let child = start_until_up(command, &log, Duration::from_secs(20), up).expect("boot-service comes up");
        self.child = Some(child);
    }

    fn restart(&mut self) {
        let mut child = self.child.take().unwrap();
        // SIGTERM: a clean shutdown, as systemd would do it.
        std::process::Command::new("kill").arg(child.id().to_string()).status().unwrap();
        let status = child.wait().unwrap();
        // A clean stop: exit status 0, and nothing panicked on the way out. (The PostgreSQL store once
        // panicked closing its connections on a runtime thread, depending on which task let it go last;
        // store/suite.rs `a_store_dropped_on_a_runtime_thread_closes_without_panicking` forces that case.)
        let log = self.log();
        assert!(status.success() && !log.contains("panicked"), "SIGTERM: exited {status}:\n{log}");
        self.spawn();
    }

    /// SIGKILL: the process dies between two instructions, as in a crash; then start it again.
    fn crash_and_restart(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        self.spawn();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn assets(&self) -> PathBuf {
        self.dir.path().join("assets")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn config(dir: &Path, postgres: Option<String>) -> String {
    let server: Ipv4Addr = SERVER_IP.parse().unwrap();
    let subnet = SubnetWriter::new("10.77.0.0/24".parse().unwrap(), Enrolment::Auto)
        .router(server)
        .lease_secs(600)
        .pool(Ipv4Addr::new(10, 77, 0, 100), Ipv4Addr::new(10, 77, 0, 120));
    let config = ConfigWriter::new(server, dir, "netns-test-admin-token", DhcpMode::Full, [BRIDGE])
        .http_listen("0.0.0.0:8080".parse().unwrap())
        .tftp_max_window_size(16)
        .ipv6_null_router_advertisements(true)
        .subnet(subnet);
    match postgres {
        Some(postgres) => config.store_postgres(postgres),
        None => config,
    }
    .render()
    .unwrap()
}

/// A client machine: a namespace with `eth0` (given MAC) cabled to the server's bridge.
fn cable(service: &Service, index: u8, mac: &str) -> DhcpClient {
    DhcpClient::cable(&service.ns, BRIDGE, &format!("port{index}"), Some(mac)).expect("a client cabled")
}

fn require_tools() -> bool {
    let missing: Vec<_> = ["busybox", "curl", "atftp"].into_iter().filter(|t| which(t).is_none()).collect();
    if missing.is_empty() {
        return true;
    }
    rackhand_netns::skip_unless_required(&format!("needs {missing:?} (cargo xtask test installs them)"));
    false
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.exists())
}

#[test]
fn pxe_client_gets_lease_boot_file_script_and_keeps_lease_across_restart() {
    require_netns!();
    if !require_tools() {
        return;
    }
    boots_and_keeps_its_leases(Service::start(None));
}

/// The same on the shared store: the service on PostgreSQL (reached over its Unix socket, which the
/// service's namespace shares with the test's filesystem).
#[test]
fn the_same_with_the_store_on_postgresql() {
    require_netns!();
    if !require_tools() {
        return;
    }
    rackhand_test_postgres::require_postgres!(postgres);
    boots_and_keeps_its_leases(Service::start(Some(postgres.database())));
}

/// Firmware PXE, TFTP, iPXE and its script, an IPv6 RA, the CLI; leases kept across a restart and a crash.
fn boots_and_keeps_its_leases(mut service: Service) {
    let a = cable(&service, 1, "52:54:00:aa:00:01");
    let b = cable(&service, 2, "52:54:00:aa:00:02");

    // Firmware PXE: an address from the pool, and the BIOS iPXE binary by TFTP from us.
    let lease = a.dhcp(&FIRMWARE);
    assert_eq!(lease.get("ip"), "10.77.0.100", "{}", lease.0);
    assert_eq!(lease.get("siaddr"), SERVER_IP);
    assert_eq!(lease.get("serverid"), SERVER_IP);
    assert_eq!(lease.get("router"), SERVER_IP);
    assert_eq!(lease.get("lease"), "600");
    assert_eq!(lease.get("boot_file"), "undionly.kpxe");

    // TFTP with blksize (curl) and with blksize + tsize + windowsize (atftp, whose trace shows the OACK).
    let expected = std::fs::read(service.assets().join("undionly.kpxe")).unwrap();
    let curl_file = a.dir.path().join("curl.out");
    let url = format!("tftp://{SERVER_IP}/undionly.kpxe");
    a.ns.exec("curl", &["-sf", "--tftp-blksize", "1428", "-o", curl_file.to_str().unwrap(), &url]).unwrap();
    assert_eq!(std::fs::read(&curl_file).unwrap(), expected, "TFTP (curl, blksize 1428) content differs");
    let out_file = a.dir.path().join("atftp.out");
    let trace =
        a.ns.command("atftp")
            .args(["--trace", "--option", "blksize 1428", "--option", "tsize 0", "--option", "windowsize 8"])
            .args(["-g", "-r", "undionly.kpxe", "-l"])
            .arg(&out_file)
            .arg(SERVER_IP)
            .output()
            .unwrap();
    let trace_text = String::from_utf8_lossy(&trace.stderr).into_owned() + &String::from_utf8_lossy(&trace.stdout);
    assert!(trace.status.success(), "atftp failed: {trace_text}");
    let oack = trace_text.lines().find(|l| l.contains("received OACK")).unwrap_or_else(|| panic!("{trace_text}"));
    assert!(oack.contains(&format!("tsize: {}", expected.len())), "{oack}");
    assert!(oack.contains("blksize: 1428") && oack.contains("windowsize: 8"), "{oack}");
    assert_eq!(std::fs::read(&out_file).unwrap(), expected, "TFTP content differs");
    // A path outside the root is refused.
    assert!(a.ns.exec("curl", &["-sf", &format!("tftp://{SERVER_IP}/../config.toml")]).is_err());

    // iPXE (user class "iPXE"): the HTTP URL of its own script, which boots the installer with a token.
    let ipxe = a.dhcp(&[&FIRMWARE[..], &["-x", "0x4d:69505845"]].concat());
    let url = ipxe.get("boot_file");
    assert_eq!(url, format!("http://{SERVER_IP}:8080/boot/52-54-00-aa-00-01.ipxe"));
    let script = a.ns.exec("curl", &["-sf", url]).unwrap();
    assert!(script.starts_with("#!ipxe"), "{script}");
    assert!(script.contains(&format!("rackhand.server=http://{SERVER_IP}:8080 rackhand.node=1 ")), "{script}");
    assert!(script.contains("rackhand.token="), "{script}");
    let node = a.ns.exec("curl", &["-sf", &format!("http://{SERVER_IP}:8080/api/v1/nodes/1")]).unwrap();
    assert!(node.contains("\"state\":\"booting\""), "{node}");

    // IPv6: a router advertisement with lifetime 0 reaches the client, so iPXE need not wait for one.
    let ra = a.router_advertisement(Duration::from_secs(5)).expect("an RA within 5 s");
    assert_eq!(ra[0], 134);
    assert_eq!(u16::from_be_bytes([ra[6], ra[7]]), 0, "router lifetime 0");

    // A restart keeps the leases: b must not be handed a's address, and a gets its own back.
    service.restart();
    let b_lease = b.dhcp(&FIRMWARE);
    assert_eq!(b_lease.get("ip"), "10.77.0.101", "a's lease was forgotten: {}", b_lease.0);
    assert_eq!(a.dhcp(&FIRMWARE).get("ip"), "10.77.0.100");
    let metrics = a.ns.exec("curl", &["-sf", &format!("http://{SERVER_IP}:8080/metrics")]).unwrap();
    assert!(metrics.contains("rackhand_nodes{state=\"discovered\"} 1"), "b was enrolled: {metrics}");
    assert!(!service.log().contains(script.split("rackhand.token=").nth(1).unwrap().split(' ').next().unwrap()));

    // The CLI a person or a script uses against the running service: a table, and refusals in the API's words.
    let cli = |args: &[&str]| {
        let out =
            a.ns.command(env!("CARGO_BIN_EXE_boot-service"))
                .args(args)
                .env("RACKHAND_SERVER", format!("http://{SERVER_IP}:8080"))
                .env_remove("RACKHAND_ADMIN_TOKEN")
                .output()
                .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, table, _) = cli(&["nodes"]);
    assert!(ok && table.lines().any(|l| l.contains("52:54:00:aa:00:01") && l.contains("booting")), "{table}");
    let (ok, _, err) = cli(&["register", "--mac", "52:54:00:aa:00:09"]);
    assert!(!ok && err.contains("HTTP 401"), "no admin token: {err}");
    let (ok, _, err) = cli(&["reprovision", "1", "--admin-token", "netns-test-admin-token"]);
    assert!(!ok && err.contains("HTTP 409") && err.contains("booting"), "a booting node is not reprovisioned: {err}");
    let (ok, out, err) = cli(&[
        "register",
        "--mac",
        "52:54:00:aa:00:09",
        "--profile",
        "qemu-lab",
        "--admin-token",
        "netns-test-admin-token",
    ]);
    assert!(ok && out.starts_with("registered node 3"), "{out}{err}");
    let (ok, json, _) = cli(&["node", "3"]);
    assert!(ok && json.contains("\"profile\": \"qemu-lab\""), "{json}");

    // A crash right after an ACK keeps that lease: it was on disk before the ACK left.
    let c = cable(&service, 3, "52:54:00:aa:00:03");
    assert_eq!(c.dhcp(&FIRMWARE).get("ip"), "10.77.0.102");
    service.crash_and_restart();
    let d = cable(&service, 4, "52:54:00:aa:00:04");
    assert_eq!(d.dhcp(&FIRMWARE).get("ip"), "10.77.0.103", "c's lease was lost in the crash:\n{}", service.log());
    assert_eq!(c.dhcp(&FIRMWARE).get("ip"), "10.77.0.102");
}
