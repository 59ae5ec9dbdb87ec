//! What ipmi_sim is told: its `lan.conf` (the LAN channel, the chassis command, the admin user) and its
//! start-up commands, with the secrets made for each BMC.

use std::io::Read;
use std::net::SocketAddrV4;

use super::USER;

/// The emulator's start-up commands: the BMC itself, management controller 0x20, enabled.
pub(super) const COMMANDS: &str =
    "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n";

/// `lan.conf`: one LAN channel on `address`, MD5 for every privilege, the chassis command (ipmi_sim appends
/// `get|set ...` to it after the device `0x20`), the admin user.
pub(super) fn lan_conf(server: &str, address: SocketAddrV4, chassis: &str, password: &str) -> anyhow::Result<String> {
    let guid = random_hex(16)?;
    Ok(format!(
        "# Written by the Rackhand lab: the BMC of {server}.\n\
         name \"{server}\"\n\
         set_working_mc 0x20\n\
         startlan 1\n  addr {ip} {port}\n  priv_limit admin\n  allowed_auths_callback md5\n  allowed_auths_user md5\n  \
         allowed_auths_operator md5\n  allowed_auths_admin md5\n  guid {guid}\nendlan\n\
         chassis_control \"{chassis} 0x20\"\n\
         user 2 true \"{USER}\" \"{password}\" admin 10 md5\n",
        ip = address.ip(),
        port = address.port(),
    ))
}

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

    #[test]
    fn the_chassis_command_and_the_user_reach_lan_conf() {
        let address = "10.77.0.201:623".parse().unwrap();
        let conf = lan_conf("s1", address, "/bin/lab-chassis --qmp /x", "secret").unwrap();
        assert!(conf.contains("  addr 10.77.0.201 623\n"), "{conf}");
        assert!(conf.contains("chassis_control \"/bin/lab-chassis --qmp /x 0x20\"\n"), "{conf}");
        assert!(conf.contains("user 2 true \"admin\" \"secret\" admin 10 md5\n"), "{conf}");
    }
}
