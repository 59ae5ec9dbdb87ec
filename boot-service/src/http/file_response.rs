//! The response to a file request, decided from the request and the file's length and modification time
//! alone, as tower-http's `ServeFile` (which served these routes before) decides it: 412 and 304 from the
//! dates, then Range by `http-range-header` (one range: 206; several: 416, no multipart; unsatisfiable or
//! malformed past the end: 416 with `Content-Range: bytes */len`), else the whole file.

use std::fmt::Write as _;
use std::ops::Range;
use std::time::SystemTime;

use httpdate::HttpDate;

use super::file_request::FileRequest;
use crate::served_root::PathError;

/// What to send: a status, its extra headers, and either the file's `bytes` or a short text `body`.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub status: u16,
    /// The bytes of the file to send (`None`: `body` instead).
    pub bytes: Option<Range<u64>>,
    pub body: &'static str,
    pub content_range: Option<String>,
}

impl Plan {
    fn text(status: u16, body: &'static str) -> Self {
        Self { status, bytes: None, body, content_range: None }
    }

    /// A path that cannot be served: 403 when it leaves the served root (logged: somebody tried), else
    /// 404. The router's `files.rs` answers with the same status and text.
    pub fn refused(err: &PathError, path: &str) -> Self {
        if *err == PathError::Outside {
            tracing::warn!(path, "refused: the path leaves the served root");
        }
        match err {
            PathError::Outside => Self::text(403, "path leaves the served root\n"),
            PathError::NotFound => Self::text(404, "no such file\n"),
        }
    }
}

/// The response to `request` for a file of `len` bytes last modified at `modified`.
pub fn plan(request: &FileRequest, len: u64, modified: Option<SystemTime>) -> Plan {
    let modified = modified.map(HttpDate::from);
    if let Some(since) = request.if_unmodified_since {
        // No modification time: the precondition fails, as in tower-http.
        if modified.is_none_or(|modified| since < modified) {
            return Plan::text(412, "");
        }
    }
    if let (Some(since), Some(modified)) = (request.if_modified_since, modified)
        && since >= modified
    {
        return Plan::text(304, "");
    }
    let Some(range) = &request.range else {
        return Plan { status: 200, bytes: Some(0..len), body: "", content_range: None };
    };
    let unsatisfiable = |body| Plan { content_range: Some(format!("bytes */{len}")), ..Plan::text(416, body) };
    let ranges = http_range_header::parse_range_header(range).and_then(|parsed| parsed.validate(len));
    match ranges.as_deref() {
        Ok([one]) => {
            let (start, end) = (*one.start(), *one.end());
            // `validate` keeps `start <= end < len`, so `end + 1` cannot overflow.
            let bytes = if len == 0 { 0..0 } else { start..end.saturating_add(1) };
            Plan {
                status: 206,
                bytes: Some(bytes),
                body: "",
                content_range: Some(format!("bytes {start}-{end}/{len}")),
            }
        }
        Ok([]) => unsatisfiable("No range found after parsing range header, please file an issue"),
        Ok(_) => unsatisfiable("Cannot serve multipart range requests"),
        Err(_) => unsatisfiable(""),
    }
}

/// The text of a status line's reason.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        304 => "Not Modified",
        403 => "Forbidden",
        404 => "Not Found",
        412 => "Precondition Failed",
        416 => "Range Not Satisfiable",
        _ => "Internal Server Error",
    }
}

/// A response head. `content_type`, `last_modified` and `accept-ranges` only for a served file (`file`);
/// `length`: the body's length (also for HEAD), none for 304.
pub fn head(plan: &Plan, file: Option<(&str, Option<SystemTime>)>, keep_alive: bool) -> String {
    let mut head = format!("HTTP/1.1 {} {}\r\n", plan.status, reason(plan.status));
    let mut line = |name: &str, value: &dyn std::fmt::Display| {
        let _ = write!(head, "{name}: {value}\r\n");
    };
    match file {
        Some((content_type, modified)) => {
            line("content-type", &content_type);
            line("accept-ranges", &"bytes");
            if let Some(modified) = modified {
                line("last-modified", &HttpDate::from(modified));
            }
        }
        None if !plan.body.is_empty() => line("content-type", &"text/plain; charset=utf-8"),
        None => {}
    }
    if let Some(range) = &plan.content_range {
        line("content-range", range);
    }
    let length = plan.bytes.as_ref().map_or(plan.body.len() as u64, |bytes| bytes.end - bytes.start);
    if plan.status != 304 {
        line("content-length", &length);
    }
    if !keep_alive {
        line("connection", &"close");
    }
    line("date", &HttpDate::from(SystemTime::now()));
    head.push_str("\r\n");
    head
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::http::file_request::Tree;

    fn request(range: Option<&str>, since: Option<u64>, unmodified_since: Option<u64>) -> FileRequest {
        let date = |secs: u64| HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs));
        FileRequest {
            tree: Tree::Images,
            path: "x".into(),
            head_only: false,
            range: range.map(str::to_owned),
            if_modified_since: since.map(date),
            if_unmodified_since: unmodified_since.map(date),
            keep_alive: true,
        }
    }

    #[test]
    fn dates_then_ranges_decide_the_status() {
        let modified = Some(UNIX_EPOCH + Duration::from_secs(1000));
        let status = |r: FileRequest, modified| plan(&r, 100, modified).status;
        assert_eq!(status(request(None, Some(1000), None), modified), 304);
        assert_eq!(status(request(None, Some(999), None), modified), 200);
        assert_eq!(status(request(None, Some(1000), None), None), 200, "no date: always modified");
        assert_eq!(status(request(None, None, Some(999)), modified), 412);
        assert_eq!(status(request(None, None, Some(1000)), modified), 200);
        assert_eq!(status(request(None, None, Some(1000)), None), 412, "no date: the precondition fails");

        let whole = plan(&request(None, None, None), 100, modified);
        assert_eq!((whole.bytes, whole.content_range), (Some(0..100), None));
        let part = plan(&request(Some("bytes=90-"), None, None), 100, modified);
        assert_eq!(
            (part.status, part.bytes, part.content_range.as_deref()),
            (206, Some(90..100), Some("bytes 90-99/100"))
        );
        for range in ["bytes=100-", "bytes=-101", "bytes=99999999999999999999-", "bytes=1-2,4-5", "bytes=3-1", "x"] {
            let refused = plan(&request(Some(range), None, None), 100, modified);
            assert_eq!(
                (refused.status, refused.bytes, refused.content_range.as_deref()),
                (416, None, Some("bytes */100"))
            );
        }
        let huge = plan(&request(Some("bytes=18446744073709551614-18446744073709551615"), None, None), u64::MAX, None);
        assert_eq!(huge.bytes, Some(u64::MAX - 1..u64::MAX), "no overflow at the largest length");
    }

    #[test]
    fn heads_carry_the_length_and_close_when_asked() {
        let whole = plan(&request(None, None, None), 100, None);
        let text = head(&whole, Some(("application/octet-stream", None)), false);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\n"), "{text}");
        for line in ["content-length: 100\r\n", "connection: close\r\n", "accept-ranges: bytes\r\n"] {
            assert!(text.contains(line), "{line} missing: {text}");
        }
        let not_modified = head(&Plan::text(304, ""), None, true);
        assert!(!not_modified.contains("content-length") && !not_modified.contains("connection"), "{not_modified}");
    }
}
