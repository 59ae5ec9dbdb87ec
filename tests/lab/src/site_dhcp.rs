//! A site's own DHCP server, the setting proxyDHCP mode exists for: dnsmasq in a namespace of its own,
//! cabled to the lab bridge by a veth, handing out addresses and saying nothing about booting.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rackhand_netns::{Netns, veth_pair};

use crate::lab::BRIDGE;

/// Where Debian's dnsmasq-base puts it.
pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";
pub const SITE_DHCP_IP: &str = "10.77.0.2";
/// The addresses the site server hands out: 10.77.0.150 to .199.
pub const SITE_POOL: std::ops::RangeInclusive<u8> = 150..=199;

/// The running site server. Dropping it stops dnsmasq and removes its namespace, unless detached.
pub struct SiteDhcp {
    /// None once adopted from another process (the namespace's processes are killed when it drops).
    child: Option<Child>,
    ns: Option<Netns>,
}

impl SiteDhcp {
    /// Starts dnsmasq in a new namespace whose `eth0` is on `lab`'s bridge; its leases and log go in `dir`.
    pub fn start(lab: &Netns, dir: &Path) -> anyhow::Result<SiteDhcp> {
        if !Path::new(DNSMASQ).exists() {
            bail!("{DNSMASQ} is missing (Debian package dnsmasq-base): the proxyDHCP lab needs a site DHCP server");
        }
        let ns = Netns::create("site")?;
        veth_pair(lab, "site0", &ns, "eth0").context("cabling the site DHCP server")?;
        lab.ip(&["link", "set", "site0", "master", BRIDGE])?;
        ns.addr_up("eth0", &format!("{SITE_DHCP_IP}/24"))?;
        let (first, last) = (SITE_POOL.start(), SITE_POOL.end());
        let log = std::fs::File::create(dir.join("site-dhcp.log"))?;
        let child = ns
            .command(DNSMASQ)
            .args(["--no-daemon", "--port=0", "--interface=eth0", "--bind-interfaces", "--no-ping", "--log-dhcp"])
            .arg(format!("--dhcp-range=10.77.0.{first},10.77.0.{last},255.255.255.0,1h"))
            .arg(format!("--dhcp-leasefile={}", dir.join("site-dhcp.leases").display()))
            .arg("--dhcp-option=option:router,10.77.0.1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting dnsmasq as the site DHCP server")?;
        let mut site = SiteDhcp { child: Some(child), ns: Some(ns) };
        site.wait_listening(dir)?;
        Ok(site)
    }

    /// dnsmasq says it is serving the range once its DHCP socket is open.
    fn wait_listening(&mut self, dir: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let log = std::fs::read_to_string(dir.join("site-dhcp.log")).unwrap_or_default();
            if log.contains("DHCP, IP range") {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().map(Child::try_wait).transpose()?.flatten() {
                bail!("dnsmasq exited ({status}):\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("dnsmasq did not start serving within 10 s")
    }
}

impl SiteDhcp {
    /// The namespace dnsmasq runs in.
    pub fn namespace(&self) -> &str {
        self.ns.as_ref().expect("a site server has its namespace until detached").name()
    }

    /// Leaves dnsmasq running after this process ends (`cargo xtask lab up --proxy`); the namespace name
    /// it returns finds it again with [`SiteDhcp::adopt`].
    pub fn detach(mut self) -> String {
        drop(self.child.take()); // dropping a Child handle neither kills nor waits
        self.ns.take().expect("a site server has its namespace until detached").persist()
    }

    /// Takes charge of a detached site server again: dropping it stops dnsmasq and removes its namespace.
    pub fn adopt(namespace: &str) -> std::io::Result<SiteDhcp> {
        Ok(SiteDhcp { child: None, ns: Some(Netns::adopt(namespace)?) })
    }
}

impl Drop for SiteDhcp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
