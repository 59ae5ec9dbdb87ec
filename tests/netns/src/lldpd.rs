//! A switch's LLDP agent for tests and the lab: Debian's `lldpd` run inside a namespace on the ports it is
//! given, configured as a network team configures a Linux switch: `lldpcli` commands, read at start-up
//! (before lldpd sends anything: it waits for them) and sent to its control socket later.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::Netns;
use crate::service::start_until_up;

/// Why lldpd cannot be run here, or `None` when it can.
pub fn unavailable_reason() -> Option<String> {
    let found = |program: &str| Command::new(program).arg("-v").output().is_ok_and(|out| out.status.success());
    (!found("lldpd") || !found("lldpcli")).then(|| "lldpd and lldpcli are needed (Debian package lldpd)".into())
}

/// One lldpd, its control socket, and its process while this handle runs it.
#[derive(Debug)]
pub struct Lldpd {
    socket: PathBuf,
    child: Option<Child>,
}

impl Lldpd {
    /// Start lldpd in `ns` on the interfaces matching `interfaces` (lldpd's `-I` pattern: names,
    /// wildcards, `!` exclusions), configured with `config` (lldpcli commands, one a line) before it sends
    /// its first frame. Its files are `<dir>/<name>.{conf,sock,pid,log}`; the log keeps its standard error.
    pub fn start(ns: &Netns, dir: &Path, name: &str, interfaces: &str, config: &[String]) -> io::Result<Lldpd> {
        let path = |ext: &str| dir.join(format!("{name}.{ext}"));
        let (conf, socket) = (path("conf"), Lldpd::socket_in(dir, name));
        std::fs::write(&conf, config.iter().map(|line| format!("{line}\n")).collect::<String>())?;
        let mut command = ns.command("lldpd");
        // -dd: in the foreground, logging to standard error only. -O: the lldpcli commands run at start-up
        // (lldpd is paused until they are done); -u, -p: a socket and PID file of its own, so several run at once.
        command.arg("-dd").arg("-O").arg(&conf).arg("-u").arg(&socket).arg("-p").arg(path("pid"));
        command.args(["-I", interfaces]);
        let probe = Lldpd { socket: socket.clone(), child: None };
        let child = start_until_up(command, &path("log"), Duration::from_secs(10), || {
            probe.lldpcli(&["show", "configuration"]).is_ok()
        })?;
        Ok(Lldpd { socket, child: Some(child) })
    }

    /// The control socket of the lldpd [`Lldpd::start`] names `name` in `dir`.
    pub fn socket_in(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.sock"))
    }

    /// The lldpd already running as `name` in `dir` (a detached lab's): configured through its socket,
    /// never stopped by this handle.
    pub fn attach(dir: &Path, name: &str) -> Lldpd {
        Lldpd { socket: Lldpd::socket_in(dir, name), child: None }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Leave the process running after this handle is gone (it dies with its namespace).
    pub fn detach(mut self) {
        drop(self.child.take());
    }

    /// Run `lldpcli -u <socket> args...`, answering its standard output or failing with its error.
    pub fn lldpcli(&self, args: &[&str]) -> io::Result<String> {
        let out = Command::new("lldpcli").arg("-u").arg(&self.socket).args(args).output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // lldpcli exits 0 after some refused commands; it says so on standard error.
        if out.status.success() && !stderr.contains("[WARN") && !stderr.contains("[FATAL") {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(io::Error::other(format!("lldpcli {} failed ({}): {}", args.join(" "), out.status, stderr.trim())))
        }
    }

    /// Wait until lldpd manages `iface` (it notices new interfaces within moments), at most `limit`: a
    /// port's own settings can only be given once it does.
    pub fn wait_for_port(&self, iface: &str, limit: Duration) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let shown = self.lldpcli(&["-f", "keyvalue", "show", "interfaces", "ports", iface])?;
            if shown.lines().any(|line| line.starts_with(&format!("lldp.{iface}."))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("lldpd at {} did not take port {iface} within {limit:?}", self.socket.display()),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Give port `iface` its port ID (subtype "locally assigned": a name such as `Ethernet12`) and port
    /// description, once lldpd manages it.
    pub fn configure_port(&self, iface: &str, port_id: &str, description: &str) -> io::Result<()> {
        self.wait_for_port(iface, Duration::from_secs(10))?;
        self.lldpcli(&["configure", "ports", iface, "lldp", "portidsubtype", "local", port_id])?;
        self.lldpcli(&["configure", "ports", iface, "lldp", "portdescription", description]).map(drop)
    }
}

impl Drop for Lldpd {
    /// SIGTERM (lldpd says goodbye on its ports and removes its socket), then SIGKILL if it lingers.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{require_netns, skip_unless_required, veth_pair};

    #[test]
    fn lldpd_takes_its_configuration_and_a_port_given_later_and_stops_when_dropped() {
        require_netns!();
        if let Some(reason) = unavailable_reason() {
            return skip_unless_required(&reason);
        }
        let dir = tempfile::tempdir().unwrap();
        let (switch, node) = (Netns::create("lldpd-self").unwrap(), Netns::create("lldpd-self").unwrap());
        let config = ["configure system hostname sw-self".to_owned()];
        let lldpd = Lldpd::start(&switch, dir.path(), "sw-self", "swp*", &config).unwrap();
        veth_pair(&switch, "swp3", &node, "eth0").unwrap();
        lldpd.configure_port("swp3", "Ethernet3", "server 3").unwrap();
        let shown = lldpd.lldpcli(&["-f", "keyvalue", "show", "interfaces", "ports", "swp3"]).unwrap();
        for line in
            ["lldp.swp3.chassis.name=sw-self", "lldp.swp3.port.local=Ethernet3", "lldp.swp3.port.descr=server 3"]
        {
            assert!(shown.lines().any(|l| l == line), "{line} in:\n{shown}");
        }
        let refused = lldpd.lldpcli(&["configure", "ports", "swp3", "lldp", "portidsubtype", "bogus"]).unwrap_err();
        assert!(refused.to_string().contains("unknown command"), "{refused}");
        let err = lldpd.wait_for_port("swp9", Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("did not take port swp9"), "{err}");
        let socket = lldpd.socket().to_owned();
        drop(lldpd);
        assert!(!socket.exists(), "lldpd stopped and removed its socket");
    }
}
