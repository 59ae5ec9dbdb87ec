//! A virtual server's BMC: OpenIPMI's simulator (`ipmi_sim`, Debian `openipmi`) inside the lab namespace,
//! answering IPMI-over-LAN (RMCP+: `ipmitool -I lanplus`) at 10.77.0.(200 + index), port 623, an address
//! of its own on the lab's bridge (the DHCP pools end at .199). One admin user; its password is made for
//! each server. ipmi_sim's chassis control is the lab's `lab-chassis` program ([`crate::chassis`]), which
//! drives the server's QEMU over a QMP socket of the BMC's own: power on and off, reset, and a one-time
//! "next boot: network". [`BmcBehaviour`] can make it a BMC that accepts that override and never applies it.
//!
//! A lab test gives a server a BMC with [`ServerSpec::bmc`] and reaches it through [`VirtualServer::bmc`]
//! ([`Bmc::address`], [`Bmc::user`], [`Bmc::password`], or [`Bmc::ipmitool`] from inside the namespace).
//! Its files are under `<server dir>/bmc/`: `lan.conf`, `commands` (the emulator's start-up commands),
//! `state/` (ipmi_sim's), `ipmi_sim.log`, `chassis.log` (every chassis call and what was done) and
//! `chassis.state`.
//!
//! [`ServerSpec::bmc`]: crate::server::ServerSpec::bmc
//! [`VirtualServer::bmc`]: crate::server::VirtualServer::bmc

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rackhand_netns::Netns;
pub use rackhand_test_bmc::{PsuOffset, SimPsu};

use crate::chassis::Options;
use crate::lab::BRIDGE;
use crate::server::{PsuSpec, ServerSpec};
use config::random_password;

mod config;

/// Where the chassis program is when a [`BmcSpec`] does not say (`cargo xtask` sets it).
pub const ENV_CHASSIS: &str = "RACKHAND_LAB_CHASSIS";
pub const IPMI_PORT: u16 = 623;
pub const USER: &str = "admin";
/// The simulator's console (emulator commands over TCP, at the BMC's address): how a test sets sensors.
pub const CONSOLE_PORT: u16 = 9000;
/// Where the simulator takes its server's in-band connection (QEMU's `ipmi-bmc-extern`).
pub const SYSTEM_INTERFACE_PORT: u16 = 9002;

/// The BMC's in-band end for server `index`: QEMU connects here, and the guest sees a KCS interface.
pub fn system_interface(index: u8) -> anyhow::Result<SocketAddrV4> {
    Ok(SocketAddrV4::new(*address(index)?.ip(), SYSTEM_INTERFACE_PORT))
}

/// How the BMC treats a one-time boot override (`chassis bootdev pxe`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BmcBehaviour {
    /// Applies it to the next boot, and only that one.
    #[default]
    Honest,
    /// Answers success and never applies it: a failure real BMCs have, which the boot service can only
    /// see by watching the server not network-boot.
    IgnoresBootOverride,
}

impl BmcBehaviour {
    pub fn as_arg(self) -> &'static str {
        match self {
            BmcBehaviour::Honest => "honest",
            BmcBehaviour::IgnoresBootOverride => "ignores-boot-override",
        }
    }

    pub fn from_arg(arg: &str) -> Option<BmcBehaviour> {
        [BmcBehaviour::Honest, BmcBehaviour::IgnoresBootOverride].into_iter().find(|b| b.as_arg() == arg)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmcSpec {
    pub behaviour: BmcBehaviour,
    /// The `lab-chassis` binary; `None`: [`ENV_CHASSIS`] names it.
    pub chassis_program: Option<PathBuf>,
    /// Its power-supply sensors as they start; `None`: as the server's PSUs are (an unplugged one has
    /// lost its AC input), so the BMC and SMBIOS agree.
    pub power_supplies: Option<Vec<SimPsu>>,
}

impl BmcSpec {
    pub fn new(behaviour: BmcBehaviour) -> BmcSpec {
        BmcSpec { behaviour, chassis_program: None, power_supplies: None }
    }

    /// Use `program` as the chassis program (a lab test: `env!("CARGO_BIN_EXE_lab-chassis")`).
    pub fn with_chassis_program(self, program: impl Into<PathBuf>) -> BmcSpec {
        BmcSpec { chassis_program: Some(program.into()), ..self }
    }
}

/// The chassis program: `explicit` if given, else the one [`ENV_CHASSIS`] names.
pub fn chassis_program(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let program = match explicit {
        Some(path) => path.to_owned(),
        None => std::env::var_os(ENV_CHASSIS)
            .map(PathBuf::from)
            .with_context(|| format!("no chassis program for the BMC: give BmcSpec one or set {ENV_CHASSIS}"))?,
    };
    anyhow::ensure!(program.is_file(), "the BMC's chassis program {} does not exist", program.display());
    // Absolute: ipmi_sim runs it from wherever ipmi_sim was started.
    Ok(program.canonicalize()?)
}

/// The BMC's address on the lab's bridge for server `index`.
pub fn address(index: u8) -> anyhow::Result<SocketAddrV4> {
    let host =
        index.checked_add(200).filter(|host| *host < 255).context("a server index above 54 has no BMC address")?;
    Ok(SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, host), IPMI_PORT))
}

