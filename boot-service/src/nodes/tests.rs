use super::*;
use crate::store::{EnrolmentRefused, Lease, LeaseWrite, SqliteStore};
use rackhand_api::{ArrayResult, EventKind, Location, NodeState, Problem, Severity, Stage, StepStatus};

/// The lab's auto-enrolment subnet, with the default cap.
pub(super) fn rack_subnet() -> EnrolIn {
    EnrolIn { subnet: "10.77.0.0/24".parse().unwrap(), max_discovered: 1024 }
}

fn service() -> Nodes {
    Nodes::new(Arc::new(SqliteStore::in_memory().unwrap()), NodePolicy::default())
}

fn os_report(kernel: &str) -> OsReport {
    OsReport {
        hostname: "node1".into(),
        kernel: kernel.into(),
        arrays: vec![],
        bond: None,
        ssh_host_keys: vec![],
        addresses: vec![],
        problems: vec![],
    }
}

/// A node booted, inspected and installing, with its node token.
pub(super) fn installing(nodes: &Nodes) -> (NodeRecord, Secret) {
    nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap();
    let (node, token) = boot(nodes);
    nodes.post_inventory(node.id, token.expose(), Inventory::default(), None).unwrap();
    let node = nodes.post_progress(node.id, token.expose(), progress(Stage::Install, "bond")).unwrap();
    assert_eq!(node.state, NodeState::Installing);
    (node, token)
}

fn transitions(nodes: &Nodes, id: NodeId) -> Vec<NodeState> {
    nodes
        .get(id)
        .unwrap()
        .events
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Transition { to, .. } => Some(to),
            EventKind::Progress(_) | EventKind::Bmc { .. } | EventKind::OsHealth { .. } => None,
        })
        .collect()
}

const MAC: MacAddr = MacAddr::new([0x52, 0x54, 0, 0, 0, 0x42]);

fn boot(nodes: &Nodes) -> (NodeRecord, Secret) {
    match nodes.pxe_boot(MAC, Some(Ipv4Addr::new(10, 77, 0, 100))).unwrap() {
        Some(BootAction::Install { node, token }) => (node, token),
        other => panic!("expected install, got {other:?}"),
    }
}

fn progress(stage: Stage, step: &str) -> ProgressReport {
    ProgressReport { stage, step: step.into(), status: StepStatus::Started, message: None, done: None, total: None }
}

#[test]
fn full_lifecycle_records_every_transition() {
    let nodes = service();
    assert!(nodes.pxe_boot(MAC, None).unwrap().is_none(), "unknown MAC has no boot action");
    nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap();
    let (node, token) = boot(&nodes);
    assert_eq!(node.state, NodeState::Booting);
    assert_eq!(node.ipv4, Some(Ipv4Addr::new(10, 77, 0, 100)));

    let t = token.expose();
    assert_eq!(nodes.post_inventory(node.id, t, Inventory::default(), None).unwrap().state, NodeState::Inspecting);
    assert_eq!(nodes.post_progress(node.id, t, progress(Stage::Inspect, "lldp")).unwrap().state, NodeState::Inspecting);
    assert_eq!(nodes.post_progress(node.id, t, progress(Stage::Install, "bond")).unwrap().state, NodeState::Installing);
    let (rebooting, installed) = nodes.mark_installed(node.id, t, PlanResults::default()).unwrap();
    assert_eq!(rebooting.state, NodeState::Rebooting);
    assert!(rebooting.deadline.is_some());

    // The token died with "installed"; the next PXE boot hands over to the disk.
    assert!(matches!(nodes.post_inventory(node.id, t, Inventory::default(), None), Err(NodeError::Unauthorized)));
    let Some(BootAction::Handover { node: first_boot }) = nodes.pxe_boot(MAC, None).unwrap() else { panic!() };
    assert_eq!(first_boot.state, NodeState::FirstBoot);

    let (ready, agent) = nodes.mark_ready(node.id, &installed.deploy_credential, os_report("6.1.0")).unwrap();
    assert_eq!(ready.state, NodeState::Ready);
    assert_eq!((ready.deadline, ready.os.map(|os| os.kernel)), (None, Some("6.1.0".into())));
    assert!(matches!(
        nodes.mark_ready(node.id, &installed.deploy_credential, os_report("6.1.0")),
        Err(NodeError::Unauthorized)
    ));
    let healthy = nodes.post_health(node.id, &agent.agent_token, os_report("6.1.1")).unwrap();
    assert_eq!((healthy.state, healthy.os.map(|os| os.kernel)), (NodeState::Ready, Some("6.1.1".into())));

    use NodeState::*;
    assert_eq!(
        transitions(&nodes, node.id),
        [Discovered, Booting, Inspecting, Installing, Rebooting, FirstBoot, Ready]
    );
    assert!(matches!(nodes.pxe_boot(MAC, None).unwrap(), Some(BootAction::Handover { .. })));

    // Until an admin asks for a reprovision, which ends the agent's token too.
    assert_eq!(nodes.reprovision(node.id).unwrap().state, Booting);
    assert!(matches!(nodes.post_health(node.id, &agent.agent_token, os_report("6.1.1")), Err(NodeError::Unauthorized)));
    let (again, _) = boot(&nodes);
    assert_eq!(again.state, Booting);
}

