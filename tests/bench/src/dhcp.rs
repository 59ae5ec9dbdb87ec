//! DHCP: perfdhcp doing full DORA at increasing rates against boot-service (full mode, SQLite leases),
//! Kea dhcp4 (memfile, persist on) and dnsmasq (--no-ping), each fresh for every run, all inside a
//! namespace pair. Then the leases boot-service stored are checked to survive a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use boot_service::store::{SqliteStore, Store};
use dhcproto::v4::MessageType;
use rackhand_bench::configs::{CLIENT_IF, SERVER_IP, dnsmasq_dhcp_args, kea_json};
use rackhand_bench::parse::{Perfdhcp, perfdhcp};
use rackhand_bench::report::{Row, num};
use rackhand_bench::stats::{Better, summarize};

use crate::env::{Ctx, Pair, Proc, Proto, fresh_dir, peer, spawn, start_boot_service, timed, wait_listening};

const PERFDHCP: &str = "/usr/sbin/perfdhcp";
const KEA: &str = "/usr/sbin/kea-dhcp4";
const DNSMASQ: &str = "/usr/sbin/dnsmasq";
/// Distinct simulated clients (perfdhcp -R): below the pool's size.
const CLIENTS: u32 = 60_000;

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Ours,
    Kea,
    Dnsmasq,
}

pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let pair = Pair::create()?;
    let perf = match peer(PERFDHCP, "kea-admin") {
        Ok(p) => p,
        Err(reason) => return own_client_only(ctx, &pair, &reason),
    };
    let (rates, secs): (&[u32], u32) = if ctx.smoke { (&[200], 1) } else { (&[1000, 5000, 10000, 20000], 4) };
    let kea = peer(KEA, "kea-dhcp4-server");
    let dnsmasq = peer(DNSMASQ, "dnsmasq-base");
    let mut rows = Vec::new();
    let mut last_store = None;
    // Each server's achieved rates at each offered rate, for the capacity rows.
    let mut achieved: Vec<(u32, Server, Vec<f64>)> = Vec::new();
    for &rate in rates {
        let mut reports: Vec<(Server, Perfdhcp)> = Vec::new();
        for run in 0..ctx.runs {
            for server in [Server::Ours, Server::Kea, Server::Dnsmasq] {
                let available = match server {
                    Server::Ours => Ok(()),
                    Server::Kea => kea.as_ref().map(drop),
                    Server::Dnsmasq => dnsmasq.as_ref().map(drop),
                };
                if available.is_err() {
                    continue;
                }
                let dir = fresh_dir(ctx, &format!("dhcp/{}-{rate}-{run}", name(server)))?;
                let mut proc = start(ctx, &pair, server, &dir)?;
                let report = perfdhcp_run(&pair, &perf, rate, secs)
                    .with_context(|| format!("perfdhcp against {} at {rate}/s", name(server)))?;
                proc.ensure_running()?;
                proc.stop(Duration::from_secs(5));
                if server == Server::Ours {
                    last_store = Some(dir);
                }
                reports.push((server, report));
            }
        }
        let of = |s: Server| -> Vec<Perfdhcp> { reports.iter().filter(|(x, _)| *x == s).map(|(_, r)| *r).collect() };
        let ours = of(Server::Ours);
        for server in [Server::Ours, Server::Kea, Server::Dnsmasq] {
            achieved.push((rate, server, of(server).iter().map(|p| p.rate).collect()));
        }
        for (server, target, reason) in
            [(Server::Kea, 2.0, kea.as_ref().err()), (Server::Dnsmasq, 5.0, dnsmasq.as_ref().err())]
        {
            let theirs = of(server);
            let rates_of = |r: &[Perfdhcp]| r.iter().map(|p| p.rate).collect::<Vec<_>>();
            let theirs_rates = rates_of(&theirs);
            let theirs_result = match reason {
                Some(reason) => Err(reason.clone()),
                None => Ok(theirs_rates.as_slice()),
            };
            let row = Row::compare(
                format!("dhcp DORA @{rate}/s"),
                "exch/s",
                Better::Higher,
                &rates_of(&ours),
                peer_label(server),
                theirs_result,
                Some(target),
            );
            let mut row = row.with_note(quality(&ours, &theirs));
            if below_saturation(&row, rate) {
                // Both delivered what perfdhcp offered: no capacity difference to judge at this rate.
                row.met = None;
                row = row.with_note("both kept up with the offered rate");
            } else if kept_up(row.ours.as_ref(), rate) && row.met == Some(false) {
                // Ours delivered all that was offered: the ratio is a floor, not a measurement of capacity.
                row.met = None;
                row = row.with_note("ours kept up with the offered rate: the ratio is only a floor");
            }
            rows.push(row);
        }
    }
    for (server, target, reason) in
        [(Server::Kea, 2.0, kea.as_ref().err()), (Server::Dnsmasq, 5.0, dnsmasq.as_ref().err())]
    {
        rows.push(capacity_row(&achieved, server, target, reason));
    }
    if let Some(dir) = last_store {
        rows.push(durability(ctx, &pair, &dir)?);
    }
    Ok(rows)
}

