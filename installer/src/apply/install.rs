//! The install steps in order — network (bond, or the fallback NIC), each md array (on the OS disks'
//! RAID partitions, which the kernel is told about first), the data arrays' filesystems, the image, and
//! last what makes the disks bootable (partition tables, the installed system's files, ESPs and GRUB) —
//! each shown on the console, logged as a `rackhand:` line and posted as an install-stage progress event.

use std::time::{Duration, Instant};

use rackhand_api::{
    ArrayResult, BondResult, FilesystemResult, ImageResult, PlanResults, ProgressReport, Stage, StepStatus,
};

use crate::boot_service::Reporter;
use crate::console::{Console, Progress, StepState};
use crate::layout::BootDisk;
use crate::os_config::{Deployment, boot_loader_steps, os_files};
use crate::plan::{ArrayPlan, BondPlan, Plan};
use crate::wipe::{Found, WipeDecision, decide_wipe};

use super::{ApplyError, Filesystems, ImageInstaller, InstalledSystem, Lease, Network, Partitioner, Raid};

pub struct Installer<'a> {
    pub network: &'a dyn Network,
    pub raid: &'a dyn Raid,
    pub filesystems: &'a dyn Filesystems,
    pub image: &'a mut dyn ImageInstaller,
    pub reporter: &'a dyn Reporter,
    pub console: &'a mut Console,
    pub partitioner: &'a dyn Partitioner,
    pub system: &'a dyn InstalledSystem,
}

/// How the node got onto the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkOutcome {
    /// The bond, when it was built and got an address.
    pub bond: Option<BondResult>,
    pub lease: Option<Lease>,
    /// Why the bond was not built (the install must then fail, reporting this over the fallback).
    pub bond_error: Option<String>,
}

/// The step that failed and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    pub step: String,
    pub reason: String,
}

