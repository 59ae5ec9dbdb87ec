//! Fakes of the apply traits and the reporter, recording what was asked of them: for the installer's own
//! tests and for anyone driving the orchestrator without hardware.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rackhand_api::{DeploySettings, FailedReport, ImageResult, Installed, Inventory, PlanResults, ProgressReport};

use crate::boot_service::{RegisterError, Reporter};
use crate::image::ImageError;
use crate::layout::BootDisk;
use crate::os_config::{BootStep, OsFile};
use crate::plan::{ArrayPlan, BondPlan, FilesystemPlan};

use super::{ApplyError, Filesystems, ImageInstaller, InstalledSystem, Lease, Network, Partitioner, Raid};

fn fake_error(what: &str) -> ApplyError {
    ApplyError::Command { what: what.to_owned(), status: "exit status: 1".into(), stderr: "fake failure".into() }
}

/// Records calls; `fail_bond` / `fail_dhcp_on` make those calls fail.
#[derive(Debug, Default)]
pub struct FakeNetwork {
    pub calls: Mutex<Vec<String>>,
    pub fail_bond: bool,
    pub fail_dhcp_on: Vec<String>,
}

impl FakeNetwork {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

impl Network for FakeNetwork {
    fn links_up(&self, names: &[String]) -> Result<(), ApplyError> {
        self.record(format!("up {}", names.join(",")));
        Ok(())
    }

    fn create_bond(&self, plan: &BondPlan) -> Result<(), ApplyError> {
        self.record(format!("bond {} {} {}", plan.name, plan.mode, plan.legs.join(",")));
        if self.fail_bond { Err(fake_error("creating the bond")) } else { Ok(()) }
    }

    fn delete_link(&self, name: &str) -> Result<(), ApplyError> {
        self.record(format!("delete {name}"));
        Ok(())
    }

    fn dhcp(&self, interface: &str) -> Result<Lease, ApplyError> {
        self.record(format!("dhcp {interface}"));
        if self.fail_dhcp_on.iter().any(|i| i == interface) {
            return Err(fake_error(&format!("DHCP on {interface}")));
        }
        Ok(Lease { interface: interface.into(), address: "10.77.0.50/24".into(), router: Some("10.77.0.1".into()) })
    }
}

/// Disks by device name → what they already hold (and, for md members, their array's UUID); arrays get
/// UUIDs `fake-uuid-mdN`.
#[derive(Debug, Default)]
pub struct FakeRaid {
    pub data: BTreeMap<String, String>,
    pub member_of: BTreeMap<String, String>,
    pub calls: Mutex<Vec<String>>,
}

impl FakeRaid {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Raid for FakeRaid {
    fn existing_data(&self, device: &str) -> Result<Option<String>, ApplyError> {
        Ok(self.data.get(device).cloned())
    }

    fn array_uuid_on(&self, device: &str) -> Option<String> {
        self.member_of.get(device).cloned()
    }

    fn wipe(&self, device: &str) -> Result<(), ApplyError> {
        self.calls.lock().unwrap().push(format!("wipe {device}"));
        Ok(())
    }

    fn create(&self, array: &ArrayPlan) -> Result<String, ApplyError> {
        self.calls.lock().unwrap().push(format!(
            "create {} level {} {}",
            array.device,
            array.level.mdadm_name(),
            array.members.join(" ")
        ));
        Ok(format!("fake-uuid-{}", array.device.trim_start_matches("/dev/")))
    }
}

/// Records `mkfs` calls; filesystems get UUIDs `fake-fs-uuid-mdN`; `fail_on` makes that device's fail.
#[derive(Debug, Default)]
pub struct FakeFilesystems {
    pub calls: Mutex<Vec<String>>,
    pub fail_on: Option<String>,
}

impl FakeFilesystems {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Filesystems for FakeFilesystems {
    fn make(&self, device: &str, fs: &FilesystemPlan) -> Result<String, ApplyError> {
        self.calls.lock().unwrap().push(format!("mkfs {device} {}", fs.describe()));
        if self.fail_on.as_deref() == Some(device) {
            return Err(fake_error(&format!("making {} on {device}", fs.describe())));
        }
        Ok(format!("fake-fs-uuid-{}", device.trim_start_matches("/dev/")))
    }
}

/// Reports progress in `chunks` steps of `size / chunks` bytes, then succeeds (or fails once with `fail`).
#[derive(Debug, Default)]
pub struct FakeImage {
    pub size: u64,
    pub chunks: u64,
    pub fail: Option<ImageError>,
}

impl ImageInstaller for FakeImage {
    fn install(
        &mut self,
        name: &str,
        device: &str,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImageResult, ApplyError> {
        let chunks = self.chunks.max(1);
        for i in 1..=chunks {
            progress(self.size * i / chunks, self.size);
        }
        if let Some(error) = self.fail.take() {
            return Err(error.into());
        }
        Ok(ImageResult { name: name.into(), version: "1".into(), blake3: "ab".repeat(32), device: device.into() })
    }
}

/// Everything the installer posted, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Posted {
    /// The inventory and the profile it was judged against.
    Inventory(Box<Inventory>, Option<String>),
    Progress(ProgressReport),
    Installed(PlanResults),
    Failed(FailedReport),
}

/// Records what was posted; answers deploy settings (`settings`, or host name `node1` and no keys) and
/// `installed` with the credential `fake-deploy-credential`.
#[derive(Debug, Default)]
pub struct RecordingReporter {
    pub posted: Mutex<Vec<Posted>>,
    pub settings: Option<DeploySettings>,
}

/// The credential [`RecordingReporter`] answers `installed` with.
pub const FAKE_DEPLOY_CREDENTIAL: &str = "fake-deploy-credential";

impl RecordingReporter {
    pub fn posted(&self) -> Vec<Posted> {
        self.posted.lock().unwrap().clone()
    }

