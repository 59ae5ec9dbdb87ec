//! The QEMU devices a server's model is made of: where its disks attach (and so which bay the profile
//! sees them in), its NICs, and what its SMBIOS says it is.

use super::spec::{DiskKind, DiskSpec, Model, NVME_SATA_PRODUCT, ServerSpec};

/// The SCSI HBA of [`Model::Standard`].
const SCSI_HBA: &str = "scsi0";

/// Arguments the model needs before any disk: its controllers, its SMBIOS identity.
pub(crate) fn model_args(spec: &ServerSpec) -> Vec<String> {
    match spec.model {
        Model::Standard => vec!["-device".into(), format!("virtio-scsi-pci,id={SCSI_HBA}")],
        Model::NvmeSata => {
            let mut args = vec![
                "-smbios".into(),
                format!("type=1,manufacturer=QEMU,product={NVME_SATA_PRODUCT}"),
                // Native PCIe hotplug on the root ports (pciehp), as a server's NVMe backplane has: the kernel
                // then names each slot by its root port's physical slot number (/sys/bus/pci/slots/N). With
                // QEMU's default ACPI hotplug the slots would carry ACPI's names instead.
                "-global".into(),
                "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off".into(),
            ];
            for disk in spec.disks.iter().filter(|d| d.kind == DiskKind::Ssd) {
                args.extend([
                    "-device".into(),
                    format!(
                        "pcie-root-port,id={},bus=pcie.0,chassis=1,slot={}",
                        root_port(disk.bay),
                        nvme_slot(disk.bay)
                    ),
                ]);
            }
            args
        }
    }
}

/// The PCIe slot number of the NVMe SSD in `bay` ([`Model::NvmeSata`]): bay 0 in slot 1, bay 1 in slot 2.
pub fn nvme_slot(bay: u8) -> u8 {
    bay + 1
}

/// The ICH9 AHCI port of the SATA HDD in `bay` ([`Model::NvmeSata`]): the bay's own number (ports 2, 3).
pub fn ahci_port(bay: u8) -> u8 {
    bay
}

fn root_port(bay: u8) -> String {
    format!("rp{bay}")
}

/// The `-device` of the disk in `disk.bay`, whose drive is `drive`.
pub(crate) fn disk_device(spec: &ServerSpec, disk: &DiskSpec, drive: &str, bootindex: u32) -> String {
    let serial = spec.disk_serial(disk.bay).expect("a disk of this server");
    let rate = rotation_rate(disk.kind);
    let id = format!("disk-{drive}");
    match (spec.model, disk.kind) {
        (Model::Standard, _) => format!(
            "scsi-hd,drive={drive},id={id},bus={SCSI_HBA}.0,channel=0,scsi-id={},lun=0,rotation_rate={rate},\
             serial={serial},bootindex={bootindex}",
            disk.bay
        ),
        // NVMe namespaces are never rotational; the controller's serial is what the OS reports.
        (Model::NvmeSata, DiskKind::Ssd) => {
            format!("nvme,drive={drive},id={id},bus={},serial={serial},bootindex={bootindex}", root_port(disk.bay))
        }
        // q35's built-in ICH9 AHCI controller (00:1f.2) names its six ports ide.0 … ide.5.
        (Model::NvmeSata, DiskKind::Hdd) => format!(
            "ide-hd,drive={drive},id={id},bus=ide.{},rotation_rate={rate},serial={serial},bootindex={bootindex}",
            ahci_port(disk.bay)
        ),
    }
}

/// QEMU's `rotation_rate`: 1 says "non-rotating" (an SSD), anything above is an HDD's RPM.
pub(super) fn rotation_rate(kind: DiskKind) -> u32 {
    match kind {
        DiskKind::Ssd => 1,
        DiskKind::Hdd => 7200,
    }
}

/// The bus a disk slid in while the server runs attaches to: only the SCSI model has hot-swap bays.
pub(super) fn hot_plug_bus(spec: &ServerSpec) -> anyhow::Result<String> {
    anyhow::ensure!(
        spec.model == Model::Standard,
        "{} is a {} server, whose bays the lab cannot hot-swap (only {}'s SCSI bays)",
        spec.name,
        spec.model.name(),
        Model::Standard.name()
    );
    Ok(format!("{SCSI_HBA}.0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nvme_sata_model_puts_ssds_in_pcie_slots_and_hdds_on_ahci_ports() {
        let spec = ServerSpec::of_model(Model::NvmeSata, "n", 3);
        let args = model_args(&spec).join(" ");
        assert!(args.contains("pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1"), "{args}");
        assert!(args.contains("pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=2"), "{args}");
        assert!(args.contains(&format!("product={NVME_SATA_PRODUCT}")), "{args}");
        let devices: Vec<String> = spec.disks.iter().map(|d| disk_device(&spec, d, "d", 9)).collect();
        assert!(devices[0].starts_with("nvme,") && devices[0].contains("bus=rp0"), "{devices:?}");
        assert!(devices[2].starts_with("ide-hd,") && devices[2].contains("bus=ide.2"), "{devices:?}");
        assert!(devices[3].contains("bus=ide.3,rotation_rate=7200"), "{devices:?}");
        assert_eq!(spec.nics, ["vmxnet3", "pcnet"]);
        assert!(hot_plug_bus(&spec).is_err());
    }

    #[test]
    fn the_standard_model_puts_every_bay_on_its_scsi_target() {
        let spec = ServerSpec::standard("s", 1);
        assert_eq!(model_args(&spec), ["-device", "virtio-scsi-pci,id=scsi0"]);
        let device = disk_device(&spec, &spec.disks[2], "bay2", 5);
        assert!(device.contains("bus=scsi0.0,channel=0,scsi-id=2,lun=0,rotation_rate=7200"), "{device}");
        assert_eq!(hot_plug_bus(&spec).unwrap(), "scsi0.0");
    }
}
