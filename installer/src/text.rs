//! Plain-text renderings of an inventory and a verdict for the console and technicians.

use std::fmt::Write;

use rackhand_api::{Disk, Inventory, Nic, PowerSupply, Severity, Verdict};

pub fn inventory_text(inv: &Inventory) -> String {
    let mut out = String::new();
    let s = &inv.system;
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let _ = writeln!(
        out,
        "system: {} {} (serial {}, uuid {})",
        or_unknown(&s.vendor),
        or_unknown(&s.product),
        or_unknown(&s.serial),
        or_unknown(&s.uuid)
    );
    for psu in &inv.psus {
        let _ = writeln!(out, "{}", psu_line(psu));
    }
    for nic in &inv.nics {
        let _ = writeln!(out, "{}", nic_line(nic));
    }
    for disk in &inv.disks {
        let _ = writeln!(out, "{}", disk_line(disk));
    }
    for device in &inv.pci_devices {
        let driver = device.driver.as_deref().map_or_else(|| "NO driver".to_owned(), |d| format!("driver {d}"));
        let slot = device.slot.as_deref().map_or_else(String::new, |s| format!(" (slot {s})"));
        let _ = writeln!(out, "PCI {}{slot}: {}, {driver}", device.address, device.label());
    }
    out
}

fn psu_line(psu: &PowerSupply) -> String {
    let mut line = format!(
        "PSU {}: {}, {}, status {:?}",
        psu.index,
        if psu.present { "present" } else { "absent" },
        if psu.powered { "powered" } else { "NOT powered" },
        psu.status
    );
    if let Some(w) = psu.max_power_watts {
        let _ = write!(line, ", {w} W");
    }
    for v in [&psu.location, &psu.manufacturer, &psu.model, &psu.serial].into_iter().flatten() {
        let _ = write!(line, ", {v}");
    }
    let _ = write!(line, " [{:?}]", psu.source);
    if let Some(bmc) = &psu.bmc {
        let _ = write!(line, "; BMC {}: {}", bmc.sensor, bmc.events.join(", "));
    }
    line
}

fn nic_line(nic: &Nic) -> String {
    let mut line = format!("NIC {}: {}", nic.name, nic.mac);
    if let (Some(v), Some(d)) = (nic.pci_vendor, nic.pci_device) {
        let name = nic.vendor_name.as_deref().unwrap_or("unknown vendor");
        let _ = write!(line, ", {name} [{v:04x}:{d:04x}]");
    }
    if let Some(driver) = &nic.driver {
        let _ = write!(line, ", driver {driver}");
    }
    if let Some(firmware) = &nic.firmware_version {
        let _ = write!(line, ", firmware {firmware}");
    }
    match (nic.carrier, nic.speed_mbps) {
        (true, Some(speed)) => {
            let _ = write!(line, ", link up {speed} Mb/s");
        }
        (true, None) => line.push_str(", link up"),
        (false, _) => line.push_str(", no link"),
    }
    if let Some(lldp) = &nic.lldp {
        let switch = lldp.system_name.as_deref().unwrap_or(&lldp.chassis_id);
        let _ = write!(line, ", switch {switch} port {}", lldp.port_id);
    }
    line
}

fn disk_line(disk: &Disk) -> String {
    let mut line = format!("disk {}: {} {} GB", disk.name, disk.class.label(), disk.size_bytes / 1_000_000_000);
    for v in [&disk.model, &disk.serial, &disk.wwn, &disk.transport, &disk.hctl].into_iter().flatten() {
        let _ = write!(line, ", {v}");
    }
    if let Some(c) = &disk.controller {
        let _ = write!(line, ", controller {}", c.pci_address);
        if let (Some(v), Some(d)) = (c.pci_vendor, c.pci_device) {
            let _ = write!(line, " [{v:04x}:{d:04x}]");
        }
        if let Some(driver) = &c.driver {
            let _ = write!(line, " driver {driver}");
        }
    }
    match (disk.bay, disk.bay_source) {
        (Some(bay), Some(source)) => {
            let _ = write!(line, ", bay {bay} (by {})", source.label());
        }
        (Some(bay), None) => {
            let _ = write!(line, ", bay {bay}");
        }
        (None, _) => line.push_str(", no known bay"),
    }
    if disk.hot_swap {
        line.push_str(", hot-swap");
    }
    line
}

/// Problems as `PART: MESSAGE` / `  fix: FIX`, blocking first, then the decision.
pub fn verdict_text(verdict: &Verdict) -> String {
    let mut out = String::new();
    let mut problems: Vec<_> = verdict.problems.iter().collect();
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    for p in problems {
        let tag = if p.severity == Severity::Warning { " (warning)" } else { "" };
        let _ = writeln!(out, "{}: {}{tag}\n  fix: {}", p.part, p.message, p.fix);
    }
    let blocking = verdict.blocking().count();
    if verdict.must_not_install() {
        let _ = writeln!(out, "verdict: do NOT install ({blocking} blocking problems, profile {})", verdict.profile);
    } else {
        let _ = writeln!(out, "verdict: ready to install with profile {}", verdict.profile);
    }
    out
}

#[cfg(test)]
mod tests {
    use rackhand_api::Problem;

    use super::*;

    #[test]
    fn blocking_problems_come_first_with_their_fix() {
        let verdict = Verdict {
            profile: "qemu-lab".into(),
            matched: true,
            problems: vec![
                Problem::warning("NIC eth1", "NIC eth1 hears no LLDP from its switch", "enable LLDP"),
                Problem::blocking(
                    "PSU 2",
                    "PSU 2 present but not receiving power",
                    "plug its cord into the B-feed PDU",
                ),
            ],
        };
        assert_eq!(
            verdict_text(&verdict),
            "PSU 2: PSU 2 present but not receiving power\n  fix: plug its cord into the B-feed PDU\n\
             NIC eth1: NIC eth1 hears no LLDP from its switch (warning)\n  fix: enable LLDP\n\
             verdict: do NOT install (1 blocking problems, profile qemu-lab)\n"
        );
    }
}
