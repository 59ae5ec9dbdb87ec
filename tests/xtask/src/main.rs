//! `cargo xtask <task>`: the entry point for everything beyond `cargo build`.
//!
//! - `cargo xtask test` — formatting, clippy, and every test (unit, namespace, end to end).
//! - `cargo xtask demo` — the main job: bring up a lab and boot servers through Rackhand.
//! - `cargo xtask bench` — benchmarks side by side with Kea, dnsmasq, tftpd-hpa, nginx, dd and b3sum.
//! - `cargo xtask bench-table` — keep a results file in docs/bench/ and generate the README's table from it.
//! - `cargo xtask package` — the boot service's Debian package (cargo-deb), its path on stdout.

mod bench;
mod boot_time;
mod demo;
mod lab;
mod lab_results;
mod package;
mod packages;
mod tee;
mod test;
mod whole_path;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Rackhand developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every check and test: cargo fmt --check, clippy -D warnings, cargo test --workspace.
    Test {
        /// Skip installing missing Debian packages (the tests that need them then skip or fail loudly).
        #[arg(long)]
        no_install: bool,
        /// Extra arguments passed to `cargo test` (e.g. a test name filter).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// The main job: bring up a QEMU lab and boot two virtual servers end to end through Rackhand.
    Demo {
        /// Leave the lab running for exploring (remove it with `cargo xtask lab down`).
        #[arg(long)]
        keep: bool,
        /// Skip installing missing Debian packages.
        #[arg(long)]
        no_install: bool,
    },
    /// Benchmarks against the tools users would pick instead; table on stdout, JSON in target/bench/.
    Bench {
        /// Skip installing the peers (those missing are reported unavailable).
        #[arg(long)]
        no_install: bool,
        /// Arguments for rackhand-bench (e.g. `--runs 3 --only dhcp,tftp`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Keep a results file (`cargo xtask bench-table target/bench/results.json`: copied to
    /// docs/bench/results.json) and generate the README's benchmark table from docs/bench/results.json.
    BenchTable {
        /// A results file of `cargo xtask bench` to keep first; without it the kept one is used.
        results: Option<std::path::PathBuf>,
        /// A results file of `cargo xtask lab whole-path` to keep first (docs/bench/whole-path.json).
        #[arg(long)]
        whole_path: Option<std::path::PathBuf>,
    },
    /// The boot service's Debian package (binary, config, systemd unit, its user), made with cargo-deb
    /// (installed when missing); prints the .deb's path.
    Package {
        /// Cargo profile to build with: `release` for what operators install.
        #[arg(long, default_value = package::RELEASE)]
        profile: String,
        /// Lighter compression: quicker to build, larger to copy.
        #[arg(long)]
        fast: bool,
    },
    /// The QEMU lab: up, boot a server, status, down.
    Lab {
        #[command(subcommand)]
        command: lab::LabCommand,
        #[arg(long, global = true)]
        no_install: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Test { no_install, cargo_args } => test::run(!no_install, &cargo_args),
        Task::Demo { keep, no_install } => demo::run(keep, !no_install),
        Task::Lab { command, no_install } => lab::run(command, !no_install),
        Task::Bench { no_install, args } => bench::run(!no_install, &args),
        Task::BenchTable { results, whole_path } => bench::table(results.as_deref(), whole_path.as_deref()),
        Task::Package { profile, fast } => package::run(&profile, fast),
    }
}

/// The workspace root (this crate lives at `tests/xtask`).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("workspace root").to_owned()
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` (from where `cargo xtask` was run) when set, else
/// the workspace's `target`. The lab's own state stays under the workspace's `target/lab` either way.
pub fn target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => std::env::current_dir().map(|cwd| cwd.join(&dir)).unwrap_or_else(|_| dir.into()),
        None => workspace_root().join("target"),
    }
}

/// Run a command, echoing it, and fail with its exit status.
pub fn run_cmd(cmd: &mut std::process::Command) -> anyhow::Result<()> {
    eprintln!("+ {}", display(cmd));
    let status = cmd.status().map_err(|e| anyhow::anyhow!("starting `{}`: {e}", display(cmd)))?;
    anyhow::ensure!(status.success(), "`{}` failed: {status}", display(cmd));
    Ok(())
}

fn display(cmd: &std::process::Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|s| s.to_string_lossy()).collect::<Vec<_>>().join(" ")
}
