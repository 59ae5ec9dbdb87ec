//! `rackhand-bench`: Rackhand side by side with the tools users would pick instead. Prints a table
//! (ours, theirs, ratio; median and min–max over the runs) and writes it as JSON. Needs root: every
//! server and client runs inside throwaway network namespaces. `cargo xtask bench` builds and runs it.

mod client;
mod dhcp;
mod dhcp_cpu;
mod dhcp_pg;
mod env;
mod fetch;
mod image;
mod storm;
mod storm_peer;
mod tftp;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use rackhand_bench::machine::{Machine, git_commit, now_utc};
use rackhand_bench::report::{Results, Row, peers_not_measured, table};
use rackhand_bench::stats::Better;

use crate::env::Ctx;

#[derive(Parser)]
#[command(about = "Rackhand benchmarks against Kea, dnsmasq, tftpd-hpa, nginx, dd and b3sum")]
struct Cli {
    /// The boot-service binary to measure (build it with --release for real numbers).
    #[arg(long)]
    boot_service: PathBuf,
    /// One tiny run of everything, so the benchmarks cannot rot (CI).
    #[arg(long)]
    smoke: bool,
    /// Runs per measurement (default 5; 1 with --smoke).
    #[arg(long)]
    runs: Option<usize>,
    /// Only these benchmarks (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Bench>,
    /// Where the JSON goes.
    #[arg(long, default_value = "target/bench/results.json")]
    out: PathBuf,
    /// Fail when a peer is not installed or produced no numbers, instead of reporting it unavailable
    /// (CI's smoke pass, which installed them all).
    #[arg(long)]
    require_peers: bool,
    /// The boot storm's sizes (comma-separated), instead of 1000, 5000 and 10000 (5 with --smoke).
    #[arg(long, value_delimiter = ',')]
    storm_clients: Vec<u32>,
    /// What else was true of the machine, kept in the JSON and the README ("another build loaded it").
    #[arg(long, default_value = "")]
    conditions: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bench {
    Dhcp,
    Tftp,
    Http,
    Storm,
}

/// One family of comparisons: its rows, or why it could not run.
type BenchFn = fn(&Ctx) -> anyhow::Result<Vec<Row>>;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(reason) = rackhand_netns::unavailable_reason() {
        anyhow::bail!("benchmarks run inside network namespaces: {reason}");
    }
    raise_open_files_limit();
    let runs = cli.runs.unwrap_or(if cli.smoke { 1 } else { 5 }).max(1);
    let parent = cli.out.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let work = tempfile::Builder::new().prefix("work-").tempdir_in(&parent).context("creating the work dir")?;
    let boot_service = std::fs::canonicalize(&cli.boot_service)
        .with_context(|| format!("boot-service binary {}", cli.boot_service.display()))?;
    let ctx = Ctx {
        smoke: cli.smoke,
        runs,
        boot_service,
        work: work.path().to_owned(),
        storm_clients: cli.storm_clients.clone(),
    };

    let selected = |b: Bench| cli.only.is_empty() || cli.only.contains(&b);
    let mut rows: Vec<Row> = Vec::new();
    let mut failed = Vec::new();
    let benches: [(Bench, &str, BenchFn); 4] = [
        (Bench::Dhcp, "dhcp", dhcp::run),
        (Bench::Tftp, "tftp", tftp::run),
        (Bench::Http, "http image delivery + verified write", image::run),
        (Bench::Storm, "boot storm", storm::run),
    ];
    for (bench, name, run) in benches {
        if !selected(bench) {
            continue;
        }
        eprintln!("rackhand-bench: {name} ({runs} run(s){})", if cli.smoke { ", smoke" } else { "" });
        match run(&ctx) {
            Ok(mut r) => rows.append(&mut r),
            Err(err) => {
                eprintln!("rackhand-bench: {name} FAILED: {err:#}");
                rows.push(Row::ours_only(name, "", Better::Higher, &[]).with_note(format!("FAILED: {err:#}")));
                failed.push(name);
            }
        }
    }

    if cli.smoke {
        // Smoke sizes say nothing about speed: show the targets, judge none.
        rows.iter_mut().for_each(|r| r.met = None);
    }
    let unmeasured = peers_not_measured(&rows);
    let results = Results {
        smoke: cli.smoke,
        runs,
        machine: Machine::observe(),
        date: now_utc(),
        commit: git_commit(&std::env::current_dir()?),
        conditions: cli.conditions,
        rows,
    };
    println!("{}", table(&results.rows));
    eprintln!("rackhand-bench: measured on {}, commit {}", results.machine.summary(), results.commit);
    let json = serde_json::to_string_pretty(&results)?;
    std::fs::write(&cli.out, json + "\n").with_context(|| format!("writing {}", cli.out.display()))?;
    eprintln!("rackhand-bench: wrote {}", cli.out.display());
    anyhow::ensure!(failed.is_empty(), "benchmarks failed: {}", failed.join(", "));
    if cli.require_peers {
        let missing = env::missing_peers();
        anyhow::ensure!(
            missing.is_empty() && unmeasured.is_empty(),
            "--require-peers: peers missing or not measured:\n  {}",
            missing.iter().chain(&unmeasured).cloned().collect::<Vec<_>>().join("\n  ")
        );
    }
    Ok(())
}

/// The soft limit on open files raised to the hard one: a boot storm of 10 000 clients holds a socket
/// per client on each side, and the servers started here (boot-service, nginx) inherit the limit.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                eprintln!("rackhand-bench: raising the open files limit from {soft} to {hard}: {err}");
            }
        }
        Ok(_) => {}
        Err(err) => eprintln!("rackhand-bench: reading the open files limit: {err}"),
    }
}
