//! One node's provisioning once the hardware is observed: judge, plan, network (bond or fallback), post
//! the inventory, then `failed` with the problems, or the deploy settings, the install steps, `installed`
//! (whose answer, the deploy credential, is the installed system's last file) and a reboot into the
//! installed OS, which reports `ready` itself. All I/O goes through the [`Installer`]'s traits, so the
//! whole flow runs against fakes in tests.

use hardware_profiles::Profile;
use rackhand_api::{FailedReport, Inventory, NodeId, PlanResults, Problem, Severity};

use crate::apply::Installer;
use crate::console::{Failure, StepState};
use crate::os_config::Deployment;
use crate::plan::FinishAction;

use super::preflight::preflight;

/// What the node ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Installed, bootable and reported: reboot (into the installed OS) or power off.
    Ready(FinishAction),
    /// Stopped: stay on the failure screen. `reported` says whether the boot service heard about it.
    Failed { reason: String, problems: Vec<Problem>, reported: bool },
}

pub struct Inputs {
    pub inventory: Inventory,
    /// The selected profile, or why none could be chosen.
    pub profile: Result<Profile, String>,
    /// The NIC the node PXE-booted from (`rackhand.mac`), for the fallback network.
    pub fallback_nic: Option<String>,
    /// Every boot-service instance's base URL (the one that booted the node first) and this node's id,
    /// for the installed OS's agent.
    pub servers: Vec<String>,
    pub node: NodeId,
}

pub fn provision(inputs: Inputs, installer: &mut Installer<'_>) -> Outcome {
    let Inputs { inventory, profile, fallback_nic, servers, node } = inputs;
    if let Ok(profile) = &profile {
        installer.console.state.profile = Some(profile.name.clone());
    }
    let preflight = preflight(&inventory, profile.as_ref().map_err(String::as_str));
    for p in preflight.warnings() {
        tracing::info!("warning: {} — {} (fix: {})", p.part, p.message, p.fix);
    }
    let stopped = preflight.stop_reason().map(str::to_owned);
    let shown = if stopped.is_some() { StepState::Failed } else { StepState::Done };
    installer.console.step("inspect", shown, stopped.clone());
    let net = installer.network(preflight.plan().map(|p| &p.bond), fallback_nic.as_deref());
    if net.lease.is_none() {
        let (reason, problems) = match preflight.into_plan() {
            Err(stopped) => stopped,
            Ok(_) => (net.bond_error.unwrap_or_else(|| "no network to reach the boot service".to_owned()), Vec::new()),
        };
        return fail(installer, reason, problems, false);
    }
    installer.console.step("report", StepState::Running, Some("posting the inventory".into()));
    let judged_by = profile.as_ref().ok().map(|p| p.name.as_str());
    match installer.reporter.inventory(&inventory, judged_by) {
        // From here on the console names the server as the technicians do.
        Ok(name) => installer.console.state.node.name = name,
        Err(e) => {
            let reason = stopped.unwrap_or_else(|| format!("could not post the inventory: {e}"));
            return fail(installer, reason, Vec::new(), false);
        }
    }
    installer.console.step("report", StepState::Done, Some("inventory posted".into()));
    let plan = match preflight.into_plan() {
        Ok(plan) => plan,
        Err((reason, problems)) => return report_failure(installer, reason, problems),
    };
    let Some(bond) = net.bond else {
        let reason = net.bond_error.unwrap_or_else(|| "the bond was not built".into());
        return report_failure(installer, reason, Vec::new());
    };
    let settings = match installer.reporter.deploy_settings() {
        Ok(settings) => settings,
        Err(e) => return report_failure(installer, format!("could not get the deploy settings: {e}"), Vec::new()),
    };
    let deployment = Deployment { settings: &settings, inventory: &inventory, servers: &servers, node };
    let mut built = PlanResults::default();
    if let Err(step) = installer.install(&plan, bond, &deployment, &mut built) {
        if let Err(e) = installer.finish_target(None) {
            tracing::warn!("unmounting the installed system: {e}");
        }
        // What it built (its arrays, with their UUIDs) is what a retry may wipe; the step names the failure.
        let built = Some(built).filter(|b| !b.arrays.is_empty());
        let reason = format!("{}: {}", step.step, step.reason);
        return report(installer, FailedReport { reason, problems: Vec::new(), built, step: Some(step.step) });
    }
    match installer.reporter.installed(&built) {
        Ok(installed) => {
            if let Err(e) = installer.finish_target(Some(&installed.deploy_credential)) {
                // The node token is spent: the boot service's first-boot deadline reports this node.
                tracing::warn!("finishing the installed system: {e}");
            }
            tracing::info!("install done: the installed OS reports ready on its first boot");
            Outcome::Ready(plan.finish)
        }
        Err(e) => {
            let _ = installer.finish_target(None);
            report_failure(installer, format!("installed, but could not report it: {e}"), Vec::new())
        }
    }
}

fn report_failure(installer: &mut Installer<'_>, reason: String, problems: Vec<Problem>) -> Outcome {
    report(installer, FailedReport { reason, problems, built: None, step: None })
}

/// Report the failure to the boot service, then show it.
fn report(installer: &mut Installer<'_>, report: FailedReport) -> Outcome {
    let reported = match installer.reporter.failed(&report) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("could not report the failure: {e}");
            false
        }
    };
    fail(installer, report.reason, report.problems, reported)
}

/// Show the failure (blocking problems only: warnings did not stop the install) and log it.
fn fail(installer: &mut Installer<'_>, reason: String, problems: Vec<Problem>, reported: bool) -> Outcome {
    tracing::warn!("node failed: {reason}");
    for p in problems.iter().filter(|p| p.severity == Severity::Blocking) {
        tracing::info!("problem: {} — {} / fix: {}", p.part, p.message, p.fix);
    }
    let shown = problems.iter().filter(|p| p.severity == Severity::Blocking).cloned().collect();
    installer.console.state.failure = Some(Failure { reason: reason.clone(), problems: shown });
    installer.console.draw();
    Outcome::Failed { reason, problems, reported }
}