    fn push(&self, p: Posted) -> Result<(), RegisterError> {
        self.posted.lock().unwrap().push(p);
        Ok(())
    }
}

impl Reporter for RecordingReporter {
    fn inventory(&self, inventory: &Inventory, profile: Option<&str>) -> Result<Option<String>, RegisterError> {
        self.push(Posted::Inventory(Box::new(inventory.clone()), profile.map(str::to_string)))?;
        Ok(self.settings.as_ref().map(|s| s.hostname.clone()))
    }

    fn progress(&self, report: &ProgressReport) -> Result<(), RegisterError> {
        self.push(Posted::Progress(report.clone()))
    }

    fn deploy_settings(&self) -> Result<DeploySettings, RegisterError> {
        Ok(self.settings.clone().unwrap_or_else(|| DeploySettings {
            hostname: "node1".into(),
            ssh_authorized_keys: Vec::new(),
            owned_arrays: Vec::new(),
        }))
    }

    fn installed(&self, results: &PlanResults) -> Result<Installed, RegisterError> {
        self.push(Posted::Installed(results.clone()))?;
        Ok(Installed { deploy_credential: FAKE_DEPLOY_CREDENTIAL.into() })
    }

    fn failed(&self, report: &FailedReport) -> Result<(), RegisterError> {
        self.push(Posted::Failed(report.clone()))
    }
}

/// Records announcements and tables; `partitions` are what the kernel knows per disk before.
#[derive(Debug, Default)]
pub struct FakePartitioner {
    pub partitions: BTreeMap<String, Vec<String>>,
    pub calls: Mutex<Vec<String>>,
}

impl FakePartitioner {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Partitioner for FakePartitioner {
    fn kernel_partitions(&self, disk: &str) -> Result<Vec<String>, ApplyError> {
        Ok(self.partitions.get(disk).cloned().unwrap_or_default())
    }

    fn announce(&self, layout: &BootDisk) -> Result<(), ApplyError> {
        self.calls.lock().unwrap().push(format!("announce {}", layout.disk));
        Ok(())
    }

    fn write_table(&self, layout: &BootDisk) -> Result<(), ApplyError> {
        self.calls.lock().unwrap().push(format!("table {}", layout.disk));
        Ok(())
    }
}

/// Records what would be done to the installed system, in order; `fail_on` makes a boot command whose
/// first word it is fail.
#[derive(Debug, Default)]
pub struct FakeSystem {
    pub calls: Mutex<Vec<String>>,
    pub files: Mutex<Vec<OsFile>>,
    pub fail_on: Option<String>,
}

impl FakeSystem {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub fn files(&self) -> Vec<OsFile> {
        self.files.lock().unwrap().clone()
    }
}

impl InstalledSystem for FakeSystem {
    fn mount_root(&self, device: &str) -> Result<(), ApplyError> {
        self.calls.lock().unwrap().push(format!("mount {device}"));
        Ok(())
    }

    fn write(&self, file: &OsFile) -> Result<(), ApplyError> {
        let path = match file {
            OsFile::Write { path, .. }
            | OsFile::Append { path, .. }
            | OsFile::Link { path, .. }
            | OsFile::ThisBinary { path } => path,
        };
        self.calls.lock().unwrap().push(format!("write {path}"));
        self.files.lock().unwrap().push(file.clone());
        Ok(())
    }

    fn boot_step(&self, step: &BootStep) -> Result<(), ApplyError> {
        let call = match step {
            BootStep::Run(args) => format!("run {}", args.join(" ")),
            BootStep::Remove(paths) => format!("rm {}", paths.join(" ")),
            BootStep::MountEsp(device) => format!("mount-esp {device}"),
            BootStep::UnmountEsp => "umount-esp".to_owned(),
        };
        self.calls.lock().unwrap().push(call);
        match (step, &self.fail_on) {
            (BootStep::Run(args), Some(word)) if args.first() == Some(word) => Err(fake_error(word)),
            _ => Ok(()),
        }
    }

    fn unmount_all(&self) -> Result<(), ApplyError> {
        self.calls.lock().unwrap().push("unmount".into());
        Ok(())
    }
}
