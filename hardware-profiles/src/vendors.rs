//! The network-card vendors profiles may name, by PCI vendor id.

/// A PCI vendor a profile can refer to by `slug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PciVendor {
    pub id: u16,
    /// What profiles write: `intel`.
    pub slug: &'static str,
    /// What technicians read: `Intel`.
    pub name: &'static str,
}

const VENDORS: &[PciVendor] = &[
    PciVendor { id: 0x8086, slug: "intel", name: "Intel" },
    PciVendor { id: 0x14e4, slug: "broadcom", name: "Broadcom" },
    PciVendor { id: 0x15b3, slug: "mellanox", name: "Mellanox" },
    PciVendor { id: 0x10ec, slug: "realtek", name: "Realtek" },
    PciVendor { id: 0x1077, slug: "qlogic", name: "QLogic" },
    PciVendor { id: 0x1924, slug: "solarflare", name: "Solarflare" },
    PciVendor { id: 0x1425, slug: "chelsio", name: "Chelsio" },
    PciVendor { id: 0x19ee, slug: "netronome", name: "Netronome" },
    PciVendor { id: 0x1d6a, slug: "aquantia", name: "Aquantia" },
    PciVendor { id: 0x1137, slug: "cisco", name: "Cisco" },
    PciVendor { id: 0x19e5, slug: "huawei", name: "Huawei" },
    PciVendor { id: 0x1af4, slug: "virtio", name: "Red Hat virtio" },
    PciVendor { id: 0x15ad, slug: "vmware", name: "VMware" },
    PciVendor { id: 0x1022, slug: "amd", name: "AMD" },
];

pub fn vendor_by_id(id: u16) -> Option<PciVendor> {
    VENDORS.iter().copied().find(|v| v.id == id)
}

/// Case-insensitive lookup of a profile's vendor name.
pub fn vendor_by_slug(slug: &str) -> Option<PciVendor> {
    VENDORS.iter().copied().find(|v| v.slug.eq_ignore_ascii_case(slug.trim()))
}

/// The slugs profiles may use, for error messages.
pub(crate) fn known_slugs() -> String {
    VENDORS.iter().map(|v| v.slug).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_slugs_agree() {
        assert_eq!(vendor_by_id(0x8086).unwrap().name, "Intel");
        assert_eq!(vendor_by_slug("Mellanox").unwrap().id, 0x15b3);
        assert_eq!(vendor_by_slug("nobody"), None);
        assert_eq!((vendor_by_slug("vmware").unwrap().id, vendor_by_id(0x1022).unwrap().slug), (0x15ad, "amd"));
        for v in VENDORS {
            assert_eq!(vendor_by_id(v.id), Some(*v));
            assert_eq!(vendor_by_slug(v.slug), Some(*v));
        }
    }
}
