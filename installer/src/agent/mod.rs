//! `installer agent`: the installed OS's reporter. The installer copies its own binary into the installed
//! system as `rackhand-agent`, with a systemd unit that runs it once the network is online on every boot.
//! On the first boot it reports with the one-time deploy credential the installer left (`POST /ready`:
//! only that makes the node ready), keeps the agent credential it gets back and deletes the deploy
//! credential; on later boots it reports health with the agent credential (`POST /health`).

pub mod observe;
pub mod rebuild;
pub mod replace;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rackhand_api::{AgentCredential, MacAddr, OsReport};

use crate::boot_service::{Backoff, BootParams, Client, Token};
use crate::os_config::{AGENT_TOKEN, AgentConfig, DEPLOY_CREDENTIAL};

use self::observe::{SeenBond, observe_arrays, parse_bonding, ssh_host_keys};
use self::report::{Seen, all_legs_up, build_report};

/// How long a bond leg may take to get link after boot before it counts as a problem.
const LINK_SETTLE: Duration = Duration::from_secs(30);
/// Written once the agent's first run of a boot has let the links settle.
const SETTLED: &str = "run/rackhand-agent-links-settled";

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

fn read_bond(root: &Path, config: &AgentConfig) -> Option<SeenBond> {
    let name = &config.bond.as_ref()?.name;
    std::fs::read_to_string(root.join("proc/net/bonding").join(name)).ok().map(|text| parse_bonding(&text))
}

/// Links negotiate for a few seconds after boot (e1000e takes several): on its first run of a boot the
/// agent judges the bond once every leg is up, or after [`LINK_SETTLE`], when a leg still down is a real
/// finding. Later runs (every 30 s) do not wait: a leg down then is news to report now. The first run of
/// a boot is known by [`SETTLED`], in `/run` (a tmpfs, empty at each boot); not by uptime, which a slow
/// boot spends before the network is even up.
fn wait_for_bond_legs(root: &Path, config: &AgentConfig) {
    let Some(expected) = &config.bond else { return };
    let settled = root.join(SETTLED);
    if settled.exists() {
        return;
    }
    let settle = Instant::now() + LINK_SETTLE;
    while Instant::now() < settle && !read_bond(root, config).is_some_and(|bond| all_legs_up(&bond, expected)) {
        std::thread::sleep(Duration::from_secs(1));
    }
    if let Err(e) = std::fs::write(&settled, "") {
        tracing::warn!("cannot note that the links settled ({}): {e}; the next run waits again", settled.display());
    }
}

/// What the running system sees of itself, as a report.
pub fn observe_report(root: &Path, config: &AgentConfig) -> OsReport {
    let uname = nix::sys::utsname::uname().ok();
    let bond = read_bond(root, config);
    let disks = rebuild::seen_disks(root);
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
        peers: config.peers.clone(),
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
    let _node = tracing::info_span!("node", node = %config.node).entered();
    wait_for_bond_legs(&paths.root, &config);
    // A disk swapped into a bay its array lost goes back in first; what could not is a problem.
    let refused = rebuild::replace_lost_disks(&paths.root, &config);
    let mut report = observe_report(&paths.root, &config);
    report.problems.extend(refused);
    for problem in &report.problems {
        tracing::info!("problem: {} — {} / fix: {}", problem.part, problem.message, problem.fix);
    }
    let deploy = paths.inside(DEPLOY_CREDENTIAL);
    let token_file = paths.inside(AGENT_TOKEN);
    // An agent token is kept only after `ready` was accepted: a deploy credential beside it is spent (the
    // power went between the two), so it goes and the agent reports health.
    if token_file.exists() && deploy.exists() {
        remove_durably(&deploy)?;
    }
    if let Ok(secret) = std::fs::read_to_string(&deploy) {
        let answer: AgentCredential =
            client(&config, secret.trim().to_owned()).post_for("ready", &report).context("reporting ready")?;
        // On disk before the credential goes: a server may lose power right after reporting.
        write_secret(&token_file, &answer.agent_token)?;
        remove_durably(&deploy)?;
        tracing::info!("reported ready to the boot service");
        return Ok(());
    }
    let secret = std::fs::read_to_string(&token_file)
        .with_context(|| format!("no deploy credential and no agent token ({})", token_file.display()))?;
    client(&config, secret.trim().to_owned()).post("health", &report).context("reporting health")?;
    tracing::info!("reported health ({} problems)", report.problems.len());
    Ok(())
}

/// Remove `path` and flush its directory, so the removal survives a power cut.
fn remove_durably(path: &Path) -> Result<()> {
    std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("flushing {}", dir.display()))
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
    file.sync_all().with_context(|| format!("flushing {}", path.display()))?;
    sync_parent(path)
}
