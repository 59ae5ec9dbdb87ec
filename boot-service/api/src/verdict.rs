//! The installer's judgement of a server against a hardware profile: `installer check --json` prints it,
//! and its blocking problems travel in a `FailedReport`.

use serde::{Deserialize, Serialize};

use crate::{Problem, Severity};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// Name of the profile the server was judged against.
    pub profile: String,
    /// Whether the server's identity (DMI vendor/product) is one the profile is written for.
    pub matched: bool,
    #[serde(default)]
    pub problems: Vec<Problem>,
}

impl Verdict {
    /// The problems that stop the install.
    pub fn blocking(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Blocking)
    }

    /// True when the installer must not touch this server's disks.
    pub fn must_not_install(&self) -> bool {
        !self.matched || self.blocking().next().is_some()
    }
}

impl Problem {
    pub fn blocking(part: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(Severity::Blocking, part, message, fix)
    }

    pub fn warning(part: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(Severity::Warning, part, message, fix)
    }

    fn new(severity: Severity, part: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { severity, part: part.into(), message: message.into(), fix: fix.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_alone_do_not_block() {
        let mut verdict = Verdict {
            profile: "lab".into(),
            matched: true,
            problems: vec![Problem::warning("NIC eth1", "no LLDP", "check the switch")],
        };
        assert!(!verdict.must_not_install());
        verdict.problems.push(Problem::blocking("PSU 2", "no power", "plug it in"));
        assert!(verdict.must_not_install());
        assert_eq!(verdict.blocking().count(), 1);
    }

    #[test]
    fn unmatched_profile_blocks_even_without_problems() {
        let verdict = Verdict { profile: "lab".into(), matched: false, problems: vec![] };
        assert!(verdict.must_not_install());
    }

    #[test]
    fn old_inventory_json_without_new_fields_still_parses() {
        let json = r#"{"system":{"vendor":"QEMU"},
            "psus":[{"index":1,"present":true,"powered":true,"status":"ok","hot_replaceable":false,"source":"smbios"}],
            "nics":[{"name":"eth0","mac":"52:54:00:00:00:01","carrier":true}]}"#;
        let inv: crate::Inventory = serde_json::from_str(json).unwrap();
        assert_eq!(inv.psus[0].bmc, None);
        assert_eq!(inv.nics[0].pci_address, None);
        assert_eq!(inv.nics[0].firmware_version, None);
        assert_eq!(inv.pci_devices, []);
    }
}
