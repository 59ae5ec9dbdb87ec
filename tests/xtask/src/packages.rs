//! The Debian packages the tests and the lab need, installed when missing (we run as root in CI).

use std::path::Path;
use std::process::Command;

use crate::run_cmd;

/// A package and a file it installs, to tell whether it is there.
pub struct Package {
    pub name: &'static str,
    pub provides: &'static str,
}

/// What `cargo xtask test` needs: namespaces, a DHCP client, TFTP clients, iPXE binaries, RAID tools, systemd's
/// unit checker.
pub const TEST: &[Package] = &[
    Package { name: "iproute2", provides: "/usr/sbin/ip" },
    Package { name: "iputils-ping", provides: "/usr/bin/ping" },
    Package { name: "busybox-static", provides: "/bin/busybox" },
    Package { name: "atftp", provides: "/usr/bin/atftp" },
    // nft: the lossy TFTP test drops datagrams inside a namespace (the kernel here has no netem).
    Package { name: "nftables", provides: "/usr/sbin/nft" },
    Package { name: "curl", provides: "/usr/bin/curl" },
    Package { name: "ipxe", provides: "/usr/lib/ipxe/undionly.kpxe" },
    // mke2fs: the installer's data-array filesystems (tested on a loop device, shipped in the initramfs).
    Package { name: "e2fsprogs", provides: "/sbin/mke2fs" },
    // sfdisk: the installer writes the OS disks' partition tables with it (shipped in the initramfs).
    Package { name: "fdisk", provides: "/sbin/sfdisk" },
    // The loop-device tests: mdadm (signatures found and wiped), `modprobe loop`, losetup, blkid. Arrays
    // and bonds are tested in the QEMU lab, whose Debian kernel has md and bonding.
    Package { name: "mdadm", provides: "/sbin/mdadm" },
    Package { name: "kmod", provides: "/sbin/modprobe" },
    Package { name: "mount", provides: "/sbin/losetup" },
    Package { name: "util-linux", provides: "/sbin/blkid" },
    // The store's tests run against a throwaway PostgreSQL server too (tests/postgres), as the shared
    // store of several boot-service instances.
    Package { name: "postgresql", provides: "/usr/lib/postgresql/15/bin/postgres" },
    // The boot service's package test: `systemd-analyze verify` and `security` check its unit (no systemd
    // runs as PID 1 here), setpriv (util-linux) runs the binary as the unit would, and the package's
    // postinst creates its user with systemd-sysusers.
    Package { name: "systemd", provides: "/usr/bin/systemd-analyze" },
    Package { name: "util-linux", provides: "/usr/bin/setpriv" },
    // BMCs: the boot service drives them with ipmitool (IPMI over LAN); the tests and the lab's virtual
    // servers get real ones from OpenIPMI's simulator.
    Package { name: "ipmitool", provides: "/usr/bin/ipmitool" },
    Package { name: "openipmi", provides: "/usr/bin/ipmi_sim" },
    // Real peers instead of Rackhand's own encoders: lldpd is the switch in the LLDP namespace tests and
    // the lab (one per switch), dmidecode the second reader of the SMBIOS tables the installer reads.
    Package { name: "lldpd", provides: "/usr/sbin/lldpd" },
    Package { name: "dmidecode", provides: "/usr/sbin/dmidecode" },
    // The PCI id database: the installer's tests name cards from an excerpt; the netboot initramfs
    // carries the whole file so a card without a driver is named by its make and model.
    Package { name: "pci.ids", provides: "/usr/share/misc/pci.ids" },
];

/// What the QEMU lab needs on top of [`TEST`] (`demo`, `lab` and `test` install both lists).
pub const LAB: &[Package] = &[
    Package { name: "qemu-system-x86", provides: "/usr/bin/qemu-system-x86_64" },
    Package { name: "ipxe-qemu", provides: "/usr/lib/ipxe/qemu/efi-e1000e.rom" },
    // depmod and modinfo, for the netboot initramfs's modules and the firmware they load (kmod is in TEST too).
    Package { name: "kmod", provides: "/sbin/depmod" },
    // The key Debian's firmware packages (non-free-firmware) are checked with when the initramfs
    // builder fetches them through its own apt sources.
    Package { name: "debian-archive-keyring", provides: "/usr/share/keyrings/debian-archive-keyring.gpg" },
    // The site DHCP server of the proxyDHCP lab.
    Package { name: "dnsmasq-base", provides: "/usr/sbin/dnsmasq" },
    // The lab's OS image is built from Debian's packages; OVMF is the UEFI servers' firmware; the
    // operators' SSH key and the end-to-end tests' SSH client; the dashboard seen in a browser.
    Package { name: "mmdebstrap", provides: "/usr/bin/mmdebstrap" },
    Package { name: "ovmf", provides: "/usr/share/OVMF/OVMF_CODE_4M.fd" },
    Package { name: "openssh-client", provides: "/usr/bin/ssh" },
    Package { name: "chromium", provides: "/usr/bin/chromium" },
];

