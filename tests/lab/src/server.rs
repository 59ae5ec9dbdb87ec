//! One virtual server as the lab racks it: two NICs of two vendors (its [`Model`]'s), each on its own tap
//! cabled to a switch port (`Ethernet<index>` of sw-a, sw-b); SSDs and HDDs as sparse files where the model
//! attaches them ([`devices`]: a virtio-scsi HBA, one SCSI target per bay; or NVMe slots and AHCI ports); two
//! PSUs as SMBIOS type 39 structures; a QMP
//! socket for fault injection; the serial console captured to a log. QEMU runs inside the lab namespace.
//! A server may have a BMC ([`crate::bmc`]) and boot its disks first ([`crate::boot_order`]).

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::accel::Accel;
use crate::bmc::Bmc;
use crate::lab::{BRIDGE, Lab};
use crate::qmp::Qmp;

pub(crate) mod devices;
mod spec;
pub use devices::{ahci_port, nvme_slot};
pub use spec::*;

pub struct VirtualServer {
    pub spec: ServerSpec,
    pub dir: PathBuf,
    qemu: Child,
    /// The namespace QEMU runs in, to start it again.
    netns: String,
    /// Dropped (ipmi_sim killed) after QEMU.
    bmc: Option<Bmc>,
}

impl VirtualServer {
    /// Create the disks, SMBIOS files and taps, start the switches, QEMU and the BMC (if it has one).
    pub fn start(lab: &Lab, spec: &ServerSpec, accel: Accel) -> anyhow::Result<VirtualServer> {
        let dir = lab.dir.join(&spec.name);
        std::fs::create_dir_all(&dir)?;
        // A server with a BMC sends its firmware's console to the serial port (SeaBIOS's serial console, on
        // when QEMU has no graphics), as a BIOS with console redirection does for serial-over-LAN. Its BMC
        // reads it there to know when the firmware has taken a one-time boot override.
        let graphics = if spec.bmc.is_some() { ",graphics=off" } else { "" };
        let mut args: Vec<String> = vec![
            "-name".into(),
            spec.name.clone(),
            "-machine".into(),
            format!("q35,accel={}{graphics}", accel.qemu_arg()),
            "-m".into(),
            spec.memory_mib.to_string(),
            "-nodefaults".into(),
            "-display".into(),
            "none".into(),
            // The serial console: a socket a technician (or a test) can type into, logged to serial.log.
            "-chardev".into(),
            format!(
                "socket,id=console,path={},server=on,wait=off,logfile={}",
                dir.join("console.sock").display(),
                dir.join("serial.log").display()
            ),
            "-serial".into(),
            "chardev:console".into(),
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", dir.join("qmp.sock").display()),
        ];
        args.extend(devices::model_args(spec));
        if spec.bmc.is_some() {
            // The BMC's own QMP socket: a QMP socket serves one client at a time, and the tests use the first.
            args.extend(["-qmp".into(), format!("unix:{},server=on,wait=off", crate::bmc::qmp_socket(&dir).display())]);
            // The same BMC in-band, as a real server's is: a KCS interface (with its ACPI and SMBIOS type 38
            // entries) whose messages go to the simulator. QEMU starts first and keeps trying to reach it.
            let kcs = crate::bmc::system_interface(spec.index)?;
            args.extend([
                "-chardev".into(),
                format!("socket,id=ipmi0,host={},port={},reconnect=1", kcs.ip(), kcs.port()),
                "-device".into(),
                "ipmi-bmc-extern,id=bmc0,chardev=ipmi0".into(),
                "-device".into(),
                "isa-ipmi-kcs,bmc=bmc0".into(),
            ]);
        }
        if spec.exit_on_reboot {
            args.push("-no-reboot".into());
        }
        if spec.firmware == Firmware::Uefi {
            let vars = dir.join("OVMF_VARS.fd");
            std::fs::copy(OVMF_VARS, &vars).with_context(|| format!("copying {OVMF_VARS} (package ovmf)"))?;
            args.extend([
                "-drive".into(),
                format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
                "-drive".into(),
                format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
            ]);
        }
        for (i, state) in spec.psus.iter().enumerate() {
            let file = dir.join(format!("psu{}.smbios", i + 1));
            let index = u8::try_from(i + 1).context("a lab server has at most 255 PSUs")?;
            std::fs::write(&file, psu_structure(index, *state))?;
            args.extend(["-smbios".into(), format!("file={}", file.display())]);
        }
        for disk in &spec.disks {
            let kind = disk.kind.name();
            let file = dir.join(format!("bay{}-{kind}.img", disk.bay));
            create_disk(&file, disk)?;
            let id = format!("bay{}", disk.bay);
            args.extend([
                "-drive".into(),
                // Zeros written (md's first resync of an empty member, a rebuild) punch holes instead
                // of filling the file: each lab server holds on the host only what its OS wrote.
                format!(
                    "if=none,id={id},file={},format=raw,cache=unsafe,discard=unmap,detect-zeroes=unmap",
                    file.display()
                ),
                "-device".into(),
                // In bay order, after NIC 1 (network first: the firmware falls through to the disks when the
                // handover script leaves network boot) or before it (disk first).
                devices::disk_device(spec, disk, &id, spec.boot_order.disk_bootindex(disk.bay)),
            ]);
        }
        for (nic, model) in [1u8, 2].into_iter().zip(spec.nics) {
            let tap = spec.tap(nic);
            lab.ns().tap_on_bridge(&tap, BRIDGE)?;
            // Before QEMU opens the tap: the NIC only ever hears the port as configured.
            lab.switches().cable(nic, &tap, &format!("Ethernet{}", spec.index))?;
            args.extend([
                "-netdev".into(),
                format!("tap,id=nic{nic},ifname={tap},script=no,downscript=no"),
                "-device".into(),
                // NIC 1 has a device id for the BMC's one-time override (QMP `qom-set` of its bootindex).
                match nic {
                    1 => format!(
                        "{model},netdev=nic1,id={NIC1_DEVICE},mac={},bootindex={}",
                        spec.mac(1),
                        spec.boot_order.nic_bootindex(&spec.disks)
                    ),
                    _ => format!("{model},netdev=nic{nic},mac={}", spec.mac(nic)),
                },
            ]);
        }
        std::fs::write(dir.join("qemu.args"), args.join("\n"))?;
        let qemu = spawn_qemu(lab.ns(), &dir)?;
        let mut server = VirtualServer { spec: spec.clone(), dir, qemu, netns: lab.ns().name().to_owned(), bmc: None };
        // Once QEMU runs (a failure from here on drops the server, which kills it).
        if let Some(bmc) = &spec.bmc {
            server.bmc = Some(Bmc::start(lab.ns(), &server.dir, spec, bmc)?);
        }
        Ok(server)
    }

