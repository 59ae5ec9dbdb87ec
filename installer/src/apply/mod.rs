//! Applying an install plan to the machine: the network (bond over netlink, DHCP with udhcpc), RAID
//! (mdadm), filesystems on data arrays (mke2fs), the image. Each is a small trait with a real implementation here and a fake in [`fake`];
//! [`install`] runs the steps in order and reports each.

pub mod dhcp;
pub mod existing_data;
pub mod fake;
pub mod filesystem;
pub mod install;
pub mod netlink;
pub mod partition;
pub mod raid;
pub mod target;

use std::path::{Path, PathBuf};
use std::process::Command;

use rackhand_api::ImageResult;
use thiserror::Error;

use crate::image::ImageError;
use crate::plan::BondPlan;

pub use dhcp::{Lease, Udhcpc};
pub use filesystem::{Filesystems, Mke2fs};
pub use install::{Installer, NetworkOutcome, StepFailure};
pub use partition::{Partitioner, UtilLinux};
pub use raid::{Mdadm, Raid};
pub use target::{ChrootSystem, InstalledSystem};

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{what}: {status}: {stderr}")]
    Command { what: String, status: String, stderr: String },
    #[error("{what}: netlink: {message}")]
    Netlink { what: String, message: String },
    /// Data on a disk that may not be wiped; the reason says what was found and what to do.
    #[error("{0}")]
    DiskHasData(String),
    /// Which kind of image failure it was (corrupt, unreachable, untrusted, target too small) is kept.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// A tool shipped in the initramfs: the first of `paths` that exists, else `name` from `$PATH`.
fn find_tool(paths: &[&str], name: &str) -> PathBuf {
    paths.iter().map(Path::new).find(|p| p.exists()).map_or_else(|| name.into(), Path::to_path_buf)
}

/// Runs `program args`: its standard output, or an error naming `what` with the tool's own words.
pub(crate) fn run_tool(program: &Path, what: &str, args: &[&str]) -> Result<String, ApplyError> {
    run_tool_with_input(program, what, args, None)
}

/// [`run_tool`], with `input` on the tool's standard input (an sfdisk script).
pub(crate) fn run_tool_with_input(
    program: &Path,
    what: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, ApplyError> {
    use std::io::Write;
    use std::process::Stdio;
    let io = |e| ApplyError::Io { what: format!("running {} for {what}", program.display()), source: e };
    let stdin = if input.is_some() { Stdio::piped() } else { Stdio::null() };
    let mut child = Command::new(program)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    if let Some(input) = input {
        child.stdin.take().expect("piped").write_all(input.as_bytes()).map_err(io)?;
    }
    let out = child.wait_with_output().map_err(io)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(ApplyError::Command {
            what: what.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// What the install needs from the network.
pub trait Network {
    /// Bring these interfaces up (so they get carrier and can hear LLDP).
    fn links_up(&self, names: &[String]) -> Result<(), ApplyError>;
    /// Create the bond, enslave its legs and bring it up.
    fn create_bond(&self, plan: &BondPlan) -> Result<(), ApplyError>;
    /// Remove a link (a half-built bond before falling back).
    fn delete_link(&self, name: &str) -> Result<(), ApplyError>;
    /// An address over DHCP on an interface that is up.
    fn dhcp(&self, interface: &str) -> Result<Lease, ApplyError>;
}

/// Netlink for links, busybox udhcpc for addresses.
#[derive(Debug, Clone)]
pub struct SystemNetwork {
    pub udhcpc: Udhcpc,
    /// DHCP discovers per attempt (3 s apart).
    pub dhcp_tries: u32,
}

impl SystemNetwork {
    pub fn new() -> Self {
        Self { udhcpc: Udhcpc::new("/run/rackhand"), dhcp_tries: 10 }
    }
}

impl Default for SystemNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl Network for SystemNetwork {
    fn links_up(&self, names: &[String]) -> Result<(), ApplyError> {
        netlink::links_up(names)
    }

    fn create_bond(&self, plan: &BondPlan) -> Result<(), ApplyError> {
        netlink::create_bond(plan)
    }

    fn delete_link(&self, name: &str) -> Result<(), ApplyError> {
        netlink::delete_link(name)
    }

    fn dhcp(&self, interface: &str) -> Result<Lease, ApplyError> {
        self.udhcpc.lease(interface, self.dhcp_tries)
    }
}

/// The image step: fetch the signed manifest, stream the verified image onto `device`. `progress` is
/// called with (bytes written, total bytes).
pub trait ImageInstaller {
    fn install(
        &mut self,
        name: &str,
        device: &str,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImageResult, ApplyError>;
}
