//! The boot storm's peer: dnsmasq as the DHCP server and nginx serving the script and files, started
//! fresh for each storm; and the peak memory of a set of processes and their children (nginx's workers).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rackhand_bench::configs::{dnsmasq_storm_args, nginx_storm_conf};
use rackhand_bench::parse::{stat_ppid, vm_hwm_kib};

use crate::env::{Pair, Proc, Proto, spawn, wait_listening};

pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";
pub const NGINX: &str = "/usr/sbin/nginx";

/// dnsmasq + nginx, stopped when dropped.
pub struct Peer {
    dnsmasq: Proc,
    nginx: Proc,
}

impl Peer {
    /// Both in `pair.server`, their state in `dir`, nginx serving `root`, sized for `clients`.
    pub fn start(pair: &Pair, dir: &Path, root: &Path, clients: u32) -> anyhow::Result<Peer> {
        let ns = &pair.server;
        let args = dnsmasq_storm_args(&dir.join("leases"));
        let mut dnsmasq = spawn(ns, "dnsmasq (storm DHCP)", DNSMASQ, &args, &[], &dir.join("dnsmasq.log"))?;
        wait_listening(ns, &mut dnsmasq, Proto::Udp, 67)?;
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("tmp")).with_context(|| format!("creating {}", prefix.display()))?;
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, nginx_storm_conf(&prefix, root, clients))
            .with_context(|| format!("writing {}", conf.display()))?;
        let args = ["-c".to_string(), conf.display().to_string(), "-p".into(), prefix.display().to_string()];
        let mut nginx = spawn(ns, "nginx (storm HTTP)", NGINX, &args, &[], &prefix.join("nginx.log"))?;
        wait_listening(ns, &mut nginx, Proto::Tcp, 80)?;
        Ok(Peer { dnsmasq, nginx })
    }

    /// Fails, with its output, if either has exited; else their peak memory together.
    pub fn peak_mib(&mut self) -> anyhow::Result<f64> {
        self.dnsmasq.ensure_running()?;
        self.nginx.ensure_running()?;
        peak_mib(&[self.dnsmasq.pid(), self.nginx.pid()])
    }

    pub fn stop(&mut self) {
        self.nginx.stop(Duration::from_secs(5));
        self.dnsmasq.stop(Duration::from_secs(5));
    }
}

/// The sum of the peak resident memory (VmHWM) of `pids` and of their children, in MiB. Pages a
/// forked child shares with its parent count in each, as in each one's VmHWM.
pub fn peak_mib(pids: &[u32]) -> anyhow::Result<f64> {
    let mut all = pids.to_vec();
    all.extend(children_of(pids));
    let mut kib = 0;
    for pid in all {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        kib += vm_hwm_kib(&status).with_context(|| format!("no VmHWM in /proc/{pid}/status"))?;
    }
    Ok(kib as f64 / 1024.0)
}

/// The processes whose parent is one of `pids`.
fn children_of(pids: &[u32]) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat_ppid(&stat).is_some_and(|ppid| pids.contains(&ppid))
        })
        .collect()
}
