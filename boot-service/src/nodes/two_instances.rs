//! Two boot-service instances on one database: each decides on the node as committed, inside the
//! transaction that writes the decision, so a one-time credential is spent once whichever instance is
//! asked, and an auto-enrolment cap holds across them.

use std::sync::Barrier;

use super::tests::{installing, rack_subnet};
use super::*;
use crate::store::SqliteStore;

/// Two node services on one SQLite file, as two instances would be.
pub(super) fn two_instances(dir: &tempfile::TempDir) -> [Nodes; 2] {
    let path = dir.path().join("rackhand.db");
    let open = || Nodes::new(Arc::new(SqliteStore::open(&path).unwrap()), NodePolicy::default());
    [open(), open()]
}

/// Run `f` on both instances (with their index) at once.
pub(super) fn at_once<T: Send>(instances: &[Nodes; 2], f: impl Fn(u8, &Nodes) -> T + Sync) -> [T; 2] {
    let start = Barrier::new(2);
    std::thread::scope(|scope| {
        let [a, b] = [0, 1].map(|index| {
            let (start, f, nodes) = (&start, &f, &instances[usize::from(index)]);
            scope.spawn(move || {
                start.wait();
                f(index, nodes)
            })
        });
        [a.join().unwrap(), b.join().unwrap()]
    })
}

#[test]
fn a_node_token_reported_installed_to_both_instances_at_once_is_spent_once() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let instances = two_instances(&dir);
        let (node, token) = installing(&instances[0]);
        let answers =
            at_once(&instances, |_, nodes| nodes.mark_installed(node.id, token.expose(), PlanResults::default()));
        let granted = answers.iter().filter(|a| a.is_ok()).count();
        assert_eq!(granted, 1, "round {round}: one deploy credential, not two: {answers:?}");
        let refused = answers.into_iter().find_map(Result::err).unwrap();
        assert!(matches!(refused, NodeError::Unauthorized), "round {round}: the token is spent: {refused:?}");
        let history = instances[1].get(node.id).unwrap().events;
        let installed = history.iter().filter(|e| matches!(&e.kind, rackhand_api::EventKind::Transition { to, .. } if *to == rackhand_api::NodeState::Rebooting)).count();
        assert_eq!(installed, 1, "round {round}: one transition to rebooting in the history");
    }
}

#[test]
fn the_enrolment_cap_holds_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let instances = two_instances(&dir);
    let within = EnrolIn { max_discovered: 10, ..rack_subnet() };
    // Each instance sees ten strangers of its own: twenty in all for a room of ten.
    let enrolled = at_once(&instances, |index, nodes| {
        (0..10u8).filter(|&i| nodes.enroll(MacAddr::new([0x52, 0x54, 0, 0, index, i]), "DHCP", within).is_ok()).count()
    });
    assert_eq!(enrolled.iter().sum::<usize>(), 10, "ten enrolled in all: {enrolled:?}");
    assert_eq!(instances[0].list().unwrap().len(), 10, "and ten stored, whichever instance enrolled them");
}
