//! `cargo xtask lab up|boot|down|status`, and what the demo and the end-to-end tests share: building
//! the netboot assets (static installer, Debian kernel, initramfs) and the boot service.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::Subcommand;
use rackhand_lab::accel::{self, Accel};
use rackhand_lab::assets::{self, Assets, PROBE_MARKER};
use rackhand_lab::lab::{HTTP_PORT, Lab, LabDhcp, LabInfo, SERVER_IP};
use rackhand_lab::server::{Firmware, Model, ServerSpec};

use crate::{packages, run_cmd, workspace_root};

#[derive(Subcommand)]
pub enum LabCommand {
    /// Build what the lab serves and bring a lab up (namespace, bridge, boot service); writes target/lab/lab.json.
    Up {
        /// Beside a site DHCP server: dnsmasq in a namespace of its own hands out the addresses, the boot
        /// service runs in proxyDHCP mode and only answers PXE clients.
        #[arg(long)]
        proxy: bool,
    },
    /// Boot one virtual server in the running lab and follow it until it is ready or failed.
    Boot {
        #[arg(long, default_value = "rack1-u1")]
        name: String,
        /// Server number within the lab (MACs and taps derive from it).
        #[arg(long, default_value_t = 1)]
        index: u8,
        /// UEFI firmware (OVMF) instead of SeaBIOS.
        #[arg(long)]
        uefi: bool,
        /// The server model, by its hardware profile's name: `qemu-lab` (virtio-scsi, e1000e + rtl8139) or
        /// `qemu-lab-nvme` (NVMe SSDs in PCIe slots, SATA HDDs on AHCI, vmxnet3 + pcnet).
        #[arg(long, default_value = "qemu-lab")]
        model: String,
    },
    /// Tear the running lab down: processes, namespace, taps.
    Down,
    /// Show the running lab and its nodes.
    Status,
    /// The netboot initramfs's boot time: today's against the one before real-server drivers and firmware
    /// (issue 14), same kernel and installer, alternating under QEMU; table on stdout, JSON in
    /// target/bench/netboot-boot.json.
    BootTime {
        /// Rounds (each boots both initramfs images once).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// QEMU's accelerator.
        #[arg(long, default_value = "tcg", value_parser = ["tcg", "kvm"])]
        accel: String,
        /// Seconds one boot may take to reach the installer's first step.
        #[arg(long, default_value_t = 300)]
        limit: u64,
    },
    /// The whole path (issue 16): a server from power-on to its installed OS's login prompt, against the same
    /// server booting that OS from its disk plus the time to write the image at the disk's speed; table on
    /// stdout, JSON in target/bench/whole-path.json.
    WholePath {
        /// Rounds (each installs one server, then boots it from its disk).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Seconds each of a round's two boots may take to the login prompt.
        #[arg(long, default_value_t = 1800)]
        limit: u64,
    },
    /// Serve the lab's technician dashboard on this machine's loopback (http://127.0.0.1:PORT/) until Ctrl-C.
    Dashboard {
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

pub struct Prepared {
    pub assets: Assets,
    pub boot_service: PathBuf,
    pub images: PathBuf,
    pub accel: Accel,
}

/// Build the boot service, the static installer and the netboot assets into `target/lab`.
pub fn prepare(install: bool) -> anyhow::Result<Prepared> {
    packages::ensure_without_starting(packages::TEST, install)?;
    packages::ensure(packages::LAB, install)?;
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(Command::new(&cargo).current_dir(&root).args(["build", "--quiet", "-p", "boot-service"]))?;
    let installer = build_static_installer(&root, &cargo)?;
    let lab_dir = rackhand_lab::lab_dir();
    let published = rackhand_lab::images::publish_lab_image(&lab_dir)?;
    // The OS the lab servers install: a real Debian 12 built from Debian's packages (cached).
    eprintln!("xtask: building (or reusing) the Debian 12 OS image");
    rackhand_lab::images::publish_os_image(&lab_dir)?;
    eprintln!("xtask: assembling the netboot initramfs");
    let assets = assets::build(
        &lab_dir.join("assets"),
        &assets::BuildInputs {
            installer: &installer,
            profiles_dir: &root.join("hardware-profiles/profiles"),
            keys: std::slice::from_ref(&published.public_key),
            cache: &lab_dir.join("cache/kernel"),
        },
    )?;
    let accel = accel::choose(&assets.kernel(), &assets.probe_initrd(), PROBE_MARKER, &lab_dir.join("accel"));
    eprintln!("xtask: QEMU accelerator: {}", accel.qemu_arg());
    let boot_service = crate::target_dir().join("debug/boot-service");
    Ok(Prepared { assets, boot_service, images: published.images_dir, accel })
}

/// The installer as a static binary (glibc with `+crt-static`; no musl target on these machines).
pub(crate) fn build_static_installer(root: &Path, cargo: &str) -> anyhow::Result<PathBuf> {
    let target = "x86_64-unknown-linux-gnu";
    run_cmd(
        Command::new(cargo)
            .current_dir(root)
            .args(["build", "--quiet", "--profile", "netboot", "-p", "installer", "--target", target])
            .env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS", "-C target-feature=+crt-static"),
    )?;
    Ok(crate::target_dir().join(target).join("netboot/installer"))
}

fn lab_json() -> PathBuf {
    rackhand_lab::lab_dir().join("lab.json")
}

fn running_lab() -> anyhow::Result<LabInfo> {
    let text = std::fs::read_to_string(lab_json()).context("no running lab (cargo xtask lab up)")?;
    Ok(serde_json::from_str(&text)?)
}

pub fn run(command: LabCommand, install: bool) -> anyhow::Result<()> {
    match command {
        LabCommand::Up { proxy } => {
            if let Ok(info) = running_lab() {
                anyhow::bail!("a lab is already up in namespace {} (cargo xtask lab down)", info.namespace);
            }
            let prepared = prepare(install)?;
            let dhcp = if proxy { LabDhcp::Proxy } else { LabDhcp::Full };
            let (base, assets) = (rackhand_lab::lab_dir(), &prepared.assets);
            let lab = Lab::up_with(&base, &prepared.boot_service, assets, &prepared.images, dhcp)?;
            let info = lab.detach();
            std::fs::write(lab_json(), serde_json::to_string_pretty(&info)?)?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(())
        }
        LabCommand::Boot { name, index, uefi, model } => {
            let mut spec = ServerSpec::of_model(Model::by_name(&model)?, &name, index);
            spec.firmware = if uefi { Firmware::Uefi } else { Firmware::Bios };
            let info = running_lab()?;
            let prepared = prepare(install)?;
            let lab = Lab::attach(&info)?;
            let result = crate::demo::boot_and_follow(&lab, &[spec], prepared.accel);
            // Attaching took charge of the lab; hand it back so it stays up.
            lab.detach();
            result.map(drop)
        }
        LabCommand::Down => {
            let info = running_lab()?;
            drop(Lab::attach(&info));
            std::fs::remove_file(lab_json())?;
            println!("lab {} is down", info.namespace);
            Ok(())
        }
        LabCommand::Status => {
            let info = running_lab()?;
            let lab = Lab::attach(&info)?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            let nodes = lab.nodes();
            lab.detach();
            crate::demo::print_table(&nodes?);
            Ok(())
        }
        LabCommand::BootTime { runs, accel, limit } => {
            let accel = if accel == "kvm" { Accel::Kvm } else { Accel::Tcg };
            crate::boot_time::run(install, runs, accel, std::time::Duration::from_secs(limit))
        }
        LabCommand::WholePath { runs, limit } => {
            crate::whole_path::run(install, runs, std::time::Duration::from_secs(limit))
        }
        LabCommand::Dashboard { port } => {
            let info = running_lab()?;
            let lab = Lab::attach(&info)?;
            let listener = std::net::TcpListener::bind(("127.0.0.1", port))
                .with_context(|| format!("listening on 127.0.0.1:{port} (--port to pick another)"))?;
            let target = std::net::SocketAddr::from((SERVER_IP.parse::<std::net::Ipv4Addr>()?, HTTP_PORT));
            println!(
                "the lab's dashboard: http://127.0.0.1:{port}/ (relayed into namespace {}; Ctrl-C stops)",
                info.namespace
            );
            let result = lab.ns().forward_tcp(&listener, target, None);
            lab.detach();
            Ok(result?)
        }
    }
}
