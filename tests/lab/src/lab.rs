//! A lab: a uniquely named namespace with a bridge at 10.77.0.1/24 and the boot service on it, serving
//! the netboot assets and the lab's images. `target/lab/<namespace>/lab.json` describes it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rackhand_api::{NodeRecord, NodeState};
use rackhand_netns::{Netns, veth_pair};
use serde::{Deserialize, Serialize};

use crate::assets::Assets;
use crate::instance::{Instance, PEER_IP};
use crate::service_config::{boot_service_config, deploy_config, peer_config};
use crate::site_dhcp::SiteDhcp;
use crate::switch::Switches;

mod bare;

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
    /// `[deploy] installer_deadline`: from the installer's script until its first report (and between reports).
    pub installer: Option<Duration>,
    pub reboot: Option<Duration>,
    pub first_boot: Option<Duration>,
    /// `[deploy] bmc_boot_deadline`: a reprovision through the BMC until the server network-boots.
    pub bmc_boot: Option<Duration>,
}

pub struct Lab {
    /// The boot-service instances: the lab's own first, then (two-instance lab) the second. Dropped
    /// (killed) before the namespace.
    instances: Vec<Instance>,
    /// The instance the lab's reads (`get`, `nodes`, `wait_*`) ask: the lab's own unless told otherwise.
    reads: usize,
    /// The top-of-rack switches' LLDP agents, running in the namespace (stopped before it goes).
    switches: Option<Switches>,
    ns: Option<Netns>,
    pub dir: PathBuf,
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
        Lab::up_instances(base, boot_service, assets, images, dhcp, deadlines, None)
    }

    /// A lab with two boot-service instances on one PostgreSQL database (`postgres`, a connection string
    /// both can reach): the lab's own at 10.77.0.1 and a second at [`PEER_IP`] in a namespace of its own
    /// cabled to the lab's bridge, each naming the other in `[http] peers` (full DHCP).
    pub fn up_pair(
        base: &Path,
        boot_service: &Path,
        assets: &Assets,
        images: &Path,
        postgres: &str,
    ) -> anyhow::Result<Lab> {
        Lab::up_instances(base, boot_service, assets, images, LabDhcp::Full, &Deadlines::default(), Some(postgres))
    }

    fn up_instances(
        base: &Path,
        boot_service: &Path,
        assets: &Assets,
        images: &Path,
        dhcp: LabDhcp,
        deadlines: &Deadlines,
        postgres: Option<&str>,
    ) -> anyhow::Result<Lab> {
        let ns = Netns::create("lab")?;
        ns.bridge(BRIDGE)?;
        ns.addr_up(BRIDGE, &format!("{SERVER_IP}/24"))?;
        let dir = base.join(ns.name());
        std::fs::create_dir_all(&dir)?;
        let switches = Switches::start(&ns, &dir)?;
        let site = match dhcp {
            LabDhcp::Full => None,
            LabDhcp::Proxy => Some(SiteDhcp::start(&ns, &dir)?),
        };
        let key = crate::ssh::lab_public_key()?;
        let write_config = |name: &str, address: &'static str, peer: &'static str| -> anyhow::Result<PathBuf> {
            let writer = boot_service_config(&dir.join("data"), &assets.dir, images, dhcp);
            let writer = match postgres {
                Some(postgres) => peer_config(writer, address, peer, postgres),
                None => writer,
            };
            let writer = deploy_config(writer, &key, deadlines);
            let path = dir.join(name);
            std::fs::write(&path, format!("# Written by the Rackhand lab.\n{}", writer.render()?))?;
            Ok(path)
        };
        let mut instances = vec![Instance::new(
            SERVER_IP,
            None,
            boot_service,
            write_config("boot-service.toml", SERVER_IP, PEER_IP)?,
            dir.join("boot-service.log"),
        )];
        if postgres.is_some() {
            let peer_ns = Netns::create("labpeer")?;
            veth_pair(&ns, "peer0", &peer_ns, "eth0")?;
            ns.ip(&["link", "set", "peer0", "master", BRIDGE])?;
            peer_ns.addr_up("eth0", &format!("{PEER_IP}/24"))?;
            let config = write_config("boot-service-b.toml", PEER_IP, SERVER_IP)?;
            instances.push(Instance::new(PEER_IP, Some(peer_ns), boot_service, config, dir.join("boot-service-b.log")));
        }
        let mut lab = Lab { instances, reads: 0, switches: Some(switches), ns: Some(ns), dir, site, clean_up: false };
        for i in 0..lab.instances.len() {
            lab.start_instance(i)?;
        }
        std::fs::write(lab.dir.join("lab.json"), serde_json::to_string_pretty(&lab.info())?)?;
        Ok(lab)
    }

    /// Start instance `i` (0: the lab's own, 1: the second) and wait until it is healthy.
    pub fn start_instance(&mut self, i: usize) -> anyhow::Result<()> {
        let ns = self.ns.as_ref().context("a detached lab")?;
        self.instances[i].start(ns)
    }

    /// SIGKILL instance `i`.
    pub fn kill_instance(&mut self, i: usize) {
        self.instances[i].kill();
    }

    /// GET a path of instance `i` from inside the lab's namespace.
    pub fn get_from(&self, i: usize, path: &str) -> anyhow::Result<String> {
        self.instances
            .get(i)
            .with_context(|| format!("this lab has no boot-service instance {i}"))?
            .get(self.ns(), path)
    }

    /// Instance `i`'s base URL (its `public_url`).
    pub fn instance_url(&self, i: usize) -> String {
        self.instances[i].url()
    }

    /// Node `id` with its events, as instance `i` answers.
    pub fn node_from(&self, i: usize, id: i64) -> anyhow::Result<NodeRecord> {
        Ok(serde_json::from_str(&self.get_from(i, &format!("/api/v1/nodes/{id}"))?)?)
    }

    /// The lab's switches, to cable a server's NICs to.
    pub fn switches(&self) -> &Switches {
        self.switches.as_ref().expect("a lab has its switches until detached")
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
            boot_service_pid: self.instances.first().and_then(|i| i.child.as_ref()).map_or(0, std::process::Child::id),
            site_dhcp_namespace: self.site.as_ref().map(|site| site.namespace().to_owned()),
        }
    }

    /// The log of every instance (the lab's own first).
    pub fn service_log(&self) -> String {
        let logs: Vec<String> =
            self.instances.iter().map(|i| format!("--- boot service {} ---\n{}", i.address, i.log())).collect();
        logs.join("\n")
    }

    /// GET a path of the boot service (the instance [`Lab::read_from`] chose) from inside the namespace.
    pub fn get(&self, path: &str) -> anyhow::Result<String> {
        self.get_from(self.reads, path)
    }

    /// Ask instance `i` from now on in [`Lab::get`], [`Lab::nodes`] and the waits.
    pub fn read_from(&mut self, i: usize) {
        self.reads = i;
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
                let Some(node) = self.node_by_mac(mac)? else {
                    bail!("node {mac} did not reach {states:?} within {limit:?} (the boot service never saw it)");
                };
                // What it last did comes first: a CI log may show only the start of a failure.
                bail!(
                    "node {mac} did not reach {states:?} within {limit:?} (it is {}); its last events:\n{}",
                    node.state,
                    last_events(&node, 12)
                );
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

    /// An admin's call to the node API with a JSON body (`PUT /api/v1/nodes/3/bmc`), as the CLI makes
    /// it; the answer's body.
    pub fn admin_send(&self, method: &str, path: &str, body: &serde_json::Value) -> anyhow::Result<String> {
        let url = format!("http://{SERVER_IP}:{HTTP_PORT}{path}");
        let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
        let body = body.to_string();
        let args = ["-sS", "--fail-with-body", "--max-time", "60", "-X", method, "-H", &auth];
        let args = [&args[..], &["-H", "Content-Type: application/json", "--data", &body, &url]].concat();
        Ok(self.ns().exec("curl", &args)?)
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
        for instance in &mut self.instances {
            drop(instance.child.take());
        }
        if let Some(switches) = self.switches.take() {
            switches.detach();
        }
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
        // The lab's own instance, to read from (its process is not this one's child: it is left running).
        let own = Instance::new(
            SERVER_IP,
            None,
            Path::new("boot-service"),
            info.dir.join("boot-service.toml"),
            info.dir.join("boot-service.log"),
        );
        let switches = Some(Switches::attach(&info.dir));
        Ok(Lab { instances: vec![own], reads: 0, switches, ns: Some(ns), dir: info.dir.clone(), site, clean_up: false })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.instances.clear();
        if self.clean_up && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The rack every lab server stands in.
pub const LAB_RACK: &str = "rack1";

/// The node's last `count` events, one line each, oldest first.
pub fn last_events(node: &NodeRecord, count: usize) -> String {
    let skip = node.events.len().saturating_sub(count);
    let lines = node.events.iter().skip(skip).map(|e| format!("  {} {}", e.at, serde_json::json!(e.kind)));
    lines.collect::<Vec<_>>().join("\n")
}
