//! The server models of the shipped profiles, as fixture specs that pass their profile cleanly.

use std::collections::BTreeMap;

use rackhand_api::{BmcPsuReading, PsuStatus};

use super::{DiskAt, DiskSpec, EnclosureSpec, NicSpec, PciSpec, PsuSpec, ServerSpec};

fn psus(model: &str, watts: u16) -> Vec<PsuSpec> {
    (1..=2)
        .map(|i| PsuSpec {
            location: format!("PSU{i}"),
            model: model.into(),
            serial: format!("PSU-SN-000{i}"),
            watts,
            present: true,
            unplugged: false,
            status: PsuStatus::Ok,
            hot_replaceable: true,
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn nic(
    name: &str,
    mac: &str,
    pci_path: &str,
    vendor: u16,
    device: u16,
    driver: &str,
    speed: i64,
    switch: &str,
) -> NicSpec {
    NicSpec {
        name: name.into(),
        mac: mac.into(),
        pci_path: pci_path.into(),
        vendor,
        device,
        driver: Some(driver.into()),
        firmware: None,
        slot: None,
        carrier: true,
        speed_mbps: speed,
        lldp: Some((format!("chassis-{switch}"), format!("swp-{name}"), switch.into())),
    }
}

fn disk(name: &str, at: DiskAt, model: &str, size_gb: u64, rotational: bool) -> DiskSpec {
    DiskSpec {
        name: name.into(),
        at,
        model: model.into(),
        serial: format!("SN-{name}"),
        wwid: format!("naa.5000c500{:08x}", name.bytes().map(u32::from).sum::<u32>()),
        size_gb,
        rotational,
    }
}

/// A SATA disk on port `port_no` (from 1) of the only AHCI controller, at PCI `controller`: the kernel
/// calls the port `ata<port_no>` and gives it SCSI host `port_no - 1`.
fn sata(controller: &str, port_no: u32) -> DiskAt {
    DiskAt::Ahci { controller: controller.into(), print_id: port_no, port_no, host: port_no - 1 }
}

/// QEMU q35: e1000e + rtl8139 (8139cp), 2 SSD + 2 HDD on virtio-scsi (targets 0-3), 2 PSUs.
pub fn qemu_lab() -> ServerSpec {
    let scsi = "pci0000:00/0000:00:05.0/virtio1/host0";
    ServerSpec {
        vendor: "QEMU".into(),
        product: "Standard PC (Q35 + ICH9, 2009)".into(),
        serial: "lab-0001".into(),
        uuid: "0B5B3A2E-7C61-4E0A-9C8D-3F1A2B4C5D6E".into(),
        psus: psus("QEMU PSU", 500),
        nics: vec![
            nic("eth0", "52:54:00:00:01:01", "pci0000:00/0000:00:02.0", 0x8086, 0x10d3, "e1000e", 1000, "sw-a"),
            nic("eth1", "52:54:00:00:01:02", "pci0000:00/0000:00:03.0", 0x10ec, 0x8139, "8139cp", 100, "sw-b"),
        ],
        disks: vec![
            disk("sda", DiskAt::scsi(scsi, "0:0:0:0"), "QEMU HARDDISK", 20, false),
            disk("sdb", DiskAt::scsi(scsi, "0:0:1:0"), "QEMU HARDDISK", 20, false),
            disk("sdc", DiskAt::scsi(scsi, "0:0:2:0"), "QEMU HARDDISK", 40, true),
            disk("sdd", DiskAt::scsi(scsi, "0:0:3:0"), "QEMU HARDDISK", 40, true),
        ],
        // virtio-scsi-pci, transitional (1af4:1004).
        pci: vec![PciSpec::new("pci0000:00/0000:00:05.0", 0x1af4, 0x1004, "virtio-pci")],
        pci_slots: vec![],
        enclosure: None,
        bmc: None,
        dmi_table_only: false,
    }
}

/// Supermicro 1U: onboard Broadcom BCM57416 (eno1/eno2) + Intel X710-DA2 (ens1f0/ens1f1) in slot 3, one
/// port of each cabled, each with the firmware version its driver reports; 2 SATA SSDs on AHCI ports 0
/// and 1; a BMC.
pub fn edge_1u() -> ServerSpec {
    let ahci = "pci0000:00/0000:00:17.0";
    let unused_port = |mut n: NicSpec| {
        n.carrier = false;
        n.speed_mbps = -1;
        n.lldp = None;
        n
    };
    // The firmware each driver reports; the X710 card sits in slot 3, the BCM57416 is onboard.
    let as_fitted = |mut n: NicSpec| {
        n.firmware =
            Some(if n.vendor == 0x8086 { "8.70 0x8000c40f 1.3179.0" } else { "218.0.219.13/pkg 218.0.225.0" }.into());
        n.slot = (n.vendor == 0x8086).then(|| "3".into());
        n
    };
    let bmc = ["PS1 Status", "PS2 Status"]
        .map(|sensor| BmcPsuReading {
            sensor: sensor.into(),
            present: true,
            input_lost: false,
            failed: false,
            events: vec!["Presence detected".into()],
        })
        .to_vec();
    ServerSpec {
        vendor: "Supermicro".into(),
        product: "SYS-1029U-TRT".into(),
        serial: "S348291X1A04512".into(),
        uuid: "00000000-0000-0000-0000-AC1F6B4E2A10".into(),
        psus: psus("PWS-751P-1R", 750),
        nics: [
            nic(
                "eno1",
                "ac:1f:6b:4e:2a:10",
                "pci0000:00/0000:00:1c.0/0000:19:00.0",
                0x14e4,
                0x16d8,
                "bnxt_en",
                10000,
                "sw-a",
            ),
            unused_port(nic(
                "eno2",
                "ac:1f:6b:4e:2a:11",
                "pci0000:00/0000:00:1c.0/0000:19:00.1",
                0x14e4,
                0x16d8,
                "bnxt_en",
                10000,
                "",
            )),
            nic(
                "ens1f0",
                "3c:fd:fe:a1:b2:c0",
                "pci0000:3a/0000:3a:00.0/0000:3b:00.0",
                0x8086,
                0x1572,
                "i40e",
                10000,
                "sw-b",
            ),
            unused_port(nic(
                "ens1f1",
                "3c:fd:fe:a1:b2:c1",
                "pci0000:3a/0000:3a:00.0/0000:3b:00.1",
                0x8086,
                0x1572,
                "i40e",
                10000,
                "",
            )),
        ]
        .map(as_fitted)
        .to_vec(),
        disks: vec![
            disk("sda", sata(ahci, 1), "SAMSUNG MZ7LH480HAHQ-00005", 480, false),
            disk("sdb", sata(ahci, 2), "SAMSUNG MZ7LH480HAHQ-00005", 480, false),
        ],
        // Intel C620 SATA controller in AHCI mode.
        pci: vec![PciSpec::new(ahci, 0x8086, 0xa182, "ahci")],
        pci_slots: vec![],
        enclosure: None,
        bmc: Some(bmc),
        dmi_table_only: false,
    }
}

/// Dell 2U storage: Intel E810 + Mellanox ConnectX-5 at 25G; two rear SSDs (targets 8, 9) and eight
/// front HDDs behind a SAS expander whose SES enclosure reports slots 0-7.
pub fn storage_2u() -> ServerSpec {
    let expander = "pci0000:00/0000:00:01.0/0000:18:00.0/host0/port-0:0/expander-0:0";
    let behind = |t: u32| format!("{expander}/port-0:0:{t}/end_device-0:0:{t}");
    let mut disks = vec![
        disk("sda", DiskAt::scsi(&behind(8), "0:0:8:0"), "MZ7KH480HAHQ0D3", 480, false),
        disk("sdb", DiskAt::scsi(&behind(9), "0:0:9:0"), "MZ7KH480HAHQ0D3", 480, false),
    ];
    let mut slots = BTreeMap::new();
    for t in 0..8u32 {
        let name = format!("sd{}", char::from(b'c' + u8::try_from(t).unwrap()));
        let at = DiskAt::scsi(&behind(t), &format!("0:0:{t}:0"));
        disks.push(disk(&name, at, "ST8000NM000A-2KE101", 8000, true));
        slots.insert(t, Some(name));
    }
    ServerSpec {
        vendor: "Dell Inc.".into(),
        product: "PowerEdge R740xd2".into(),
        serial: "7X2KQ33".into(),
        uuid: "4C4C4544-0058-3210-804B-B7C04F513333".into(),
        psus: psus("0PJMDN", 1100),
        nics: vec![
            nic(
                "ens3f0",
                "b4:96:91:aa:00:10",
                "pci0000:00/0000:00:02.0/0000:3b:00.0",
                0x8086,
                0x1593,
                "ice",
                25000,
                "sw-a",
            ),
            nic(
                "ens4f0",
                "0c:42:a1:bb:00:20",
                "pci0000:80/0000:80:02.0/0000:86:00.0",
                0x15b3,
                0x1017,
                "mlx5_core",
                25000,
                "sw-b",
            ),
        ],
        disks,
        // Broadcom (LSI) SAS3008 HBA.
        pci: vec![PciSpec::new("pci0000:00/0000:00:01.0/0000:18:00.0", 0x1000, 0x0097, "mpt3sas")],
        pci_slots: vec![],
        enclosure: Some(EnclosureSpec {
            device_path: format!("{}/target0:0:16/0:0:16:0", behind(16)),
            id: "0x500056b31234abff".into(),
            slots,
        }),
        bmc: None,
        dmi_table_only: false,
    }
}

/// The second QEMU lab model (`qemu-lab-nvme`): vmxnet3 + PCnet, two NVMe SSDs each alone behind a
/// `pcie-root-port` (`chassis=1,slot=1` and `slot=2`, whose slots pciehp names `1` and `2`), two SATA HDDs
/// on the ICH9 AHCI controller's ports 2 and 3 as QEMU counts them (`ide.2`, `ide.3`: the kernel's
/// `ata3`, `ata4`, port_no 3 and 4, SCSI hosts 2 and 3), 2 PSUs.
pub fn qemu_lab_nvme() -> ServerSpec {
    let ahci = "pci0000:00/0000:00:1f.2";
    let behind = |port: u32| format!("pci0000:00/0000:00:0{port}.0/0000:0{}:00.0", port - 1);
    let nvme = |name: &str, port: u32| {
        let mut d = disk(name, DiskAt::Nvme { function: behind(port), index: port - 2 }, "QEMU NVMe Ctrl", 20, false);
        d.wwid = format!("eui.{:016x}", port);
        d
    };
    let mut spec = qemu_lab();
    spec.product = "Rackhand Lab NVMe".into();
    spec.nics = vec![
        nic("eth0", "52:54:00:00:02:01", "pci0000:00/0000:00:04.0", 0x15ad, 0x07b0, "vmxnet3", 10000, "sw-a"),
        nic("eth1", "52:54:00:00:02:02", "pci0000:00/0000:00:05.0", 0x1022, 0x2000, "pcnet32", 10, "sw-b"),
    ];
    spec.disks = vec![
        nvme("nvme0n1", 2),
        nvme("nvme1n1", 3),
        disk("sda", sata(ahci, 3), "QEMU HARDDISK", 40, true),
        disk("sdb", sata(ahci, 4), "QEMU HARDDISK", 40, true),
    ];
    spec.pci = vec![
        PciSpec::new(ahci, 0x8086, 0x2922, "ahci"),
        PciSpec::new("pci0000:00/0000:00:02.0", 0x1b36, 0x000c, "pcieport"),
        PciSpec::new("pci0000:00/0000:00:03.0", 0x1b36, 0x000c, "pcieport"),
        PciSpec::new(&behind(2), 0x1b36, 0x0010, "nvme"),
        PciSpec::new(&behind(3), 0x1b36, 0x0010, "nvme"),
    ];
    spec.pci_slots = vec![("1".into(), "0000:01:00".into()), ("2".into(), "0000:02:00".into())];
    spec
}
