//! The store's contract, tested once and run against both backends: each test below runs as
//! `store::suite::sqlite::NAME` and `store::suite::postgres::NAME` (the latter on a throwaway PostgreSQL
//! server, `tests/postgres`). What only one backend has (SQLite's sync mode and old schemas, PostgreSQL's
//! concurrent migration) is tested beside it.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use rackhand_api::{Deadline, EventKind, FailedReport, MacAddr, NodeId, NodeState, Problem, Severity};

use super::{
    EnrolmentRefused, Lease, LeaseWrite, NewNode, NodeChange, NodeKey, PostgresStore, Quarantine, SqliteStore, Store,
    StoredNode,
};
use crate::config::EnrolIn;

/// A database of one test's own, which can be opened more than once: as two instances at once, or again
/// after a restart.
pub(crate) enum TestDatabase {
    Sqlite { path: PathBuf, _dir: tempfile::TempDir },
    Postgres { config: String },
}

impl TestDatabase {
    pub(crate) fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        TestDatabase::Sqlite { path: dir.path().join("rackhand.db"), _dir: dir }
    }

    /// `None` (the test skips, saying why) when PostgreSQL is not installed and not required.
    pub(crate) fn postgres() -> Option<Self> {
        let server = rackhand_test_postgres::server()?;
        Some(TestDatabase::Postgres { config: server.database() })
    }

    /// A fresh database of the same backend.
    pub(crate) fn another(&self) -> Self {
        match self {
            TestDatabase::Sqlite { .. } => TestDatabase::sqlite(),
            TestDatabase::Postgres { .. } => TestDatabase::postgres().expect("the server is running"),
        }
    }

    pub(crate) fn open(&self) -> Arc<dyn Store> {
        match self {
            TestDatabase::Sqlite { path, .. } => Arc::new(SqliteStore::open(path).unwrap()),
            TestDatabase::Postgres { config } => Arc::new(PostgresStore::open(config).unwrap()),
        }
    }

    /// Run `sql` (the same in both dialects) behind the store's back.
    fn execute(&self, sql: &str) {
        match self {
            TestDatabase::Sqlite { path, .. } => {
                rusqlite::Connection::open(path).unwrap().execute_batch(sql).unwrap();
            }
            TestDatabase::Postgres { config } => {
                ::postgres::Client::connect(config, ::postgres::NoTls).unwrap().batch_execute(sql).unwrap();
            }
        }
    }
}

/// Each named test (a function of the calling module taking a [`TestDatabase`]), once per backend: as
/// `sqlite::NAME` and `postgres::NAME`.
macro_rules! for_each_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $test() {
                super::$test($crate::store::suite::TestDatabase::sqlite());
            })*
        }
        mod postgres {
            $(#[test]
            fn $test() {
                if let Some(db) = $crate::store::suite::TestDatabase::postgres() {
                    super::$test(db);
                }
            })*
        }
    };
}
pub(crate) use for_each_backend;

for_each_backend!(
    nodes_round_trip_with_events,
    the_os_report_deadline_and_credential_hashes_round_trip_and_clear,
    a_change_is_decided_on_the_committed_node_and_none_writes_nothing,
    a_bmc_login_round_trips_and_the_record_says_only_where,
    what_the_bmc_said_of_its_health_round_trips_and_clears,
    enrolment_returns_the_known_node_and_holds_the_subnet_cap,
    a_dhcp_batch_enrols_within_the_cap_beside_its_leases,
    only_stale_self_enrolled_waiting_nodes_are_forgotten,
    leases_and_quarantine_survive_reopening,
    an_address_another_mac_holds_is_not_bound_until_its_lease_ends,
    two_instances_binding_one_address_at_once_bind_it_once,
    a_release_or_decline_ends_only_the_senders_lease,
    heartbeats_count_each_instance_and_every_instance_sees_them,
    corrupt_rows_are_named,
);

pub(crate) fn mac(last: u8) -> MacAddr {
    MacAddr::new([0x52, 0x54, 0, 0, 0, last])
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + second).unwrap()
}

/// `change` written to node `id` as the node service writes: through [`Store::change_node`].
fn write(store: &dyn Store, id: NodeId, change: NodeChange, at: Timestamp) -> Option<StoredNode> {
    store.change_node(NodeKey::Id(id), at, &mut |_| Some(vec![change.clone()])).unwrap()
}

