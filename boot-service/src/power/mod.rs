//! Driving servers through their BMCs. [`PowerDriver`] is the seam: the node service asks a BMC for its
//! power state, a power action or the next boot device, and never trusts the answer as proof that the
//! server did anything (the lifecycle waits to see the server network-boot). [`Ipmitool`] speaks IPMI over
//! LAN (RMCP+) through Debian's `ipmitool`; a Redfish driver would be a second implementation.

pub mod health;
mod ipmitool;

use rackhand_api::{BmcInfo, BmcPsuReading, BootDevice, PowerAction, PowerState, SelEntry, SetBmc};
use serde::{Deserialize, Serialize};

pub use ipmitool::{Failure, Ipmitool, arguments, classify_failure};

use crate::token::Secret;

/// How to reach and log in to a node's BMC. The password is a [`Secret`]: no `Debug` shows it, and only
/// the driver reads it (to hand it to the BMC).
#[derive(Clone, Debug)]
pub struct BmcLogin {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Secret,
    /// `-C`; `None`: ipmitool negotiates.
    pub cipher_suite: Option<u8>,
}

impl BmcLogin {
    /// From an admin's validated request.
    pub fn from_request(set: SetBmc) -> Self {
        BmcLogin {
            host: set.host,
            port: set.port,
            username: set.username,
            password: Secret::new(set.password),
            cipher_suite: set.cipher_suite,
        }
    }

    /// Where it is, as the node record says it.
    pub fn info(&self) -> BmcInfo {
        BmcInfo { host: self.host.clone(), port: self.port }
    }

    /// The stored form (the store's `bmc` column).
    pub fn to_stored(&self) -> StoredBmc {
        StoredBmc {
            host: self.host.clone(),
            port: self.port,
            username: self.username.clone(),
            password: self.password.expose().to_owned(),
            cipher_suite: self.cipher_suite,
        }
    }
}

/// Two logins are the same when every field is (the password compared in constant time).
impl PartialEq for BmcLogin {
    fn eq(&self, other: &Self) -> bool {
        self.host == other.host
            && self.port == other.port
            && self.username == other.username
            && self.cipher_suite == other.cipher_suite
            && self.password.matches(other.password.expose())
    }
}

/// A BMC login as the store keeps it (JSON in the node's `bmc` column).
#[derive(Serialize, Deserialize)]
pub struct StoredBmc {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<u8>,
}

impl From<StoredBmc> for BmcLogin {
    fn from(stored: StoredBmc) -> Self {
        BmcLogin {
            host: stored.host,
            port: stored.port,
            username: stored.username,
            password: Secret::new(stored.password),
            cipher_suite: stored.cipher_suite,
        }
    }
}

/// What went wrong talking to a BMC, said so a technician knows what to check.
#[derive(Debug, thiserror::Error)]
pub enum PowerError {
    #[error(
        "the BMC at {bmc} did not answer: check that the server has power, that its BMC port is cabled to the \
         management network, and that {bmc} is its address"
    )]
    NoAnswer { bmc: BmcInfo },
    #[error(
        "the BMC at {bmc} refused the login of user `{user}`: check the user and password set for this node \
         (and that the user may log in over IPMI-over-LAN)"
    )]
    LoginRefused { bmc: BmcInfo, user: String },
    #[error("the BMC at {bmc} failed `{asked}`: {message}")]
    Failed { bmc: BmcInfo, asked: String, message: String },
    #[error("cannot run `{program}`: {reason} (the boot service drives BMCs with Debian's ipmitool)")]
    NoTool { program: String, reason: String },
}

/// The BMC of a server, as the node service drives it. Blocking: called on a blocking thread, like the
/// store.
pub trait PowerDriver: Send + Sync + 'static {
    /// The power state the BMC reports.
    fn power_state(&self, bmc: &BmcLogin) -> Result<PowerState, PowerError>;
    /// Ask for a power action (the BMC's acceptance only: whether the server did it is for the caller to
    /// observe).
    fn power(&self, bmc: &BmcLogin, action: PowerAction) -> Result<(), PowerError>;
    /// The device the server boots from at its next boot, once.
    fn next_boot(&self, bmc: &BmcLogin, device: BootDevice) -> Result<(), PowerError>;
    /// The power-supply sensors the BMC reports.
    fn power_supplies(&self, bmc: &BmcLogin) -> Result<Vec<BmcPsuReading>, PowerError>;
    /// The BMC's System Event Log.
    fn event_log(&self, bmc: &BmcLogin) -> Result<Vec<SelEntry>, PowerError>;
}

#[cfg(test)]
pub(crate) mod tests;