#[test]
fn the_installed_os_may_report_before_its_handover_is_seen() {
    let nodes = service();
    let (node, token) = installing(&nodes);
    let (_, installed) = nodes.mark_installed(node.id, token.expose(), PlanResults::default()).unwrap();
    let (ready, _) = nodes.mark_ready(node.id, &installed.deploy_credential, os_report("6.1.0")).unwrap();
    assert_eq!(ready.state, NodeState::Ready, "its firmware booted the disk first");
}

#[test]
fn a_server_that_does_not_network_boot_after_the_install_fails_with_what_to_check() {
    let nodes = service();
    let (node, token) = installing(&nodes);
    let (_, installed) = nodes.mark_installed(node.id, token.expose(), PlanResults::default()).unwrap();
    let now = Timestamp::now();
    assert!(nodes.expire_deadlines(now.checked_add(jiff::SignedDuration::from_mins(4)).unwrap()).unwrap().is_empty());

    let failed = nodes.expire_deadlines(now.checked_add(jiff::SignedDuration::from_mins(6)).unwrap()).unwrap();
    assert_eq!(failed.iter().map(|n| n.id).collect::<Vec<_>>(), [node.id]);
    let node = nodes.get(node.id).unwrap();
    assert_eq!(node.state, NodeState::Failed);
    let reason = node.failure.map(|f| f.reason).unwrap_or_default();
    assert!(reason.contains("did not network-boot within 5 min: check that it powers on"), "{reason}");
    assert_eq!(node.deadline, None);
    assert!(matches!(
        node.events.last().map(|e| &e.kind),
        Some(EventKind::Transition { from: Some(NodeState::Rebooting), to: NodeState::Failed, reason: Some(r) }) if *r == reason
    ));
    assert!(
        matches!(
            nodes.mark_ready(node.id, &installed.deploy_credential, os_report("6.1")),
            Err(NodeError::Unauthorized)
        ),
        "a late report is refused: the deploy credential died with the failure"
    );
    // A power-cycle retries the install, as for any failure.
    assert_eq!(boot(&nodes).0.state, NodeState::Booting);
}