fn new_node(last: u8) -> NewNode {
    NewNode {
        mac: mac(last),
        profile: None,
        hostname: None,
        location: None,
        enrolled_in: Some(rack().subnet),
        reason: "seen by DHCP".into(),
    }
}

fn rack() -> EnrolIn {
    EnrolIn { subnet: "10.77.0.0/24".parse().unwrap(), max_discovered: 2 }
}

fn nodes_round_trip_with_events(db: TestDatabase) {
    let store = db.open();
    let node = store.create_node(new_node(1), at(0)).unwrap();
    assert_eq!(node.record.state, NodeState::Discovered);
    assert_eq!(node.record.macs, [mac(1)]);
    assert_eq!(store.node_by_mac(mac(1)).unwrap().unwrap(), node);
    assert!(matches!(store.create_node(new_node(1), at(0)), Err(super::StoreError::DuplicateMac(m)) if m == mac(1)));

    let failure = FailedReport {
        built: None,
        step: None,
        reason: "PSU 2 unplugged".into(),
        problems: vec![Problem {
            severity: Severity::Blocking,
            part: "PSU 2".into(),
            message: "no power".into(),
            fix: "plug it in".into(),
        }],
    };
    let change = NodeChange {
        state: Some(NodeState::Failed),
        failure: Some(Some(failure.clone())),
        token_hash: Some(Some("abc".into())),
        add_macs: vec![mac(2), mac(1)],
        event: Some(EventKind::Transition {
            from: Some(NodeState::Discovered),
            to: NodeState::Failed,
            reason: Some(failure.reason.clone()),
        }),
        ..NodeChange::default()
    };
    let updated = write(&*store, node.record.id, change, at(100)).unwrap();
    assert_eq!(updated.record.state, NodeState::Failed);
    assert_eq!(updated.record.failure, Some(failure));
    assert_eq!(updated.record.updated_at, at(100));
    assert_eq!(updated.token_hash.as_deref(), Some("abc"));
    assert_eq!(updated.record.macs, [mac(1), mac(2)], "the other NIC joined; the known MAC stayed once");
    assert_eq!(store.node_by_mac(mac(2)).unwrap().map(|n| n.record.id), Some(node.record.id));

    let events = store.events(node.record.id).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].at, at(100));
    assert!(matches!(events[1].kind, EventKind::Transition { to: NodeState::Failed, .. }));
    assert_eq!(write(&*store, NodeId(99), NodeChange::default(), at(100)), None, "no node 99, nothing written");
    assert_eq!(store.nodes().unwrap(), [updated]);
}

fn the_os_report_deadline_and_credential_hashes_round_trip_and_clear(db: TestDatabase) {
    let store = db.open();
    let id = store.create_node(new_node(4), at(0)).unwrap().record.id;
    let os = rackhand_api::OsReport {
        hostname: "node1".into(),
        kernel: "6.1.0".into(),
        arrays: vec![],
        bond: None,
        ssh_host_keys: vec!["ED25519 SHA256:x".into()],
        addresses: vec![Ipv4Addr::new(10, 77, 0, 101)],
        problems: vec![],
    };
    let deadline = Deadline { at: at(0), reason: "it did not network-boot".into() };
    let change = NodeChange {
        os: Some(Some(os.clone())),
        deadline: Some(Some(deadline.clone())),
        deploy_hash: Some(Some("d".into())),
        agent_hash: Some(Some("a".into())),
        ..NodeChange::default()
    };
    let node = write(&*store, id, change, at(0)).unwrap();
    assert_eq!((node.record.os, node.record.deadline), (Some(os.clone()), Some(deadline)));
    store.create_node(new_node(5), at(0)).unwrap();
    let waiting: Vec<NodeId> = store.nodes_with_deadline().unwrap().iter().map(|n| n.record.id).collect();
    assert_eq!(waiting, [id], "only the node holding a deadline");
    assert_eq!((node.deploy_hash.as_deref(), node.agent_hash.as_deref()), (Some("d"), Some("a")));

    let change = NodeChange { deadline: Some(None), deploy_hash: Some(None), ..NodeChange::default() };
    let node = write(&*store, id, change, at(0)).unwrap();
    assert_eq!((node.record.deadline, node.deploy_hash), (None, None));
    assert!(store.nodes_with_deadline().unwrap().is_empty());
    assert_eq!((node.record.os, node.agent_hash.as_deref()), (Some(os), Some("a")), "untouched fields stay");
}

