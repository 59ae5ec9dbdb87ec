//! A lab server's BMC, driven the way the boot service drives one: the real `ipmitool -I lanplus` from
//! inside the lab namespace against the BMC's own address, the password through the environment. What it
//! did is seen on the server itself: QEMU's run state over the lab's QMP socket, its serial console (the
//! firmware's, with a BMC), and the DHCP requests that reach the lab's bridge.
//!
//! Cheap on purpose: no boot service and no installed OS. The servers boot their disks first, and bay 0
//! holds a 512-byte boot sector that prints [`DISK_MARKER`] and halts; nothing answers DHCP, so a network
//! boot shows as iPXE's requests and then the firmware falling through to that disk. Needs root, QEMU,
//! `ipmi_sim` (package openipmi) and `ipmitool`; not the assets `cargo xtask test` builds.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rackhand_api::MacAddr;
use rackhand_lab::accel::Accel;
use rackhand_lab::bmc::{Bmc, BmcBehaviour, BmcSpec, PsuOffset};
use rackhand_lab::boot_order::BootOrder;
use rackhand_lab::chassis::FIRMWARE_BANNER;
use rackhand_lab::lab::Lab;
use rackhand_lab::server::{ServerSpec, VirtualServer};

const DISK_MARKER: &str = "RACKHAND-LAB-DISK-BOOTED";
/// SeaBIOS, when it hands a boot to a NIC's option ROM (iPXE) rather than a disk.
const NETWORK_BOOT: &str = "Booting from ROM";
/// Up to the disk's marker, past iPXE's DHCP attempts when the network comes first (about 30 s under TCG).
const BOOT_LIMIT: Duration = Duration::from_secs(150);

/// A disk-first server with a BMC of `behaviour` in a bare lab of its own, and what reached its bridge.
struct Rig {
    server: VirtualServer,
    dhcp: DhcpWatch,
    /// Dropped last: the namespace goes after the server and the watch.
    _lab: Lab,
}

impl Rig {
    /// None (the test then says SKIPPED, or fails in a root `cargo xtask test`) without root or the tools.
    fn start(name: &str, index: u8, behaviour: BmcBehaviour) -> Option<Rig> {
        if let Some(reason) = rackhand_netns::unavailable_reason() {
            rackhand_netns::skip_unless_required(&reason);
            return None;
        }
        for (program, package) in
            [("ipmi_sim", "openipmi"), ("ipmitool", "ipmitool"), ("qemu-system-x86_64", "qemu-system-x86")]
        {
            if !on_path(program) {
                rackhand_netns::skip_unless_required(&format!("the BMC tests need {program} (package {package})"));
                return None;
            }
        }
        let mut lab = Lab::bare(&rackhand_lab::lab_dir().join("bmc")).expect("a bare lab");
        lab.clean_up_on_success();
        let sector = lab.dir.join("boot-sector.img");
        std::fs::write(&sector, boot_sector(DISK_MARKER)).unwrap();
        let mut spec = ServerSpec::standard(name, index);
        spec.boot_order = BootOrder::DiskFirst;
        spec.disks[0].contents = Some(sector);
        spec.memory_mib = 256;
        spec.bmc = Some(BmcSpec::new(behaviour).with_chassis_program(env!("CARGO_BIN_EXE_lab-chassis")));
        let dhcp = DhcpWatch::start(&lab);
        let accel =
            if std::env::var(rackhand_lab::ENV_ACCEL).as_deref() == Ok("kvm") { Accel::Kvm } else { Accel::Tcg };
        let server = VirtualServer::start(&lab, &spec, accel).expect("server start");
        Some(Rig { server, dhcp, _lab: lab })
    }

    fn bmc(&self) -> &Bmc {
        self.server.bmc().expect("the server has a BMC")
    }

    /// `ipmitool -I lanplus ... <command>`; panics with ipmitool's words and the BMC's log.
    fn ipmitool(&self, command: &str) -> String {
        let words: Vec<&str> = command.split(' ').collect();
        self.bmc().ipmitool(&words).unwrap_or_else(|e| panic!("{e:#}\n{}", self.report()))
    }

    /// QEMU's run state, from the lab's QMP socket (not the BMC's).
    fn run_state(&self) -> String {
        let status = self.server.qmp().unwrap().execute("query-status", serde_json::json!({})).unwrap();
        status["status"].as_str().unwrap().to_owned()
    }

    /// The server's boots so far, each its serial console from one firmware banner to the next.
    fn boots(&self) -> Vec<String> {
        self.server.serial_log().split(FIRMWARE_BANNER).skip(1).map(str::to_owned).collect()
    }

