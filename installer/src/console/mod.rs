//! The console screen the installer shows as PID 1: who this node is, each step and its state, the image
//! progress, and on failure every problem with its fix in large plain text, so the technician at the
//! crash cart needs nothing else. [`render_screen`] is pure; [`writer`] puts it on `/dev/console`.

mod render;
pub mod writer;

use rackhand_api::Problem;

pub use render::{render_ansi, render_screen, wrap};
pub use writer::Console;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScreenState {
    pub node: NodeIdentity,
    pub profile: Option<String>,
    pub steps: Vec<Step>,
    pub progress: Option<Progress>,
    pub failure: Option<Failure>,
    /// One closing line: `install done: powering off`, `rescue shell: press Enter`.
    pub footer: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeIdentity {
    pub id: Option<String>,
    /// What the boot service calls the server (`rack1-u2`), once it said.
    pub name: Option<String>,
    pub mac: Option<String>,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub state: StepState,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
}

impl StepState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "FAILED",
        }
    }
}

/// Bytes written so far out of the total, and the throughput since the step started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub label: String,
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: u64,
}

/// Whole tenths of `total` that `done` has reached (10 for an empty total): the pace at which progress is
/// posted to the boot service and printed by `installer image`.
pub fn tenths(done: u64, total: u64) -> u64 {
    done.saturating_mul(10).checked_div(total).unwrap_or(10)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub problems: Vec<Problem>,
}

impl ScreenState {
    /// Set a step's state (adding the step at the end when it is new).
    pub fn set_step(&mut self, name: &str, state: StepState, detail: Option<String>) {
        match self.steps.iter_mut().find(|s| s.name == name) {
            Some(step) => {
                step.state = state;
                step.detail = detail;
            }
            None => self.steps.push(Step { name: name.to_owned(), state, detail }),
        }
    }

    pub fn step_state(&self, name: &str) -> Option<StepState> {
        self.steps.iter().find(|s| s.name == name).map(|s| s.state)
    }
}

#[cfg(test)]
mod tests;
