//! Assemble the netboot initramfs: the installer as `/init` (PID 1), busybox with its applet links,
//! mdadm with its libraries, the kernel modules the installer loads (listed in load order in
//! `/etc/rackhand/modules`), the firmware those modules load with its licences, the hardware profiles
//! and the image-signing public keys.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use rackhand_api::initramfs as layout;

use crate::archive::Archive;
use crate::firmware::Firmware;
use crate::kernel::Kernel;
use crate::libs;
use crate::modules::ModuleDeps;

/// Modules for the QEMU lab servers and the storage controllers and NICs of real servers, in load order;
/// each one's dependencies, hard and soft, are resolved from the kernel's own metadata and load before it
/// (`crate::modules`). `bonding` gets `max_bonds=0` so it makes no `bond0` of its own.
pub const DEFAULT_MODULES: &[(&str, &str)] = &[
    // Storage: QEMU's virtio-scsi; SATA on AHCI; NVMe; the SAS HBAs and RAID controllers of hot-swap
    // backplanes (LSI/Broadcom SAS3 HBAs, MegaRAID, Microchip/Adaptec SmartPQI); SCSI disks on any of them.
    ("virtio_pci", ""),
    ("virtio_scsi", ""),
    ("ahci", ""),
    ("nvme", ""),
    ("mpt3sas", ""),
    ("megaraid_sas", ""),
    ("smartpqi", ""),
    ("sd_mod", ""),
    // SAS enclosures (SES): which bay holds which disk (`/sys/class/enclosure`).
    ("ses", ""),
    // The BMC in-band (KCS/SMIC/BT, found through ACPI or SMBIOS type 38) as /dev/ipmi0, for its
    // power-supply sensors; on a server without one ipmi_si finds nothing and says so.
    ("ipmi_si", ""),
    ("ipmi_devintf", ""),
    // NICs: Intel (e1000e, I350 igb, 82599/X540 ixgbe, X710/XL710 i40e, E810 ice), Realtek (RTL8139
    // 8139cp, RTL8111/8168/8125 r8169), Broadcom (NetXtreme tg3, NetXtreme II bnx2x, NetXtreme-C/E
    // BCM57416 bnxt_en), Mellanox ConnectX-4+ (mlx5_core), and the other vendors QEMU emulates
    // (VMware vmxnet3, AMD PCnet pcnet32).
    ("e1000e", ""),
    ("8139cp", ""),
    ("r8169", ""),
    ("igb", ""),
    ("ixgbe", ""),
    ("i40e", ""),
    ("ice", ""),
    ("tg3", ""),
    ("bnx2x", ""),
    ("bnxt_en", ""),
    ("mlx5_core", ""),
    ("vmxnet3", ""),
    ("pcnet32", ""),
    ("bonding", "max_bonds=0"),
    ("md_mod", ""),
    ("raid1", ""),
    ("raid0", ""),
    ("raid10", ""),
    ("raid456", ""),
    // Mounting the installed system (its root on md0) and each disk's EFI system partition.
    ("ext4", ""),
    ("vfat", ""),
    ("nls_cp437", ""),
    ("nls_ascii", ""),
    ("nls_utf8", ""),
];

pub struct Spec<'a> {
    pub kernel: &'a Kernel,
    /// The static installer binary, installed as `/init`.
    pub installer: &'a Path,
    /// A static busybox (Debian's busybox-static).
    pub busybox: &'a Path,
    /// Dynamic binaries to ship with their libraries, at the same path (e.g. `/sbin/mdadm`).
    pub binaries: &'a [PathBuf],
    pub modules: &'a [(&'a str, &'a str)],
    /// The firmware the modules load ([`crate::firmware::select`] over [`resolve_modules`]).
    pub firmware: &'a Firmware,
    /// The PCI id database (Debian's `pci.ids`), so the installer names a card without a driver by its
    /// make and model; to `/usr/share/misc/pci.ids`.
    pub pci_ids: Option<&'a Path>,
    /// `*.toml` files here go to `/etc/rackhand/profiles/`.
    pub profiles_dir: &'a Path,
    /// Public keys (`*.pub`) that may sign images, to `/etc/rackhand/keys/`.
    pub keys: &'a [PathBuf],
}

