//! A TCP relay from the caller's namespace into a throwaway one: how an engineer's browser on the host
//! reaches a service that lives only inside a lab namespace, without touching the host's interfaces.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::Netns;

impl Netns {
    /// Relays each connection accepted on `listener` (opened by the caller, e.g. on the host's loopback)
    /// to `target` inside this namespace; returns after `connections` of them, or runs until accepting
    /// fails when that is `None`. A connection whose target refuses is closed and the relay goes on.
    pub fn forward_tcp(
        &self,
        listener: &TcpListener,
        target: SocketAddr,
        connections: Option<usize>,
    ) -> io::Result<()> {
        let mut served = 0;
        while connections.is_none_or(|n| served < n) {
            let (client, _) = listener.accept()?;
            served += 1;
            let upstream = self
                .spawn_inside(move || TcpStream::connect_timeout(&target, Duration::from_secs(5)))?
                .join()
                .map_err(|_| io::Error::other("the connecting thread panicked"))?;
            match upstream {
                Ok(upstream) => relay(client, upstream)?,
                Err(e) => eprintln!("forward: {target} inside {}: {e}", self.name()),
            }
        }
        Ok(())
    }
}

/// Copies both ways on two threads; each direction passes on the end of its stream.
fn relay(a: TcpStream, b: TcpStream) -> io::Result<()> {
    let (a2, b2) = (a.try_clone()?, b.try_clone()?);
    std::thread::spawn(move || pipe(a, b2));
    std::thread::spawn(move || pipe(b, a2));
    Ok(())
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn a_host_connection_reaches_a_server_that_lives_only_in_the_namespace() {
        crate::require_netns!();
        let ns = Netns::create("fwdtest").unwrap();
        ns.link_up("lo").unwrap();
        let server = ns.spawn_inside(|| TcpListener::bind("127.0.0.1:0")).unwrap().join().unwrap().unwrap();
        let target = server.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = server.accept().unwrap();
            let mut asked = String::new();
            conn.read_to_string(&mut asked).unwrap();
            conn.write_all(format!("inside heard: {asked}").as_bytes()).unwrap();
        });
        let host = TcpListener::bind("127.0.0.1:0").unwrap();
        let host_addr = host.local_addr().unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| ns.forward_tcp(&host, target, Some(1)).unwrap());
            let mut client = TcpStream::connect(host_addr).unwrap();
            client.write_all(b"hello").unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            let mut answer = String::new();
            client.read_to_string(&mut answer).unwrap();
            assert_eq!(answer, "inside heard: hello");
        });
    }
}
