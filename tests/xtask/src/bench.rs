//! `cargo xtask bench`: install the peers (Kea, dnsmasq, tftpd-hpa, nginx, b3sum; atftpd unpacked), build boot-service and
//! `rackhand-bench` optimised, and run every comparison; the table goes to stdout and the JSON to
//! `target/bench/results.json`. `cargo xtask test` runs [`smoke`] once at a tiny size.

use std::path::Path;
use std::process::Command;

use crate::{packages, run_cmd, workspace_root};

/// The full run: peers installed, release builds, 5 runs per measurement unless `args` say otherwise.
pub fn run(install: bool, args: &[String]) -> anyhow::Result<()> {
    packages::ensure_without_starting(packages::TEST, install)?;
    packages::ensure_without_starting(packages::BENCH, install)?;
    packages::ensure_unpacked(packages::BENCH_UNPACKED, install)?;
    warn_host_dhcp();
    build_and_run("release", "target/bench/results.json", &[], args)
}

/// One tiny run of every benchmark on debug builds. The peers are installed first when `install` (Kea's
/// PostgreSQL backend and kea-admin included, so that the PostgreSQL comparison's every path runs in CI);
/// without them they are reported unavailable, and our side of every comparison still runs.
pub fn smoke(install: bool) -> anyhow::Result<()> {
    if !packages::running_as_root() {
        eprintln!("xtask: not root, so the benchmark smoke run is SKIPPED (it needs network namespaces)");
        return Ok(());
    }
    packages::ensure_without_starting(packages::BENCH, install)?;
    packages::ensure_unpacked(packages::BENCH_UNPACKED, install)?;
    build_and_run("dev", "target/bench/smoke-results.json", &["--smoke"], &[])
}

fn build_and_run(profile: &str, out: &str, flags: &[&str], args: &[String]) -> anyhow::Result<()> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(Command::new(&cargo).current_dir(&root).args(["build", "--quiet", "--profile", profile]).args([
        "-p",
        "boot-service",
        "-p",
        "rackhand-bench",
    ]))?;
    let dir = crate::target_dir().join(if profile == "dev" { "debug" } else { profile });
    run_cmd(
        Command::new(dir.join("rackhand-bench"))
            .current_dir(&root)
            .arg("--boot-service")
            .arg(dir.join("boot-service"))
            .arg("--out")
            .arg(root.join(out))
            .args(flags)
            .args(args),
    )
}

/// The benchmarks run in their own namespaces, but a DHCP server on the host is worth knowing about.
fn warn_host_dhcp() {
    if !Path::new("/usr/bin/ss").exists() && !Path::new("/usr/sbin/ss").exists() {
        return;
    }
    if let Ok(out) = Command::new("ss").args(["-Hlunp", "sport = :67"]).output()
        && !out.stdout.is_empty()
    {
        eprintln!("xtask: note: something on the host listens on UDP 67:\n{}", String::from_utf8_lossy(&out.stdout));
    }
}
