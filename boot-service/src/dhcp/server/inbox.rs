//! The worker reads its sockets itself: it waits on all of them (and on a stop signal) with `ppoll`,
//! then takes what each has queued with `recvmmsg`, many datagrams a call. No thread hands packets to
//! another: a receiving task per socket that woke the worker through a channel, packet by packet, cost
//! a third of the server's CPU in thread switches (perf, issue 16).
//!
//! The kernel's receive buffer is the queue, so it is made large ([`RECEIVE_BUFFER`]): it holds what
//! arrives while the worker waits for a commit's fsync (with the default 208 KiB, a quarter of the
//! exchanges were lost at 10 000/s in the benchmark; with 4 MiB, under 1 %). What it drops for want of
//! room is read from each socket's `SO_RXQ_OVFL` counter, which arrives with every datagram, and counted
//! as `overload`.
//!
//! Hand-written over nix's `ppoll` and `recvmmsg`: tokio offers neither a batch receive nor a blocking
//! wait on several sockets from a thread that is not the runtime's.

use std::io::IoSliceMut;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, setsockopt, sockopt};
use nix::sys::time::TimeSpec;

/// Large enough for any DHCP message on an Ethernet (and jumbo) link.
const RECV_BUF: usize = 9000;
/// Datagrams taken from one socket by one `recvmmsg`.
const PER_CALL: usize = 32;
/// The receive buffer asked for each socket; Linux grants at most `net.core.rmem_max`.
pub(super) const RECEIVE_BUFFER: usize = 4 << 20;

/// What [`Inbox::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// At least one socket has something to read (or an error to report).
    Ready,
    /// Nothing arrived within the timeout.
    Idle,
    /// The stop signal's other end was dropped: the service is shutting down.
    Stopped,
}

/// One datagram taken from a socket, lent to the caller of [`Inbox::take`].
pub(super) struct Datagram<'a> {
    pub(super) socket: usize,
    pub(super) from: SocketAddrV4,
    pub(super) bytes: &'a [u8],
}

/// What one [`Inbox::take`] found besides the datagrams.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Taken {
    pub(super) datagrams: usize,
    /// Datagrams the kernel dropped, full receive buffer, since the last datagram read from that socket.
    pub(super) overflowed: u64,
}

impl std::ops::AddAssign for Taken {
    fn add_assign(&mut self, more: Taken) {
        self.datagrams += more.datagrams;
        self.overflowed += more.overflowed;
    }
}

pub(super) struct Inbox {
    sockets: Vec<UdpSocket>,
    stop: UnixStream,
    buffers: Vec<Vec<u8>>,
    /// Each socket's `SO_RXQ_OVFL` count when last read (the kernel's counter is cumulative).
    overflow_seen: Vec<u32>,
}

impl Inbox {
    /// Read `sockets` until `stop`'s peer is dropped. Sets them non-blocking, asks for receive buffers
    /// of `buffer` bytes (warning when the system grants less) and for their drop counters.
    pub(super) fn new(sockets: Vec<UdpSocket>, stop: UnixStream, buffer: usize) -> std::io::Result<Self> {
        let mut granted = buffer;
        for socket in &sockets {
            socket.set_nonblocking(true)?;
            setsockopt(socket, sockopt::RxqOvfl, &1).map_err(std::io::Error::from)?;
            let socket = socket2::SockRef::from(socket);
            socket.set_recv_buffer_size(buffer)?;
            // Linux reports twice what it grants (the other half is its bookkeeping).
            granted = granted.min(socket.recv_buffer_size()? / 2);
        }
        if granted < buffer {
            // Once, not per socket: the limit is the system's.
            tracing::warn!(
                granted,
                wanted = buffer,
                "dhcp: the sockets' receive buffers are smaller than asked (sysctl net.core.rmem_max); packets \
                 arriving during a commit may be dropped (counted as overload): raise net.core.rmem_max to {buffer}"
            );
        }
        let overflow_seen = vec![0; sockets.len()];
        Ok(Inbox { sockets, stop, buffers: vec![vec![0; RECV_BUF]; PER_CALL], overflow_seen })
    }

