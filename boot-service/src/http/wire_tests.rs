//! Paths as an attacker sends them: raw requests over a TCP socket (HTTP clients normalise `../` before
//! sending, so they cannot test this), and links planted in the served roots. A secret beside the roots
//! must never come back.

use std::net::SocketAddr;
use std::os::unix::fs::symlink;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::tests::TestServer;
use crate::config::Enrolment;

const SECRET: &str = "admin_token = \"secret-beside-the-roots\"";

/// `GET target` exactly as written, then everything the server sends until it closes.
pub(super) async fn raw_get(addr: SocketAddr, target: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: rackhand\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers and closes within 10 s")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// The status code of a raw response.
fn status(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("{response:?}"))
}

/// A server with a secret `config.toml` in its data dir, beside `assets/` and `images/`, and a secret
/// directory `outside/`.
async fn server_with_secret() -> TestServer {
    let server = TestServer::start(Enrolment::Auto).await;
    let data = &server.config.data_dir;
    std::fs::write(data.join("config.toml"), SECRET).unwrap();
    std::fs::create_dir_all(data.join("outside")).unwrap();
    std::fs::write(data.join("outside/config.toml"), SECRET).unwrap();
    std::fs::write(server.config.boot.assets_dir.join("vmlinuz"), "kernel").unwrap();
    server
}

#[tokio::test]
async fn raw_traversal_is_refused() {
    let server = server_with_secret().await;
    let served = raw_get(server.addr, "/assets/vmlinuz").await;
    assert_eq!((status(&served), served.ends_with("kernel")), (200, true), "the raw client works: {served}");

    for prefix in ["/assets", "/images"] {
        for path in
            ["../config.toml", "..%2fconfig.toml", "%2e%2e/config.toml", "%2E%2E%2Fconfig.toml", "x/../../config.toml"]
        {
            let response = raw_get(server.addr, &format!("{prefix}/{path}")).await;
            assert_eq!(status(&response), 403, "{prefix}/{path}: {response}");
            assert!(!response.contains("secret-beside-the-roots"), "{prefix}/{path} served the secret");
        }
        for path in ["/%2e%2e/config.toml", "..\\config.toml", "%00../config.toml"] {
            let response = raw_get(server.addr, &format!("{prefix}/{path}")).await;
            assert!([400, 403, 404].contains(&status(&response)), "{prefix}/{path}: {response}");
            assert!(!response.contains("secret-beside-the-roots"), "{prefix}/{path} served the secret");
        }
    }
}

#[tokio::test]
async fn links_planted_in_the_roots_are_refused_and_links_inside_followed() {
    let server = server_with_secret().await;
    let data = server.config.data_dir.clone();
    for root in [&server.config.boot.assets_dir, &server.config.boot.images_dir] {
        symlink(data.join("config.toml"), root.join("absolute")).unwrap();
        symlink("../config.toml", root.join("relative")).unwrap();
        symlink(data.join("outside"), root.join("linked-dir")).unwrap();
    }
    symlink("disk.img", server.config.boot.images_dir.join("latest.img")).unwrap();

    for prefix in ["/assets", "/images"] {
        for path in ["absolute", "relative", "linked-dir/config.toml", "linked-dir/../config.toml"] {
            let response = raw_get(server.addr, &format!("{prefix}/{path}")).await;
            assert_eq!(status(&response), 403, "{prefix}/{path}: {response}");
            assert!(!response.contains("secret-beside-the-roots"), "{prefix}/{path} served the secret");
        }
    }
    let inside = server.client.get(server.url("/images/latest.img")).header("range", "bytes=0-3").send().await.unwrap();
    assert_eq!(inside.status(), reqwest::StatusCode::PARTIAL_CONTENT);
    assert_eq!(inside.bytes().await.unwrap().as_ref(), [0, 1, 2, 3], "a link inside the root is served, with Range");
}

#[tokio::test]
async fn the_dashboard_sends_its_security_headers() {
    let server = TestServer::start(Enrolment::Auto).await;
    for (path, code) in [("/", 200), ("/nodes/99", 404)] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), code, "{path}");
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        let csp = header("content-security-policy").unwrap_or_default();
        for directive in ["default-src 'none'", "frame-ancestors 'none'"] {
            assert!(csp.split(';').any(|d| d.trim() == directive), "{path}: `{directive}` missing from `{csp}`");
        }
        assert!(!csp.contains("script-src"), "{path}: the pages need no script: {csp}");
    }
}
