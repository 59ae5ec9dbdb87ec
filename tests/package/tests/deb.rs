//! The boot service's Debian package, as an operator gets it: installed with `dpkg -i`, its unit checked
//! by `systemd-analyze`, and the packaged binary run the way the unit runs it — as the unit's user, with
//! only the unit's capabilities (setpriv), the unit's command line and environment, a notify socket as
//! systemd gives one — inside a network namespace, where it must answer HTTP, TFTP, DHCP and send IPv6
//! router advertisements. Without each of the unit's capabilities it must refuse to start, naming it.
//! The package is purged at the end (and the user it created removed), leaving the machine as found.
//!
//! These machines have no systemd as PID 1, so the unit's sandboxing (ProtectSystem=, SystemCallFilter=,
//! ...) is checked by `systemd-analyze`, not enforced here.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use boot_service::config::{ConfigWriter, DhcpMode, Enrolment, SubnetWriter};
use rackhand_netns::client::DhcpClient;
use rackhand_netns::{Netns, require_netns, skip_unless_required};
use rackhand_package_test::{Capability, ENV_DEB, ServiceSection, setpriv_set};

const SERVER_IP: &str = "10.77.0.1";
const BRIDGE: &str = "br0";
/// The exposure `systemd-analyze security --offline` may give the unit, in its 0–100 threshold units: the
/// unit scores 1.5 of 10 ("OK"); without its sandbox (ProtectSystem= to SystemCallFilter=) 6.7.
const EXPOSURE_THRESHOLD: &str = "20";

