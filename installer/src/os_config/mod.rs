//! What the installer writes into the installed system so that it comes up on its first boot as the
//! profile and the node record say, with nobody at the console: host name, the bond (systemd-networkd,
//! legs matched by their permanent MAC, the bond taking the primary leg's MAC so DHCP knows the node),
//! the arrays by UUID, the data filesystem mounted by UUID, the operators' SSH keys, and the agent that
//! reports the running system to the boot service. Files rather than a cloud-init seed: the image then
//! needs no cloud-init (and no Python), and every file is decided here, by a pure function, before the
//! first boot. The boot-loader commands are decided here too; [`crate::apply::target`] carries them out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hardware_profiles::BondMode;
use rackhand_api::{DeploySettings, ESP_LABEL, Inventory, MacAddr, NodeId, PlanResults};
use serde::{Deserialize, Serialize};

use crate::layout::BootDisk;
use crate::plan::{BondPlan, Plan};

/// Where the agent and its files live in the installed system.
pub const AGENT_BINARY: &str = "/usr/local/sbin/rackhand-agent";
pub const AGENT_CONFIG: &str = "/etc/rackhand/agent.json";
/// The one-time deploy credential; the agent deletes it once the first report is accepted.
pub const DEPLOY_CREDENTIAL: &str = "/etc/rackhand/deploy-credential";
/// The agent's own credential for later reports.
pub const AGENT_TOKEN: &str = "/etc/rackhand/agent-token";
const AGENT_UNIT: &str = "/etc/systemd/system/rackhand-agent.service";
const AGENT_TIMER: &str = "/etc/systemd/system/rackhand-agent.timer";
/// How long after one report the agent reports again: a lost disk or bond leg reaches the dashboard
/// within this and the boot service's next page refresh.
pub const AGENT_EVERY_SECS: u32 = 30;

/// One file (or link) to put into the installed system; paths are inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OsFile {
    Write {
        path: String,
        contents: String,
        mode: u32,
    },
    /// Add to the end of a file the image has (`/etc/fstab`).
    Append {
        path: String,
        contents: String,
    },
    /// A symbolic link `path` → `target`.
    Link {
        path: String,
        target: String,
    },
    /// The running installer binary itself, as the agent.
    ThisBinary {
        path: String,
    },
}

