//! The ethtool seam against the real kernel: `ETHTOOL_GDRVINFO` on a veth pair made in two network
//! namespaces, asked from a thread inside one of them (the ioctl's socket names interfaces of its own
//! namespace). Without root this SKIPs with the reason, and fails instead under RACKHAND_REQUIRE_NETNS.

use installer::observe::ethtool::{Ethtool, EthtoolIoctl};
use rackhand_netns::{Netns, require_netns, veth_pair};

#[test]
fn a_veths_driver_says_what_it_is_through_the_ioctl() {
    require_netns!();
    let switch = Netns::create("ethtool-sw").unwrap();
    let node = Netns::create("ethtool-node").unwrap();
    veth_pair(&switch, "swp1", &node, "eth0").unwrap();
    let asked = node.spawn_inside(|| Ok((EthtoolIoctl.driver_info("eth0"), EthtoolIoctl.driver_info("swp1"))));
    let (mine, theirs) = asked.unwrap().join().unwrap().unwrap();
    let info = mine.unwrap();
    // What the kernel's veth driver says (veth_get_drvinfo): its name and version, no firmware, no bus.
    assert_eq!(info.driver.as_deref(), Some("veth"));
    assert_eq!(info.version.as_deref(), Some("1.0"));
    assert_eq!(info.firmware_version, None);
    assert_eq!(info.bus_info, None);
    // The peer end lives in the other namespace: from here there is no such device.
    let err = theirs.unwrap_err();
    assert!(err.to_string().contains("ethtool -i swp1"), "{err}");
    assert!(err.to_string().contains("ENODEV"), "the kernel's answer: {err}");
}
