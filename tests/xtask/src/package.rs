//! `cargo xtask package`: the boot service's Debian package, made by cargo-deb from
//! `boot-service/Cargo.toml`'s `[package.metadata.deb]` (binary, conffile, systemd unit, sysusers file,
//! maintainer scripts in `boot-service/debian/`). cargo-deb is installed first when missing. The .deb's
//! path goes to stdout; it lands in cargo-deb's `debian/` folder of the target directory.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;

use crate::{display, workspace_root};

/// What operators install, and what `cargo xtask test` installs and runs: one release build (about 2.5
/// minutes on the 2-core machine; a profile without LTO measured the same, so the test takes the real one).
pub const RELEASE: &str = "release";

/// The cargo-deb releases whose `[package.metadata.deb]` keys the manifest uses.
const CARGO_DEB_VERSION: &str = "^3";

/// `cargo xtask package`: build it and print where it is.
pub fn run(profile: &str, fast: bool) -> anyhow::Result<()> {
    let deb = build(profile, fast)?;
    println!("{}", deb.display());
    Ok(())
}

/// Build the package with the Cargo `profile`; `fast`: lighter compression (for a package that is
/// installed once and thrown away). Returns the .deb's path.
pub fn build(profile: &str, fast: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ensure_cargo_deb(&cargo)?;
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_root()).args(["deb", "--locked", "-p", "boot-service", "--profile", profile]);
    if fast {
        cmd.arg("--fast");
    }
    eprintln!("+ {}", display(&cmd));
    let started = Instant::now();
    // cargo-deb's progress goes to stderr; stdout is the .deb's path.
    let out = cmd.stderr(Stdio::inherit()).output().context("starting cargo deb")?;
    anyhow::ensure!(out.status.success(), "`{}` failed: {}", display(&cmd), out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deb = stdout
        .lines()
        .map(str::trim)
        .rfind(|line| line.ends_with(".deb"))
        .with_context(|| format!("cargo deb named no .deb on stdout: {stdout}"))?;
    eprintln!("xtask: {deb} ({profile}) built in {:.0?}", started.elapsed());
    Ok(PathBuf::from(deb))
}

/// `cargo deb` is a subcommand installed with cargo; install it when it is missing.
fn ensure_cargo_deb(cargo: &str) -> anyhow::Result<()> {
    let present = Command::new(cargo)
        .args(["deb", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if present {
        return Ok(());
    }
    eprintln!(
        "xtask: cargo-deb is missing; installing it (cargo install cargo-deb --locked --version {CARGO_DEB_VERSION})"
    );
    crate::run_cmd(Command::new(cargo).args(["install", "cargo-deb", "--locked", "--version", CARGO_DEB_VERSION]))
}
