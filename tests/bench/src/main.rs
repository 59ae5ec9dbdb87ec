//! `rackhand-bench`: Rackhand side by side with the tools users would pick instead. Prints a table
//! (ours, theirs, ratio; median and min–max over the runs) and writes it as JSON. Needs root: every
//! server and client runs inside throwaway network namespaces. `cargo xtask bench` builds and runs it.

mod client;
mod dhcp;
mod dhcp_pg;
mod env;
mod image;
mod storm;
mod tftp;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use rackhand_bench::report::{Results, Row, table};
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
    let runs = cli.runs.unwrap_or(if cli.smoke { 1 } else { 5 }).max(1);
    let parent = cli.out.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let work = tempfile::Builder::new().prefix("work-").tempdir_in(&parent).context("creating the work dir")?;
    let boot_service = std::fs::canonicalize(&cli.boot_service)
        .with_context(|| format!("boot-service binary {}", cli.boot_service.display()))?;
    let ctx = Ctx { smoke: cli.smoke, runs, boot_service, work: work.path().to_owned() };

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
    let results = Results { smoke: cli.smoke, runs, machine: machine(), rows };
    println!("{}", table(&results.rows));
    let json = serde_json::to_string_pretty(&results)?;
    std::fs::write(&cli.out, json + "\n").with_context(|| format!("writing {}", cli.out.display()))?;
    eprintln!("rackhand-bench: wrote {}", cli.out.display());
    anyhow::ensure!(failed.is_empty(), "benchmarks failed: {}", failed.join(", "));
    Ok(())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| rackhand_bench::parse::meminfo_total_kib(&m))
        .map_or(String::new(), |kib| format!(", {} GiB", kib >> 20));
    format!("{cores} cores{mem}")
}
