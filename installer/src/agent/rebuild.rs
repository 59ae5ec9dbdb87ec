//! Carrying out [`super::replace`]'s plan in the running system: the disks it sees (with whether each
//! holds anything), then for each rebuild the survivor's partition table onto the new disk (its own disk
//! and partition identities made fresh), the member added to its array (md rebuilds it), and GRUB for BIOS
//! on it. The agent runs every 30 s, so a disk inserted is taken within a minute; a refusal is reported.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rackhand_api::{DiskClass, Problem};

use super::observe::observe_arrays;
use super::replace::{Replacement, SeenDisk, plan_replacements};
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
                class: if d.rotational { DiskClass::Hdd } else { DiskClass::Ssd },
                holds_data: has_partitions || superblock,
                name: d.name,
                serial: d.serial,
                hctl: d.hctl,
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
            Replacement::Rebuild { array, bay, disk, like, partition } => {
                tracing::info!(%array, bay, %disk, "a disk was inserted in a lost bay: rebuilding the array onto it");
                if let Err(why) = rebuild(&array, &disk, like.as_deref(), partition.as_deref()) {
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

fn rebuild(array: &str, disk: &str, like: Option<&str>, partition: Option<&str>) -> Result<(), String> {
    let member = match (like, partition) {
        (Some(like), Some(partition)) => {
            let dump = run("sfdisk", &["--dump", &format!("/dev/{like}")])?;
            run_with_input("sfdisk", &["--quiet", &format!("/dev/{disk}")], &without_identities(&dump))?;
            wait_for(&format!("/dev/{partition}"))?;
            partition
        }
        _ => disk,
    };
    run("mdadm", &["--manage", array, "--add", &format!("/dev/{member}")])?;
    if like.is_some() {
        // Bootable under BIOS again (its BIOS boot partition came with the table). UEFI's ESP is not
        // remade here yet: the survivor's still boots the server.
        if let Err(why) = run("grub-install", &["--target=i386-pc", &format!("/dev/{disk}")]) {
            tracing::warn!(%disk, "GRUB for BIOS on the new disk: {why}");
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

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program).args(args).output().map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn run_with_input(program: &str, args: &[&str], input: &str) -> Result<(), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    child.stdin.take().expect("piped").write_all(input.as_bytes()).map_err(|e| format!("{program}: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Until udev has made `device` (10 s at most).
fn wait_for(device: &str) -> Result<(), String> {
    let started = Instant::now();
    while !Path::new(device).exists() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("{device} did not appear after its partition table was written"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
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
