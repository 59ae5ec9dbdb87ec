//! [`decide`] as a table: each state against each input, with the credential each input presents.

use std::time::Duration;

use rackhand_api::{ArrayResult, MacAddr, NodeId, StepStatus};

use super::*;

const NOW: i64 = 1_790_000_000;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap()
}

/// A node in `state` that holds all three credentials, `node`, `deploy` and `agent` (hashed, as stored):
/// which one a state accepts is the rule under test. Its deadline (if it waits) is `deadline_in` from now.
fn stored(state: NodeState, deadline_in: i64) -> StoredNode {
    let at = Timestamp::from_second(NOW - 3600).unwrap();
    let record = NodeRecord {
        deadline: state.waits_on_server().then(|| Deadline {
            at: Timestamp::from_second(NOW + deadline_in).unwrap(),
            reason: "it missed it".into(),
        }),
        ..NodeRecord::new(NodeId(7), vec![MacAddr::new([0x52, 0x54, 0, 0, 0, 7])], state, at)
    };
    let hash = |s: &str| Some(token::hash_token(s));
    StoredNode { record, token_hash: hash("node"), deploy_hash: hash("deploy"), agent_hash: hash("agent"), bmc: None }
}

fn os_report() -> OsReport {
    OsReport {
        hostname: "node7".into(),
        kernel: "6.1.0-28-amd64".into(),
        arrays: vec![],
        bond: None,
        ssh_host_keys: vec![],
        addresses: vec![],
        problems: vec![],
    }
}

fn progress(stage: Stage) -> ProgressReport {
    ProgressReport { stage, step: "bond".into(), status: StepStatus::Started, message: None, done: None, total: None }
}

/// A decision in one line: the state it moves to, what it mints, which script it serves; or the refusal.
fn summary(result: Result<Decision, NodeError>) -> String {
    let decision = match result {
        Ok(decision) => decision,
        Err(NodeError::Unauthorized) => return "401".into(),
        Err(NodeError::Transition { source, .. }) => return format!("409 {source}"),
        Err(other) => return format!("error {other}"),
    };
    let mut parts = Vec::new();
    match decision.changes.iter().rev().find_map(|c| c.state) {
        Some(to) => parts.push(format!("-> {to}")),
        None if decision.changes.is_empty() => parts.push("nothing".into()),
        None => parts.push("stays".into()),
    }
    if let Some(mint) = decision.mint {
        parts.push(format!("mints {mint:?}"));
    }
    if let Some(script) = decision.script {
        parts.push(format!("serves {script:?}"));
    }
    parts.join(", ")
}

