//! Firmware files the shipped drivers load, taken from Debian's firmware packages.
//!
//! Which files: each module's own metadata (`modinfo -F firmware`, the `firmware=` entries of its
//! `.modinfo` section). Where from: Debian's `non-free-firmware` packages in [`PACKAGES`], fetched with
//! `apt-get download` through a private apt configuration (the build machine's own sources need not
//! list that component) and unpacked into a cache. What goes into the initramfs: every wanted file any
//! of those packages has, at `/lib/firmware/NAME` where the kernel's loader looks, each package's
//! `copyright` (its licence) at `/usr/share/doc/PACKAGE/copyright`, and the list of files with their
//! package, and of files no package had, at [`rackhand_api::initramfs::FIRMWARE_LIST`].

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::kernel::find_deb;

/// The packages searched, and why each is here. All are "non-free-firmware" in Debian: redistributable
/// binary firmware under each vendor's licence (their `copyright` files, shipped beside the files).
pub const PACKAGES: &[&str] = &[
    // bnx2x (Broadcom NetXtreme II 10 Gb).
    "firmware-bnx2x",
    // r8169 (Realtek RTL8111/8168/8125).
    "firmware-realtek",
    // ice's DDP package (Intel E810), tg3's tigon files (Broadcom NetXtreme).
    "firmware-misc-nonfree",
];

/// A firmware file a module may load.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    pub module: String,
    /// Relative to the firmware directory: `bnx2x/bnx2x-e2-7.13.21.0.fw`.
    pub name: String,
}

/// A Debian package unpacked with `dpkg -x`.
#[derive(Debug, Clone)]
pub struct Unpacked {
    pub package: String,
    pub root: PathBuf,
}

/// What goes into the initramfs.
#[derive(Debug, Default, Clone)]
pub struct Firmware {
    /// Name under `/lib/firmware` → (the file's contents on this machine, its package).
    pub files: BTreeMap<String, (PathBuf, String)>,
    /// Package → its `copyright` file.
    pub licences: BTreeMap<String, PathBuf>,
    /// Wanted files no package had (drivers for which that device revision would find no firmware).
    pub missing: Vec<Wanted>,
}

impl Firmware {
    /// `/etc/rackhand/firmware`: one `NAME PACKAGE` line per shipped file, `NAME missing (MODULE)` per
    /// file no package had.
    pub fn list(&self) -> String {
        let mut text = String::from("# firmware file, Debian package it came from (or why it is missing)\n");
        for (name, (_, package)) in &self.files {
            text.push_str(&format!("{name} {package}\n"));
        }
        for wanted in &self.missing {
            text.push_str(&format!("{} missing ({})\n", wanted.name, wanted.module));
        }
        text
    }

    pub fn size_bytes(&self) -> u64 {
        self.files.values().filter_map(|(path, _)| std::fs::metadata(path).ok()).map(|m| m.len()).sum()
    }
}

/// The `firmware=` entries of `modinfo`'s output, one per line.
pub fn parse_modinfo_firmware(module: &str, text: &str) -> Vec<Wanted> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|name| Wanted { module: module.to_owned(), name: name.to_owned() })
        .collect()
}

/// The firmware each module file names (`modinfo -F firmware FILE`).
pub fn wanted_by(modules: &[(String, PathBuf)]) -> anyhow::Result<Vec<Wanted>> {
    let mut wanted = Vec::new();
    for (module, file) in modules {
        let out = Command::new("modinfo")
            .args(["-F", "firmware"])
            .arg(file)
            .output()
            .context("running modinfo (apt-get install kmod)")?;
        anyhow::ensure!(
            out.status.success(),
            "modinfo -F firmware {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        wanted.extend(parse_modinfo_firmware(module, &String::from_utf8_lossy(&out.stdout)));
    }
    Ok(wanted)
}

/// Find each wanted file in the unpacked packages (`lib/firmware/NAME`, or `usr/lib/firmware/NAME` in
/// merged-/usr packages), following symlinks only within the package (`ice.pkg` → `ice-1.3.30.0.pkg`).
pub fn select(wanted: &[Wanted], packages: &[Unpacked]) -> Firmware {
    let mut firmware = Firmware::default();
    for want in wanted {
        if firmware.files.contains_key(&want.name) {
            continue;
        }
        let Some(relative) = safe_relative(&want.name) else {
            firmware.missing.push(want.clone());
            continue;
        };
        let found = packages.iter().find_map(|unpacked| {
            ["lib/firmware", "usr/lib/firmware"]
                .iter()
                .find_map(|dir| inside(&unpacked.root, &unpacked.root.join(dir).join(&relative)))
                .map(|file| (file, unpacked))
        });
        match found {
            Some((file, unpacked)) => {
                firmware.files.insert(want.name.clone(), (file, unpacked.package.clone()));
                let copyright = unpacked.root.join("usr/share/doc").join(&unpacked.package).join("copyright");
                if copyright.is_file() {
                    firmware.licences.insert(unpacked.package.clone(), copyright);
                }
            }
            None => firmware.missing.push(want.clone()),
        }
    }
    firmware
}

/// A module's firmware name as a relative path, refusing anything that climbs (`..`) or is absolute.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    path.components().all(|c| matches!(c, Component::Normal(_))).then(|| path.to_owned())
}

