//! Issue 12, point 1: a node's script (and with it a node token, or a move of its state) goes only to the
//! server DHCP just saw network-booting, from the address DHCP saw, once per DHCP boot. Measured before
//! this: any caller could fetch a known MAC's script, send a mid-install node back to `booting`, take
//! its token, and drive it to `ready` with an image of its choosing.

use std::net::Ipv4Addr;

use reqwest::StatusCode;
use serde_json::json;

use super::tests::{TestServer, install, token_of};
use crate::config::Enrolment;
use rackhand_api::NodeState;

const MAC: &str = "52:54:00:00:00:01";

#[tokio::test]
async fn a_script_no_dhcp_boot_backs_is_refused_and_changes_nothing() {
    let server = TestServer::start(Enrolment::Auto).await;
    let refused = server.fetch_script(MAC).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("52:54:00:00:00:01 was not seen network-booting"));
    let nodes: Vec<rackhand_api::NodeRecord> =
        server.client.get(server.url("/api/v1/nodes")).send().await.unwrap().json().await.unwrap();
    assert!(nodes.is_empty(), "a script request alone enrols nothing: {nodes:?}");

    // DHCP saw the server at another address than the one asking.
    server.dhcp_boot(MAC, Ipv4Addr::new(127, 0, 0, 9));
    let refused = server.fetch_script(MAC).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("network-booted from 127.0.0.9, but its script was asked for from 127.0.0.1")
    );
}

#[tokio::test]
async fn a_mac_no_nic_boots_from_is_refused() {
    let server = TestServer::start(Enrolment::Auto).await;
    for mac in ["ff:ff:ff:ff:ff:ff", "01-00-5e-00-00-01", "00:00:00:00:00:00"] {
        server.dhcp_boot(mac, Ipv4Addr::LOCALHOST);
        let refused = server.fetch_script(mac).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{mac}");
        assert!(refused.text().await.unwrap().contains("no NIC boots from it"), "{mac}");
    }
    let strict = server.fetch_script("+2-00-00-00-00-01").await;
    assert_eq!(strict.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_second_fetch_cannot_take_a_running_install_away() {
    let server = TestServer::start(Enrolment::Auto).await;
    let token = install(&server, MAC).await;
    // The attacker's fetch, without a DHCP boot behind it: refused, the install goes on with its token.
    assert_eq!(server.fetch_script(MAC).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.node(1).await.state, NodeState::Installing);
    let progress = json!({"stage": "install", "step": "image", "status": "running", "done": 50, "total": 100});
    let posted = server.post("/api/v1/nodes/1/events", &token, progress).await;
    assert_eq!(posted.status(), StatusCode::OK, "the installer's token still works");

    // The server really boots again: DHCP sees it, its fresh script replaces the token.
    let again = token_of(&server.script(MAC).await);
    assert_ne!(again, token);
    assert_eq!(server.node(1).await.state, NodeState::Booting);
}

#[tokio::test]
async fn a_failed_node_is_revived_only_by_its_own_network_boot() {
    let server = TestServer::start(Enrolment::Auto).await;
    let token = install(&server, MAC).await;
    let failed = json!({"reason": "PSU 2 unplugged", "problems": []});
    assert_eq!(server.post("/api/v1/nodes/1/failed", &token, failed).await.status(), StatusCode::OK);
    assert_eq!(server.fetch_script(MAC).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.node(1).await.state, NodeState::Failed);
    server.script(MAC).await;
    assert_eq!(server.node(1).await.state, NodeState::Booting, "the technician's power-cycle retries");
}

#[tokio::test]
async fn a_full_enrolment_answers_503_with_what_to_do() {
    let server =
        TestServer::start_configured(Enrolment::Auto, |config| config, |c| c.dhcp.subnets[0].max_discovered = 1).await;
    // DHCP enrolled one server that has not booted yet: the table of self-enrolled servers is full.
    server.dhcp_enrol("52:54:00:00:00:07");
    server.dhcp_boot(MAC, Ipv4Addr::LOCALHOST);
    let refused = server.fetch_script(MAC).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.text().await.unwrap().contains("auto-enrolment in subnet 127.0.0.0/8 is full"));
}
