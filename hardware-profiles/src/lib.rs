//! Hardware profiles: what a server model must have, and the bond/RAID layout to build on it.
//!
//! A profile is a TOML file (`profiles/*.toml`). It is read in two layers: [`wire`] types mirror the file
//! exactly (unknown keys are rejected), and `TryFrom` turns them into the validated [`Profile`], whose
//! invariants the installer relies on. Every error names the file, the line and the field.
//!
//! Bays are numbered as the chassis labels them; the shipped profiles use 0-based bays (`bay 0` is the
//! first slot). `[bays] map` keys name where the kernel shows a disk (SCSI address, AHCI port, PCIe slot,
//! SES enclosure slot: [`BayKey`]); without `ses:` keys, an SES enclosure's `slot` value is the bay as is.

mod bays;
mod error;
mod load;
mod profile;
mod select;
mod validate;
mod vendors;
pub mod wire;

pub use bays::{AtaSite, BayKey, BayMap, DiskSite, HctlPattern, SesSite};
pub use error::{FieldError, ProfileError};
pub use load::{load_dir, load_file, load_str, shipped_profiles_dir};
pub use profile::{
    BondMode, BondSpec, DiskGroup, FilesystemKind, FilesystemSpec, Finish, InstallSpec, NetworkSpec, PowerSpec,
    Profile, RaidLevel, RaidSpec, Recognition,
};
pub use select::{SelectError, select};
pub use vendors::{PciVendor, vendor_by_id, vendor_by_slug};