    /// The server's BMC, if it has one: its address, user and password for IPMI-over-LAN.
    pub fn bmc(&self) -> Option<&Bmc> {
        self.bmc.as_ref()
    }

    /// Start QEMU again with the same disks and NICs (after it exited: `exit_on_reboot`, a power-off).
    pub fn power_on(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.is_running(), "{} is still running", self.spec.name);
        let ns = rackhand_netns::Netns::adopt(&self.netns)?;
        let spawned = spawn_qemu(&ns, &self.dir);
        ns.persist();
        self.qemu = spawned?;
        Ok(())
    }

    /// Pull a disk out of its bay while the server runs (QMP `device_del`), as a technician would.
    pub fn pull_disk(&mut self, bay: u8) -> anyhow::Result<()> {
        self.qmp()?.execute("device_del", serde_json::json!({ "id": format!("disk-bay{bay}") }))?;
        Ok(())
    }

    /// Slide a new, blank disk of `kind` and `size_mib` into the empty `bay` while the server runs (a
    /// hot-swap bay: the OS sees it appear at the bay's SCSI address). Its serial is `serial`.
    pub fn insert_disk(&mut self, bay: u8, kind: DiskKind, size_mib: u64, serial: &str) -> anyhow::Result<()> {
        let bus = devices::hot_plug_bus(&self.spec)?;
        let file = self.dir.join(format!("bay{bay}-inserted-{serial}.img"));
        std::fs::File::create(&file)?.set_len(size_mib << 20)?;
        let node = format!("inserted-bay{bay}-{serial}");
        let mut qmp = self.qmp()?;
        let blockdev = serde_json::json!({
            "driver": "raw", "node-name": node, "cache": { "no-flush": true },
            "discard": "unmap", "detect-zeroes": "unmap",
            "file": { "driver": "file", "filename": file.display().to_string() },
        });
        qmp.execute("blockdev-add", blockdev)?;
        let rate = devices::rotation_rate(kind);
        let device = serde_json::json!({
            "driver": "scsi-hd", "drive": node, "id": format!("disk-bay{bay}"), "bus": bus,
            "channel": 0, "scsi-id": bay, "lun": 0, "rotation_rate": rate, "serial": serial,
        });
        qmp.execute("device_add", device)?;
        Ok(())
    }

    /// Press the reset button.
    pub fn reset(&mut self) -> anyhow::Result<()> {
        self.qmp()?.execute("system_reset", serde_json::json!({}))?;
        Ok(())
    }

    pub fn serial_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serial.log")).unwrap_or_default()
    }

    /// The serial console's last `lines` lines, headed by where the whole log is and by the virtual
    /// machine's run state and the host disk's free space ([`Self::machine_state`]): what a failure message
    /// shows (the start of a boot is rarely what went wrong, and a CI log may keep only a message's start).
    pub fn serial_tail(&self, lines: usize) -> String {
        let log = self.serial_log();
        let all: Vec<&str> = log.lines().collect();
        let tail = all[all.len().saturating_sub(lines)..].join("\n");
        let path = self.dir.join("serial.log");
        let state = self.machine_state();
        format!("--- {state}\n--- serial, last {lines} of {} lines ({}) ---\n{tail}", all.len(), path.display())
    }

    /// QEMU's run state (`query-status`) and the free space of the disk the server's disks are files on.
    /// A server that stops making progress for no reason of its own was often paused by QEMU: its drives
    /// keep the default `werror=enospc`, which stops the machine when a write finds the host disk full.
    pub fn machine_state(&self) -> String {
        let status = match self.qmp().and_then(|mut qmp| qmp.execute("query-status", serde_json::json!({}))) {
            Ok(reply) => format!("QEMU: {}", reply["status"].as_str().unwrap_or("unknown")),
            Err(e) => format!("QEMU: no status ({e:#})"),
        };
        let free = match free_bytes(&self.dir) {
            Ok(bytes) => format!("{:.1} GiB free", bytes as f64 / f64::from(1u32 << 30)),
            Err(e) => format!("free space unknown ({e})"),
        };
        format!("{status}; host disk under {}: {free}", self.dir.display())
    }

    /// Type `text` at the serial console, as a technician at the crash cart would.
    pub fn type_on_console(&self, text: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let mut console = std::os::unix::net::UnixStream::connect(self.dir.join("console.sock"))
            .context("connecting to the serial console socket")?;
        for byte in text.bytes() {
            // One byte at a time, as a terminal sends keystrokes; a burst can overrun the 16550 FIFO.
            console.write_all(&[byte])?;
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    pub fn qmp(&self) -> anyhow::Result<Qmp> {
        Qmp::connect(&self.dir.join("qmp.sock"))
    }

    pub fn disk_path(&self, bay: u8) -> Option<PathBuf> {
        self.spec.disks.iter().find(|d| d.bay == bay).map(|d| {
            let kind = if d.kind == DiskKind::Ssd { "ssd" } else { "hdd" };
            self.dir.join(format!("bay{bay}-{kind}.img"))
        })
    }

    /// Wait until the serial log contains `needle`.
    pub fn wait_for_serial(&mut self, needle: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.serial_log().contains(needle) {
                return Ok(());
            }
            if let Some(status) = self.qemu.try_wait()? {
                anyhow::bail!("QEMU exited ({status}) before `{needle}` appeared");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        anyhow::bail!("`{needle}` did not appear on the serial console within {limit:?}")
    }

    /// Wait for QEMU to exit (the installer powers off when done); None on timeout.
    pub fn wait_exit(&mut self, limit: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.qemu.try_wait()? {
                return Ok(Some(status));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(None)
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.qemu.try_wait(), Ok(None))
    }
}

impl Drop for VirtualServer {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}

/// NIC 1's QEMU device id (its QOM path is `/machine/peripheral/nic1`).
pub const NIC1_DEVICE: &str = "nic1";

/// A sparse disk file of the disk's size, holding its `contents` (if any) from its first byte.
fn create_disk(file: &Path, disk: &DiskSpec) -> anyhow::Result<()> {
    let size = disk.size_mib << 20;
    if let Some(contents) = &disk.contents {
        std::fs::copy(contents, file)
            .with_context(|| format!("copying {} onto bay {}", contents.display(), disk.bay))?;
        let len = std::fs::metadata(file)?.len();
        anyhow::ensure!(
            len <= size,
            "{} ({len} bytes) does not fit bay {}'s {size} bytes",
            contents.display(),
            disk.bay
        );
    } else {
        std::fs::File::create(file)?;
    }
    std::fs::OpenOptions::new().write(true).open(file)?.set_len(size)?;
    Ok(())
}

fn spawn_qemu(ns: &rackhand_netns::Netns, dir: &Path) -> anyhow::Result<Child> {
    let args = std::fs::read_to_string(dir.join("qemu.args"))?;
    ns.command("qemu-system-x86_64")
        .args(args.lines())
        .stdout(Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(dir.join("qemu.stderr"))?)
        .spawn()
        .context("starting qemu-system-x86_64 (package qemu-system-x86)")
}

/// The path of a server's directory, for tests that look at files after the server is gone.
pub fn server_dir(lab_dir: &Path, name: &str) -> PathBuf {
    lab_dir.join(name)
}

/// The bytes an unprivileged writer may still write on the file system holding `path`.
fn free_bytes(path: &Path) -> nix::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(path)?;
    Ok(stat.blocks_available().saturating_mul(stat.fragment_size()))
}
