//! A lab: a uniquely named namespace with a bridge at 10.77.0.1/24 and the boot service on it, serving
//! the netboot assets and the lab's images. `target/lab/<namespace>/lab.json` describes it.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rackhand_api::{NodeRecord, NodeState};
use rackhand_netns::Netns;
use serde::{Deserialize, Serialize};

use crate::assets::Assets;
use crate::service_config::{boot_service_config, deploy_config};
use crate::site_dhcp::SiteDhcp;

pub const SERVER_IP: &str = "10.77.0.1";
pub const BRIDGE: &str = "br-lab";
pub const HTTP_PORT: u16 = 8080;
pub const ADMIN_TOKEN: &str = "lab-admin-token-not-a-secret";

/// What `lab.json` says about a running lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabInfo {
    pub namespace: String,
    pub bridge: String,
    pub server: String,
    pub api: String,
    pub admin_token: String,
    pub dir: PathBuf,
    pub boot_service_pid: u32,
    /// The site DHCP server's namespace, in a proxyDHCP lab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_dhcp_namespace: Option<String>,
}

/// How the lab's servers get their addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabDhcp {
    /// The boot service hands out addresses and boot files (DHCP mode `full`).
    Full,
    /// A site DHCP server (dnsmasq, [`SiteDhcp`]) hands out addresses, the boot service only boot files.
    Proxy,
}

/// How long the lab's boot service waits on a server after its install, before failing it
/// (`[deploy] reboot_deadline`, `first_boot_deadline`, in whole seconds); `None` keeps the service's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadlines {
    pub reboot: Option<Duration>,
    pub first_boot: Option<Duration>,
}

pub struct Lab {
    ns: Option<Netns>,
    pub dir: PathBuf,
    service: Option<Child>,
    /// Held for its lifetime: dropping it stops the site DHCP server and removes its namespace.
    site: Option<SiteDhcp>,
    /// Remove `dir` when the lab is dropped, unless a panic (a failing test) is unwinding.
    clean_up: bool,
}

impl Lab {
    /// Bring a lab up under `base` (its own directory is `base/<namespace>`), serving `assets` and
    /// the images published in `images`.
    pub fn up(base: &Path, boot_service: &Path, assets: &Assets, images: &Path) -> anyhow::Result<Lab> {
        Lab::up_with(base, boot_service, assets, images, LabDhcp::Full)
    }

    /// [`Lab::up`] with the DHCP arrangement `dhcp`.
    pub fn up_with(
        base: &Path,
        boot_service: &Path,
        assets: &Assets,
        images: &Path,
        dhcp: LabDhcp,
    ) -> anyhow::Result<Lab> {
        Lab::up_with_deadlines(base, boot_service, assets, images, dhcp, &Deadlines::default())
    }

    pub fn up_with_deadlines(
        base: &Path,
        boot_service: &Path,
        assets: &Assets,
        images: &Path,
        dhcp: LabDhcp,
        deadlines: &Deadlines,
    ) -> anyhow::Result<Lab> {
        let ns = Netns::create("lab")?;
        ns.bridge(BRIDGE)?;
        ns.addr_up(BRIDGE, &format!("{SERVER_IP}/24"))?;
        let dir = base.join(ns.name());
        std::fs::create_dir_all(&dir)?;
        let site = match dhcp {
            LabDhcp::Full => None,
            LabDhcp::Proxy => Some(SiteDhcp::start(&ns, &dir)?),
        };
        let config = dir.join("boot-service.toml");
        let writer = boot_service_config(&dir.join("data"), &assets.dir, images, dhcp);
        let writer = deploy_config(writer, &crate::ssh::lab_public_key()?, deadlines);
        std::fs::write(&config, format!("# Written by the Rackhand lab.\n{}", writer.render()?))?;
        let log = std::fs::File::create(dir.join("boot-service.log"))?;
        let service = ns
            .command(boot_service.to_str().context("boot-service path")?)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the boot service")?;
        let mut lab = Lab { ns: Some(ns), dir, service: Some(service), site, clean_up: false };
        lab.wait_healthy()?;
        std::fs::write(lab.dir.join("lab.json"), serde_json::to_string_pretty(&lab.info())?)?;
        Ok(lab)
    }

    /// The lab's namespace.
    pub fn ns(&self) -> &Netns {
        self.ns.as_ref().expect("a lab has its namespace until detached")
    }