impl Installer<'_> {
    /// Build the bond per `bond` and get an address on it; without a bond (the verdict blocks) or when it
    /// fails, get an address on `fallback` (the NIC the node PXE-booted from) so failures can be reported.
    pub fn network(&mut self, bond: Option<&BondPlan>, fallback: Option<&str>) -> NetworkOutcome {
        let mut bond_error = None;
        if let Some(plan) = bond {
            let _span = tracing::info_span!("step", step = "bond").entered();
            self.console.step("bond", StepState::Running, Some(describe_bond(plan)));
            let built = self.network.create_bond(plan).and_then(|()| self.network.dhcp(&plan.name));
            match built {
                Ok(lease) => {
                    let detail = format!("{}, {}", describe_bond(plan), lease.address);
                    self.console.step("bond", StepState::Done, Some(detail));
                    return NetworkOutcome { bond: Some(bond_result(plan)), lease: Some(lease), bond_error: None };
                }
                Err(e) => {
                    self.console.step("bond", StepState::Failed, Some(e.to_string()));
                    let _ = self.network.delete_link(&plan.name);
                    bond_error = Some(format!("bond {}: {e}", plan.name));
                }
            }
        }
        let lease = fallback.and_then(|nic| {
            let _span = tracing::info_span!("step", step = "network").entered();
            self.console.step("network", StepState::Running, Some(format!("DHCP on {nic}")));
            let got = self.network.links_up(&[nic.to_owned()]).and_then(|()| self.network.dhcp(nic));
            match got {
                Ok(lease) => {
                    self.console.step("network", StepState::Done, Some(format!("{nic}: {}", lease.address)));
                    Some(lease)
                }
                Err(e) => {
                    self.console.step("network", StepState::Failed, Some(e.to_string()));
                    None
                }
            }
        });
        NetworkOutcome { bond: None, lease, bond_error }
    }

    /// Report the bond, build every array, make the data arrays' filesystems, write the image, then make
    /// the disks bootable and configure the installed system (left mounted for [`Self::finish_target`]).
    /// The first event moves the node to installing. On a failure, `built` holds what was built so far.
    pub fn install(
        &mut self,
        plan: &Plan,
        bond: BondResult,
        deployment: &Deployment,
        built: &mut PlanResults,
    ) -> Result<(), StepFailure> {
        let message = format!("{} over {}", bond.name, bond.legs.join(" + "));
        self.post("bond", StepStatus::Done, Some(message), None);
        *built = PlanResults { arrays: Vec::new(), bond: Some(bond), image: None };
        let results = built;
        let owned = &deployment.settings.owned_arrays;
        for (index, array) in plan.arrays.iter().enumerate() {
            let step = format!("raid {}", array.device.trim_start_matches("/dev/"));
            let boot_disks: &[BootDisk] = if index == 0 { &plan.boot_disks } else { &[] };
            let build = |this: &mut Self| {
                this.prepare_members(array, boot_disks, owned, plan)?;
                this.raid.create(array)
            };
            let uuid = self.step(&step, array.members.join(" "), build, |uuid| format!("{} {uuid}", array.level))?;
            results.arrays.push(ArrayResult {
                device: array.device.clone(),
                level: array.level.to_string(),
                uuid,
                members: array.members.clone(),
                filesystem: None,
            });
        }
        for (array, result) in plan.arrays.iter().zip(&mut results.arrays) {
            let Some(fs) = &array.filesystem else { continue };
            let step = format!("format {}", array.device.trim_start_matches("/dev/"));
            let make = |this: &mut Self| this.filesystems.make(&array.device, fs);
            let uuid = self.step(&step, fs.describe(), make, |uuid| format!("{} {uuid}", fs.describe()))?;
            result.filesystem = Some(FilesystemResult { kind: fs.kind.to_string(), label: fs.label.clone(), uuid });
        }
        let target = format!("{} -> {}", plan.image.name, plan.image.device);
        let image = self.step(
            "image",
            target,
            |this| this.write_image(plan),
            |image| format!("{} {} blake3 {}", image.name, image.version, image.blake3),
        )?;
        results.image = Some(image);
        // Only now, with every byte of the image verified, does anything become bootable.
        let disks: Vec<&str> = plan.boot_disks.iter().map(|d| d.disk.as_str()).collect();
        let detail = format!("GPT, ESP and GRUB (BIOS + UEFI) on {}", disks.join(" "));
        let done = detail.clone();
        self.step("boot", detail, |this| this.make_bootable(plan, deployment, results), |()| done)
    }

    /// One install step, in a `step` span: shown running on the console and posted as started (both with
    /// `detail`), then `run`; shown and posted done with what `done` says of its result, or failed with
    /// the error.
    fn step<T>(
        &mut self,
        name: &str,
        detail: String,
        run: impl FnOnce(&mut Self) -> Result<T, ApplyError>,
        done: impl FnOnce(&T) -> String,
    ) -> Result<T, StepFailure> {
        let _span = tracing::info_span!("step", step = name).entered();
        self.console.step(name, StepState::Running, Some(detail.clone()));
        self.post(name, StepStatus::Started, Some(detail), None);
        match run(self) {
            Ok(value) => {
                let said = done(&value);
                self.console.step(name, StepState::Done, Some(said.clone()));
                self.post(name, StepStatus::Done, Some(said), None);
                Ok(value)
            }
            Err(e) => Err(self.fail(name, e)),
        }
    }

    /// The image, verified chunk by chunk, with its progress on the console and posted every tenth, and
    /// at least every [`PROGRESS_EVERY`] (the boot service fails a node whose installer goes silent).
    fn write_image(&mut self, plan: &Plan) -> Result<ImageResult, ApplyError> {
        let Installer { image, reporter, console, .. } = self;
        let started = Instant::now();
        let mut posted = (0, started);
        let mut progress = |done: u64, total: u64| {
            let secs = started.elapsed().as_secs_f64().max(0.001);
            #[expect(clippy::cast_possible_truncation, reason = "for display: `as` drops the fraction and saturates")]
            let bytes_per_sec = (done as f64 / secs) as u64;
            console.progress(Progress { label: "image".into(), done, total, bytes_per_sec });
            let tenth = crate::console::tenths(done, total);
            if post_progress_now(posted, tenth, Instant::now()) {
                posted = (tenth, Instant::now());
                post_to(*reporter, "image", StepStatus::Running, None, Some((done, total)));
            }
        };
        image.install(&plan.image.name, &plan.image.device, &mut progress)
    }

    /// Partition tables, the installed system's files, ESPs, host keys and GRUB on every OS disk.
    fn make_bootable(&self, plan: &Plan, deployment: &Deployment, results: &PlanResults) -> Result<(), ApplyError> {
        for disk in &plan.boot_disks {
            self.partitioner.write_table(disk)?;
        }
        self.system.mount_root(&plan.image.device)?;
        for file in os_files(plan, results, deployment) {
            self.system.write(&file)?;
        }
        for step in boot_loader_steps(&plan.boot_disks) {
            self.system.boot_step(&step)?;
        }
        Ok(())
    }

    /// Whatever the array's disks hold is either blank, provably this node's own (wiped), allowed to be
    /// wiped by the profile, or refused. OS disks are then given their boot layout (in the kernel only).
    fn prepare_members(
        &self,
        array: &ArrayPlan,
        boot_disks: &[BootDisk],
        owned: &[String],
        plan: &Plan,
    ) -> Result<(), ApplyError> {
        let disks: Vec<(String, Option<u32>)> = if boot_disks.is_empty() {
            array.members.iter().map(|m| (m.clone(), None)).collect()
        } else {
            boot_disks.iter().map(|d| (d.disk.clone(), d.bay)).collect()
        };
        for (i, (disk, bay)) in disks.iter().enumerate() {
            let mut found = self.found_on(disk)?;
            if let Some(layout) = boot_disks.get(i) {
                self.partitioner.announce(layout)?;
                // The RAID partition, which an old table may have shown the kernel already.
                for seen in self.found_on_device(&layout.raid_member())? {
                    if !found.contains(&seen) {
                        found.push(seen);
                    }
                }
            }
            match decide_wipe(disk, *bay, &found, owned, plan.wipe, &plan.profile) {
                WipeDecision::Blank => {}
                WipeDecision::Wipe { because } => {
                    tracing::info!("wiping {disk}: {because}");
                    self.raid.wipe(disk)?;
                    if let Some(layout) = boot_disks.get(i) {
                        self.raid.wipe(&layout.raid_member())?;
                    }
                }
                WipeDecision::Refuse { reason } => return Err(ApplyError::DiskHasData(reason)),
            }
        }
        Ok(())
    }

    /// What `disk` and the partitions the kernel knows on it hold.
    fn found_on(&self, disk: &str) -> Result<Vec<Found>, ApplyError> {
        let mut found = self.found_on_device(disk)?;
        for partition in self.partitioner.kernel_partitions(disk)? {
            found.extend(self.found_on_device(&partition)?);
        }
        Ok(found)
    }

    fn found_on_device(&self, device: &str) -> Result<Vec<Found>, ApplyError> {
        let what = self.raid.existing_data(device)?;
        Ok(what
            .map(|what| Found { device: device.to_owned(), what, md_uuid: self.raid.array_uuid_on(device) })
            .into_iter()
            .collect())
    }

    /// The installed system's last file (the deploy credential the boot service just issued), then
    /// unmount it all. `credential` is `None` when the install is not going to be reported as done.
    pub fn finish_target(&self, credential: Option<&str>) -> Result<(), ApplyError> {
        let written =
            credential.map_or(Ok(()), |secret| self.system.write(&crate::os_config::deploy_credential_file(secret)));
        let unmounted = self.system.unmount_all();
        written.and(unmounted)
    }

    fn fail(&mut self, step: &str, error: ApplyError) -> StepFailure {
        let reason = error.to_string();
        self.console.step(step, StepState::Failed, Some(reason.clone()));
        self.post(step, StepStatus::Failed, Some(reason.clone()), None);
        StepFailure { step: step.to_owned(), reason }
    }

    fn post(&self, step: &str, status: StepStatus, message: Option<String>, progress: Option<(u64, u64)>) {
        post_to(self.reporter, step, status, message, progress);
    }
}