/// What goes into the initramfs; write it with [`Archive::write_gz`].
pub fn assemble(spec: &Spec) -> anyhow::Result<Archive> {
    let mut archive = Archive::new();
    for dir in ["dev", "proc", "sys", "run", "tmp", "mnt", "root", "var/log"] {
        archive.dir(dir);
    }
    archive.copy("init", spec.installer, 0o755);
    archive.copy("bin/busybox", spec.busybox, 0o755);
    for applet in busybox_applets(spec.busybox)? {
        if !archive.contains(&applet) {
            archive.symlink(&applet, "/bin/busybox");
        }
    }
    for binary in spec.binaries {
        let inside = binary.to_str().context("binary path is not UTF-8")?;
        archive.copy(inside, binary, 0o755);
        for lib in libs::libraries_of(binary)? {
            let real = std::fs::canonicalize(&lib).with_context(|| format!("resolving {}", lib.display()))?;
            archive.copy(lib.to_str().context("library path is not UTF-8")?, &real, 0o755);
        }
    }
    add_modules(&mut archive, spec.kernel, spec.modules)?;
    add_firmware(&mut archive, spec.firmware);
    if let Some(pci_ids) = spec.pci_ids {
        archive.copy("usr/share/misc/pci.ids", pci_ids, 0o644);
    }
    for entry in
        std::fs::read_dir(spec.profiles_dir).with_context(|| format!("reading {}", spec.profiles_dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_name().and_then(|n| n.to_str()).context("profile name")?;
            archive.copy(&format!("{}/{name}", layout::member(layout::PROFILES_DIR)), &path, 0o644);
        }
    }
    for key in spec.keys {
        let name = key.file_name().and_then(|n| n.to_str()).context("key file name")?;
        archive.copy(&format!("{}/{name}", layout::member(layout::TRUSTED_KEYS_DIR)), key, 0o644);
    }
    Ok(archive)
}

/// The kernel's module metadata: `modules.dep`, with `modules.softdep` and `modules.alias` where depmod
/// wrote them; and `modules.dep`'s text.
fn module_deps(kernel: &Kernel) -> anyhow::Result<(ModuleDeps, String)> {
    let dir = kernel.modules_dir();
    let dep_text = std::fs::read_to_string(dir.join("modules.dep"))
        .with_context(|| format!("reading {}/modules.dep (run depmod)", dir.display()))?;
    let optional = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let deps = ModuleDeps::parse(&dep_text)?.with_soft(&optional("modules.softdep"), &optional("modules.alias"));
    Ok((deps, dep_text))
}

/// The modules the initramfs will carry, in load order: each name with its file.
pub fn resolve_modules(kernel: &Kernel, wanted: &[(&str, &str)]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let (deps, _) = module_deps(kernel)?;
    let names: Vec<&str> = wanted.iter().map(|(name, _)| *name).collect();
    let dir = kernel.modules_dir();
    Ok(deps
        .load_order(&names)?
        .into_iter()
        .map(|name| {
            let path = dir.join(deps.path_of(&name).expect("resolved modules have paths"));
            (name, path)
        })
        .collect())
}

/// Each firmware file at `/lib/firmware/NAME`, each package's licence at
/// `/usr/share/doc/PACKAGE/copyright`, and the list of both at `/etc/rackhand/firmware`.
fn add_firmware(archive: &mut Archive, firmware: &Firmware) {
    for (name, (file, _)) in &firmware.files {
        archive.copy(&format!("{}/{name}", layout::member(layout::FIRMWARE_DIR)), file, 0o644);
    }
    for (package, copyright) in &firmware.licences {
        archive.copy(&format!("usr/share/doc/{package}/copyright"), copyright, 0o644);
    }
    archive.bytes(layout::member(layout::FIRMWARE_LIST), firmware.list(), 0o644);
}

/// Copy the wanted modules and their dependencies, write the subset's `modules.dep` for busybox
/// modprobe, and `/etc/rackhand/modules` with one `name [params]` per line in load order.
fn add_modules(archive: &mut Archive, kernel: &Kernel, wanted: &[(&str, &str)]) -> anyhow::Result<()> {
    let dir = kernel.modules_dir();
    let (deps, dep_text) = module_deps(kernel)?;
    let names: Vec<&str> = wanted.iter().map(|(name, _)| *name).collect();
    let order = deps.load_order(&names)?;
    let inside = format!("lib/modules/{}", kernel.version);
    let mut subset = String::new();
    for name in &order {
        let path = deps.path_of(name).expect("resolved modules have paths");
        archive.copy(&format!("{inside}/{path}"), &dir.join(path), 0o644);
        let line = dep_text.lines().find(|l| l.split(':').next() == Some(path)).unwrap_or_default();
        subset.push_str(line);
        subset.push('\n');
    }
    archive.bytes(&format!("{inside}/modules.dep"), subset, 0o644);
    let list: String = order
        .iter()
        .map(|name| {
            let params = wanted.iter().find(|(w, _)| w.replace('-', "_") == *name).map_or("", |(_, p)| *p);
            if params.is_empty() { format!("{name}\n") } else { format!("{name} {params}\n") }
        })
        .collect();
    archive.bytes(layout::member(layout::MODULES_LIST), list, 0o644);
    Ok(())
}

/// Applet paths (`bin/sh`, `sbin/modprobe`, …) from `busybox --list-full`.
fn busybox_applets(busybox: &Path) -> anyhow::Result<Vec<String>> {
    let out =
        Command::new(busybox).arg("--list-full").output().with_context(|| format!("running {}", busybox.display()))?;
    anyhow::ensure!(out.status.success(), "{} --list-full failed", busybox.display());
    Ok(String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().trim_start_matches('/').to_owned()).collect())
}

#[cfg(test)]
mod tests;
