//! The netboot initramfs's boot time (issue 14: real-server drivers and firmware, "the lab's boot time
//! stays within 10 % of today's"). The same Debian kernel and the same installer boot under QEMU with the
//! initramfs the lab builds today ([`Variant::Full`]) and with the one it built before ([`Variant::Before`]:
//! none of [`ADDED_FOR_REAL_SERVERS`], `crc32c_generic` named by hand, no firmware, no pci.ids), the two
//! alternating round by round; each boot is timed to the installer's milestones ([`serial`]).
//! `cargo xtask lab boot-time` builds, boots and prints the comparison.

mod qemu;
pub mod serial;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use netboot::firmware::Firmware;
use serde::Serialize;

use crate::accel::Accel;
use crate::assets::{self, BuildInputs};
use serial::Timeline;

/// The modules issue 14 added to the netboot initramfs (their dependencies came with them).
pub const ADDED_FOR_REAL_SERVERS: [&str; 10] =
    ["ahci", "nvme", "mpt3sas", "megaraid_sas", "smartpqi", "r8169", "ice", "bnx2x", "vmxnet3", "pcnet32"];

/// The lab's module list as it was before issue 14: without [`ADDED_FOR_REAL_SERVERS`], and with
/// `crc32c_generic` named before `bonding`, as it was when softdeps were not resolved.
pub fn before_modules() -> Vec<(&'static str, &'static str)> {
    let mut modules: Vec<_> =
        assets::lab_modules().into_iter().filter(|(name, _)| !ADDED_FOR_REAL_SERVERS.contains(name)).collect();
    let at = modules.iter().position(|(name, _)| *name == "bonding").unwrap_or(modules.len());
    modules.insert(at, ("crc32c_generic", ""));
    modules
}

/// Which initramfs a boot uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// As the lab builds it today.
    Full,
    /// As it was before real-server drivers and firmware.
    Before,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Full => "full",
            Variant::Before => "before",
        }
    }
}

/// The kernel and the two initramfs images, written under one directory.
#[derive(Debug, Clone)]
pub struct Images {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    /// Compressed sizes in bytes: full, before.
    pub sizes: [u64; 2],
}

impl Images {
    pub fn initrd(&self, variant: Variant) -> PathBuf {
        self.dir.join(format!("{}.img", variant.name()))
    }
}

/// Fetch the kernel (the lab's cache) and write `vmlinuz`, `full.img` (the lab's initramfs, assembled as
/// [`assets::build`] does) and `before.img` into `out`, both with `inputs.installer`.
pub fn build_images(out: &Path, inputs: &BuildInputs) -> anyhow::Result<Images> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let kernel = netboot::kernel::fetch(inputs.cache).context("fetching Debian's kernel")?;
    let vmlinuz = out.join("vmlinuz");
    std::fs::copy(kernel.vmlinuz(), &vmlinuz).context("copying vmlinuz")?;
    let images = Images { dir: out.to_owned(), kernel: vmlinuz, sizes: [0; 2] };
    let full = assets::lab_initramfs(&kernel, inputs)?;
    let before = assets::netboot_initramfs(&kernel, inputs, &before_modules(), &Firmware::default(), None)?;
    let mut sizes = [0; 2];
    for (size, (variant, archive)) in sizes.iter_mut().zip([(Variant::Full, full), (Variant::Before, before)]) {
        let path = images.initrd(variant);
        assets::write_atomically(&path, |f| archive.write_gz(f))?;
        *size = std::fs::metadata(&path)?.len();
    }
    Ok(Images { sizes, ..images })
}

/// One round: each variant booted once, back to back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    pub full: Timeline,
    pub before: Timeline,
}

/// Which variant boots first in round `round`: they take turns, so neither always boots on a machine that
/// the other has just warmed (or that something else has just got busy on).
pub fn round_order(round: usize) -> [Variant; 2] {
    if round.is_multiple_of(2) { [Variant::Full, Variant::Before] } else { [Variant::Before, Variant::Full] }
}

/// `runs` rounds, one QEMU at a time; `progress` hears of every boot. Each boot stops at the installer's
/// first step, or fails the measurement after `limit`; one whose installer loaded no module at all fails it.
pub fn measure(
    images: &Images,
    runs: usize,
    accel: Accel,
    limit: Duration,
    mut progress: impl FnMut(usize, Variant, &Timeline),
) -> anyhow::Result<Vec<Round>> {
    let mut rounds = Vec::with_capacity(runs);
    for round in 0..runs {
        let (mut full, mut before) = (None, None);
        for variant in round_order(round) {
            let initrd = images.initrd(variant);
            let dir = images.dir.join(format!("boot-{}", variant.name()));
            let boot = qemu::Boot { kernel: &images.kernel, initrd: &initrd, accel, dir: &dir };
            let timeline = qemu::boot(&boot, limit)?;
            anyhow::ensure!(
                timeline.milestones.modules_loaded > 0,
                "the {} initramfs's installer loaded no module (see {})",
                variant.name(),
                dir.join("serial.log").display()
            );
            progress(round, variant, &timeline);
            match variant {
                Variant::Full => full = Some(timeline),
                Variant::Before => before = Some(timeline),
            }
        }
        rounds.push(Round { full: full.expect("booted"), before: before.expect("booted") });
    }
    Ok(rounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netboot::initramfs::DEFAULT_MODULES;

    #[test]
    fn before_is_the_module_list_as_it_was() {
        let names: Vec<&str> = before_modules().iter().map(|(name, _)| *name).collect();
        // DEFAULT_MODULES as it was before issue 14 (git show 5b49752^:images/netboot/src/initramfs.rs).
        let was = [
            "virtio_pci",
            "virtio_scsi",
            "sd_mod",
            "ses",
            "ipmi_si",
            "ipmi_devintf",
            "e1000e",
            "8139cp",
            "igb",
            "ixgbe",
            "i40e",
            "tg3",
            "bnxt_en",
            "mlx5_core",
            "crc32c_generic",
            "bonding",
            "md_mod",
            "raid1",
            "raid0",
            "raid10",
            "raid456",
            "ext4",
            "vfat",
            "nls_cp437",
            "nls_ascii",
            "nls_utf8",
        ];
        assert_eq!(names, was);
        assert!(before_modules().contains(&("e1000e", "IntMode=1")), "the lab's own parameters stay");
    }

    #[test]
    fn every_added_module_is_in_todays_list() {
        for added in ADDED_FOR_REAL_SERVERS {
            assert!(DEFAULT_MODULES.iter().any(|(name, _)| *name == added), "{added} is no longer a default module");
        }
    }

    #[test]
    fn the_variants_take_turns_to_boot_first() {
        assert_eq!(round_order(0), [Variant::Full, Variant::Before]);
        assert_eq!(round_order(1), [Variant::Before, Variant::Full]);
        assert_eq!(round_order(2), round_order(0));
    }
}
