//! One timed boot: QEMU with the lab's standard server devices (a virtio-scsi HBA with a small disk, an
//! e1000e and an rtl8139 with no network behind them) boots `-kernel`/`-initrd` straight into the installer;
//! the serial console goes to a file read every few milliseconds, and QEMU is killed at the installer's
//! first step.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use rackhand_api::NodeId;
use rackhand_api::cmdline::{BootParams, Token};

use super::serial::{SerialClock, Timeline};
use crate::accel::Accel;
use crate::lab::{HTTP_PORT, SERVER_IP};
use crate::server::{ServerSpec, devices};
use crate::service_config::LAB_CMDLINE;

/// How often the console file is read: the resolution of every milestone.
const POLL: Duration = Duration::from_millis(20);

/// What one boot is made of.
pub struct Boot<'a> {
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub accel: Accel,
    /// Scratch space: the disk, the console and QEMU's stderr.
    pub dir: &'a Path,
}

/// The lab's kernel command line (the boot service's iPXE script: its parameters, `loglevel=5`, the lab's
/// `console=ttyS0,115200n8 panic=-1`) for a node of the lab's first server. No network is behind its NICs,
/// so the installer's requests never leave QEMU; the boot is stopped before they matter.
pub fn cmdline(spec: &ServerSpec) -> String {
    let params = BootParams {
        server: format!("http://{SERVER_IP}:{HTTP_PORT}"),
        peers: Vec::new(),
        node: NodeId(1),
        mac: spec.mac(1),
        token: Token::new("boot-time"),
    };
    format!("{} loglevel=5 {LAB_CMDLINE}", params.kernel_args())
}

/// QEMU's arguments: the lab's machine, its standard model's HBA with one disk and its two NICs.
pub fn qemu_args(boot: &Boot, spec: &ServerSpec, disk: &Path, console: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-machine".into(),
        format!("q35,accel={}", boot.accel.qemu_arg()),
        "-m".into(),
        spec.memory_mib.to_string(),
        "-nodefaults".into(),
        "-display".into(),
        "none".into(),
        "-serial".into(),
        format!("file:{}", console.display()),
        "-kernel".into(),
        boot.kernel.display().to_string(),
        "-initrd".into(),
        boot.initrd.display().to_string(),
        "-append".into(),
        cmdline(spec),
        "-nic".into(),
        "none".into(),
    ];
    // The model's controllers and its bay-0 disk, as the lab attaches them.
    args.extend(devices::model_args(spec));
    args.extend([
        "-drive".into(),
        format!("if=none,id=bay0,file={},format=raw,cache=unsafe", disk.display()),
        "-device".into(),
        devices::disk_device(spec, &spec.disks[0], "bay0", 1),
    ]);
    for (nic, model) in [1u8, 2].into_iter().zip(spec.nics) {
        args.extend(["-device".into(), format!("{model},mac={}", spec.mac(nic))]);
    }
    args
}

/// QEMU, killed when dropped.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boot once and return the timeline, QEMU killed at the first step; an error after `limit`, or if QEMU
/// exits first, with the console's last lines.
pub fn boot(boot: &Boot, limit: Duration) -> anyhow::Result<Timeline> {
    let spec = ServerSpec::standard("boot-time", 1);
    std::fs::create_dir_all(boot.dir).with_context(|| format!("creating {}", boot.dir.display()))?;
    let disk = boot.dir.join("bay0.img");
    std::fs::File::create(&disk)?.set_len(64 << 20)?;
    let console = boot.dir.join("serial.log");
    std::fs::write(&console, "")?;
    let stderr = boot.dir.join("qemu.stderr");
    let start = Instant::now();
    let mut qemu = Qemu(
        Command::new("qemu-system-x86_64")
            .args(qemu_args(boot, &spec, &disk, &console))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .context("starting qemu-system-x86_64 (package qemu-system-x86)")?,
    );
    let mut clock = SerialClock::default();
    let mut reader = ConsoleReader { path: console, offset: 0 };
    loop {
        let text = reader.read_new()?;
        if clock.feed(start.elapsed().as_secs_f64(), &text).is_some() {
            return Ok(clock.timeline().expect("the first step has been shown"));
        }
        let stopped = |why: String| {
            let qemu_said = std::fs::read_to_string(&stderr).unwrap_or_default();
            anyhow::anyhow!(
                "{why} (initrd {}); console ends:\n{}\n{}",
                boot.initrd.display(),
                clock.tail(15),
                qemu_said.trim()
            )
        };
        if let Some(status) = qemu.0.try_wait()? {
            return Err(stopped(format!("QEMU exited ({status}) before the installer's first step")));
        }
        if start.elapsed() > limit {
            return Err(stopped(format!("no installer step within {} s", limit.as_secs())));
        }
        std::thread::sleep(POLL);
    }
}

/// The console file, read from where the last read stopped.
struct ConsoleReader {
    path: PathBuf,
    offset: u64,
}

impl ConsoleReader {
    fn read_new(&mut self) -> anyhow::Result<String> {
        let mut file = std::fs::File::open(&self.path).with_context(|| format!("opening {}", self.path.display()))?;
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installer_reads_the_command_line_it_is_booted_with() {
        let spec = ServerSpec::standard("boot-time", 1);
        let line = cmdline(&spec);
        let params = rackhand_api::cmdline::parse_cmdline(&line).expect("the installer starts with it");
        assert_eq!((params.node, params.mac), (NodeId(1), spec.mac(1)));
        assert!(line.ends_with("loglevel=5 console=ttyS0,115200n8 panic=-1"), "{line}");
    }

    #[test]
    fn qemu_gets_the_lab_servers_devices_and_no_network() {
        let spec = ServerSpec::standard("boot-time", 1);
        let boot = Boot { kernel: Path::new("/k"), initrd: Path::new("/i"), accel: Accel::Tcg, dir: Path::new("/d") };
        let args = qemu_args(&boot, &spec, Path::new("/d/bay0.img"), Path::new("/d/serial.log")).join(" ");
        for wanted in [
            "-machine q35,accel=tcg -m 1024 -nodefaults",
            "-serial file:/d/serial.log -kernel /k -initrd /i",
            "-device virtio-scsi-pci,id=scsi0",
            "bus=scsi0.0",
            "-nic none",
            &format!("-device e1000e,mac={}", spec.mac(1)),
            &format!("-device rtl8139,mac={}", spec.mac(2)),
        ] {
            assert!(args.contains(wanted), "{wanted} missing from {args}");
        }
        assert!(!args.contains("netdev"), "no network backend: {args}");
    }
}