/// The longest the image write goes without telling the boot service how far it is.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(60);

/// Whether to post the image's progress, now at `tenth`, when the last post was at `(tenth, when)`: at
/// each new tenth, and at least every [`PROGRESS_EVERY`] however slow the disks are.
fn post_progress_now(last: (u64, Instant), tenth: u64, now: Instant) -> bool {
    tenth > last.0 || now.saturating_duration_since(last.1) >= PROGRESS_EVERY
}

/// Post one install-stage event; a failure is logged, not fatal (`ready` is what must arrive).
fn post_to(reporter: &dyn Reporter, step: &str, status: StepStatus, message: Option<String>, p: Option<(u64, u64)>) {
    let report = ProgressReport {
        stage: Stage::Install,
        step: step.to_owned(),
        status,
        message,
        done: p.map(|(d, _)| d),
        total: p.map(|(_, t)| t),
    };
    if let Err(e) = reporter.progress(&report) {
        tracing::warn!("could not report step {step}: {e}");
    }
}

fn describe_bond(plan: &BondPlan) -> String {
    let primary = plan.primary.as_deref().map_or(String::new(), |p| format!(", primary {p}"));
    format!("{} {} = {}{primary}", plan.name, plan.mode, plan.legs.join(" + "))
}

pub fn bond_result(plan: &BondPlan) -> BondResult {
    BondResult {
        name: plan.name.clone(),
        mode: plan.mode.to_string(),
        legs: plan.legs.clone(),
        primary: plan.primary.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_progress_is_posted_at_each_tenth_and_at_least_every_minute() {
        let start = Instant::now();
        let later = |secs| start + Duration::from_secs(secs);
        assert!(!post_progress_now((3, start), 3, later(59)), "same tenth, within the minute");
        assert!(post_progress_now((3, start), 4, later(1)), "a new tenth");
        assert!(post_progress_now((3, start), 3, later(60)), "a minute without a post, however slow");
    }
}
