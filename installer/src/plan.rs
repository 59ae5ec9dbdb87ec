//! Verdict + profile + inventory → the install plan: which bond to build from which real interfaces, which
//! md arrays from which `/dev/sdX`, where the image goes and what to do at the end. Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hardware_profiles::{BondMode, DiskGroup, FilesystemKind, Finish, Profile, RaidLevel};
use rackhand_api::{Disk, Inventory, Verdict};
use serde::Serialize;
use thiserror::Error;

use crate::judge::choose_bond_legs;
use crate::layout::{BootDisk, TooSmall};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub profile: String,
    pub bond: BondPlan,
    pub arrays: Vec<ArrayPlan>,
    /// The image to install and the device it is written to (the first array, the OS array).
    pub image: ImagePlan,
    /// The OS array's disks, in bay order: each gets the boot layout ([`BootDisk`]) and gives its RAID
    /// partition to the OS array, so the server boots from whichever of them is left.
    pub boot_disks: Vec<BootDisk>,
    /// Arrays other than the OS array: built, and formatted when their `filesystem` says so.
    pub data_arrays: Vec<String>,
    /// Member disks that already carry data may be wiped (profile `[install] wipe`).
    pub wipe: bool,
    pub finish: FinishAction,
    /// The profile's bay map as written (`"ata:3" = 2`), for the installed system's agent, which places a
    /// replacement disk by the same evidence the installer placed the first one by.
    pub bay_map: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BondPlan {
    pub name: String,
    /// Shown and serialised by its kernel name: `active-backup`, `802.3ad`, `balance-alb`.
    pub mode: BondMode,
    pub legs: Vec<String>,
    /// The leg that carries traffic while it has link (active-backup only).
    pub primary: Option<String>,
    pub miimon_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArrayPlan {
    /// `/dev/md0`.
    pub device: String,
    /// Shown and serialised as `raid1`; mdadm takes [`RaidLevel::mdadm_name`].
    pub level: RaidLevel,
    /// `/dev/sda`, in bay order.
    pub members: Vec<String>,
    pub metadata: String,
    /// Made on the array once it is built (data arrays only).
    pub filesystem: Option<FilesystemPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilesystemPlan {
    pub kind: FilesystemKind,
    pub label: Option<String>,
}

impl FilesystemPlan {
    /// `ext4 labelled data`, for screens.
    pub fn describe(&self) -> String {
        match &self.label {
            Some(label) => format!("{} labelled {label}", self.kind),
            None => self.kind.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImagePlan {
    pub name: String,
    pub device: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishAction {
    Reboot,
    PowerOff,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error("the verdict forbids installing: {0}")]
    Blocked(String),
    #[error("the verdict is for profile `{verdict}`, not `{profile}`")]
    WrongProfile { verdict: String, profile: String },
    #[error("bond {name} needs {wanted} legs, found {found} usable interfaces")]
    BondLegs { name: String, wanted: u32, found: usize },
    #[error("array {device}: disk group `{group}` has {found} of its {wanted} disks")]
    Members { device: String, group: String, wanted: u32, found: usize },
    #[error("profile `{0}` builds no RAID array, so there is no device to write the image to")]
    NoOsArray(String),
    #[error(transparent)]
    DiskTooSmall(#[from] TooSmall),
}

pub fn plan(verdict: &Verdict, profile: &Profile, inventory: &Inventory) -> Result<Plan, PlanError> {
    if verdict.profile != profile.name {
        return Err(PlanError::WrongProfile { verdict: verdict.profile.clone(), profile: profile.name.clone() });
    }
    if verdict.must_not_install() {
        let first = verdict.blocking().next().map_or("profile does not match".to_owned(), |p| p.message.clone());
        return Err(PlanError::Blocked(first));
    }
    let bond = bond_plan(profile, inventory)?;
    let mut arrays = array_plans(profile, &inventory.disks)?;
    let os = arrays.first_mut().ok_or_else(|| PlanError::NoOsArray(profile.name.clone()))?;
    let boot_disks = boot_disks(&os.members, &inventory.disks)?;
    os.members = boot_disks.iter().map(BootDisk::raid_member).collect();
    let os_device = os.device.clone();
    Ok(Plan {
        profile: profile.name.clone(),
        image: ImagePlan { name: profile.image.clone(), device: os_device },
        boot_disks,
        data_arrays: arrays[1..].iter().map(|a| a.device.clone()).collect(),
        bond,
        arrays,
        wipe: profile.install.wipe,
        bay_map: profile.bays.keys().map(|(key, bay)| (key.to_string(), bay)).collect(),
        finish: match profile.install.finish {
            Finish::Reboot => FinishAction::Reboot,
            Finish::PowerOff => FinishAction::PowerOff,
        },
    })
}

fn bond_plan(profile: &Profile, inventory: &Inventory) -> Result<BondPlan, PlanError> {
    let spec = &profile.bond;
    let legs: Vec<String> =
        choose_bond_legs(&inventory.nics, &profile.network, spec).iter().map(|n| n.name.clone()).collect();
    if legs.len() < spec.legs as usize {
        return Err(PlanError::BondLegs { name: spec.name.clone(), wanted: spec.legs, found: legs.len() });
    }
    // choose_bond_legs puts the primary vendor's NIC first.
    let primary = (spec.mode == BondMode::ActiveBackup).then(|| legs[0].clone());
    Ok(BondPlan { name: spec.name.clone(), mode: spec.mode, legs, primary, miimon_ms: spec.miimon_ms })
}

fn array_plans(profile: &Profile, disks: &[Disk]) -> Result<Vec<ArrayPlan>, PlanError> {
    let bay_bound: Vec<u32> = profile.disk_groups.iter().flat_map(|g| g.bays.iter().copied()).collect();
    let mut unclaimed: Vec<&Disk> = disks.iter().filter(|d| !d.bay.is_some_and(|b| bay_bound.contains(&b))).collect();
    let mut out = Vec::new();
    for array in &profile.raid {
        let device = format!("/dev/{}", array.device.trim_start_matches("/dev/"));
        let group = profile.disk_group(&array.group).expect("validated profiles name existing groups");
        let members = group_members(group, disks, &mut unclaimed);
        if members.len() < group.count as usize {
            return Err(PlanError::Members {
                device,
                group: group.name.clone(),
                wanted: group.count,
                found: members.len(),
            });
        }
        out.push(ArrayPlan {
            device,
            level: array.level,
            members: members.iter().map(|d| format!("/dev/{}", d.name)).collect(),
            metadata: array.metadata.clone(),
            filesystem: array.filesystem.as_ref().map(|fs| FilesystemPlan { kind: fs.kind, label: fs.label.clone() }),
        });
    }
    Ok(out)
}

/// The boot layout of each OS array member (`/dev/sda`), sized from the inventory.
fn boot_disks(members: &[String], disks: &[Disk]) -> Result<Vec<BootDisk>, PlanError> {
    members
        .iter()
        .map(|member| {
            let disk = disks.iter().find(|d| format!("/dev/{}", d.name) == *member);
            let (bay, size) = disk.map_or((None, 0), |d| (d.bay, d.size_bytes));
            Ok(BootDisk::new(member, bay, size)?)
        })
        .collect()
}

/// The group's disks: by its bays in order, or (for a group without bays) the first unclaimed disks of
/// its class and size, as the judge counts them.
fn group_members<'a>(group: &DiskGroup, disks: &'a [Disk], unclaimed: &mut Vec<&'a Disk>) -> Vec<&'a Disk> {
    let fits = |d: &Disk| d.class == group.class && group.size_fits(d.size_bytes);
    if !group.bays.is_empty() {
        return group.bays.iter().filter_map(|bay| disks.iter().find(|d| d.bay == Some(*bay) && fits(d))).collect();
    }
    let mut members = Vec::new();
    while members.len() < group.count as usize {
        let Some(pos) = unclaimed.iter().position(|d| fits(d)) else { break };
        members.push(unclaimed.remove(pos));
    }
    members
}

/// The plan as a person reads it (`installer plan`).
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    let b = &plan.bond;
    let primary = b.primary.as_deref().map_or(String::new(), |p| format!(", primary {p}"));
    let _ = writeln!(out, "profile {}", plan.profile);
    let _ =
        writeln!(out, "bond {}: {} over {}{primary}, miimon {} ms", b.name, b.mode, b.legs.join(" + "), b.miimon_ms);
    for a in &plan.arrays {
        let _ = writeln!(out, "array {}: {} of {} (metadata {})", a.device, a.level, a.members.join(" "), a.metadata);
    }
    for d in &plan.boot_disks {
        let bay = d.bay.map_or(String::new(), |b| format!(" (bay {b})"));
        let _ = writeln!(out, "boot disk {}{bay}: BIOS boot + EFI system partition + {}", d.disk, d.raid_member());
    }
    let _ = writeln!(out, "image {} -> {}", plan.image.name, plan.image.device);
    for a in plan.arrays.iter().filter(|a| plan.data_arrays.contains(&a.device)) {
        let _ = match &a.filesystem {
            Some(fs) => writeln!(out, "data {}: {}", a.device, fs.describe()),
            None => writeln!(out, "data {}: left unformatted for the installed OS", a.device),
        };
    }
    let wipe = if plan.wipe { "wiped" } else { "refused" };
    let _ = writeln!(out, "disks with existing data: {wipe}");
    let finish = match plan.finish {
        FinishAction::Reboot => "reboot",
        FinishAction::PowerOff => "power off",
    };
    let _ = writeln!(out, "then: {finish}");
    out
}
