//! The BMC routes against a real service on loopback and OpenIPMI's BMC simulator: set, power, next boot,
//! and a reprovision that network-boots through the BMC and waits to see the server do it. The BMC's
//! password is never in an answer.

use rackhand_api::{Installed, NodeRecord, NodeState, PowerStatus};
use reqwest::StatusCode;
use serde_json::json;

use super::tests::{ADMIN, TestServer, install_as, os_report};
use crate::config::Enrolment;
use crate::power::tests::sim;

pub(crate) const BMC_PASSWORD: &str = "Lab-bmc-5ecret";
const MAC: &str = "52-54-00-00-00-31";

impl TestServer {
    pub(super) async fn put(&self, path: &str, token: &str, body: serde_json::Value) -> reqwest::Response {
        self.client.put(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    /// Give node `id` the simulator's BMC, with `password`.
    pub(crate) async fn set_bmc(&self, id: i64, bmc: &rackhand_test_bmc::SimBmc, password: &str) -> NodeRecord {
        let address = bmc.config.address;
        let body = json!({"host": address.ip().to_string(), "port": address.port(), "username": "admin", "password": password, "cipher_suite": 3});
        let response = self.put(&format!("/api/v1/nodes/{id}/bmc"), ADMIN, body).await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        assert!(!text.contains(password), "the password came back: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

/// Node `id` (MAC `mac`) installed and reported in: ready. Its agent token.
pub(crate) async fn ready_node(server: &TestServer, id: i64, mac: &str) -> String {
    let token = install_as(server, id, mac).await;
    let results = serde_json::to_value(rackhand_api::PlanResults::default()).unwrap();
    let path = format!("/api/v1/nodes/{id}/installed");
    let installed: Installed = server.post(&path, &token, results).await.json().await.unwrap();
    server.script(mac).await;
    let ready = server.post(&format!("/api/v1/nodes/{id}/ready"), &installed.deploy_credential, os_report("6.1")).await;
    assert_eq!(ready.status(), StatusCode::OK);
    let credential: rackhand_api::AgentCredential = ready.json().await.unwrap();
    assert_eq!(server.node(id).await.state, NodeState::Ready);
    credential.agent_token
}

/// Every answer a reader can get about the nodes, as text.
pub(super) async fn everything_said(server: &TestServer) -> String {
    let mut said = String::new();
    for path in ["/api/v1/nodes", "/api/v1/nodes/1", "/", "/nodes/1", "/metrics"] {
        said += &server.client.get(server.url(path)).send().await.unwrap().text().await.unwrap();
    }
    said
}

#[tokio::test]
async fn a_ready_node_is_reprovisioned_through_its_bmc_and_waits_to_be_seen_booting() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let server = TestServer::start(Enrolment::Auto).await;
    ready_node(&server, 1, MAC).await;

    let unauthorised = server.put("/api/v1/nodes/1/bmc", "wrong", json!({})).await;
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
    let node = server.set_bmc(1, &bmc, BMC_PASSWORD).await;
    assert_eq!(node.bmc.unwrap().to_string(), bmc.config.address.to_string());

    let status: PowerStatus = server.get("/api/v1/nodes/1/power", ADMIN).await.json().await.unwrap();
    assert_eq!(status.power, rackhand_api::PowerState::Off, "the simulator starts off");
    let on = server.post("/api/v1/nodes/1/power", ADMIN, json!({"action": "on"})).await;
    assert_eq!(on.json::<PowerStatus>().await.unwrap().power, rackhand_api::PowerState::On);
    assert!(bmc.powered(), "the chassis was powered on: {}", bmc.calls());

    let reprovision = server.post("/api/v1/nodes/1/reprovision", ADMIN, json!(null)).await;
    assert_eq!(reprovision.status(), StatusCode::OK);
    let node: NodeRecord = reprovision.json().await.unwrap();
    assert_eq!(node.state, NodeState::Booting);
    assert_eq!(bmc.boot_device().as_deref(), Some("pxe"), "next boot: network; calls: {}", bmc.calls());
    assert!(bmc.calls().lines().last().is_some_and(|l| l.contains("set power")), "then a cycle: {}", bmc.calls());
    let deadline = node.deadline.expect("it waits to see the server network-boot");
    assert!(deadline.reason.contains(&format!("the BMC at {} accepted", bmc.config.address)), "{}", deadline.reason);
    let said = node.events.iter().any(|e| {
        matches!(&e.kind, rackhand_api::EventKind::Bmc { asked, answer }
            if asked == "network boot and power cycle" && answer.contains("it was on; power cycle"))
    });
    assert!(said, "the history says what the BMC was asked and answered: {:?}", node.events);

    // The server is seen network-booting: the BMC's wait ends, the installer's begins.
    server.script(MAC).await;
    let node = server.node(1).await;
    assert_eq!(node.state, NodeState::Booting);
    assert!(node.deadline.unwrap().reason.contains("installer did not report"));
    let said = everything_said(&server).await;
    assert!(said.contains(&format!("{} (IPMI over LAN)", bmc.config.address)), "the node page names its BMC");
    assert!(!said.contains(BMC_PASSWORD));
}

#[tokio::test]
async fn a_bmc_that_refuses_the_login_fails_the_reprovision_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let server = TestServer::start(Enrolment::Auto).await;
    ready_node(&server, 1, MAC).await;
    server.set_bmc(1, &bmc, "not-the-password").await;
    let node: NodeRecord = server.post("/api/v1/nodes/1/reprovision", ADMIN, json!(null)).await.json().await.unwrap();
    assert_eq!(node.state, NodeState::Failed);
    let reason = node.failure.unwrap().reason;
    assert!(reason.contains("refused the login of user `admin`") && reason.contains("not restarted"), "{reason}");
    assert!(bmc.calls().is_empty(), "nothing reached the chassis: {}", bmc.calls());
    let power = server.get("/api/v1/nodes/1/power", ADMIN).await;
    assert_eq!(power.status(), StatusCode::BAD_GATEWAY);
    assert!(power.text().await.unwrap().contains("check the user and password"));
}

#[tokio::test]
async fn a_server_not_seen_network_booting_fails_at_the_bmc_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let second = std::time::Duration::from_secs(1);
    let server = TestServer::start_configured(
        Enrolment::Auto,
        |c| c,
        |c| {
            c.deploy.bmc_boot_deadline = second;
            c.deploy.deadline_check_interval = second / 10;
        },
    )
    .await;
    ready_node(&server, 1, MAC).await;
    // It accepts the override and keeps nothing: whatever the BMC said, nothing network-boots here.
    bmc.ignore_boot_override();
    server.set_bmc(1, &bmc, BMC_PASSWORD).await;
    server.post("/api/v1/nodes/1/reprovision", ADMIN, json!(null)).await;
    let node = server.node_once_out_of(1, NodeState::Booting).await;
    assert_eq!(node.state, NodeState::Failed);
    let reason = node.failure.unwrap().reason;
    assert!(
        reason.contains("accepted the network-boot override") && reason.contains("did not network-boot within 1 s"),
        "{reason}"
    );
}

#[tokio::test]
async fn without_a_bmc_power_is_refused_naming_how_to_set_one() {
    let server = TestServer::start(Enrolment::Auto).await;
    ready_node(&server, 1, MAC).await;
    let response = server.post("/api/v1/nodes/1/power", ADMIN, json!({"action": "cycle"})).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("PUT /api/v1/nodes/1/bmc"));
    let bad = server.post("/api/v1/nodes/1/boot-device", ADMIN, json!({"device": "floppy"})).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Reprovision without a BMC: it installs at its next network boot, no deadline (nobody restarts it).
    let node: NodeRecord = server.post("/api/v1/nodes/1/reprovision", ADMIN, json!(null)).await.json().await.unwrap();
    assert_eq!((node.state, node.deadline), (NodeState::Booting, None));
}

#[tokio::test]
async fn bad_bmc_settings_are_refused_without_echoing_them() {
    let server = TestServer::start(Enrolment::Auto).await;
    ready_node(&server, 1, MAC).await;
    let cases = [
        (json!({"host": "10.0.9.21", "username": "admin", "password": 918273645}), "line 1"),
        (
            json!({"host": "10.0.9.21", "username": "admin", "password": "x", "pasword": "918273645"}),
            "unknown field `pasword`",
        ),
        (json!({"host": "10.0.9.21", "username": "admin", "password": "918273645918273645918273645"}), "bmc.password"),
        (json!({"host": "-oops", "username": "admin", "password": "918273645"}), "bmc.host"),
    ];
    for (body, named) in cases {
        let response = server.put("/api/v1/nodes/1/bmc", ADMIN, body).await;
        assert!(response.status().is_client_error());
        let text = response.text().await.unwrap();
        assert!(text.contains(named) && !text.contains("918273645"), "{text}");
    }
    assert_eq!(server.node(1).await.bmc, None);
}
