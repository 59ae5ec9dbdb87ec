//! What the lab's boot service serves: Debian's kernel, the netboot initramfs (installer as PID 1), the
//! iPXE binaries, a probe initramfs for the KVM check, the lab's image-signing key and published image.
//! Built once into `target/lab/assets` and shared by every lab and test.

use std::path::{Path, PathBuf};

use anyhow::Context;
use netboot::archive::Archive;
use netboot::firmware::{self, Firmware};
use netboot::initramfs::{self, DEFAULT_MODULES};

/// Printed by the probe initramfs when it reaches user space.
pub const PROBE_MARKER: &str = "rackhand-probe-reached-userspace";

#[derive(Debug, Clone)]
pub struct Assets {
    pub dir: PathBuf,
}

impl Assets {
    pub fn at(dir: &Path) -> Assets {
        Assets { dir: dir.to_owned() }
    }

    /// The assets under `target/lab/assets`, if they have been built.
    pub fn built() -> Option<Assets> {
        let assets = Assets::at(&crate::lab_dir().join("assets"));
        assets.is_complete().then_some(assets)
    }

    pub fn is_complete(&self) -> bool {
        ["vmlinuz", "initrd.img", "probe.img", "undionly.kpxe"].iter().all(|f| self.dir.join(f).exists())
    }

    pub fn kernel(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }

    pub fn probe_initrd(&self) -> PathBuf {
        self.dir.join("probe.img")
    }
}

pub struct BuildInputs<'a> {
    /// The installer, linked statically.
    pub installer: &'a Path,
    pub profiles_dir: &'a Path,
    /// Public keys the installer trusts for image manifests.
    pub keys: &'a [PathBuf],
    /// Kernel package cache.
    pub cache: &'a Path,
}

/// Fetch the kernel, assemble and write the initramfs, copy iPXE: everything in `out`.
pub fn build(out: &Path, inputs: &BuildInputs) -> anyhow::Result<Assets> {
    std::fs::create_dir_all(out)?;
    let kernel = netboot::kernel::fetch(inputs.cache).context("fetching Debian's kernel")?;
    std::fs::copy(kernel.vmlinuz(), out.join("vmlinuz")).context("copying vmlinuz")?;

    let archive = lab_initramfs(&kernel, inputs)?;
    write_atomically(&out.join("initrd.img"), |f| archive.write_gz(f))?;
    let size = std::fs::metadata(out.join("initrd.img"))?.len();
    eprintln!("lab: netboot initramfs {:.1} MiB", size as f64 / (1024.0 * 1024.0));
    anyhow::ensure!(
        size < INITRAMFS_LIMIT,
        "the netboot initramfs is {size} bytes, over the {INITRAMFS_LIMIT}-byte limit"
    );

    let mut probe = Archive::new();
    probe.copy("bin/busybox", Path::new(BUSYBOX), 0o755);
    probe.bytes(
        "init",
        format!("#!/bin/busybox sh\n/bin/busybox echo {PROBE_MARKER}\n/bin/busybox poweroff -f\n"),
        0o755,
    );
    write_atomically(&out.join("probe.img"), |f| probe.write_gz(f))?;

    for file in ["undionly.kpxe", "ipxe.efi", "snponly.efi"] {
        let from = Path::new("/usr/lib/ipxe").join(file);
        std::fs::copy(&from, out.join(file)).with_context(|| format!("copying {} (package ipxe)", from.display()))?;
    }
    Ok(Assets::at(out))
}

/// The netboot initramfs as the lab serves it: [`lab_modules`], the firmware they load, Debian's pci.ids.
pub(crate) fn lab_initramfs(kernel: &netboot::kernel::Kernel, inputs: &BuildInputs) -> anyhow::Result<Archive> {
    let modules = lab_modules();
    let firmware = firmware_for(kernel, &modules, &inputs.cache.join("firmware"))?;
    let pci_ids = Path::new(PCI_IDS);
    anyhow::ensure!(pci_ids.exists(), "{PCI_IDS} missing: apt-get install pci.ids");
    netboot_initramfs(kernel, inputs, &modules, &firmware, Some(pci_ids))
}

