//! The rules of `[deploy]` values, as pure checks whose messages `validate.rs` puts behind file, line and
//! field: durations (`90s`, `5m`, `2h`) and OpenSSH public key lines.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Key types an OpenSSH `authorized_keys` line may start with.
const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// `90s`, `5m`, `2h`: a whole number of seconds, minutes or hours, at least a second and at most a day.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let rule = || format!("`{}`: a whole number followed by s, m or h (`90s`, `5m`, `2h`)", text.escape_debug());
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(rule)?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number.parse().map_err(|_| rule())?;
    let secs = match unit {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        _ => return Err(rule()),
    };
    match secs {
        Some(secs @ 1..=86_400) => Ok(Duration::from_secs(secs)),
        _ => Err(format!("`{text}`: must be between 1s and 24h")),
    }
}

/// `TYPE BASE64 [COMMENT]`, as `ssh-keygen` writes a `.pub` file: a known type, a base64 key blob that
/// names the same type, and a comment without control characters (one key per line, nothing injected).
pub fn check_ssh_key(line: &str) -> Result<(), String> {
    if line.chars().any(char::is_control) {
        return Err("one key per line, without control characters".into());
    }
    let mut fields = line.split_whitespace();
    let kind = fields.next().ok_or("empty: expected `TYPE BASE64 [COMMENT]`")?;
    if !SSH_KEY_TYPES.contains(&kind) {
        return Err(format!(
            "`{kind}` is not an OpenSSH public key type (expected `TYPE BASE64 [COMMENT]`, TYPE one of {})",
            SSH_KEY_TYPES.join(", ")
        ));
    }
    let body = fields.next().ok_or_else(|| format!("`{kind}` without its base64 key"))?;
    let blob = STANDARD.decode(body).map_err(|_| format!("the key after `{kind}` is not base64"))?;
    // The blob opens with its own type as an SSH string: a big-endian u32 length and the name.
    let named = blob
        .get(..4)
        .map(|len| u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize)
        .and_then(|len| blob.get(4..4 + len));
    if named != Some(kind.as_bytes()) {
        return Err(format!("the base64 key is not an `{kind}` key (was the line cut or pasted in pieces?)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `ssh-keygen -t ed25519` public key.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFu5+pKQ2y573dYFGYroQeYi1CNjkTfWOeomCln4ervB ops@site";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBt3N7APv+u3ZOKnlgFIXCyf\
                         j9Sd5h/ISIrbXiTO9HvDMt/W/bF3IiUOlb+Lvxw/NphqgTGZ/M3B/zLl1myKzVc= x";

    #[test]
    fn durations_are_seconds_minutes_or_hours() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "5", "m", "5 min", "-5m", "1.5m", "5d", "0s", "25h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("5min").unwrap_err().contains("followed by s, m or h"));
    }

    #[test]
    fn ssh_keys_must_look_like_what_ssh_keygen_writes() {
        assert_eq!(check_ssh_key(ED25519), Ok(()));
        assert_eq!(check_ssh_key(ECDSA), Ok(()), "a padded key");
        assert_eq!(check_ssh_key(ED25519.trim_end_matches(" ops@site")), Ok(()), "the comment is optional");
        let cases = [
            ("", "empty"),
            ("ssh-dss AAAAB3NzaC1kc3M= old", "not an OpenSSH public key type"),
            ("ssh-ed25519", "without its base64 key"),
            ("ssh-ed25519 not!base64", "not base64"),
            (&ED25519.replacen("ssh-ed25519", "ssh-rsa", 1), "is not an `ssh-rsa` key"),
            (&ED25519.replacen("AAAAC3Nz", "AAAAC3Na", 1), "is not an `ssh-ed25519` key"),
            (&format!("{ED25519}\nssh-ed25519 AAAA evil"), "one key per line"),
        ];
        for (line, want) in cases {
            let err = check_ssh_key(line).unwrap_err();
            assert!(err.contains(want), "{line:?}: {err}");
        }
    }
}
