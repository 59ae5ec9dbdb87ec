//! The node API client against a tiny loopback HTTP server that records every request: routes, the
//! bearer token only in the Authorization header, retries with backoff while the service is unreachable
//! or answering 5xx, no retry on 4xx.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::http::serve;

use installer::boot_service::{Backoff, BootParams, Client, RegisterError, Reporter, Token};
use rackhand_api::{FailedReport, MacAddr, NodeId, PlanResults, Problem, ProgressReport, Stage, StepStatus};

const SECRET: &str = "tok-5eCr3T-value";

fn params(server: String) -> BootParams {
    BootParams {
        server,
        peers: vec![],
        node: NodeId(7),
        mac: "52:54:00:00:01:01".parse::<MacAddr>().unwrap(),
        token: Token::new(SECRET),
    }
}

fn quick() -> Backoff {
    Backoff { attempts: 4, first: Duration::from_millis(10), max: Duration::from_millis(40) }
}

#[test]
fn every_report_goes_to_its_route_with_the_token_in_the_header_only() {
    let (addr, seen) = serve(vec![], 5);
    let client = Client::new(params(format!("http://{addr}")), quick());
    client.inventory(&rackhand_api::Inventory::default(), Some("edge 1u/v2")).unwrap();
    let settings = client.deploy_settings().unwrap();
    assert_eq!((settings.hostname.as_str(), settings.ssh_authorized_keys.len()), ("rack1-u2", 1));
    let progress = ProgressReport {
        stage: Stage::Install,
        step: "raid md0".into(),
        status: StepStatus::Done,
        message: None,
        done: None,
        total: None,
    };
    client.progress(&progress).unwrap();
    assert_eq!(client.installed(&PlanResults::default()).unwrap().deploy_credential, "d3pl0y");
    let failed = FailedReport {
        reason: "r".into(),
        problems: vec![Problem::blocking("PSU 2", "m", "f")],
        built: None,
        step: None,
    };
    client.failed(&failed).unwrap();
    let seen = seen.lock().unwrap().clone();
    let lines: Vec<&str> = seen.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "POST /api/v1/nodes/7/inventory?profile=edge%201u%2Fv2 HTTP/1.1",
            "GET /api/v1/nodes/7/deploy HTTP/1.1",
            "POST /api/v1/nodes/7/events HTTP/1.1",
            "POST /api/v1/nodes/7/installed HTTP/1.1",
            "POST /api/v1/nodes/7/failed HTTP/1.1",
        ]
    );
    for r in &seen {
        assert_eq!(r.authorization.as_deref(), Some(format!("Bearer {SECRET}").as_str()));
        assert!(!r.body.contains(SECRET) && !r.line.contains(SECRET), "{r:?}");
    }
    let posted: ProgressReport = serde_json::from_str(&seen[2].body).unwrap();
    assert_eq!(posted, progress);
    let posted: FailedReport = serde_json::from_str(&seen[4].body).unwrap();
    assert_eq!(posted, failed);
}

#[test]
fn server_errors_are_retried_with_backoff_until_it_answers() {
    let (addr, seen) = serve(vec![503, 502], 1);
    let delays = Arc::new(Mutex::new(Vec::new()));
    let slept = delays.clone();
    let client = Client::new(params(format!("http://{addr}")), quick())
        .with_sleep(move |d| slept.lock().unwrap().push(d.as_millis()));
    client.installed(&PlanResults::default()).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(*delays.lock().unwrap(), [10, 20]);
}

#[test]
fn an_unreachable_service_is_retried_a_bounded_number_of_times() {
    // A port nothing listens on: bind, note it, close it.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let delays = Arc::new(Mutex::new(Vec::new()));
    let slept = delays.clone();
    let client = Client::new(params(format!("http://127.0.0.1:{port}")), quick())
        .with_sleep(move |d| slept.lock().unwrap().push(d.as_millis()));
    let err = client.inventory(&rackhand_api::Inventory::default(), None).unwrap_err();
    assert!(matches!(err, RegisterError::Unreachable { attempts: 4, .. }), "{err}");
    assert_eq!(*delays.lock().unwrap(), [10, 20, 40]);
    assert!(!err.to_string().contains(SECRET));
}

#[test]
fn a_stopped_instance_is_left_for_its_peer_which_is_kept() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (peer, seen) = serve(vec![], 2);
    let delays = Arc::new(Mutex::new(Vec::new()));
    let slept = delays.clone();
    let params = BootParams { peers: vec![format!("http://{peer}")], ..params(format!("http://127.0.0.1:{dead}")) };
    let client = Client::new(params, quick()).with_sleep(move |d| slept.lock().unwrap().push(d.as_millis()));
    let failed = FailedReport { reason: "x".into(), problems: vec![], built: None, step: None };
    client.failed(&failed).unwrap();
    client.failed(&failed).unwrap();
    let lines: Vec<String> = seen.lock().unwrap().iter().map(|r| r.line.clone()).collect();
    assert_eq!(lines, ["POST /api/v1/nodes/7/failed HTTP/1.1"; 2], "both reports reached the peer");
    assert_eq!(*delays.lock().unwrap(), [10], "one failed attempt at the stopped instance, then the peer only");
}

#[test]
fn the_service_coming_up_late_is_waited_for_with_real_delays() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        let listener = TcpListener::bind(addr).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").unwrap();
    });
    let backoff = Backoff { attempts: 10, first: Duration::from_millis(50), max: Duration::from_millis(100) };
    Client::new(params(format!("http://{addr}")), backoff)
        .failed(&FailedReport { reason: "x".into(), problems: vec![], built: None, step: None })
        .unwrap();
    late.join().unwrap();
}

#[test]
fn client_errors_are_not_retried() {
    let (addr, seen) = serve(vec![401], 0);
    let err = Client::new(params(format!("http://{addr}")), quick()).installed(&PlanResults::default()).unwrap_err();
    assert!(matches!(&err, RegisterError::Rejected { status: 401, body, .. } if body.contains("nope")), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}
