//! The technicians' pages as pure functions of node records: what is wrong and how to fix it first, what
//! is installing with how far it got, then everything else. No script: the list reloads itself.

use jiff::Timestamp;
use maud::{DOCTYPE, Markup, html};
use rackhand_api::{
    Deadline, Event, EventKind, NodeRecord, NodeState, Problem, ProgressReport, Severity, StepStatus, human_bytes,
};

/// Seconds between reloads of the list.
pub const REFRESH_SECS: u32 = 5;

/// A node as the list shows it: its record and, while it is being worked on, its latest progress report.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub record: NodeRecord,
    pub progress: Option<ProgressReport>,
}

/// The installer's latest progress report in `events`, if it sent any.
pub fn latest_progress(events: &[Event]) -> Option<&ProgressReport> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::Progress(p) => Some(p),
        EventKind::Transition { .. } | EventKind::Bmc { .. } | EventKind::OsHealth { .. } => None,
    })
}

/// The order a technician works in: failures, then nodes being worked on (those waiting on a deadline
/// first), then the rest; newest first.
fn urgency(state: NodeState) -> u8 {
    match state {
        NodeState::Failed => 0,
        NodeState::FirstBoot => 1,
        NodeState::Rebooting => 2,
        NodeState::Installing => 3,
        NodeState::Inspecting => 4,
        NodeState::Booting => 5,
        NodeState::Discovered => 6,
        NodeState::Ready => 7,
    }
}

/// `GET /`: every node, most urgent first.
pub fn node_list(mut nodes: Vec<NodeView>, now: Timestamp) -> Markup {
    nodes.sort_by(|a, b| {
        let key = |n: &NodeView| urgency(n.record.state);
        key(a).cmp(&key(b)).then(b.record.updated_at.cmp(&a.record.updated_at))
    });
    let count = |state| nodes.iter().filter(|n| n.record.state == state).count();
    let mut states = NodeState::ALL;
    states.sort_by_key(|s| urgency(*s));
    let summary: Vec<String> = states
        .into_iter()
        .map(|state| (state, count(state)))
        .filter(|(_, n)| *n > 0)
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    let title = match count(NodeState::Failed) {
        0 => "Rackhand".to_string(),
        failed => format!("Rackhand: {failed} failed"),
    };
    page(
        &title,
        Some(REFRESH_SECS),
        html! {
            h1 { "Rackhand" }
            p.summary {
                (nodes.len()) " servers" @if !summary.is_empty() { ": " (summary.join(" · ")) }
                span.updated { " · updated " (now.strftime("%H:%M:%S UTC")) ", reloads every " (REFRESH_SECS) " s" }
            }
            @if nodes.is_empty() {
                p.empty { "No servers yet. Power one on with network boot first: it appears here when it asks for an address." }
            } @else {
                table {
                    thead { tr { th { "Server" } th { "State" } th { "What is happening" } th { "Profile" } th { "Address" } th { "Last change" } } }
                    tbody {
                        @for node in &nodes { (row(node, now)) }
                    }
                }
            }
        },
    )
}

fn row(node: &NodeView, now: Timestamp) -> Markup {
    let r = &node.record;
    html! {
        tr class=(r.state.as_str()) {
            td.server {
                a href={ "/nodes/" (r.id) } { (r.label()) }
                @if let (Some(_), Some(location)) = (&r.hostname, &r.location) { br; span.location { "at " (location) } }
                @for mac in &r.macs { br; span.mac { (mac) } }
            }
            td { span class={ "badge " (r.state.as_str()) } { (r.state) } }
            td.what { (what_is_happening(&node.record, node.progress.as_ref(), now)) }
            td.nowrap { (r.profile.as_deref().unwrap_or("—")) }
            td.nowrap { @if let Some(ip) = r.ipv4 { (ip) } @else { "—" } }
            td.nowrap { (ago(now, r.updated_at)) }
        }
    }
}

