//! OpenIPMI's BMC simulator (`ipmi_sim`, Debian `openipmi`) for tests: a real IPMI-over-LAN (RMCP+)
//! endpoint with one admin user, whose chassis control (power, reset, boot device) is a program of the
//! test's choosing. [`SimConfig`] writes its `lan.conf` and startup commands; [`SimBmc::loopback`] runs
//! one on 127.0.0.1 with a recording chassis (a shell script keeping the power and boot-device state in
//! files) for the boot service's driver and API tests; the QEMU lab runs its BMCs in the lab namespace
//! with a chassis that drives QEMU.
//!
//! ipmi_sim calls the chassis program as `<program...> 0x20 get power|boot` (printing `power:1`,
//! `boot:pxe`) and `<program...> 0x20 set power 0|1 / reset 1 / boot none|pxe|disk|default...`.
//! A missing `ipmi_sim` skips the test with a message unless [`REQUIRE_ENV`] is set (as `cargo xtask
//! test` sets it as root), which makes it a failure.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod sensors;
pub use sensors::{PsuOffset, SimPsu, console, psu_commands, psu_sensor, set_bit};

/// Set: a missing simulator fails the test instead of skipping it.
pub const REQUIRE_ENV: &str = "RACKHAND_REQUIRE_BMC_SIM";
pub const IPMI_SIM: &str = "/usr/bin/ipmi_sim";
pub const IPMITOOL: &str = "/usr/bin/ipmitool";

/// What a simulated BMC is: where it listens, its one admin user, and its chassis control.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub name: String,
    pub address: SocketAddr,
    pub user: String,
    pub password: String,
    /// The chassis control command line; ipmi_sim appends `0x20 get|set ...`.
    pub chassis: Vec<String>,
    /// Where its console listens (emulator commands over TCP: how a test changes its sensors).
    pub console: SocketAddr,
    /// Its power-supply sensors, PSU 1 first, as they start out.
    pub power_supplies: Vec<SimPsu>,
    /// Where it listens for its server's in-band interface (QEMU's `ipmi-bmc-extern`, as a KCS system
    /// interface), if it has one.
    pub system_interface: Option<SocketAddr>,
}

impl SimConfig {
    /// `lan.conf`: one LAN channel at `address`, RMCP+ with MD5 for every privilege, the admin user.
    pub fn lan_conf(&self) -> String {
        let guid: String =
            self.name.bytes().chain(std::iter::repeat(b'0')).take(16).map(|b| format!("{b:02x}")).collect();
        let chassis = self.chassis.iter().map(|word| word.replace('"', "")).collect::<Vec<_>>().join(" ");
        format!(
            "name \"{name}\"\nset_working_mc 0x20\n  startlan 1\n    addr {ip} {port}\n    priv_limit admin\n    \
             allowed_auths_callback none\n    allowed_auths_user md5\n    allowed_auths_operator md5\n    \
             allowed_auths_admin md5\n    guid {guid}\n  endlan\n  chassis_control \"{chassis} 0x20\"\n  \
             console {console_ip} {console_port}\n  user 2 true \"{user}\" \"{password}\" admin 10 md5\n",
            name = self.name,
            ip = self.address.ip(),
            port = self.address.port(),
            user = self.user,
            password = self.password,
            console_ip = self.console.ip(),
            console_port = self.console.port(),
        ) + &self
            .system_interface
            .map_or(String::new(), |at| format!("  serial kcs {} {} codec VM\n", at.ip(), at.port()))
    }

    /// The startup commands: the BMC itself (management controller 0x20) with a SEL, its power-supply
    /// sensors, enabled.
    pub fn commands(&self) -> String {
        let mut out = "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n\
                       sel_enable 0x20 1000 0x0a\n"
            .to_owned();
        for (n, psu) in (1..).zip(&self.power_supplies) {
            out += &psu_commands(n, *psu);
        }
        out + "mc_enable 0x20\n"
    }

    /// Write both files and a state directory into `dir`; the `ipmi_sim` command that runs them.
    pub fn command(&self, dir: &Path) -> std::io::Result<Command> {
        std::fs::create_dir_all(dir.join("state"))?;
        std::fs::write(dir.join("lan.conf"), self.lan_conf())?;
        std::fs::write(dir.join("commands"), self.commands())?;
        let mut command = Command::new(IPMI_SIM);
        command.args(["-n", "-c"]).arg(dir.join("lan.conf")).arg("-f").arg(dir.join("commands"));
        command.arg("-s").arg(dir.join("state"));
        Ok(command)
    }
}

/// Whether the simulator is here; `Err(why)` to skip with.
pub fn available() -> Result<(), String> {
    for program in [IPMI_SIM, IPMITOOL] {
        if !Path::new(program).exists() {
            let why = format!("{program} is not installed (Debian packages openipmi and ipmitool)");
            if std::env::var_os(REQUIRE_ENV).is_some() {
                panic!("{why}, and {REQUIRE_ENV} is set");
            }
            return Err(why);
        }
    }
    Ok(())
}

/// A running simulator on loopback with the recording chassis; stopped on drop.
pub struct SimBmc {
    pub config: SimConfig,
    pub dir: PathBuf,
    child: Child,
}

/// The recording chassis: the power state in `power` (1/0), the pending boot device in `boot`, every
/// call appended to `calls`. Set `ignore-boot` (a file) and it answers `set boot` without keeping it.
const RECORDING_CHASSIS: &str = r#"#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/calls"
shift
op=$1; shift
case $op in
get) for p in "$@"; do case $p in
    power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)";;
    boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)";;
    *) echo "Invalid parameter: $p"; exit 1;;
  esac; done;;
