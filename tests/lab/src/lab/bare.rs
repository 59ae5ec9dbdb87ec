//! A lab without a boot service: the namespace and its bridge (10.77.0.1/24) only, for tests of the lab's
//! own machinery (a server's firmware, its BMC) that provision nothing. Nothing answers DHCP in it, so
//! a network boot is seen as its DHCP requests and the firmware falling through to the next device.

use std::path::Path;

use rackhand_netns::Netns;

use super::{BRIDGE, Lab, SERVER_IP};
use crate::switch::Switches;

impl Lab {
    /// A bare lab under `base` (its directory is `base/<namespace>`); no `lab.json`, as nothing serves in it.
    pub fn bare(base: &Path) -> anyhow::Result<Lab> {
        let ns = Netns::create("lab")?;
        ns.bridge(BRIDGE)?;
        ns.addr_up(BRIDGE, &format!("{SERVER_IP}/24"))?;
        let dir = base.join(ns.name());
        std::fs::create_dir_all(&dir)?;
        // Its servers are cabled to switches as in any lab.
        let switches = Some(Switches::start(&ns, &dir)?);
        Ok(Lab { instances: Vec::new(), reads: 0, switches, ns: Some(ns), dir, site: None, clean_up: false })
    }
}