#[test]
fn an_os_that_does_not_report_after_the_handover_fails_with_what_to_watch() {
    let nodes = service();
    let (node, token) = installing(&nodes);
    nodes.mark_installed(node.id, token.expose(), PlanResults::default()).unwrap();
    nodes.pxe_boot(MAC, None).unwrap();
    let first_deadline = nodes.get(node.id).unwrap().deadline.expect("first boot deadline");
    let Some(BootAction::Handover { node: again }) = nodes.pxe_boot(MAC, None).unwrap() else { panic!() };
    assert_eq!((again.state, again.deadline.as_ref()), (NodeState::FirstBoot, Some(&first_deadline)), "kept");

    let later = Timestamp::now().checked_add(jiff::SignedDuration::from_mins(11)).unwrap();
    let failed = nodes.expire_deadlines(later).unwrap();
    let reason = failed[0].failure.as_ref().map(|f| f.reason.as_str()).unwrap_or_default();
    assert!(reason.contains("but the installed OS did not report within 10 min"), "{reason}");
}

#[test]
fn deploy_settings_carry_the_arrays_of_the_previous_install_across_a_reprovision() {
    let nodes = service();
    let (node, token) = installing(&nodes);
    let deploy = nodes.deploy_settings(node.id, token.expose()).unwrap();
    assert_eq!((deploy.hostname.as_str(), deploy.owned_arrays.len()), ("node1", 0));
    let array = ArrayResult {
        device: "/dev/md0".into(),
        level: "raid1".into(),
        uuid: "a1b2c3d4:00000000:00000000:00000001".into(),
        members: vec![],
        filesystem: None,
    };
    let results = PlanResults { arrays: vec![array], ..PlanResults::default() };
    let (_, installed) = nodes.mark_installed(node.id, token.expose(), results).unwrap();
    assert!(matches!(nodes.deploy_settings(node.id, token.expose()), Err(NodeError::Unauthorized)));
    nodes.mark_ready(node.id, &installed.deploy_credential, os_report("6.1")).unwrap();
    nodes.reprovision(node.id).unwrap();
    let (_, token) = boot(&nodes);
    let deploy = nodes.deploy_settings(node.id, token.expose()).unwrap();
    assert_eq!(deploy.owned_arrays, ["a1b2c3d4:00000000:00000000:00000001"]);
}

#[test]
fn wrong_or_stale_tokens_are_refused() {
    let nodes = service();
    nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap();
    let (node, first) = boot(&nodes);
    let (_, second) = boot(&nodes);
    assert!(matches!(
        nodes.post_inventory(node.id, first.expose(), Inventory::default(), None),
        Err(NodeError::Unauthorized)
    ));
    assert!(matches!(nodes.post_inventory(node.id, "", Inventory::default(), None), Err(NodeError::Unauthorized)));
    assert!(nodes.post_inventory(node.id, second.expose(), Inventory::default(), None).is_ok());
    assert!(matches!(
        nodes.post_inventory(NodeId(999), second.expose(), Inventory::default(), None),
        Err(NodeError::NotFound(_))
    ));
}

#[test]
fn failure_keeps_reason_and_problems_and_a_pxe_boot_retries() {
    let nodes = service();
    nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap();
    let (node, token) = boot(&nodes);
    nodes.post_inventory(node.id, token.expose(), Inventory::default(), None).unwrap();
    let report = FailedReport {
        built: None,
        step: None,
        reason: "PSU 2 present but not receiving power".into(),
        problems: vec![Problem {
            severity: Severity::Blocking,
            part: "PSU 2".into(),
            message: "present but not receiving power".into(),
            fix: "plug its cord into the B-feed PDU".into(),
        }],
    };
    let failed = nodes.mark_failed(node.id, token.expose(), report.clone()).unwrap();
    assert_eq!(failed.state, NodeState::Failed);
    assert_eq!(failed.failure, Some(report));
    assert!(matches!(
        nodes.mark_failed(node.id, token.expose(), failed.failure.clone().unwrap()),
        Err(NodeError::Unauthorized)
    ));

    let (retry, _) = boot(&nodes);
    assert_eq!(retry.state, NodeState::Booting);
    assert_eq!(retry.failure, None, "a retry clears the old failure");
}