    pub fn info(&self) -> LabInfo {
        LabInfo {
            namespace: self.ns().name().to_owned(),
            bridge: BRIDGE.into(),
            server: SERVER_IP.into(),
            api: format!("http://{SERVER_IP}:{HTTP_PORT}/api/v1"),
            admin_token: ADMIN_TOKEN.into(),
            dir: self.dir.clone(),
            boot_service_pid: self.service.as_ref().map_or(0, Child::id),
            site_dhcp_namespace: self.site.as_ref().map(|site| site.namespace().to_owned()),
        }
    }

    fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.get("/healthz").is_ok() {
                return Ok(());
            }
            if let Some(status) = self.service.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("boot service exited ({status}):\n{}", self.service_log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("boot service did not become healthy:\n{}", self.service_log())
    }

    pub fn service_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("boot-service.log")).unwrap_or_default()
    }

    /// GET a path of the boot service from inside the namespace.
    pub fn get(&self, path: &str) -> anyhow::Result<String> {
        Ok(self.ns().exec("curl", &["-sf", "--max-time", "10", &format!("http://{SERVER_IP}:{HTTP_PORT}{path}")])?)
    }

    pub fn nodes(&self) -> anyhow::Result<Vec<NodeRecord>> {
        let list: Vec<NodeRecord> = serde_json::from_str(&self.get("/api/v1/nodes")?)?;
        list.into_iter().map(|n| self.node(n.id.0)).collect()
    }

    /// One node with its events.
    pub fn node(&self, id: i64) -> anyhow::Result<NodeRecord> {
        Ok(serde_json::from_str(&self.get(&format!("/api/v1/nodes/{id}"))?)?)
    }

    pub fn node_by_mac(&self, mac: &str) -> anyhow::Result<Option<NodeRecord>> {
        Ok(self.nodes()?.into_iter().find(|n| n.macs.iter().any(|m| m.to_string() == mac)))
    }

    /// Wait until the node with `mac` is ready or failed; its final record.
    /// Wait until the node is ready (its installed OS reported in) or failed.
    pub fn wait_finished(&self, mac: &str, limit: Duration) -> anyhow::Result<NodeRecord> {
        self.wait_state(mac, &[NodeState::Ready, NodeState::Failed], limit)
    }

    pub fn wait_state(&self, mac: &str, states: &[NodeState], limit: Duration) -> anyhow::Result<NodeRecord> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(node) = self.node_by_mac(mac)?
                && states.contains(&node.state)
            {
                return Ok(node);
            }
            if Instant::now() > deadline {
                let now = self.node_by_mac(mac)?.map(|n| n.state.to_string()).unwrap_or_else(|| "unknown".into());
                bail!("node {mac} did not reach {states:?} within {limit:?} (it is {now})");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Run `command` on an installed server as root over SSH with the lab's operator key, from inside
    /// the lab namespace; its standard output.
    pub fn ssh(&self, address: std::net::Ipv4Addr, command: &str) -> anyhow::Result<String> {
        let key = crate::ssh::lab_key()?;
        let key = key.to_str().context("key path")?;
        let target = format!("root@{address}");
        let args = [
            "-i",
            key,
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            &target,
            command,
        ];
        Ok(self.ns().exec("ssh", &args)?)
    }

    /// An admin's call to the node API (`POST`), as the CLI makes it.
    pub fn admin_post(&self, path: &str) -> anyhow::Result<String> {
        let url = format!("http://{SERVER_IP}:{HTTP_PORT}{path}");
        let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
        Ok(self.ns().exec("curl", &["-sf", "--max-time", "10", "-X", "POST", "-H", &auth, &url])?)
    }
}

impl Lab {
    /// Leave the lab running after this process ends (`cargo xtask lab up`); `lab.json` says how to
    /// find it again with [`Lab::attach`].
    pub fn detach(mut self) -> LabInfo {
        let info = self.info();
        // Dropping a Child handle neither kills nor waits; the namespace is kept by persist().
        drop(self.service.take());
        if let Some(ns) = self.ns.take() {
            ns.persist();
        }
        if let Some(site) = self.site.take() {
            site.detach();
        }
        info
    }

    /// Remove the lab's directory (disks, logs) when it is dropped, unless a failing test is unwinding:
    /// a failure keeps everything for a post-mortem.
    pub fn clean_up_on_success(&mut self) {
        self.clean_up = true;
    }

    /// Take charge of a detached lab again (dropping it then tears it down).
    pub fn attach(info: &LabInfo) -> anyhow::Result<Lab> {
        let ns = Netns::adopt(&info.namespace)?;
        let site = info.site_dhcp_namespace.as_deref().map(SiteDhcp::adopt).transpose()?;
        Ok(Lab { ns: Some(ns), dir: info.dir.clone(), service: None, site, clean_up: false })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.service.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.clean_up && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The rack every lab server stands in.
pub const LAB_RACK: &str = "rack1";
