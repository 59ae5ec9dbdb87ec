//! The admin side of the node API as a client, for automation and the `boot-service nodes|node|register|
//! reprovision` commands: typed calls, and the API's own error message when it refuses one.

use std::time::Duration;

use rackhand_api::{
    API_PREFIX, BootDevice, BootDeviceRequest, NodeRecord, PowerAction, PowerRequest, PowerStatus, RegisterNode, SetBmc,
};
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: HTTP {status}: {message}")]
    Refused { url: String, status: u16, message: String },
    #[error("{url}: the answer is not what the API sends: {reason}")]
    Decode { url: String, reason: String },
}

pub struct AdminClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl AdminClient {
    /// A client of the boot service at `server` (`http://10.77.0.1:8080`); `token` for the admin calls.
    pub fn new(server: &str, token: Option<String>) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Self { base: format!("{}{API_PREFIX}", server.trim_end_matches('/')), token, agent: config.into() }
    }

    pub fn nodes(&self) -> Result<Vec<NodeRecord>, AdminError> {
        self.get("/nodes")
    }

    /// One node with its events.
    pub fn node(&self, id: i64) -> Result<NodeRecord, AdminError> {
        self.get(&format!("/nodes/{id}"))
    }

    /// Pre-register a server by MAC (admin).
    pub fn register(&self, node: &RegisterNode) -> Result<NodeRecord, AdminError> {
        let body = serde_json::to_value(node).expect("a RegisterNode serialises");
        self.post("/nodes", Some(body))
    }

    /// Send a ready or failed node through the installer again (admin).
    pub fn reprovision(&self, id: i64) -> Result<NodeRecord, AdminError> {
        self.post(&format!("/nodes/{id}/reprovision"), None)
    }

    /// Set the node's BMC (admin); the record answered says only where it is.
    pub fn set_bmc(&self, id: i64, bmc: &SetBmc) -> Result<NodeRecord, AdminError> {
        let url = format!("{}/nodes/{id}/bmc", self.base);
        let body = serde_json::to_value(bmc).expect("SetBmc serialises");
        let sent = self.with_token(self.agent.put(&url)).send_json(body);
        finish(url, sent)
    }

    /// Remove the node's BMC (admin).
    pub fn remove_bmc(&self, id: i64) -> Result<NodeRecord, AdminError> {
        let url = format!("{}/nodes/{id}/bmc", self.base);
        let sent = self.with_token(self.agent.delete(&url)).call();
        finish(url, sent)
    }

    /// The power state the node's BMC reports (admin).
    pub fn power_state(&self, id: i64) -> Result<PowerStatus, AdminError> {
        self.get(&format!("/nodes/{id}/power"))
    }

    /// A power action; the state the BMC reports afterwards (admin).
    pub fn power(&self, id: i64, action: PowerAction) -> Result<PowerStatus, AdminError> {
        let body = serde_json::to_value(PowerRequest { action }).expect("a PowerRequest serialises");
        self.post(&format!("/nodes/{id}/power"), Some(body))
    }

    /// The device the server boots from next, once (admin).
    pub fn boot_device(&self, id: i64, device: BootDevice) -> Result<(), AdminError> {
        let body = serde_json::to_value(BootDeviceRequest { device }).expect("a BootDeviceRequest serialises");
        self.post::<serde_json::Value>(&format!("/nodes/{id}/boot-device"), Some(body)).map(drop)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AdminError> {
        let url = format!("{}{path}", self.base);
        let sent = self.with_token(self.agent.get(&url)).call();
        finish(url, sent)
    }

    fn post<T: DeserializeOwned>(&self, path: &str, body: Option<serde_json::Value>) -> Result<T, AdminError> {
        let url = format!("{}{path}", self.base);
        let request = self.with_token(self.agent.post(&url));
        let sent = match body {
            Some(body) => request.send_json(body),
            None => request.send_empty(),
        };
        finish(url, sent)
    }

    fn with_token<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }
}

/// The record the API answered with, or its refusal with the API's own message.
fn finish<T: DeserializeOwned>(
    url: String,
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<T, AdminError> {
    let transport = |e: ureq::Error| AdminError::Transport { url: url.clone(), reason: e.to_string() };
    let mut response = sent.map_err(transport)?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().map_err(transport)?;
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or(text);
        return Err(AdminError::Refused { url, status, message });
    }
    // 204: nothing to decode (read as JSON null).
    let text = if text.is_empty() { "null" } else { &text };
    serde_json::from_str(text).map_err(|e| AdminError::Decode { url, reason: e.to_string() })
}