    /// Block until a socket is readable, the stop signal comes, or `timeout` passes.
    pub(super) fn wait(&self, timeout: Duration) -> Wait {
        let mut fds: Vec<PollFd> = std::iter::once(self.stop.as_fd())
            .chain(self.sockets.iter().map(AsFd::as_fd))
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        // ppoll, not poll: a batch's wait for company is under a millisecond, poll's unit.
        match ppoll(&mut fds, Some(TimeSpec::from_duration(timeout)), None) {
            Ok(0) | Err(Errno::EINTR) => Wait::Idle,
            Ok(_) if fds[0].any().unwrap_or(true) => Wait::Stopped,
            Ok(_) => Wait::Ready,
            Err(err) => {
                // EINVAL/ENOMEM only: nothing the loop can mend; treat as a quiet period.
                tracing::warn!(%err, "dhcp: poll failed");
                std::thread::sleep(Duration::from_millis(10));
                Wait::Idle
            }
        }
    }

    /// Take up to `max` datagrams already queued, socket by socket without waiting, handing each to
    /// `each` in the order it arrived on its socket.
    pub(super) fn take(&mut self, max: usize, mut each: impl FnMut(Datagram<'_>)) -> Taken {
        let mut taken = Taken::default();
        // Made per take, not kept: its raw pointers would keep the inbox from moving to the worker thread.
        let mut headers = MultiHeaders::preallocate(PER_CALL, Some(nix::cmsg_space!(u32)));
        // Round-robin over the sockets that may hold more, so a flooded one does not starve the others.
        let mut open: Vec<usize> = (0..self.sockets.len()).collect();
        while taken.datagrams < max && !open.is_empty() {
            open.retain(|&socket| {
                let want = PER_CALL.min(max - taken.datagrams);
                want > 0 && self.take_from(socket, want, &mut headers, &mut taken, &mut each) == want
            });
        }
        taken
    }

    /// One `recvmmsg` on `socket`: how many datagrams it returned.
    fn take_from(
        &mut self,
        socket: usize,
        want: usize,
        headers: &mut MultiHeaders<SockaddrIn>,
        taken: &mut Taken,
        each: &mut impl FnMut(Datagram<'_>),
    ) -> usize {
        let fd = self.sockets[socket].as_raw_fd();
        let mut slices: Vec<[IoSliceMut<'_>; 1]> =
            self.buffers.iter_mut().take(want).map(|b| [IoSliceMut::new(&mut b[..])]).collect();
        let results = match recvmmsg(fd, headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
            Ok(results) => results,
            Err(Errno::EAGAIN) => return 0,
            Err(err) => {
                // ICMP errors for earlier replies surface here on Linux; the queue is read on the next call.
                tracing::debug!(%err, "dhcp: receive error");
                return 0;
            }
        };
        let mut got = 0;
        for message in results {
            got += 1;
            for cmsg in message.cmsgs().into_iter().flatten() {
                if let ControlMessageOwned::RxqOvfl(total) = cmsg {
                    let seen = &mut self.overflow_seen[socket];
                    taken.overflowed += u64::from(total.wrapping_sub(*seen));
                    *seen = total;
                }
            }
            let (Some(from), Some(bytes)) = (message.address, message.iovs().next()) else {
                continue;
            };
            // A datagram cut to the buffer is not a DHCP message we could have read whole.
            if message.flags.contains(MsgFlags::MSG_TRUNC) {
                continue;
            }
            taken.datagrams += 1;
            each(Datagram { socket, from: SocketAddrV4::new(from.ip(), from.port()), bytes });
        }
        got
    }
}

#[cfg(test)]
#[path = "inbox_tests.rs"]
mod tests;