fn a_bmc_login_round_trips_and_the_record_says_only_where(db: TestDatabase) {
    let store = db.open();
    let id = store.create_node(new_node(7), at(0)).unwrap().record.id;
    let login = crate::power::BmcLogin {
        host: "10.0.9.21".into(),
        port: 6230,
        username: "admin".into(),
        password: crate::token::Secret::new("s3cr3t pw".into()),
        cipher_suite: Some(3),
    };
    let node = write(&*store, id, NodeChange { bmc: Some(Some(login.clone())), ..NodeChange::default() }, at(0));
    let node = node.unwrap();
    assert_eq!(node.bmc, Some(login.clone()));
    assert_eq!(node.record.bmc.as_ref().map(ToString::to_string).as_deref(), Some("10.0.9.21:6230"));
    assert!(!serde_json::to_string(&node.record).unwrap().contains("s3cr3t"), "the record never holds the login");
    assert_eq!(store.nodes().unwrap()[0].bmc, Some(login), "read back by every query");
    let node = write(&*store, id, NodeChange { bmc: Some(None), ..NodeChange::default() }, at(1)).unwrap();
    assert_eq!((node.bmc, node.record.bmc), (None, None));
}

fn what_the_bmc_said_of_its_health_round_trips_and_clears(db: TestDatabase) {
    let store = db.open();
    let id = store.create_node(new_node(8), at(0)).unwrap().record.id;
    let health = rackhand_api::BmcHealth {
        since: at(1),
        power_supplies: rackhand_api::parse_sdr_power_supply(
            "PSU2 Status | 12h | ok | 10.2 | Presence detected, Power Supply AC lost\n",
        ),
        problems: vec![rackhand_api::Problem::warning("PSU 2", "PSU 2 lost its AC input", "plug its cord in")],
        event_log_seen: Some(7),
    };
    let change = NodeChange { bmc_health: Some(Some(health.clone())), ..NodeChange::default() };
    let node = write(&*store, id, change, at(1)).unwrap();
    assert_eq!(node.record.bmc_health.as_ref(), Some(&health));
    assert_eq!(store.nodes().unwrap()[0].record.bmc_health.as_ref(), Some(&health), "read back by every query");
    let node = write(&*store, id, NodeChange { bmc_health: Some(None), ..NodeChange::default() }, at(2)).unwrap();
    assert_eq!(node.record.bmc_health, None);
}

fn a_change_is_decided_on_the_committed_node_and_none_writes_nothing(db: TestDatabase) {
    let store = db.open();
    let id = store.create_node(new_node(6), at(0)).unwrap().record.id;
    let mut seen = Vec::new();
    let unchanged = store
        .change_node(NodeKey::Mac(mac(6)), at(50), &mut |node| {
            seen.push(node.record.state);
            None
        })
        .unwrap()
        .unwrap();
    assert_eq!((seen.as_slice(), unchanged.record.updated_at), ([NodeState::Discovered].as_slice(), at(0)));
    assert_eq!(store.events(id).unwrap().len(), 1, "no event for no change");
    let booting = NodeChange { state: Some(NodeState::Booting), ..NodeChange::default() };
    write(&*store, id, booting, at(60)).unwrap();
    store
        .change_node(NodeKey::Id(id), at(70), &mut |node| {
            seen.push(node.record.state);
            None
        })
        .unwrap();
    assert_eq!(seen, [NodeState::Discovered, NodeState::Booting], "each decision saw the node as committed");
}

