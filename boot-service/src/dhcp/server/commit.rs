//! The second half of a batch: its lease writes and enrolments in one transaction, then the replies
//! that may go.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::Worker;
use crate::dhcp::decision::{Destination, Reply};
use crate::dhcp::request::{DropReason, type_label};
use crate::store::{EnrolmentRefused, LeaseWrite};

/// A reply decided but not yet sent: it waits for the lease write at `write`, if any, to be committed
/// (and for the batch's enrolments to be tried).
pub(super) struct PendingReply {
    pub(super) span: tracing::Span,
    pub(super) socket: usize,
    pub(super) reply: Reply,
    pub(super) write: Option<usize>,
    /// The boot client and the address it boots with, noted when the reply is sent.
    pub(super) sighting: Option<(rackhand_api::MacAddr, Ipv4Addr)>,
}

/// The lease writes, enrolments and replies of one burst of packets.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) writes: Vec<LeaseWrite>,
    pub(super) replies: Vec<PendingReply>,
}

impl Worker {
    /// Writes the batch's lease changes and enrolments in one transaction, tells the node service of the
    /// enrolments a full subnet refused, then sends the replies. If the transaction fails, each write is
    /// retried alone, and only the replies whose lease writes stuck are sent (an enrolment holds no reply).
    pub(super) fn commit(&mut self, batch: Batch) {
        let (stored, refused) = self.write(&batch.writes);
        for EnrolmentRefused { mac, within } in refused {
            self.nodes.enrolment_refused(mac, within);
        }
        for pending in batch.replies {
            let _entered = pending.span.enter();
            if pending.write.is_some_and(|i| !stored[i]) {
                tracing::error!("dhcp: the lease was not persisted; not answering");
                self.metrics.count_drop(DropReason::StoreError);
                continue;
            }
            // Noted before the reply leaves: the client's script request may follow it within a
            // millisecond. (Should the send fail, the client has no such address to ask from.)
            if let Some((mac, address)) = pending.sighting {
                self.nodes.saw_booting(mac, address);
            }
            self.send(pending.socket, pending.reply);
        }
    }

    /// `writes` in one transaction, or each alone should that fail: which of them are stored, and the
    /// enrolments refused.
    fn write(&self, writes: &[LeaseWrite]) -> (Vec<bool>, Vec<EnrolmentRefused>) {
        if writes.is_empty() {
            return (Vec::new(), Vec::new());
        }
        match self.store.write_leases(writes) {
            Ok(refused) => return (vec![true; writes.len()], refused),
            Err(err) => {
                tracing::warn!(%err, writes = writes.len(), "dhcp: lease batch not persisted; writing one by one")
            }
        }
        let mut refused = Vec::new();
        let stored = writes
            .iter()
            .map(|write| match self.store.write_leases(std::slice::from_ref(write)) {
                Ok(full) => {
                    refused.extend(full);
                    true
                }
                Err(err) => {
                    if let LeaseWrite::Enrol { mac, within, .. } = write {
                        tracing::error!(%mac, subnet = %within.subnet, %err, "dhcp: auto-enrolment failed");
                    } else {
                        tracing::error!(%err, ?write, "dhcp: could not persist the lease change");
                    }
                    false
                }
            })
            .collect();
        (stored, refused)
    }

    fn send(&self, socket: usize, reply: Reply) {
        let Some(msg_type) = reply.message.opts().msg_type() else {
            return;
        };
        let outlet = &self.outlets[socket];
        let to = match reply.to {
            Destination::Unicast(to) => to,
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, self.config.dhcp.port.wrapping_add(1)),
        };
        match outlet.socket.send_to(&reply.datagram, to).map_err(|e| e.to_string()) {
            Ok(_) => {
                tracing::debug!(%to, reply = type_label(msg_type), "dhcp: replied");
                let labels = crate::dhcp::metrics::TypeLabels { msg_type: type_label(msg_type) };
                self.metrics.replies.get_or_create(&labels).inc();
            }
            Err(err) => {
                tracing::warn!(%to, %err, "dhcp: could not send the reply");
                self.metrics.count_drop(DropReason::SendError);
            }
        }
    }
}
