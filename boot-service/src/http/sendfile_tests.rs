//! The sendfile path over raw sockets (clients that normalise or retry would hide what is tested):
//! Range edge cases, HEAD, conditional requests, kept-alive connections mixing router and file requests
//! (the iPXE script then its kernel), a file truncated while being sent, and request heads the fast path
//! must leave to hyper. `rackhand_http_sendfile_bytes` tells which path sent a file.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::tests::TestServer;
use crate::config::Enrolment;

const PATIENCE: Duration = Duration::from_secs(10);

/// The test image, `disk.img`: 10 000 bytes counting 0..=255 over and over.
fn disk() -> Vec<u8> {
    (0..=255u8).cycle().take(10_000).collect()
}

/// One response: status, head (header names in lowercase), body.
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| line.strip_prefix(&format!("{name}: ")))
    }
}

/// A raw connection: requests written as given, responses read by their `content-length`.
struct Raw(BufReader<TcpStream>);

impl Raw {
    async fn open(server: &TestServer) -> Raw {
        Raw(BufReader::new(TcpStream::connect(server.addr).await.unwrap()))
    }

    async fn send(&mut self, request: &str) {
        self.0.get_mut().write_all(request.as_bytes()).await.unwrap();
    }

    /// The next response; `head_only` for a response to HEAD (no body follows whatever its length).
    async fn response(&mut self, head_only: bool) -> Response {
        let read = async {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                assert!(self.0.read_line(&mut line).await.unwrap() > 0, "closed after {head:?}");
                if line == "\r\n" {
                    break;
                }
                // Names in lowercase, values as sent.
                let line = line.replace("\r\n", "\n");
                match line.split_once(':') {
                    Some((name, value)) => head.push_str(&format!("{}:{value}", name.to_ascii_lowercase())),
                    None => head.push_str(&line),
                }
            }
            let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
            let mut response = Response { status, head, body: Vec::new() };
            let length = response.header("content-length").map_or(0, |l| l.parse().unwrap());
            if !head_only {
                response.body = vec![0; length];
                self.0.read_exact(&mut response.body).await.unwrap();
            }
            response
        };
        tokio::time::timeout(PATIENCE, read).await.expect("a response within the patience")
    }

    async fn get(&mut self, target: &str, headers: &str) -> Response {
        self.send(&format!("GET {target} HTTP/1.1\r\nHost: rackhand\r\n{headers}\r\n")).await;
        self.response(false).await
    }

    /// Whether the server closes the connection (end of file, or a reset) within the patience.
    async fn closed(&mut self) -> bool {
        let mut sink = vec![0; 64 << 10];
        let until = async { while let Ok(1..) = self.0.read(&mut sink).await {} };
        tokio::time::timeout(PATIENCE, until).await.is_ok()
    }
}

/// `rackhand_http_sendfile_bytes_total` as `/metrics` shows it.
async fn sendfile_bytes(server: &TestServer) -> u64 {
    let text = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("rackhand_http_sendfile_bytes_total ")).expect("the counter");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn ranges_at_and_past_the_end_and_overflowing_numbers() {
    let server = TestServer::start(Enrolment::Auto).await;
    let image = disk();
    let mut raw = Raw::open(&server).await;
    // (Range, status, Content-Range, body) on one kept-alive connection.
    let satisfiable: [(&str, &str, std::ops::Range<usize>); 5] = [
        ("bytes=0-3", "bytes 0-3/10000", 0..4),
        ("bytes=9998-", "bytes 9998-9999/10000", 9998..10_000),
        ("bytes=-5", "bytes 9995-9999/10000", 9995..10_000),
        ("bytes=9990-20000", "bytes 9990-9999/10000", 9990..10_000),
        ("bytes=0-18446744073709551615", "bytes 0-9999/10000", 0..10_000),
    ];
    for (range, content_range, bytes) in satisfiable {
        let response = raw.get("/images/disk.img", &format!("Range: {range}\r\n")).await;
        assert_eq!(response.status, 206, "{range}: {}", response.head);
        assert_eq!(response.header("content-range"), Some(content_range), "{range}");
        assert!(response.body == image[bytes], "{range}: wrong bytes");
    }
    for range in [
        "bytes=10000-",
        "bytes=18446744073709551615-",
        "bytes=99999999999999999999999-",
        "bytes=0-99999999999999999999999",
        "bytes=-10001",
        "bytes=5-2",
        "bytes=0-1,5-6",
        "lines=0-1",
    ] {
        let response = raw.get("/images/disk.img", &format!("Range: {range}\r\n")).await;
        assert_eq!(response.status, 416, "{range}: {}", response.head);
        assert_eq!(response.header("content-range"), Some("bytes */10000"), "{range}");
    }
    let whole = raw.get("/images/disk.img", "").await;
    assert_eq!((whole.status, whole.body == image), (200, true), "after all that, the whole file");
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert!(sendfile_bytes(&server).await >= 10_000 + 4, "the files went by sendfile");
    let text = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("rackhand_http_requests_total{route=\"/images\",status=\"416\"} 8"), "{text}");
}

