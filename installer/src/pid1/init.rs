//! What PID 1 has to do itself: mount the kernel filesystems, load modules, finish with reboot or power
//! off, and — on failure — never exit: reap zombies and offer a rescue shell on the console.

use std::io::BufRead;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::reboot::{RebootMode, reboot};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::plan::FinishAction;

/// `PATH` for the programs PID 1 runs (the kernel starts init without one).
pub const INIT_PATH: &str = "/sbin:/usr/sbin:/bin:/usr/bin";

/// The caller's `PATH`, or [`INIT_PATH`] when there is none.
pub fn search_path() -> String {
    std::env::var("PATH").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| INIT_PATH.to_owned())
}

/// Mount proc, sysfs, devtmpfs and a tmpfs on /run; an already mounted one is fine.
pub fn mount_early() {
    let mounts: [(&str, &str, &str); 4] = [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
        ("tmpfs", "/run", "tmpfs"),
    ];
    for (source, target, fstype) in mounts {
        let _ = std::fs::create_dir_all(target);
        let flags = MsFlags::MS_NOSUID | if fstype == "devtmpfs" { MsFlags::empty() } else { MsFlags::MS_NODEV };
        match mount(Some(source), target, Some(fstype), flags, None::<&str>) {
            Ok(()) | Err(Errno::EBUSY) => {}
            Err(e) => tracing::warn!("mounting {target}: {e}"),
        }
    }
}

/// Load each module listed in `list` (`name [params]` per line, in order) with `/sbin/modprobe`.
pub fn load_modules(list: &Path) {
    let Ok(text) = std::fs::read_to_string(list) else {
        tracing::warn!("no module list at {}", list.display());
        return;
    };
    let modprobe =
        ["/sbin/modprobe", "/bin/modprobe"].into_iter().find(|p| Path::new(p).exists()).unwrap_or("modprobe");
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let args: Vec<&str> = line.split_whitespace().collect();
        match Command::new(modprobe).args(&args).env("PATH", search_path()).output() {
            Ok(out) if out.status.success() => tracing::info!("module {} loaded", args[0]),
            Ok(out) => {
                tracing::warn!("module {}: {}", args[0], String::from_utf8_lossy(&out.stderr).trim());
            }
            Err(e) => tracing::warn!("module {}: {modprobe}: {e}", args[0]),
        }
    }
}

/// Flush the disks and reboot or power off. Returns only if the kernel refused.
pub fn finish(action: FinishAction) -> nix::Error {
    nix::unistd::sync();
    let mode = match action {
        FinishAction::Reboot => RebootMode::RB_AUTOBOOT,
        FinishAction::PowerOff => RebootMode::RB_POWER_OFF,
    };
    match reboot(mode) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// The rescue shell: busybox `setsid cttyhack sh`, so the shell gets the real console device (ttyS0 on a
/// serial-only machine, tty1 on a screen) as its controlling terminal and Ctrl-C works.
fn spawn_shell() -> std::io::Result<std::process::Child> {
    let busybox = Path::new("/bin/busybox");
    let mut cmd = if busybox.exists() {
        let mut c = Command::new(busybox);
        c.args(["setsid", "/bin/busybox", "cttyhack", "/bin/sh", "-l"]);
        c
    } else {
        Command::new("/bin/sh")
    };
    cmd.env("PATH", search_path()).env("PS1", "rackhand-rescue# ").spawn()
}

/// PID 1 after a failure: never returns. Reaps every zombie; Enter on the console starts a rescue shell
/// (one at a time); when it exits, `redraw` puts the failure screen back.
pub fn rescue_forever(mut redraw: impl FnMut()) -> ! {
    let (keys, pressed) = mpsc::channel::<()>();
    let (resume, resumed) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => std::thread::sleep(Duration::from_secs(5)),
                Ok(_) => {
                    let _ = keys.send(());
                    // Let the shell have the console until it exits.
                    let _ = resumed.recv();
                }
            }
        }
    });
    loop {
        reap_all();
        if pressed.recv_timeout(Duration::from_secs(1)).is_err() {
            continue;
        }
        match spawn_shell() {
            Ok(child) => {
                tracing::info!("rescue shell started; exit it to return to the failure screen");
                wait_for(Pid::from_raw(child.id() as i32));
            }
            Err(e) => tracing::warn!("rescue shell: {e}"),
        }
        redraw();
        let _ = resume.send(());
    }
}

/// Reap every exited child without blocking.
pub fn reap_all() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Block until `pid` exits, reaping any other child that exits meanwhile.
fn wait_for(pid: Pid) {
    loop {
        match waitpid(None, None) {
            Ok(status) if status.pid() == Some(pid) => return,
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}
