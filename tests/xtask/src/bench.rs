//! `cargo xtask bench`: install the peers (Kea, dnsmasq, tftpd-hpa, nginx, b3sum; atftpd unpacked), build boot-service and
//! `rackhand-bench` optimised, and run every comparison; the table goes to stdout and the JSON to
//! `target/bench/results.json`. `cargo xtask bench-table` keeps a results file in `docs/bench/` and
//! generates the README's table from it ([`table`]). `cargo xtask test` runs [`smoke`] once at a tiny size.

use std::path::Path;
use std::process::Command;

use anyhow::Context;
use rackhand_bench::readme;

use crate::{packages, run_cmd, workspace_root};

const OUT: &str = "target/bench/results.json";

/// The full run: peers installed, release builds, 5 runs per measurement unless `args` say otherwise.
pub fn run(install: bool, args: &[String]) -> anyhow::Result<()> {
    packages::ensure_without_starting(packages::TEST, install)?;
    packages::ensure_without_starting(packages::BENCH, install)?;
    packages::ensure_unpacked(packages::BENCH_UNPACKED, install)?;
    warn_host_dhcp();
    build_and_run("release", OUT, &[], args)?;
    eprintln!("xtask: to keep these numbers and put them in the README: cargo xtask bench-table {OUT}");
    Ok(())
}

/// One tiny run of every benchmark on debug builds. The peers are installed first when `install` (Kea's
/// PostgreSQL backend and kea-admin included, so that the PostgreSQL comparison's every path runs in CI);
/// without them they are reported unavailable, and our side of every comparison still runs. In CI
/// (`CI=true`, as root, installing) a peer missing or failing fails the run: no peer's path may rot.
pub fn smoke(install: bool) -> anyhow::Result<()> {
    if !packages::running_as_root() {
        eprintln!("xtask: not root, so the benchmark smoke run is SKIPPED (it needs network namespaces)");
        return Ok(());
    }
    packages::ensure_without_starting(packages::BENCH, install)?;
    packages::ensure_unpacked(packages::BENCH_UNPACKED, install)?;
    let ci = std::env::var("CI").is_ok_and(|v| require_peers(&v, install));
    let flags: &[&str] = if ci { &["--smoke", "--require-peers"] } else { &["--smoke"] };
    build_and_run("dev", "target/bench/smoke-results.json", flags, &[])
}

/// Whether the smoke run must have every peer: in CI (`CI` set to `true` or `1`, as CI services set it)
/// when the peers were installed.
fn require_peers(ci: &str, install: bool) -> bool {
    install && matches!(ci.trim().to_ascii_lowercase().as_str(), "true" | "1")
}

/// `cargo xtask bench-table [RESULTS] [--whole-path FILE]`: keep `results` (a `rackhand-bench` JSON) and
/// `whole_path` (a `cargo xtask lab whole-path` JSON) under `docs/bench/` when given, then generate each of
/// the README's tables ([`readme::BLOCKS`]) from its kept file.
pub fn table(results: Option<&Path>, whole_path: Option<&Path>) -> anyhow::Result<()> {
    let root = workspace_root();
    for (from, block) in [(results, readme::BENCH), (whole_path, readme::WHOLE_PATH)] {
        if let Some(from) = from {
            keep(from, &root.join(block.kept))?;
        }
    }
    let path = root.join("README.md");
    let old = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut new = old.clone();
    for block in &readme::BLOCKS {
        let kept = root.join(block.kept);
        let text = std::fs::read_to_string(&kept).with_context(|| format!("reading {}", kept.display()))?;
        let results = readme::parse_results(&text).with_context(|| format!("reading {}", kept.display()))?;
        new = readme::splice(&new, &readme::table(&results), block, "README.md")?;
    }
    if new != old {
        std::fs::write(&path, new).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("xtask: README.md's benchmark tables regenerated from docs/bench/");
    } else {
        eprintln!("xtask: README.md's benchmark tables already match docs/bench/");
    }
    Ok(())
}

/// Copy a results file to `kept` once it reads as results of a real (not smoke) run.
fn keep(from: &Path, kept: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(from).with_context(|| format!("reading {}", from.display()))?;
    let parsed = readme::parse_results(&text).with_context(|| format!("reading {}", from.display()))?;
    anyhow::ensure!(!parsed.smoke, "{}: a smoke run's numbers say nothing about speed", from.display());
    std::fs::create_dir_all(kept.parent().expect("docs/bench"))?;
    std::fs::write(kept, text).with_context(|| format!("writing {}", kept.display()))?;
    eprintln!("xtask: kept {} as {}", from.display(), kept.display());
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::require_peers;

    #[test]
    fn ci_requires_every_peer_when_they_were_installed() {
        assert!(require_peers("true", true));
        assert!(require_peers("1", true));
        assert!(!require_peers("true", false), "--no-install: missing peers are expected");
        assert!(!require_peers("false", true));
        assert!(!require_peers("", true));
    }
}