fn enrolment_returns_the_known_node_and_holds_the_subnet_cap(db: TestDatabase) {
    let store = db.open();
    let registered = NewNode { enrolled_in: None, ..new_node(9) };
    let known = store.create_node(registered, at(0)).unwrap();
    let again = store.enroll_node(new_node(9), rack(), at(1)).unwrap().unwrap();
    assert_eq!(again, known, "a known MAC is not enrolled again");
    let first = store.enroll_node(new_node(10), rack(), at(2)).unwrap().unwrap();
    assert_eq!(first.record.state, NodeState::Discovered);
    assert!(store.enroll_node(new_node(11), rack(), at(3)).unwrap().is_some());
    assert_eq!(store.enroll_node(new_node(12), rack(), at(4)).unwrap(), None, "two strangers already wait");
    let elsewhere = EnrolIn { subnet: "10.88.0.0/24".parse().unwrap(), ..rack() };
    assert!(store.enroll_node(new_node(12), elsewhere, at(4)).unwrap().is_some(), "the cap is per subnet");
    let booting = NodeChange { state: Some(NodeState::Booting), ..NodeChange::default() };
    write(&*store, first.record.id, booting, at(5)).unwrap();
    assert!(store.enroll_node(new_node(13), rack(), at(6)).unwrap().is_some(), "a booting node waits no more");
    let macs: Vec<Vec<MacAddr>> = store.nodes().unwrap().into_iter().map(|n| n.record.macs).collect();
    assert_eq!(macs, [9, 10, 11, 12, 13].map(|last| vec![mac(last)]), "each node with its own MAC, in id order");
}

fn a_dhcp_batch_enrols_within_the_cap_beside_its_leases(db: TestDatabase) {
    let store = db.open();
    store.create_node(NewNode { enrolled_in: None, ..new_node(30) }, at(0)).unwrap();
    let enrol = |last| LeaseWrite::Enrol { mac: mac(last), within: rack(), at: at(1) };
    let lease = Lease { ip: Ipv4Addr::new(10, 77, 0, 130), mac: mac(31), expires_at: 1, hostname: None };
    let batch =
        [enrol(31), LeaseWrite::Put { lease: lease.clone(), now: 0 }, enrol(30), enrol(32), enrol(31), enrol(33)];
    let refused = store.write_leases(&batch).unwrap();
    assert_eq!(refused.enrolments, [EnrolmentRefused { mac: mac(33), within: rack() }], "room for two strangers");
    assert_eq!(store.leases().unwrap(), [lease], "a refused enrolment fails nothing else");
    let node = store.node_by_mac(mac(31)).unwrap().expect("enrolled by the batch");
    assert_eq!((node.record.state, node.record.created_at), (NodeState::Discovered, at(1)));
    let events = store.events(node.record.id).unwrap();
    let EventKind::Transition { reason: Some(reason), .. } = &events[0].kind else { panic!("{events:?}") };
    assert_eq!(reason, "enrolled automatically in 10.77.0.0/24 (DHCP)");
    assert_eq!(store.node_by_mac(mac(33)).unwrap(), None);
    assert_eq!(store.nodes().unwrap().len(), 3, "the registered node and two strangers, each once");
}

fn only_stale_self_enrolled_waiting_nodes_are_forgotten(db: TestDatabase) {
    let store = db.open();
    let stale = store.enroll_node(new_node(20), rack(), at(0)).unwrap().unwrap().record.id;
    let fresh = store.enroll_node(new_node(21), rack(), at(100)).unwrap().unwrap().record.id;
    let registered = store.create_node(NewNode { enrolled_in: None, ..new_node(22) }, at(0)).unwrap().record.id;
    let lease = Lease { ip: Ipv4Addr::new(10, 77, 0, 120), mac: mac(20), expires_at: 1, hostname: None };
    store.write_leases(&[LeaseWrite::Put { lease: lease.clone(), now: 0 }]).unwrap();
    assert_eq!(store.forget_self_enrolled_waiting(at(50)).unwrap(), [stale]);
    assert_eq!(store.node(stale).unwrap(), None);
    assert_eq!(store.node_by_mac(mac(20)).unwrap(), None, "its MAC went with it");
    assert!(store.events(stale).unwrap().is_empty(), "and its events");
    let left: Vec<NodeId> = store.nodes().unwrap().iter().map(|n| n.record.id).collect();
    assert_eq!(left, [fresh, registered]);
    assert_eq!(store.leases().unwrap(), [lease], "leases are the DHCP server's, not the node's");
    assert!(store.forget_self_enrolled_waiting(at(50)).unwrap().is_empty());
}

