//! The webhook: its signature (RFC 4231's HMAC-SHA256 vector), its backoff, and deliveries from a real
//! service to a receiver on loopback: each state change in order, signed, a failed try retried, and a
//! receiver that holds on never holding up a server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use rackhand_api::NodeState;
use tokio::sync::Notify;

use super::*;
use crate::config::Enrolment;
use crate::http::tests::TestServer;

const SECRET: &str = "webhook-secret-for-tests";

#[test]
fn the_signature_is_hmac_sha256_of_the_body() {
    // RFC 4231, test case 2.
    assert_eq!(
        sign("Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn retries_wait_twice_as_long_each_time_up_to_a_minute() {
    let first = Duration::from_secs(1);
    let waits: Vec<u64> = (1..=9).map(|attempt| backoff(first, attempt).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    assert_eq!(backoff(first, u32::MAX), Duration::from_secs(60), "no overflow");
}

/// What the receiver got: (delivery id, signature, body), every try.
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A receiver on loopback answering `answers` in turn (200 once they run out); with `hold`, its first
/// try is held open until `hold` is notified. Its URL.
async fn receiver(received: Received, answers: Vec<StatusCode>, hold: Option<Arc<Notify>>) -> String {
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let route = axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
        let (received, answers, hold) = (received.clone(), answers.clone(), hold.clone());
        async move {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let first = {
                let mut received = received.lock().unwrap();
                received.push((header("x-rackhand-delivery"), header("x-rackhand-signature"), body.to_vec()));
                received.len() == 1
            };
            if let (Some(hold), true) = (hold, first) {
                hold.notified().await;
            }
            answers.lock().unwrap().next().unwrap_or(StatusCode::OK)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/hook", route)).await });
    url
}

async fn service_telling(url: String) -> TestServer {
    TestServer::start_configured(
        Enrolment::Auto,
        |c| c,
        move |config| {
            let mut hook = WebhookConfig::new(url, Secret::new(SECRET.into()));
            hook.first_retry = Duration::from_millis(50);
            hook.attempts = 3;
            config.webhook = Some(hook);
        },
    )
    .await
}

/// The notices received (each once, by delivery id, in order), once `count` arrived (10 s at most).
async fn notices(received: &Received, count: usize) -> Vec<Notice> {
    for _ in 0..200 {
        let mut seen = Vec::new();
        let mut notices = Vec::new();
        for (id, signature, body) in received.lock().unwrap().iter() {
            assert_eq!(*signature, sign(SECRET, body), "every try is signed over its body");
            if !seen.contains(id) {
                seen.push(id.clone());
                notices.push(serde_json::from_slice::<Notice>(body).unwrap());
            }
        }
        if notices.len() >= count {
            return notices;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} notices: {:?}", received.lock().unwrap().len())
}

#[tokio::test]
async fn every_state_change_is_told_signed_and_a_failed_try_is_retried() {
    let received = Received::default();
    let url = receiver(received.clone(), vec![StatusCode::INTERNAL_SERVER_ERROR], None).await;
    let server = service_telling(url).await;
    let token = crate::http::tests::token_of(&server.script("52-54-00-00-00-41").await);
    let report = serde_json::json!({"reason": "bay 3 is empty", "problems": []});
    server.post("/api/v1/nodes/1/failed", &token, report).await;

    let told = notices(&received, 2).await;
    let moves: Vec<_> = told.iter().map(|n| (n.from, n.to)).collect();
    assert_eq!(
        moves,
        [(Some(NodeState::Discovered), NodeState::Booting), (Some(NodeState::Booting), NodeState::Failed)]
    );
    assert_eq!(told[1].reason.as_deref(), Some("bay 3 is empty"));
    assert_eq!((told[1].kind.as_str(), told[1].label.as_str()), ("state_changed", "node 1"));
    let tries = received.lock().unwrap().len();
    assert_eq!(tries, 3, "the first notice twice (500, then 200), the second once");
}

#[tokio::test]
async fn a_receiver_that_holds_on_never_holds_up_a_server() {
    let received = Received::default();
    let hold = Arc::new(Notify::new());
    let url = receiver(received.clone(), vec![], Some(hold.clone())).await;
    let server = service_telling(url).await;
    // The first notice is held at the receiver; the server goes on regardless.
    let token = crate::http::tests::token_of(&server.script("52-54-00-00-00-42").await);
    for _ in 0..200 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(received.lock().unwrap().len(), 1, "the receiver holds the first notice");
    let report = serde_json::json!({"reason": "stopped", "problems": []});
    let failed = server.post("/api/v1/nodes/1/failed", &token, report);
    let failed = tokio::time::timeout(Duration::from_secs(10), failed).await.expect("the service answers at once");
    assert_eq!(failed.status(), reqwest::StatusCode::OK);
    assert_eq!(server.node(1).await.state, NodeState::Failed);
    assert_eq!(received.lock().unwrap().len(), 1, "the receiver still holds the first notice");
    hold.notify_one();
    let told = notices(&received, 2).await;
    assert_eq!(told[1].to, NodeState::Failed, "then the rest arrive, in order");
}

/// A ready server's BMC reporting a lost AC input, then its mending, are each told (`health_changed`,
/// with the problems and their fixes, then none).
#[tokio::test]
async fn a_lost_power_supply_and_its_mending_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bmc) = crate::power::tests::sim(dir.path()) else { return };
    let received = Received::default();
    let url = receiver(received.clone(), vec![], None).await;
    let server = TestServer::start_configured(
        Enrolment::Auto,
        |c| c,
        move |config| {
            config.webhook = Some(WebhookConfig::new(url, Secret::new(SECRET.into())));
            config.deploy.bmc_poll_interval = Duration::from_millis(200);
        },
    )
    .await;
    let mac = "52-54-00-00-00-42";
    crate::http::power_tests::ready_node(&server, 1, mac).await;
    server.set_bmc(1, &bmc, crate::http::power_tests::BMC_PASSWORD).await;
    bmc.set_psu(2, rackhand_test_bmc::PsuOffset::AcLost, true).unwrap();
    let health = |told: &[Notice]| told.iter().filter(|n| n.kind == "health_changed").cloned().collect::<Vec<_>>();
    let mut told = Vec::new();
    for count in 6.. {
        told = health(&notices(&received, count).await);
        if !told.is_empty() {
            break;
        }
    }
    let lost = &told[0];
    assert_eq!((lost.to, lost.label.as_str()), (NodeState::Ready, "node 1"));
    let problems = lost.problems.as_ref().expect("the problems");
    assert_eq!(problems.iter().map(|p| p.part.as_str()).collect::<Vec<_>>(), ["PSU 2"]);
    assert!(problems[0].fix.starts_with("plug its cord back"), "{problems:?}");
    bmc.set_psu(2, rackhand_test_bmc::PsuOffset::AcLost, false).unwrap();
    let all = received.lock().unwrap().len();
    let told = health(&notices(&received, all + 1).await);
    assert_eq!(told.last().and_then(|n| n.problems.clone()), Some(vec![]), "mended: nothing is wrong");
}

/// The installed OS reporting a missing disk is told once (its same report again is not), with the fix.
#[tokio::test]
async fn a_problem_the_installed_os_reports_is_told_once() {
    let received = Received::default();
    let url = receiver(received.clone(), vec![], None).await;
    let server = service_telling(url).await;
    let agent = crate::http::power_tests::ready_node(&server, 1, "52-54-00-00-00-43").await;
    let mut report = crate::http::tests::os_report("6.1");
    report["problems"] = serde_json::json!([{"severity": "warning", "part": "bay 0",
        "message": "the SSD in bay 0 is missing", "fix": "insert a working SSD in bay 0"}]);
    for _ in 0..2 {
        let answer = server.post("/api/v1/nodes/1/health", &agent, report.clone()).await;
        assert!(answer.status().is_success(), "{}", answer.status());
    }
    server.post("/api/v1/nodes/1/health", &agent, crate::http::tests::os_report("6.1")).await;
    let all = notices(&received, 8).await;
    let told: Vec<&Notice> = all.iter().filter(|n| n.kind == "health_changed").collect();
    assert_eq!(told.len(), 2, "the problem once, then its mending: {all:#?}");
    assert_eq!(
        told[0].reason.as_deref(),
        Some("its OS reports: the SSD in bay 0 is missing (fix: insert a working SSD in bay 0)")
    );
    assert_eq!(told[1].problems, Some(vec![]));
}