/// The one cell a technician reads: the failure and its fixes, the step under way, what the service
/// waits for and until when, or what was installed and what its OS says is wrong.
fn what_is_happening(r: &NodeRecord, progress_report: Option<&ProgressReport>, now: Timestamp) -> Markup {
    html! {
        @match r.state {
            NodeState::Failed => {
                @if let Some(failure) = &r.failure {
                    strong { (failure.reason) }
                    (problems(&failure.problems))
                    p.hint { (super::advice::retry_advice(failure)) }
                } @else {
                    "failed without a report"
                }
            }
            NodeState::Ready => {
                @if let Some(image) = r.results.as_ref().and_then(|res| res.image.as_ref()) {
                    "installed " (image.name) " " (image.version) " on " (image.device)
                } @else { "ready" }
                @if let Some(os) = &r.os { (problems(&os.problems)) }
                @if let Some(health) = &r.bmc_health { (problems(&health.problems)) }
            }
            NodeState::Rebooting => {
                "installed; waiting for the server to network-boot again"
                @if let Some(deadline) = &r.deadline { " " (until(deadline, now)) }
            }
            NodeState::FirstBoot => {
                "handed over to its disk; waiting for the installed OS"
                @if let Some(deadline) = &r.deadline { " " (until(deadline, now)) }
            }
            NodeState::Discovered => "seen on the network; not booted into the installer yet",
            NodeState::Booting => "booting the installer",
            NodeState::Inspecting | NodeState::Installing => {
                @if let Some(p) = progress_report { (progress(p)) } @else { "starting" }
            }
        }
    }
}

/// Problems with their fixes, blocking ones marked.
pub(super) fn problems(problems: &[Problem]) -> Markup {
    html! {
        @if !problems.is_empty() {
            ul.problems {
                @for p in problems {
                    li class=(if p.severity == Severity::Blocking { "blocking" } else { "warning" }) {
                        b { (p.part) } ": " (p.message) br; span.fix { "Fix: " (p.fix) }
                    }
                }
            }
        }
    }
}

/// `until 14:32 UTC (10 min left)`, or `(overdue)` between the deadline and the check that fails the node.
fn until(deadline: &Deadline, now: Timestamp) -> String {
    let left = deadline.at.as_second() - now.as_second();
    let left = match left {
        ..=0 => "overdue".to_string(),
        1..60 => format!("{left} s left"),
        _ => format!("{} min left", (left + 59) / 60),
    };
    format!("until {} ({left})", deadline.at.strftime("%H:%M UTC"))
}

fn progress(p: &ProgressReport) -> Markup {
    let status = match p.status {
        StepStatus::Started => "started",
        StepStatus::Running => "running",
        StepStatus::Done => "done",
        StepStatus::Failed => "failed",
    };
    html! {
        (p.step) " " (status)
        @if let (Some(done), Some(total)) = (p.done, p.total) {
            @if total > 0 {
                // Figures a node sends are untrusted: `done` may exceed `total`, or be near u64::MAX.
                @let done = done.min(total);
                " " (u128::from(done) * 100 / u128::from(total)) "%"
                br; progress value=(done) max=(total) {}
                " " span.bytes { (human_bytes(done)) " of " (human_bytes(total)) }
            }
        }
        @if let Some(message) = &p.message { br; span.message { (message) } }
    }
}

