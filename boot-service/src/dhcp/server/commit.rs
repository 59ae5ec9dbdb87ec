//! The second half of a batch: its lease writes and enrolments in one transaction, then the replies
//! that may go.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::Worker;
use crate::dhcp::decision::{Destination, Reply};
use crate::dhcp::leases::LeaseChange;
use crate::dhcp::request::{DropReason, type_label};
use crate::store::{EnrolmentRefused, Lease, LeaseWrite};

/// Under load, how long a batch holding lease writes waits for more packets before its commit.
const GATHER: Duration = Duration::from_millis(1);
/// A server that committed this recently is under load.
const BUSY: Duration = Duration::from_millis(20);

/// How long a batch waits for more packets before its commit: [`GATHER`] when it holds lease writes and
/// the last commit was under [`BUSY`] ago, else not at all. Each commit ends in an fsync whose cost does
/// not grow with the batch; under load, a millisecond more per ACK makes the batches several times larger
/// (issue 16: at 5000 exchanges/s, two thirds of the server's CPU went to commits). An idle server still
/// answers each packet as it comes.
pub(super) fn gather_window(writes: bool, since_last_commit: Option<Duration>) -> Duration {
    match since_last_commit {
        Some(since) if writes && since < BUSY => GATHER,
        _ => Duration::ZERO,
    }
}

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

/// What became of one write of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Written {
    Stored,
    Failed,
    /// Another MAC holds the address: its lease as stored.
    Taken(Lease),
}

impl Worker {
    /// Writes the batch's lease changes and enrolments in one transaction, tells the node service of the
    /// enrolments a full subnet refused, then sends the replies. If the transaction fails, each write is
    /// retried alone, and only the replies whose lease writes stuck are sent (an enrolment holds no reply).
    /// A bind the store refused because another MAC holds the address (another instance was first) sends
    /// nothing: the table learns the holder, so the client's retry gets a NAK or another address.
    pub(super) fn commit(&mut self, batch: Batch) {
        let (written, refused) = self.write(&batch.writes);
        for EnrolmentRefused { mac, within } in refused {
            self.nodes.enrolment_refused(mac, within);
        }
        let now = super::unix_now();
        for holder in written.iter().filter_map(|w| if let Written::Taken(holder) = w { Some(holder) } else { None }) {
            self.table.apply(&LeaseChange::Bind(holder.clone()), now);
        }
        for pending in batch.replies {
            let _entered = pending.span.enter();
            match pending.write.map(|i| &written[i]) {
                Some(Written::Failed) => {
                    tracing::error!("dhcp: the lease was not persisted; not answering");
                    self.metrics.count_drop(DropReason::StoreError);
                    continue;
                }
                Some(Written::Taken(holder)) => {
                    tracing::warn!(ip = %holder.ip, holder = %holder.mac,
                        "dhcp: another instance bound this address first; not answering");
                    self.metrics.count_drop(DropReason::AddressTaken);
                    continue;
                }
                Some(Written::Stored) | None => {}
            }
            // Noted before the reply leaves: the client's script request may follow it within a
            // millisecond. (Should the send fail, the client has no such address to ask from.)
            if let Some((mac, address)) = pending.sighting {
                self.nodes.saw_booting(mac, address);
            }
            self.send(pending.socket, pending.reply);
        }
    }

    /// `writes` in one transaction, or each alone should that fail: what became of each, and the
    /// enrolments refused.
    fn write(&self, writes: &[LeaseWrite]) -> (Vec<Written>, Vec<EnrolmentRefused>) {
        if writes.is_empty() {
            return (Vec::new(), Vec::new());
        }
        match self.store.write_leases(writes) {
            Ok(refused) => {
                let mut written = vec![Written::Stored; writes.len()];
                for (index, holder) in refused.taken {
                    written[index] = Written::Taken(holder);
                }
                return (written, refused.enrolments);
            }
            Err(err) => {
                tracing::warn!(%err, writes = writes.len(), "dhcp: lease batch not persisted; writing one by one")
            }
        }
        let mut enrolments = Vec::new();
        let written = writes
            .iter()
            .map(|write| match self.store.write_leases(std::slice::from_ref(write)) {
                Ok(refused) => {
                    enrolments.extend(refused.enrolments);
                    match refused.taken.into_iter().next() {
                        Some((_, holder)) => Written::Taken(holder),
                        None => Written::Stored,
                    }
                }
                Err(err) => {
                    if let LeaseWrite::Enrol { mac, within, .. } = write {
                        tracing::error!(%mac, subnet = %within.subnet, %err, "dhcp: auto-enrolment failed");
                    } else {
                        tracing::error!(%err, ?write, "dhcp: could not persist the lease change");
                    }
                    Written::Failed
                }
            })
            .collect();
        (written, enrolments)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{BUSY, GATHER, gather_window};

    #[test]
    fn only_a_batch_with_writes_on_a_busy_server_waits_for_more() {
        let recent = Some(Duration::from_millis(3));
        assert_eq!(gather_window(true, recent), GATHER, "under load, writes wait for company");
        assert_eq!(gather_window(false, recent), Duration::ZERO, "offers alone have nothing to commit");
        assert_eq!(gather_window(true, None), Duration::ZERO, "the first commit goes at once");
        assert_eq!(gather_window(true, Some(BUSY)), Duration::ZERO, "an idle server answers at once");
        assert_eq!(gather_window(true, Some(Duration::from_secs(60))), Duration::ZERO);
    }
}
