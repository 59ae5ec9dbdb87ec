//! `installer agent` against a loopback stand-in for the boot service, on a fixture root: the first
//! report uses the deploy credential and keeps the agent token it gets back; later ones report health;
//! a credential left beside a kept token (the power went between the two) is never offered again.

mod support;

use std::path::Path;

use installer::agent::{AgentPaths, run};
use installer::os_config::{AGENT_TOKEN, AgentConfig, DEPLOY_CREDENTIAL};
use rackhand_api::NodeId;
use support::http::serve;

fn root_with(server: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, AgentPaths) {
    let root = tempfile::tempdir().unwrap();
    let config = AgentConfig {
        server: server.into(),
        peers: vec![],
        node: NodeId(7),
        bays: vec![],
        bay_map: Default::default(),
        arrays: vec![],
        bond: None,
    };
    let config_path = root.path().join("agent.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    for (path, text) in files {
        let at = inside(root.path(), path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
    }
    let paths = AgentPaths { root: root.path().to_owned(), config: config_path };
    (root, paths)
}

fn inside(root: &Path, path: &str) -> std::path::PathBuf {
    root.join(path.trim_start_matches('/'))
}

#[test]
fn the_first_boot_reports_ready_with_the_deploy_credential_and_keeps_the_agent_token() {
    let (addr, seen) = serve(vec![], 1);
    let (root, paths) = root_with(&format!("http://{addr}"), &[(DEPLOY_CREDENTIAL, "d3pl0y\n")]);
    run(&paths).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].line, "POST /api/v1/nodes/7/ready HTTP/1.1");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer d3pl0y"));
    let report: rackhand_api::OsReport = serde_json::from_str(&seen[0].body).unwrap();
    assert!(!report.kernel.is_empty(), "the running kernel is reported");
    assert!(!inside(root.path(), DEPLOY_CREDENTIAL).exists(), "the deploy credential is spent");
    assert_eq!(std::fs::read_to_string(inside(root.path(), AGENT_TOKEN)).unwrap(), "ag3nt\n");
}

#[test]
fn later_boots_report_health_with_the_agent_token() {
    let (addr, seen) = serve(vec![], 1);
    let (_root, paths) = root_with(&format!("http://{addr}"), &[(AGENT_TOKEN, "ag3nt\n")]);
    run(&paths).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].line, "POST /api/v1/nodes/7/health HTTP/1.1");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer ag3nt"));
}

#[test]
fn a_credential_left_beside_a_kept_agent_token_is_not_offered_again() {
    let (addr, seen) = serve(vec![], 1);
    let files = [(DEPLOY_CREDENTIAL, "d3pl0y\n"), (AGENT_TOKEN, "ag3nt\n")];
    let (root, paths) = root_with(&format!("http://{addr}"), &files);
    run(&paths).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].line, "POST /api/v1/nodes/7/health HTTP/1.1");
    assert!(!inside(root.path(), DEPLOY_CREDENTIAL).exists());
}
