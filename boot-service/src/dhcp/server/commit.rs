//! The second half of a batch: its lease writes in one transaction, then the replies that may go.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::Worker;
use crate::dhcp::decision::{Destination, Reply};
use crate::dhcp::request::{DropReason, type_label};
use crate::store::LeaseWrite;

/// A reply decided but not yet sent: it waits for the lease write at `write`, if any, to be committed.
pub(super) struct PendingReply {
    pub(super) span: tracing::Span,
    pub(super) socket: usize,
    pub(super) reply: Reply,
    pub(super) write: Option<usize>,
    /// The boot client and the address it boots with, noted when the reply is sent.
    pub(super) sighting: Option<(rackhand_api::MacAddr, Ipv4Addr)>,
}

/// The lease writes and replies of one burst of packets.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) writes: Vec<LeaseWrite>,
    pub(super) replies: Vec<PendingReply>,
}

impl Worker {
    /// Writes the batch's lease changes in one transaction, then sends its replies. If the transaction
    /// fails, each write is retried alone, and only the replies whose writes stuck are sent.
    pub(super) fn commit(&mut self, batch: Batch) {
        let mut stored = vec![true; batch.writes.len()];
        if !batch.writes.is_empty()
            && let Err(err) = self.store.write_leases(&batch.writes)
        {
            tracing::warn!(%err, writes = batch.writes.len(), "dhcp: lease batch not persisted; writing one by one");
            for (write, ok) in batch.writes.iter().zip(&mut stored) {
                if let Err(err) = self.store.write_leases(std::slice::from_ref(write)) {
                    tracing::error!(%err, ?write, "dhcp: could not persist the lease change");
                    *ok = false;
                }
            }
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