fn leases_and_quarantine_survive_reopening(db: TestDatabase) {
    let lease = Lease { ip: Ipv4Addr::new(10, 77, 0, 100), mac: mac(7), expires_at: 1_700_003_600, hostname: None };
    let declined = Ipv4Addr::new(10, 77, 0, 102);
    {
        let store = db.open();
        let other = Ipv4Addr::new(10, 77, 0, 101);
        store
            .write_leases(&[LeaseWrite::Put { lease: Lease { hostname: Some("old".into()), ..lease.clone() }, now: 0 }])
            .unwrap();
        store
            .write_leases(&[
                LeaseWrite::Put { lease: Lease { ip: other, ..lease.clone() }, now: 0 },
                LeaseWrite::Remove { ip: other, mac: mac(7) },
                LeaseWrite::Put { lease: lease.clone(), now: 0 },
                LeaseWrite::Put { lease: Lease { ip: declined, ..lease.clone() }, now: 0 },
                LeaseWrite::Quarantine { ip: declined, mac: mac(8), until: 2_000, now: 1_700_003_600 },
            ])
            .unwrap();
        store.create_node(new_node(7), Timestamp::now()).unwrap();
    }
    let store = db.open();
    assert_eq!(
        store.leases().unwrap(),
        std::slice::from_ref(&lease),
        "replaced in place; removed; declined is no lease"
    );
    assert_eq!(store.quarantined(1_999).unwrap(), [Quarantine { ip: declined, mac: mac(8), until: 2_000 }]);
    assert!(store.quarantined(2_000).unwrap().is_empty(), "over at its end");
    store.write_leases(&[LeaseWrite::Put { lease: Lease { ip: declined, ..lease }, now: 0 }]).unwrap();
    assert!(store.quarantined(0).unwrap().is_empty(), "bound again: the quarantine is over");
    assert_eq!(store.nodes().unwrap().len(), 1);
}

fn an_address_another_mac_holds_is_not_bound_until_its_lease_ends(db: TestDatabase) {
    let store = db.open();
    let ip = Ipv4Addr::new(10, 77, 0, 140);
    let held = Lease { ip, mac: mac(40), expires_at: 2_000, hostname: Some("x".into()) };
    let put = |lease: &Lease, now| LeaseWrite::Put { lease: lease.clone(), now };
    let other = Lease { mac: mac(41), expires_at: 3_000, hostname: None, ..held.clone() };
    let next = Lease { ip: Ipv4Addr::new(10, 77, 0, 141), ..other.clone() };
    let refused = store.write_leases(&[put(&held, 1_000), put(&other, 1_000), put(&next, 1_000)]).unwrap();
    assert_eq!(refused.taken, [(1, held.clone())], "the second bind of the batch, with the holder");
    assert_eq!(store.leases().unwrap(), [held.clone(), next], "the rest of the batch is written");
    let renewed = Lease { expires_at: 2_500, ..held };
    assert!(store.write_leases(&[put(&renewed, 1_999)]).unwrap().taken.is_empty(), "its holder renews it");
    assert!(!store.write_leases(&[put(&other, 2_499)]).unwrap().taken.is_empty(), "not before it ends");
    assert!(store.write_leases(&[put(&other, 2_500)]).unwrap().taken.is_empty(), "free once it has ended");
    assert_eq!(store.leases().unwrap()[0], other);
}

fn two_instances_binding_one_address_at_once_bind_it_once(db: TestDatabase) {
    let ip = Ipv4Addr::new(10, 77, 0, 150);
    for round in 0..20u8 {
        let db = db.another();
        let (a, b) = (db.open(), db.open());
        let start = std::sync::Barrier::new(2);
        let bind = |store: &Arc<dyn Store>, last| {
            let lease = Lease { ip, mac: mac(last), expires_at: 5_000, hostname: None };
            start.wait();
            store.write_leases(&[LeaseWrite::Put { lease, now: 1_000 }]).unwrap().taken.len()
        };
        let taken: Vec<usize> = std::thread::scope(|scope| {
            let (one, two) = (scope.spawn(|| bind(&a, 50)), scope.spawn(|| bind(&b, 51)));
            vec![one.join().unwrap(), two.join().unwrap()]
        });
        assert_eq!(taken.iter().sum::<usize>(), 1, "round {round}: one bound, one refused: {taken:?}");
        assert_eq!(a.leases().unwrap().len(), 1, "round {round}");
    }
}

