//! Wire types of the Rackhand node API (`/api/v1`).
//!
//! This is the one crate both sides speak: the boot service serves and stores these types, the installer
//! builds and posts them. Everything here is plain data with serde; no I/O.

mod bmc;
mod bmc_health;
pub mod cmdline;
pub mod initramfs;
mod inventory;
mod location;
mod mac;
mod manifest;
mod node;
mod os;
mod report;
mod sel;
mod verdict;

pub use bmc::{
    BmcInfo, BootDevice, BootDeviceRequest, IPMI_PORT, MAX_BMC_PASSWORD, MAX_BMC_USER, PowerAction, PowerRequest,
    PowerState, PowerStatus, SetBmc,
};
pub use bmc_health::{BmcHealth, parse_sdr_power_supply, parse_sdr_power_supply_verbose, psu_number};
pub use inventory::{BaySource, DiskController};
pub use inventory::{
    BmcPsuReading, Disk, DiskClass, Inventory, LldpNeighbor, Nic, PciDevice, PowerSupply, PsuStatus, Source,
    SystemIdentity,
};
pub use location::{Location, MAX_UNIT};
pub use mac::{MacAddr, MacParseError};
pub use manifest::{
    IMAGE_FILE, MANIFEST_ENCODING, MANIFEST_FILE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, Manifest, ManifestError,
    OUTBOARD_FILE, is_image_name,
};
pub use node::{
    Event, EventKind, NodeId, NodeRecord, NodeState, RegisterNode, TransitionError, is_hostname, is_profile_name,
    node_table, profile_name_rule,
};
pub use os::{
    AgentCredential, Deadline, DeploySettings, ESP_LABEL, ESP_LOADER, Installed, OsArray, OsArrayMember, OsBond,
    OsBondSlave, OsReport,
};
pub use report::{
    ArrayResult, BondResult, FailedReport, FilesystemResult, ImageResult, PlanResults, Problem, ProgressReport,
    Severity, Stage, StepStatus, human_bytes,
};
pub use sel::{SelEntry, parse_sel_verbose};
pub use verdict::Verdict;

/// Prefix of every node API route.
pub const API_PREFIX: &str = "/api/v1";
