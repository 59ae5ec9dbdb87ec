//! Two boot-service instances on one database: each decides on the node as committed, inside the
//! transaction that writes the decision, so a one-time credential is spent once whichever instance is
//! asked, and an auto-enrolment cap holds across them. On one SQLite file and on one PostgreSQL database.

use std::sync::Barrier;

use super::tests::{installing, rack_subnet};
use super::*;
use crate::store::LeaseWrite;
use crate::store::suite::{TestDatabase, for_each_backend};

for_each_backend!(
    a_node_token_reported_installed_to_both_instances_at_once_is_spent_once,
    the_enrolment_cap_holds_across_instances,
    dhcp_batches_of_two_instances_at_once_all_commit_and_keep_the_cap,
);

/// Two node services on one database, as two instances would be.
fn two_instances(db: &TestDatabase) -> [Nodes; 2] {
    let open = || Nodes::new(db.open(), NodePolicy::default());
    [open(), open()]
}

/// Run `f` on both instances (with their index) at once.
fn at_once<T: Send>(instances: &[Nodes; 2], f: impl Fn(u8, &Nodes) -> T + Sync) -> [T; 2] {
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

fn a_node_token_reported_installed_to_both_instances_at_once_is_spent_once(db: TestDatabase) {
    for round in 0..20 {
        let instances = two_instances(&db.another());
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

fn the_enrolment_cap_holds_across_instances(db: TestDatabase) {
    let within = EnrolIn { max_discovered: 1, ..rack_subnet() };
    for round in 0..20 {
        let instances = two_instances(&db.another());
        // Each instance sees a stranger of its own at the same moment: two for a room of one.
        let enrolled = at_once(&instances, |index, nodes| {
            nodes.enroll(MacAddr::new([0x52, 0x54, 0, 0, index, 1]), "DHCP", within).is_ok()
        });
        assert_eq!(enrolled.iter().filter(|&&ok| ok).count(), 1, "round {round}: one enrolled: {enrolled:?}");
        assert_eq!(instances[0].list().unwrap().len(), 1, "round {round}: and one stored");
    }
}

fn dhcp_batches_of_two_instances_at_once_all_commit_and_keep_the_cap(db: TestDatabase) {
    for round in 0..10 {
        let instances = two_instances(&db.another());
        let within = EnrolIn { max_discovered: 10, ..rack_subnet() };
        // Each instance's DHCP server enrols ten strangers of its own, one batch each: twenty for ten places.
        let refused = at_once(&instances, |index, nodes| {
            (0..10u8)
                .map(|i| {
                    let mac = MacAddr::new([0x52, 0x54, 0, 3, index, i]);
                    nodes.store().write_leases(&[LeaseWrite::Enrol { mac, within, at: Timestamp::now() }])
                })
                .map(|written| written.map(|refused| refused.enrolments.len()))
                .collect::<Result<Vec<_>, _>>()
        });
        let refused: Vec<usize> = refused
            .into_iter()
            .flat_map(|batches| batches.unwrap_or_else(|err| panic!("round {round}: a batch failed: {err}")))
            .collect();
        assert_eq!(refused.iter().sum::<usize>(), 10, "round {round}: ten refused");
        assert_eq!(instances[1].list().unwrap().len(), 10, "round {round}: ten enrolled in all");
    }
}
