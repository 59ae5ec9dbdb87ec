//! The lab's boot-service instances: the lab's own on its bridge (10.77.0.1), and in a two-instance lab a
//! second one (10.77.0.2) in a namespace of its own cabled to the same bridge, both on one PostgreSQL
//! database and naming each other as peers. Each can be killed (SIGKILL) and started again.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use anyhow::Context;
use rackhand_netns::Netns;
use rackhand_netns::service::start_until_up;

use crate::lab::HTTP_PORT;

/// The second instance's address on the lab's bridge.
pub const PEER_IP: &str = "10.77.0.2";

/// One boot-service process: where it listens, its config and log, and the process while it runs.
pub(crate) struct Instance {
    pub(crate) address: &'static str,
    /// Its own namespace (the second instance); `None`: the lab's namespace.
    pub(crate) ns: Option<Netns>,
    program: PathBuf,
    config: PathBuf,
    log: PathBuf,
    pub(crate) child: Option<Child>,
}

impl Instance {
    pub(crate) fn new(address: &'static str, ns: Option<Netns>, program: &Path, config: PathBuf, log: PathBuf) -> Self {
        Instance { address, ns, program: program.to_owned(), config, log, child: None }
    }

    /// Start the process in `lab_ns` (or its own namespace) and wait until it answers `/healthz`; its log
    /// is appended to.
    pub(crate) fn start(&mut self, lab_ns: &Netns) -> anyhow::Result<()> {
        let ns = self.ns.as_ref().unwrap_or(lab_ns);
        let mut command = ns.command(self.program.to_str().context("boot-service path")?);
        command.args(["serve", "--config"]).arg(&self.config);
        let up = || self.get(lab_ns, "/healthz").is_ok();
        let child = start_until_up(command, &self.log, Duration::from_secs(30), up)
            .with_context(|| format!("starting the boot service at {}", self.address))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, as a crash or a lost host: no clean shutdown of any kind.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// GET `path` of this instance, from inside the lab's namespace.
    pub(crate) fn get(&self, lab_ns: &Netns, path: &str) -> anyhow::Result<String> {
        let url = format!("http://{}:{HTTP_PORT}{path}", self.address);
        Ok(lab_ns.exec("curl", &["-sf", "--max-time", "10", &url])?)
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}:{HTTP_PORT}", self.address)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}
