//! Day 2 against a real service on loopback and OpenIPMI's BMC simulator: a ready server's BMC is read
//! for its power supplies; one losing its AC input shows with its fix in the API, on the dashboard and in
//! the metrics within two reads, and goes once mended; a BMC that cannot be read is a problem of its own.

use std::time::{Duration, Instant};

use rackhand_api::{EventKind, NodeRecord};
use rackhand_test_bmc::PsuOffset;

use super::power_tests::{BMC_PASSWORD, ready_node};
use super::tests::TestServer;
use crate::config::Enrolment;
use crate::power::tests::sim;

const MAC: &str = "52-54-00-00-00-41";
const EVERY: Duration = Duration::from_millis(300);

async fn watched_server() -> TestServer {
    TestServer::start_configured(Enrolment::Auto, |c| c, |c| c.deploy.bmc_poll_interval = EVERY).await
}

/// Node 1 once `seen` holds of it (within 20 reads of its BMC).
async fn node_once(server: &TestServer, seen: impl Fn(&NodeRecord) -> bool) -> NodeRecord {
    let started = Instant::now();
    loop {
        let node = server.node(1).await;
        if seen(&node) {
            return node;
        }
        assert!(started.elapsed() < EVERY * 20, "never seen: {node:#?}");
        tokio::time::sleep(EVERY / 3).await;
    }
}

async fn page(server: &TestServer, path: &str) -> String {
    server.client.get(server.url(path)).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn a_lost_ac_input_shows_with_its_fix_everywhere_and_goes_once_the_cord_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let server = watched_server().await;
    ready_node(&server, 1, MAC).await;
    server.set_bmc(1, &bmc, BMC_PASSWORD).await;
    let node = node_once(&server, |n| n.bmc_health.is_some()).await;
    let health = node.bmc_health.unwrap();
    assert_eq!((health.power_supplies.len(), health.problems.len()), (2, 0), "{health:#?}");
    assert!(page(&server, "/nodes/1").await.contains("its power supplies are present, powered and healthy"));

    bmc.set_psu(2, PsuOffset::AcLost, true).unwrap();
    let node = node_once(&server, |n| n.bmc_health.as_ref().is_some_and(|h| !h.problems.is_empty())).await;
    let problem = &node.bmc_health.as_ref().unwrap().problems[0];
    assert_eq!(problem.part, "PSU 2");
    assert_eq!(problem.message, "PSU 2 lost its AC input: the server runs on its other supply alone");
    assert!(problem.fix.starts_with("plug its cord back into its PDU"), "{}", problem.fix);
    for path in ["/", "/nodes/1"] {
        let shown = page(&server, path).await;
        assert!(shown.contains("PSU 2 lost its AC input") && shown.contains("plug its cord back"), "{path}: {shown}");
    }
    let metrics = page(&server, "/metrics").await;
    assert!(metrics.contains("rackhand_bmc_power_supply_ok{node=\"1\",sensor=\"PSU2 Status\"} 0"), "{metrics}");
    assert!(metrics.contains("rackhand_node_problems{node=\"1\",source=\"bmc\"} 1"), "{metrics}");
    let told = node.events.iter().any(|e| {
        matches!(&e.kind, EventKind::Bmc { asked, answer } if asked == "health check" && answer.contains("AC input"))
    });
    assert!(told, "the history says what the BMC reported: {:#?}", node.events);
    let logged = node.events.iter().any(|e| {
        matches!(&e.kind, EventKind::Bmc { asked, answer }
            if asked == "event log" && answer.ends_with("Power Supply AC lost, asserted"))
    });
    assert!(logged, "the history has what the BMC's event log gained: {:#?}", node.events);
    assert_eq!(node.state, rackhand_api::NodeState::Ready, "a server on one supply stays ready, with its problem");

    bmc.set_psu(2, PsuOffset::AcLost, false).unwrap();
    let node = node_once(&server, |n| n.bmc_health.as_ref().is_some_and(|h| h.problems.is_empty())).await;
    assert!(!page(&server, "/").await.contains("lost its AC input"), "the problem went once mended");
    let metrics = page(&server, "/metrics").await;
    assert!(metrics.contains("rackhand_bmc_power_supply_ok{node=\"1\",sensor=\"PSU2 Status\"} 1"), "{metrics}");
    let mended = node.events.iter().rev().find_map(|e| match &e.kind {
        EventKind::Bmc { asked, answer } if asked == "health check" => Some(answer.clone()),
        _ => None,
    });
    assert_eq!(mended.as_deref(), Some("every power supply is present, powered and healthy"));
}

#[tokio::test]
async fn a_bmc_that_cannot_be_read_is_a_problem_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = sim(dir.path()) else { return };
    let server = watched_server().await;
    ready_node(&server, 1, MAC).await;
    server.set_bmc(1, &bmc, "not-the-password").await;
    let node = node_once(&server, |n| n.bmc_health.is_some()).await;
    let problems = node.bmc_health.unwrap().problems;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].part, "BMC");
    assert!(
        problems[0].message.contains(&format!("the BMC at {} could not be read", bmc.config.address))
            && problems[0].message.contains("refused the login of user `admin`"),
        "{}",
        problems[0].message
    );
}