set) while [ $# -ge 2 ]; do case $1 in
    power) echo "$2" > "$dir/power";;
    reset) echo reset >> "$dir/resets";;
    boot) [ -e "$dir/ignore-boot" ] || echo "$2" > "$dir/boot";;
    *) echo "Invalid parameter: $1"; exit 1;;
  esac; shift 2; done;;
*) echo "Unknown operation: $op"; exit 1;;
esac
"#;

impl SimBmc {
    /// A simulator on 127.0.0.1 (a free UDP port) in `dir`, with user `admin` and `password`, its
    /// chassis the recording script; waits until it listens.
    pub fn loopback(dir: &Path, password: &str) -> std::io::Result<SimBmc> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir)?;
        let chassis = dir.join("chassis");
        std::fs::write(&chassis, RECORDING_CHASSIS)?;
        std::fs::set_permissions(&chassis, std::fs::Permissions::from_mode(0o755))?;
        let address = UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
        let console = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let config = SimConfig {
            name: "testbmc".into(),
            address,
            user: "admin".into(),
            password: password.into(),
            chassis: vec![chassis.display().to_string()],
            console,
            power_supplies: vec![SimPsu::Powered, SimPsu::Powered],
            system_interface: None,
        };
        let log = std::fs::File::create(dir.join("ipmi_sim.log"))?;
        let child = config.command(dir)?.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).spawn()?;
        let mut bmc = SimBmc { config, dir: dir.to_owned(), child };
        bmc.wait_listening(Duration::from_secs(10))?;
        Ok(bmc)
    }

    fn wait_listening(&mut self, limit: Duration) -> std::io::Result<()> {
        let started = Instant::now();
        while !udp_listening(self.child.id(), self.config.address) {
            if let Some(status) = self.child.try_wait()? {
                return Err(std::io::Error::other(format!("ipmi_sim exited ({status}): {}", self.log())));
            }
            if started.elapsed() > limit {
                return Err(std::io::Error::other(format!("ipmi_sim not listening after {limit:?}: {}", self.log())));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ipmi_sim.log")).unwrap_or_default()
    }

    /// What the chassis was asked, one call a line (`0x20 set power 1`).
    pub fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("calls")).unwrap_or_default()
    }

    /// The chassis power: on after `set power 1`.
    pub fn powered(&self) -> bool {
        std::fs::read_to_string(self.dir.join("power")).is_ok_and(|p| p.trim() == "1")
    }

    pub fn set_powered(&self, on: bool) {
        std::fs::write(self.dir.join("power"), if on { "1\n" } else { "0\n" }).expect("writing the chassis state");
    }

    /// The boot device the chassis was last told (`pxe`, `default`), if any.
    pub fn boot_device(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("boot")).ok().map(|b| b.trim().to_owned())
    }

    /// Set (or clear) `offset` of PSU `n`'s sensor, logging the event in the SEL as a real BMC does.
    pub fn set_psu(&self, n: u8, offset: PsuOffset, on: bool) -> std::io::Result<()> {
        console(self.config.console, &set_bit(n, offset, on, true)).map(drop)
    }

    /// From now on the BMC accepts a boot-device override and does not keep it (a real failure mode).
    pub fn ignore_boot_override(&self) {
        std::fs::write(self.dir.join("ignore-boot"), "").expect("writing the chassis switch");
    }
}

impl Drop for SimBmc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a UDP socket is bound to `address` (IPv4) in the network namespace of process `pid`: its
/// `/proc/<pid>/net/udp` lists it as a local address. How both here and the lab (whose simulators run in
/// its namespace) know a simulator is listening.
pub fn udp_listening(pid: u32, address: SocketAddr) -> bool {
    let SocketAddr::V4(v4) = address else { return false };
    let want = format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port());
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/udp")).unwrap_or_default();
    table.lines().any(|line| line.split_whitespace().nth(1) == Some(want.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_udp_socket_is_seen_listening_and_only_at_its_own_address() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        assert!(udp_listening(std::process::id(), address));
        let other = SocketAddr::from(([127, 0, 0, 2], address.port()));
        assert!(!udp_listening(std::process::id(), other));
        drop(socket);
        assert!(!udp_listening(std::process::id(), address));
    }

    #[test]
    fn the_address_the_chassis_command_and_the_user_reach_lan_conf() {
        let config = SimConfig {
            name: "s1".into(),
            address: "10.77.0.201:623".parse().unwrap(),
            user: "admin".into(),
            password: "secret".into(),
            chassis: vec!["/bin/lab-chassis".into(), "--qmp".into(), "/x".into()],
            console: "10.77.0.201:9000".parse().unwrap(),
            power_supplies: vec![SimPsu::Powered, SimPsu::AcLost],
            system_interface: Some("10.77.0.201:9002".parse().unwrap()),
        };
        let conf = config.lan_conf();
        assert!(conf.contains("    addr 10.77.0.201 623\n"), "{conf}");
        assert!(conf.contains("chassis_control \"/bin/lab-chassis --qmp /x 0x20\"\n"), "{conf}");
        assert!(conf.contains("user 2 true \"admin\" \"secret\" admin 10 md5\n"), "{conf}");
        assert!(conf.contains("  console 10.77.0.201 9000\n"), "{conf}");
        assert!(conf.ends_with("  serial kcs 10.77.0.201 9002 codec VM\n"), "{conf}");
        let commands = config.commands();
        assert!(commands.contains("sel_enable 0x20") && commands.ends_with("mc_enable 0x20\n"), "{commands}");
        assert!(commands.contains(&psu_commands(2, SimPsu::AcLost)), "{commands}");
        let guid = conf.lines().find_map(|l| l.trim().strip_prefix("guid ")).unwrap();
        assert!(guid.len() == 32 && guid.chars().all(|c| c.is_ascii_hexdigit()), "{guid}");
    }
}
