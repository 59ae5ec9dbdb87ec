//! System identity from `/sys/class/dmi/id`.

use std::path::Path;

use rackhand_api::SystemIdentity;

use super::sysfs::read_trimmed;

pub fn observe_system(root: &Path) -> SystemIdentity {
    let dir = root.join("sys/class/dmi/id");
    let attr = |name: &str| read_trimmed(&dir.join(name));
    SystemIdentity {
        vendor: attr("sys_vendor"),
        product: attr("product_name"),
        serial: attr("product_serial"),
        uuid: attr("product_uuid").map(|u| u.to_ascii_lowercase()),
    }
}
