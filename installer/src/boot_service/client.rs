//! The HTTP client for the node API: `GET /api/v1/nodes/{id}/deploy` and
//! `POST /api/v1/nodes/{id}/inventory|events|installed|failed` with the node token as a bearer token,
//! retrying with backoff while the boot service is unreachable, and moving on to the next boot-service
//! instance (`rackhand.peers`) after each attempt that got no answer: any instance on the shared store
//! answers for the node, and the one that answered is kept. The installed OS's agent uses the same
//! client with its own credentials (`ready`, `health`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rackhand_api::{API_PREFIX, DeploySettings, FailedReport, Installed, Inventory, PlanResults, ProgressReport};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::BootParams;

/// What the installer tells the boot service. The client below speaks HTTP; tests use a recorder.
pub trait Reporter {
    /// The inventory, and the profile it was judged against (`None` when no profile matched). Answers the
    /// name the boot service knows this server by (`rack1-u2`), when it knows one.
    fn inventory(&self, inventory: &Inventory, profile: Option<&str>) -> Result<Option<String>, RegisterError>;
    fn progress(&self, report: &ProgressReport) -> Result<(), RegisterError>;
    /// How to configure the installed OS (host name, SSH keys, arrays earlier installs built).
    fn deploy_settings(&self) -> Result<DeploySettings, RegisterError>;
    /// The install is done and the disks bootable: the node token is spent, the answer carries the
    /// credential the installed OS reports with.
    fn installed(&self, results: &PlanResults) -> Result<Installed, RegisterError>;
    fn failed(&self, report: &FailedReport) -> Result<(), RegisterError>;
}

#[derive(Debug, Error)]
pub enum RegisterError {
    #[error("boot service unreachable at {url} after {attempts} attempts: {last}")]
    Unreachable { url: String, attempts: u32, last: String },
    #[error("boot service refused {url}: HTTP {status}: {body}")]
    Rejected { url: String, status: u16, body: String },
    #[error("boot service answered {url} with something unexpected: {message}")]
    BadAnswer { url: String, message: String },
}

/// How often and how long to retry: `first` doubling up to `max`, `attempts` tries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// For PID 1: about five minutes of patience for a boot service that is restarting.
    pub const PATIENT: Backoff = Backoff { attempts: 14, first: Duration::from_secs(1), max: Duration::from_secs(30) };

    /// The delay before retry `n` (1-based: the delay after the first failure is `delay(1)`).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }
}

type Sleep = Box<dyn Fn(Duration) + Send + Sync>;

pub struct Client {
    params: BootParams,
    /// Every instance's base URL (`server`, then the peers), and which one is asked now.
    servers: Vec<String>,
    current: AtomicUsize,
    agent: ureq::Agent,
    backoff: Backoff,
    sleep: Sleep,
}

impl Client {
    pub fn new(params: BootParams, backoff: Backoff) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        let servers = params.servers();
        Self {
            params,
            servers,
            current: AtomicUsize::new(0),
            agent: config.into(),
            backoff,
            sleep: Box::new(std::thread::sleep),
        }
    }

    /// Replace how the client waits between attempts (a fake clock in tests).
    pub fn with_sleep(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.sleep = Box::new(sleep);
        self
    }

    fn url(&self, what: &str) -> String {
        let server = &self.servers[self.current.load(Ordering::Relaxed) % self.servers.len()];
        format!("{server}{API_PREFIX}/nodes/{}/{what}", self.params.node)
    }

    /// The instance asked now did not answer: ask the next one from now on.
    fn move_on(&self) {
        if self.servers.len() > 1 {
            let next = (self.current.load(Ordering::Relaxed) + 1) % self.servers.len();
            self.current.store(next, Ordering::Relaxed);
            tracing::warn!(server = %self.servers[next], "moving on to the next boot-service instance");
        }
    }

    /// POST `body`; the answer's body is not read.
    pub fn post(&self, what: &str, body: &impl Serialize) -> Result<(), RegisterError> {
        self.post_with_query(what, &[], body).map(drop)
    }

    /// POST `body` and read the answer as JSON.
    pub fn post_for<T: DeserializeOwned>(&self, what: &str, body: &impl Serialize) -> Result<T, RegisterError> {
        let text = self.post_with_query(what, &[], body)?;
        serde_json::from_str(&text)
            .map_err(|e| RegisterError::BadAnswer { url: self.url(what), message: e.to_string() })
    }

    fn get_json<T: DeserializeOwned>(&self, what: &str) -> Result<T, RegisterError> {
        let text = self.send(what, &[], None::<&()>)?;
        serde_json::from_str(&text)
            .map_err(|e| RegisterError::BadAnswer { url: self.url(what), message: e.to_string() })
    }

    fn post_with_query(
        &self,
        what: &str,
        query: &[(&str, &str)],
        body: &impl Serialize,
    ) -> Result<String, RegisterError> {
        self.send(what, query, Some(body))
    }

    /// POST `body` (GET without one) with the bearer token, retrying; the answer's text.
    fn send(&self, what: &str, query: &[(&str, &str)], body: Option<&impl Serialize>) -> Result<String, RegisterError> {
        let bearer = format!("Bearer {}", self.params.token.expose());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let url = self.url(what);
            let sent = match body {
                Some(body) => {
                    let request = self.agent.post(&url).header("Authorization", &bearer);
                    query.iter().fold(request, |r, (k, v)| r.query(*k, *v)).send_json(body)
                }
                None => {
                    let request = self.agent.get(&url).header("Authorization", &bearer);
                    query.iter().fold(request, |r, (k, v)| r.query(*k, *v)).call()
                }
            };
            let last = match sent {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if resp.status().is_success() {
                        return Ok(resp.body_mut().read_to_string().unwrap_or_default());
                    }
                    let body = resp.body_mut().read_to_string().unwrap_or_default();
                    if status < 500 {
                        return Err(RegisterError::Rejected { url, status, body: body.trim().to_owned() });
                    }
                    format!("HTTP {status}: {}", body.trim())
                }
                Err(e) => e.to_string(),
            };
            if attempt >= self.backoff.attempts {
                return Err(RegisterError::Unreachable { url, attempts: attempt, last });
            }
            let delay = self.backoff.delay(attempt);
            tracing::warn!("boot service unreachable at {url} ({last}); retrying in {} ms", delay.as_millis());
            self.move_on();
            (self.sleep)(delay);
        }
    }
}

impl Reporter for Client {
    fn inventory(&self, inventory: &Inventory, profile: Option<&str>) -> Result<Option<String>, RegisterError> {
        let query: Vec<(&str, &str)> = profile.map(|p| ("profile", p)).into_iter().collect();
        let answer = self.post_with_query("inventory", &query, inventory)?;
        // The name only labels the console: an answer without one costs nothing but the label.
        Ok(serde_json::from_str::<rackhand_api::NodeRecord>(&answer).ok().and_then(|record| record.name()))
    }

    fn progress(&self, report: &ProgressReport) -> Result<(), RegisterError> {
        self.post("events", report)
    }

    fn deploy_settings(&self) -> Result<DeploySettings, RegisterError> {
        self.get_json("deploy")
    }

    fn installed(&self, results: &PlanResults) -> Result<Installed, RegisterError> {
        self.post_for("installed", results)
    }

    fn failed(&self, report: &FailedReport) -> Result<(), RegisterError> {
        self.post("failed", report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff { attempts: 10, first: Duration::from_millis(100), max: Duration::from_millis(1000) };
        let delays: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(60), Duration::from_millis(1000));
    }
}
