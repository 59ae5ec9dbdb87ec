//! The thin I/O every benchmark shares: the namespace pair, servers that are killed when dropped,
//! waiting for a port, timing a command, finding a peer.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rackhand_bench::configs::{CLIENT_IF, CLIENT_IP, Instance, PREFIX, SECOND_SERVER_IP, SERVER_IF, SERVER_IP};
use rackhand_netns::{Netns, veth_pair};

/// Everything one benchmark run needs to know.
pub struct Ctx {
    pub smoke: bool,
    pub runs: usize,
    pub boot_service: PathBuf,
    /// Scratch space, removed at the end.
    pub work: PathBuf,
    /// The boot storm's sizes instead of the default ones (`--storm-clients`).
    pub storm_clients: Vec<u32>,
}

/// A server namespace and a client namespace joined by a veth ([`SERVER_IF`] ↔ [`CLIENT_IF`]).
pub struct Pair {
    pub server: Netns,
    pub client: Netns,
}

impl Pair {
    pub fn create() -> anyhow::Result<Pair> {
        let server = Netns::create("bench-srv").context("creating the server namespace")?;
        let client = Netns::create("bench-cli").context("creating the client namespace")?;
        veth_pair(&server, SERVER_IF, &client, CLIENT_IF).context("creating the veth pair")?;
        server.addr_up(SERVER_IF, &format!("{SERVER_IP}/{PREFIX}")).context("server address")?;
        client.addr_up(CLIENT_IF, &format!("{CLIENT_IP}/{PREFIX}")).context("client address")?;
        Ok(Pair { server, client })
    }

    /// A pair whose server interface also has [`SECOND_SERVER_IP`], for a second boot-service instance
    /// on the same segment: both instances' DHCP sockets are bound to that interface (and port 67, with
    /// SO_REUSEADDR), so each hears every broadcast; each answers with its own server identifier.
    pub fn with_second_server() -> anyhow::Result<Pair> {
        let pair = Pair::create()?;
        pair.server
            .ip(&["addr", "add", &format!("{SECOND_SERVER_IP}/{PREFIX}"), "dev", SERVER_IF])
            .context("second server address")?;
        Ok(pair)
    }
}

/// A server process; stopped (TERM, then KILL) when dropped.
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    done: bool,
}

/// Start `program args` inside `ns`, its output to `log`.
pub fn spawn(
    ns: &Netns,
    name: &str,
    program: &str,
    args: &[String],
    envs: &[(&str, &str)],
    log: &Path,
) -> anyhow::Result<Proc> {
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    let mut cmd = ns.command(program);
    cmd.args(args).envs(envs.iter().copied()).stdin(Stdio::null()).stdout(out).stderr(err);
    let child = cmd.spawn().with_context(|| format!("starting {name} ({program})"))?;
    Ok(Proc { name: name.into(), child, log: log.to_owned(), done: false })
}

