//! A node's BMC as the API speaks of it. An admin sets it with its credentials ([`SetBmc`]), which go one
//! way only: in. What comes back, in the node record, is where the BMC is ([`BmcInfo`]), never the user or
//! the password. Power and next-boot requests, and the power state the BMC reports.

use std::fmt;

use serde::{Deserialize, Serialize};

/// IPMI over LAN's port (RMCP, UDP).
pub const IPMI_PORT: u16 = 623;
/// IPMI 2.0 user names are at most 16 bytes, passwords at most 20 (the RAKP key length).
pub const MAX_BMC_USER: usize = 16;
pub const MAX_BMC_PASSWORD: usize = 20;

fn ipmi_port() -> u16 {
    IPMI_PORT
}

/// `PUT /api/v1/nodes/{id}/bmc` (admin): the BMC a node is driven through (IPMI over LAN, RMCP+).
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetBmc {
    /// Its IPv4 address or host name on the management network.
    pub host: String,
    #[serde(default = "ipmi_port")]
    pub port: u16,
    pub username: String,
    pub password: String,
    /// The RMCP+ cipher suite (IPMI 2.0: 0-17; 3 and 17 are common). Unset, ipmitool asks the BMC which
    /// it supports, which BMCs that do not answer that question (OpenIPMI's simulator) make slow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<u8>,
}

/// Never shows the password (requests are logged by their `Debug` in places we do not control).
impl fmt::Debug for SetBmc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetBmc")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("cipher_suite", &self.cipher_suite)
            .finish()
    }
}

impl SetBmc {
    /// Check every field, naming the field and its rule.
    pub fn validate(&self) -> Result<(), String> {
        let host = &self.host;
        if !(host.parse::<std::net::Ipv4Addr>().is_ok() || crate::is_hostname(host)) || host.is_empty() {
            return Err(format!("bmc.host `{host}` is neither an IPv4 address nor a host name (RFC 1123)"));
        }
        if self.port == 0 {
            return Err("bmc.port must be 1-65535 (IPMI over LAN listens on 623)".into());
        }
        let printable = |s: &str| s.chars().all(|c| c.is_ascii_graphic());
        if self.username.is_empty() || self.username.len() > MAX_BMC_USER || !printable(&self.username) {
            return Err(format!("bmc.username must be 1-{MAX_BMC_USER} printable ASCII characters (IPMI 2.0)"));
        }
        let spaced = self.password.chars().all(|c| c == ' ' || c.is_ascii_graphic());
        if self.password.is_empty() || self.password.len() > MAX_BMC_PASSWORD || !spaced {
            return Err(format!("bmc.password must be 1-{MAX_BMC_PASSWORD} printable ASCII characters (IPMI 2.0)"));
        }
        if self.cipher_suite.is_some_and(|suite| suite > 17) {
            return Err("bmc.cipher_suite must be an IPMI 2.0 cipher suite, 0-17 (3 and 17 are common)".into());
        }
        Ok(())
    }

    pub fn info(&self) -> BmcInfo {
        BmcInfo { host: self.host.clone(), port: self.port }
    }
}

/// What a node record says of its BMC: that one is set, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BmcInfo {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for BmcInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    On,
    Off,
    /// Off, then on (on when it was off).
    Cycle,
}

impl PowerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Cycle => "cycle",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerState {
    On,
    Off,
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerState::On => "on",
            PowerState::Off => "off",
        })
    }
}

/// The device the server boots from next (a one-time override, as IPMI's boot flags are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BootDevice {
    Network,
    Disk,
}

impl BootDevice {
    pub fn as_str(self) -> &'static str {
        match self {
            BootDevice::Network => "network",
            BootDevice::Disk => "disk",
        }
    }
}

/// `POST /api/v1/nodes/{id}/power` (admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerRequest {
    pub action: PowerAction,
}

/// `POST /api/v1/nodes/{id}/boot-device` (admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootDeviceRequest {
    pub device: BootDevice,
}

/// The power state the node's BMC reports (`GET /api/v1/nodes/{id}/power`, and the answer to a power
/// action, read back from the BMC after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerStatus {
    pub power: PowerState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bmc() -> SetBmc {
        SetBmc {
            host: "10.0.9.21".into(),
            port: IPMI_PORT,
            username: "admin".into(),
            password: "pa55word".into(),
            cipher_suite: None,
        }
    }

    #[test]
    fn the_password_is_never_in_debug_output() {
        let text = format!("{:?}", bmc());
        assert!(!text.contains("pa55word") && text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn port_defaults_to_ipmi_and_unknown_fields_are_refused() {
        let set: SetBmc = serde_json::from_str(r#"{"host":"bmc-r1u2.mgmt","username":"a","password":"b"}"#).unwrap();
        assert_eq!(set.port, 623);
        let wrong = serde_json::from_str::<SetBmc>(r#"{"host":"h","username":"a","password":"b","pass":"x"}"#);
        assert!(wrong.unwrap_err().to_string().contains("unknown field `pass`"));
    }

    #[test]
    fn each_bad_field_is_named() {
        type Spoil = fn(&mut SetBmc);
        let cases: [(Spoil, &str); 7] = [
            (|b| b.cipher_suite = Some(18), "bmc.cipher_suite"),
            (|b| b.host = "-oProxyCommand=x".into(), "bmc.host"),
            (|b| b.host = String::new(), "bmc.host"),
            (|b| b.port = 0, "bmc.port"),
            (|b| b.username = "a".repeat(17), "bmc.username"),
            (|b| b.password = "a".repeat(21), "bmc.password"),
            (|b| b.password = "line\nbreak".into(), "bmc.password"),
        ];
        for (spoil, field) in cases {
            let mut set = bmc();
            spoil(&mut set);
            let why = set.validate().expect_err(field);
            assert!(why.starts_with(field), "{why}");
        }
        assert_eq!(bmc().validate(), Ok(()));
        assert_eq!(bmc().info().to_string(), "10.0.9.21:623");
    }
}
