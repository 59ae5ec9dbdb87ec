//! Hot swap: a disk inserted into a bay whose disk an array lost is put back into that array by the
//! running system itself, once it is the right kind and big enough and holds nothing. Decided here (pure,
//! from what the agent observed and what the installer recorded of each bay); carried out by the agent.
//!
//! A replacement has a new serial, so its bay is known by where it sits: the profile's bay map (recorded
//! in the agent's config) places it by its AHCI port, PCIe slot, enclosure slot or SCSI address, as the
//! installer placed the disk it replaces. Nothing is ever wiped: a disk that holds partitions or an md superblock is refused, with the
//! command that clears it if its data may go.

use hardware_profiles::{BayKey, BayMap, DiskSite};
use rackhand_api::{DiskClass, Problem, human_bytes};

use super::observe::SeenArray;
use crate::apply::raid::same_md_uuid;
use crate::layout::parent_disk;
use crate::observe::bays::place_disk;
use crate::os_config::{AgentConfig, BayDisk};

/// A whole disk as the running system sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenDisk {
    /// `sdd`.
    pub name: String,
    pub serial: Option<String>,
    /// Every place it is seen at: SCSI address, AHCI port, PCIe slot, enclosure slot.
    pub site: DiskSite,
    pub size_bytes: u64,
    pub class: DiskClass,
    /// It holds partitions or an md superblock.
    pub holds_data: bool,
}

/// What to do about a bay an array lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// Add `disk` to `array` (its md device, `/dev/md0`) as `member`.
    Rebuild { array: String, bay: u32, disk: String, member: NewMember },
    /// The disk in the bay cannot go in: why, and what to do.
    Refused(Problem),
}

/// What of the new disk joins the array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewMember {
    /// The whole disk (a data array's members are whole disks).
    Whole,
    /// Its partition `partition` (`sdd3`), once it has the partition table of `like` (the surviving OS
    /// disk, `sda`).
    Partition { like: String, partition: String },
}

/// The bay the disk sits in: its serial is one the installer recorded; else the profile's bay map places
/// it by where it is seen ([`place_disk`], the installer's own decision); else (a config written before
/// the map was recorded) the SCSI address its bay's disk had, without the host number, which the installed
/// kernel numbers differently from the installer's (its AHCI driver takes the first ones).
pub fn bay_of(disk: &SeenDisk, config: &AgentConfig) -> Option<u32> {
    if let Some(bay) = disk.serial.as_deref().and_then(|serial| config.bays.iter().find(|b| b.serial == serial)) {
        return Some(bay.bay);
    }
    if !config.bay_map.is_empty() {
        return place_disk(&disk.site, Some(&bay_map(config))).map(|p| p.bay);
    }
    let slot = |hctl: &str| hctl.split_once(':').map(|(_, rest)| rest.to_owned());
    let at = slot(disk.site.hctl.as_deref()?)?;
    config.bays.iter().find(|b| b.hctl.as_deref().and_then(slot).as_deref() == Some(at.as_str())).map(|b| b.bay)
}

/// The recorded map; a key that does not parse (the installer wrote it from a checked profile) is left out.
fn bay_map(config: &AgentConfig) -> BayMap {
    let keys = config.bay_map.iter().filter_map(|(key, bay)| Some((BayKey::parse(key).ok()?, *bay))).collect();
    BayMap::new(false, keys)
}

/// For each array the installer built that is running without the disk of one of its bays, and a disk
/// sitting in that bay that is in no array: put it back, or say why not.
pub fn plan_replacements(config: &AgentConfig, arrays: &[SeenArray], disks: &[SeenDisk]) -> Vec<Replacement> {
    let in_an_array = |disk: &str| arrays.iter().any(|a| a.members.iter().any(|(m, _)| parent_disk(m) == disk));
    let mut plans = Vec::new();
    for expected in &config.arrays {
        let Some(array) = arrays.iter().find(|a| a.uuid.as_deref().is_some_and(|u| same_md_uuid(u, &expected.uuid)))
        else {
            continue;
        };
        let member_bay = |member: &str| {
            let disk = disks.iter().find(|d| d.name == parent_disk(member))?;
            bay_of(disk, config)
        };
        for &bay in &expected.bays {
            if array.members.iter().any(|(m, _)| member_bay(m) == Some(bay)) {
                continue;
            }
            let Some(bay_disk) = config.bays.iter().find(|b| b.bay == bay) else { continue };
            let inserted = disks.iter().filter(|d| !in_an_array(&d.name));
            let Some(new) = inserted.into_iter().find(|d| bay_of(d, config) == Some(bay)) else {
                continue;
            };
            let device = format!("/dev/{}", array.name);
            if let Some(refused) = refusal(new, bay_disk, &expected.device) {
                plans.push(Replacement::Refused(refused));
                continue;
            }
            // An OS array's members are partitions: the new disk gets the survivor's table, and the same
            // partition number. A data array's members are whole disks.
            let survivor = array.members.iter().map(|(m, _)| m.as_str()).find(|m| parent_disk(m) != *m);
            let member = match survivor {
                Some(member) => {
                    let number = member[parent_disk(member).len()..].trim_start_matches('p');
                    let separator = if new.name.ends_with(|c: char| c.is_ascii_digit()) { "p" } else { "" };
                    let partition = format!("{}{separator}{number}", new.name);
                    NewMember::Partition { like: parent_disk(member).to_owned(), partition }
                }
                None => NewMember::Whole,
            };
            plans.push(Replacement::Rebuild { array: device, bay, disk: new.name.clone(), member });
        }
    }
    plans
}

/// Why `new` may not replace the disk the installer put in its bay, if it may not.
fn refusal(new: &SeenDisk, was: &BayDisk, array: &str) -> Option<Problem> {
    let bay = was.bay;
    let part = format!("bay {bay}");
    let what = format!("the {} ({}) inserted in bay {bay}", new.class.label(), human_bytes(new.size_bytes));
    if new.class.label() != was.class {
        return Some(Problem::warning(
            part,
            format!("{what} cannot rebuild {array}: bay {bay} takes an {}", was.class),
            format!("replace it with an {} of at least {}", was.class, human_bytes(was.size_bytes)),
        ));
    }
    if new.size_bytes < was.size_bytes {
        return Some(Problem::warning(
            part,
            format!(
                "{what} cannot rebuild {array}: it is smaller than the {} it replaces",
                human_bytes(was.size_bytes)
            ),
            format!("replace it with an {} of at least {}", was.class, human_bytes(was.size_bytes)),
        ));
    }
    if new.holds_data {
        return Some(Problem::warning(
            part,
            format!("{what} holds data (partitions or an md superblock), so it is not added to {array}"),
            format!("if its data may go, run `wipefs -a /dev/{}` on the server; it is then added by itself", new.name),
        ));
    }
    None
}

#[cfg(test)]
mod tests;
