//! The installed OS on a node's page, as its latest report says it runs: kernel and addresses, each array
//! with its state and its members by bay, the bond's active leg and the link of each slave, the SSH host
//! key fingerprints to check on first login, and what is wrong with the fix.

use maud::{Markup, html};
use rackhand_api::OsReport;

pub(super) fn section(os: &OsReport) -> Markup {
    let addresses: Vec<String> = os.addresses.iter().map(ToString::to_string).collect();
    html! {
        h2 { "Installed OS" }
        @if !os.problems.is_empty() {
            p { strong { "What its OS reports as wrong" } }
            (super::render::problems(&os.problems))
        }
        table {
            tbody {
                tr { th { "Host name" } td { (os.hostname) } }
                tr { th { "Kernel" } td { (os.kernel) } }
                @if !addresses.is_empty() { tr { th { "Addresses" } td { (addresses.join(", ")) } } }
                @if let Some(bond) = &os.bond {
                    tr class=(if bond.slaves.iter().all(|s| s.link_up) { "" } else { "failed" }) {
                        th { (bond.name) }
                        td {
                            (bond.mode)
                            @if let Some(active) = &bond.active { ", active leg " b { (active) } }
                            @for slave in &bond.slaves {
                                br; (slave.name) " " span.mac { (slave.mac) } " link "
                                @if slave.link_up { "up" } @else { b { "down" } }
                            }
                        }
                    }
                }
                @for array in &os.arrays {
                    tr class=(if array.degraded || !array.missing_bays.is_empty() { "failed" } else { "" }) {
                        th { (array.device) }
                        td {
                            (array.level) ", " (array.state) @if array.degraded { ", " b { "degraded" } }
                            @if let Some(percent) = array.rebuild_percent { ", " b { "rebuilding: " (percent) " %" } }
                            @for member in &array.members {
                                br;
                                @if let Some(bay) = member.bay { "bay " (bay) ": " } @else { "no bay: " }
                                (member.device) " " (member.state)
                            }
                            @for bay in &array.missing_bays { br; "bay " (bay) ": " b { "missing" } }
                            br; span.mac { "md UUID " (array.uuid) }
                        }
                    }
                }
                @if !os.ssh_host_keys.is_empty() {
                    tr {
                        th { "SSH host keys" }
                        td { @for (i, key) in os.ssh_host_keys.iter().enumerate() { @if i > 0 { br; } span.mac { (key) } } }
                    }
                }
            }
        }
    }
}
