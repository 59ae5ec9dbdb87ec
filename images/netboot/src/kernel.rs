//! Debian's kernel, fetched with `apt-get download` (the `linux-image-amd64` meta package names the
//! versioned image package) and unpacked with `dpkg -x` into a cache that later builds reuse.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// An unpacked kernel package.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Where the package was unpacked (has `boot/` and `lib/modules/<version>/`).
    pub root: PathBuf,
    /// e.g. `6.1.0-26-amd64`.
    pub version: String,
}

impl Kernel {
    pub fn vmlinuz(&self) -> PathBuf {
        self.root.join("boot").join(format!("vmlinuz-{}", self.version))
    }

    pub fn modules_dir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }
}

/// The versioned image package a meta package's `Depends:` names (`linux-image-6.1.0-26-amd64 (= …)`).
pub fn versioned_package(depends: &str) -> Option<&str> {
    depends
        .split([',', '|'])
        .map(|alt| alt.split_whitespace().next().unwrap_or(""))
        .find(|name| name.starts_with("linux-image-") && name.chars().nth(12).is_some_and(|c| c.is_ascii_digit()))
}

/// Fetch (once) and unpack Debian's current amd64 kernel under `cache`.
pub fn fetch(cache: &Path) -> anyhow::Result<Kernel> {
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let meta = download(cache, "linux-image-amd64")?;
    let depends = output(Command::new("dpkg-deb").args(["-f"]).arg(&meta).arg("Depends"))?;
    let package = versioned_package(&depends)
        .with_context(|| format!("no versioned kernel package in `{}`", depends.trim()))?
        .to_owned();
    let version = package.trim_start_matches("linux-image-").to_owned();
    let root = cache.join(format!("unpacked-{version}"));
    let kernel = Kernel { root: root.clone(), version };
    if kernel.vmlinuz().exists() && kernel.modules_dir().exists() {
        return Ok(kernel);
    }
    let deb = download(cache, &package)?;
    let staging = cache.join(format!(".unpacking-{}", kernel.version));
    let _ = std::fs::remove_dir_all(&staging);
    let status = Command::new("dpkg").arg("-x").arg(&deb).arg(&staging).status().context("running dpkg -x")?;
    if !status.success() {
        bail!("dpkg -x {} failed: {status}", deb.display());
    }
    // Debian ships no modules.dep; make it once, in the cache.
    crate::modules::depmod(&staging, &kernel.version)?;
    std::fs::rename(&staging, &root)?;
    Ok(kernel)
}

/// `apt-get download NAME` into `dir` unless a `NAME_*.deb` is already there; the .deb's path.
fn download(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    if let Some(found) = find_deb(dir, name)? {
        return Ok(found);
    }
    let status = Command::new("apt-get")
        .arg("download")
        .arg(name)
        .current_dir(dir)
        .status()
        .context("running apt-get download")?;
    if !status.success() {
        bail!("apt-get download {name} failed ({status}); run `apt-get update` first?");
    }
    find_deb(dir, name)?.with_context(|| format!("apt-get download {name} left no .deb in {}", dir.display()))
}

/// The `NAME_*.deb` in `dir`, if one is there.
pub(crate) fn find_deb(dir: &Path, name: &str) -> anyhow::Result<Option<PathBuf>> {
    let prefix = format!("{name}_");
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        if file.starts_with(&prefix) && file.ends_with(".deb") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    anyhow::ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_versioned_package_in_depends() {
        assert_eq!(versioned_package("linux-image-6.1.0-26-amd64 (= 6.1.112-1)"), Some("linux-image-6.1.0-26-amd64"));
        assert_eq!(
            versioned_package("linux-image-6.12.9+bpo-amd64 (= 6.12.9-1~bpo12+1), foo"),
            Some("linux-image-6.12.9+bpo-amd64")
        );
        assert_eq!(versioned_package("linux-image-amd64-signed-template, bar"), None);
    }
}
