//! The HTTP side against a real listener on loopback (port 0), driven by a real HTTP client.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use rackhand_api::{
    AgentCredential, DeploySettings, FailedReport, Installed, Inventory, NodeRecord, NodeState, PlanResults,
};
use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::config::{ConfigWriter, DhcpMode, Enrolment, SubnetWriter};
use crate::store::SqliteStore;

pub(crate) const ADMIN: &str = "admin-token-for-tests-only";
/// The shortest deadline the config file takes.
const SECOND: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) struct TestServer {
    pub(crate) addr: std::net::SocketAddr,
    base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) config: Arc<Config>,
    nodes: Arc<Nodes>,
    _dirs: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// The test service's config: on loopback, one subnet whose enrolment policy is the test's, data under
/// `dir`.
fn config_writer(dir: &std::path::Path, enrolment: Enrolment) -> ConfigWriter {
    let subnet = SubnetWriter::new("127.0.0.0/8".parse().unwrap(), enrolment)
        .pool(Ipv4Addr::new(127, 0, 0, 100), Ipv4Addr::new(127, 0, 0, 200));
    ConfigWriter::new(Ipv4Addr::LOCALHOST, dir, ADMIN, DhcpMode::Full, ["lo"])
        .public_url("http://127.0.0.1:8080")
        .subnet(subnet)
}

impl TestServer {
    pub(crate) async fn start(enrolment: Enrolment) -> TestServer {
        Self::start_with(enrolment, |config| config).await
    }

    /// With more of the config file written by `write` (the deadline check runs either way).
    async fn start_with(enrolment: Enrolment, write: impl FnOnce(ConfigWriter) -> ConfigWriter) -> TestServer {
        Self::start_configured(enrolment, write, |_| {}).await
    }

