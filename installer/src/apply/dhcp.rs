//! An address over DHCP with busybox `udhcpc -i IFACE -n -q -s SCRIPT`: the script (written here) sets
//! the address and default route with `ip` and records the lease for the installer to show.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::ApplyError;

/// The udhcpc hook: `$1` is the event; `$ip`, `$mask` (prefix length), `$router`, `$interface` come from
/// udhcpc. `RACKHAND_LEASE` (set by the installer) is where the lease is recorded.
pub const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# Written by the Rackhand installer: configure the lease udhcpc got, with `ip`.
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
        ip route replace default via "${router%% *}" dev "$interface"
    fi
    if [ -n "$RACKHAND_LEASE" ]; then
        echo "$ip/${mask:-24} ${router%% *}" > "$RACKHAND_LEASE"
    fi
    ;;
esac
exit 0
"#;

/// What DHCP gave an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub interface: String,
    /// `10.77.0.50/24`.
    pub address: String,
    pub router: Option<String>,
}

/// `10.77.0.50/24 10.77.0.1` as the script records it.
pub fn parse_lease(interface: &str, recorded: &str) -> Option<Lease> {
    let mut words = recorded.split_whitespace();
    let address = words.next()?.to_owned();
    address.contains('/').then(|| Lease {
        interface: interface.to_owned(),
        address,
        router: words.next().map(str::to_owned),
    })
}

/// Runs udhcpc (busybox's applet, or `busybox udhcpc` when no applet link exists).
#[derive(Debug, Clone)]
pub struct Udhcpc {
    /// Where the script and lease files go (`/run/rackhand`).
    pub dir: PathBuf,
}

impl Udhcpc {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn command() -> Command {
        for applet in ["/sbin/udhcpc", "/bin/udhcpc", "/usr/sbin/udhcpc"] {
            if Path::new(applet).exists() {
                return Command::new(applet);
            }
        }
        let mut busybox = Command::new(if Path::new("/bin/busybox").exists() { "/bin/busybox" } else { "busybox" });
        busybox.arg("udhcpc");
        busybox
    }

    /// Get a lease on `interface` (already up), trying `tries` discovers (3 s apart, udhcpc's default).
    pub fn lease(&self, interface: &str, tries: u32) -> Result<Lease, ApplyError> {
        let io = |what: String| move |e| ApplyError::Io { what, source: e };
        std::fs::create_dir_all(&self.dir).map_err(io(format!("creating {}", self.dir.display())))?;
        let script = self.dir.join("udhcpc.script");
        write_executable(&script, UDHCPC_SCRIPT).map_err(io(format!("writing {}", script.display())))?;
        let lease_file = self.dir.join(format!("lease-{interface}"));
        let _ = std::fs::remove_file(&lease_file);
        let out = Self::command()
            .args(["-i", interface, "-n", "-q", "-f", "-t", &tries.to_string(), "-s"])
            .arg(&script)
            .env("RACKHAND_LEASE", &lease_file)
            .env("PATH", crate::pid1::init::search_path())
            .output()
            .map_err(io("running udhcpc".into()))?;
        if !out.status.success() {
            return Err(ApplyError::Command {
                what: format!("DHCP on {interface}"),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        let recorded = std::fs::read_to_string(&lease_file).unwrap_or_default();
        parse_lease(interface, &recorded).ok_or_else(|| ApplyError::Command {
            what: format!("DHCP on {interface}"),
            status: out.status.to_string(),
            stderr: "udhcpc succeeded but the script recorded no lease".into(),
        })
    }
}

fn write_executable(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_lines_parse() {
        let lease = parse_lease("bond0", "10.77.0.50/24 10.77.0.1\n").unwrap();
        assert_eq!(lease.address, "10.77.0.50/24");
        assert_eq!(lease.router.as_deref(), Some("10.77.0.1"));
        assert_eq!(parse_lease("bond0", "10.77.0.50/24 \n").unwrap().router, None);
        assert_eq!(parse_lease("bond0", ""), None);
        assert_eq!(parse_lease("bond0", "garbage"), None);
    }

    #[test]
    fn the_script_sets_address_and_route_with_ip_only() {
        assert!(UDHCPC_SCRIPT.starts_with("#!/bin/sh\n"));
        assert!(UDHCPC_SCRIPT.contains(r#"ip addr add "$ip/${mask:-24}" dev "$interface""#));
        assert!(UDHCPC_SCRIPT.contains("ip route replace default via"));
    }
}
