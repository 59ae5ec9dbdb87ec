//! The operators' SSH key of the lab: made once with `ssh-keygen` under `target/lab/ssh`, its public half
//! put into every lab boot service's `[deploy] ssh_authorized_keys`, its private half used by the tests
//! to log in to installed servers from inside the lab namespace.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

/// The private key's path (its `.pub` beside it), made if missing.
pub fn lab_key() -> anyhow::Result<PathBuf> {
    let dir = crate::lab_dir().join("ssh");
    let key = dir.join("id_ed25519");
    if !key.exists() {
        std::fs::create_dir_all(&dir)?;
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "rackhand-lab-operator", "-f"])
            .arg(&key)
            .output()
            .context("running ssh-keygen (package openssh-client)")?;
        anyhow::ensure!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(key)
}

/// The public key line.
pub fn lab_public_key() -> anyhow::Result<String> {
    let key = lab_key()?;
    Ok(std::fs::read_to_string(key.with_extension("pub"))?.trim().to_owned())
}