/// Whether both sides achieved (nearly) the offered rate.
fn below_saturation(row: &Row, rate: u32) -> bool {
    kept_up(row.ours.as_ref(), rate) && kept_up(row.theirs.as_ref(), rate)
}

fn kept_up(summary: Option<&rackhand_bench::stats::Summary>, rate: u32) -> bool {
    summary.is_some_and(|s| s.median >= 0.97 * f64::from(rate))
}

/// Capacity: each server at the offered rate where it achieved the most (median), ours against `server`.
fn capacity_row(achieved: &[(u32, Server, Vec<f64>)], server: Server, target: f64, reason: Option<&String>) -> Row {
    let best = |s: Server| {
        achieved
            .iter()
            .filter(|(_, x, samples)| *x == s && !samples.is_empty())
            .max_by(|a, b| median(&a.2).total_cmp(&median(&b.2)))
            .map(|(rate, _, samples)| (*rate, samples.as_slice()))
    };
    let (ours_rate, ours) = best(Server::Ours).unwrap_or((0, &[]));
    let theirs = match (reason, best(server)) {
        (Some(reason), _) => Err(reason.clone()),
        (None, Some((_, samples))) => Ok(samples),
        (None, None) => Err("no runs".to_string()),
    };
    let theirs_rate = best(server).map_or(0, |(rate, _)| rate);
    let row =
        Row::compare("dhcp DORA capacity", "exch/s", Better::Higher, ours, peer_label(server), theirs, Some(target));
    row.with_note(format!("each at the offered rate where it did best: ours {ours_rate}/s, theirs {theirs_rate}/s"))
}

fn median(samples: &[f64]) -> f64 {
    summarize(samples).map_or(0.0, |s| s.median)
}

fn name(server: Server) -> &'static str {
    match server {
        Server::Ours => "ours",
        Server::Kea => "kea",
        Server::Dnsmasq => "dnsmasq",
    }
}

fn peer_label(server: Server) -> &'static str {
    match server {
        Server::Ours => "boot-service",
        Server::Kea => "kea-dhcp4 memfile",
        Server::Dnsmasq => "dnsmasq --no-ping",
    }
}

/// Drops and DORA latency, medians, ours vs theirs.
fn quality(ours: &[Perfdhcp], theirs: &[Perfdhcp]) -> String {
    let med = |r: &[Perfdhcp], f: fn(&Perfdhcp) -> f64| {
        summarize(&r.iter().map(f).collect::<Vec<_>>()).map_or("—".into(), |s| num(s.median))
    };
    format!(
        "drops {}% vs {}%, DORA latency {} vs {} ms",
        med(ours, |p| p.drop_ratio() * 100.0),
        med(theirs, |p| p.drop_ratio() * 100.0),
        med(ours, Perfdhcp::dora_latency_ms),
        med(theirs, Perfdhcp::dora_latency_ms),
    )
}

fn start(ctx: &Ctx, pair: &Pair, server: Server, dir: &Path) -> anyhow::Result<Proc> {
    let ns = &pair.server;
    let mut proc = match server {
        Server::Ours => return start_boot_service(ctx, ns, dir, &dir.join("assets"), &dir.join("images")),
        Server::Kea => {
            let config = dir.join("kea.json");
            std::fs::write(&config, kea_json(&dir.join("leases.csv")))?;
            let d = dir.to_string_lossy();
            let envs = [("KEA_PIDFILE_DIR", &*d), ("KEA_LOCKFILE_DIR", &*d)];
            let args = ["-c".to_string(), config.display().to_string()];
            spawn(ns, "kea-dhcp4", KEA, &args, &envs, &dir.join("kea.log"))?
        }
        Server::Dnsmasq => {
            let args = dnsmasq_dhcp_args(&dir.join("leases"));
            spawn(ns, "dnsmasq (DHCP)", DNSMASQ, &args, &[], &dir.join("dnsmasq.log"))?
        }
    };
    wait_listening(ns, &mut proc, Proto::Udp, 67)?;
    Ok(proc)
}