#[test]
fn every_state_against_every_input() {
    use NodeState::*;
    let config = DeployConfig::default();
    let installed = || Input::Installed { token: "node", results: PlanResults::default() };
    let ready = |credential| Input::Ready { credential, report: os_report() };
    let health = |token| Input::Health { token, report: os_report() };
    let inventory = |token| Input::Inventory {
        token,
        inventory: Inventory::default(),
        matched_profile: None,
        located: Located::Unknown,
    };
    let failed = || Input::Failed {
        token: "node",
        report: FailedReport { reason: "PSU 2".into(), problems: vec![], built: None, step: None },
    };
    let cases: Vec<(NodeState, Input, &str)> = vec![
        // PXE boots: the installer until the disk is written, the handover after.
        (Discovered, Input::PxeBoot { client_ip: None }, "-> booting, mints NodeToken, serves Installer"),
        (Installing, Input::PxeBoot { client_ip: None }, "-> booting, mints NodeToken, serves Installer"),
        (Failed, Input::PxeBoot { client_ip: None }, "-> booting, mints NodeToken, serves Installer"),
        (Rebooting, Input::PxeBoot { client_ip: None }, "-> first_boot, serves Handover"),
        (FirstBoot, Input::PxeBoot { client_ip: None }, "nothing, serves Handover"),
        (Ready, Input::PxeBoot { client_ip: None }, "nothing, serves Handover"),
        // The installer's calls take the node token, and only while it works.
        (Booting, inventory("node"), "-> inspecting"),
        (Booting, inventory("deploy"), "401"),
        (Rebooting, inventory("node"), "401"),
        (Inspecting, Input::Progress { token: "node", report: progress(Stage::Install) }, "-> installing"),
        (Inspecting, Input::Progress { token: "node", report: progress(Stage::Inspect) }, "stays"),
        (Installing, installed(), "-> rebooting, mints DeployCredential"),
        (Inspecting, installed(), "409 a node cannot go from inspecting to rebooting"),
        (Rebooting, installed(), "401"),
        (Installing, failed(), "-> failed"),
        (Rebooting, failed(), "401"),
        // The installed OS's first report takes the deploy credential, only while the node waits for it.
        (Rebooting, ready("deploy"), "-> ready, mints AgentToken"),
        (FirstBoot, ready("deploy"), "-> ready, mints AgentToken"),
        (FirstBoot, ready("node"), "401"),
        (FirstBoot, ready("agent"), "401"),
        (Installing, ready("deploy"), "401"),
        (Ready, ready("deploy"), "401"),
        // Its later reports take the agent token, only while ready.
        (Ready, health("agent"), "stays"),
        (Ready, health("deploy"), "401"),
        (FirstBoot, health("agent"), "401"),
        // Admin and deadlines.
        (Ready, Input::Reprovision, "-> booting"),
        (Failed, Input::Reprovision, "-> booting"),
        (FirstBoot, Input::Reprovision, "409 a node cannot go from first_boot to booting"),
        (Booting, Input::DeadlinePassed, "-> failed"),
        (Rebooting, Input::DeadlinePassed, "-> failed"),
        (FirstBoot, Input::DeadlinePassed, "-> failed"),
        (Inspecting, Input::DeadlinePassed, "-> failed"),
        (Installing, Input::DeadlinePassed, "-> failed"),
        (Ready, Input::DeadlinePassed, "nothing"),
        (Failed, Input::DeadlinePassed, "nothing"),
    ];
    let mut wrong = Vec::new();
    for (state, input, want) in cases {
        let shown = format!("{state} + {input:?}");
        let got = summary(decide(&stored(state, 0), input, now(), &config));
        if got != want {
            wrong.push(format!("{shown}:\n    got  {got}\n    want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn installed_sets_the_reboot_deadline_with_what_to_check_and_ends_the_node_token() {
    let config = DeployConfig { reboot_deadline: Duration::from_secs(300), ..DeployConfig::default() };
    let mut node = stored(NodeState::Installing, 0);
    node.record.results = None;
    let decision =
        decide(&node, Input::Installed { token: "node", results: PlanResults::default() }, now(), &config).unwrap();
    let change = &decision.changes[0];
    let deadline = change.deadline.clone().flatten().expect("a deadline");
    assert_eq!(deadline.at, Timestamp::from_second(NOW + 300).unwrap());
    assert_eq!(
        deadline.reason,
        "the installer finished and restarted the server, but it did not network-boot within 5 min: check that \
         it powers on and that network boot comes first in its boot order"
    );
    assert_eq!(change.token_hash, Some(None), "the node token dies");
    assert_eq!(change.results, Some(PlanResults::default()));
}

#[test]
fn the_installer_script_starts_the_wait_for_the_installer_and_each_report_restarts_it() {
    let config = DeployConfig { installer_deadline: Duration::from_secs(600), ..DeployConfig::default() };
    for from in [NodeState::Discovered, NodeState::Booting, NodeState::Failed] {
        let decision = decide(&stored(from, 60), Input::PxeBoot { client_ip: None }, now(), &config).unwrap();
        let deadline = decision.changes[0].deadline.clone().flatten().expect("a deadline");
        assert_eq!(deadline.at, Timestamp::from_second(NOW + 600).unwrap(), "from {from}");
        let booted = now().strftime("%H:%M UTC").to_string();
        assert_eq!(
            deadline.reason,
            format!(
                "network-booted the installer at {booted} but the installer did not report within 10 min: it likely \
                 has no driver for the NIC the server booted from, or its network (VLAN, cabling) does not reach \
                 the boot service; its console says which"
            )
        );
    }
    let inventory = Input::Inventory {
        token: "node",
        inventory: Inventory::default(),
        matched_profile: None,
        located: Located::Unknown,
    };
    let decision = decide(&stored(NodeState::Booting, 60), inventory, now(), &config).unwrap();
    let deadline = decision.changes[0].deadline.clone().flatten().expect("the wait for its next report");
    assert_eq!(deadline.at, Timestamp::from_second(NOW + 600).unwrap());
    assert!(deadline.reason.contains("(its inventory) and then said nothing for 10 min"), "{}", deadline.reason);
}

/// A working installer that goes silent (hung, its server frozen, its network lost) fails its node once
/// `installer_deadline` passes after its last report, naming that report; every report moves the deadline.
#[test]
fn an_installer_that_goes_silent_fails_its_node_naming_what_it_last_said() {
    let config = DeployConfig { installer_deadline: Duration::from_secs(600), ..DeployConfig::default() };
    let report = ProgressReport {
        stage: Stage::Install,
        step: "image".into(),
        status: StepStatus::Running,
        message: None,
        done: Some(3 << 30),
        total: Some(u64::MAX),
    };
    let mut node = stored(NodeState::Installing, 60);
    let decision = decide(&node, Input::Progress { token: "node", report }, now(), &config).unwrap();
    let deadline = decision.changes.last().unwrap().deadline.clone().flatten().expect("a deadline");
    assert_eq!(deadline.at, Timestamp::from_second(NOW + 600).unwrap(), "moved to 10 min after this report");
    let said = now().strftime("%H:%M UTC").to_string();
    assert_eq!(
        deadline.reason,
        format!(
            "the installer last reported at {said} (step image running, 0 %) and then said nothing for 10 min: \
             the server may have hung or lost its network; its console shows where it stopped. Restart it to \
             install again"
        )
    );
    node.record.deadline = Some(deadline.clone());
    let before = Timestamp::from_second(NOW + 599).unwrap();
    let waiting = decide(&node, Input::DeadlinePassed, before, &config).unwrap();
    assert!(waiting.changes.is_empty(), "not yet");
    let after = Timestamp::from_second(NOW + 600).unwrap();
    let failed = decide(&node, Input::DeadlinePassed, after, &config).unwrap();
    assert_eq!(failed.changes[0].state, Some(NodeState::Failed));
    assert_eq!(failed.changes[0].failure.clone().flatten().map(|f| f.reason), Some(deadline.reason));
    assert_eq!(failed.changes[0].token_hash, Some(None), "its token dies: a late report is refused");
}

#[test]
fn the_handover_of_a_rebooting_node_starts_the_first_boot_deadline() {
    let config = DeployConfig { first_boot_deadline: Duration::from_secs(600), ..DeployConfig::default() };
    let decision =
        decide(&stored(NodeState::Rebooting, 60), Input::PxeBoot { client_ip: None }, now(), &config).unwrap();
    let deadline = decision.changes[0].deadline.clone().flatten().expect("a deadline");
    assert_eq!(deadline.at, Timestamp::from_second(NOW + 600).unwrap());
    let handed_over = now().strftime("%H:%M UTC").to_string();
    assert!(
        deadline.reason.starts_with(&format!(
            "handed over to its disk at {handed_over} but the installed OS did not report within 10 min: watch \
             its console for a boot-loader or kernel error"
        )),
        "{}",
        deadline.reason
    );
    assert_eq!(decision.changes[0].deploy_hash, None, "the deploy credential stays for the OS's report");
}

#[test]
fn ready_spends_the_deploy_credential_and_keeps_the_report() {
    let decision = decide(
        &stored(NodeState::FirstBoot, 60),
        Input::Ready { credential: "deploy", report: os_report() },
        now(),
        &DeployConfig::default(),
    )
    .unwrap();
    let change = &decision.changes[0];
    assert_eq!(change.deploy_hash, Some(None), "one use only");
    assert_eq!(change.deadline, Some(None), "no longer waiting");
    assert_eq!(change.os, Some(Some(os_report())));
}

#[test]
fn a_deadline_fails_the_node_with_its_reason_once_it_has_passed() {
    let config = DeployConfig::default();
    let early = stored(NodeState::Rebooting, 1);
    assert_eq!(expired(&early.record, now()), None);
    assert_eq!(summary(decide(&early, Input::DeadlinePassed, now(), &config)), "nothing", "the OS may still report");

    let late = stored(NodeState::Rebooting, -1);
    assert_eq!(expired(&late.record, now()).map(|d| d.reason.as_str()), Some("it missed it"));
    let decision = decide(&late, Input::DeadlinePassed, now(), &config).unwrap();
    let change = &decision.changes[0];
    assert_eq!(change.failure.clone().flatten().map(|f| f.reason), Some("it missed it".into()));
    assert_eq!(
        (change.token_hash.clone(), change.deploy_hash.clone(), change.agent_hash.clone()),
        (Some(None), Some(None), Some(None))
    );
    assert_eq!(change.deadline, Some(None));

    let mut ready = stored(NodeState::Ready, -1);
    ready.record.deadline = late.record.deadline.clone();
    assert_eq!(expired(&ready.record, now()), None, "a node that does not wait has no deadline to miss");
}

#[test]
fn deploy_settings_name_the_host_and_the_arrays_of_the_previous_install() {
    let config = DeployConfig { ssh_authorized_keys: vec!["ssh-ed25519 AAAA ops".into()], ..DeployConfig::default() };
    let mut node = stored(NodeState::Installing, 0);
    let array = |uuid: &str| ArrayResult {
        device: "/dev/md0".into(),
        level: "raid1".into(),
        uuid: uuid.into(),
        members: vec![],
        filesystem: None,
    };
    node.record.results = Some(PlanResults { arrays: vec![array("u-1"), array("u-2")], ..PlanResults::default() });
    let settings = deploy_settings(&node, "node", &config).unwrap();
    assert_eq!(
        settings,
        DeploySettings {
            hostname: "node7".into(),
            ssh_authorized_keys: vec!["ssh-ed25519 AAAA ops".into()],
            owned_arrays: vec!["u-1".into(), "u-2".into()],
        }
    );
    node.record.location = Some(Location { rack: "rack1".into(), unit: 2 });
    assert_eq!(deploy_settings(&node, "node", &config).unwrap().hostname, "rack1-u2", "named by its location");
    node.record.hostname = Some("web01".into());
    assert_eq!(deploy_settings(&node, "node", &config).unwrap().hostname, "web01", "a registered name comes first");
    assert!(matches!(deploy_settings(&node, "deploy", &config), Err(NodeError::Unauthorized)));
    assert!(matches!(deploy_settings(&stored(NodeState::Rebooting, 0), "node", &config), Err(NodeError::Unauthorized)));
}

#[test]
fn the_inventory_locates_the_server_by_its_switch_ports_unless_it_was_registered_elsewhere() {
    let config = DeployConfig::default();
    let rack1 = |unit| Location { rack: "rack1".into(), unit };
    let post = |node: &StoredNode, located| {
        let input = Input::Inventory { token: "node", inventory: Inventory::default(), matched_profile: None, located };
        let change = decide(node, input, now(), &config).unwrap().changes.remove(0);
        let Some(EventKind::Transition { reason: Some(reason), .. }) = change.event else { panic!("an event") };
        (change.location, reason)
    };
    let mut node = stored(NodeState::Booting, 0);
    assert_eq!(
        post(&node, Located::At(rack1(2))),
        (Some(rack1(2)), "inventory received; located at rack1-u2 by its switch ports".into())
    );
    assert_eq!(post(&node, Located::Unknown), (None, "inventory received".into()));
    let conflict = Located::Conflict("eth0 and eth1 disagree; check the cabling".into());
    assert_eq!(post(&node, conflict), (None, "inventory received; eth0 and eth1 disagree; check the cabling".into()));

    node.record.location = Some(rack1(3));
    assert_eq!(post(&node, Located::At(rack1(3))), (None, "inventory received".into()));
    assert_eq!(
        post(&node, Located::At(rack1(2))),
        (None, "inventory received; its switch ports say rack1-u2, but it was registered at rack1-u3: check which is right".into())
    );
}

#[test]
fn waits_read_as_people_say_them() {
    assert_eq!(for_people(Duration::from_secs(300)), "5 min");
    assert_eq!(for_people(Duration::from_secs(90)), "90 s");
    assert_eq!(for_people(Duration::from_secs(7200)), "2 h");
    assert_eq!(for_people(Duration::from_secs(5400)), "90 min");
}

#[test]
fn a_failed_install_keeps_what_it_built_for_the_retry_to_wipe() {
    let array = ArrayResult {
        device: "/dev/md0".into(),
        level: "raid1".into(),
        uuid: "u-9".into(),
        members: vec!["/dev/sda3".into(), "/dev/sdb3".into()],
        filesystem: None,
    };
    let built = PlanResults { arrays: vec![array], ..PlanResults::default() };
    let report = |built| FailedReport {
        reason: "image: chunk 320 corrupt".into(),
        problems: vec![],
        built,
        step: Some("image".into()),
    };
    let config = DeployConfig::default();
    let node = stored(NodeState::Installing, 0);
    let decision = decide(&node, Input::Failed { token: "node", report: report(Some(built.clone())) }, now(), &config);
    assert_eq!(decision.unwrap().changes[0].results, Some(built), "kept as the node's results");
    // A failure before anything was built leaves the previous install's results alone.
    let decision = decide(&node, Input::Failed { token: "node", report: report(None) }, now(), &config);
    assert_eq!(decision.unwrap().changes[0].results, None);
}

/// A node in `state` with a BMC at 10.0.9.21:623.
fn with_bmc(state: NodeState) -> StoredNode {
    let bmc = BmcLogin {
        host: "10.0.9.21".into(),
        port: 623,
        username: "admin".into(),
        password: token::Secret::new("pw".into()),
        cipher_suite: None,
    };
    StoredNode { bmc: Some(bmc), ..stored(state, 60) }
}

#[test]
fn a_reprovision_through_the_bmc_waits_to_see_the_server_network_boot() {
    let deploy = DeployConfig { bmc_boot_deadline: Duration::from_secs(180), ..DeployConfig::default() };
    let decision = decide(&with_bmc(NodeState::Ready), Input::Reprovision, now(), &deploy).unwrap();
    let deadline = decision.changes[0].deadline.clone().flatten().expect("a deadline");
    assert_eq!(deadline.at, Timestamp::from_second(NOW + 180).unwrap());
    assert!(deadline.reason.starts_with("the BMC at 10.0.9.21:623 accepted the network-boot override"));
    assert!(deadline.reason.contains("did not network-boot within 3 min"), "{}", deadline.reason);

    // Seen network-booting: the installer's wait replaces the BMC's.
    let booting = StoredNode {
        record: NodeRecord {
            state: NodeState::Booting,
            deadline: Some(deadline.clone()),
            ..with_bmc(NodeState::Ready).record
        },
        ..with_bmc(NodeState::Ready)
    };
    let pxe = decide(&booting, Input::PxeBoot { client_ip: None }, now(), &deploy).unwrap();
    let next = pxe.changes[0].deadline.clone().flatten().unwrap();
    assert!(next.reason.contains("installer did not report"), "{}", next.reason);
    // Not seen by the deadline: failed with the BMC's reason.
    let late = Timestamp::from_second(NOW + 181).unwrap();
    let failed = decide(&booting, Input::DeadlinePassed, late, &deploy).unwrap();
    assert_eq!(failed.changes[0].failure.clone().flatten().unwrap().reason, deadline.reason);

    // Without a BMC nobody restarts the server: no deadline.
    let plain = decide(&stored(NodeState::Ready, 0), Input::Reprovision, now(), &deploy).unwrap();
    assert_eq!(plain.changes[0].deadline, Some(None));
}

#[test]
fn a_bmc_failure_fails_a_reprovision_that_is_still_waiting_and_is_only_history_after() {
    let deploy = DeployConfig::default();
    let why = "the BMC at 10.0.9.21:623 did not answer".to_string();
    let booting = with_bmc(NodeState::Booting);
    let failed = decide(&booting, Input::ReprovisionBmcFailed { why: why.clone() }, now(), &deploy);
    let failed = failed.unwrap();
    assert_eq!(failed.changes[0].state, Some(NodeState::Failed));
    let reason = failed.changes[0].failure.clone().flatten().unwrap().reason;
    assert!(reason.starts_with(&format!("reprovision: {why}")) && reason.contains("not restarted"), "{reason}");
    let inspecting = with_bmc(NodeState::Inspecting);
    let history = decide(&inspecting, Input::ReprovisionBmcFailed { why }, now(), &deploy).unwrap();
    assert_eq!(history.changes[0].state, None);
    assert!(matches!(history.changes[0].event, Some(EventKind::Bmc { .. })));
}

#[test]
fn setting_a_bmc_says_where_and_never_the_password() {
    let node = with_bmc(NodeState::Ready);
    let login = node.bmc.clone();
    let decision = decide(&stored(NodeState::Ready, 0), Input::SetBmc(login.clone()), now(), &DeployConfig::default());
    let change = &decision.unwrap().changes[0];
    assert_eq!(change.bmc, Some(login));
    let event = format!("{:?}", change.event);
    assert!(event.contains("at 10.0.9.21:623") && !event.contains("\"pw\""), "{event}");
}
