//! Small readers for sysfs attribute files. Missing or unreadable attributes are `None`: observation
//! reports what it can see and the judge decides what an absence means.

use std::path::{Path, PathBuf};

/// The file's contents without surrounding whitespace; `None` if absent, unreadable or empty.
pub fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// A `0x8086`-style hexadecimal attribute.
pub fn read_hex_u16(path: &Path) -> Option<u16> {
    let text = read_trimmed(path)?;
    u16::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

/// A `0x020000`-style hexadecimal attribute (a PCI class).
pub fn read_hex_u32(path: &Path) -> Option<u32> {
    let text = read_trimmed(path)?;
    u32::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

pub fn read_u64(path: &Path) -> Option<u64> {
    read_trimmed(path)?.parse().ok()
}

/// The last path component of a symlink's target (`device/driver` → `e1000e`).
pub fn link_basename(path: &Path) -> Option<String> {
    let target = std::fs::read_link(path).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

pub fn canonical(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// Names of the entries of a directory, sorted; empty when it does not exist.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// `0000:3b:00.0`.
pub fn is_pci_address(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && name.chars().filter(|c| c.is_ascii_hexdigit()).count() == 9
}

/// `0:0:1:0`.
pub fn is_hctl(name: &str) -> bool {
    let parts: Vec<&str> = name.split(':').collect();
    parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_pci_and_scsi_addresses() {
        assert!(is_pci_address("0000:3b:00.0"));
        assert!(!is_pci_address("virtio2"));
        assert!(is_hctl("0:0:1:0"));
        assert!(!is_hctl("target0:0:1"));
        assert!(!is_hctl("0:0:x:0"));
    }
}