/// Debian's static busybox (package `busybox-static`).
const BUSYBOX: &str = "/bin/busybox";

/// The netboot initramfs with the installer, busybox and the tools it runs, and the given `modules`,
/// `firmware` and PCI id database: [`lab_initramfs`], and the boot-time benchmark's image as it was before.
pub(crate) fn netboot_initramfs(
    kernel: &netboot::kernel::Kernel,
    inputs: &BuildInputs,
    modules: &[(&str, &str)],
    firmware: &Firmware,
    pci_ids: Option<&Path>,
) -> anyhow::Result<Archive> {
    let busybox = Path::new(BUSYBOX);
    anyhow::ensure!(busybox.exists(), "{BUSYBOX} missing: apt-get install busybox-static");
    // mdadm, mke2fs and resize2fs for the arrays and filesystems; util-linux's sfdisk, addpart and delpart
    // for the OS disks' partitions (told to the kernel first, written last); ipmitool for the BMC.
    let binaries: Vec<PathBuf> = [
        ("/sbin/mdadm", "mdadm"),
        ("/sbin/mke2fs", "e2fsprogs"),
        ("/sbin/resize2fs", "e2fsprogs"),
        ("/sbin/sfdisk", "fdisk"),
        ("/usr/bin/addpart", "util-linux"),
        ("/usr/bin/delpart", "util-linux"),
        // The BMC's power-supply sensors, read in-band through /dev/ipmi0.
        ("/usr/bin/ipmitool", "ipmitool"),
    ]
    .into_iter()
    .map(|(path, package)| {
        anyhow::ensure!(Path::new(path).exists(), "{path} missing: apt-get install {package}");
        Ok(PathBuf::from(path))
    })
    .collect::<anyhow::Result<_>>()?;
    let spec = initramfs::Spec {
        kernel,
        installer: inputs.installer,
        busybox,
        binaries: &binaries,
        modules,
        firmware,
        pci_ids,
        profiles_dir: inputs.profiles_dir,
        keys: inputs.keys,
    };
    initramfs::assemble(&spec)
}

/// Debian's PCI id database (package `pci.ids`).
const PCI_IDS: &str = "/usr/share/misc/pci.ids";

/// The netboot initramfs stays small enough to load quickly over iPXE's HTTP on any firmware.
const INITRAMFS_LIMIT: u64 = 64 * 1024 * 1024;

/// The firmware files the shipped modules name, from Debian's firmware packages (fetched once into
/// `cache`); files no package has are listed in the initramfs and said here.
fn firmware_for(kernel: &netboot::kernel::Kernel, modules: &[(&str, &str)], cache: &Path) -> anyhow::Result<Firmware> {
    let resolved = initramfs::resolve_modules(kernel, modules)?;
    let wanted = firmware::wanted_by(&resolved)?;
    let packages = firmware::fetch(cache, firmware::PACKAGES).context("fetching Debian's firmware packages")?;
    let chosen = firmware::select(&wanted, &packages);
    eprintln!(
        "lab: firmware: {} files ({:.1} MiB) from {}; {} named by a driver but in no package",
        chosen.files.len(),
        chosen.size_bytes() as f64 / (1024.0 * 1024.0),
        chosen.licences.keys().cloned().collect::<Vec<_>>().join(", "),
        chosen.missing.len()
    );
    Ok(chosen)
}

/// The default module list, with one lab-specific parameter: QEMU 7.2's e1000e model loses the
/// link-state interrupt on the MSI-X "other" vector, so a cut link (QMP `set_link`) never reaches the
/// guest and the bond cannot fail over. With `IntMode=1` the driver sees link changes.
pub(crate) fn lab_modules() -> Vec<(&'static str, &'static str)> {
    DEFAULT_MODULES
        .iter()
        .map(|&(name, params)| if name == "e1000e" { (name, "IntMode=1") } else { (name, params) })
        .collect()
}

pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    let mut file = std::fs::File::create(&tmp)?;
    write(&mut file).with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
