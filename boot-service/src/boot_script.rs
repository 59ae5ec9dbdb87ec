//! iPXE scripts, rendered from a decision the node service made. Pure text; the only secret in them is
//! the node's one-time token on the kernel command line, and the script is never logged.

use rackhand_api::cmdline::{self, BootParams};
use rackhand_api::{ESP_LABEL, ESP_LOADER, MacAddr, NodeRecord};

use crate::config::{BootConfig, HttpConfig};
use crate::token::Secret;

/// The kernel announces its whole command line, token included, at `KERN_NOTICE` (5); consoles below
/// that level keep it off the screen and out of serial-over-LAN archives (the token is never logged).
/// Kernel warnings and errors still show, the installer's own screen is unaffected, and a `loglevel` in
/// `boot.cmdline` comes later on the line, so it wins.
const QUIET_CONSOLE: &str = "loglevel=5";

/// Boot the installer: kernel + initramfs from `/assets`, and the kernel command line that tells the
/// installer where the boot service is, who it is, and its one-time token (DESIGN.md "Kernel command line").
pub fn install(http: &HttpConfig, boot: &BootConfig, node: &NodeRecord, mac: MacAddr, token: &Secret) -> String {
    let public_url = &http.public_url;
    let assets = format!("{public_url}/assets");
    let (kernel, initrd) = (&boot.kernel, &boot.initrd);
    let initrd_name = initrd.rsplit('/').next().unwrap_or(initrd);
    let params = BootParams {
        server: public_url.to_owned(),
        peers: http.peers.clone(),
        node: node.id,
        mac,
        token: cmdline::Token::new(token.expose()),
    };
    let cmdline = format!("initrd={initrd_name} {} {QUIET_CONSOLE} {}", params.kernel_args(), boot.cmdline);
    format!(
        "#!ipxe\n\
         # Rackhand: install node {id} ({mac})\n\
         echo Rackhand: booting the installer for {label}, {mac}\n\
         :retry\n\
         kernel {assets}/{kernel} {cmdline} || goto failed\n\
         initrd {assets}/{initrd} || goto failed\n\
         boot || goto failed\n\
         :failed\n\
         echo Rackhand: could not load the installer from {assets}, retrying in 5 seconds\n\
         sleep 5\n\
         goto retry\n",
        id = node.id,
        label = node.label(),
        cmdline = cmdline.trim_end(),
    )
}

/// The install is done: leave the network boot and start the installed OS from the local disk, under
/// either firmware. BIOS: close every NIC (`ifclose`), then `sanboot` the first disk: a BIOS `sanboot`
/// keeps iPXE resident with its NICs open and their DMA rings live for SAN drives, and the installed OS
/// would find its boot NIC already running on iPXE's rings (QEMU's vmxnet3 then ignores the OS driver's
/// activation, and the NIC neither sends nor receives); a local disk needs no network. UEFI: chain the installer's loader from an EFI system
/// partition found by its label (iPXE's `file://LABEL/path` opens the volume so labelled), whichever OS
/// disk is left. Only if that fails, `exit 1` back to the firmware: a non-zero status makes its boot
/// manager go on to its next boot option (EDK2's BDS stops at its boot menu after one that returned
/// success), which on a server with several NICs may be every other network boot option first.
pub fn handover(node: &NodeRecord, mac: MacAddr) -> String {
    // Names are host names or rack locations (letters, digits, `-`, `.`): nothing iPXE would expand.
    let label = node.label();
    format!(
        "#!ipxe\n\
         # Rackhand: node {id} ({mac}) hands over to its local disk\n\
         echo Rackhand: {label}, {mac}, installed, booting from its local disk\n\
         iseq ${{platform}} efi && goto efi ||\n\
         ifclose\n\
         sanboot --no-describe --drive 0x80 || exit 1\n\
         :efi\n\
         chain file://{ESP_LABEL}/{ESP_LOADER} || exit 1\n",
        id = node.id,
    )
}

