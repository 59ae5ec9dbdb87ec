//! The QEMU lab: a uniquely named network namespace with a bridge, the boot service on it, and virtual
//! servers (QEMU, PXE via the NIC's iPXE ROM) cabled to it through taps — each NIC on its own tap, a port
//! of one of the lab's two switches (Debian's lldpd, sending LLDP). Nothing here touches the host's own
//! interfaces.
//!
//! - [`assets`]: the kernel, initramfs and iPXE binaries the boot service serves.
//! - [`lab`]: namespace + bridge + boot service (+ router advertisements), `lab.json`.
//! - [`instance`]: the boot-service processes, and the second instance of a two-instance lab.
//! - [`server`]: one virtual server: disks, PSUs (SMBIOS type 39), NICs, QEMU, serial log, QMP.
//! - [`switch`]: the top-of-rack switches `sw-a` and `sw-b`, one lldpd each, and cabling a server's taps.
//! - [`boot_order`]: network first (the lab's original) or disk first, as QEMU bootindexes.
//! - [`bmc`]: a server's BMC, OpenIPMI's `ipmi_sim` on the lab's bridge (IPMI-over-LAN), whose chassis
//!   control is [`chassis`] (the `lab-chassis` binary) driving the server's QEMU over QMP.
//! - [`accel`]: TCG unless a probe boot proves KVM works.
//! - [`boot_time`]: the netboot initramfs's boot time, today's against the one before real-server drivers.
//! - [`whole_path`]: a server from power-on to its installed OS, against its disk imaged by hand and booted.
//! - [`browser`]: the dashboard as headless Chromium renders it, from inside the lab namespace.

pub mod accel;
pub mod assets;
pub mod bmc;
pub mod boot_order;
pub mod boot_time;
pub mod browser;
pub mod chassis;
pub mod images;
pub mod instance;
pub mod lab;
pub mod md;
pub mod qmp;
pub mod server;
mod service_config;
pub mod site_dhcp;
pub mod ssh;
pub mod switch;
pub mod whole_path;

/// Set by `cargo xtask test` for the end-to-end tests: the built netboot assets, the boot-service
/// binary, the published images, and the accelerator the probe chose.
pub const ENV_ASSETS: &str = "RACKHAND_LAB_ASSETS";
pub const ENV_BOOT_SERVICE: &str = "RACKHAND_LAB_BOOT_SERVICE";
pub const ENV_IMAGES: &str = "RACKHAND_LAB_IMAGES";
pub const ENV_ACCEL: &str = "RACKHAND_LAB_ACCEL";

/// Where lab state lives: `target/lab` of the workspace.
pub fn lab_dir() -> std::path::PathBuf {
    workspace_root().join("target/lab")
}

pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("workspace root").to_owned()
}
