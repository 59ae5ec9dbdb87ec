//! The install steps in order — network (bond, or the fallback NIC), each md array, the data arrays'
//! filesystems, the image — each
//! shown on the console, logged as a `rackhand:` line and posted as an install-stage progress event.

use std::time::Instant;

use rackhand_api::{ArrayResult, BondResult, FilesystemResult, PlanResults, ProgressReport, Stage, StepStatus};

use crate::console::{Console, Progress, StepState};
use crate::plan::{ArrayPlan, BondPlan, Plan};
use crate::register::Reporter;

use super::{ApplyError, Filesystems, ImageInstaller, Lease, Network, Raid};

pub struct Installer<'a> {
    pub network: &'a dyn Network,
    pub raid: &'a dyn Raid,
    pub filesystems: &'a dyn Filesystems,
    pub image: &'a mut dyn ImageInstaller,
    pub reporter: &'a dyn Reporter,
    pub console: &'a mut Console,
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

    /// Report the bond, build every array, make the data arrays' filesystems, write the image. The first
    /// event moves the node to installing.
    pub fn install(&mut self, plan: &Plan, bond: BondResult) -> Result<PlanResults, StepFailure> {
        let message = format!("{} over {}", bond.name, bond.legs.join(" + "));
        self.post("bond", StepStatus::Done, Some(message), None);
        let mut results = PlanResults { arrays: Vec::new(), bond: Some(bond), image: None };
        for array in &plan.arrays {
            let step = format!("raid {}", array.device.trim_start_matches("/dev/"));
            self.console.step(&step, StepState::Running, Some(array.members.join(" ")));
            self.post(&step, StepStatus::Started, None, None);
            match self.build_array(array, plan.wipe) {
                Ok(uuid) => {
                    self.console.step(&step, StepState::Done, Some(format!("{} {uuid}", array.level_name())));
                    self.post(&step, StepStatus::Done, Some(uuid.clone()), None);
                    results.arrays.push(ArrayResult {
                        device: array.device.clone(),
                        level: array.level_name(),
                        uuid,
                        members: array.members.clone(),
                        filesystem: None,
                    });
                }
                Err(e) => return Err(self.fail(&step, e)),
            }
        }
        for (array, result) in plan.arrays.iter().zip(&mut results.arrays) {
            let Some(fs) = &array.filesystem else { continue };
            let step = format!("format {}", array.device.trim_start_matches("/dev/"));
            self.console.step(&step, StepState::Running, Some(fs.describe()));
            self.post(&step, StepStatus::Started, Some(fs.describe()), None);
            match self.filesystems.make(&array.device, fs) {
                Ok(uuid) => {
                    self.console.step(&step, StepState::Done, Some(format!("{} {uuid}", fs.describe())));
                    self.post(&step, StepStatus::Done, Some(format!("{} {uuid}", fs.describe())), None);
                    result.filesystem = Some(FilesystemResult { kind: fs.kind.clone(), label: fs.label.clone(), uuid });
                }
                Err(e) => return Err(self.fail(&step, e)),
            }
        }
        let target = format!("{} -> {}", plan.image.name, plan.image.device);
        self.console.step("image", StepState::Running, Some(target.clone()));
        self.post("image", StepStatus::Started, Some(target), None);
        let written = {
            let Installer { image, reporter, console, .. } = self;
            let started = Instant::now();
            let mut posted_tenth = 0;
            let mut progress = |done: u64, total: u64| {
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let bytes_per_sec = (done as f64 / secs) as u64;
                console.progress(Progress { label: "image".into(), done, total, bytes_per_sec });
                let tenth = crate::console::tenths(done, total);
                if tenth > posted_tenth {
                    posted_tenth = tenth;
                    post_to(*reporter, "image", StepStatus::Running, None, Some((done, total)));
                }
            };
            image.install(&plan.image.name, &plan.image.device, &mut progress)
        };
        match written {
            Ok(image) => {
                let detail = format!("{} {} blake3 {}", image.name, image.version, image.blake3);
                self.console.step("image", StepState::Done, Some(detail.clone()));
                self.post("image", StepStatus::Done, Some(detail), None);
                results.image = Some(image);
                Ok(results)
            }
            Err(e) => Err(self.fail("image", e)),
        }
    }

    fn build_array(&self, array: &ArrayPlan, wipe: bool) -> Result<String, ApplyError> {
        for member in &array.members {
            if let Some(found) = self.raid.existing_data(member)? {
                if !wipe {
                    return Err(ApplyError::DiskHasData { device: member.clone(), found });
                }
                crate::console::log_line(&format!("wiping {member} ({found})"));
                self.raid.wipe(member)?;
            }
        }
        self.raid.create(array)
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
        crate::console::log_line(&format!("could not report step {step}: {e}"));
    }
}

fn describe_bond(plan: &BondPlan) -> String {
    let primary = plan.primary.as_deref().map_or(String::new(), |p| format!(", primary {p}"));
    format!("{} {} = {}{primary}", plan.name, plan.mode, plan.legs.join(" + "))
}

pub fn bond_result(plan: &BondPlan) -> BondResult {
    BondResult {
        name: plan.name.clone(),
        mode: plan.mode.clone(),
        legs: plan.legs.clone(),
        primary: plan.primary.clone(),
    }
}