impl Proc {
    /// The process id (`ip netns exec` execs the program, so this is the server itself).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CPU time (user + system, all its threads) it has used so far, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let path = format!("/proc/{}/stat", self.pid());
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let ticks = rackhand_bench::parse::stat_cpu_ticks(&stat).with_context(|| format!("no CPU times in {path}"))?;
        Ok(ticks as f64 / clock_ticks_per_second()?)
    }

    /// The last lines of its output, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Fails, with its output, if it has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            self.done = true;
            bail!("{} exited ({status}); its output:\n{}", self.name, self.log_tail());
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `grace`; waits for it. How it exited, if it did on SIGTERM (`None`:
    /// killed, or stopped before).
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if self.done {
            return None;
        }
        self.done = true;
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// [`Self::stop`], failing with its output unless it exited 0 within `grace`: for our own servers, whose
    /// SIGTERM is a clean shutdown (a panic on the way out once went unseen here).
    pub fn stop_cleanly(&mut self, grace: Duration) -> anyhow::Result<()> {
        match self.stop(grace) {
            Some(status) if status.success() => Ok(()),
            Some(status) => bail!("{} exited {status} on SIGTERM; its output:\n{}", self.name, self.log_tail()),
            None => bail!("{} did not exit within {grace:?} of SIGTERM; its output:\n{}", self.name, self.log_tail()),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

/// The unit of `/proc/<pid>/stat`'s CPU times.
fn clock_ticks_per_second() -> anyhow::Result<f64> {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.context("sysconf(CLK_TCK) has no value")?;
    Ok(ticks as f64)
}

/// The CPU time (user + system) of the children this process has waited for, in seconds: its delta
/// around a command run to completion is that command's.
pub fn children_cpu_seconds() -> anyhow::Result<f64> {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(seconds(usage.user_time()) + seconds(usage.system_time()))
}

#[derive(Clone, Copy)]
pub enum Proto {
    Udp,
    Tcp,
}

/// Wait until something listens on `port` in `ns` (and `proc` is still alive), at most 20 s.
pub fn wait_listening(ns: &Netns, proc: &mut Proc, proto: Proto, port: u16) -> anyhow::Result<()> {
    wait_for_socket(ns, proc, proto, port, false)
}

/// Wait until `proc` itself listens on `port` in `ns` (another process may already), at most 20 s.
pub fn wait_own_listening(ns: &Netns, proc: &mut Proc, proto: Proto, port: u16) -> anyhow::Result<()> {
    wait_for_socket(ns, proc, proto, port, true)
}

fn wait_for_socket(ns: &Netns, proc: &mut Proc, proto: Proto, port: u16, own: bool) -> anyhow::Result<()> {
    let flag = match (proto, own) {
        (Proto::Udp, false) => "-Hlun",
        (Proto::Tcp, false) => "-Hltn",
        (Proto::Udp, true) => "-Hlunp",
        (Proto::Tcp, true) => "-Hltnp",
    };
    // With -p, ss names each socket's processes as `pid=N,`.
    let owner = format!("pid={},", proc.pid());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        proc.ensure_running()?;
        let out = ns.exec("ss", &[flag, &format!("sport = :{port}")]).context("running ss")?;
        if !out.trim().is_empty() && (!own || out.contains(&owner)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} did not listen on port {port} within 20 s; its output:\n{}", proc.name, proc.log_tail());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Run `cmd` to completion and time it; fails naming the command and its stderr unless `ok(status)`.
pub fn timed(what: &str, cmd: &mut Command, ok: impl Fn(Option<i32>) -> bool) -> anyhow::Result<(Duration, Output)> {
    let start = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("starting {what}: {cmd:?}"))?;
    let took = start.elapsed();
    if !ok(out.status.code()) {
        bail!(
            "{what} failed ({}): {cmd:?}\nstderr: {}\nstdout: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok((took, out))
}

/// The peers found missing by [`peer`] in this run, so that a run that must have them all
/// (`--require-peers`, CI's smoke pass) fails instead of reporting them unavailable.
static MISSING: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A peer's program, or why it cannot be measured (remembered for [`missing_peers`]).
pub fn peer(program: &str, package: &str) -> Result<String, String> {
    if Path::new(program).exists() {
        Ok(program.to_owned())
    } else {
        let why = format!("peer unavailable: {program} not installed (Debian package {package})");
        let mut missing = MISSING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !missing.contains(&why) {
            missing.push(why.clone());
        }
        Err(why)
    }
}

/// Every peer [`peer`] found missing so far.
pub fn missing_peers() -> Vec<String> {
    MISSING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

/// A fresh directory under the work dir.
pub fn fresh_dir(ctx: &Ctx, name: &str) -> anyhow::Result<PathBuf> {
    let dir = ctx.work.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Start boot-service with the bench config in `pair.server`, serving `assets` and `images`, its
/// store under `data`; returns once DHCP, TFTP and HTTP all listen.
pub fn start_boot_service(ctx: &Ctx, ns: &Netns, dir: &Path, assets: &Path, images: &Path) -> anyhow::Result<Proc> {
    start_instance(ctx, ns, dir, assets, images, &Instance::default())
}

/// [`start_boot_service`] as `instance` says (its own address, PostgreSQL, peers); returns once this
/// process listens on DHCP, TFTP and HTTP (several instances share the namespace's ports).
pub fn start_instance(
    ctx: &Ctx,
    ns: &Netns,
    dir: &Path,
    assets: &Path,
    images: &Path,
    instance: &Instance,
) -> anyhow::Result<Proc> {
    use rackhand_bench::configs::{BootServiceDirs, boot_service_toml};
    let data = dir.join("data");
    std::fs::create_dir_all(assets)?;
    std::fs::create_dir_all(images)?;
    let config = dir.join("boot-service.toml");
    std::fs::write(&config, boot_service_toml(&BootServiceDirs { data: &data, assets, images }, instance)?)?;
    let program = ctx.boot_service.to_string_lossy().into_owned();
    let args = ["serve".to_string(), "--config".into(), config.display().to_string()];
    let mut proc = spawn(ns, "boot-service", &program, &args, &[("RUST_LOG", "warn")], &dir.join("boot-service.log"))?;
    wait_own_listening(ns, &mut proc, Proto::Udp, 67)?;
    wait_own_listening(ns, &mut proc, Proto::Udp, 69)?;
    wait_own_listening(ns, &mut proc, Proto::Tcp, 80)?;
    Ok(proc)
}