#[test]
fn skipping_steps_is_a_transition_error() {
    let nodes = service();
    nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap();
    let (node, token) = boot(&nodes);
    let err = nodes.mark_installed(node.id, token.expose(), PlanResults::default()).unwrap_err();
    assert!(err.to_string().contains("cannot go from booting to rebooting"), "{err}");
    let err = nodes.reprovision(node.id).unwrap_err();
    assert!(err.to_string().contains("cannot go from booting to booting"), "{err}");
}

#[test]
fn register_refuses_a_known_mac_and_enroll_is_idempotent() {
    let nodes = service();
    let location = Some(Location { rack: "rack1".into(), unit: 1 });
    let req = RegisterNode { mac: MAC, profile: Some("lab".into()), hostname: None, location: location.clone() };
    let node = nodes.register(req.clone()).unwrap();
    assert_eq!(node.profile.as_deref(), Some("lab"));
    assert_eq!((&node.location, node.label()), (&location, format!("rack1-u1 (node {})", node.id)));
    assert!(matches!(nodes.register(req), Err(NodeError::MacTaken(m)) if m == MAC));
    assert_eq!(nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap().id, node.id);
    assert_eq!(nodes.list().unwrap().len(), 1);
}

#[test]
fn a_registration_or_inventory_with_a_bad_name_is_refused_and_changes_nothing() {
    let nodes = service();
    let bad_host = RegisterNode { mac: MAC, profile: None, hostname: Some("rack 1".into()), location: None };
    assert!(matches!(nodes.register(bad_host), Err(NodeError::Invalid(why)) if why.starts_with("hostname `rack 1`")));
    assert!(nodes.list().unwrap().is_empty(), "nothing registered");

    nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap();
    let (node, token) = boot(&nodes);
    let err = nodes.post_inventory(node.id, token.expose(), Inventory::default(), Some("a\nb".into())).unwrap_err();
    assert!(matches!(&err, NodeError::Invalid(why) if why.starts_with("profile `a\\nb`")), "{err}");
    let after = nodes.get(node.id).unwrap();
    assert_eq!((after.state, after.profile, after.inventory), (NodeState::Booting, None, None));
}

#[test]
fn the_matched_profile_fills_the_record_unless_an_admin_pinned_one() {
    let nodes = service();
    nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap();
    let (node, token) = boot(&nodes);
    let inspected =
        nodes.post_inventory(node.id, token.expose(), Inventory::default(), Some("edge-1u".into())).unwrap();
    assert_eq!(inspected.profile.as_deref(), Some("edge-1u"));

    let pinned_mac = MacAddr::new([0x52, 0x54, 0, 0, 0, 0x43]);
    let req = RegisterNode { mac: pinned_mac, profile: Some("storage-2u".into()), hostname: None, location: None };
    nodes.register(req).unwrap();
    let Some(BootAction::Install { node, token }) = nodes.pxe_boot(pinned_mac, None).unwrap() else { panic!() };
    let inspected =
        nodes.post_inventory(node.id, token.expose(), Inventory::default(), Some("edge-1u".into())).unwrap();
    assert_eq!(inspected.profile.as_deref(), Some("storage-2u"), "the admin's pin stands");
}

#[test]
fn the_servers_other_nics_are_the_same_node_once_its_inventory_names_them() {
    let nodes = service();
    nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap();
    let second = MacAddr::new([0x52, 0x54, 0, 0, 0, 0x43]);
    let taken = MacAddr::new([0x52, 0x54, 0, 0, 0, 0x44]);
    let other = nodes.enroll(taken, "DHCP", rack_subnet()).unwrap();
    let (node, token) = boot(&nodes);
    let nic = |mac: MacAddr| -> rackhand_api::Nic {
        serde_json::from_value(serde_json::json!({ "name": "eth", "mac": mac, "carrier": true })).unwrap()
    };
    let inventory = Inventory {
        nics: vec![nic(MAC), nic(second), nic(taken), nic(MacAddr::new([0xff; 6]))],
        ..Inventory::default()
    };
    let record = nodes.post_inventory(node.id, token.expose(), inventory, None).unwrap();
    assert_eq!(record.macs, [MAC, second], "its own NICs, not another node's MAC nor a broadcast one");
    assert_eq!(nodes.by_mac(second).unwrap().map(|n| n.id), Some(node.id), "a PXE boot from NIC 2 is this node");
    assert_eq!(nodes.by_mac(taken).unwrap().map(|n| n.id), Some(other.id));
}

