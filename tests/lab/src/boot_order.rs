//! A virtual server's boot order: which of NIC 1 and the disks the firmware tries first, as QEMU
//! `bootindex` values (lower first; SeaBIOS reads them from fw_cfg's `bootorder` at every machine reset).
//!
//! Network first is the lab's original order: the boot service's handover script sends an installed server
//! on to its disk. Disk first is what a site with BMCs runs: an installed server boots its disk unless its
//! BMC is told "next boot: network" ([`crate::bmc`]), and an empty disk still falls through to the network.

use crate::server::DiskSpec;

/// The bootindex a one-time "next boot: network" override gives NIC 1: before every disk and before NIC 1's
/// own place in either order.
pub const NETWORK_OVERRIDE_BOOTINDEX: u32 = 0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BootOrder {
    /// NIC 1 (bootindex 1), then the disks in bay order (2 + bay).
    #[default]
    NetworkFirst,
    /// The disks in bay order (1 + bay), then NIC 1. A server whose disks hold nothing bootable still
    /// network-boots: SeaBIOS falls through to the next device.
    DiskFirst,
}

impl BootOrder {
    /// The bootindex of the disk in `bay`.
    pub fn disk_bootindex(self, bay: u8) -> u32 {
        match self {
            BootOrder::NetworkFirst => 2 + u32::from(bay),
            BootOrder::DiskFirst => 1 + u32::from(bay),
        }
    }

    /// NIC 1's bootindex on a server with `disks`.
    pub fn nic_bootindex(self, disks: &[DiskSpec]) -> u32 {
        match self {
            BootOrder::NetworkFirst => 1,
            BootOrder::DiskFirst => {
                disks.iter().map(|disk| self.disk_bootindex(disk.bay)).max().map_or(1, |last| last + 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ServerSpec;

    /// The firmware's order: every device's bootindex, lowest first.
    fn order(boot: BootOrder, disks: &[DiskSpec]) -> Vec<String> {
        let mut devices: Vec<(u32, String)> =
            disks.iter().map(|d| (boot.disk_bootindex(d.bay), format!("bay{}", d.bay))).collect();
        devices.push((boot.nic_bootindex(disks), "nic1".into()));
        devices.sort();
        let mut indexes: Vec<u32> = devices.iter().map(|(index, _)| *index).collect();
        indexes.dedup();
        assert_eq!(indexes.len(), devices.len(), "two devices share a bootindex: {devices:?}");
        devices.into_iter().map(|(_, name)| name).collect()
    }

    #[test]
    fn network_first_then_the_disks_in_bay_order() {
        let disks = ServerSpec::standard("s", 1).disks;
        assert_eq!(order(BootOrder::NetworkFirst, &disks), ["nic1", "bay0", "bay1", "bay2", "bay3"]);
    }

    #[test]
    fn disk_first_puts_nic1_after_the_last_bay_even_with_a_bay_empty() {
        let mut disks = ServerSpec::standard("s", 1).disks;
        disks.retain(|d| d.bay != 1);
        assert_eq!(order(BootOrder::DiskFirst, &disks), ["bay0", "bay2", "bay3", "nic1"]);
        assert_eq!(order(BootOrder::DiskFirst, &[]), ["nic1"]);
    }

    #[test]
    fn the_network_override_comes_before_everything_in_either_order() {
        let disks = ServerSpec::standard("s", 1).disks;
        for boot in [BootOrder::NetworkFirst, BootOrder::DiskFirst] {
            assert!(NETWORK_OVERRIDE_BOOTINDEX < boot.nic_bootindex(&disks));
            assert!(disks.iter().all(|d| NETWORK_OVERRIDE_BOOTINDEX < boot.disk_bootindex(d.bay)));
        }
    }
}
