//! `installer run`, and PID 1 of the netboot initramfs: mount, load modules, bring the NICs up, observe
//! (with LLDP), select a profile, then [`flow::provision`] with the real network, mdadm, image stream and
//! boot-service client. As PID 1 it never exits: it reboots/powers off when ready, or stays on the
//! failure screen with a rescue shell.

pub mod flow;
pub mod init;
pub mod preflight;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rackhand_api::ImageResult;
use rackhand_api::initramfs;

use crate::apply::{
    ApplyError, ChrootSystem, ImageInstaller, Installer, Mdadm, Mke2fs, Network, SystemNetwork, UtilLinux,
};
use crate::boot_service::{Backoff, Client, parse_cmdline};
use crate::console::{Console, Failure, NodeIdentity, StepState};
use crate::observe::ethtool::{Ethtool, EthtoolIoctl, FixedEthtool};
use crate::observe::ipmi::IpmiTool;
use crate::observe::lldp::RawSocketListener;
use crate::observe::{Seams, choose_profile, observe_inventory, observe_nics};
use crate::plan::FinishAction;

pub use flow::{Inputs, Outcome, provision};

/// Where things are in the initramfs; `installer run`'s options, so a person can point them elsewhere.
/// The defaults are written once, here, for both PID 1 ([`RunOptions::default`]) and the command line.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RunOptions {
    /// Where /sys and /dev are read.
    #[arg(skip = PathBuf::from("/"))]
    pub root: PathBuf,
    /// `root` is this running machine: load the modules, wait for the NICs and their carrier, and listen
    /// for LLDP (a fixture tree has nothing to wait for or listen on).
    #[arg(skip = true)]
    pub live: bool,
    /// The kernel command line naming the boot service and this node.
    #[arg(long, default_value = "/proc/cmdline")]
    pub cmdline: PathBuf,
    /// The kernel modules to load, one per line.
    #[arg(long, default_value = initramfs::MODULES_LIST)]
    pub modules: PathBuf,
    /// The hardware profiles to choose from.
    #[arg(long, default_value = initramfs::PROFILES_DIR)]
    pub profiles: PathBuf,
    /// The `*.pub` keys whose image signatures are trusted.
    #[arg(long, default_value = initramfs::TRUSTED_KEYS_DIR)]
    pub keys: PathBuf,
    /// Seconds to listen for LLDP on every NIC (switches send every 30 s).
    #[arg(long = "lldp-wait", value_name = "SECONDS", default_value = crate::observe::lldp::DEFAULT_WAIT_SECS, value_parser = seconds)]
    pub lldp_window: Duration,
}

impl Default for RunOptions {
    /// What `installer run` takes with no options.
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let matches = Self::augment_args(clap::Command::new("run")).get_matches_from(["run"]);
        Self::from_arg_matches(&matches).expect("the defaults above parse")
    }
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse().map(Duration::from_secs).map_err(|e| format!("`{text}` is not a number of seconds: {e}"))
}

/// The verified image stream from the boot service (`installer::image`).
pub struct ServerImage {
    /// Every boot-service instance's base URL, the one that booted this node first.
    pub servers: Vec<String>,
    pub keys: PathBuf,
}

