//! How many TFTP transfers may be open at once: in total and per source address. A transfer holds a
//! [`Slot`] from the moment its read request is accepted until its reader is dropped, which async-tftp
//! does when the transfer ends for any reason (done, client error, retries exhausted), so a client that
//! goes silent gives its slot back after the server's own timeout and retry caps (`serve` in `tftp.rs`).
//!
//! The timeout, retries, block and window sizes are async-tftp's own knobs; it has no concurrency limit,
//! hence this counter beside the handler.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_lite::AsyncRead;

/// Why a read request found no free slot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    #[error("server busy: {0} transfers open")]
    Total(usize),
    #[error("server busy: {count} transfers open from {from}")]
    PerSource { from: IpAddr, count: usize },
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// The open transfers, shared by the handler and every [`Slot`] it handed out.
#[derive(Debug, Clone)]
pub struct Slots {
    max_total: usize,
    max_per_source: usize,
    open: Arc<Mutex<Open>>,
}

impl Slots {
    /// Caps below one are taken as one: a server that may never transfer anything is a config error
    /// `config/validate.rs` already refuses.
    pub fn new(max_total: usize, max_per_source: usize) -> Self {
        Self { max_total: max_total.max(1), max_per_source: max_per_source.max(1), open: Arc::default() }
    }

    /// Take a slot for a transfer to `source`, or say which cap is reached.
    pub fn acquire(&self, source: IpAddr) -> Result<Slot, Busy> {
        let source = source.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max_total {
            return Err(Busy::Total(open.total));
        }
        let count = open.by_source.get(&source).copied().unwrap_or(0);
        if count >= self.max_per_source {
            return Err(Busy::PerSource { from: source, count });
        }
        open.total += 1;
        open.by_source.insert(source, count + 1);
        Ok(Slot { source, open: Arc::clone(&self.open) })
    }

    /// Transfers open now, in total.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).total
    }
}

/// One open transfer; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    source: IpAddr,
    open: Arc<Mutex<Open>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_source.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                // No entry stays behind for a source with nothing open: the map holds open transfers only.
                open.by_source.remove(&self.source);
            }
        }
    }
}

/// A transfer's reader together with its slot: the slot lives exactly as long as async-tftp keeps the
/// reader.
#[derive(Debug)]
pub struct Held<R> {
    reader: R,
    _slot: Slot,
}

impl<R> Held<R> {
    pub fn new(reader: R, slot: Slot) -> Self {
        Self { reader, _slot: slot }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Held<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 100));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 101));

    #[test]
    fn per_source_and_total_caps_hold_and_dropped_slots_come_back() {
        let slots = Slots::new(3, 2);
        let a1 = slots.acquire(A).unwrap();
        let _a2 = slots.acquire(A).unwrap();
        assert_eq!(slots.acquire(A).unwrap_err(), Busy::PerSource { from: A, count: 2 });
        let _b1 = slots.acquire(B).unwrap();
        assert_eq!(slots.acquire(B).unwrap_err(), Busy::Total(3), "the total cap holds for another source");
        drop(a1);
        assert_eq!(slots.open(), 2);
        let _a3 = slots.acquire(A).expect("a dropped slot is free again");
    }

    #[test]
    fn a_v4_mapped_v6_source_counts_as_its_v4_address() {
        let slots = Slots::new(10, 1);
        let _v4 = slots.acquire(A).unwrap();
        let mapped = match A {
            IpAddr::V4(ip) => IpAddr::V6(ip.to_ipv6_mapped()),
            IpAddr::V6(_) => unreachable!(),
        };
        assert!(matches!(slots.acquire(mapped), Err(Busy::PerSource { .. })));
    }

    #[test]
    fn no_entry_is_left_behind_for_a_source_with_nothing_open() {
        let slots = Slots::new(10, 10);
        drop(slots.acquire(A).unwrap());
        assert!(slots.open.lock().unwrap().by_source.is_empty());
        assert_eq!(slots.open(), 0);
    }
}
