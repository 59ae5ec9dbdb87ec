//! The image GET, read straight from the socket into the caller's buffer.
//!
//! Written by hand because every maintained HTTP client copies the body through a buffer of its own
//! (ureq through its input buffer, hyper through `Bytes`): for a multi-GiB image that copy was ~8% of the
//! install's CPU, as much as a third of the BLAKE3 verification. This is one plain-HTTP/1.1 `GET` with an
//! optional `Range`, `Connection: close`, the head parsed by `httparse`; the body is delimited by
//! `Content-Length` or by the connection closing. Manifest and outboard still go through ureq.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use ureq::http::Uri;

/// Longest response head accepted.
const HEAD_LIMIT: usize = 16 << 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A read that waits longer than this is a dead link (the same patience as the ureq agent's).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A response whose body has not been read yet.
pub(super) struct RawResponse {
    pub status: u16,
    /// `Content-Length`, if the server sent one.
    pub length: Option<u64>,
    pub body: RawBody,
}

/// The body: what came with the head, then the socket, up to `Content-Length` if there is one.
pub(super) struct RawBody {
    early: Vec<u8>,
    early_at: usize,
    stream: TcpStream,
    remaining: Option<u64>,
}

impl Read for RawBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let limit = self.remaining.map_or(buf.len(), |r| buf.len().min(r.try_into().unwrap_or(usize::MAX)));
        if limit == 0 {
            return Ok(0);
        }
        let n = if self.early_at < self.early.len() {
            let n = limit.min(self.early.len() - self.early_at);
            buf[..n].copy_from_slice(&self.early[self.early_at..self.early_at + n]);
            self.early_at += n;
            n
        } else {
            let n = self.stream.read(&mut buf[..limit])?;
            if n == 0 && self.remaining.is_some() {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection early"));
            }
            n
        };
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining -= n as u64;
        }
        Ok(n)
    }
}

/// `GET url`, from byte `offset` on when it is not 0. Errors are connection-level, as text.
pub(super) fn get(url: &str, offset: u64) -> Result<RawResponse, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only plain http:// is supported (the image is verified against the signed manifest)".into());
    }
    let host = uri.host().ok_or("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut stream = connect(host, port)?;
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let range = if offset > 0 { format!("Range: bytes={offset}-\r\n") } else { String::new() };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: rackhand-installer\r\n{range}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| format!("sending the request: {e}"))?;

    let mut head = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let (status, length, head_len) = loop {
        let n = stream.read(&mut chunk).map_err(|e| format!("reading the response head: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection before the response head".into());
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(parsed) = parse_head(&head)? {
            break parsed;
        }
        if head.len() > HEAD_LIMIT {
            return Err(format!("response head longer than {HEAD_LIMIT} bytes"));
        }
    };
    let early = head.split_off(head_len);
    Ok(RawResponse { status, length, body: RawBody { early, early_at: 0, stream, remaining: length } })
}

fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let addrs = (host, port).to_socket_addrs().map_err(|e| format!("resolving {host}: {e}"))?;
    let mut last = format!("{host} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                stream.set_read_timeout(Some(READ_TIMEOUT)).map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                return Ok(stream);
            }
            Err(e) => last = format!("connecting to {addr}: {e}"),
        }
    }
    Err(last)
}

/// `Some((status, content_length, head_len))` once `head` holds a whole response head.
fn parse_head(head: &[u8]) -> Result<Option<(u16, Option<u64>, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(head) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("malformed response head: {e}")),
    };
    let status = response.code.ok_or("response head without a status")?;
    let mut length = None;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).map_err(|_| format!("header {} is not text", header.name))?;
        if header.name.eq_ignore_ascii_case("content-length") {
            length =
                Some(value.trim().parse::<u64>().map_err(|_| format!("Content-Length `{value}` is not a number"))?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding")
            && !value.trim().eq_ignore_ascii_case("identity")
        {
            return Err(format!("Transfer-Encoding `{value}` for an image (serve it with a Content-Length)"));
        }
    }
    Ok(Some((status, length, head_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_once_complete() {
        let head = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 42\r\nContent-Range: bytes 8-49/50\r\n\r\nbody";
        assert_eq!(parse_head(&head[..20]).unwrap(), None);
        assert_eq!(parse_head(head).unwrap(), Some((206, Some(42), head.len() - 4)));
        assert_eq!(parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap(), Some((200, None, 19)));
    }

    #[test]
    fn bad_heads_say_what_is_wrong() {
        let chunked = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err();
        assert!(chunked.contains("Transfer-Encoding `chunked`"), "{chunked}");
        let length = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n").unwrap_err();
        assert!(length.contains("Content-Length `lots`"), "{length}");
        assert!(parse_head(b"SMTP ready\r\n\r\n").unwrap_err().starts_with("malformed response head"));
    }

    #[test]
    fn only_plain_http_urls_are_fetched() {
        assert!(get("https://10.0.0.1/images/x/image", 0).err().unwrap().contains("only plain http://"));
        assert!(get("not a url", 0).is_err());
    }
}
