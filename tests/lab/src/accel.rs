//! Which QEMU accelerator to use. TCG always works; KVM is used only after a short probe boot under it
//! succeeds, because some hosts have a `/dev/kvm` (nested, paravirtual) that cannot run SeaBIOS/iPXE or a
//! stock kernel and would hang every boot.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    pub fn qemu_arg(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

/// TCG, unless `/dev/kvm` exists and a probe boot of `kernel` + `probe_initrd` (which prints `marker`
/// and powers off) reaches user space under KVM. `RACKHAND_LAB_ACCEL=tcg|kvm` skips the probe. The
/// probe's answer is cached in `cache` so only the first run pays for it.
pub fn choose(kernel: &Path, probe_initrd: &Path, marker: &str, cache: &Path) -> Accel {
    match std::env::var("RACKHAND_LAB_ACCEL").as_deref() {
        Ok("tcg") => return Accel::Tcg,
        Ok("kvm") => return Accel::Kvm,
        _ => {}
    }
    if !Path::new("/dev/kvm").exists() {
        return Accel::Tcg;
    }
    match std::fs::read_to_string(cache).as_deref().map(str::trim) {
        Ok("kvm") => return Accel::Kvm,
        Ok("tcg") => return Accel::Tcg,
        _ => {}
    }
    let accel = if probe(kernel, probe_initrd, marker, Duration::from_secs(20)) { Accel::Kvm } else { Accel::Tcg };
    let _ = std::fs::write(cache, accel.qemu_arg());
    accel
}

fn probe(kernel: &Path, initrd: &Path, marker: &str, limit: Duration) -> bool {
    let Ok(mut child) = Command::new("qemu-system-x86_64")
        .args(["-machine", "q35,accel=kvm", "-m", "256", "-nodefaults", "-display", "none", "-serial", "stdio"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1", "-no-reboot"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let output = child.wait_with_output().map(|o| o.stdout).unwrap_or_default();
    String::from_utf8_lossy(&output).contains(marker)
}
