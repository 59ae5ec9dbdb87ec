//! `installer agent`: the installed OS's reporter. The installer copies its own binary into the installed
//! system as `rackhand-agent`, with a systemd unit that runs it once the network is online on every boot.
//! On the first boot it reports with the one-time deploy credential the installer left (`POST /ready`:
//! only that makes the node ready), keeps the agent credential it gets back and deletes the deploy
//! credential; on later boots it reports health with the agent credential (`POST /health`).

pub mod observe;
pub mod report;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rackhand_api::{AgentCredential, MacAddr, OsReport};

use crate::console::log_line;
use crate::os_config::{AGENT_TOKEN, AgentConfig, DEPLOY_CREDENTIAL};
use crate::register::{Backoff, BootParams, Client, Token};

use self::observe::{observe_arrays, parse_bonding, ssh_host_keys};
use self::report::{Seen, build_report};

/// How long a bond leg may take to get link after boot before it counts as a problem.
const LINK_SETTLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Where the agent reads and keeps its files (the installed system's root; a fixture tree in tests).
pub struct AgentPaths {
    pub root: PathBuf,
    pub config: PathBuf,
}

impl AgentPaths {
    fn inside(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

/// What the running system sees of itself, as a report.
pub fn observe_report(root: &Path, config: &AgentConfig) -> OsReport {
    let uname = nix::sys::utsname::uname().ok();
    let bond = config.bond.as_ref().and_then(|b| {
        std::fs::read_to_string(root.join("proc/net/bonding").join(&b.name)).ok().map(|t| parse_bonding(&t))
    });
    let disks = crate::observe::observe_disks(root).into_iter().map(|d| (d.name, d.serial)).collect();
    let addresses = nix::ifaddrs::getifaddrs()
        .map(|addrs| {
            addrs.filter_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip())).filter(|ip| !ip.is_loopback()).collect()
        })
        .unwrap_or_default();
    let seen = Seen {
        hostname: std::fs::read_to_string(root.join("proc/sys/kernel/hostname"))
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
        kernel: uname.map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default(),
        arrays: observe_arrays(root),
        disks,
        bond,
        ssh_host_keys: ssh_host_keys(root),
        addresses,
    };
    build_report(&seen, config)
}

fn client(config: &AgentConfig, secret: String) -> Client {
    let params = BootParams {
        server: config.server.clone(),
        node: config.node,
        mac: config.bond.as_ref().and_then(|b| b.legs.first()).map_or(MacAddr::new([0; 6]), |l| l.mac),
        token: Token::new(secret),
    };
    Client::new(params, Backoff::PATIENT)
}

/// Report once: `ready` with the deploy credential if it is still there, else `health`.
pub fn run(paths: &AgentPaths) -> Result<()> {
    let text = std::fs::read_to_string(&paths.config).with_context(|| format!("reading {}", paths.config.display()))?;
    let config: AgentConfig =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", paths.config.display()))?;
    // Links negotiate for a few seconds after boot (e1000e takes several): judge the bond once every leg
    // is up, or after LINK_SETTLE, when a leg still down is a real finding.
    let settle = std::time::Instant::now() + LINK_SETTLE;
    let mut report = observe_report(&paths.root, &config);
    while report.problems.iter().any(|p| p.part.starts_with("NIC ")) && std::time::Instant::now() < settle {
        std::thread::sleep(std::time::Duration::from_secs(1));
        report = observe_report(&paths.root, &config);
    }
    for problem in &report.problems {
        log_line(&format!("problem: {} — {} / fix: {}", problem.part, problem.message, problem.fix));
    }
    let deploy = paths.inside(DEPLOY_CREDENTIAL);
    let token_file = paths.inside(AGENT_TOKEN);
    if let Ok(secret) = std::fs::read_to_string(&deploy) {
        let answer: AgentCredential =
            client(&config, secret.trim().to_owned()).post_for("ready", &report).context("reporting ready")?;
        write_secret(&token_file, &answer.agent_token)?;
        std::fs::remove_file(&deploy).with_context(|| format!("removing {}", deploy.display()))?;
        log_line(&format!("node {}: reported ready to the boot service", config.node));
        return Ok(());
    }
    let secret = std::fs::read_to_string(&token_file)
        .with_context(|| format!("no deploy credential and no agent token ({})", token_file.display()))?;
    client(&config, secret.trim().to_owned()).post_for::<serde_json::Value>("health", &report).or_else(|e| {
        // `health` may answer 204 with no body.
        match e {
            crate::register::RegisterError::BadAnswer { .. } => Ok(serde_json::Value::Null),
            other => Err(other),
        }
    })?;
    log_line(&format!("node {}: reported health ({} problems)", config.node, report.problems.len()));
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(format!("{secret}\n").as_bytes())?;
    Ok(())
}
