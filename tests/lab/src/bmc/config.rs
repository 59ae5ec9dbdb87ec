//! The secrets made for each BMC (its `lan.conf` is written by `rackhand_test_bmc::SimConfig`).

use std::io::Read;

/// 16 hex digits from the kernel's random source: a password no two lab servers (or runs) share.
pub(super) fn random_password() -> anyhow::Result<String> {
    random_hex(8)
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_differ_between_servers() {
        let (a, b) = (random_password().unwrap(), random_password().unwrap());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}
