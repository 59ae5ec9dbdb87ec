//! Which requests the file fast path ([`sendfile`](super::sendfile)) serves itself, decided from the parsed
//! request head alone: GET or HEAD of `/assets/…` or `/images/…` without a body and with only the
//! conditions it implements (Range, If-Modified-Since, If-Unmodified-Since). Everything else goes to hyper
//! and the router unchanged, with the length of its body so the connection can be taken back afterwards.

use axum::http::Uri;
use httpdate::HttpDate;
use percent_encoding::percent_decode_str;

/// One of the two file trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    Assets,
    Images,
}

impl Tree {
    /// The route label of the request counter (as `count_requests` labels the router's file routes).
    pub fn route(self) -> &'static str {
        match self {
            Self::Assets => "/assets",
            Self::Images => "/images",
        }
    }
}

/// A file request the fast path serves.
#[derive(Debug, PartialEq, Eq)]
pub struct FileRequest {
    pub tree: Tree,
    /// The path under the tree, percent-decoded (as axum's `Path` extractor gives it to the router).
    pub path: String,
    pub head_only: bool,
    /// The first `Range` header, as sent.
    pub range: Option<String>,
    pub if_modified_since: Option<HttpDate>,
    pub if_unmodified_since: Option<HttpDate>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    File(FileRequest),
    /// To the router; `Some(n)`: the request is its head and `n` body bytes, after which the connection
    /// comes back. `None`: the body's end is unknown (chunked, conflicting lengths, an upgrade): hyper keeps
    /// the connection to its end.
    Router(Option<u64>),
}

/// Decide where the parsed request `head` goes.
pub fn route(head: &httparse::Request<'_, '_>) -> Route {
    let body = body_length(head.headers);
    let (Some(method), Some(target), Some(version)) = (head.method, head.path, head.version) else {
        return Route::Router(None);
    };
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Route::Router(body),
    };
    if body != Some(0) || has(head.headers, "if-range") || has(head.headers, "if-match") {
        return Route::Router(body);
    }
    let Some((tree, path)) = file_path(target) else { return Route::Router(body) };
    let keep_alive = keep_alive(head.headers, version);
    let date = |name| first(head.headers, name).and_then(|v| v.parse::<HttpDate>().ok());
    Route::File(FileRequest {
        tree,
        path,
        head_only,
        range: first(head.headers, "range").map(str::to_owned),
        if_modified_since: date("if-modified-since"),
        if_unmodified_since: date("if-unmodified-since"),
        keep_alive,
    })
}

/// Whether the connection stays open after the response: HTTP/1.1 unless `Connection: close`. HTTP/1.0
/// clients get one response (the fast path says `connection: close`; hyper answers them as it does).
pub fn keep_alive(headers: &[httparse::Header<'_>], version: u8) -> bool {
    let connection = first(headers, "connection").unwrap_or_default();
    version >= 1 && !connection.split(',').any(|token| token.trim().eq_ignore_ascii_case("close"))
}

/// The tree and decoded path a request target names, if it is one of the file routes in origin form
/// that hyper would accept and axum decode (else the router answers: 400, 404).
fn file_path(target: &str) -> Option<(Tree, String)> {
    if !target.starts_with('/') {
        return None;
    }
    let uri: Uri = target.parse().ok()?;
    let path = uri.path();
    let (tree, tail) = if let Some(tail) = path.strip_prefix("/assets/") {
        (Tree::Assets, tail)
    } else {
        (Tree::Images, path.strip_prefix("/images/")?)
    };
    if tail.is_empty() {
        return None;
    }
    let decoded = percent_decode_str(tail).decode_utf8().ok()?;
    Some((tree, decoded.into_owned()))
}

/// The request body's length by its framing: none is 0; one valid `Content-Length` is it; anything else
/// (chunked, several or invalid lengths, an upgrade) is unknown.
fn body_length(headers: &[httparse::Header<'_>]) -> Option<u64> {
    if has(headers, "transfer-encoding") || has(headers, "upgrade") {
        return None;
    }
    let mut lengths = headers.iter().filter(|h| h.name.eq_ignore_ascii_case("content-length"));
    match (lengths.next(), lengths.next()) {
        (None, _) => Some(0),
        (Some(one), None) => {
            let text = std::str::from_utf8(one.value).ok()?;
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse().ok()
        }
        (Some(_), Some(_)) => None,
    }
}

fn has(headers: &[httparse::Header<'_>], name: &str) -> bool {
    headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
}

/// The first header `name`, if its value is text (others are ignored, as tower-http does).
fn first<'h>(headers: &[httparse::Header<'h>], name: &str) -> Option<&'h str> {
    let header = headers.iter().find(|h| h.name.eq_ignore_ascii_case(name))?;
    std::str::from_utf8(header.value).ok().map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(head: &str) -> Route {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        assert!(request.parse(head.as_bytes()).unwrap().is_complete(), "{head:?}");
        route(&request)
    }

    fn file(head: &str) -> FileRequest {
        match route_of(head) {
            Route::File(file) => file,
            Route::Router(body) => panic!("{head:?} went to the router ({body:?})"),
        }
    }

    #[test]
    fn file_routes_are_decoded_and_everything_else_goes_to_the_router() {
        let request = file("GET /images/a%2e%2e/b%20c?x=1 HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n");
        assert_eq!((request.tree, request.path.as_str(), request.head_only), (Tree::Images, "a../b c", false));
        assert_eq!((request.range.as_deref(), request.keep_alive), (Some("bytes=0-1"), true));
        let request = file("HEAD /assets/%2e%2e%2fx HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n");
        assert_eq!((request.tree, request.path.as_str(), request.head_only), (Tree::Assets, "../x", true));
        assert!(!request.keep_alive, "Connection: close");
        assert!(!file("GET /assets/x HTTP/1.0\r\n\r\n").keep_alive, "HTTP/1.0 closes");

        for (head, body) in [
            ("GET /boot/x.ipxe HTTP/1.1\r\n\r\n", Some(0)),
            ("GET /assets/ HTTP/1.1\r\n\r\n", Some(0)),
            ("GET /assetsx/y HTTP/1.1\r\n\r\n", Some(0)),
            ("GET http://h/assets/y HTTP/1.1\r\n\r\n", Some(0)),
            ("GET /assets/%ff HTTP/1.1\r\n\r\n", Some(0)),
            ("POST /assets/x HTTP/1.1\r\nContent-Length: 7\r\n\r\n", Some(7)),
            ("GET /assets/x HTTP/1.1\r\nContent-Length: 3\r\n\r\n", Some(3)),
            ("GET /assets/x HTTP/1.1\r\nIf-Range: x\r\n\r\n", Some(0)),
            ("POST /api HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", None),
            ("POST /api HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n", None),
            ("POST /api HTTP/1.1\r\nContent-Length: +1\r\n\r\n", None),
            ("POST /api HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", None),
            ("GET /assets/x HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", None),
        ] {
            assert_eq!(route_of(head), Route::Router(body), "{head:?}");
        }
    }
}
