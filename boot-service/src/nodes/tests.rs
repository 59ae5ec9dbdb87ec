use super::*;
use crate::store::SqliteStore;
use rackhand_api::{Problem, Severity, StepStatus};

fn service() -> Nodes {
    Nodes::new(Arc::new(SqliteStore::in_memory().unwrap()))
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
    nodes.enroll(MAC, "DHCP").unwrap();
    let (node, token) = boot(&nodes);
    assert_eq!(node.state, NodeState::Booting);
    assert_eq!(node.ipv4, Some(Ipv4Addr::new(10, 77, 0, 100)));

    let t = token.expose();
    assert_eq!(nodes.post_inventory(node.id, t, Inventory::default(), None).unwrap().state, NodeState::Inspecting);
    assert_eq!(nodes.post_progress(node.id, t, progress(Stage::Inspect, "lldp")).unwrap().state, NodeState::Inspecting);
    assert_eq!(nodes.post_progress(node.id, t, progress(Stage::Install, "bond")).unwrap().state, NodeState::Installing);
    let ready = nodes.mark_ready(node.id, t, PlanResults::default()).unwrap();
    assert_eq!(ready.state, NodeState::Ready);

    let states: Vec<_> = nodes
        .get(node.id)
        .unwrap()
        .events
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Transition { to, .. } => Some(to),
            EventKind::Progress(_) => None,
        })
        .collect();
    use NodeState::*;
    assert_eq!(states, [Discovered, Booting, Inspecting, Installing, Ready]);

    // The token died with "ready", and the next PXE boot goes to the local disk.
    assert!(matches!(nodes.post_inventory(node.id, t, Inventory::default(), None), Err(NodeError::Unauthorized)));
    assert!(matches!(nodes.pxe_boot(MAC, None).unwrap(), Some(BootAction::LocalDisk { .. })));

    // Until an admin asks for a reprovision.
    assert_eq!(nodes.reprovision(node.id).unwrap().state, Booting);
    let (again, _) = boot(&nodes);
    assert_eq!(again.state, Booting);
}

#[test]
fn wrong_or_stale_tokens_are_refused() {
    let nodes = service();
    nodes.enroll(MAC, "DHCP").unwrap();
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
    nodes.enroll(MAC, "DHCP").unwrap();
    let (node, token) = boot(&nodes);
    nodes.post_inventory(node.id, token.expose(), Inventory::default(), None).unwrap();
    let report = FailedReport {
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
    nodes.enroll(MAC, "DHCP").unwrap();
    let (node, token) = boot(&nodes);
    let err = nodes.mark_ready(node.id, token.expose(), PlanResults::default()).unwrap_err();
    assert!(err.to_string().contains("cannot go from booting to ready"), "{err}");
    let err = nodes.reprovision(node.id).unwrap_err();
    assert!(err.to_string().contains("cannot go from booting to booting"), "{err}");
}

#[test]
fn register_refuses_a_known_mac_and_enroll_is_idempotent() {
    let nodes = service();
    let req = RegisterNode { mac: MAC, profile: Some("lab".into()), hostname: Some("rack1-u1".into()) };
    let node = nodes.register(req.clone()).unwrap();
    assert_eq!(node.profile.as_deref(), Some("lab"));
    assert!(matches!(nodes.register(req), Err(NodeError::MacTaken(m)) if m == MAC));
    assert_eq!(nodes.enroll(MAC, "DHCP").unwrap().id, node.id);
    assert_eq!(nodes.list().unwrap().len(), 1);
}

#[test]
fn a_registration_or_inventory_with_a_bad_name_is_refused_and_changes_nothing() {
    let nodes = service();
    let bad_host = RegisterNode { mac: MAC, profile: None, hostname: Some("rack 1".into()) };
    assert!(matches!(nodes.register(bad_host), Err(NodeError::Invalid(why)) if why.starts_with("hostname `rack 1`")));
    assert!(nodes.list().unwrap().is_empty(), "nothing registered");

    nodes.enroll(MAC, "DHCP").unwrap();
    let (node, token) = boot(&nodes);
    let err = nodes.post_inventory(node.id, token.expose(), Inventory::default(), Some("a\nb".into())).unwrap_err();
    assert!(matches!(&err, NodeError::Invalid(why) if why.starts_with("profile `a\\nb`")), "{err}");
    let after = nodes.get(node.id).unwrap();
    assert_eq!((after.state, after.profile, after.inventory), (NodeState::Booting, None, None));
}

#[test]
fn the_matched_profile_fills_the_record_unless_an_admin_pinned_one() {
    let nodes = service();
    nodes.enroll(MAC, "DHCP").unwrap();
    let (node, token) = boot(&nodes);
    let inspected =
        nodes.post_inventory(node.id, token.expose(), Inventory::default(), Some("edge-1u".into())).unwrap();
    assert_eq!(inspected.profile.as_deref(), Some("edge-1u"));

    let pinned_mac = MacAddr::new([0x52, 0x54, 0, 0, 0, 0x43]);
    let req = RegisterNode { mac: pinned_mac, profile: Some("storage-2u".into()), hostname: None };
    nodes.register(req).unwrap();
    let Some(BootAction::Install { node, token }) = nodes.pxe_boot(pinned_mac, None).unwrap() else { panic!() };
    let inspected =
        nodes.post_inventory(node.id, token.expose(), Inventory::default(), Some("edge-1u".into())).unwrap();
    assert_eq!(inspected.profile.as_deref(), Some("storage-2u"), "the admin's pin stands");
}