    /// The same, with the parsed config changed by `change` first (for values finer than the file takes).
    pub(crate) async fn start_configured(
        enrolment: Enrolment,
        write: impl FnOnce(ConfigWriter) -> ConfigWriter,
        change: impl FnOnce(&mut Config),
    ) -> TestServer {
        let dirs = tempfile::tempdir().unwrap();
        let text = write(config_writer(dirs.path(), enrolment)).render().unwrap();
        let mut config = Config::parse(&text, "test.toml").unwrap();
        change(&mut config);
        std::fs::create_dir_all(&config.boot.images_dir).unwrap();
        std::fs::create_dir_all(&config.boot.assets_dir).unwrap();
        let image: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        std::fs::write(config.boot.images_dir.join("disk.img"), image).unwrap();

        let mut registry = Registry::default();
        let metrics = ServiceMetrics::register(&mut registry);
        let state = AppState {
            nodes: Arc::new(Nodes::configured(Arc::new(SqliteStore::in_memory().unwrap()), &config)),
            config: Arc::new(config),
            registry: Arc::new(registry),
            metrics,
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let every = state.config.deploy.deadline_check_interval;
        tokio::spawn(crate::service::watch_deadlines(state.nodes.clone(), every, stop.clone()));
        let every = state.config.deploy.bmc_poll_interval;
        tokio::spawn(crate::service::watch_bmcs(state.nodes.clone(), every, stop.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let (config, nodes) = (state.config.clone(), state.nodes.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, state, async move {
            let _ = rx.await;
            stop.cancel();
        }));
        TestServer { addr, base, client: reqwest::Client::new(), config, nodes, _dirs: dirs, _shutdown: tx }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server `mac` network-boots: DHCP answers it with this test's loopback address, then its iPXE
    /// asks for its script.
    pub(crate) async fn script(&self, mac: &str) -> String {
        self.dhcp_boot(mac, Ipv4Addr::LOCALHOST);
        let response = self.fetch_script(mac).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    /// What DHCP records when it answers boot client `mac` with `address`.
    pub(crate) fn dhcp_boot(&self, mac: &str, address: Ipv4Addr) {
        crate::dhcp::NodeDirectory::saw_booting(&*self.nodes, mac.parse().unwrap(), address);
    }

    /// What DHCP does for a boot client it has not seen before in an auto-enrolment subnet: an enrolment
    /// in its lease batch.
    pub(crate) fn dhcp_enrol(&self, mac: &str) {
        let within = self.config.dhcp.subnets[0].enrols_strangers().expect("an auto-enrolment subnet");
        let enrol = crate::store::LeaseWrite::Enrol { mac: mac.parse().unwrap(), within, at: jiff::Timestamp::now() };
        let refused = self.nodes.store().write_leases(&[enrol]).unwrap();
        assert_eq!(refused, crate::store::Refused::default());
    }

    /// `GET /boot/<mac>.ipxe`, whatever DHCP saw.
    pub(crate) async fn fetch_script(&self, mac: &str) -> reqwest::Response {
        self.client.get(self.url(&format!("/boot/{mac}.ipxe"))).send().await.unwrap()
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: serde_json::Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub(crate) async fn node(&self, id: i64) -> NodeRecord {
        self.client.get(self.url(&format!("/api/v1/nodes/{id}"))).send().await.unwrap().json().await.unwrap()
    }

    /// Node `id` once it has left `state`, or as it is after 10 s.
    pub(crate) async fn node_once_out_of(&self, id: i64, state: NodeState) -> NodeRecord {
        let started = std::time::Instant::now();
        loop {
            let node = self.node(id).await;
            if node.state != state || started.elapsed() > std::time::Duration::from_secs(10) {
                return node;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// The token on the kernel line of an install script.
pub(crate) fn token_of(script: &str) -> String {
    let start = script.find("rackhand.token=").expect("script has a token") + "rackhand.token=".len();
    script[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let server = TestServer::start(Enrolment::Auto).await;
    let response = server.client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.client.get(server.url("/nope")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let bad = server.client.get(server.url("/boot/not-a-mac.ipxe")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("`not-a-mac` is not a MAC address"));
}

pub(crate) fn os_report(kernel: &str) -> serde_json::Value {
    json!({"hostname": "node1", "kernel": kernel, "ssh_host_keys": ["ED25519 SHA256:GtjcdVr/TylDDK47+DldiNkbvk9kKco9lAudib6SpoU"]})
}

/// Script, inventory and an install progress report: node 1 installing; its node token.
pub(crate) async fn install(server: &TestServer, mac: &str) -> String {
    install_as(server, 1, mac).await
}

/// The same for the node that `mac` becomes, `id`.
pub(crate) async fn install_as(server: &TestServer, id: i64, mac: &str) -> String {
    let token = token_of(&server.script(mac).await);
    let inv = serde_json::to_value(Inventory::default()).unwrap();
    assert_eq!(server.post(&format!("/api/v1/nodes/{id}/inventory"), &token, inv).await.status(), StatusCode::OK);
    let progress = json!({"stage": "install", "step": "image", "status": "running", "done": 10, "total": 100});
    assert_eq!(server.post(&format!("/api/v1/nodes/{id}/events"), &token, progress).await.status(), StatusCode::OK);
    assert_eq!(server.node(id).await.state, NodeState::Installing);
    token
}

#[tokio::test]
async fn a_node_goes_from_script_to_ready_over_http() {
    let server = TestServer::start(Enrolment::Auto).await;
    let script = server.script("52-54-00-00-00-01").await;
    assert!(script.contains("rackhand.node=1 "), "{script}");
    let token = install(&server, "52-54-00-00-00-01").await;
    assert_eq!(server.get("/api/v1/nodes/1/deploy", "wrong").await.status(), StatusCode::UNAUTHORIZED);
    let deploy: DeploySettings = server.get("/api/v1/nodes/1/deploy", &token).await.json().await.unwrap();
    assert_eq!(deploy, DeploySettings { hostname: "node1".into(), ssh_authorized_keys: vec![], owned_arrays: vec![] });

    // installed: rebooting, with a deadline; the node token is spent.
    let results = serde_json::to_value(PlanResults::default()).unwrap();
    let response = server.post("/api/v1/nodes/1/installed", &token, results.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let Installed { deploy_credential } = response.json().await.unwrap();
    let node = server.node(1).await;
    assert_eq!(node.state, NodeState::Rebooting);
    assert!(node.deadline.as_ref().is_some_and(|d| d.reason.contains("did not network-boot within 5 min")), "{node:?}");
    assert_eq!(server.post("/api/v1/nodes/1/installed", &token, results).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.get("/api/v1/nodes/1/deploy", &token).await.status(), StatusCode::UNAUTHORIZED);

    // The server network-boots: handed over to its disk, first_boot.
    let handover = server.script("52:54:00:00:00:01").await;
    assert!(handover.contains("sanboot --no-describe --drive 0x80 || exit 1"), "{handover}");
    assert_eq!(server.node(1).await.state, NodeState::FirstBoot);

    // The installed OS reports with the deploy credential (not the node token), once.
    assert_eq!(
        server.post("/api/v1/nodes/1/ready", &token, os_report("6.1.0")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = server.post("/api/v1/nodes/1/ready", &deploy_credential, os_report("6.1.0")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let AgentCredential { agent_token } = response.json().await.unwrap();
    let node = server.node(1).await;
    assert_eq!((node.state, node.deadline), (NodeState::Ready, None));
    assert_eq!(node.os.map(|os| os.kernel), Some("6.1.0".into()));
    let again = server.post("/api/v1/nodes/1/ready", &deploy_credential, os_report("6.1.0")).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "the deploy credential is one-time");

    // Health reports take the agent token.
    let health = server.post("/api/v1/nodes/1/health", &agent_token, os_report("6.1.1")).await;
    assert_eq!(health.status(), StatusCode::NO_CONTENT);
    let with_deploy = server.post("/api/v1/nodes/1/health", &deploy_credential, os_report("6.1.2")).await;
    assert_eq!(with_deploy.status(), StatusCode::UNAUTHORIZED);
    let bad = server.post("/api/v1/nodes/1/health", &agent_token, json!({"hostname": "node1"})).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY, "a report without its kernel");
    let node = server.node(1).await;
    assert_eq!((node.state, node.os.map(|os| os.kernel)), (NodeState::Ready, Some("6.1.1".into())));
    assert!(node.events.len() >= 7, "{:?}", node.events);

    assert!(server.script("52:54:00:00:00:01").await.contains("sanboot"));
}

#[tokio::test]
async fn a_server_that_never_network_boots_after_its_install_fails_at_its_deadline() {
    let server = TestServer::start_with(Enrolment::Auto, |config| {
        config.reboot_deadline(SECOND).deadline_check_interval(SECOND)
    })
    .await;
    let token = install(&server, "52-54-00-00-00-0c").await;
    let results = serde_json::to_value(PlanResults::default()).unwrap();
    assert_eq!(server.post("/api/v1/nodes/1/installed", &token, results).await.status(), StatusCode::OK);
    assert_eq!(server.node(1).await.state, NodeState::Rebooting);
    let node = server.node_once_out_of(1, NodeState::Rebooting).await;
    assert_eq!(node.state, NodeState::Failed, "{node:?}");
    let reason = node.failure.map(|f| f.reason).unwrap_or_default();
    assert!(reason.contains("did not network-boot within 1 s: check that it powers on"), "{reason}");
}

#[tokio::test]
async fn a_server_whose_installer_never_reports_fails_at_its_deadline_with_the_likely_causes() {
    let server = TestServer::start_with(Enrolment::Auto, |config| {
        config.installer_deadline(SECOND).deadline_check_interval(SECOND)
    })
    .await;
    server.script("52-54-00-00-00-0d").await;
    assert_eq!(server.node(1).await.state, NodeState::Booting);
    let node = server.node_once_out_of(1, NodeState::Booting).await;
    assert_eq!(node.state, NodeState::Failed, "{node:?}");
    let reason = node.failure.map(|f| f.reason).unwrap_or_default();
    assert!(
        reason.contains("the installer did not report within 1 s: it likely has no driver for the NIC"),
        "{reason}"
    );
}

#[tokio::test]
async fn failed_keeps_its_reason_and_problems() {
    let server = TestServer::start(Enrolment::Auto).await;
    let token = token_of(&server.script("52-54-00-00-00-02").await);
    let report = FailedReport { reason: "bay 4 empty".into(), problems: vec![], built: None, step: None };
    let response = server.post("/api/v1/nodes/1/failed", &token, serde_json::to_value(&report).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let node = server.node(1).await;
    assert_eq!(node.state, NodeState::Failed);
    assert_eq!(node.failure, Some(report));
}

#[tokio::test]
async fn node_calls_need_their_own_token() {
    let server = TestServer::start(Enrolment::Auto).await;
    let token = token_of(&server.script("52-54-00-00-00-03").await);
    server.script("52-54-00-00-00-04").await;
    let inv = serde_json::to_value(Inventory::default()).unwrap();
    // Node 1's token does not work for node 2, nor does the admin token, nor nothing.
    assert_eq!(server.post("/api/v1/nodes/2/inventory", &token, inv.clone()).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.post("/api/v1/nodes/2/inventory", ADMIN, inv.clone()).await.status(), StatusCode::UNAUTHORIZED);
    let anonymous = server.client.post(server.url("/api/v1/nodes/1/inventory")).json(&inv).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.post("/api/v1/nodes/9/inventory", &token, inv).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admin_registration_and_reprovision() {
    let server = TestServer::start(Enrolment::RegisteredOnly).await;
    // Strangers are not enrolled on a registered-only subnet.
    assert!(server.script("52-54-00-00-00-05").await.contains("is not registered"));
    assert!(
        server
            .client
            .get(server.url("/api/v1/nodes"))
            .send()
            .await
            .unwrap()
            .json::<Vec<NodeRecord>>()
            .await
            .unwrap()
            .is_empty()
    );

    let body = json!({"mac": "52:54:00:00:00:05", "profile": "qemu-lab"});
    assert_eq!(server.post("/api/v1/nodes", "wrong-token", body.clone()).await.status(), StatusCode::UNAUTHORIZED);
    let created = server.post("/api/v1/nodes", ADMIN, body.clone()).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(server.post("/api/v1/nodes", ADMIN, body).await.status(), StatusCode::CONFLICT);
    assert!(server.script("52-54-00-00-00-05").await.contains("rackhand.token="));

    let typo = server.post("/api/v1/nodes", ADMIN, json!({"mac": "52:54:00:00:00:06", "profle": "x"})).await;
    assert_eq!(typo.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(typo.text().await.unwrap().contains("unknown field `profle`"));
    let bad_mac = server.post("/api/v1/nodes", ADMIN, json!({"mac": "52:54:00"})).await;
    assert!(bad_mac.text().await.unwrap().contains("`52:54:00` is not a MAC address"));
    let bad_host = server.post("/api/v1/nodes", ADMIN, json!({"mac": "52:54:00:00:00:07", "hostname": "web_1"})).await;
    assert_eq!(bad_host.status(), StatusCode::BAD_REQUEST);
    assert!(bad_host.text().await.unwrap().contains("hostname `web_1`: labels of letters, digits and hyphens"));

    // Reprovision only applies to finished nodes.
    let response = server.post("/api/v1/nodes/1/reprovision", ADMIN, json!(null)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn images_are_served_with_range() {
    let server = TestServer::start(Enrolment::Auto).await;
    let response =
        server.client.get(server.url("/images/disk.img")).header("range", "bytes=1000-1009").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let expected: Vec<u8> = (0..=255u8).cycle().skip(1000).take(10).collect();
    assert_eq!(response.bytes().await.unwrap().as_ref(), expected.as_slice());
    // Traversal is tested with raw requests in `wire_tests.rs`: reqwest would send `/rackhand.db` here.
}

#[tokio::test]
async fn metrics_count_requests_and_nodes() {
    let server = TestServer::start(Enrolment::Auto).await;
    server.script("52-54-00-00-00-07").await;
    let text = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("rackhand_http_requests_total{route=\"/boot/{file}\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("rackhand_nodes{state=\"booting\"} 1"), "{text}");
    for waiting in ["rebooting", "first_boot"] {
        assert!(text.contains(&format!("rackhand_nodes{{state=\"{waiting}\"}} 0")), "{text}");
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_and_bmc_passwords_never_reach_the_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || sink.clone()).finish();
    // Global, not thread-local: handlers run on other threads too, and a thread-local default races with
    // tracing's per-callsite interest cache when other tests run at the same time.
    tracing::subscriber::set_global_default(subscriber).expect("only this test installs a subscriber");

    let server = TestServer::start(Enrolment::Auto).await;
    let token = token_of(&server.script("52-54-00-00-00-08").await);
    let inv = serde_json::to_value(Inventory::default()).unwrap();
    server.post("/api/v1/nodes/1/inventory", &token, inv).await;
    server.post("/api/v1/nodes", ADMIN, json!({"mac": "52:54:00:00:00:09"})).await;
    let report = json!({"reason": "test", "problems": []});
    server.post("/api/v1/nodes/1/failed", &token, report).await;

    // A second node through installed, ready and health: its deploy credential and agent token.
    let token2 = install_as(&server, 3, "52-54-00-00-00-0d").await;
    let results = serde_json::to_value(PlanResults::default()).unwrap();
    let installed: Installed = server.post("/api/v1/nodes/3/installed", &token2, results).await.json().await.unwrap();
    server.script("52-54-00-00-00-0d").await;
    let response = server.post("/api/v1/nodes/3/ready", &installed.deploy_credential, os_report("6.1")).await;
    let agent: AgentCredential = response.json().await.unwrap();
    server.post("/api/v1/nodes/3/health", &agent.agent_token, os_report("6.1")).await;
    assert_eq!(server.node(3).await.state, NodeState::Ready);

    // Node 3's BMC (OpenIPMI's simulator): its password set, power driven, a reprovision through it.
    let bmc_dir = tempfile::tempdir().unwrap();
    let bmc = crate::power::tests::sim(bmc_dir.path());
    if let Some(bmc) = &bmc {
        server.set_bmc(3, bmc, super::power_tests::BMC_PASSWORD).await;
        server.post("/api/v1/nodes/3/power", ADMIN, json!({"action": "on"})).await;
        let node: NodeRecord =
            server.post("/api/v1/nodes/3/reprovision", ADMIN, json!(null)).await.json().await.unwrap();
        assert_eq!(node.state, NodeState::Booting, "{:?}", node.failure);
        assert!(!super::power_tests::everything_said(&server).await.contains(super::power_tests::BMC_PASSWORD));
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    if bmc.is_some() {
        assert!(logs.contains("BMC set by admin"), "the test must see the BMC's logs: {logs}");
        assert!(!logs.contains(super::power_tests::BMC_PASSWORD), "BMC password leaked into logs");
    }
    assert!(logs.contains("serving installer script"), "the test must see the service's logs: {logs}");
    assert!(logs.contains("node is ready"), "the test must see the service's logs: {logs}");
    assert!(!logs.contains(&token), "node token leaked into logs");
    assert!(!logs.contains(&token2), "node token leaked into logs");
    assert!(!logs.contains(&installed.deploy_credential), "deploy credential leaked into logs");
    assert!(!logs.contains(&agent.agent_token), "agent token leaked into logs");
    assert!(!logs.contains(ADMIN), "admin token leaked into logs");
}

#[tokio::test]
async fn the_dashboard_shows_failures_with_fixes_and_installs_with_progress() {
    let server = TestServer::start(Enrolment::Auto).await;
    let installing = token_of(&server.script("52-54-00-00-00-0a").await);
    let inv = serde_json::to_value(Inventory::default()).unwrap();
    let bad = server.post("/api/v1/nodes/1/inventory?profile=", &installing, inv.clone()).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "an empty profile name");
    let posted = server.post("/api/v1/nodes/1/inventory?profile=qemu-lab", &installing, inv).await;
    assert_eq!(posted.status(), StatusCode::OK);
    assert_eq!(server.node(1).await.profile.as_deref(), Some("qemu-lab"));
    let progress = json!({"stage": "install", "step": "image", "status": "running", "done": 25, "total": 100});
    assert_eq!(server.post("/api/v1/nodes/1/events", &installing, progress).await.status(), StatusCode::OK);
    let failing = token_of(&server.script("52-54-00-00-00-0b").await);
    let report = json!({"reason": "hardware does not match profile qemu-lab", "problems": [
        {"severity": "blocking", "part": "bay 3", "message": "bay 3 is empty", "fix": "insert an HDD of at least 1 TB"}
    ]});
    assert_eq!(server.post("/api/v1/nodes/2/failed", &failing, report).await.status(), StatusCode::OK);

    let response = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = response.text().await.unwrap();
    let failed_row = page.find("52:54:00:00:00:0b").expect(&page);
    assert!(failed_row < page.find("52:54:00:00:00:0a").expect(&page), "the failure is listed first");
    assert!(page.contains("Fix: insert an HDD of at least 1 TB"), "{page}");
    assert!(page.contains("image running 25%"), "{page}");
    assert!(page.contains(r#"<td class="nowrap">qemu-lab</td>"#), "the matched profile: {page}");

    let detail = server.client.get(server.url("/nodes/2")).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("→ failed: hardware does not match profile qemu-lab"), "{detail}");
    let missing = server.client.get(server.url("/nodes/99")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "a page, not JSON");
    assert!(missing.text().await.unwrap().contains("<h1>Not Found</h1>"));
}