fn perfdhcp_run(pair: &Pair, perf: &str, rate: u32, secs: u32) -> anyhow::Result<Perfdhcp> {
    let mut cmd = pair.client.command(perf);
    let (r, p, clients) = (rate.to_string(), secs.to_string(), CLIENTS.to_string());
    cmd.args(["-4", "-l", CLIENT_IF, "-r", &r, "-p", &p, "-R", &clients, &SERVER_IP.to_string()]);
    // perfdhcp exits 3 when packets were dropped: the report is what counts.
    let (_, out) = timed("perfdhcp", &mut cmd, |code| matches!(code, Some(0..=3)))?;
    let text = String::from_utf8_lossy(&out.stdout);
    perfdhcp(&text).map_err(|e| {
        anyhow::anyhow!(
            "reading perfdhcp's report: {e}\nstdout: {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Stop boot-service, read its store, restart it on the same store and ask for a stored lease back.
fn durability(ctx: &Ctx, pair: &Pair, dir: &Path) -> anyhow::Result<Row> {
    let db = dir.join("data/rackhand.db");
    let leases = SqliteStore::open(&db).with_context(|| format!("opening {}", db.display()))?.leases()?;
    let Some(lease) = leases.last().cloned() else {
        bail!("no leases in {} after a perfdhcp run", db.display());
    };
    let _proc = start_boot_service(ctx, &pair.server, dir, &dir.join("assets"), &dir.join("images"))?;
    let mac = lease.mac.octets();
    let reply = pair
        .client
        .spawn_inside(move || crate::client::request_known(mac, lease.ip).map_err(std::io::Error::other))?
        .join()
        .map_err(|_| anyhow::anyhow!("the durability client panicked"))??;
    let verdict = match reply {
        Some(r) if r.msg_type == MessageType::Ack && r.yiaddr == lease.ip => {
            format!("yes: restarted, {} re-ACKed {} (INIT-REBOOT REQUEST)", lease.mac, lease.ip)
        }
        Some(r) => format!("NO: restarted, {} asked for {} and got {:?} {}", lease.mac, lease.ip, r.msg_type, r.yiaddr),
        None => format!("NO: restarted, {} asked for {} and got no reply", lease.mac, lease.ip),
    };
    let row = Row::ours_only("dhcp leases durable across restart", "leases", Better::Higher, &[leases.len() as f64]);
    Ok(row.with_note(format!("{} leases in the SQLite store after SIGTERM; {verdict}", leases.len())))
}

/// Without perfdhcp (smoke runs where kea-admin is not installed): our own simulated clients, so our
/// side is still exercised.
fn own_client_only(ctx: &Ctx, pair: &Pair, reason: &str) -> anyhow::Result<Vec<Row>> {
    let n = if ctx.smoke { 20 } else { 1000 };
    let mut samples = Vec::new();
    let mut dir: Option<PathBuf> = None;
    for run in 0..ctx.runs {
        let d = fresh_dir(ctx, &format!("dhcp/own-{run}"))?;
        let mut proc = start_boot_service(ctx, &pair.server, &d, &d.join("assets"), &d.join("images"))?;
        let macs: Vec<[u8; 6]> = (0..n).map(rackhand_bench::dhcpmsg::client_mac).collect();
        let took = pair
            .client
            .spawn_inside(move || {
                let start = std::time::Instant::now();
                crate::client::dora_all(&macs, Duration::from_secs(30), |_, _| {}).map_err(std::io::Error::other)?;
                Ok(start.elapsed())
            })?
            .join()
            .map_err(|_| anyhow::anyhow!("the DHCP client thread panicked"))??;
        proc.stop(Duration::from_secs(5));
        samples.push(f64::from(n) / took.as_secs_f64());
        dir = Some(d);
    }
    let mut rows = vec![
        Row::ours_only(format!("dhcp DORA, {n} clients at once (own client)"), "exch/s", Better::Higher, &samples)
            .with_note(format!("{reason}: perfdhcp comparison skipped")),
    ];
    if let Some(d) = dir {
        rows.push(durability(ctx, pair, &d)?);
    }
    Ok(rows)
}