#[test]
fn installed_package_serves_as_its_unit_runs_it_and_purges_cleanly() {
    require_netns!();
    let missing: Vec<_> = ["dpkg", "dpkg-deb", "setpriv", "systemd-analyze", "busybox", "curl"]
        .into_iter()
        .filter(|t| which(t).is_none())
        .collect();
    if !missing.is_empty() {
        skip_unless_required(&format!("needs {missing:?} (cargo xtask test installs them)"));
        return;
    }
    let Some(deb) = std::env::var_os(ENV_DEB).map(PathBuf::from) else {
        skip_unless_required(&format!("needs the package in {ENV_DEB} (cargo xtask test builds it)"));
        return;
    };
    let package = stdout(Command::new("dpkg-deb").arg("--field").arg(&deb).arg("Package")).trim().to_owned();
    // The unit as packaged says what the install will create: the state directory must not exist yet,
    // since the purge at the end removes it.
    let unpacked = tempfile::tempdir().unwrap();
    stdout(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(unpacked.path()));
    let listing = stdout(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let unit_path = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .find(|f| f.ends_with(".service"))
        .unwrap_or_else(|| panic!("no systemd unit in {}:\n{listing}", deb.display()))
        .trim_start_matches('.')
        .to_owned();
    let packaged_unit = std::fs::read_to_string(unpacked.path().join(unit_path.trim_start_matches('/'))).unwrap();
    let state_dir = state_directory(&ServiceSection::parse(&packaged_unit).unwrap());
    assert!(!installed(&package), "{package} is installed on this machine; the test installs and purges its own build");
    assert!(!state_dir.exists(), "{} exists; the test's purge would remove it", state_dir.display());
    let accounts_before = Accounts::read();
    let mut installation = Installation { package: package.clone(), accounts_before, purged: false };

    let dpkg = run(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(dpkg.status.success(), "dpkg -i {}:\n{}", deb.display(), text(&dpkg));
    assert!(installed(&package));

    // The unit as installed, checked as systemd would load it, and read for how to run the service.
    let unit_text = std::fs::read_to_string(&unit_path).unwrap();
    assert_eq!(unit_text, packaged_unit, "{unit_path} differs from the package's");
    let verify = run(Command::new("systemd-analyze").args(["verify", &unit_path]));
    assert!(
        verify.status.success() && text(&verify).trim().is_empty(),
        "systemd-analyze verify {unit_path}:\n{}",
        text(&verify)
    );
    let security = run(Command::new("systemd-analyze").args([
        "security",
        "--offline=yes",
        &format!("--threshold={EXPOSURE_THRESHOLD}"),
        &unit_path,
    ]));
    assert!(security.status.success(), "the unit's sandbox is weaker than expected:\n{}", text(&security));
    let unit = ServiceSection::parse(&unit_text).unwrap();
    let run_as = RunAs::from_unit(&unit);
    eprintln!("package: {package}; unit {unit_path}: user {}, capabilities {:?}", run_as.user, run_as.ambient);

    // The accounts and the state directory, as the unit expects them.
    let user = nix::unistd::User::from_name(&run_as.user).unwrap().expect("the package created the unit's user");
    let group = nix::unistd::Group::from_name(&run_as.group).unwrap().expect("the package created the unit's group");
    let owner = |path: &Path| {
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (meta.mode() & 0o7777, meta.uid(), meta.gid())
    };
    assert_eq!(owner(&state_dir), (0o750, user.uid.as_raw(), group.gid.as_raw()), "{}", state_dir.display());

    // The config: a conffile readable by root and the service's group only (it holds the admin token).
    let config = run_as.config_path();
    let conffiles = stdout(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", &package]));
    assert!(
        conffiles.split_whitespace().any(|f| Path::new(f) == config),
        "{} is no conffile: {conffiles}",
        config.display()
    );
    assert_eq!(owner(&config), (0o640, 0, group.gid.as_raw()), "{}", config.display());

    // The lab config goes into the installed file (owner and mode kept), as an operator edits it, with
    // the state directory as data_dir and a boot file put into its assets/ as an administrator would.
    let boot_file = b"not really iPXE, but served by TFTP all the same".repeat(64);
    std::fs::write(state_dir.join("assets/undionly.kpxe"), &boot_file).unwrap();
    std::fs::write(&config, lab_config(&state_dir)).unwrap();
    assert_eq!(owner(&config), (0o640, 0, group.gid.as_raw()), "{}", config.display());
    // Where the notify sockets, logs and the DHCP client's script go.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let ns = Netns::create("pkg").unwrap();
    ns.bridge(BRIDGE).unwrap();
    ns.addr_up(BRIDGE, &format!("{SERVER_IP}/24")).unwrap();

    // With the unit's capabilities: ready, then serving every protocol, then a clean stop.
    let mut service = Service::start(&ns, &run_as, &run_as.ambient, dir.path(), "full");
    service.expect_notification("READY=1");
    // Ready means ready: no retries from here on.
    let health = ns.exec("curl", &["-sf", "--max-time", "10", &format!("http://{SERVER_IP}/healthz")]);
    assert!(health.is_ok(), "READY=1 came before HTTP answered: {health:?}\n{}", service.log());
    let client = DhcpClient::cable(&ns, BRIDGE, "port1", None).unwrap();
    let lease = client.dhcp(&[]);
    let ip: std::net::Ipv4Addr = lease.get("ip").parse().unwrap();
    assert!((100..=120).contains(&ip.octets()[3]) && lease.get("serverid") == SERVER_IP, "{}", lease.0);
    let fetched = client
        .ns
        .command("curl")
        .args(["-sf", "--max-time", "20", &format!("tftp://{SERVER_IP}/undionly.kpxe")])
        .output()
        .unwrap();
    assert!(fetched.status.success() && fetched.stdout == boot_file, "TFTP on port 69: {}", text(&fetched));
    let ra = client.router_advertisement(Duration::from_secs(5));
    assert!(ra.is_ok(), "no IPv6 router advertisement (the raw socket needs CAP_NET_RAW): {ra:?}\n{}", service.log());
    let status = service.stop();
    assert!(status.success(), "stopped with {status}:\n{}", service.log());

    // Without each of them: no start, and the service's own words name what is missing.
    for (index, missing) in run_as.ambient.iter().enumerate() {
        let fewer: Vec<Capability> = run_as.ambient.iter().filter(|c| *c != missing).cloned().collect();
        let mut service = Service::start(&ns, &run_as, &fewer, dir.path(), &format!("without-{index}"));
        let status = service.wait_for_exit();
        let log = service.log();
        assert!(!status.success(), "started without {missing}:\n{log}");
        assert!(log.contains(missing.name()), "the error does not name {missing}:\n{log}");
        assert!(!service.notifications().contains("READY=1"), "READY=1 without {missing}");
        eprintln!(
            "without {missing}: {}",
            log.lines().filter(|l| l.contains(missing.name())).collect::<Vec<_>>().join(" | ")
        );
    }
    drop(client);
    drop(ns);

    installation.purge().unwrap();
    assert!(!installed(&package), "{package} still installed after dpkg --purge");
    for gone in [&config, &state_dir, Path::new(&unit_path)] {
        assert!(!gone.exists(), "{} left behind by the purge", gone.display());
    }
    assert_eq!(Accounts::read(), installation.accounts_before, "users and groups as before the test");
}

/// Whether dpkg knows `package` as installed (or removed with its config files left).
fn installed(package: &str) -> bool {
    let out = run(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Abbrev}", package]));
    out.status.success() && !String::from_utf8_lossy(&out.stdout).starts_with("un")
}

/// The installed package: purged when the test ends, however it ends, and the accounts its install
/// created removed (Debian leaves a package's system user behind on purge; the test does not).
struct Installation {
    package: String,
    accounts_before: Accounts,
    purged: bool,
}

impl Installation {
    /// `dpkg --purge`, then remove the users and groups that were not there before.
    fn purge(&mut self) -> Result<(), String> {
        self.purged = true;
        let out = run(Command::new("dpkg").args(["--purge", &self.package]));
        if !out.status.success() {
            return Err(format!("dpkg --purge {}:\n{}", self.package, text(&out)));
        }
        for user in Accounts::read().users.difference(&self.accounts_before.users) {
            let out = run(Command::new("userdel").arg(user));
            if !out.status.success() {
                return Err(format!("userdel {user}: {}", text(&out)));
            }
        }
        for group in Accounts::read().groups.difference(&self.accounts_before.groups) {
            let out = run(Command::new("groupdel").arg(group));
            if !out.status.success() {
                return Err(format!("groupdel {group}: {}", text(&out)));
            }
        }
        Ok(())
    }
}

impl Drop for Installation {
    /// A test that failed half-way still leaves the machine as it found it.
    fn drop(&mut self) {
        if !self.purged
            && let Err(err) = self.purge()
        {
            eprintln!("cleaning up after a failed test: {err}");
        }
    }
}

/// The user and group names in /etc/passwd and /etc/group.
#[derive(Debug, PartialEq, Eq)]
struct Accounts {
    users: BTreeSet<String>,
    groups: BTreeSet<String>,
}

impl Accounts {
    fn read() -> Accounts {
        let names = |file: &str| {
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .filter_map(|l| l.split(':').next())
                .map(str::to_owned)
                .collect()
        };
        Accounts { users: names("/etc/passwd"), groups: names("/etc/group") }
    }
}

/// How the unit runs the service, read from the installed unit file.
struct RunAs {
    user: String,
    group: String,
    ambient: Vec<Capability>,
    no_new_privileges: bool,
    environment: Vec<(String, String)>,
    command: Vec<String>,
}

impl RunAs {
    fn from_unit(unit: &ServiceSection) -> RunAs {
        assert_eq!(unit.value("Type"), Some("notify"), "the service tells systemd when it is ready");
        let user = unit.value("User").expect("the unit names its user").to_owned();
        let group = unit.value("Group").unwrap_or(&user).to_owned();
        let ambient = unit.capabilities("AmbientCapabilities").unwrap();
        let bounding = unit.capabilities("CapabilityBoundingSet").unwrap();
        assert!(!ambient.is_empty(), "the unit gives the service no capabilities");
        let sorted = |caps: &[Capability]| caps.iter().cloned().collect::<BTreeSet<_>>();
        assert_eq!(sorted(&ambient), sorted(&bounding), "AmbientCapabilities= and CapabilityBoundingSet= differ");
        RunAs {
            user,
            group,
            ambient,
            no_new_privileges: unit.flag("NoNewPrivileges").unwrap().unwrap_or(false),
            environment: unit.environment().unwrap(),
            command: unit.exec_start().unwrap(),
        }
    }

    /// ExecStart's `--config` file.
    fn config_path(&self) -> PathBuf {
        let at = self.command.iter().position(|a| a == "--config").expect("ExecStart= names its --config");
        PathBuf::from(&self.command[at + 1])
    }
}

/// `/var/lib/<StateDirectory=>`: the directory systemd gives the service, and the package creates.
fn state_directory(unit: &ServiceSection) -> PathBuf {
    let name =
        unit.value("StateDirectory").and_then(|v| v.split_whitespace().next()).expect("the unit has a StateDirectory=");
    Path::new("/var/lib").join(name)
}

fn lab_config(data: &Path) -> String {
    let server: std::net::Ipv4Addr = SERVER_IP.parse().unwrap();
    let subnet = SubnetWriter::new("10.77.0.0/24".parse().unwrap(), Enrolment::Auto)
        .router(server)
        .pool("10.77.0.100".parse().unwrap(), "10.77.0.120".parse().unwrap());
    // Default ports (HTTP 80, TFTP 69, DHCP 67): the privileged ones the unit's capabilities are for.
    ConfigWriter::new(server, data, "package-test-admin-token", DhcpMode::Full, [BRIDGE])
        .ipv6_null_router_advertisements(true)
        .subnet(subnet)
        .render()
        .unwrap()
}

/// The packaged binary started as the unit starts it, with `caps` as its ambient and bounding sets.
struct Service {
    child: Option<Child>,
    notify: UnixDatagram,
    notifications: String,
    log: PathBuf,
}

impl Service {
    fn start(ns: &Netns, run_as: &RunAs, caps: &[Capability], dir: &Path, name: &str) -> Service {
        // The notify socket systemd would pass in NOTIFY_SOCKET; the service's user must be able to send.
        let socket_path = dir.join(format!("notify-{name}"));
        let notify = UnixDatagram::bind(&socket_path).unwrap();
        std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o666)).unwrap();
        notify.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let log = dir.join(format!("log-{name}"));
        let set = setpriv_set(caps);
        let mut cmd = ns.command("setpriv");
        cmd.arg(format!("--reuid={}", run_as.user))
            .arg(format!("--regid={}", run_as.group))
            .arg("--init-groups")
            .arg(format!("--inh-caps={set}"))
            .arg(format!("--ambient-caps={set}"))
            .arg(format!("--bounding-set={set}"));
        if run_as.no_new_privileges {
            cmd.arg("--no-new-privs");
        }
        // A system service starts in / with a clean environment: the unit's Environment= and the socket.
        cmd.args(&run_as.command)
            .current_dir("/")
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
            .envs(run_as.environment.iter().map(|(k, v)| (k, v)))
            .env("NOTIFY_SOCKET", &socket_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        eprintln!("starting: {cmd:?}");
        let child = cmd.spawn().expect("starting the packaged binary");
        Service { child: Some(child), notify, notifications: String::new(), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn notifications(&self) -> &str {
        &self.notifications
    }

    /// Read the notify socket until `line` came; fail if the service exits or 30 s pass first.
    fn expect_notification(&mut self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.notifications.lines().any(|l| l == line) {
            self.receive();
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.receive();
                assert!(
                    self.notifications.lines().any(|l| l == line),
                    "exited ({status}) before {line}:\n{}",
                    self.log()
                );
                return;
            }
            assert!(Instant::now() < deadline, "no {line} within 30 s (got {:?}):\n{}", self.notifications, self.log());
        }
    }

    fn receive(&mut self) {
        let mut buf = [0u8; 4096];
        match self.notify.recv(&mut buf) {
            Ok(len) => self.notifications.push_str(&String::from_utf8_lossy(&buf[..len])),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(err) => panic!("notify socket: {err}"),
        }
    }

    /// SIGTERM, as systemd stops it: STOPPING=1, then its exit status.
    fn stop(&mut self) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.as_ref().unwrap().id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        self.expect_notification("STOPPING=1");
        self.wait_for_exit()
    }

    /// Its exit status (killed, and failing the test, if it runs on for 30 s).
    fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.receive();
            let mut child = self.child.take().expect("the service was started");
            if let Some(status) = child.try_wait().unwrap() {
                self.receive();
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("still running after 30 s:\n{}", self.log());
            }
            self.child = Some(child);
        }
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

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"))
}

fn stdout(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.exists())
}