/// What the agent knows of the server it runs on: who to report to, and what it was built as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The boot service's base URL: the instance that installed the node.
    pub server: String,
    /// The other instances on the same store, asked when `server` does not answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    pub node: NodeId,
    /// Disks by serial number, and their bays.
    pub bays: Vec<BayDisk>,
    /// The profile's bay map (`"pcie-slot:1" = 0`): a disk whose serial is new is placed by it, as the
    /// installer placed the disks it found.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bay_map: BTreeMap<String, u32>,
    pub arrays: Vec<ExpectedArray>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond: Option<ExpectedBond>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BayDisk {
    pub serial: String,
    pub bay: u32,
    /// `SSD`, `HDD`, for the fix a technician reads.
    pub class: String,
    /// Its SCSI address at install (`host:channel:target:lun`): a disk swapped into the same bay has it
    /// too, though not the serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hctl: Option<String>,
    /// Its size: a replacement must be at least as large.
    #[serde(default)]
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedArray {
    pub uuid: String,
    /// The name the installer gave it (`/dev/md0`).
    pub device: String,
    pub bays: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedBond {
    pub name: String,
    pub legs: Vec<ExpectedLeg>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedLeg {
    pub mac: MacAddr,
    /// Where its cable goes, as LLDP said during the install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

/// What the installed system is configured from, besides the plan and what the install built.
pub struct Deployment<'a> {
    pub settings: &'a DeploySettings,
    pub inventory: &'a Inventory,
    /// Every boot-service instance's base URL, the installing one first, for the agent.
    pub servers: &'a [String],
    pub node: NodeId,
}

/// The installed system's last file: the one-time deploy credential its agent reports `ready` with,
/// readable by root only.
pub fn deploy_credential_file(secret: &str) -> OsFile {
    OsFile::Write { path: DEPLOY_CREDENTIAL.into(), contents: format!("{secret}\n"), mode: 0o600 }
}

/// The files of the installed system, in the order they are written.
pub fn os_files(plan: &Plan, results: &PlanResults, deployment: &Deployment) -> Vec<OsFile> {
    let write = |path: &str, contents: String, mode| OsFile::Write { path: path.into(), contents, mode };
    let hostname = &deployment.settings.hostname;
    let short = hostname.split('.').next().unwrap_or(hostname);
    let mut files = vec![
        write("/etc/hostname", format!("{hostname}\n"), 0o644),
        write("/etc/hosts", format!("127.0.0.1\tlocalhost\n127.0.1.1\t{hostname} {short}\n"), 0o644),
    ];
    files.extend(bond_files(&plan.bond, deployment.inventory));
    files.push(write("/etc/mdadm/mdadm.conf", mdadm_conf(results), 0o644));
    let mut fstab = String::new();
    for array in &results.arrays {
        if let Some(fs) = &array.filesystem {
            let dir = format!("/srv/{}", fs.label.as_deref().unwrap_or(array.device.trim_start_matches("/dev/")));
            let _ = writeln!(fstab, "UUID={}\t{dir}\t{}\tdefaults,nofail\t0\t2", fs.uuid, fs.kind);
            files.push(write(&format!("{dir}/.rackhand"), format!("mounted from {} by UUID\n", array.device), 0o644));
        }
    }
    if !fstab.is_empty() {
        files.push(OsFile::Append { path: "/etc/fstab".into(), contents: fstab });
    }
    let keys: String = deployment.settings.ssh_authorized_keys.iter().map(|k| format!("{}\n", k.trim())).collect();
    files.push(write("/root/.ssh/authorized_keys", keys, 0o600));
    let config = agent_config(plan, results, deployment);
    files.push(write(AGENT_CONFIG, serde_json::to_string_pretty(&config).expect("plain data") + "\n", 0o600));
    files.push(OsFile::ThisBinary { path: AGENT_BINARY.into() });
    files.push(write(AGENT_UNIT, agent_unit(), 0o644));
    files.push(OsFile::Link {
        path: "/etc/systemd/system/multi-user.target.wants/rackhand-agent.service".into(),
        target: AGENT_UNIT.into(),
    });
    files.push(write(AGENT_TIMER, agent_timer(), 0o644));
    files.push(OsFile::Link {
        path: "/etc/systemd/system/timers.target.wants/rackhand-agent.timer".into(),
        target: AGENT_TIMER.into(),
    });
    files
}

fn mac_of(inventory: &Inventory, name: &str) -> Option<MacAddr> {
    inventory.nics.iter().find(|n| n.name == name).map(|n| n.mac)
}

/// systemd-networkd: the bond (with the primary leg's MAC, so its DHCP requests come from the MAC the
/// boot service knows the node by), one `.network` per leg matched by permanent MAC (interface names in
/// the installed OS differ from the installer's), and DHCP on the bond.
fn bond_files(bond: &BondPlan, inventory: &Inventory) -> Vec<OsFile> {
    let name = &bond.name;
    let mac = bond.primary.as_deref().or(bond.legs.first().map(String::as_str)).and_then(|l| mac_of(inventory, l));
    let mut netdev = format!("[NetDev]\nName={name}\nKind=bond\n");
    if let Some(mac) = mac {
        let _ = writeln!(netdev, "MACAddress={mac}");
    }
    let _ = write!(netdev, "\n[Bond]\nMode={}\nMIIMonitorSec={}ms\n", bond.mode, bond.miimon_ms);
    match bond.mode {
        BondMode::ActiveBackup => netdev.push_str("PrimaryReselectPolicy=always\n"),
        BondMode::Lacp => netdev.push_str("LACPTransmitRate=fast\nTransmitHashPolicy=layer3+4\n"),
        BondMode::BalanceAlb => {}
    }
    let mut files =
        vec![OsFile::Write { path: format!("/etc/systemd/network/10-{name}.netdev"), contents: netdev, mode: 0o644 }];
    for leg in &bond.legs {
        let Some(mac) = mac_of(inventory, leg) else { continue };
        let primary = if bond.primary.as_deref() == Some(leg.as_str()) { "PrimarySlave=true\n" } else { "" };
        files.push(OsFile::Write {
            path: format!("/etc/systemd/network/11-{name}-{}.network", mac.to_string().replace(':', "")),
            contents: format!("[Match]\nPermanentMACAddress={mac}\n\n[Network]\nBond={name}\n{primary}"),
            mode: 0o644,
        });
    }
    files.push(OsFile::Write {
        path: format!("/etc/systemd/network/20-{name}.network"),
        contents: format!(
            "[Match]\nName={name}\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n\n\
             [DHCPv4]\nClientIdentifier=mac\n"
        ),
        mode: 0o644,
    });
    files
}

/// Arrays by UUID; `HOMEHOST <ignore>`: they were made by the installer, whose host name was not this one.
fn mdadm_conf(results: &PlanResults) -> String {
    let mut out = String::from("# Written by the Rackhand installer.\nHOMEHOST <ignore>\nMAILADDR root\n");
    for array in &results.arrays {
        let _ = writeln!(out, "ARRAY {} metadata=1.2 UUID={}", array.device, array.uuid);
    }
    out
}

fn agent_config(plan: &Plan, results: &PlanResults, deployment: &Deployment) -> AgentConfig {
    let disks = &deployment.inventory.disks;
    let bays = disks
        .iter()
        .filter_map(|d| {
            let class = d.class.label().to_owned();
            Some(BayDisk {
                serial: d.serial.clone()?,
                bay: d.bay?,
                class,
                hctl: d.hctl.clone(),
                size_bytes: d.size_bytes,
            })
        })
        .collect();
    let bay_of = |member: &str| {
        let disk = crate::layout::parent_disk(member.trim_start_matches("/dev/"));
        disks.iter().find(|d| d.name == disk).and_then(|d| d.bay)
    };
    let arrays = results
        .arrays
        .iter()
        .map(|a| ExpectedArray {
            uuid: a.uuid.clone(),
            device: a.device.clone(),
            bays: a.members.iter().filter_map(|m| bay_of(m)).collect(),
        })
        .collect();
    let nic = |leg: &str| deployment.inventory.nics.iter().find(|n| n.name == leg);
    let bond = ExpectedBond {
        name: plan.bond.name.clone(),
        legs: plan
            .bond
            .legs
            .iter()
            .filter_map(|leg| nic(leg))
            .map(|n| ExpectedLeg {
                mac: n.mac,
                switch: n.lldp.as_ref().map(|l| l.system_name.clone().unwrap_or_else(|| l.chassis_id.clone())),
                port: n.lldp.as_ref().map(|l| l.port_id.clone()),
            })
            .collect(),
    };
    let (server, peers) = match deployment.servers {
        [server, peers @ ..] => (server.clone(), peers.to_vec()),
        [] => (String::new(), Vec::new()),
    };
    AgentConfig { server, peers, node: deployment.node, bays, bay_map: plan.bay_map.clone(), arrays, bond: Some(bond) }
}

fn agent_unit() -> String {
    format!(
        "[Unit]\nDescription=Rackhand agent: report this server to its boot service\n\
         Wants=network-online.target\nAfter=network-online.target\n\n\
         [Service]\nType=oneshot\nExecStart={AGENT_BINARY} agent --config {AGENT_CONFIG}\n\n\
         [Install]\nWantedBy=multi-user.target\n"
    )
}

/// The agent again [`AGENT_EVERY_SECS`] after each run (the service is a oneshot that does not stay
/// active, so each start runs it): the running system's arrays, bond and problems, kept current.
fn agent_timer() -> String {
    format!(
        "[Unit]\nDescription=Rackhand agent: report this server's health every {AGENT_EVERY_SECS} s\n\n\
         [Timer]\nOnUnitInactiveSec={AGENT_EVERY_SECS}s\nAccuracySec=1s\n\n\
         [Install]\nWantedBy=timers.target\n"
    )
}

/// The commands (run inside the installed system) that make it bootable from every OS disk, after its
/// partition tables are written: a FAT32 ESP per disk, all labelled [`ESP_LABEL`] (the boot service's
/// UEFI handover finds the loader by that label on whichever disk is left), the host keys of this server, GRUB for BIOS into
/// each disk's BIOS boot partition, and GRUB for UEFI as the removable-media loader of each ESP (no NVRAM
/// entry: the firmware finds `\EFI\BOOT\BOOTX64.EFI` on whichever disk is left). `mount`/`umount` steps
/// name the ESP mounted at `/boot/efi` in between.
pub fn boot_loader_steps(disks: &[BootDisk]) -> Vec<BootStep> {
    let cmd = |args: &[&str]| BootStep::Run(args.iter().map(|a| (*a).to_owned()).collect());
    let mut steps = Vec::new();
    for disk in disks {
        steps.push(cmd(&["mkfs.vfat", "-F", "32", "-n", ESP_LABEL, &disk.esp()]));
    }
    for kind in ["ed25519", "ecdsa"] {
        let key = format!("/etc/ssh/ssh_host_{kind}_key");
        steps.push(BootStep::Remove(vec![key.clone(), format!("{key}.pub")]));
        steps.push(cmd(&["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", &key]));
    }
    for disk in disks {
        steps.push(cmd(&["grub-install", "--target=i386-pc", &disk.disk]));
        steps.push(BootStep::MountEsp(disk.esp()));
        steps.push(cmd(&[
            "grub-install",
            "--target=x86_64-efi",
            "--efi-directory=/boot/efi",
            "--boot-directory=/boot",
            "--removable",
            "--no-nvram",
            "--no-uefi-secure-boot",
        ]));
        steps.push(BootStep::UnmountEsp);
    }
    steps
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootStep {
    Run(Vec<String>),
    /// Remove these files if they exist.
    Remove(Vec<String>),
    MountEsp(String),
    UnmountEsp,
}

#[cfg(test)]
mod tests;