/// An instance whose lease table is stale (another instance rebound the address since) handles a
/// RELEASE or DECLINE of the address's old holder: the current holder's lease stays.
fn a_release_or_decline_ends_only_the_senders_lease(db: TestDatabase) {
    let store = db.open();
    let ip = Ipv4Addr::new(10, 77, 0, 160);
    let holder = Lease { ip, mac: mac(60), expires_at: 5_000, hostname: None };
    store.write_leases(&[LeaseWrite::Put { lease: holder.clone(), now: 1_000 }]).unwrap();
    store
        .write_leases(&[
            LeaseWrite::Remove { ip, mac: mac(61) },
            LeaseWrite::Quarantine { ip, mac: mac(61), until: 9_000, now: 1_000 },
        ])
        .unwrap();
    assert_eq!(store.leases().unwrap(), std::slice::from_ref(&holder), "another MAC's release and decline end nothing");
    assert!(store.quarantined(1_000).unwrap().is_empty(), "the holder answers on it: no quarantine");

    // Once the holder's lease has ended, a decline quarantines the address and ends that lease.
    store.write_leases(&[LeaseWrite::Quarantine { ip, mac: mac(61), until: 9_000, now: 5_000 }]).unwrap();
    assert_eq!(store.quarantined(5_000).unwrap(), [Quarantine { ip, mac: mac(61), until: 9_000 }]);
    assert!(store.leases().unwrap().is_empty());

    // The holder's own release and decline end its lease.
    let own = Lease { ip: Ipv4Addr::new(10, 77, 0, 161), ..holder };
    store.write_leases(&[LeaseWrite::Put { lease: own.clone(), now: 1_000 }]).unwrap();
    store.write_leases(&[LeaseWrite::Remove { ip: own.ip, mac: own.mac }]).unwrap();
    assert!(store.leases().unwrap().is_empty(), "released by its holder");
    store.write_leases(&[LeaseWrite::Put { lease: own.clone(), now: 1_000 }]).unwrap();
    store.write_leases(&[LeaseWrite::Quarantine { ip: own.ip, mac: own.mac, until: 9_000, now: 1_000 }]).unwrap();
    assert!(store.leases().unwrap().is_empty(), "declined by its holder");
    assert_eq!(store.quarantined(1_000).unwrap().len(), 2);
}

fn heartbeats_count_each_instance_and_every_instance_sees_them(db: TestDatabase) {
    let (a, b) = (db.open(), db.open());
    assert!(a.heartbeats().unwrap().is_empty());
    a.beat("http://10.77.0.1", at(1)).unwrap();
    a.beat("http://10.77.0.1", at(2)).unwrap();
    b.beat("http://10.77.0.2", at(3)).unwrap();
    let seen: Vec<(String, i64, Timestamp)> =
        b.heartbeats().unwrap().into_iter().map(|h| (h.instance, h.beats, h.at)).collect();
    assert_eq!(
        seen,
        [("http://10.77.0.1".to_string(), 2, at(2)), ("http://10.77.0.2".to_string(), 1, at(3))],
        "each instance's count and last time, seen from the other"
    );
}

fn corrupt_rows_are_named(db: TestDatabase) {
    let store = db.open();
    let node = store.create_node(new_node(3), Timestamp::now()).unwrap();
    db.execute(&format!("UPDATE nodes SET inventory = 'not json' WHERE id = {}", node.record.id.0));
    let err = store.node(node.record.id).unwrap_err();
    assert!(err.to_string().contains("corrupt inventory for node 1"), "{err}");
}

#[test]
fn instances_starting_together_on_a_new_postgres_database_migrate_it_once() {
    let Some(db) = TestDatabase::postgres() else { return };
    let TestDatabase::Postgres { config } = &db else { unreachable!() };
    let start = std::sync::Barrier::new(4);
    std::thread::scope(|scope| {
        let opened: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    PostgresStore::open(config).map(drop)
                })
            })
            .collect();
        for handle in opened {
            handle.join().unwrap().expect("every instance opens the store");
        }
    });
    assert!(db.open().nodes().unwrap().is_empty());
}

/// The service drops its store where its last reference goes, which at shutdown may be a thread driving
/// the tokio runtime: closing the PostgreSQL connections there must not panic (the synchronous client's
/// own `block_on` would).
#[test]
fn a_store_dropped_on_a_runtime_thread_closes_without_panicking() {
    for db in [Some(TestDatabase::sqlite()), TestDatabase::postgres()].into_iter().flatten() {
        let store = db.open();
        assert!(store.nodes().unwrap().is_empty(), "a connection is open");
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async move { drop(store) });
    }
}
