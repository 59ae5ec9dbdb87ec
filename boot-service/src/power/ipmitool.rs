//! [`PowerDriver`] over IPMI over LAN (RMCP+, `-I lanplus`) with Debian's `ipmitool`.
//!
//! Why a program and not a crate: the Rust IPMI-over-LAN crates are young (one release, or a hobby
//! project by its author's own words) or implement RMCP+ partly; `ipmitool` has been maintained for two
//! decades, is what technicians already use against these BMCs, and its RMCP+ (RAKP, cipher suites,
//! vendor quirks) is what we would otherwise rewrite. The password goes through the environment
//! (`-E`, `IPMI_PASSWORD`), never the command line, which any local user can read in `/proc`.
//!
//! ipmitool says what went wrong only in words on stderr; [`classify_failure`] turns them into a
//! [`Failure`] (pure, tested with ipmitool's own lines), and the driver into a [`PowerError`].

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rackhand_api::{BmcPsuReading, BootDevice, PowerAction, PowerState, SelEntry};

use super::{BmcLogin, PowerDriver, PowerError};

/// One BMC command through `ipmitool`.
#[derive(Debug, Clone)]
pub struct Ipmitool {
    pub program: String,
    /// ipmitool's own per-try timeout (`-N`, seconds) and tries (`-R`): a BMC that does not answer is
    /// given up on after about their product.
    pub timeout_secs: u32,
    pub retries: u32,
    /// Killed when it has not finished by then, whatever ipmitool's own timers do.
    pub limit: Duration,
}

impl Default for Ipmitool {
    fn default() -> Self {
        Ipmitool { program: "ipmitool".into(), timeout_secs: 2, retries: 3, limit: Duration::from_secs(30) }
    }
}

/// Why an ipmitool command failed, from what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing answered (no RMCP+ reply at all).
    NoAnswer,
    /// The BMC answered and refused the user or password (RAKP).
    LoginRefused,
    /// Logged in, but the command failed; ipmitool's last line says why.
    Command(String),
}

/// Classify ipmitool's stderr (run with `-v`, which names the RAKP step that failed).
pub fn classify_failure(stderr: &str) -> Failure {
    let has = |needle: &str| stderr.lines().any(|line| line.contains(needle));
    if has("RAKP 2 HMAC is invalid") || has("unauthorized name") || has("RAKP 2 message indicates an error") {
        Failure::LoginRefused
    } else if has("Error issuing Get Channel Authentication Capabilities request")
        || (has("Unable to establish IPMI v2 / RMCP+ session") && !has("RAKP"))
    {
        Failure::NoAnswer
    } else {
        let said = stderr.lines().rev().map(str::trim).find(|line| !line.is_empty() && !is_chatter(line));
        Failure::Command(said.unwrap_or("ipmitool failed and said nothing").to_owned())
    }
}

/// The lines `-v` adds that say nothing about a failure.
fn is_chatter(line: &str) -> bool {
    line.starts_with("Loading IANA PEN Registry") || line.starts_with("Running Get")
}

/// The arguments of one command: everything but the password, which goes in the environment.
pub fn arguments(bmc: &BmcLogin, driver: &Ipmitool, command: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["-v", "-I", "lanplus", "-H", &bmc.host].map(String::from).to_vec();
    args.extend(["-p".into(), bmc.port.to_string(), "-U".into(), bmc.username.clone(), "-E".into()]);
    args.extend(["-N".into(), driver.timeout_secs.to_string(), "-R".into(), driver.retries.to_string()]);
    if let Some(suite) = bmc.cipher_suite {
        args.extend(["-C".into(), suite.to_string()]);
    }
    args.extend(command.iter().map(|word| word.to_string()));
    args
}

impl Ipmitool {
    /// Run one command; its stdout when it succeeded.
    fn run(&self, bmc: &BmcLogin, command: &[&str]) -> Result<String, PowerError> {
        let no_tool = |e: std::io::Error| PowerError::NoTool { program: self.program.clone(), reason: e.to_string() };
        let mut child = Command::new(&self.program)
            .args(arguments(bmc, self, command))
            .env("IPMI_PASSWORD", bmc.password.expose())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(no_tool)?;
        // ipmitool prints little; its pipes cannot fill while it runs. Read after it ends.
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(no_tool)? {
                break Some(status);
            }
            if started.elapsed() > self.limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        let mut stderr = String::new();
        child.stdout.take().map(|mut out| out.read_to_string(&mut stdout));
        child.stderr.take().map(|mut err| err.read_to_string(&mut stderr));
        match status {
            Some(status) if status.success() => Ok(stdout),
            None => Err(PowerError::NoAnswer { bmc: bmc.info() }),
            Some(_) => Err(match classify_failure(&stderr) {
                Failure::NoAnswer => PowerError::NoAnswer { bmc: bmc.info() },
                Failure::LoginRefused => PowerError::LoginRefused { bmc: bmc.info(), user: bmc.username.clone() },
                Failure::Command(message) => PowerError::Failed { bmc: bmc.info(), asked: command.join(" "), message },
            }),
        }
    }
}

impl PowerDriver for Ipmitool {
    fn power_state(&self, bmc: &BmcLogin) -> Result<PowerState, PowerError> {
        let out = self.run(bmc, &["chassis", "power", "status"])?;
        parse_power_status(&out).ok_or_else(|| PowerError::Failed {
            bmc: bmc.info(),
            asked: "chassis power status".into(),
            message: format!("unexpected answer `{}`", out.trim()),
        })
    }

    fn power(&self, bmc: &BmcLogin, action: PowerAction) -> Result<(), PowerError> {
        self.run(bmc, &["chassis", "power", action.as_str()]).map(drop)
    }

    fn next_boot(&self, bmc: &BmcLogin, device: BootDevice) -> Result<(), PowerError> {
        let device = match device {
            BootDevice::Network => "pxe",
            BootDevice::Disk => "disk",
        };
        self.run(bmc, &["chassis", "bootdev", device]).map(drop)
    }

    fn power_supplies(&self, bmc: &BmcLogin) -> Result<Vec<BmcPsuReading>, PowerError> {
        Ok(rackhand_api::parse_sdr_power_supply_verbose(&self.run(bmc, &["sdr", "type", "Power Supply"])?))
    }

    fn event_log(&self, bmc: &BmcLogin) -> Result<Vec<SelEntry>, PowerError> {
        Ok(rackhand_api::parse_sel_verbose(&self.run(bmc, &["sel", "list"])?))
    }
}

/// `Chassis Power is on` / `Chassis Power is off`.
fn parse_power_status(out: &str) -> Option<PowerState> {
    match out.lines().find_map(|line| line.trim().strip_prefix("Chassis Power is "))? {
        "on" => Some(PowerState::On),
        "off" => Some(PowerState::Off),
        _ => None,
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn power_status_lines() {
        assert_eq!(parse_power_status("Chassis Power is on\n"), Some(PowerState::On));
        assert_eq!(parse_power_status("Loading\nChassis Power is off\n"), Some(PowerState::Off));
        assert_eq!(parse_power_status("Chassis Power is unknown\n"), None);
    }
}