    /// Wait until boot `n` (1-based) has reached its disk; that boot's console.
    fn wait_disk_boot(&self, n: usize) -> String {
        let deadline = Instant::now() + BOOT_LIMIT;
        loop {
            if let Some(boot) = self.boots().get(n - 1).filter(|boot| boot.contains(DISK_MARKER)) {
                return boot.clone();
            }
            assert!(
                Instant::now() < deadline,
                "boot {n} did not reach its disk within {BOOT_LIMIT:?}\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Whether a boot's console shows the firmware handing it to NIC 1's iPXE (its MAC on the console).
    fn network_booted(&self, boot: &str) -> bool {
        boot.contains(NETWORK_BOOT) && boot.contains(&format!("net0: {}", self.mac()))
    }

    fn mac(&self) -> MacAddr {
        self.server.spec.mac(1)
    }

    /// Everything a failing test should show: the console, what the chassis did, ipmi_sim's log.
    fn report(&self) -> String {
        format!(
            "--- {} serial ---\n{}\n--- chassis calls ---\n{}\n--- ipmi_sim ---\n{}\n--- DHCP requests from NIC 1: {} ---",
            self.server.spec.name,
            self.server.serial_log(),
            self.bmc().calls(),
            self.bmc().log(),
            self.dhcp.requests_from(self.mac())
        )
    }
}

#[test]
fn the_bmc_reports_and_switches_the_servers_power() {
    let Some(rig) = Rig::start("bmc-power", 21, BmcBehaviour::Honest) else { return };
    rig.wait_disk_boot(1);
    assert_eq!(rig.ipmitool("chassis power status").trim(), "Chassis Power is on", "{}", rig.report());
    assert_eq!(rig.run_state(), "running");

    rig.ipmitool("chassis power off");
    assert_eq!(rig.run_state(), "paused", "power off pauses the vCPUs\n{}", rig.report());
    assert_eq!(rig.ipmitool("chassis power status").trim(), "Chassis Power is off");

    rig.ipmitool("chassis power on");
    assert_eq!(rig.run_state(), "running", "{}", rig.report());
    assert_eq!(rig.ipmitool("chassis power status").trim(), "Chassis Power is on");
    // Power on is a fresh boot, not a resumed one: the firmware starts again and boots the disk.
    rig.wait_disk_boot(2);

    let wrong = rig.bmc().ipmitool_with_password("not-the-password", &["chassis", "power", "off"]);
    assert!(wrong.is_err(), "a wrong password was accepted: {wrong:?}");
    assert_eq!(rig.run_state(), "running", "a refused login changed nothing");
    let calls = rig.bmc().calls();
    assert!(
        calls.contains("0x20 set power 0: powered off") && calls.contains("0x20 set power 1: powered on"),
        "{calls}"
    );

    // Its power supplies, as the server's are (both powered), and PSU 2 losing its AC input at the BMC.
    let sdr = || rig.bmc().ipmitool(&["sdr", "type", "Power Supply"]).unwrap_or_else(|e| panic!("{e:#}"));
    let sensors = sdr();
    let lines: Vec<&str> = sensors.lines().collect();
    assert!(lines.len() == 2 && lines.iter().all(|l| l.ends_with("Presence detected")), "{sensors}");
    rig.bmc().set_psu(2, PsuOffset::AcLost, true).unwrap();
    let sensors = sdr();
    assert!(sensors.contains("| 10.2 | Presence detected, Power Supply AC lost"), "{sensors}");
    assert!(rig.ipmitool("sel elist").contains("PSU2 Status | Power Supply AC lost | Asserted"));
}

#[test]
fn next_boot_network_makes_a_disk_first_server_network_boot_once() {
    let Some(rig) = Rig::start("bmc-honest", 22, BmcBehaviour::Honest) else { return };
    let first = rig.wait_disk_boot(1);
    assert!(!rig.network_booted(&first), "a disk-first server network-booted on its own\n{}", rig.report());

    rig.ipmitool("chassis bootdev pxe");
    let flags = rig.ipmitool("chassis bootparam get 5");
    assert!(flags.contains("Force PXE"), "the BMC reports the pending override:\n{flags}");
    rig.ipmitool("chassis power cycle");
    let second = rig.wait_disk_boot(2);
    assert!(rig.network_booted(&second), "after bootdev pxe and a power cycle, no network boot\n{}", rig.report());
    assert!(rig.dhcp.requests_from(rig.mac()) > 0, "iPXE's DHCP requests did not reach the lab\n{}", rig.report());

    // One time only: the next reset boots the disk again, and no DHCP request comes from it.
    let requests = rig.dhcp.requests_from(rig.mac());
    rig.ipmitool("chassis power reset");
    let third = rig.wait_disk_boot(3);
    assert!(!rig.network_booted(&third), "the override outlived its boot\n{}", rig.report());
    assert_eq!(rig.dhcp.requests_from(rig.mac()), requests, "{}", rig.report());
    let nic_bootindex = BootOrder::DiskFirst.nic_bootindex(&rig.server.spec.disks);
    let calls = rig.bmc().calls();
    assert!(calls.contains(&format!("NIC 1 bootindex back to {nic_bootindex}")), "the boot order put back:\n{calls}");
}

#[test]
fn a_bmc_that_ignores_the_override_answers_success_and_the_server_boots_its_disk() {
    let Some(rig) = Rig::start("bmc-ignores", 23, BmcBehaviour::IgnoresBootOverride) else { return };
    rig.wait_disk_boot(1);
    // ipmitool exits 0 and says it was set: nothing on the BMC's side shows the override is ignored.
    assert!(rig.ipmitool("chassis bootdev pxe").contains("Set Boot Device to pxe"));
    rig.ipmitool("chassis power cycle");
    let second = rig.wait_disk_boot(2);
    assert!(!rig.network_booted(&second), "the ignoring BMC's server network-booted\n{}", rig.report());
    assert_eq!(rig.dhcp.requests_from(rig.mac()), 0, "{}", rig.report());
    assert!(rig.bmc().calls().contains("accepted and ignored"), "{}", rig.report());
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// A boot sector (real mode, loaded at 0x7c00) that writes `marker` to COM1 and halts. SeaBIOS boots it
/// from a disk; the serial port needs no set-up under QEMU.
fn boot_sector(marker: &str) -> Vec<u8> {
    const MESSAGE_AT: u16 = 0x7c00 + 22;
    let [lo, hi] = MESSAGE_AT.to_le_bytes();
    let mut sector = vec![
        0xfa, // cli
        0x31, 0xc0, // xor ax, ax
        0x8e, 0xd8, // mov ds, ax     (the message is addressed from segment 0)
        0xbe, lo, hi, // mov si, MESSAGE_AT
        0xba, 0xf8, 0x03, // mov dx, 0x3f8 (COM1)
        0xac, // next: lodsb
        0x84, 0xc0, // test al, al
        0x74, 0x03, // jz done
        0xee, // out dx, al
        0xeb, 0xf8, // jmp next
        0xf4, // done: hlt
        0xeb, 0xfd, // jmp done
    ];
    assert_eq!(sector.len(), usize::from(MESSAGE_AT - 0x7c00));
    sector.extend(format!("{marker}\r\n\0").bytes());
    sector.resize(510, 0);
    sector.extend([0x55, 0xaa]);
    sector
}

/// The DHCP requests that reach the lab's bridge (a socket on port 67 inside the namespace, where in a
/// bare lab no server listens), by client MAC.
struct DhcpWatch {
    seen: Arc<Mutex<Vec<MacAddr>>>,
    stop: Arc<AtomicBool>,
}

impl DhcpWatch {
    fn start(lab: &Lab) -> DhcpWatch {
        let (seen, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (record, stopped) = (seen.clone(), stop.clone());
        let socket = lab
            .ns()
            .spawn_inside(move || {
                let socket = UdpSocket::bind("0.0.0.0:67")?;
                socket.set_read_timeout(Some(Duration::from_millis(200)))?;
                Ok(socket)
            })
            .unwrap()
            .join()
            .unwrap()
            .expect("a DHCP socket in the lab namespace");
        std::thread::spawn(move || {
            let mut packet = [0u8; 1500];
            while !stopped.load(Ordering::Relaxed) {
                // A BOOTREQUEST (op 1) with the DHCP magic cookie; the client's MAC at chaddr.
                if let Ok(len) = socket.recv(&mut packet)
                    && len >= 240
                    && packet[0] == 1
                    && packet[236..240] == [99, 130, 83, 99]
                {
                    let mac: [u8; 6] = packet[28..34].try_into().unwrap();
                    record.lock().unwrap().push(MacAddr::new(mac));
                }
            }
        });
        DhcpWatch { seen, stop }
    }

    fn requests_from(&self, mac: MacAddr) -> usize {
        self.seen.lock().unwrap().iter().filter(|m| **m == mac).count()
    }
}

impl Drop for DhcpWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
