use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::{Inbox, RECEIVE_BUFFER, Wait};

fn bound() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap()
}

fn inbox(sockets: Vec<UdpSocket>) -> (Inbox, UnixStream) {
    inbox_buffered(sockets, RECEIVE_BUFFER)
}

fn inbox_buffered(sockets: Vec<UdpSocket>, buffer: usize) -> (Inbox, UnixStream) {
    let (stop_tx, stop_rx) = UnixStream::pair().unwrap();
    (Inbox::new(sockets, stop_rx, buffer).unwrap(), stop_tx)
}

/// Every datagram taken: (socket, sender, bytes).
fn take_all(inbox: &mut Inbox, max: usize) -> (Vec<(usize, SocketAddr, Vec<u8>)>, u64) {
    let mut seen = Vec::new();
    let taken = inbox.take(max, |d| seen.push((d.socket, SocketAddr::V4(d.from), d.bytes.to_vec())));
    assert_eq!(taken.datagrams, seen.len());
    (seen, taken.overflowed)
}

#[test]
fn datagrams_from_every_socket_are_taken_in_arrival_order_with_their_sender() {
    let (a, b) = (bound(), bound());
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let (mut inbox, _stop) = inbox(vec![a, b]);
    let client = bound();
    for i in 0..3u8 {
        client.send_to(&[b'a', i], a_addr).unwrap();
    }
    client.send_to(b"b0", b_addr).unwrap();

    assert_eq!(inbox.wait(Duration::from_secs(5)), Wait::Ready);
    let (seen, overflowed) = take_all(&mut inbox, 256);
    let from = client.local_addr().unwrap();
    let mut expected = vec![(0, from, vec![b'a', 0]), (0, from, vec![b'a', 1]), (0, from, vec![b'a', 2])];
    expected.push((1, from, b"b0".to_vec()));
    assert_eq!(seen, expected);
    assert_eq!(overflowed, 0);
    assert_eq!(inbox.wait(Duration::from_millis(50)), Wait::Idle, "everything was taken");
}

#[test]
fn a_take_stops_at_its_maximum_and_the_rest_waits_for_the_next() {
    let socket = bound();
    let addr = socket.local_addr().unwrap();
    let (mut inbox, _stop) = inbox(vec![socket]);
    let client = bound();
    for i in 0..100u8 {
        client.send_to(&[i], addr).unwrap();
    }
    assert_eq!(inbox.wait(Duration::from_secs(5)), Wait::Ready);
    let (first, _) = take_all(&mut inbox, 40);
    assert_eq!(first.len(), 40);
    let (rest, _) = take_all(&mut inbox, 256);
    let order: Vec<u8> = first.iter().chain(&rest).map(|(_, _, bytes)| bytes[0]).collect();
    assert_eq!(order, (0..100).collect::<Vec<u8>>());
}

#[test]
fn the_receive_buffer_is_what_was_asked_within_the_systems_limit() {
    let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max").unwrap().trim().parse().unwrap();
    let socket = bound();
    let probe = socket.try_clone().unwrap();
    let _inbox = inbox(vec![socket]);
    let granted = socket2::SockRef::from(&probe).recv_buffer_size().unwrap() / 2;
    assert_eq!(granted, RECEIVE_BUFFER.min(rmem_max));
}

#[test]
fn dropping_the_stop_signal_ends_the_wait_and_nothing_arriving_is_idle() {
    let (inbox, stop) = inbox(vec![bound()]);
    assert_eq!(inbox.wait(Duration::from_millis(20)), Wait::Idle);
    drop(stop);
    assert_eq!(inbox.wait(Duration::from_secs(5)), Wait::Stopped);
}

#[test]
fn datagrams_the_kernel_dropped_for_a_full_buffer_are_counted_with_the_next_one_read() {
    let socket = bound();
    let addr = socket.local_addr().unwrap();
    let (mut inbox, _stop) = inbox_buffered(vec![socket], 4096);
    let client = bound();
    const SENT: usize = 500;
    for _ in 0..SENT {
        client.send_to(&[7; 300], addr).unwrap();
    }
    let (queued, _) = take_all(&mut inbox, SENT);
    assert!(!queued.is_empty() && queued.len() < SENT, "the buffer held {} of {SENT}", queued.len());

    // The kernel tells the drops with the datagrams queued after them.
    client.send_to(b"after", addr).unwrap();
    assert_eq!(inbox.wait(Duration::from_secs(5)), Wait::Ready);
    let (after, overflowed) = take_all(&mut inbox, 256);
    assert_eq!(after.len(), 1);
    assert_eq!(overflowed, (SENT - queued.len()) as u64);
}