/// `GET /nodes/{id}`: one node, its failure or what was built, its hardware, and its whole history.
pub fn node_detail(record: &NodeRecord, now: Timestamp) -> Markup {
    let name = record.label();
    page(
        &format!("Rackhand: {name}"),
        None,
        html! {
            p { a href="/" { "← all servers" } }
            h1 { (name) " " span class={ "badge " (record.state.as_str()) } { (record.state) } }
            dl {
                dt { "Location" } dd {
                    @if let Some(location) = &record.location { "rack " (location.rack) ", unit " (location.unit) }
                    @else { "not known: register it with --rack and --unit, or list its switch port under [[location]]" }
                }
                dt { "MACs" } dd { @for mac in &record.macs { span.mac { (mac) } " " } }
                dt { "Profile" } dd { (record.profile.as_deref().unwrap_or("—")) }
                dt { "Address" } dd { @if let Some(ip) = record.ipv4 { (ip) } @else { "—" } }
                dt { "BMC" } dd {
                    @if let Some(bmc) = &record.bmc {
                        (bmc) " (IPMI over LAN): reprovisioning restarts it from the network"
                        @if let Some(health) = record.bmc_health.as_ref().filter(|_| record.state == NodeState::Ready) {
                            br;
                            @if health.problems.is_empty() {
                                "its power supplies are present, powered and healthy"
                            } @else {
                                "it reports, since " (health.since.strftime("%H:%M UTC")) ":"
                                (problems(&health.problems))
                            }
                        }
                    }
                    @else { "none: power it by hand to reprovision, or set its BMC (PUT /api/v1/nodes/" (record.id) "/bmc)" }
                }
                dt { "Now" } dd.what { (what_is_happening(record, latest_progress(&record.events), now)) }
                @if let Some(deadline) = record.deadline.as_ref().filter(|_| record.state.waits_on_server()) {
                    dt { "If it misses the deadline" } dd { "it fails with: " (deadline.reason) }
                }
                dt { "Known since" } dd { (record.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")) }
            }
            @if let Some(inventory) = &record.inventory { (super::hardware::section(inventory)) }
            @if let Some(os) = &record.os { (super::os::section(os)) }
            (super::built::for_state(record))
            h2 { "History" }
            table {
                thead { tr { th { "When" } th { "What" } } }
                tbody {
                    @for event in record.events.iter().rev() {
                        tr {
                            td { (event.at.strftime("%Y-%m-%d %H:%M:%S")) br; span.ago { (ago(now, event.at)) } }
                            td {
                                @match &event.kind {
                                    EventKind::Transition { from, to, reason } => {
                                        @if let Some(from) = from { (from) " → " } (to)
                                        @if let Some(reason) = reason { ": " (reason) }
                                    }
                                    EventKind::Progress(p) => { (progress(p)) }
                                    EventKind::Bmc { asked, answer } => { "BMC: " (asked) ": " (answer) }
                                    EventKind::OsHealth { said } => { "its OS reports: " (said) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What went wrong, for a person who followed a link.
pub fn error_page(what: &str, message: &str) -> Markup {
    page(
        &format!("Rackhand: {what}"),
        None,
        html! {
            p { a href="/" { "← all servers" } }
            h1 { (what) }
            p { (message) }
        },
    )
}

fn page(title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(secs) = refresh { meta http-equiv="refresh" content=(secs); }
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

const STYLE: &str = "
body { font: 18px/1.4 system-ui, sans-serif; margin: 1.5em; color: #111; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .5em .7em; border-bottom: 1px solid #ddd; }
.mac { font-family: monospace; color: #555; }
.badge { padding: .1em .5em; border-radius: .3em; color: #fff; background: #777; font-weight: 600; }
.badge.failed { background: #c0392b; } .badge.ready { background: #1e8449; }
.badge.installing, .badge.inspecting, .badge.booting { background: #2461a8; }
.badge.rebooting, .badge.first_boot { background: #7d5a00; }
tr.failed { background: #fdecea; }
.problems { margin: .3em 0; padding-left: 1.2em; } .fix { color: #1e5d1e; font-weight: 600; }
.hint, .updated, .ago, .bytes, .location { color: #666; font-size: .9em; } p.hint { margin: .4em 0 0; }
progress { width: 14em; }
h2 + table, table + table { margin-top: 1em; }
.nowrap { white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .4em 1.2em; } dd { margin: 0; }
";

/// `now - then` as a person says it.
pub fn ago(now: Timestamp, then: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86400),
    }
}