#[test]
fn a_server_is_named_by_the_switch_port_its_nic_hears_and_the_name_is_stored() {
    let rack1_u2 = Location { rack: "rack1".into(), unit: 2 };
    let table =
        crate::config::PortLocation { switch: "sw-a".into(), port: "Ethernet2".into(), location: rack1_u2.clone() };
    let nodes = Nodes::new(
        Arc::new(SqliteStore::in_memory().unwrap()),
        NodePolicy { locations: Locations(vec![table]), ..NodePolicy::default() },
    );
    nodes.enroll(MAC, "DHCP", rack_subnet()).unwrap();
    let (node, token) = boot(&nodes);
    assert_eq!(node.label(), format!("node {}", node.id));
    let nic: rackhand_api::Nic = serde_json::from_value(serde_json::json!({
        "name": "eth0", "mac": MAC, "carrier": true,
        "lldp": { "chassis_id": "02:5a:00:00:01:00", "port_id": "Ethernet2", "system_name": "sw-a" },
    }))
    .unwrap();
    let inventory = Inventory { nics: vec![nic], ..Inventory::default() };
    nodes.post_inventory(node.id, token.expose(), inventory, None).unwrap();
    let stored = nodes.get(node.id).unwrap();
    assert_eq!(stored.location, Some(rack1_u2));
    assert_eq!(stored.label(), format!("rack1-u2 (node {})", node.id));
    assert_eq!(nodes.deploy_settings(node.id, token.expose()).unwrap().hostname, "rack1-u2");
}

#[test]
fn self_enrolment_is_bounded_per_subnet_and_servers_that_never_boot_are_forgotten() {
    let nodes = service();
    let rack_a = EnrolIn { subnet: "10.77.0.0/24".parse().unwrap(), max_discovered: 2 };
    let rack_b = EnrolIn { subnet: "10.78.0.0/24".parse().unwrap(), max_discovered: 1 };
    let mac = |n: u8| MacAddr::new([0x52, 0x54, 0, 0, 1, n]);
    let registered = RegisterNode { mac: mac(9), profile: None, hostname: None, location: None };
    nodes.register(registered).unwrap();
    nodes.enroll(mac(1), "DHCP", rack_a).unwrap();
    nodes.enroll(mac(2), "DHCP", rack_a).unwrap();
    let full = nodes.enroll(mac(3), "DHCP", rack_a).unwrap_err();
    assert!(matches!(full, NodeError::EnrolmentFull { max: 2, subnet } if subnet == rack_a.subnet), "{full}");
    assert!(full.to_string().contains("auto-enrolment in subnet 10.77.0.0/24 is full"), "{full}");
    assert!(full.to_string().contains("raise max_discovered of the [[dhcp.subnet]] 10.77.0.0/24"), "{full}");
    assert_eq!(nodes.enroll(mac(1), "DHCP", rack_a).unwrap().macs, [mac(1)], "a known MAC is not a new enrolment");
    // A flood in rack A leaves rack B its own room, and B's cap is B's.
    nodes.enroll(mac(5), "DHCP", rack_b).unwrap();
    assert!(matches!(nodes.enroll(mac(6), "DHCP", rack_b), Err(NodeError::EnrolmentFull { max: 1, .. })));
    let reason = format!("{:?}", nodes.get(nodes.by_mac(mac(5)).unwrap().unwrap().id).unwrap().events[0].kind);
    assert!(reason.contains("enrolled automatically in 10.78.0.0/24 (DHCP)"), "{reason}");
    // One of them boots the installer: it no longer waits, and there is room again.
    nodes.sightings.saw(mac(1), Ipv4Addr::new(10, 77, 0, 100), std::time::Instant::now());
    nodes.script_request(mac(1), Some(Ipv4Addr::new(10, 77, 0, 100)), None).unwrap();
    nodes.enroll(mac(3), "DHCP", rack_a).unwrap();

    // An hour on, the self-enrolled servers that never booted are forgotten; the registered one and the
    // one that booted stay.
    let later = Timestamp::now() + jiff::SignedDuration::from_secs(3601);
    let mut forgotten = nodes.forget_stale_self_enrolled(later).unwrap();
    forgotten.sort();
    let id = |n: u8| nodes.by_mac(mac(n)).unwrap().map(|r| r.id);
    assert_eq!(forgotten.len(), 3, "{forgotten:?}");
    assert_eq!((id(2), id(3), id(5)), (None, None, None));
    assert!(id(1).is_some() && id(9).is_some());
    nodes.enroll(mac(4), "DHCP", rack_a).unwrap();
    assert!(nodes.forget_stale_self_enrolled(Timestamp::now()).unwrap().is_empty(), "a fresh one is kept");
    assert!(id(4).is_some());
}

