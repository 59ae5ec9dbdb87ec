//! What the install built, on a node's page: the bond, each array with its members and filesystem, the
//! image — with the UUIDs a technician or the customer's OS will look for.

use maud::{Markup, html};
use rackhand_api::PlanResults;

pub(super) fn section(results: &PlanResults) -> Markup {
    html! {
        h2 { "Built" }
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
