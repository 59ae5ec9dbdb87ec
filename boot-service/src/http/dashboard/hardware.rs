//! The hardware part of a node's page: what the installer found, in the terms a technician checks
//! against the chassis (PSU numbers, NIC cabling to switch ports and each NIC's driver and firmware,
//! disks by bay, the PCI cards no driver claimed by their slot).

use maud::{Markup, html};
use rackhand_api::{DiskController, Inventory, human_bytes};

/// What the installer found, as a technician checks it against the chassis: power, cabling, bays.
pub(super) fn section(inventory: &Inventory) -> Markup {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let driverless: Vec<_> = inventory.pci_devices.iter().filter(|d| d.driver.is_none()).collect();
    let mut disks: Vec<_> = inventory.disks.iter().collect();
    disks.sort_by_key(|d| (d.bay.is_none(), d.bay, d.name.clone()));
    html! {
        h2 { "Hardware" }
        @if let (Some(vendor), Some(product)) = (&inventory.system.vendor, &inventory.system.product) {
            p { (vendor) " " (product) @if let Some(serial) = &inventory.system.serial { ", serial " (serial) } }
        }
        @if inventory.psus.is_empty() && inventory.nics.is_empty() && inventory.disks.is_empty() {
            p { "The installer reported no power supplies, NICs or disks." }
        }
        @if !inventory.psus.is_empty() { table {
            thead { tr { th { "Power supply" } th { "Present" } th { "Powered" } th { "Model" } } }
            tbody {
                @for psu in &inventory.psus {
                    tr class=(if psu.present && psu.powered { "" } else { "failed" }) {
                        td { "PSU " (psu.index) } td { (yes_no(psu.present)) } td { (yes_no(psu.powered)) }
                        td { (psu.model.as_deref().unwrap_or("—")) }
                    }
                }
            }
        } }
        @if !inventory.nics.is_empty() { table {
            thead { tr { th { "NIC" } th { "Vendor" } th { "Driver and firmware" } th { "Link" } th { "Switch and port (LLDP)" } } }
            tbody {
                @for nic in &inventory.nics {
                    tr class=(if nic.carrier { "" } else { "failed" }) {
                        td { (nic.name) br; span.mac { (nic.mac) } }
                        td { (nic.vendor_name.as_deref().unwrap_or("—")) }
                        td {
                            (nic.driver.as_deref().unwrap_or("—"))
                            @if let Some(firmware) = &nic.firmware_version { br; span.mac { "firmware " (firmware) } }
                        }
                        td.nowrap {
                            @if nic.carrier {
                                "up" @if let Some(speed) = nic.speed_mbps { " " (speed) " Mb/s" }
                            } @else { "down" }
                        }
                        td {
                            @if let Some(lldp) = &nic.lldp {
                                (lldp.system_name.as_deref().unwrap_or(&lldp.chassis_id)) " port "
                                (lldp.port_description.as_deref().unwrap_or(&lldp.port_id))
                                // Where the switch is managed from: what the network team needs to look at the port.
                                @if let Some(address) = &lldp.management_address { br; span.mac { "managed at " (address) } }
                            } @else { "—" }
                        }
                    }
                }
            }
        } }
        @if !disks.is_empty() { table {
            thead { tr { th { "Bay" } th { "Disk" } th { "Kind" } th { "Size" } th { "Model" } th { "Bus" } th { "Controller" } } }
            tbody {
                @for disk in disks {
                    tr {
                        td.nowrap {
                            @if let Some(bay) = disk.bay { (bay) } @else { "—" }
                            @if let Some(source) = disk.bay_source { br; span.mac { "by " (source.label()) } }
                        }
                        td { (disk.name) } td { (disk.class.label()) } td.nowrap { (human_bytes(disk.size_bytes)) }
                        td { (disk.model.as_deref().unwrap_or("—")) }
                        td { (disk.transport.as_deref().map_or("—".into(), bus)) }
                        td { (controller(disk.controller.as_ref())) }
                    }
                }
            }
        } }
        @if !driverless.is_empty() { table {
            thead { tr { th { "PCI card without a driver" } th { "Where" } } }
            tbody {
                @for device in driverless {
                    tr.failed { td { (device.label()) } td { (device.place()) } }
                }
            }
        } }
    }
}

/// `sata` → `SATA`, as the bus is written on a datasheet.
fn bus(transport: &str) -> String {
    match transport {
        "sata" | "sas" | "usb" | "scsi" => transport.to_ascii_uppercase(),
        "nvme" => "NVMe".into(),
        other => other.into(),
    }
}

/// Its driver, then where it is: `ahci` / `0000:00:1f.2 [8086:2922]`.
fn controller(controller: Option<&DiskController>) -> Markup {
    let Some(c) = controller else { return html! { "—" } };
    html! {
        (c.driver.as_deref().unwrap_or("no driver")) br;
        span.mac {
            (c.pci_address)
            @if let (Some(vendor), Some(device)) = (c.pci_vendor, c.pci_device) { " [" (format!("{vendor:04x}:{device:04x}")) "]" }
        }
    }
}
