use serde::{Deserialize, Serialize};

/// How bad a problem is: `blocking` stops the install, `warning` is shown but the install goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Blocking,
}

/// One thing wrong with a server, said so a technician can fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    pub severity: Severity,
    /// The part it is about, as printed on the chassis: `PSU 2`, `NIC eth1`, `bay 3`.
    pub part: String,
    /// What is wrong: `PSU 2 present but not receiving power`.
    pub message: String,
    /// What to do about it: `plug its cord into the B-feed PDU`.
    pub fix: String,
}

/// `POST /api/v1/nodes/{id}/failed`: why the install stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedReport {
    pub reason: String,
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// What the failed install had built before it stopped (arrays, with their UUIDs): the boot service
    /// keeps it as the node's results, so a retry may wipe what this node itself built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<PlanResults>,
    /// The install step that failed (`image`, `raid md0`, `boot`), when one did: what the dashboard's
    /// advice goes by, rather than the wording of the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// Which half of the installer a progress report belongs to. The first `install` report moves the node
/// from `inspecting` to `installing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Inspect,
    Install,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Running,
    Done,
    Failed,
}

/// `POST /api/v1/nodes/{id}/events`: one step of the installer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressReport {
    pub stage: Stage,
    /// Short name of the step: `bond`, `raid md0`, `image`.
    pub step: String,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Bytes (or units) done so far and in total, for progress bars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// A byte count as the console and the dashboard show progress: `512 B`, `1.5 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `POST /api/v1/nodes/{id}/ready`: what the install built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanResults {
    #[serde(default)]
    pub arrays: Vec<ArrayResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond: Option<BondResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayResult {
    pub device: String,
    pub level: String,
    pub uuid: String,
    pub members: Vec<String>,
    /// The filesystem made on a data array, when its profile asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FilesystemResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemResult {
    /// `ext4`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub uuid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BondResult {
    pub name: String,
    pub mode: String,
    pub legs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageResult {
    pub name: String,
    pub version: String,
    pub blake3: String,
    pub device: String,
}
