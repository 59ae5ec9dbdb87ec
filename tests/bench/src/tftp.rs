//! TFTP: one file from boot-service, tftpd-hpa and dnsmasq's TFTP, fetched by the same client (atftp)
//! with the same blksize across the namespace veth, lock-step; then ours and atftpd (which has RFC 7440
//! windows too) with the same window. Each comparison is of the same protocol on both sides.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rackhand_bench::configs::{ATFTPD, SERVER_IP, atftpd_args, dnsmasq_tftp_args, tftpd_hpa_args};
use rackhand_bench::report::Row;
use rackhand_bench::stats::Better;

use crate::env::{Ctx, Pair, Proc, Proto, fresh_dir, peer, spawn, start_boot_service, timed, wait_listening};

const ATFTP: &str = "/usr/bin/atftp";
const TFTPD_HPA: &str = "/usr/sbin/in.tftpd";
const DNSMASQ: &str = "/usr/sbin/dnsmasq";
const FILE: &str = "bench.bin";
/// Fits a 1500-byte MTU with IP and UDP headers: what firmware asks for on Ethernet.
const BLKSIZE: u32 = 1428;
const WINDOW: u32 = 16;

pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let atftp = peer(ATFTP, "atftp").map_err(|e| anyhow::anyhow!("the TFTP client is missing: {e}"))?;
    let size: u64 = if ctx.smoke { 1 << 20 } else { 64 << 20 };
    let label = if ctx.smoke { "1 MiB" } else { "64 MiB" };
    let pair = Pair::create()?;
    let dir = fresh_dir(ctx, "tftp")?;
    let root = dir.join("root");
    std::fs::create_dir_all(&root)?;
    let file = File::create(root.join(FILE))?;
    images::synth_image(&mut BufWriter::new(file), size, 3).context("writing the TFTP test file")?;

    let fetch = |window: Option<u32>| -> anyhow::Result<f64> {
        let out = dir.join("fetched.bin");
        let _ = std::fs::remove_file(&out);
        let mut cmd = pair.client.command(&atftp);
        cmd.args(["--option", &format!("blksize {BLKSIZE}")]);
        if let Some(w) = window {
            cmd.args(["--option", &format!("windowsize {w}")]);
        }
        cmd.args(["-g", "-r", FILE, "-l"]).arg(&out).args([&SERVER_IP.to_string(), "69"]);
        let (took, _) = timed("atftp", &mut cmd, |c| c == Some(0))?;
        let got = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        if got != size {
            bail!("atftp fetched {got} bytes of {size}");
        }
        Ok(size as f64 / (1 << 20) as f64 / took.as_secs_f64())
    };
    // Each round runs every contender once, a fresh server for each fetch, the order turning every round:
    // a neighbour's load on a shared machine then falls on all of them alike, not on whoever ran last.
    let ours_dir = dir.join("ours");
    std::fs::create_dir_all(&ours_dir)?;
    let ours_start = || start_boot_service(ctx, &pair.server, &ours_dir, &root, &dir.join("images"));
    let peer_start = |name: &'static str, program: &str, package: &str, args: Vec<String>| {
        peer(program, package).map(|program| {
            let (pair, dir) = (&pair, &dir);
            Box::new(move || start(pair, name, &program, &args, dir)) as Starter<'_>
        })
    };
    let mut contenders: [Contender; 5] = [
        Contender::ours("boot-service TFTP", None, Box::new(ours_start)),
        Contender::ours("boot-service TFTP windowed", Some(WINDOW), Box::new(ours_start)),
        Contender::new("tftpd-hpa", None, peer_start("tftpd-hpa", TFTPD_HPA, "tftpd-hpa", tftpd_hpa_args(&root))),
        Contender::new(
            "dnsmasq TFTP",
            None,
            peer_start("dnsmasq (TFTP)", DNSMASQ, "dnsmasq-base", dnsmasq_tftp_args(&root)),
        ),
        Contender::new(
            "atftpd",
            Some(WINDOW),
            peer_start("atftpd", ATFTPD, "atftpd, unpacked by cargo xtask bench", atftpd_args(&root)),
        ),
    ];
    for round in 0..ctx.runs {
        let turn = contenders.len();
        for i in (0..turn).map(|i| (i + round) % turn) {
            let contender = &mut contenders[i];
            let Ok(start) = &contender.start else { continue };
            let mut proc = start().with_context(|| format!("starting {}", contender.name))?;
            let rate = fetch(contender.window).with_context(|| format!("fetching from {}", contender.name))?;
            proc.ensure_running()?;
            if contender.ours {
                proc.stop_cleanly(Duration::from_secs(5))?;
            } else {
                proc.stop(Duration::from_secs(5));
            }
            contender.samples.push(rate);
        }
    }
    let [ours, ours_window, hpa, dnsmasq, atftpd] = contenders.map(Contender::into_samples);
    let (ours, ours_window) = (ours.expect("ours always runs"), ours_window.expect("ours always runs"));
    let same = format!("atftp, blksize {BLKSIZE}, namespace veth");
    Ok(vec![
        paired(format!("tftp {label}, lock-step"), &ours, "tftpd-hpa", &hpa, Some(1.0))
            .with_note(format!("{same}; one block per round trip on both sides")),
        paired(format!("tftp {label}, lock-step"), &ours, "dnsmasq tftp", &dnsmasq, None).with_note(&same),
        paired(format!("tftp {label}, windowsize {WINDOW}"), &ours_window, "atftpd", &atftpd, Some(1.5))
            .with_note(format!("{same}; RFC 7440 windows of {WINDOW} blocks on both sides")),
    ])
}

/// MiB/s, ours against a peer run in the same rounds (or the reason the peer could not run).
fn paired(benchmark: String, ours: &[f64], peer: &str, theirs: &Result<Vec<f64>, String>, target: Option<f64>) -> Row {
    match theirs {
        Ok(theirs) => Row::compare_paired(benchmark, "MiB/s", Better::Higher, ours, peer, theirs, target),
        Err(reason) => Row::compare(benchmark, "MiB/s", Better::Higher, ours, peer, Err(reason.clone()), target),
    }
}

fn start(pair: &Pair, name: &str, program: &str, args: &[String], dir: &Path) -> anyhow::Result<Proc> {
    let mut proc = spawn(&pair.server, name, program, args, &[], &dir.join(format!("{}.log", name.replace(' ', "_"))))?;
    wait_listening(&pair.server, &mut proc, Proto::Udp, 69)?;
    Ok(proc)
}

type Starter<'a> = Box<dyn Fn() -> anyhow::Result<Proc> + 'a>;

/// One server in the rounds: how to start it, the window asked of it, its rates so far.
struct Contender<'a> {
    name: &'static str,
    /// Our own server, whose SIGTERM must end it cleanly.
    ours: bool,
    window: Option<u32>,
    start: Result<Starter<'a>, String>,
    samples: Vec<f64>,
}

impl<'a> Contender<'a> {
    fn new(name: &'static str, window: Option<u32>, start: Result<Starter<'a>, String>) -> Self {
        Self { name, ours: false, window, start, samples: Vec::new() }
    }

    fn ours(name: &'static str, window: Option<u32>, start: Starter<'a>) -> Self {
        Self { ours: true, ..Self::new(name, window, Ok(start)) }
    }

    /// Its rates, or why it could not run.
    fn into_samples(self) -> Result<Vec<f64>, String> {
        self.start.map(|_| self.samples)
    }
}
