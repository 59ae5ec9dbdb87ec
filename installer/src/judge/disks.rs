//! Disks: each group's bays hold a disk of the right class and size; groups without bays are filled by
//! class and size from the disks no bay-bound group claimed.

use hardware_profiles::DiskGroup;
use rackhand_api::{Disk, Problem};

const GB: u64 = 1_000_000_000;

pub fn judge_disks(disks: &[Disk], groups: &[DiskGroup]) -> Vec<Problem> {
    judge_disks_counted(disks, groups).0
}

/// The problems, and how many disks the profile wants that are not there at all (empty bays, groups
/// short), as opposed to there but wrong.
pub(super) fn judge_disks_counted(disks: &[Disk], groups: &[DiskGroup]) -> (Vec<Problem>, u32) {
    let mut problems = Vec::new();
    let mut missing = 0;
    let bay_bound: Vec<u32> = groups.iter().flat_map(|g| g.bays.iter().copied()).collect();
    for group in groups.iter().filter(|g| !g.bays.is_empty()) {
        for &bay in &group.bays {
            let disk = disks.iter().find(|d| d.bay == Some(bay));
            missing += u32::from(disk.is_none());
            problems.extend(judge_bay(bay, disk, group));
        }
    }
    let mut unclaimed: Vec<&Disk> = disks.iter().filter(|d| !d.bay.is_some_and(|b| bay_bound.contains(&b))).collect();
    for group in groups.iter().filter(|g| g.bays.is_empty()) {
        let mut found = 0;
        while found < group.count {
            let Some(pos) = unclaimed.iter().position(|d| d.class == group.class && group.size_fits(d.size_bytes))
            else {
                break;
            };
            unclaimed.remove(pos);
            found += 1;
        }
        if found < group.count {
            missing += group.count - found;
            problems.push(Problem::blocking(
                format!("disks ({})", group.name),
                format!("found {found} of the {} disks of group `{}`", group.count, group.name),
                format!("install {} more: {}", group.count - found, group.wanted()),
            ));
        }
    }
    if !bay_bound.is_empty() {
        for disk in unclaimed {
            problems.push(stray(disk));
        }
    }
    (problems, missing)
}

fn judge_bay(bay: u32, disk: Option<&Disk>, group: &DiskGroup) -> Option<Problem> {
    let part = format!("bay {bay}");
    let Some(disk) = disk else {
        return Some(Problem::blocking(
            part,
            format!("bay {bay} empty, profile wants {}", group.class_article()),
            format!("insert {} into bay {bay}", group.wanted()),
        ));
    };
    let label = disk.class.label();
    if disk.class != group.class {
        return Some(Problem::blocking(
            part,
            format!("bay {bay} holds an {label} where the profile wants an {}", group.class.label()),
            format!("replace the {label} in bay {bay}{} with {}", identify(disk), group.wanted()),
        ));
    }
    (!group.size_fits(disk.size_bytes)).then(|| {
        Problem::blocking(
            part,
            format!("bay {bay} holds a {} GB {label}, profile wants {}", disk.size_bytes / GB, group.wanted()),
            format!("replace the disk in bay {bay}{} with {}", identify(disk), group.wanted()),
        )
    })
}

/// A disk no group wants: in a bay the profile does not use, or in no known bay.
fn stray(disk: &Disk) -> Problem {
    match disk.bay {
        Some(bay) => Problem::warning(
            format!("bay {bay}"),
            format!("bay {bay} holds a disk the profile does not use ({})", disk.name),
            "remove it, or leave it: the installer will not touch it",
        ),
        None => Problem::warning(
            format!("disk {}", disk.name),
            format!("disk {}{} is in no known bay", disk.name, identify(disk)),
            "check the profile's bay map and the enclosure; this disk will not be used",
        ),
    }
}

/// ` (Samsung PM883, serial S4ENNF0M)` when known.
fn identify(disk: &Disk) -> String {
    match (&disk.model, &disk.serial) {
        (Some(m), Some(s)) => format!(" ({m}, serial {s})"),
        (Some(m), None) => format!(" ({m})"),
        (None, Some(s)) => format!(" (serial {s})"),
        (None, None) => String::new(),
    }
}
