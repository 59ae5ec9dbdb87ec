//! Throwaway network namespaces for tests and the lab.
//!
//! Every namespace made here is uniquely named (prefix, process id, counter), brought up with its own
//! loopback, and deleted — with every process still inside it killed — when its [`Netns`] is dropped.
//! Nothing here touches the host's own interfaces: veth pairs and bridges are created directly inside
//! the namespaces that own them.

pub mod client;
mod forward;
pub mod lldpd;
pub mod service;

use std::io;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Environment variable that turns every "SKIPPED" (no root, a missing tool, a kernel without a driver)
/// into a test failure (set by `cargo xtask test` as root).
pub const REQUIRE_ENV: &str = "RACKHAND_REQUIRE_NETNS";

/// Why namespace tests cannot run here, or `None` when they can.
pub fn unavailable_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("network-namespace tests need root".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("network-namespace tests need `ip` from iproute2".into()),
    }
}

/// Skip the calling test (with a visible message) when namespaces are unavailable, or fail it when
/// [`REQUIRE_ENV`] is set, so CI never passes silently without running it.
#[macro_export]
macro_rules! require_netns {
    () => {
        if let Some(reason) = $crate::unavailable_reason() {
            $crate::skip_unless_required(&reason);
            return;
        }
    };
}

/// A test that cannot run here (`reason`: what is missing and how to get it) says `SKIPPED <test>:
/// <reason>` and returns to skip, or panics when [`REQUIRE_ENV`] is set: a root CI run, where every test
/// runs or fails. The test is named by its thread, which libtest names after it.
pub fn skip_unless_required(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    if std::env::var_os(REQUIRE_ENV).is_some() {
        panic!("{test} cannot run: {reason} ({REQUIRE_ENV} is set, so it fails instead of skipping)");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

/// A network namespace that is removed when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create `rh-<prefix>-<pid>-<n>` with its loopback up.
    pub fn create(prefix: &str) -> io::Result<Netns> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("rh-{prefix}-{}-{n}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Keep the namespace after this handle is gone (a lab left up for exploring); [`Netns::adopt`]
    /// takes it back later.
    pub fn persist(self) -> String {
        let name = self.name.clone();
        std::mem::forget(self);
        name
    }

    /// Take charge of an existing namespace by name (it is removed when the handle drops).
    pub fn adopt(name: &str) -> io::Result<Netns> {
        if exists(name)? {
            Ok(Netns { name: name.to_owned() })
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, format!("no network namespace `{name}`")))
        }
    }

    /// A tap device inside the namespace, enslaved to `bridge` and up (for a QEMU NIC).
    pub fn tap_on_bridge(&self, tap: &str, bridge: &str) -> io::Result<()> {
        self.ip(&["tuntap", "add", "dev", tap, "mode", "tap"])?;
        self.ip(&["link", "set", tap, "master", bridge])?;
        self.link_up(tap)
    }

    /// A command that runs `program` inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Run `ip -n <ns> args...`, failing with its stderr.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Run `program args...` inside the namespace and return its stdout, failing with its stderr.
    pub fn exec(&self, program: &str, args: &[&str]) -> io::Result<String> {
        run(self.command(program).args(args))
    }

    /// Add `addr` (CIDR) to `ifname` and bring it up.
    pub fn addr_up(&self, ifname: &str, cidr: &str) -> io::Result<()> {
        self.ip(&["addr", "add", cidr, "dev", ifname])?;
        self.link_up(ifname)
    }

    pub fn link_up(&self, ifname: &str) -> io::Result<()> {
        self.ip(&["link", "set", ifname, "up"]).map(drop)
    }

    /// Create a bridge inside this namespace, up.
    pub fn bridge(&self, name: &str) -> io::Result<()> {
        self.ip(&["link", "add", name, "type", "bridge"])?;
        self.link_up(name)
    }

    /// Run `f` on a new thread that has entered this namespace (network namespaces are per thread), so
    /// sockets it opens live in the namespace. The thread is the caller's to join.
    pub fn spawn_inside<T, F>(&self, f: F) -> io::Result<std::thread::JoinHandle<io::Result<T>>>
    where
        F: FnOnce() -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        spawn_inside_named(&self.name, f)
    }

    /// The processes running inside the namespace.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        let pids = run(Command::new("ip").args(["netns", "pids", &self.name]))?;
        Ok(pids.split_whitespace().filter_map(|pid| pid.parse().ok()).collect())
    }

    /// Kill every process still running inside the namespace.
    pub fn kill_all(&self) {
        for pid in self.pids().unwrap_or_default() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.kill_all();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Whether a namespace called `name` exists.
pub fn exists(name: &str) -> io::Result<bool> {
    let list = run(Command::new("ip").args(["netns", "list"]))?;
    Ok(list.lines().any(|l| l.split_whitespace().next() == Some(name)))
}

/// [`Netns::spawn_inside`] for a namespace known by name only, which this does not own (nor remove).
pub fn spawn_inside_named<T, F>(name: &str, f: F) -> io::Result<std::thread::JoinHandle<io::Result<T>>>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let handle = std::fs::File::open(format!("/var/run/netns/{name}"))?;
    Ok(std::thread::spawn(move || {
        nix::sched::setns(handle, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        f()
    }))
}

/// A veth pair with one end in each namespace: `a_if` inside `a`, `b_if` inside `b`. Both ends are up.
pub fn veth_pair(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> io::Result<()> {
    a.ip(&["link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name()])?;
    a.link_up(a_if)?;
    b.link_up(b_if)
}

fn run(cmd: &mut Command) -> io::Result<String> {
    let out: Output = cmd.output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_created_connected_and_removed() {
        require_netns!();
        let a = Netns::create("selftest").unwrap();
        let b = Netns::create("selftest").unwrap();
        assert_ne!(a.name(), b.name());
        veth_pair(&a, "va", &b, "vb").unwrap();
        a.addr_up("va", "10.99.0.1/24").unwrap();
        b.addr_up("vb", "10.99.0.2/24").unwrap();
        b.exec("ping", &["-c", "1", "-W", "2", "10.99.0.1"]).unwrap();
        let inside = b.spawn_inside(|| std::net::TcpListener::bind("10.99.0.2:0").map(drop)).unwrap();
        inside.join().unwrap().expect("a thread inside b can bind b's address");
        let name = a.name().to_owned();
        drop(a);
        let list = run(Command::new("ip").args(["netns", "list"])).unwrap();
        assert!(!list.lines().any(|l| l.split_whitespace().next() == Some(name.as_str())));
    }
}
