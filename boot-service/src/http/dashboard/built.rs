//! What the install built, on a node's page: the bond, each array with its members and filesystem, the
//! image — with the UUIDs a technician or the customer's OS will look for.

use maud::{Markup, html};
use rackhand_api::{NodeRecord, NodeState, PlanResults};

/// The section that fits the node's state: what its install built once the install is done, what the
/// failed install had built before it stopped, and nothing while a new install is under way (a record's
/// results are then the previous install's).
pub(super) fn for_state(record: &NodeRecord) -> Markup {
    match record.state {
        NodeState::Rebooting | NodeState::FirstBoot | NodeState::Ready => match &record.results {
            Some(results) => section("Built", results),
            None => html! {},
        },
        NodeState::Failed => match record.failure.as_ref().and_then(|f| f.built.as_ref()) {
            Some(built) => section("Built before it failed", built),
            None => html! {},
        },
        NodeState::Discovered | NodeState::Booting | NodeState::Inspecting | NodeState::Installing => html! {},
    }
}

fn section(title: &str, results: &PlanResults) -> Markup {
    html! {
        h2 { (title) }
        table {
            tbody {
                @if let Some(bond) = &results.bond {
                    tr {
                        th { (bond.name) }
                        td {
                            (bond.mode) " over " (bond.legs.join(" + "))
                            @if let Some(primary) = &bond.primary { ", primary " (primary) }
                        }
                    }
                }
                @for array in &results.arrays {
                    tr {
                        th { (array.device) }
                        td {
                            (array.level) " of " (array.members.join(" ")) br; span.mac { "md UUID " (array.uuid) }
                            @if let Some(fs) = &array.filesystem {
                                br; (fs.kind) @if let Some(label) = &fs.label { " labelled " b { (label) } }
                                br; span.mac { "filesystem UUID " (fs.uuid) }
                            }
                        }
                    }
                }
                @if let Some(image) = &results.image {
                    tr {
                        th { "image" }
                        td { (image.name) " " (image.version) " on " (image.device) br; span.mac { "BLAKE3 " (image.blake3) } }
                    }
                }
            }
        }
    }
}