/// The MAC is not enrolled and the subnet's policy does not enrol it: say so on the console and go on
/// with the next boot device.
pub fn not_enrolled(mac: MacAddr) -> String {
    format!(
        "#!ipxe\n\
         echo Rackhand: {mac} is not registered with this boot service.\n\
         echo Register it (POST /api/v1/nodes) or use an auto-enrolment subnet, then reboot.\n\
         sleep 10\n\
         exit 1\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackhand_api::{NodeId, NodeState};

    fn node() -> NodeRecord {
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        NodeRecord::new(NodeId(7), vec![MAC], NodeState::Booting, now)
    }

    const MAC: MacAddr = MacAddr::new([0x52, 0x54, 0, 0, 0, 7]);

    fn boot_config() -> BootConfig {
        BootConfig {
            assets_dir: "/a".into(),
            images_dir: "/i".into(),
            kernel: "vmlinuz".into(),
            initrd: "initrd.img".into(),
            cmdline: "console=ttyS0,115200n8".into(),
            bios_file: "undionly.kpxe".into(),
            uefi_x64_file: "ipxe.efi".into(),
            uefi_arm64_file: "ipxe-arm64.efi".into(),
        }
    }

    fn http(peers: &[&str]) -> HttpConfig {
        HttpConfig {
            listen: "0.0.0.0:8080".parse().unwrap(),
            public_url: "http://10.77.0.1:8080".into(),
            peers: peers.iter().map(|p| p.to_string()).collect(),
            header_read_timeout: HttpConfig::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: HttpConfig::DEFAULT_IDLE_TIMEOUT,
            max_connections: 64,
        }
    }

    #[test]
    fn install_script_carries_the_kernel_command_line_contract() {
        let token = Secret::new("t0k3n".into());
        let script = install(&http(&[]), &boot_config(), &node(), MAC, &token);
        assert!(script.starts_with("#!ipxe\n"));
        let kernel = script.lines().find(|l| l.starts_with("kernel ")).unwrap();
        assert_eq!(
            kernel,
            "kernel http://10.77.0.1:8080/assets/vmlinuz initrd=initrd.img rackhand.server=http://10.77.0.1:8080 \
             rackhand.node=7 rackhand.mac=52:54:00:00:00:07 rackhand.token=t0k3n loglevel=5 console=ttyS0,115200n8 \
             || goto failed"
        );
        assert!(script.contains("\ninitrd http://10.77.0.1:8080/assets/initrd.img || goto failed\n"));
        assert_eq!(script.matches("t0k3n").count(), 1, "the token appears once, on the kernel line");

        let script =
            install(&http(&["http://10.77.0.2:8080", "http://10.77.0.3"]), &boot_config(), &node(), MAC, &token);
        let kernel = script.lines().find(|l| l.starts_with("kernel ")).unwrap();
        assert!(
            kernel.contains(" rackhand.peers=http://10.77.0.2:8080,http://10.77.0.3 "),
            "the other instances are named for the installer: {kernel}"
        );
    }

    #[test]
    fn the_handover_boots_the_disk_under_bios_and_chains_the_esp_loader_under_uefi() {
        let mut node = node();
        node.hostname = Some("rack1-u2".into());
        assert_eq!(
            handover(&node, MAC),
            "#!ipxe\n\
             # Rackhand: node 7 (52:54:00:00:00:07) hands over to its local disk\n\
             echo Rackhand: rack1-u2 (node 7), 52:54:00:00:00:07, installed, booting from its local disk\n\
             iseq ${platform} efi && goto efi ||\n\
             ifclose\n\
             sanboot --no-describe --drive 0x80 || exit 1\n\
             :efi\n\
             chain file://RACKHANDESP/EFI/BOOT/BOOTX64.EFI || exit 1\n"
        );
        node.hostname = None;
        assert!(handover(&node, MAC).contains("echo Rackhand: node 7, 52:54:00:00:00:07, installed,"));
        let script = install(&http(&[]), &boot_config(), &node, MAC, &Secret::new("t".into()));
        assert!(script.contains("echo Rackhand: booting the installer for node 7, 52:54:00:00:00:07\n"), "{script}");
    }

    #[test]
    fn strangers_are_told_why() {
        let script = not_enrolled(MAC);
        assert!(script.contains("52:54:00:00:00:07 is not registered"));
        assert!(!script.contains("kernel"));
    }
}