#[test]
fn a_dhcp_enrolment_in_the_lease_batch_makes_the_same_node_as_enroll_and_shares_its_cap() {
    let nodes = service();
    let rack_a = EnrolIn { subnet: "10.77.0.0/24".parse().unwrap(), max_discovered: 2 };
    let mac = |n: u8| MacAddr::new([0x52, 0x54, 0, 0, 2, n]);
    nodes.register(RegisterNode { mac: mac(9), profile: None, hostname: None, location: None }).unwrap();
    nodes.enroll(mac(1), "iPXE script request", rack_a).unwrap();
    // One place left in rack A. A DHCP batch: a new server, its lease, another new server, and MACs a
    // node has already (registered, self-enrolled, and the one just enrolled in this batch).
    let at = Timestamp::now();
    let enrol = |n: u8| LeaseWrite::Enrol { mac: mac(n), within: rack_a, at };
    let lease = Lease { ip: Ipv4Addr::new(10, 77, 0, 100), mac: mac(2), expires_at: 1_750_003_600, hostname: None };
    let batch = [enrol(2), LeaseWrite::Put { lease: lease.clone(), now: 0 }, enrol(3), enrol(9), enrol(1), enrol(2)];
    let refused = nodes.store().write_leases(&batch).unwrap();
    assert_eq!(
        refused.enrolments,
        [EnrolmentRefused { mac: mac(3), within: rack_a }],
        "only the new server past the cap"
    );
    assert_eq!(nodes.store().leases().unwrap(), [lease], "a refused enrolment fails nothing else");
    assert_eq!(nodes.by_mac(mac(3)).unwrap(), None);

    let enrolled = nodes.get(nodes.by_mac(mac(2)).unwrap().expect("enrolled by the batch").id).unwrap();
    assert_eq!((enrolled.state, &enrolled.macs, enrolled.events.len()), (NodeState::Discovered, &vec![mac(2)], 1));
    let EventKind::Transition { from: None, reason: Some(reason), .. } = &enrolled.events[0].kind else { panic!() };
    assert_eq!(reason, "enrolled automatically in 10.77.0.0/24 (DHCP)");
    assert_eq!(nodes.list().unwrap().len(), 3, "the registered node, and two that enrolled themselves");
    // It took the subnet's last place, for the script path too; and it is forgotten like any stranger.
    let full = nodes.enroll(mac(4), "iPXE script request", rack_a);
    assert!(matches!(full, Err(NodeError::EnrolmentFull { max: 2, .. })), "{full:?}");
    let later = Timestamp::now() + jiff::SignedDuration::from_secs(3601);
    assert_eq!(nodes.forget_stale_self_enrolled(later).unwrap().len(), 2, "1 and 2, not the registered 9");
    assert!(nodes.by_mac(mac(9)).unwrap().is_some());
}
