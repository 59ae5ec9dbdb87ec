//! The second half of a batch: its OFFERs at once, then its lease writes and the enrolments held so far
//! in one transaction, then the other replies that may go.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::Worker;
use crate::dhcp::decision::{Destination, Reply};
use crate::dhcp::leases::LeaseChange;
use crate::dhcp::request::{DropReason, type_label};
use crate::store::{EnrolmentRefused, Lease, LeaseWrite};

/// Under load, how long a batch holding lease writes waits for more packets before its commit.
const GATHER: Duration = Duration::from_millis(1);
/// A server that committed this recently is under load.
const BUSY: Duration = Duration::from_millis(20);

/// Longest an enrolment waits for a lease write to ride with before it is committed on its own.
pub(super) const ENROLMENT_HOLD: Duration = Duration::from_millis(50);

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

/// New boot clients' enrolments not yet written. No reply waits for one, so an enrolment rides with the
/// next batch that commits a lease (a new server's REQUEST follows its OFFER within milliseconds, and the
/// ACK carries its own DISCOVER's enrolment) instead of costing a commit, an fsync, of its own; one
/// that found no company within [`ENROLMENT_HOLD`] is committed alone. The node exists before its iPXE
/// can ask for a script: that follows the ACK, whose commit carried it (in proxy mode, where no lease is
/// written, the script request enrols the client itself, idempotently, should it come first).
#[derive(Default)]
pub(super) struct HeldEnrolments {
    writes: Vec<LeaseWrite>,
    /// When the oldest held enrolment was decided.
    since: Option<Instant>,
}

impl HeldEnrolments {
    /// Holds `enrolment`, unless its MAC's is held already (a new server's REQUEST asks again for the
    /// enrolment its DISCOVER's batch held).
    pub(super) fn hold(&mut self, enrolment: LeaseWrite, now: Instant) {
        let mac_of = |w: &LeaseWrite| if let LeaseWrite::Enrol { mac, .. } = w { Some(*mac) } else { None };
        if mac_of(&enrolment).is_some_and(|mac| self.writes.iter().any(|w| mac_of(w) == Some(mac))) {
            return;
        }
        self.since.get_or_insert(now);
        self.writes.push(enrolment);
    }

    /// How long until the held enrolments must be written alone (`None`: none is held).
    pub(super) fn due_in(&self, now: Instant) -> Option<Duration> {
        self.since.map(|since| ENROLMENT_HOLD.saturating_sub(now.saturating_duration_since(since)))
    }

    /// The held enrolments, when a commit happens anyway (`with_leases`) or they have waited long enough.
    pub(super) fn take_if(&mut self, with_leases: bool, now: Instant) -> Vec<LeaseWrite> {
        if with_leases || self.due_in(now).is_some_and(|left| left.is_zero()) { self.take_all() } else { Vec::new() }
    }

    /// Every held enrolment, due or not.
    pub(super) fn take_all(&mut self) -> Vec<LeaseWrite> {
        self.since = None;
        std::mem::take(&mut self.writes)
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

impl PendingReply {
    /// An OFFER (which never has a lease write of its own): it need not wait for the batch's commit.
    fn is_offer(&self) -> bool {
        self.write.is_none() && self.reply.message.opts().msg_type() == Some(dhcproto::v4::MessageType::Offer)
    }
}

/// The lease writes and replies of one burst of packets (its enrolments are held: [`HeldEnrolments`]).
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
    /// Sends the batch's OFFERs, then writes its lease changes and the held enrolments (all of them when
    /// there are lease changes, else only those held for [`ENROLMENT_HOLD`]) in one transaction, tells the
    /// node service of the enrolments a full subnet refused, then sends the other replies. If the transaction fails, each write is
    /// retried alone, and only the replies whose lease writes stuck are sent (an enrolment holds no reply).
    /// A bind the store refused because another MAC holds the address (another instance was first) sends
    /// nothing: the table learns the holder, so the client's retry gets a NAK or another address.
    pub(super) fn commit(&mut self, batch: Batch) {
        // An OFFER promises nothing durable (the table holds the address, and a REQUEST is ACKed only once
        // its lease is committed): it leaves before the commit's fsync instead of waiting for it.
        let (offers, replies): (Vec<_>, Vec<_>) = batch.replies.into_iter().partition(PendingReply::is_offer);
        for offer in offers {
            let _entered = offer.span.enter();
            self.release(offer.socket, offer.reply, offer.sighting);
        }
        let mut writes = batch.writes;
        // After the lease writes: the replies' indices into `writes` stay as they were.
        writes.extend(self.held.take_if(!writes.is_empty(), Instant::now()));
        let (written, refused) = self.write(&writes);
        for EnrolmentRefused { mac, within } in refused {
            self.nodes.enrolment_refused(mac, within);
        }
        let now = super::unix_now();
        for holder in written.iter().filter_map(|w| if let Written::Taken(holder) = w { Some(holder) } else { None }) {
            self.table.apply(&LeaseChange::Bind(holder.clone()), now);
        }
        for pending in replies {
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
            self.release(pending.socket, pending.reply, pending.sighting);
        }
    }

    /// Notes the boot client's sighting, then sends the reply.
    fn release(&self, socket: usize, reply: Reply, sighting: Option<(rackhand_api::MacAddr, Ipv4Addr)>) {
        // Noted before the reply leaves: the client's script request may follow it within a
        // millisecond. (Should the send fail, the client has no such address to ask from.)
        if let Some((mac, address)) = sighting {
            self.nodes.saw_booting(mac, address);
        }
        self.send(socket, reply);
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
    use std::time::{Duration, Instant};

    use super::{BUSY, ENROLMENT_HOLD, GATHER, HeldEnrolments, gather_window};
    use crate::config::EnrolIn;
    use crate::store::LeaseWrite;

    fn enrolment(last: u8) -> LeaseWrite {
        let within = EnrolIn { subnet: "10.0.0.0/8".parse().unwrap(), max_discovered: 8 };
        LeaseWrite::Enrol { mac: rackhand_api::MacAddr::new([2, 0, 0, 0, 0, last]), within, at: jiff::Timestamp::now() }
    }

    #[test]
    fn held_enrolments_ride_with_leases_or_go_alone_once_due() {
        let start = Instant::now();
        let mut held = HeldEnrolments::default();
        assert_eq!(held.due_in(start), None, "nothing held, nothing to wake for");
        assert!(held.take_if(true, start).is_empty());
        held.hold(enrolment(1), start);
        held.hold(enrolment(2), start + Duration::from_millis(30));
        held.hold(enrolment(1), start + Duration::from_millis(40));
        assert_eq!(held.due_in(start + Duration::from_millis(10)), Some(ENROLMENT_HOLD - Duration::from_millis(10)));
        assert!(held.take_if(false, start + Duration::from_millis(10)).is_empty(), "not due, no lease to ride with");
        assert_eq!(
            held.take_if(true, start + Duration::from_millis(10)).len(),
            2,
            "a lease commit takes them all, once"
        );
        assert_eq!(held.due_in(start + Duration::from_millis(10)), None);

        held.hold(enrolment(3), start);
        let later = start + ENROLMENT_HOLD;
        assert_eq!(held.due_in(later), Some(Duration::ZERO), "due after the hold, counted from the oldest");
        assert_eq!(held.take_if(false, later).len(), 1, "due: committed alone");
        assert!(held.take_if(false, later + ENROLMENT_HOLD).is_empty());
    }

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
