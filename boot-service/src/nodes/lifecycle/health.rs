//! What a ready node's BMC and its installed OS say of its health, decided: kept in the record when it
//! changed (the BMC's with `since`, the read that first found it so), and a history line when what is
//! wrong changed. A node that is not ready is being installed: its BMC's readings are not its health then.

use jiff::Timestamp;
use rackhand_api::{BmcHealth, BmcPsuReading, EventKind, NodeRecord, NodeState, OsReport, Problem, SelEntry};

use super::Decision;
use crate::store::NodeChange;

/// One look at a node's BMC: its power supplies, the problems found in them (or that it could not be
/// read), and its event log (`None` when that could not be read).
#[derive(Debug, Clone)]
pub struct BmcReading {
    pub power_supplies: Vec<BmcPsuReading>,
    pub problems: Vec<Problem>,
    pub event_log: Option<Vec<SelEntry>>,
}

pub(super) fn bmc_health(record: &NodeRecord, reading: BmcReading, now: Timestamp) -> Decision {
    let BmcReading { power_supplies, problems, event_log } = reading;
    if record.state != NodeState::Ready {
        return Decision::default();
    }
    let before = record.bmc_health.as_ref();
    let (logged, event_log_seen) = new_in_log(before.map(|b| b.event_log_seen), event_log.as_deref());
    let same = |b: &BmcHealth| b.power_supplies == power_supplies && b.problems == problems;
    if before.is_some_and(|b| same(b) && b.event_log_seen == event_log_seen) {
        return Decision::default();
    }
    let told = before.map_or(&[][..], |b| &b.problems[..]);
    // The first reading of a healthy BMC is no news; any change in what is wrong is.
    let event =
        (told != problems.as_slice()).then(|| EventKind::Bmc { asked: "health check".into(), answer: said(&problems) });
    let since = before.filter(|b| same(b)).map_or(now, |b| b.since);
    let health = BmcHealth { since, power_supplies, problems, event_log_seen };
    let mut changes = vec![NodeChange { bmc_health: Some(Some(health)), event, ..NodeChange::default() }];
    changes.extend(logged.into_iter().map(|entry| NodeChange {
        event: Some(EventKind::Bmc { asked: "event log".into(), answer: entry.to_string() }),
        ..NodeChange::default()
    }));
    Decision { changes, ..Decision::default() }
}

/// The records of `log` not yet in the history, and the last record it holds now. `seen` is `None` on
/// the first look at this BMC: its log as it is then is history from before, not news. A readable log
/// whose records all come before the last seen one was cleared: its records are new. An unreadable log
/// changes nothing.
fn new_in_log(seen: Option<Option<u32>>, log: Option<&[SelEntry]>) -> (Vec<SelEntry>, Option<u32>) {
    let Some(log) = log else { return (Vec::new(), seen.flatten()) };
    let last = log.iter().map(|e| e.id).max();
    let Some(seen) = seen else { return (Vec::new(), last) };
    let since = seen.filter(|s| last.is_some_and(|l| l >= *s));
    let new = log.iter().filter(|e| since.is_none_or(|s| e.id > s)).cloned().collect();
    (new, last)
}

/// A ready node's installed OS reported (the agent, every 30 s): kept when it changed, told when what is
/// wrong changed. The same report again writes nothing.
pub(super) fn os_health(record: &NodeRecord, report: OsReport) -> Decision {
    let before = record.os.as_ref();
    if before == Some(&report) {
        return Decision::default();
    }
    let told = before.map_or(&[][..], |b| &b.problems[..]);
    let event = (told != report.problems.as_slice())
        .then(|| EventKind::OsHealth { said: listed(&report.problems).unwrap_or_else(|| "nothing is wrong".into()) });
    Decision::change(NodeChange { os: Some(Some(report)), event, ..NodeChange::default() })
}

/// `PSU 2 lost its AC input ... (fix: plug ...)`, or that nothing is wrong.
fn said(problems: &[Problem]) -> String {
    listed(problems).unwrap_or_else(|| "every power supply is present, powered and healthy".into())
}

fn listed(problems: &[Problem]) -> Option<String> {
    let each = problems.iter().map(|p| format!("{} (fix: {})", p.message, p.fix));
    (!problems.is_empty()).then(|| each.collect::<Vec<_>>().join("; "))
}

#[cfg(test)]
mod tests {
    use rackhand_api::{MacAddr, NodeId, parse_sdr_power_supply};

    use super::*;

    fn node(state: NodeState) -> NodeRecord {
        let at = Timestamp::from_second(1_790_000_000).unwrap();
        NodeRecord::new(NodeId(3), vec![MacAddr::new([0x52, 0x54, 0, 0, 0, 3])], state, at)
    }

    fn reading(power_supplies: Vec<BmcPsuReading>, problems: Vec<Problem>, log: Option<Vec<SelEntry>>) -> BmcReading {
        BmcReading { power_supplies, problems, event_log: log }
    }

    fn entry(id: u32, asserted: bool) -> SelEntry {
        SelEntry {
            id,
            sensor_type: "Power Supply".into(),
            sensor: "12".into(),
            asserted,
            description: "Power Supply AC lost".into(),
        }
    }