#[tokio::test]
async fn head_and_conditional_requests_send_no_body() {
    let server = TestServer::start(Enrolment::Auto).await;
    let mut raw = Raw::open(&server).await;
    raw.send("HEAD /images/disk.img HTTP/1.1\r\nHost: rackhand\r\n\r\n").await;
    let head = raw.response(true).await;
    assert_eq!((head.status, head.header("content-length")), (200, Some("10000")), "{}", head.head);
    let modified = head.header("last-modified").expect("last-modified").to_owned();
    raw.send("HEAD /images/..%2f..%2fconfig.toml HTTP/1.1\r\nHost: rackhand\r\n\r\n").await;
    assert_eq!(raw.response(true).await.status, 403);
    // Had a body followed either HEAD, this would read it as the next response.
    let not_modified = raw.get("/images/disk.img", &format!("If-Modified-Since: {modified}\r\n")).await;
    assert_eq!((not_modified.status, not_modified.body.len()), (304, 0), "{}", not_modified.head);
    let failed = raw.get("/images/disk.img", "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n").await;
    assert_eq!(failed.status, 412, "{}", failed.head);
    let missing = raw.get("/assets/no-such-kernel", "").await;
    assert_eq!((missing.status, missing.body.as_slice()), (404, &b"no such file\n"[..]));
    assert_eq!(raw.get("/images/disk.img", "").await.body, disk(), "the connection still works");
}

#[tokio::test]
async fn the_script_then_the_kernel_on_one_connection() {
    let server = TestServer::start(Enrolment::Auto).await;
    let kernel: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(server.config.boot.assets_dir.join("vmlinuz"), &kernel).unwrap();
    let before = sendfile_bytes(&server).await;
    server.dhcp_boot("52-54-00-00-00-09", std::net::Ipv4Addr::LOCALHOST);
    let mut raw = Raw::open(&server).await;
    let script = raw.get("/boot/52-54-00-00-00-09.ipxe", "").await;
    assert_eq!(script.status, 200, "{}", script.head);
    assert!(String::from_utf8_lossy(&script.body).starts_with("#!ipxe"), "the script");
    assert!(raw.get("/assets/vmlinuz", "").await.body == kernel, "the kernel after the script");
    // A range across several sendfile calls (each moves at most 256 KiB), from an odd offset.
    let part = raw.get("/assets/vmlinuz", "Range: bytes=1000001-2999998\r\n").await;
    assert_eq!(part.status, 206, "{}", part.head);
    assert!(part.body == kernel[1_000_001..2_999_999], "the range's bytes, in place");
    // A request with a body through the router, then a file, written at once (pipelined).
    raw.send("POST /api/v1/nodes HTTP/1.1\r\nHost: rackhand\r\nContent-Length: 2\r\n\r\n{}").await;
    raw.send("GET /assets/vmlinuz HTTP/1.1\r\nHost: rackhand\r\n\r\n").await;
    assert_eq!(raw.response(false).await.status, 401, "the API wants its token");
    assert!(raw.response(false).await.body == kernel, "the kernel after a request with a body");
    let ranged = 2_999_999 - 1_000_001;
    assert_eq!(sendfile_bytes(&server).await - before, 2 * kernel.len() as u64 + ranged, "all by sendfile");
    raw.send("GET /healthz HTTP/1.1\r\nHost: rackhand\r\nConnection: close\r\n\r\n").await;
    assert_eq!(raw.response(false).await.body, b"ok\n");
    assert!(raw.closed().await, "Connection: close through the router closes");
}

#[tokio::test]
async fn heads_the_fast_path_leaves_to_hyper_are_answered_and_do_not_panic() {
    let server = TestServer::start(Enrolment::Auto).await;
    for request in [
        "GET /images/disk.img HTTP/1.1\r\nHost: rackhand\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "GET /images/disk.img HTTP/1.1\r\nHost: rackhand\r\nContent-Length: 18446744073709551615\r\n\r\n",
        "GET /images/disk.img HTTP/1.1\r\nHost: rackhand\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET /images/\x01disk.img HTTP/1.1\r\nHost: rackhand\r\n\r\n",
        "GET /images/%ff HTTP/1.1\r\nHost: rackhand\r\n\r\n",
    ] {
        let mut raw = Raw::open(&server).await;
        raw.send(request).await;
        let response = raw.response(false).await;
        assert!((400..500).contains(&response.status), "{request:?}: {}", response.head);
    }
    // Chunked to the router, then a file on the same connection (hyper keeps it to the end).
    let mut raw = Raw::open(&server).await;
    raw.send("POST /api/v1/nodes HTTP/1.1\r\nHost: rackhand\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        .await;
    assert_eq!(raw.response(false).await.status, 401);
    assert_eq!(raw.get("/images/disk.img", "").await.body, disk());
}

#[tokio::test]
async fn a_file_truncated_while_being_sent_closes_the_connection() {
    let server = TestServer::start(Enrolment::Auto).await;
    let path = server.config.boot.images_dir.join("shrinking.img");
    std::fs::write(&path, vec![7u8; 64 << 20]).unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    stream.write_all(b"GET /images/shrinking.img HTTP/1.1\r\nHost: rackhand\r\n\r\n").await.unwrap();
    let mut received = vec![0; 1 << 20];
    stream.read_exact(&mut received).await.unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(2 << 20).unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection hung after the file shrank");
    assert!(received.len() + rest.len() < 64 << 20, "more bytes than the file has now");
    let health = server.client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the service still answers");
}