/// The peers `cargo xtask bench` compares against. `dnsmasq-base` is dnsmasq without its service.
/// kea-admin brings perfdhcp and makes the schema of Kea's PostgreSQL lease backend (Debian's
/// kea-dhcp4-server links it in) with psql, which comes with the PostgreSQL server in [`TEST`].
pub const BENCH: &[Package] = &[
    Package { name: "kea-admin", provides: "/usr/sbin/perfdhcp" },
    Package { name: "kea-admin", provides: "/usr/sbin/kea-admin" },
    Package { name: "kea-dhcp4-server", provides: "/usr/sbin/kea-dhcp4" },
    Package { name: "dnsmasq-base", provides: "/usr/sbin/dnsmasq" },
    Package { name: "tftpd-hpa", provides: "/usr/sbin/in.tftpd" },
    Package { name: "nginx", provides: "/usr/sbin/nginx" },
    Package { name: "b3sum", provides: "/usr/bin/b3sum" },
];

/// Peers that conflict with an installed one, unpacked from their Debian package instead of installed:
/// atftpd (RFC 7440 windows, the windowed TFTP peer) and tftpd-hpa both ship `/usr/sbin/in.tftpd`.
pub const BENCH_UNPACKED: &[Package] = &[Package { name: "atftpd", provides: "/usr/sbin/atftpd" }];

/// Where [`BENCH_UNPACKED`] packages go: `<UNPACKED_DIR>/<name>/`, their files beneath as in the package.
pub const UNPACKED_DIR: &str = "/opt/rackhand-peers";

/// Downloads (`apt-get download`) and unpacks (`dpkg-deb -x`) whichever of `packages` are missing under
/// [`UNPACKED_DIR`]. Their libraries must already be installed (atftpd links libwrap0, which tftpd-hpa depends on too, and libpcre2-8).
pub fn ensure_unpacked(packages: &[Package], install: bool) -> anyhow::Result<()> {
    for package in packages {
        let dir = Path::new(UNPACKED_DIR).join(package.name);
        if dir.join(package.provides.trim_start_matches('/')).exists() {
            continue;
        }
        if !install || !is_root() {
            eprintln!(
                "xtask: {} is not unpacked in {} (benchmarks that need it will skip)",
                package.name,
                dir.display()
            );
            continue;
        }
        let download = tempfile_dir()?;
        run_cmd(Command::new("apt-get").current_dir(&download).args(["download", "-q", package.name]))?;
        let deb = std::fs::read_dir(&download)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .ok_or_else(|| anyhow::anyhow!("apt-get download {} left no .deb", package.name))?;
        std::fs::create_dir_all(&dir)?;
        run_cmd(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir))?;
        std::fs::remove_dir_all(&download)?;
    }
    Ok(())
}

/// An empty directory for one download, under the system's temporary directory.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("rackhand-xtask-download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// [`ensure`] with the packages' own services kept from starting (a `policy-rc.d` that says no, for the
/// length of the install, unless the machine already has one): the tests and benchmarks run these servers
/// themselves, inside namespaces, and nothing should answer DHCP, TFTP or HTTP on the host, nor send LLDP
/// from it to its switch (Debian's lldpd starts its service when installed).
pub fn ensure_without_starting(packages: &[Package], install: bool) -> anyhow::Result<()> {
    let placed = install && is_root() && !Path::new(POLICY_RC_D).exists() && {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(
            POLICY_RC_D,
            "#!/bin/sh\n# cargo xtask bench: do not start services while installing\nexit 101\n",
        )?;
        std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))?;
        true
    };
    let result = ensure(packages, install);
    if placed {
        std::fs::remove_file(POLICY_RC_D)?;
    }
    result
}

fn is_root() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    euid == 0
}

/// Install whichever of `packages` are missing. Without root, say what is missing and go on.
pub fn ensure(packages: &[Package], install: bool) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages.iter().filter(|p| !Path::new(p.provides).exists()).map(|p| p.name).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !install || !is_root() {
        eprintln!("xtask: missing Debian packages (tests that need them will skip): {}", missing.join(" "));
        return Ok(());
    }
    run_cmd(Command::new("apt-get").arg("update").arg("-q"))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

pub fn running_as_root() -> bool {
    is_root()
}
