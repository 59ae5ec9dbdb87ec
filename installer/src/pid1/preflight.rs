//! Before anything on the machine is touched: the profile, the verdict and the plan, decided together in
//! one pure function, so the flow after it is a straight script and never holds a plan it may not use.

use hardware_profiles::Profile;
use rackhand_api::{Inventory, Problem, Severity};

use crate::judge::judge;
use crate::plan::{Plan, plan};

/// Whether and how this machine may be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preflight {
    /// No profile could be chosen for this machine (none loaded, or none matches it).
    NoProfile { reason: String },
    /// The verdict forbids installing; `problems` is the whole verdict (blocking and warnings).
    Blocked { reason: String, problems: Vec<Problem> },
    /// The verdict allows it, but no plan fits the hardware (say a disk too small for the boot layout).
    Unplannable { reason: String, warnings: Vec<Problem> },
    /// Go ahead with `plan`; `warnings` did not stop it but are worth a technician's look.
    Ready { plan: Box<Plan>, warnings: Vec<Problem> },
}

/// Judge `inventory` against the chosen profile and plan the install.
pub fn preflight(inventory: &Inventory, profile: Result<&Profile, &str>) -> Preflight {
    let profile = match profile {
        Ok(profile) => profile,
        Err(why) => return Preflight::NoProfile { reason: format!("no hardware profile: {why}") },
    };
    let verdict = judge(inventory, profile);
    let warnings: Vec<Problem> = verdict.problems.iter().filter(|p| p.severity == Severity::Warning).cloned().collect();
    match plan(&verdict, profile, inventory) {
        Ok(plan) => Preflight::Ready { plan: Box::new(plan), warnings },
        Err(e) if verdict.must_not_install() => {
            let blocking = verdict.blocking().count();
            let reason = if blocking == 0 { e.to_string() } else { format!("{blocking} blocking problem(s): {e}") };
            Preflight::Blocked { reason, problems: verdict.problems }
        }
        Err(e) => Preflight::Unplannable { reason: format!("cannot plan the install: {e}"), warnings },
    }
}

impl Preflight {
    /// The plan, when the install may go ahead.
    pub fn plan(&self) -> Option<&Plan> {
        match self {
            Self::Ready { plan, .. } => Some(plan),
            _ => None,
        }
    }

    /// Why the install may not go ahead, when it may not.
    pub fn stop_reason(&self) -> Option<&str> {
        match self {
            Self::NoProfile { reason } | Self::Blocked { reason, .. } | Self::Unplannable { reason, .. } => {
                Some(reason)
            }
            Self::Ready { .. } => None,
        }
    }

    /// The verdict's warnings (a machine with no profile was not judged, so it has none).
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        let all: &[Problem] = match self {
            Self::NoProfile { .. } => &[],
            Self::Blocked { problems, .. } => problems,
            Self::Unplannable { warnings, .. } | Self::Ready { warnings, .. } => warnings,
        };
        all.iter().filter(|p| p.severity == Severity::Warning)
    }

    /// The plan, or the reason and the problems to report and show instead.
    pub fn into_plan(self) -> Result<Plan, (String, Vec<Problem>)> {
        match self {
            Self::Ready { plan, .. } => Ok(*plan),
            Self::Blocked { reason, problems } => Err((reason, problems)),
            Self::NoProfile { reason } | Self::Unplannable { reason, .. } => Err((reason, Vec::new())),
        }
    }
}
