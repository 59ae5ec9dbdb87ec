//! Where the netboot initramfs puts what the installer reads: written by `images/netboot` when it builds
//! the archive, read by the installer at run time. One layout, both ends.

/// The kernel modules to load, one `name [params]` per line, in load order.
pub const MODULES_LIST: &str = "/etc/rackhand/modules";
/// The hardware profiles (`*.toml`).
pub const PROFILES_DIR: &str = "/etc/rackhand/profiles";
/// The public keys (`*.pub`) image manifests may be signed with.
pub const TRUSTED_KEYS_DIR: &str = "/etc/rackhand/keys";

/// Where the kernel's firmware loader looks (`NAME` as a driver asks for it, e.g. `rtl_nic/rtl8168h-2.fw`).
pub const FIRMWARE_DIR: &str = "/lib/firmware";
/// Which firmware files were shipped and from which Debian package, and which no package had.
pub const FIRMWARE_LIST: &str = "/etc/rackhand/firmware";

/// A path of this layout as an archive member, which is named without the leading `/`.
pub fn member(path: &str) -> &str {
    path.trim_start_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_the_paths_without_their_root() {
        assert_eq!(member(MODULES_LIST), "etc/rackhand/modules");
        assert_eq!(format!("/{}", member(PROFILES_DIR)), PROFILES_DIR);
    }
}
