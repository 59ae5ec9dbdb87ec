//! SES enclosures (`/sys/class/enclosure/NAME`, NAME the enclosure's SCSI address): which slot holds
//! which SCSI device. Each component (`Slot 07`) links to the device in it (`device`) and says its slot
//! number (`slot`); the enclosure says its logical id (`id`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hardware_profiles::SesSite;

use super::sysfs::{canonical, entries, read_trimmed, read_u64};

/// Every enclosure slot that holds a device: the device's canonical path → where it sits.
pub fn ses_slots(root: &Path) -> BTreeMap<PathBuf, SesSite> {
    let class = root.join("sys/class/enclosure");
    let mut out = BTreeMap::new();
    for enclosure in entries(&class) {
        let dir = class.join(&enclosure);
        let enclosure_id = read_trimmed(&dir.join("id"));
        for component in entries(&dir) {
            let comp = dir.join(&component);
            // Kernels before 4.x have no `slot` attribute; the component is then named after its slot.
            let slot = read_u64(&comp.join("slot")).or_else(|| trailing_number(&component));
            let (Some(slot), Some(device)) =
                (slot.and_then(|s| u32::try_from(s).ok()), canonical(&comp.join("device")))
            else {
                continue;
            };
            out.insert(device, SesSite { enclosure: enclosure.clone(), enclosure_id: enclosure_id.clone(), slot });
        }
    }
    out
}

/// `Slot 07` → 7, `Disk012` → 12.
fn trailing_number(name: &str) -> Option<u64> {
    let digits = name.trim_end_matches(|c: char| !c.is_ascii_digit());
    let start = digits.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    digits[start..].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_numbers_from_component_names() {
        assert_eq!(trailing_number("Slot 07"), Some(7));
        assert_eq!(trailing_number("Disk012"), Some(12));
        assert_eq!(trailing_number("Power Supply"), None);
    }
}
