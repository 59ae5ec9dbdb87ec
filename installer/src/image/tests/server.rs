//! A tiny HTTP/1.1 file server on loopback for the image tests: honours `Range: bytes=N-`, records every
//! request, and can be told to misbehave when serving `*/image` (drop the connection after N body bytes,
//! flip a byte, serve a truncated file, leave out `Content-Length`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::to_usize;

#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Close the connection after this many body bytes, for the next `drops` image responses.
    pub drop_after: Option<u64>,
    /// Close the connection when the body reaches this image offset, for the next `drops` image responses.
    pub drop_at: Option<u64>,
    pub drops: u32,
    /// Flip the lowest bit of the image byte at this offset in every response.
    pub flip_byte_at: Option<u64>,
    /// Serve the image as if its file were this long.
    pub truncate_to: Option<u64>,
    /// Send no `Content-Length`: the body ends when the connection closes.
    pub omit_length: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub path: String,
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    faults: Faults,
    seen: Vec<SeenRequest>,
}

pub struct TestServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(files: HashMap<String, Vec<u8>>, faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State { files, faults, seen: Vec::new() }));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_state, thread_stop) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve(stream, &thread_state);
                }
            }
        });
        Self { addr, state, stop, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.lock().unwrap().seen.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let Some(request) = read_request(&stream) else { return };
    let (status, headers, body, cut) = respond(&request, &mut state.lock().unwrap());
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(&header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let sent = cut.map_or(body.len(), |cut| cut.min(body.len()));
    // The client may hang up first (it refused what it got); that is not the server's problem.
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body[..sent]));
    let _ = stream.shutdown(Shutdown::Write);
}

fn read_request(stream: &TcpStream) -> Option<SeenRequest> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut range = None;
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    Some(SeenRequest { path, range })
}

/// Status line, headers, body, and after how many body bytes to cut the connection.
fn respond(request: &SeenRequest, state: &mut State) -> (String, Vec<String>, Vec<u8>, Option<usize>) {
    state.seen.push(request.clone());
    let Some(file) = state.files.get(&request.path) else {
        return ("404 Not Found".into(), vec!["Content-Length: 0".into()], Vec::new(), None);
    };
    let mut content = file.clone();
    let mut cut = None;
    let faults = &mut state.faults;
    if request.path.ends_with("/image") {
        if let Some(len) = faults.truncate_to {
            content.truncate(to_usize(len));
        }
        if let Some(offset) = faults.flip_byte_at {
            content[to_usize(offset)] ^= 0x01;
        }
    }
    let total = content.len();
    let start = match request.range.as_deref().and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')) {
        Some(start) => start.parse::<usize>().expect("test client sends bytes=N-"),
        None => 0,
    };
    if request.path.ends_with("/image") && faults.drops > 0 {
        faults.drops -= 1;
        let at_offset = faults.drop_at.map(|at| to_usize(at).saturating_sub(start));
        cut = faults.drop_after.map(to_usize).or(at_offset);
    }
    if start > 0 && start >= total {
        let headers = vec![format!("Content-Range: bytes */{total}"), "Content-Length: 0".into()];
        return ("416 Range Not Satisfiable".into(), headers, Vec::new(), None);
    }
    let body = content[start..].to_vec();
    let mut headers = Vec::new();
    if !state.faults.omit_length {
        headers.push(format!("Content-Length: {}", body.len()));
    }
    if request.range.is_some() {
        headers.push(format!("Content-Range: bytes {start}-{}/{total}", total - 1));
        return ("206 Partial Content".into(), headers, body, cut);
    }
    ("200 OK".into(), headers, body, cut)
}
