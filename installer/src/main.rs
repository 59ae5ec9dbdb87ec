//! `installer`: the PID-1 program of the netboot initramfs, and the same checks for people.
//!
//! Exit status: 0 when the node may be installed, 1 when blocking problems were found, 2 on usage or
//! I/O errors. Started as PID 1 (`/init` of the netboot initramfs) it runs `installer run` and never exits.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use hardware_profiles::{BondMode, Profile, load_file};
use installer::apply::{Network, SystemNetwork, Udhcpc};
use installer::console::Console;
use installer::image::{install_from_dir, install_from_server, load_trusted_keys};
use installer::judge::judge;
use installer::observe::ethtool::{Ethtool, EthtoolIoctl, FixedEthtool};
use installer::observe::ipmi::IpmiTool;
use installer::observe::lldp::{self, LldpListener, NoLldp, RawSocketListener};
use installer::observe::{Seams, observe_inventory};
use installer::pid1::{self, Outcome, RunOptions, run_node};
use installer::plan::{BondPlan, plan, plan_text};
use installer::text::{inventory_text, verdict_text};

#[derive(Parser)]
#[command(version, about = "Rackhand installer: observe, judge and install a bare-metal server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what the hardware is: system, PSUs, NICs (with LLDP neighbours, driver and firmware), disks, and
    /// the PCI network and storage cards with their drivers.
    Inventory {
        #[command(flatten)]
        observe: ObserveArgs,
        /// A profile file, used only for its SCSI-address → bay map.
        #[arg(long)]
        profile: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Judge the hardware against a profile (a file, or a directory to select the best match from).
    Check {
        #[command(flatten)]
        observe: ObserveArgs,
        #[arg(long)]
        profile: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Print the install plan: bond, md arrays, image target, end action.
    Plan {
        #[command(flatten)]
        observe: ObserveArgs,
        #[arg(long)]
        profile: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Provision this machine: what PID 1 does (observe, judge, bond, RAID, image, report to the boot
    /// service named on the kernel command line). Destroys the planned disks' contents.
    Run(RunOptions),
    /// Write a signed image to a disk or file as `run` does: every chunk verified against the manifest's
    /// BLAKE3 tree before it is written, the first MiB last. From a boot service (--server URL) or a
    /// local image directory laid out as `images publish` writes it (--dir, e.g. a USB stick);
    /// `--device /dev/null` only verifies.
    Image {
        /// The image's name, as published.
        name: String,
        /// The boot service's base URL (`http://10.77.0.1:8080`).
        #[arg(long, conflicts_with = "dir", required_unless_present = "dir")]
        server: Option<String>,
        /// A directory holding `<name>/{manifest,image,outboard}`.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The disk (or file) to write; its contents are replaced.
        #[arg(long)]
        device: PathBuf,
        /// Directory of the `*.pub` keys whose signatures are trusted.
        #[arg(long, default_value = rackhand_api::initramfs::TRUSTED_KEYS_DIR)]
        keys: PathBuf,
    },
    /// The installed OS's reporter (run by systemd on every boot): report `ready` with the one-time deploy
    /// credential the installer left, or health with the agent credential.
    Agent {
        #[arg(long, default_value = installer::os_config::AGENT_CONFIG)]
        config: PathBuf,
        /// The installed system's root (a fixture tree in tests).
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// Lab helper: build a bond over netlink as the installer does and bring it up.
    #[command(hide = true)]
    ApplyBond {
        #[arg(long, default_value = "bond0")]
        name: String,
        /// Comma-separated leg interfaces.
        #[arg(long, value_delimiter = ',')]
        legs: Vec<String>,
        #[arg(long, default_value = "active-backup", value_parser = bond_mode)]
        mode: BondMode,
        #[arg(long)]
        primary: Option<String>,
        #[arg(long, default_value_t = 100)]
        miimon: u32,
    },
    /// Lab helper: get an address over DHCP with udhcpc as the installer does; prints the lease.
    #[command(hide = true)]
    Dhcp {
        #[arg(long)]
        iface: String,
        #[arg(long, default_value = "/run/rackhand")]
        dir: PathBuf,
        #[arg(long, default_value_t = 3)]
        tries: u32,
    },
    /// Lab helper: wait for one LLDP frame on an interface and print the neighbour as JSON.
    #[command(hide = true)]
    LldpListen {
        #[arg(long)]
        iface: String,
        #[arg(long, default_value_t = 35)]
        wait: u64,
    },
}

/// Progress for a person at a terminal: a line on stderr at every tenth.
fn tenths_on_stderr(name: &str) -> impl FnMut(u64, u64) + '_ {
    let mut shown = None;
    move |done, total| {
        let tenth = installer::console::tenths(done, total);
        if shown != Some(tenth) {
            shown = Some(tenth);
            eprintln!("image {name}: {}% of {}", tenth * 10, rackhand_api::human_bytes(total));
        }
    }
}

fn bond_mode(name: &str) -> Result<BondMode, String> {
    BondMode::parse(name).ok_or_else(|| format!("`{name}` is not a bond mode (one of {})", BondMode::NAMES))
}

#[derive(Args)]
struct ObserveArgs {
    /// Read /sys, /dev and pci.ids under this fixture tree instead of this machine's (then no LLDP is heard and
    /// no driver is asked for its firmware version).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Seconds to listen for LLDP on every NIC of this machine; 0 skips it.
    #[arg(long, default_value = lldp::DEFAULT_WAIT_SECS)]
    lldp_wait: u64,
}

impl ObserveArgs {
    fn root(&self) -> &Path {
        self.root.as_deref().unwrap_or(Path::new("/"))
    }
}

fn main() -> ExitCode {
    installer::log::init();
    if nix::unistd::getpid().as_raw() == 1 {
        pid1::as_init();
    }
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("installer: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Inventory { observe, profile, json } => {
            let profile = profile.map(|p| load_file(&p)).transpose()?;
            let inventory = observe_with(&observe, profile.as_ref());
            if json {
                println!("{}", serde_json::to_string_pretty(&inventory)?);
            } else {
                print!("{}", inventory_text(&inventory));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { observe, profile, json } => {
            let profile = choose_profile(&profile, observe.root())?;
            let inventory = observe_with(&observe, Some(&profile));
            let verdict = judge(&inventory, &profile);
            if json {
                println!("{}", serde_json::to_string_pretty(&verdict)?);
            } else {
                print!("{}", verdict_text(&verdict));
            }
            Ok(if verdict.must_not_install() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Plan { observe, profile, json } => {
            let profile = choose_profile(&profile, observe.root())?;
            let inventory = observe_with(&observe, Some(&profile));
            let verdict = judge(&inventory, &profile);
            let plan = plan(&verdict, &profile, &inventory).context("planning the install")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                print!("{}", plan_text(&plan));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(opts) => {
            let mut console = Console::new(Box::new(std::io::stdout()), 80);
            match run_node(&opts, &mut console) {
                Outcome::Ready(finish) => {
                    eprintln!("installer: ready; as PID 1 it would now {finish:?} (not done outside PID 1)");
                    Ok(ExitCode::SUCCESS)
                }
                Outcome::Failed { .. } => Ok(ExitCode::from(1)),
            }
        }
        Command::Image { name, server, dir, device, keys } => {
            let trusted = load_trusted_keys(&keys)?;
            let progress = tenths_on_stderr(&name);
            let written = match (&server, &dir) {
                (Some(server), _) => {
                    install_from_server(std::slice::from_ref(server), &name, &trusted, &device, progress)
                }
                (None, Some(dir)) => install_from_dir(dir, &name, &trusted, &device, progress),
                (None, None) => unreachable!("clap requires --server or --dir"),
            };
            let image = written.with_context(|| format!("writing image {name} to {}", device.display()))?;
            println!("{} {} blake3 {} -> {}", image.name, image.version, image.blake3, image.device);
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent { config, root } => {
            installer::agent::run(&installer::agent::AgentPaths { root, config })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ApplyBond { name, legs, mode, primary, miimon } => {
            let plan = BondPlan { name, mode, legs, primary, miimon_ms: miimon };
            SystemNetwork::new().create_bond(&plan).with_context(|| format!("creating {}", plan.name))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dhcp { iface, dir, tries } => {
            let lease = Udhcpc::new(dir).lease(&iface, tries).with_context(|| format!("DHCP on {iface}"))?;
            println!("{} {}", lease.address, lease.router.unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Command::LldpListen { iface, wait } => {
            match lldp::listen_one(&iface, Duration::from_secs(wait))
                .with_context(|| format!("listening on {iface}"))?
            {
                Some(frame) => {
                    println!("{}", serde_json::to_string(&frame.neighbor)?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("installer: no LLDP frame on {iface} within {wait} s");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// A profile file as given, or the best match among a directory's profiles.
fn choose_profile(path: &Path, root: &Path) -> Result<Profile> {
    installer::observe::choose_profile(path, root)
        .with_context(|| format!("choosing a profile from {}", path.display()))
}

fn observe_with(args: &ObserveArgs, profile: Option<&Profile>) -> rackhand_api::Inventory {
    // LLDP only makes sense on the real interfaces of this machine, not under a fixture tree.
    let live = args.root.is_none() && args.lldp_wait > 0;
    let lldp: &dyn LldpListener = if live { &RawSocketListener } else { &NoLldp };
    let no_ethtool = FixedEthtool::default();
    let ethtool: &dyn Ethtool = if args.root.is_none() { &EthtoolIoctl } else { &no_ethtool };
    let seams = Seams { bmc: &IpmiTool, ethtool, lldp, lldp_window: Duration::from_secs(args.lldp_wait) };
    observe_inventory(args.root(), &seams, profile.map(|p| &p.bays))
}
