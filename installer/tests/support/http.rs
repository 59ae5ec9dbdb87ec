//! A tiny loopback HTTP server standing in for the boot service: answers each route as the node API
//! does, records every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub line: String,
    pub authorization: Option<String>,
    pub body: String,
}

/// Serves `statuses` in order (then 200s), recording each request; stops after `statuses.len() + extra`.
pub fn serve(statuses: Vec<u16>, extra: usize) -> (SocketAddr, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        let total = statuses.len() + extra;
        for i in 0..total {
            let Ok((stream, _)) = listener.accept() else { return };
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let (mut length, mut authorization) = (0usize, None);
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "authorization" => authorization = Some(value.trim().to_owned()),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body = String::from_utf8(body).unwrap();
            record.lock().unwrap().push(Request { line: line.trim_end().to_owned(), authorization, body });
            let status = statuses.get(i).copied().unwrap_or(200);
            let text = match status {
                200 if line.contains("/installed ") => "{\"deploy_credential\":\"d3pl0y\"}",
                200 if line.contains("/ready ") => "{\"agent_token\":\"ag3nt\"}",
                200 if line.contains("/deploy ") => {
                    "{\"hostname\":\"rack1-u2\",\"ssh_authorized_keys\":[\"ssh-ed25519 AAAA ops\"]}"
                }
                200 => "{}",
                _ => "{\"error\":\"nope\"}",
            };
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let mut stream = reader.into_inner();
            stream.write_all(reply.as_bytes()).unwrap();
        }
    });
    (addr, seen)
}
