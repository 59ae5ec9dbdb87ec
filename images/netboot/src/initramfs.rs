//! Assemble the netboot initramfs: the installer as `/init` (PID 1), busybox with its applet links,
//! mdadm with its libraries, the kernel modules the installer loads (listed in load order in
//! `/etc/rackhand/modules`), the hardware profiles and the image-signing public keys.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use rackhand_api::initramfs as layout;

use crate::archive::Archive;
use crate::kernel::Kernel;
use crate::libs;
use crate::modules::ModuleDeps;

/// Modules for the QEMU lab server and the common production NICs/HBAs, in load order. busybox
/// modprobe ignores softdeps, so `crc32c_generic` is named before the RAID modules that need it;
/// `bonding` gets `max_bonds=0` so it makes no `bond0` of its own.
pub const DEFAULT_MODULES: &[(&str, &str)] = &[
    ("virtio_pci", ""),
    ("virtio_scsi", ""),
    ("sd_mod", ""),
    ("ses", ""),
    // The BMC in-band (KCS/SMIC/BT, found through ACPI or SMBIOS type 38) as /dev/ipmi0, for its
    // power-supply sensors; on a server without one ipmi_si finds nothing and says so.
    ("ipmi_si", ""),
    ("ipmi_devintf", ""),
    ("e1000e", ""),
    ("8139cp", ""),
    ("igb", ""),
    ("ixgbe", ""),
    ("i40e", ""),
    ("tg3", ""),
    ("bnxt_en", ""),
    ("mlx5_core", ""),
    ("crc32c_generic", ""),
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

/// Copy the wanted modules and their dependencies, write the subset's `modules.dep` for busybox
/// modprobe, and `/etc/rackhand/modules` with one `name [params]` per line in load order.
fn add_modules(archive: &mut Archive, kernel: &Kernel, wanted: &[(&str, &str)]) -> anyhow::Result<()> {
    let dir = kernel.modules_dir();
    let dep_text = std::fs::read_to_string(dir.join("modules.dep"))
        .with_context(|| format!("reading {}/modules.dep (run depmod)", dir.display()))?;
    let deps = ModuleDeps::parse(&dep_text)?;
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