/// `path` resolved, if it is a regular file that stays within `root`.
fn inside(root: &Path, path: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(path).ok()?;
    let root = std::fs::canonicalize(root).ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

/// Fetch (once) and unpack each package under `cache`, from the suite this machine runs, component
/// `non-free-firmware`.
pub fn fetch(cache: &Path, packages: &[&str]) -> anyhow::Result<Vec<Unpacked>> {
    let apt = PrivateApt::new(cache)?;
    let mut unpacked = Vec::new();
    let mut updated = false;
    for package in packages {
        let deb = match find_deb(&apt.archives, package)? {
            Some(deb) => deb,
            None => {
                if !updated {
                    apt.run(&["update"])?;
                    updated = true;
                }
                apt.download(package)?
            }
        };
        let stem = deb.file_stem().and_then(|s| s.to_str()).context("package file name")?.to_owned();
        let root = cache.join(format!("unpacked-{stem}"));
        if !root.exists() {
            let staging = cache.join(format!(".unpacking-{stem}"));
            let _ = std::fs::remove_dir_all(&staging);
            let status = Command::new("dpkg").arg("-x").arg(&deb).arg(&staging).status().context("running dpkg -x")?;
            anyhow::ensure!(status.success(), "dpkg -x {} failed: {status}", deb.display());
            std::fs::rename(&staging, &root)?;
        }
        unpacked.push(Unpacked { package: (*package).to_owned(), root });
    }
    Ok(unpacked)
}

/// apt with its own sources list, lists and caches under the firmware cache, so the machine's own apt
/// state is neither needed nor touched.
struct PrivateApt {
    dir: PathBuf,
    archives: PathBuf,
}

impl PrivateApt {
    fn new(cache: &Path) -> anyhow::Result<Self> {
        let dir = cache.join("apt");
        let archives = cache.join("debs");
        for sub in ["lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        std::fs::create_dir_all(&archives)?;
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let suite = codename(&os_release).context("no VERSION_CODENAME in /etc/os-release (not Debian?)")?;
        let sources = format!(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {} {suite} non-free-firmware\n",
            mirror(&std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default())
        );
        std::fs::write(dir.join("sources.list"), sources)?;
        Ok(Self { dir, archives })
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let d = |p: &str| self.dir.join(p).display().to_string();
        let status = Command::new("apt-get")
            .arg("-q")
            .arg(format!("-oDir::Etc::SourceList={}", d("sources.list")))
            .arg("-oDir::Etc::SourceParts=/nonexistent")
            .arg(format!("-oDir::State::Lists={}", d("lists")))
            .arg(format!("-oDir::Cache={}", d("cache")))
            .arg("-oAPT::Sandbox::User=root")
            .args(args)
            .current_dir(&self.archives)
            .status()
            .context("running apt-get")?;
        anyhow::ensure!(status.success(), "apt-get {} failed: {status}", args.join(" "));
        Ok(())
    }

    fn download(&self, package: &str) -> anyhow::Result<PathBuf> {
        self.run(&["download", package])?;
        find_deb(&self.archives, package)?
            .with_context(|| format!("apt-get download {package} left no .deb in {}", self.archives.display()))
    }
}

/// `VERSION_CODENAME=bookworm` → `bookworm`.
fn codename(os_release: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The Debian mirror this machine uses (the first `URIs:` of its deb822 sources naming `/debian`), else
/// deb.debian.org.
fn mirror(deb822: &str) -> String {
    deb822
        .lines()
        .filter_map(|l| l.trim().strip_prefix("URIs:"))
        .flat_map(str::split_whitespace)
        .find(|uri| uri.trim_end_matches('/').ends_with("/debian"))
        .unwrap_or("http://deb.debian.org/debian")
        .to_owned()
}

#[cfg(test)]
mod tests;
