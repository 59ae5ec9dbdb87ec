//! Kernel modules: which files to ship and the order to load them in.
//!
//! Debian's kernel package ships no `modules.dep`; [`depmod`] makes one (with `modules.softdep` and
//! `modules.alias`), and [`ModuleDeps`] reads them and resolves the modules we ask for into a load order
//! with every dependency first. busybox's modprobe ignores soft dependencies, so the order includes them:
//! a module's `pre:` soft dependencies (`libcrc32c pre: crc32c`, `r8169 pre: realtek`) load before it,
//! its `post:` ones after; a soft dependency named by an alias (`crc32c`, `crypto-crc32c`) is the module
//! that alias names (the `_generic` one where several do); one the kernel has no module for is skipped,
//! as modprobe skips it.

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

/// A parsed `modules.dep`: module name → (relative path, direct dependencies by name); with the soft
/// dependencies and aliases once [`ModuleDeps::with_soft`] has read them.
#[derive(Debug, Default)]
pub struct ModuleDeps {
    modules: BTreeMap<String, (String, Vec<String>)>,
    soft: BTreeMap<String, SoftDeps>,
    aliases: BTreeMap<String, Vec<String>>,
}

/// A module's soft dependencies, as `modules.softdep` names them (module names or aliases).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct SoftDeps {
    pre: Vec<String>,
    post: Vec<String>,
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
        Ok(Self { modules, ..Self::default() })
    }

    /// Add `modules.softdep` (`softdep NAME pre: A B post: C`) and the plain aliases of `modules.alias`
    /// (`alias crc32c crc32c_generic`; patterns such as `pci:v…*` are for hardware, not soft deps).
    pub fn with_soft(mut self, softdep: &str, alias: &str) -> Self {
        for line in softdep.lines().map(str::trim).filter(|l| l.starts_with("softdep ")) {
            let mut words = line.split_whitespace().skip(1);
            let Some(name) = words.next() else { continue };
            let entry = self.soft.entry(name.replace('-', "_")).or_default();
            let mut post = false;
            for word in words {
                match word {
                    "pre:" => post = false,
                    "post:" => post = true,
                    dep if post => entry.post.push(dep.to_owned()),
                    dep => entry.pre.push(dep.to_owned()),
                }
            }
        }
        for line in alias.lines().map(str::trim).filter(|l| l.starts_with("alias ")) {
            let mut words = line.split_whitespace().skip(1);
            if let (Some(alias), Some(module)) = (words.next(), words.next())
                && !alias.contains(['*', '?', '['])
            {
                self.aliases.entry(alias.to_owned()).or_default().push(module.replace('-', "_"));
            }
        }
        self
    }

    /// The module a soft dependency names: itself, else the module its alias names (preferring a
    /// `_generic` one, which runs on every CPU), else none.
    fn resolve_soft(&self, name: &str) -> Option<String> {
        let plain = name.replace('-', "_");
        if self.modules.contains_key(&plain) {
            return Some(plain);
        }
        let candidates = self.aliases.get(name)?;
        let known = candidates.iter().filter(|m| self.modules.contains_key(*m));
        known.clone().find(|m| m.ends_with("_generic")).or_else(|| known.clone().next()).cloned()
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
        let soft = self.soft.get(name).cloned().unwrap_or_default();
        for pre in soft.pre.iter().filter_map(|s| self.resolve_soft(s)) {
            self.visit(&pre, seen, order)?;
        }
        // modules.dep lists the full closure with the nearest dependency first; load from the far end.
        for dep in deps.iter().rev() {
            self.visit(dep, seen, order)?;
        }
        order.push(name.to_owned());
        for post in soft.post.iter().filter_map(|s| self.resolve_soft(s)) {
            self.visit(&post, seen, order)?;
        }
        Ok(())
    }
}

/// Run `depmod -b ROOT VERSION` so `ROOT/lib/modules/VERSION/modules.{dep,softdep,alias}` exist.
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
kernel/crypto/crc32c_intel.ko:
kernel/drivers/net/phy/realtek.ko:
kernel/drivers/net/ethernet/realtek/r8169.ko:
kernel/drivers/char/ipmi/ipmi_msghandler.ko:
kernel/drivers/char/ipmi/ipmi_devintf.ko: kernel/drivers/char/ipmi/ipmi_msghandler.ko
";

    // As depmod writes them for Debian's 6.1 kernel (excerpts).
    const SOFTDEP: &str = "\
# Soft dependencies extracted from modules themselves.
softdep libcrc32c pre: crc32c
softdep r8169 pre: realtek
softdep ipmi_msghandler post: ipmi_devintf
softdep intel_lpss pre: platform:idma64
softdep raid456 pre: nosuchmodule
";
    const ALIAS: &str = "\
# Aliases extracted from modules themselves.
alias crypto-crc32c crc32c_intel
alias crc32c crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
alias pci:v00008086d0000153Asv*sd*bc*sc*i* e1000e
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
    fn soft_dependencies_load_with_their_module() {
        let deps = ModuleDeps::parse(DEP).unwrap().with_soft(SOFTDEP, ALIAS);
        let order = deps.load_order(&["raid456", "r8169", "ipmi_msghandler"]).unwrap();
        let pos = |m: &str| order.iter().position(|o| o == m).unwrap_or_else(|| panic!("{m} missing: {order:?}"));
        // libcrc32c's `pre: crc32c` is an alias: the generic implementation, before libcrc32c.
        assert!(pos("crc32c_generic") < pos("libcrc32c"), "{order:?}");
        assert!(!order.contains(&"crc32c_intel".to_owned()), "one implementation is enough: {order:?}");
        assert!(pos("realtek") < pos("r8169"), "the PHY driver first: {order:?}");
        assert!(pos("ipmi_msghandler") < pos("ipmi_devintf"), "post: after: {order:?}");
        // Soft dependencies this kernel has no module for are skipped, as modprobe skips them.
        assert!(!order.iter().any(|m| m.contains("nosuch") || m.contains("idma64")));
        assert_eq!(order.len(), order.iter().collect::<BTreeSet<_>>().len(), "each module once");
        // Without the soft dependencies, none of them is loaded.
        let hard = ModuleDeps::parse(DEP).unwrap().load_order(&["raid456", "r8169"]).unwrap();
        assert!(!hard.contains(&"crc32c_generic".to_owned()) && !hard.contains(&"realtek".to_owned()));
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
