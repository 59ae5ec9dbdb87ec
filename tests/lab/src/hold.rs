//! Holding a server at the moment its installer first writes an OS disk's partition table, so a test can
//! read the image exactly as the installer wrote it. The installer writes the table (sector 0 of each OS
//! disk) only after every byte of the image is written and verified, and before it mounts the image to
//! configure the installed system — from then on the root filesystem no longer hashes to the manifest.
//!
//! The disk's drive goes through QEMU's `blkdebug` driver with one rule: the first write that touches
//! sector 0 fails once with EIO; `werror=stop` turns that error into a paused VM (status `io-error`)
//! instead of an error the guest sees. [`resume`] continues the VM, and QEMU retries the held write,
//! which then succeeds: the guest never notices.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::server::VirtualServer;

/// The blkdebug rules: fail the first write touching sector 0, once.
const RULES: &str = "[inject-error]\nevent = \"pwritev\"\nsector = \"0\"\nerrno = \"5\"\nonce = \"on\"\n";

/// The `-drive` argument of a held disk image (its rules written beside it, in `dir`).
pub fn drive(dir: &Path, id: &str, image: &Path) -> anyhow::Result<String> {
    let rules = dir.join(format!("{id}.blkdebug"));
    std::fs::write(&rules, RULES).with_context(|| format!("writing {}", rules.display()))?;
    Ok(format!(
        "if=none,id={id},format=raw,cache=unsafe,werror=stop,file=blkdebug:{}:{}",
        rules.display(),
        image.display()
    ))
}

/// Wait until the server is held at its partition-table write (QEMU paused on the I/O error). Polls
/// every second; fails when QEMU exits, when `gave_up` says why to stop waiting (a failed install), or
/// after `limit`.
pub fn wait_held(
    server: &mut VirtualServer,
    limit: Duration,
    mut gave_up: impl FnMut() -> Option<String>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if !server.is_running() {
            bail!("QEMU exited before the server was held at its partition-table write");
        }
        let status = server.qmp()?.execute("query-status", serde_json::json!({}))?;
        match status.get("status").and_then(|s| s.as_str()) {
            Some("io-error") => return Ok(()),
            Some("running") | Some("prelaunch") => {}
            other => bail!("the server stopped for another reason: {other:?} ({status})"),
        }
        if let Some(why) = gave_up() {
            bail!("no partition-table write to hold: {why}");
        }
        if Instant::now() > deadline {
            bail!("the server did not write a partition table within {limit:?}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Let a held server go on: QEMU retries the held write.
pub fn resume(server: &VirtualServer) -> anyhow::Result<()> {
    server.qmp()?.execute("cont", serde_json::json!({}))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_drive_goes_through_blkdebug_and_stops_on_its_error() {
        let dir = tempfile_dir();
        let arg = drive(&dir, "bay0", Path::new("/lab/bay0-ssd.img")).unwrap();
        let rules = dir.join("bay0.blkdebug");
        assert_eq!(
            arg,
            format!(
                "if=none,id=bay0,format=raw,cache=unsafe,werror=stop,file=blkdebug:{}:/lab/bay0-ssd.img",
                rules.display()
            )
        );
        let written = std::fs::read_to_string(&rules).unwrap();
        assert!(written.contains("sector = \"0\"") && written.contains("once = \"on\""), "{written}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rackhand-hold-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
