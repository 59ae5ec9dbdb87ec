//! The connection limits of `[http]`, over raw sockets against a server configured with short timeouts:
//! silent and slow clients are closed, a transfer that keeps moving is not, and the cap holds new
//! connections back until a slot frees.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tests::TestServer;
use super::wire_tests::raw_get;
use crate::config::Enrolment;

/// How long any test here waits for the server to do what it should; far above the configured limits.
const PATIENCE: Duration = Duration::from_secs(10);
const IMAGE_LEN: usize = 16 << 20;

async fn server(change: impl FnOnce(&mut crate::config::HttpConfig)) -> TestServer {
    TestServer::start_configured(Enrolment::Auto, |config| config, |config| change(&mut config.http)).await
}

/// Whether the server closed `stream` (end of file or reset) within [`PATIENCE`], discarding what it sent.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut sink = vec![0; 64 << 10];
    let until_closed = async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, until_closed).await.is_ok()
}

/// A connection with a small receive buffer, so the server's writes wait on the test's reads.
async fn slow_reader(server: &TestServer) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let request = "GET /images/big.img HTTP/1.1\r\nHost: rackhand\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

fn big_image(server: &TestServer) -> Vec<u8> {
    let image: Vec<u8> = (0..IMAGE_LEN).map(|i| u8::try_from(i % 251).unwrap()).collect();
    std::fs::write(server.config.boot.images_dir.join("big.img"), &image).unwrap();
    image
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let server = server(|http| http.header_read_timeout = Duration::from_millis(500)).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_by_server(&mut silent).await, "a silent connection stayed open");

    // The same between requests: a kept-alive connection is closed once it stops asking.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: rackhand\r\n\r\n").await.unwrap();
    let mut first = [0; 12];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(closed_by_server(&mut kept).await, "an idle kept-alive connection stayed open");
}

#[tokio::test]
async fn headers_that_trickle_in_are_cut_at_the_header_read_timeout() {
    let server = server(|http| http.header_read_timeout = Duration::from_secs(1)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    // A header line every 100 ms keeps bytes moving, but the head never ends.
    let trickle = async {
        for n in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream.write_all(format!("X-{n}: y\r\n").as_bytes()).await.is_err() {
                return;
            }
            let mut byte = [0; 1];
            if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::ZERO, stream.read(&mut byte)).await {
                return;
            }
        }
    };
    assert!(tokio::time::timeout(PATIENCE, trickle).await.is_ok(), "a head that never ends stayed open");
}

#[tokio::test]
async fn a_download_that_stalls_is_closed_after_the_idle_timeout() {
    let server = server(|http| http.idle_timeout = Duration::from_secs(1)).await;
    big_image(&server);
    let mut stream = slow_reader(&server).await;
    // Read nothing for three idle timeouts: the server's writes wait and no byte moves.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the stalled download was not closed");
    assert!(received.len() < IMAGE_LEN, "the whole image arrived: the stalled connection was not cut");
}

#[tokio::test]
async fn a_download_that_keeps_moving_outlasts_the_idle_timeout() {
    let server = server(|http| http.idle_timeout = Duration::from_secs(1)).await;
    let image = big_image(&server);
    let mut stream = slow_reader(&server).await;
    let started = std::time::Instant::now();
    let mut received = Vec::new();
    let mut chunk = vec![0; 64 << 10];
    loop {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await.expect("bytes keep coming").unwrap();
        if n == 0 {
            break;
        }
        let before = received.len() >> 20;
        received.extend_from_slice(&chunk[..n]);
        // A pause after every MiB: well under the idle timeout each, several of it in all.
        if received.len() >> 20 > before {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let body = received.windows(4).position(|w| w == b"\r\n\r\n").map(|at| &received[at + 4..]).unwrap_or_default();
    assert_eq!(body.len(), image.len(), "the download was cut");
    assert!(body == image.as_slice(), "the image arrived changed");
    assert!(started.elapsed() > Duration::from_secs(2), "the download must outlast the idle timeout to test it");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let server = server(|http| http.max_connections = 1).await;
    let holder = TcpStream::connect(server.addr).await.unwrap();
    // Make sure the holder is accepted (the listener takes connections in order) before the next comes.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let waiting = tokio::spawn(raw_get(server.addr, "/healthz"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a connection beyond the cap was served while the slot was held");
    drop(holder);
    let response = tokio::time::timeout(PATIENCE, waiting).await.expect("served once the slot freed").unwrap();
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("ok\n"), "{response}");
}
