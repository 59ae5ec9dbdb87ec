//! Kernel modules: which files to ship and the order to load them in.
//!
//! Debian's kernel package ships no `modules.dep`; [`depmod`] makes one, and [`ModuleDeps`] parses it
//! and resolves the modules we ask for into a load order with every dependency first. busybox's
//! modprobe ignores soft dependencies, so the wanted list itself names those (e.g. `crc32c_generic`
//! before `raid456`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModuleError {
    #[error("modules.dep line {line}: {message}")]
    Parse { line: usize, message: String },
    #[error("no module named `{0}` in this kernel")]
    Unknown(String),
}

/// Module name as the kernel knows it: the file stem with `-` as `_`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// A parsed `modules.dep`: module name → (relative path, direct dependencies by name).
#[derive(Debug, Default)]
pub struct ModuleDeps {
    modules: BTreeMap<String, (String, Vec<String>)>,
}

impl ModuleDeps {
    pub fn parse(text: &str) -> Result<Self, ModuleError> {
        let mut modules = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (path, deps) = line
                .split_once(':')
                .ok_or_else(|| ModuleError::Parse { line: index + 1, message: format!("no `:` in `{line}`") })?;
            let deps = deps.split_whitespace().map(module_name).collect();
            modules.insert(module_name(path), (path.trim().to_owned(), deps));
        }
        Ok(Self { modules })
    }

    pub fn path_of(&self, name: &str) -> Option<&str> {
        self.modules.get(&name.replace('-', "_")).map(|(path, _)| path.as_str())
    }

    /// `wanted` and all their dependencies, each after its dependencies, each once; the order of
    /// `wanted` is kept where dependencies allow.
    pub fn load_order(&self, wanted: &[&str]) -> Result<Vec<String>, ModuleError> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for name in wanted {
            self.visit(&name.replace('-', "_"), &mut seen, &mut order)?;
        }
        Ok(order)
    }

    fn visit(&self, name: &str, seen: &mut BTreeSet<String>, order: &mut Vec<String>) -> Result<(), ModuleError> {
        if !seen.insert(name.to_owned()) {
            return Ok(());
        }
        let (_, deps) = self.modules.get(name).ok_or_else(|| ModuleError::Unknown(name.to_owned()))?;
        // modules.dep lists the full closure with the nearest dependency first; load from the far end.
        for dep in deps.iter().rev() {
            self.visit(dep, seen, order)?;
        }
        order.push(name.to_owned());
        Ok(())
    }
}

/// Run `depmod -b ROOT VERSION` so `ROOT/lib/modules/VERSION/modules.dep` exists.
pub fn depmod(root: &Path, version: &str) -> anyhow::Result<PathBuf> {
    let status = Command::new("depmod").arg("-b").arg(root).arg(version).status()?;
    anyhow::ensure!(status.success(), "depmod -b {} {version} failed: {status}", root.display());
    Ok(root.join("lib/modules").join(version).join("modules.dep"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko:
kernel/drivers/net/mii.ko:
kernel/drivers/net/ethernet/realtek/8139cp.ko: kernel/drivers/net/mii.ko
kernel/drivers/md/raid456.ko: kernel/crypto/async_tx/async_raid6_recov.ko kernel/crypto/async_tx/async_pq.ko kernel/lib/raid6/raid6_pq.ko kernel/crypto/async_tx/async_xor.ko kernel/crypto/xor.ko kernel/crypto/async_tx/async_memcpy.ko kernel/crypto/async_tx/async_tx.ko kernel/lib/libcrc32c.ko
kernel/crypto/async_tx/async_raid6_recov.ko: kernel/crypto/async_tx/async_pq.ko kernel/lib/raid6/raid6_pq.ko kernel/crypto/async_tx/async_xor.ko kernel/crypto/xor.ko kernel/crypto/async_tx/async_memcpy.ko kernel/crypto/async_tx/async_tx.ko
kernel/crypto/async_tx/async_pq.ko: kernel/lib/raid6/raid6_pq.ko kernel/crypto/async_tx/async_xor.ko kernel/crypto/xor.ko kernel/crypto/async_tx/async_tx.ko
kernel/lib/raid6/raid6_pq.ko:
kernel/crypto/async_tx/async_xor.ko: kernel/crypto/xor.ko kernel/crypto/async_tx/async_tx.ko
kernel/crypto/xor.ko:
kernel/crypto/async_tx/async_memcpy.ko: kernel/crypto/async_tx/async_tx.ko
kernel/crypto/async_tx/async_tx.ko:
kernel/lib/libcrc32c.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/scsi/virtio_scsi.ko:
";

    #[test]
    fn dependencies_load_first_and_once() {
        let deps = ModuleDeps::parse(DEP).unwrap();
        let order = deps.load_order(&["e1000e", "8139cp", "crc32c_generic", "raid456"]).unwrap();
        let pos = |m: &str| order.iter().position(|o| o == m).unwrap_or_else(|| panic!("{m} missing"));
        assert!(pos("mii") < pos("8139cp"));
        assert!(pos("crc32c_generic") < pos("raid456"));
        for dep in ["async_tx", "xor", "async_xor", "raid6_pq", "async_pq", "async_raid6_recov", "libcrc32c"] {
            assert!(pos(dep) < pos("raid456"), "{dep} after raid456: {order:?}");
        }
        assert!(pos("async_tx") < pos("async_xor") && pos("async_xor") < pos("async_pq"));
        assert_eq!(order.len(), order.iter().collect::<BTreeSet<_>>().len(), "each module once");
        assert_eq!(order[0], "e1000e");
    }

    #[test]
    fn names_normalise_and_unknowns_are_named() {
        assert_eq!(module_name("kernel/drivers/net/ethernet/realtek/8139cp.ko"), "8139cp");
        assert_eq!(module_name("kernel/crypto/crc32c-generic.ko.xz"), "crc32c_generic");
        let deps = ModuleDeps::parse(DEP).unwrap();
        assert_eq!(deps.path_of("virtio-scsi"), Some("kernel/drivers/scsi/virtio_scsi.ko"));
        assert_eq!(deps.load_order(&["nope"]), Err(ModuleError::Unknown("nope".into())));
        assert!(matches!(ModuleDeps::parse("garbage line\n"), Err(ModuleError::Parse { line: 1, .. })));
    }
}