/// The QMP socket the server's QEMU opens for its BMC.
pub fn qmp_socket(server_dir: &Path) -> PathBuf {
    server_dir.join("bmc-qmp.sock")
}

/// A running `ipmi_sim`; killed, and its address taken off the bridge, when dropped.
pub struct Bmc {
    server: String,
    address: SocketAddrV4,
    password: String,
    dir: PathBuf,
    netns: String,
    child: Child,
}

impl Bmc {
    /// Write the configuration, put the address on the bridge, start ipmi_sim in the namespace and wait
    /// until it listens.
    pub(crate) fn start(ns: &Netns, server_dir: &Path, spec: &ServerSpec, bmc: &BmcSpec) -> anyhow::Result<Bmc> {
        let program = chassis_program(bmc.chassis_program.as_deref())?;
        let address = address(spec.index)?;
        let dir = server_dir.join("bmc");
        std::fs::create_dir_all(dir.join("state"))?;
        let chassis = Options {
            qmp: qmp_socket(server_dir),
            log: dir.join("chassis.log"),
            state: dir.join("chassis.state"),
            console: server_dir.join("serial.log"),
            nic_bootindex: spec.boot_order.nic_bootindex(&spec.disks),
            behaviour: bmc.behaviour,
        };
        let mut words = vec![program.display().to_string()];
        words.extend(chassis.args());
        // lan.conf holds the command as one quoted string of words: a space or a quote in one would break it.
        if let Some(word) = words.iter().find(|w| w.contains(|c: char| c.is_whitespace() || c == '"')) {
            bail!("the BMC's chassis command cannot hold `{word}` (a space or a quote)");
        }
        let password = random_password()?;
        let as_smbios = |psu: &PsuSpec| match psu {
            PsuSpec::Powered => SimPsu::Powered,
            PsuSpec::Unplugged => SimPsu::AcLost,
        };
        let power_supplies = bmc.power_supplies.clone().unwrap_or_else(|| spec.psus.iter().map(as_smbios).collect());
        let console = SocketAddrV4::new(*address.ip(), CONSOLE_PORT);
        let sim = rackhand_test_bmc::SimConfig {
            name: spec.name.clone(),
            address: SocketAddr::V4(address),
            user: USER.into(),
            password: password.clone(),
            chassis: words,
            console: SocketAddr::V4(console),
            power_supplies,
            system_interface: Some(SocketAddr::V4(system_interface(spec.index)?)),
        };
        std::fs::write(dir.join("lan.conf"), sim.lan_conf())?;
        std::fs::write(dir.join("commands"), sim.commands())?;
        ns.ip(&["addr", "add", &format!("{}/24", address.ip()), "dev", BRIDGE])?;
        let log = std::fs::File::create(dir.join("ipmi_sim.log"))?;
        let spawned = ns
            .command("ipmi_sim")
            .arg("-n")
            .arg("-c")
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("commands"))
            .arg("-s")
            .arg(dir.join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting ipmi_sim (package openipmi)");
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = ns.ip(&["addr", "del", &format!("{}/24", address.ip()), "dev", BRIDGE]);
                return Err(error);
            }
        };
        let netns = ns.name().to_owned();
        let mut bmc = Bmc { server: spec.name.clone(), address, password, dir, netns, child };
        bmc.wait_listening(Duration::from_secs(10))?;
        Ok(bmc)
    }

    /// From now on the BMC behaves as `behaviour` (read by the chassis program at each call): a test can
    /// make a BMC that applied overrides start ignoring them, and back.
    pub fn set_behaviour(&self, behaviour: BmcBehaviour) -> anyhow::Result<()> {
        let file = crate::chassis::behaviour_file(&self.dir.join("chassis.state"));
        Ok(std::fs::write(file, behaviour.as_arg())?)
    }

    pub fn address(&self) -> SocketAddr {
        SocketAddr::V4(self.address)
    }

    pub fn user(&self) -> &str {
        USER
    }

    /// The admin's password, made for this server when its BMC started.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// What the chassis program was asked and what it did, one call a line.
    pub fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("chassis.log")).unwrap_or_default()
    }

    /// Set (or clear) `offset` of PSU `n`'s sensor at the simulator's console, logging the event in its
    /// SEL: a supply losing its AC input, failing, or coming back, as the BMC sees it.
    pub fn set_psu(&self, n: u8, offset: PsuOffset, on: bool) -> anyhow::Result<()> {
        let console = SocketAddr::V4(SocketAddrV4::new(*self.address.ip(), CONSOLE_PORT));
        let command = rackhand_test_bmc::set_bit(n, offset, on, true);
        // Entered by name: the lab owns (and removes) its namespace.
        let inside =
            rackhand_netns::spawn_inside_named(&self.netns, move || rackhand_test_bmc::console(console, &command));
        inside?
            .join()
            .map_err(|_| anyhow::anyhow!("the console thread panicked"))?
            .with_context(|| format!("setting PSU {n} at the console of {}'s BMC", self.server))?;
        Ok(())
    }

    /// ipmi_sim's own output.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ipmi_sim.log")).unwrap_or_default()
    }

    /// `ipmitool -I lanplus` against this BMC from inside the lab namespace, as the admin; its standard
    /// output.
    pub fn ipmitool(&self, command: &[&str]) -> anyhow::Result<String> {
        self.ipmitool_with_password(&self.password, command)
    }

    /// [`Bmc::ipmitool`] with another password (to see a wrong one refused). The password goes through
    /// the environment (`-E`), never the command line, which any local user can read in `/proc`.
    pub fn ipmitool_with_password(&self, password: &str, command: &[&str]) -> anyhow::Result<String> {
        let (ip, port) = (self.address.ip().to_string(), self.address.port().to_string());
        // Cipher suite 3 (the IPMI 2.0 default: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) named up front:
        // without -C, ipmitool first asks for the channel's cipher suites, which ipmi_sim does not answer,
        // and waits 10 s for it on every command.
        let args = ["netns", "exec", &self.netns, "ipmitool", "-I", "lanplus", "-C", "3", "-H", &ip, "-p", &port];
        let mut child = Command::new("ip")
            .args(args)
            .args(["-U", USER, "-E", "-N", "2", "-R", "3"])
            .args(command)
            .env("IPMI_PASSWORD", password)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running ipmitool (package ipmitool)")?;
        let (mut stdout, mut stderr) = (String::new(), String::new());
        child.stdout.take().context("ipmitool's stdout")?.read_to_string(&mut stdout)?;
        child.stderr.take().context("ipmitool's stderr")?.read_to_string(&mut stderr)?;
        let status = child.wait()?;
        if !status.success() {
            bail!(
                "`ipmitool {}` against the BMC of {} at {} failed ({status}): {}\n--- ipmi_sim log (last lines) ---\n{}",
                command.join(" "),
                self.server,
                self.address,
                stderr.trim(),
                tail(&self.log(), 20)
            );
        }
        Ok(stdout)
    }

    /// Until ipmi_sim has its UDP socket (its namespace's `/proc/<pid>/net/udp` lists it).
    fn wait_listening(&mut self, limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if rackhand_test_bmc::udp_listening(self.child.id(), SocketAddr::V4(self.address)) {
                return Ok(());
            }
            let why = match self.child.try_wait()? {
                Some(status) => format!("ipmi_sim exited ({status})"),
                None if started.elapsed() > limit => format!("ipmi_sim is not listening after {limit:?}"),
                None => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            bail!(
                "the BMC of {} at {}: {why}\n--- ipmi_sim log ---\n{}",
                self.server,
                self.address,
                tail(&self.log(), 20)
            );
        }
    }
}

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The namespace may be gone already (then so is the address).
        let _ = Command::new("ip")
            .args(["-n", &self.netns, "addr", "del", &format!("{}/24", self.address.ip()), "dev", BRIDGE])
            .output();
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_index_the_lab_racks_has_a_bmc_address_outside_the_dhcp_pools() {
        for index in 0..=crate::server::MAX_SERVER_INDEX {
            let host = address(index).unwrap().ip().octets()[3];
            assert!((200..255).contains(&host), "server {index}: .{host}");
        }
        assert!(address(55).is_err());
    }

    #[test]
    fn behaviours_read_back_from_their_arguments() {
        for behaviour in [BmcBehaviour::Honest, BmcBehaviour::IgnoresBootOverride] {
            assert_eq!(BmcBehaviour::from_arg(behaviour.as_arg()), Some(behaviour));
        }
        assert_eq!(BmcBehaviour::from_arg("lazy"), None);
    }
}
