//! TFTP with async-tftp: read-only from one root (iPXE binaries, kernel, initramfs), with blksize,
//! tsize and windowsize. Any path that leaves the root — `..`, an absolute path elsewhere, or a symlink
//! pointing out — is refused.

use std::fs::File;
use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use async_tftp::packet;
use async_tftp::server::{Handler, TftpServerBuilder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::config::TftpConfig;
use crate::metrics::ResultLabels;
use crate::served_root::{PathError, resolve};

/// The read-only handler: files under `root`, nothing written.
pub struct ReadOnlyRoot {
    root: PathBuf,
    requests: Family<ResultLabels, Counter>,
    /// Transfers open now; a request beyond the caps is refused (see `tftp_limits.rs`).
    slots: crate::tftp_limits::Slots,
}

impl ReadOnlyRoot {
    pub fn new(
        root: &Path,
        requests: Family<ResultLabels, Counter>,
        slots: crate::tftp_limits::Slots,
    ) -> std::io::Result<Self> {
        Ok(Self { root: root.canonicalize()?, requests, slots })
    }

    fn count(&self, result: &'static str) {
        self.requests.get_or_create(&ResultLabels { result }).inc();
    }
}

impl Handler for ReadOnlyRoot {
    type Reader = crate::tftp_limits::Held<crate::tftp_read::ReadAhead>;
    type Writer = futures_lite::io::Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(Self::Reader, Option<u64>), packet::Error> {
        let span = tracing::info_span!("tftp", %client, path = %path.display());
        let _enter = span.enter();
        // The slot is taken first, so a flood is refused before any file is looked at; it is released
        // when async-tftp drops the reader, however the transfer ends.
        let slot = self.slots.acquire(client.ip()).map_err(|busy| {
            tracing::warn!(%busy, "read refused");
            self.count("busy");
            packet::Error::Msg(busy.to_string())
        })?;
        let full = match resolve(&self.root, path) {
            Ok(full) => full,
            Err(err) => {
                tracing::warn!(%err, "read refused");
                self.count(if err == PathError::Outside { "refused" } else { "not_found" });
                return Err(match err {
                    PathError::Outside => packet::Error::PermissionDenied,
                    PathError::NotFound => packet::Error::FileNotFound,
                });
            }
        };
        let file = File::open(&full).map_err(|_| packet::Error::FileNotFound)?;
        let size = file.metadata().map(|m| m.len()).ok();
        tracing::info!(size, "serving");
        self.count("served");
        // Read ahead in large pieces: a lock-step transfer asks for one block per round trip, and a
        // thread hand-off per block would add to that round trip (see tftp_read.rs).
        Ok((crate::tftp_limits::Held::new(crate::tftp_read::ReadAhead::new(file, size), slot), size))
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<Self::Writer, packet::Error> {
        tracing::warn!(%client, path = %path.display(), "TFTP write refused: the server is read-only");
        self.count("refused");
        Err(packet::Error::IllegalOperation)
    }
}

/// Bind the configured TFTP address.
pub fn bind(config: &TftpConfig) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(config.listen)
}

/// Serve read requests on `socket` until `shutdown` resolves.
pub async fn serve(
    socket: UdpSocket,
    config: &TftpConfig,
    requests: Family<ResultLabels, Counter>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let slots = crate::tftp_limits::Slots::new(config.max_transfers, config.max_transfers_per_source);
    let handler = ReadOnlyRoot::new(&config.root, requests, slots)
        .map_err(|e| anyhow::anyhow!("TFTP root {}: {e}", config.root.display()))?;
    // The server's own timeout and retries, whatever the client asks: a client that goes silent is let
    // go after timeout x (max_retries + 1). Block and window caps bound what one transfer holds.
    let server = TftpServerBuilder::with_handler(handler)
        .std_socket(socket)?
        .window_size_limit(config.max_window_size)
        .block_size_limit(config.max_block_size)
        .timeout(config.timeout)
        .ignore_client_timeout()
        .max_send_retries(config.max_retries)
        .build()
        .await?;
    tokio::select! {
        result = server.serve() => result.map_err(Into::into),
        () = shutdown => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_and_refuses_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("efi")).unwrap();
        std::fs::write(root.join("undionly.kpxe"), b"x").unwrap();
        std::fs::write(root.join("efi/ipxe.efi"), b"x").unwrap();
        std::fs::write(dir.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("escape")).unwrap();
        let root = root.canonicalize().unwrap();

        assert_eq!(resolve(&root, Path::new("undionly.kpxe")), Ok(root.join("undionly.kpxe")));
        assert_eq!(resolve(&root, Path::new("/undionly.kpxe")), Ok(root.join("undionly.kpxe")));
        assert_eq!(resolve(&root, Path::new("efi/./ipxe.efi")), Ok(root.join("efi/ipxe.efi")));
        assert_eq!(resolve(&root, Path::new("../secret")), Err(PathError::Outside));
        assert_eq!(resolve(&root, Path::new("efi/../../secret")), Err(PathError::Outside));
        assert_eq!(resolve(&root, Path::new("escape")), Err(PathError::Outside));
        assert_eq!(resolve(&root, Path::new("missing")), Err(PathError::NotFound));
        assert_eq!(resolve(&root, Path::new("efi")), Err(PathError::NotFound), "directories are not files");
    }
}
