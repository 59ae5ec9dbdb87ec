//! What iPXE does over HTTP after DHCP, for the boot storm: fetch the script DHCP named, from the
//! address DHCP gave (the boot service serves a node's script only there), then each file its `kernel`
//! and `initrd` lines name, one connection per file, as iPXE does. Bodies are counted, not copied: a
//! `recv` with `MSG_TRUNC` makes the kernel discard a TCP socket's data without copying it to user
//! space, so that 10 000 simulated clients (80 GB at N = 10 000) cost the client side little CPU and
//! no memory, and the servers, not the client, decide the storm's time. Must run inside the client
//! namespace (threads spawned there inherit it).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::socket::MsgFlags;
use rackhand_bench::parse::script_files;
use socket2::{Domain, Protocol, Socket, Type};

/// Largest response head read.
const MAX_HEAD: usize = 16 << 10;
/// Largest body kept (a script); anything longer is counted and discarded.
const MAX_KEPT: usize = 64 << 10;
/// How much one `recv(MSG_TRUNC)` may discard; never written, so it costs no memory.
const DISCARD: usize = 1 << 20;

/// The script at `script_url` and every file it names, fetched from `source`; the files' sizes.
pub fn boot(source: Ipv4Addr, script_url: &str) -> anyhow::Result<Vec<(String, u64)>> {
    let mut discard: Vec<u8> = Vec::with_capacity(DISCARD);
    let (_, script) = get(source, script_url, MAX_KEPT, &mut discard)?;
    let script = String::from_utf8_lossy(&script);
    let files = script_files(&script);
    if files.is_empty() {
        bail!("{script_url}: the script names no kernel or initrd:\n{script}");
    }
    files
        .into_iter()
        .map(|url| {
            let (len, _) = get(source, &url, 0, &mut discard)?;
            Ok((url, len))
        })
        .collect()
}

/// `GET url` (HTTP/1.0: the server ends the body by closing) from a socket bound to `source`; fails
/// unless 200 and, when the server sent a `Content-Length`, that many bytes. The body's length and
/// its first `keep` bytes.
fn get(source: Ipv4Addr, url: &str, keep: usize, discard: &mut Vec<u8>) -> anyhow::Result<(u64, Vec<u8>)> {
    let rest = url.strip_prefix("http://").with_context(|| format!("{url}: not an http:// URL"))?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let server: SocketAddr = if host.contains(':') { host.parse()? } else { format!("{host}:80").parse()? };
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).context("HTTP client socket")?;
    socket.bind(&SocketAddr::from((source, 0)).into()).with_context(|| format!("binding {source}"))?;
    socket.connect_timeout(&server.into(), Duration::from_secs(60)).with_context(|| format!("{url}: connecting"))?;
    socket.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut stream: TcpStream = socket.try_clone()?.into();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: iPXE/1.21.1\r\n\r\n")
        .with_context(|| format!("GET {url}"))?;

    let mut head = Vec::with_capacity(4096);
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = std::io::Read::read(&mut stream, &mut buf).with_context(|| format!("{url}: reading the head"))?;
        if n == 0 {
            bail!("{url}: the connection closed before the response head ended");
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > MAX_HEAD {
            bail!("{url}: response head over {MAX_HEAD} bytes");
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(&head[..head_end]).with_context(|| format!("{url}: reading the response head"))?;
    let status = response.code.unwrap_or(0);
    let length: Option<u64> = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
    let mut kept = head.split_off(head_end);
    let mut total = kept.len() as u64;
    kept.truncate(keep);
    // The rest of the body: what is to be kept read normally, the remainder discarded by the kernel.
    loop {
        if kept.len() < keep {
            let n = std::io::Read::read(&mut stream, &mut buf).with_context(|| format!("{url}: reading the body"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            let room = keep - kept.len();
            kept.extend_from_slice(&buf[..n.min(room)]);
            continue;
        }
        let n = socket
            .recv_with_flags(discard.spare_capacity_mut(), MsgFlags::MSG_TRUNC.bits())
            .with_context(|| format!("{url}: reading the body"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    if status != 200 {
        bail!("GET {url} from {source}: HTTP {status}: {}", String::from_utf8_lossy(&kept));
    }
    if let Some(length) = length.filter(|l| *l != total) {
        bail!("GET {url} from {source}: {total} bytes of {length}");
    }
    Ok((total, kept))
}
