//! The kernel command line the boot service's iPXE script passes to the installer: `rackhand.server=<url>
//! rackhand.node=<id> rackhand.mac=<mac> rackhand.token=<token>`, and `rackhand.peers=<url>,<url>` when
//! other boot-service instances share the store (the installer moves on to them when `server` stops). Written by the boot service
//! ([`BootParams::kernel_args`]) and read by the installer ([`parse_cmdline`]): one contract, both ends.
//! The token is never shown.

use std::fmt;

use crate::{MacAddr, NodeId};
use thiserror::Error;

/// Everything the installer needs to report to the boot service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootParams {
    /// `http://10.77.0.1:8080`, without a trailing slash: the instance that served the iPXE script.
    pub server: String,
    /// The other instances on the same store, in the same form: any of them answers for this node.
    pub peers: Vec<String>,
    pub node: NodeId,
    /// The MAC the node PXE-booted from: the NIC for the fallback network.
    pub mac: MacAddr,
    pub token: Token,
}

/// The node's one-time token. Its `Debug` and `Display` are redacted; [`Token::expose`] is for the
/// `Authorization` header only.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CmdlineError {
    #[error("kernel command line has no `{0}=`: the boot service's iPXE script must pass it")]
    Missing(&'static str),
    #[error("kernel command line: `{field}={value}` {why}")]
    Invalid { field: &'static str, value: String, why: String },
    #[error("kernel command line: `{0}=` is empty")]
    Empty(&'static str),
}

pub const SERVER: &str = "rackhand.server";
pub const NODE: &str = "rackhand.node";
pub const MAC: &str = "rackhand.mac";
pub const TOKEN: &str = "rackhand.token";
pub const PEERS: &str = "rackhand.peers";

impl BootParams {
    /// The words for the installer's kernel command line. They carry the token in clear: for the iPXE
    /// script only, which is never logged.
    pub fn kernel_args(&self) -> String {
        let args =
            format!("{SERVER}={} {NODE}={} {MAC}={} {TOKEN}={}", self.server, self.node, self.mac, self.token.expose());
        match self.peers.is_empty() {
            true => args,
            false => format!("{args} {PEERS}={}", self.peers.join(",")),
        }
    }

    /// Every instance's URL: `server` first, then the peers.
    pub fn servers(&self) -> Vec<String> {
        std::iter::once(&self.server).chain(&self.peers).cloned().collect()
    }
}

/// A boot-service URL as the installer can use it (plain `http://` with a host), without a trailing slash.
pub fn check_server_url(field: &'static str, url: &str) -> Result<String, CmdlineError> {
    let invalid = |why: &str| CmdlineError::Invalid { field, value: url.into(), why: why.into() };
    if url.starts_with("https://") {
        return Err(invalid("uses https, which the installer does not speak (no TLS): use http://"));
    }
    let Some(host) = url.strip_prefix("http://") else {
        return Err(invalid("is not an http:// URL"));
    };
    if host.is_empty() || host.starts_with('/') {
        return Err(invalid("has no host"));
    }
    if url.contains(',') || url.contains(char::is_whitespace) {
        return Err(invalid("has a comma or a space, which separate words and peers on the kernel line"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Parse `/proc/cmdline`. Unrelated words (`console=ttyS0`, `quiet`) are ignored; the last of a repeated
/// key wins, as in the kernel.
pub fn parse_cmdline(cmdline: &str) -> Result<BootParams, CmdlineError> {
    let value = |key: &'static str| -> Result<&str, CmdlineError> {
        let found = cmdline.split_whitespace().rev().find_map(|w| w.strip_prefix(key)?.strip_prefix('='));
        match found {
            None => Err(CmdlineError::Missing(key)),
            Some("") => Err(CmdlineError::Empty(key)),
            Some(v) => Ok(v),
        }
    };
    let invalid = |field, value: &str, why: &str| CmdlineError::Invalid { field, value: value.into(), why: why.into() };
    let server = check_server_url(SERVER, value(SERVER)?)?;
    let peers = match value(PEERS) {
        Err(CmdlineError::Missing(_)) => Vec::new(),
        peers => peers?.split(',').map(|peer| check_server_url(PEERS, peer)).collect::<Result<_, _>>()?,
    };
    let node = value(NODE)?;
    let node = node.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| invalid(NODE, node, "is not a node id"))?;
    let mac = value(MAC)?;
    let mac: MacAddr = mac.parse().map_err(|_| invalid(MAC, mac, "is not a MAC address like 52:54:00:12:34:56"))?;
    let token = value(TOKEN)?;
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        // Never echo the token itself.
        return Err(CmdlineError::Invalid {
            field: TOKEN,
            value: "<redacted>".into(),
            why: "has odd characters".into(),
        });
    }
    Ok(BootParams { server, peers, node: NodeId(node), mac, token: Token::new(token) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "console=ttyS0,115200 rackhand.server=http://10.77.0.1:8080/ rackhand.node=7 \
                        rackhand.mac=52:54:00:00:01:01 rackhand.token=s3cr3t-Tok quiet";

    #[test]
    fn what_the_boot_service_writes_the_installer_reads_back() {
        let mut written = BootParams {
            server: "http://10.77.0.1:8080".into(),
            peers: vec![],
            node: NodeId(42),
            mac: "52:54:00:7a:02:01".parse().unwrap(),
            token: Token::new("t0k3n-_.~"),
        };
        let cmdline = format!("initrd=initrd.img {} loglevel=5 console=ttyS0", written.kernel_args());
        assert!(!cmdline.contains(PEERS), "no peers, no word: {cmdline}");
        assert_eq!(parse_cmdline(&cmdline).unwrap(), written);
        written.peers = vec!["http://10.77.0.2:8080".into(), "http://rackhand-c.example".into()];
        let cmdline = format!("initrd=initrd.img {} loglevel=5 console=ttyS0", written.kernel_args());
        assert_eq!(parse_cmdline(&cmdline).unwrap(), written);
        assert_eq!(written.servers(), ["http://10.77.0.1:8080", "http://10.77.0.2:8080", "http://rackhand-c.example"]);
    }

    #[test]
    fn parses_every_field_and_ignores_the_rest() {
        let p = parse_cmdline(GOOD).unwrap();
        assert_eq!(p.server, "http://10.77.0.1:8080");
        assert_eq!(p.node, NodeId(7));
        assert_eq!(p.mac.to_string(), "52:54:00:00:01:01");
        assert_eq!(p.token.expose(), "s3cr3t-Tok");
    }

    #[test]
    fn the_token_never_shows_in_debug_or_display() {
        let p = parse_cmdline(GOOD).unwrap();
        let shown = format!("{p:?} {}", p.token);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn a_missing_field_is_named() {
        for key in [SERVER, NODE, MAC, TOKEN] {
            let without: Vec<&str> = GOOD.split_whitespace().filter(|w| !w.starts_with(key)).collect();
            let err = parse_cmdline(&without.join(" ")).unwrap_err();
            assert_eq!(err, CmdlineError::Missing(key));
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn garbled_fields_say_which_and_why() {
        let cases = [
            ("rackhand.node=7", "rackhand.node=seven", "`rackhand.node=seven` is not a node id"),
            ("rackhand.mac=52:54:00:00:01:01", "rackhand.mac=52:54:00", "`rackhand.mac=52:54:00` is not a MAC"),
            ("http://10.77.0.1:8080/", "https://x", "uses https"),
            ("http://10.77.0.1:8080/", "10.77.0.1", "is not an http:// URL"),
            ("rackhand.token=s3cr3t-Tok", "rackhand.token=", "`rackhand.token=` is empty"),
            ("quiet", "rackhand.peers=http://10.77.0.2:8080,ftp://x", "`rackhand.peers=ftp://x` is not an http"),
            ("quiet", "rackhand.peers=http://10.77.0.2:8080,", "`rackhand.peers=` is not an http"),
        ];
        for (from, to, want) in cases {
            let err = parse_cmdline(&GOOD.replace(from, to)).unwrap_err().to_string();
            assert!(err.contains(want), "{to}: {err}");
        }
    }

    #[test]
    fn a_repeated_key_takes_the_last_value() {
        let p = parse_cmdline(&format!("rackhand.node=3 {GOOD}")).unwrap();
        assert_eq!(p.node, NodeId(7));
    }
}
