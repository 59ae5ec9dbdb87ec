//! Judging: inventory + profile → verdict. Pure functions, no I/O; every problem names the part and the
//! fix a technician should apply.

mod disks;
mod drivers;
mod network;
mod power;

use hardware_profiles::Profile;
use rackhand_api::{Inventory, Problem, Verdict};

pub use disks::judge_disks;
pub use drivers::{Shortfall, judge_drivers};
pub use network::{choose_bond_legs, judge_network};
pub use power::judge_power;

pub fn judge(inventory: &Inventory, profile: &Profile) -> Verdict {
    let matched = profile.recognise.specificity(&inventory.system).is_some();
    let mut problems = Vec::new();
    if !matched {
        let system = &inventory.system;
        let shown = |s: &Option<String>| s.clone().unwrap_or_else(|| "unknown".into());
        problems.push(Problem::blocking(
            "system",
            format!(
                "system is {} {}, but profile `{}` is for {}",
                shown(&system.vendor),
                shown(&system.product),
                profile.name,
                profile.recognise.describe()
            ),
            "install it with the profile for its model (or let the installer select one)",
        ));
    }
    problems.extend(judge_power(&inventory.psus, &profile.power));
    problems.extend(judge_network(&inventory.nics, &profile.network, &profile.bond));
    let (disk_problems, disks_missing) = disks::judge_disks_counted(&inventory.disks, &profile.disk_groups);
    problems.extend(disk_problems);
    let short = Shortfall {
        nics: inventory.nics.len() < usize::try_from(profile.network.nics).unwrap_or(usize::MAX),
        disks: disks_missing > 0,
    };
    problems.extend(judge_drivers(&inventory.pci_devices, short));
    Verdict { profile: profile.name.clone(), matched, problems }
}