    #[test]
    fn what_the_event_log_gained_since_the_last_look_goes_into_the_history() {
        let now = Timestamp::from_second(1_790_000_100).unwrap();
        let logged = |d: &Decision| -> Vec<String> {
            d.changes
                .iter()
                .filter_map(|c| match &c.event {
                    Some(EventKind::Bmc { asked, answer }) if asked == "event log" => Some(answer.clone()),
                    _ => None,
                })
                .collect()
        };
        let mut ready = node(NodeState::Ready);
        // The first look: the log as it is is history from before.
        let first = bmc_health(&ready, reading(vec![], vec![], Some(vec![entry(1, true), entry(2, false)])), now);
        assert_eq!(logged(&first), Vec::<String>::new());
        let health = first.changes[0].bmc_health.clone().flatten().unwrap();
        assert_eq!(health.event_log_seen, Some(2));
        ready.bmc_health = Some(health);
        // Lost and back between two looks: both records are told, though the sensors look the same.
        let log = vec![entry(1, true), entry(2, false), entry(3, true), entry(4, false)];
        let next = bmc_health(&ready, reading(vec![], vec![], Some(log)), now);
        assert_eq!(
            logged(&next),
            [
                "#3: Power Supply sensor 12h: Power Supply AC lost, asserted",
                "#4: Power Supply sensor 12h: Power Supply AC lost, deasserted"
            ]
        );
        ready.bmc_health = next.changes[0].bmc_health.clone().flatten();
        assert!(
            bmc_health(&ready, reading(vec![], vec![], None), now).changes.is_empty(),
            "an unreadable log changes nothing"
        );
        // Cleared, then a new record: it is new.
        let cleared = bmc_health(&ready, reading(vec![], vec![], Some(vec![entry(1, true)])), now);
        assert_eq!(logged(&cleared).len(), 1);
    }

    fn lost() -> (Vec<BmcPsuReading>, Vec<Problem>) {
        let sdr = "PSU2 Status | 12h | ok | 10.2 | Presence detected, Power Supply AC lost\n";
        (parse_sdr_power_supply(sdr), vec![Problem::warning("PSU 2", "PSU 2 lost its AC input", "plug it in")])
    }

    #[test]
    fn a_new_problem_is_kept_and_told_and_the_same_reading_again_changes_nothing() {
        let now = Timestamp::from_second(1_790_000_100).unwrap();
        let mut ready = node(NodeState::Ready);
        let (supplies, problems) = lost();
        let decision = bmc_health(&ready, reading(supplies.clone(), problems.clone(), None), now);
        let change = &decision.changes[0];
        let health = change.bmc_health.clone().flatten().expect("kept");
        assert_eq!((health.since, &health.problems), (now, &problems));
        let Some(EventKind::Bmc { asked, answer }) = &change.event else { panic!("told: {change:?}") };
        assert_eq!((asked.as_str(), answer.as_str()), ("health check", "PSU 2 lost its AC input (fix: plug it in)"));

        ready.bmc_health = Some(health);
        let later = Timestamp::from_second(1_790_000_130).unwrap();
        assert!(bmc_health(&ready, reading(supplies, problems, None), later).changes.is_empty(), "nothing new");
        let cleared = bmc_health(&ready, reading(vec![], vec![], None), later);
        let Some(EventKind::Bmc { answer, .. }) = &cleared.changes[0].event else { panic!("told it is mended") };
        assert!(answer.starts_with("every power supply"), "{answer}");
    }

    #[test]
    fn an_os_report_is_kept_when_it_changed_and_told_when_what_is_wrong_changed() {
        let report = |problems: Vec<Problem>| OsReport {
            hostname: "rack1-u3".into(),
            kernel: "6.1.0-28-amd64".into(),
            arrays: vec![],
            bond: None,
            ssh_host_keys: vec![],
            addresses: vec![],
            problems,
        };
        let mut ready = node(NodeState::Ready);
        ready.os = Some(report(vec![]));
        assert!(os_health(&ready, report(vec![])).changes.is_empty(), "the same report writes nothing");
        let pulled = vec![Problem::warning("bay 0", "the SSD in bay 0 is missing", "insert a working SSD")];
        let decision = os_health(&ready, report(pulled.clone()));
        assert_eq!(decision.changes[0].os.clone().flatten().map(|os| os.problems), Some(pulled.clone()));
        let Some(EventKind::OsHealth { said }) = &decision.changes[0].event else { panic!("told") };
        assert_eq!(said, "the SSD in bay 0 is missing (fix: insert a working SSD)");
        ready.os = Some(report(pulled));
        let mut renamed = report(vec![]);
        renamed.problems.clone_from(&ready.os.as_ref().unwrap().problems);
        renamed.kernel = "6.1.0-29-amd64".into();
        let decision = os_health(&ready, renamed);
        assert!(decision.changes[0].os.is_some() && decision.changes[0].event.is_none(), "kept, nothing to tell");
    }

    #[test]
    fn a_first_healthy_reading_is_kept_without_a_history_line_and_a_node_being_installed_is_left_alone() {
        let now = Timestamp::from_second(1_790_000_100).unwrap();
        let decision = bmc_health(&node(NodeState::Ready), reading(vec![], vec![], None), now);
        assert!(decision.changes[0].bmc_health.is_some() && decision.changes[0].event.is_none());
        let (supplies, problems) = lost();
        assert!(bmc_health(&node(NodeState::Installing), reading(supplies, problems, None), now).changes.is_empty());
    }
}
