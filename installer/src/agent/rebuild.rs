//! Carrying out [`super::replace`]'s plan in the running system: the disks it sees (with whether each
//! holds anything), then for each rebuild the survivor's partition table onto the new disk (its own disk
//! and partition identities made fresh), the member added to its array (md rebuilds it), and GRUB for BIOS
//! on it. The agent runs every 30 s, so a disk inserted is taken within a minute; a refusal is reported.

use std::path::Path;
use std::process::Command;

use rackhand_api::Problem;

use super::observe::observe_arrays;
use super::replace::{NewMember, Replacement, SeenDisk, plan_replacements};
use crate::apply::partition::wait_for_node;
use crate::apply::{ApplyError, run_tool, run_tool_with_input};
use crate::os_config::AgentConfig;

/// The whole disks under `root`, with whether each holds partitions or an md superblock.
pub fn seen_disks(root: &Path) -> Vec<SeenDisk> {
    crate::observe::observe_disks(root)
        .into_iter()
        .map(|d| {
            let has_partitions = crate::observe::sysfs::entries(&root.join("sys/block").join(&d.name))
                .iter()
                .any(|entry| entry.starts_with(&d.name));
            let superblock = root == Path::new("/") && md_superblock(&format!("/dev/{}", d.name));
            SeenDisk {
                class: d.class(),
                holds_data: has_partitions || superblock,
                name: d.name,
                serial: d.serial,
                site: d.site,
                size_bytes: d.size_bytes,
            }
        })
        .collect()
}

fn md_superblock(device: &str) -> bool {
    Command::new("mdadm").args(["--examine", device]).output().is_ok_and(|out| out.status.success())
}

/// Put every disk inserted into a lost bay back into its array; the refusals, as problems. Devices are
/// only ever touched under the real root `/` (a fixture tree is planned for, never acted on).
pub fn replace_lost_disks(root: &Path, config: &AgentConfig) -> Vec<Problem> {
    let mut refused = Vec::new();
    for plan in plan_replacements(config, &observe_arrays(root), &seen_disks(root)) {
        match plan {
            Replacement::Refused(problem) => refused.push(problem),
            Replacement::Rebuild { array, bay, disk, .. } if root != Path::new("/") => {
                tracing::info!(%array, bay, %disk, "would rebuild the array onto the disk (not the real root: nothing done)");
            }
            Replacement::Rebuild { array, bay, disk, member } => {
                tracing::info!(%array, bay, %disk, "a disk was inserted in a lost bay: rebuilding the array onto it");
                if let Err(why) = rebuild(&array, &disk, &member) {
                    tracing::warn!(%array, bay, %disk, "rebuilding failed: {why}");
                    refused.push(Problem::warning(
                        format!("bay {bay}"),
                        format!("the disk inserted in bay {bay} could not be added to {array}: {why}"),
                        "reseat it; if that does not help, replace it",
                    ));
                }
            }
        }
    }
    refused
}

fn rebuild(array: &str, disk: &str, member: &NewMember) -> Result<(), ApplyError> {
    let device = match member {
        NewMember::Partition { like, partition } => {
            let what = format!("copying the partition table of {like} onto {disk}");
            let dump = run_tool(Path::new("sfdisk"), &what, &["--dump", &format!("/dev/{like}")])?;
            let args = ["--quiet", &format!("/dev/{disk}")];
            run_tool_with_input(Path::new("sfdisk"), &what, &args, Some(&without_identities(&dump)))?;
            let device = format!("/dev/{partition}");
            wait_for_node(Path::new(&device))?;
            device
        }
        NewMember::Whole => format!("/dev/{disk}"),
    };
    let what = format!("adding {device} to {array}");
    run_tool(Path::new("mdadm"), &what, &["--manage", array, "--add", &device])?;
    if matches!(member, NewMember::Partition { .. }) {
        // Bootable under BIOS again (its BIOS boot partition came with the table). UEFI's ESP is not
        // remade here yet: the survivor's still boots the server.
        let what = format!("GRUB for BIOS on {disk}");
        if let Err(why) = run_tool(Path::new("grub-install"), &what, &["--target=i386-pc", &format!("/dev/{disk}")]) {
            tracing::warn!(%disk, "{why}");
        }
    }
    Ok(())
}

/// `sfdisk --dump` output less what must differ between two disks: the table's `label-id` and each
/// partition's `uuid` (sfdisk makes new ones), and `last-lba` (a bigger disk's table spans it all); the
/// rest (label, sizes, types, names) is kept.
pub fn without_identities(dump: &str) -> String {
    dump.lines()
        .filter(|line| !line.starts_with("label-id:") && !line.starts_with("last-lba:"))
        .map(|line| {
            line.split(", ").filter(|field| !field.trim_start().starts_with("uuid=")).collect::<Vec<_>>().join(", ")
        })
        .map(|line| line + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cloned_table_keeps_the_layout_and_drops_the_identities() {
        let dump = "label: gpt\nlabel-id: 5B7C0A3E-1111-4F3B-9C44-0A1B2C3D4E5F\ndevice: /dev/sda\nunit: sectors\n\
                    first-lba: 2048\nlast-lba: 4194270\n\n\
                    /dev/sda1 : start=2048, size=1048576, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, \
                    uuid=0F0E0D0C-2222-4B4B-8888-111111111111, name=\"rackhand-esp\"\n\
                    /dev/sda3 : start=1054720, size=3000000, type=A19D880F-05FC-4D3B-A006-743F0F84911E, \
                    uuid=0F0E0D0C-3333-4B4B-8888-111111111111\n";
        let script = without_identities(dump);
        assert!(!script.contains("label-id") && !script.contains("uuid=") && !script.contains("last-lba"), "{script}");
        assert!(script.contains("/dev/sda1 : start=2048, size=1048576, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"rackhand-esp\"\n"), "{script}");
        assert!(
            script.contains("/dev/sda3 : start=1054720, size=3000000, type=A19D880F-05FC-4D3B-A006-743F0F84911E\n"),
            "{script}"
        );
        assert!(script.starts_with("label: gpt\ndevice: /dev/sda\n"), "{script}");
    }
}