impl ImageInstaller for ServerImage {
    fn install(
        &mut self,
        name: &str,
        device: &str,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImageResult, ApplyError> {
        let keys = crate::image::load_trusted_keys(&self.keys)?;
        Ok(crate::image::install_from_server(&self.servers, name, &keys, Path::new(device), progress)?)
    }
}

/// The whole node run; returns the outcome for the caller (PID 1 or a person) to act on.
pub fn run_node(opts: &RunOptions, console: &mut Console) -> Outcome {
    let cmdline = std::fs::read_to_string(&opts.cmdline).unwrap_or_default();
    let params = match parse_cmdline(&cmdline) {
        Ok(p) => p,
        Err(e) => return unreported(console, e.to_string()),
    };
    // Every line logged from here on names the node, so a collected serial log can be filtered by it.
    let _node = tracing::info_span!("node", node = %params.node).entered();
    console.state.node.id = Some(params.node.to_string());
    console.state.node.mac = Some(params.mac.to_string());
    tracing::info!("node {} ({}) reporting to {}", params.node, params.mac, params.servers().join(" or "));
    if opts.live {
        init::load_modules(&opts.modules);
    }
    let network = SystemNetwork::new();
    let nics = settle_nics(&opts.root, opts.live);
    if let Err(e) = network.links_up(&nics) {
        tracing::warn!("bringing NICs up: {e}");
    }
    if opts.live {
        wait_for_carrier(&opts.root, &nics);
    }
    console.step("inspect", StepState::Running, Some(format!("listening for LLDP on {}", nics.join(", "))));
    let profile = choose_profile(&opts.profiles, &opts.root).map_err(|e| e.to_string());
    let lldp_window = if opts.live { opts.lldp_window } else { Duration::ZERO };
    // A fixture tree's interface names are not this machine's: its drivers are asked only when live.
    let no_ethtool = FixedEthtool::default();
    let ethtool: &dyn Ethtool = if opts.live { &EthtoolIoctl } else { &no_ethtool };
    let seams = Seams { bmc: &IpmiTool, ethtool, lldp: &RawSocketListener, lldp_window };
    let inventory = observe_inventory(&opts.root, &seams, profile.as_ref().ok().map(|p| &p.bays));
    let system = &inventory.system;
    console.state.node = NodeIdentity {
        vendor: system.vendor.clone(),
        product: system.product.clone(),
        serial: system.serial.clone(),
        ..console.state.node.clone()
    };
    let fallback_nic = inventory.nics.iter().find(|n| n.mac == params.mac).map(|n| n.name.clone());
    let client = Client::new(params.clone(), Backoff::PATIENT);
    let mut image = ServerImage { servers: params.servers(), keys: opts.keys.clone() };
    let (raid, filesystems) = (Mdadm::default(), Mke2fs::default());
    let (partitioner, system) = (UtilLinux::default(), ChrootSystem::default());
    let mut installer = Installer {
        network: &network,
        raid: &raid,
        filesystems: &filesystems,
        image: &mut image,
        reporter: &client,
        console,
        partitioner: &partitioner,
        system: &system,
    };
    let inputs = Inputs { inventory, profile, fallback_nic, servers: params.servers(), node: params.node };
    provision(inputs, &mut installer)
}

fn unreported(console: &mut Console, reason: String) -> Outcome {
    tracing::warn!("node failed: {reason}");
    console.state.failure = Some(Failure { reason: reason.clone(), problems: Vec::new() });
    console.draw();
    Outcome::Failed { reason, problems: Vec::new(), reported: false }
}

/// The physical NICs, once their drivers have stopped adding interfaces (stable for a second, at most
/// ten seconds after the modules were loaded); at once under a fixture tree.
fn settle_nics(root: &Path, live: bool) -> Vec<String> {
    let names = || observe_nics(root).into_iter().map(|n| n.name).collect::<Vec<_>>();
    let mut last = names();
    for _ in 0..10 {
        if !live {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        let now = names();
        if now == last && !now.is_empty() {
            break;
        }
        last = now;
    }
    last
}

/// How long links may take to negotiate after coming up (e1000e needs a few seconds).
const CARRIER_WAIT: Duration = Duration::from_secs(10);

/// Judging before links have negotiated would report a cabling fault that is not there: wait until
/// every NIC has carrier, or [`CARRIER_WAIT`] has passed (then a NIC without link is a real finding).
fn wait_for_carrier(root: &Path, nics: &[String]) {
    let deadline = std::time::Instant::now() + CARRIER_WAIT;
    loop {
        let missing: Vec<String> =
            observe_nics(root).into_iter().filter(|n| nics.contains(&n.name) && !n.carrier).map(|n| n.name).collect();
        if missing.is_empty() {
            return;
        }
        if std::time::Instant::now() >= deadline {
            tracing::warn!("no link after {}s on {}", CARRIER_WAIT.as_secs(), missing.join(", "));
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// PID 1: run the node, then reboot/power off when ready; on failure (or a panic) stay on the failure
/// screen with a rescue shell. Never returns.
pub fn as_init() -> ! {
    init::mount_early();
    let mut console = Console::system();
    let opts = RunOptions::default();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_node(&opts, &mut console)))
        .unwrap_or_else(|_| {
            let reason = "the installer crashed (see the log above)".to_owned();
            Outcome::Failed { reason, problems: Vec::new(), reported: false }
        });
    if let Outcome::Ready(finish) = outcome {
        console.footer(&format!(
            "install done: {}",
            if finish == FinishAction::Reboot { "rebooting" } else { "powering off" }
        ));
        let e = init::finish(finish);
        console.state.failure = Some(Failure { reason: format!("{finish:?} refused: {e}"), problems: Vec::new() });
    }
    console.footer(
        "Fix the problems above, then power-cycle the server: it will PXE boot and check again. \
                    Rescue shell: press Enter on this console.",
    );
    init::rescue_forever(move || console.draw())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PID 1 runs with what `installer run` takes by default: the initramfs layout, on this machine.
    #[test]
    fn pid1_runs_with_the_command_line_defaults() {
        let opts = RunOptions::default();
        assert_eq!((opts.root.as_path(), opts.live), (Path::new("/"), true));
        assert_eq!(opts.cmdline, Path::new("/proc/cmdline"));
        assert_eq!(opts.modules, Path::new(initramfs::MODULES_LIST));
        assert_eq!(opts.profiles, Path::new(initramfs::PROFILES_DIR));
        assert_eq!(opts.keys, Path::new(initramfs::TRUSTED_KEYS_DIR));
        assert_eq!(opts.lldp_window, Duration::from_secs(31), "a switch sends LLDP every 30 s");
    }
}
