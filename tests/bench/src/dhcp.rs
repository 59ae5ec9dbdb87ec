//! DHCP: perfdhcp doing full DORA at increasing rates against boot-service (full mode, SQLite leases),
//! Kea dhcp4 (memfile, persist on) with raw sockets and with UDP sockets, and dnsmasq (--no-ping), each
//! fresh for every run, all inside a namespace pair; every row says what each side has on disk when
//! its ACK leaves, and each server's CPU per exchange ([`crate::dhcp_cpu`]). Then the leases boot-service stored are checked to survive a restart. The same on
//! PostgreSQL, against Kea's PostgreSQL backend, follows ([`crate::dhcp_pg`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use boot_service::store::{Lease, SqliteStore, Store};
use dhcproto::v4::MessageType;
use rackhand_bench::configs::{
    CLIENT_IF, DNSMASQ_AT_ACK, KEA_MEMFILE_AT_ACK, KeaLeases, KeaSocket, OURS_AT_ACK, SERVER_IP, dnsmasq_dhcp_args,
    kea_json,
};
use rackhand_bench::parse::{Perfdhcp, perfdhcp};
use rackhand_bench::report::{Row, num};
use rackhand_bench::stats::{Better, summarize};

use crate::dhcp_cpu::{Cpu, client_note, cpu_row, per_rate_rows};
use crate::env::{
    Ctx, Pair, Proc, Proto, children_cpu_seconds, fresh_dir, peer, spawn, start_boot_service, timed, wait_listening,
};

const PERFDHCP: &str = "/usr/sbin/perfdhcp";
const KEA: &str = "/usr/sbin/kea-dhcp4";
const DNSMASQ: &str = "/usr/sbin/dnsmasq";
/// Makes the schema of Kea's PostgreSQL lease backend (`kea-admin db-init pgsql`).
const KEA_ADMIN: &str = "/usr/sbin/kea-admin";
/// Distinct simulated clients (perfdhcp -R): below the pool's size.
const CLIENTS: u32 = 60_000;

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Ours,
    Kea(KeaSocket),
    Dnsmasq,
}

const SERVERS: [Server; 4] = [Server::Ours, Server::Kea(KeaSocket::Raw), Server::Kea(KeaSocket::Udp), Server::Dnsmasq];

/// Ours against each peer: at least 3× either Kea configuration (so 3× the faster), 5× dnsmasq.
fn target(server: Server) -> f64 {
    match server {
        Server::Dnsmasq => 5.0,
        _ => 3.0,
    }
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
    let unavailable = |server: Server| match server {
        Server::Ours => None,
        Server::Kea(_) => kea.as_ref().err(),
        Server::Dnsmasq => dnsmasq.as_ref().err(),
    };
    let mut rows = Vec::new();
    let mut last_store = None;
    // Each server's achieved rates at each offered rate, for the capacity rows.
    let mut achieved: Vec<(u32, Server, Vec<f64>)> = Vec::new();
    // Every run's CPU accounting, for the CPU-per-exchange rows.
    let mut cpu: Vec<(Server, Cpu)> = Vec::new();
    for &rate in rates {
        let mut reports: Vec<(Server, Perfdhcp)> = Vec::new();
        for run in 0..ctx.runs {
            for server in SERVERS.into_iter().filter(|s| unavailable(*s).is_none()) {
                let dir = fresh_dir(ctx, &format!("dhcp/{}-{rate}-{run}", name(server)))?;
                let mut proc = start(ctx, &pair, server, &dir)?;
                let (server_before, client_before) = (proc.cpu_seconds()?, children_cpu_seconds()?);
                let started = std::time::Instant::now();
                let report = perfdhcp_run(&pair, &perf, rate, secs, &SERVER_IP.to_string())
                    .with_context(|| format!("perfdhcp against {} at {rate}/s", name(server)))?;
                proc.ensure_running()?;
                cpu.push((
                    server,
                    Cpu {
                        rate,
                        achieved: report.rate,
                        server_s: proc.cpu_seconds()? - server_before,
                        client_s: children_cpu_seconds()? - client_before,
                        duration_s: started.elapsed().as_secs_f64(),
                        acks: report.request_ack.received,
                    },
                ));
                if server == Server::Ours {
                    proc.stop_cleanly(Duration::from_secs(5))?;
                    last_store = Some(dir);
                } else {
                    proc.stop(Duration::from_secs(5));
                }
                reports.push((server, report));
            }
        }
        let of = |s: Server| -> Vec<Perfdhcp> { reports.iter().filter(|(x, _)| *x == s).map(|(_, r)| *r).collect() };
        let ours = of(Server::Ours);
        for server in SERVERS {
            achieved.push((rate, server, of(server).iter().map(|p| p.rate).collect()));
        }
        for server in &SERVERS[1..] {
            let theirs = of(*server);
            let theirs = unavailable(*server).map_or(Ok(theirs.as_slice()), |reason| Err(reason.clone()));
            let row =
                rate_row(format!("dhcp DORA @{rate}/s"), rate, &ours, peer_label(*server), theirs, target(*server));
            rows.push(row.detail());
        }
    }
    let of = |s: Server| -> Vec<(u32, Vec<f64>)> {
        achieved.iter().filter(|(_, x, _)| *x == s).map(|(rate, _, samples)| (*rate, samples.clone())).collect()
    };
    for server in &SERVERS[1..] {
        let theirs = of(*server);
        let theirs = unavailable(*server).map_or(Ok(theirs.as_slice()), |reason| Err(reason.clone()));
        let row = capacity_row("dhcp DORA capacity", &of(Server::Ours), peer_label(*server), theirs, target(*server));
        rows.push(row.with_note(format!("on disk at ACK: {OURS_AT_ACK}; {}", at_ack(*server))));
    }
    let cpu_of = |s: Server| -> Vec<Cpu> { cpu.iter().filter(|(x, _)| *x == s).map(|(_, c)| *c).collect() };
    let perfdhcp_share = client_note(&cpu.iter().map(|(_, c)| *c).collect::<Vec<_>>());
    for server in &SERVERS[1..] {
        let theirs = cpu_of(*server);
        let theirs = unavailable(*server).map_or(Ok(theirs.as_slice()), |reason| Err(reason.clone()));
        let row = cpu_row(
            "dhcp CPU per 1000 DORA exchanges",
            &cpu_of(Server::Ours),
            peer_label(*server),
            theirs,
            target(*server),
        );
        rows.push(row.with_note(&perfdhcp_share));
    }
    rows.extend(per_rate_rows("dhcp CPU per 1000 DORA exchanges, ours", &cpu_of(Server::Ours)));
    if let Some(dir) = last_store {
        rows.push(durability(ctx, &pair, &dir)?);
    }
    drop(pair);
    let kea_admin = kea.clone().and_then(|_| peer(KEA_ADMIN, "kea-admin"));
    rows.extend(crate::dhcp_pg::run(ctx, &perf, kea_admin, rates, secs)?);
    Ok(rows)
}

/// Ours against a peer at one offered rate: achieved exchanges per second, with drops and latency in
/// the notes; no verdict where the offered rate, not a server, was the limit.
pub(crate) fn rate_row(
    benchmark: String,
    rate: u32,
    ours: &[Perfdhcp],
    peer: &str,
    theirs: Result<&[Perfdhcp], String>,
    target: f64,
) -> Row {
    let rates_of = |r: &[Perfdhcp]| r.iter().map(|p| p.rate).collect::<Vec<_>>();
    let theirs_reports = theirs.as_ref().map_or(&[][..], |t| *t);
    let theirs_rates = theirs.map(rates_of);
    let theirs_rates = theirs_rates.as_ref().map(Vec::as_slice).map_err(Clone::clone);
    let row = Row::compare(benchmark, "exch/s", Better::Higher, &rates_of(ours), peer, theirs_rates, Some(target));
    let mut row = row.with_note(quality(ours, theirs_reports));
    if below_saturation(&row, rate) {
        // Both delivered what perfdhcp offered: no capacity difference to judge at this rate.
        row.met = None;
        row = row.with_note("both kept up with the offered rate");
    } else if kept_up(row.ours.as_ref(), rate) && row.met == Some(false) {
        // Ours delivered all that was offered: the ratio is a floor, not a measurement of capacity.
        row.met = None;
        row = row.with_note("ours kept up with the offered rate: the ratio is only a floor");
    }
    row
}

/// Whether both sides achieved (nearly) the offered rate.
fn below_saturation(row: &Row, rate: u32) -> bool {
    kept_up(row.ours.as_ref(), rate) && kept_up(row.theirs.as_ref(), rate)
}

fn kept_up(summary: Option<&rackhand_bench::stats::Summary>, rate: u32) -> bool {
    summary.is_some_and(|s| s.median >= 0.97 * f64::from(rate))
}

/// Capacity: each side at the offered rate where it achieved the most (median). `ours` and `theirs`
/// are the achieved rates of each run at each offered rate.
pub(crate) fn capacity_row(
    benchmark: &str,
    ours: &[(u32, Vec<f64>)],
    peer: &str,
    theirs: Result<&[(u32, Vec<f64>)], String>,
    target: f64,
) -> Row {
    let best = |achieved: &[(u32, Vec<f64>)]| {
        achieved
            .iter()
            .filter(|(_, samples)| !samples.is_empty())
            .max_by(|a, b| median(&a.1).total_cmp(&median(&b.1)))
            .map(|(rate, samples)| (*rate, samples.clone()))
    };
    let (ours_rate, ours) = best(ours).unwrap_or((0, Vec::new()));
    let theirs = theirs.and_then(|t| best(t).ok_or_else(|| "no runs".to_string()));
    let theirs_rate = theirs.as_ref().map_or(0, |(rate, _)| *rate);
    let samples = theirs.as_ref().map(|(_, s)| s.as_slice()).map_err(Clone::clone);
    let row = Row::compare(benchmark, "exch/s", Better::Higher, &ours, peer, samples, Some(target));
    row.with_note(format!("each at the offered rate where it did best: ours {ours_rate}/s, theirs {theirs_rate}/s"))
}

fn median(samples: &[f64]) -> f64 {
    summarize(samples).map_or(0.0, |s| s.median)
}

fn name(server: Server) -> &'static str {
    match server {
        Server::Ours => "ours",
        Server::Kea(KeaSocket::Raw) => "kea-raw",
        Server::Kea(KeaSocket::Udp) => "kea-udp",
        Server::Dnsmasq => "dnsmasq",
    }
}

fn peer_label(server: Server) -> &'static str {
    match server {
        Server::Ours => "boot-service",
        Server::Kea(KeaSocket::Raw) => "kea-dhcp4 memfile, raw sockets",
        Server::Kea(KeaSocket::Udp) => "kea-dhcp4 memfile, UDP sockets",
        Server::Dnsmasq => "dnsmasq --no-ping",
    }
}

/// What the peer has on disk when its ACK leaves.
fn at_ack(server: Server) -> &'static str {
    match server {
        Server::Ours => OURS_AT_ACK,
        Server::Kea(_) => KEA_MEMFILE_AT_ACK,
        Server::Dnsmasq => DNSMASQ_AT_ACK,
    }
}

/// Drops and DORA latency, medians, ours vs theirs.
pub(crate) fn quality(ours: &[Perfdhcp], theirs: &[Perfdhcp]) -> String {
    let med = |r: &[Perfdhcp], f: fn(&Perfdhcp) -> f64| {
        summarize(&r.iter().map(f).collect::<Vec<_>>()).map_or("—".into(), |s| num(s.median))
    };
    let count = |r: &[Perfdhcp], f: fn(&Perfdhcp) -> u64| {
        summarize(&r.iter().map(|p| f(p) as f64).collect::<Vec<_>>())
            .map_or("—".into(), |s| format!("{:.0}", s.median))
    };
    format!(
        "drops {}% vs {}% (replies lost in perfdhcp's own full receive buffer: {} vs {}), DORA latency {} vs {} ms",
        med(ours, |p| p.drop_ratio() * 100.0),
        med(theirs, |p| p.drop_ratio() * 100.0),
        count(ours, |p| p.client_buffer_drops),
        count(theirs, |p| p.client_buffer_drops),
        med(ours, Perfdhcp::dora_latency_ms),
        med(theirs, Perfdhcp::dora_latency_ms),
    )
}

fn start(ctx: &Ctx, pair: &Pair, server: Server, dir: &Path) -> anyhow::Result<Proc> {
    let ns = &pair.server;
    let mut proc = match server {
        Server::Ours => return start_boot_service(ctx, ns, dir, &dir.join("assets"), &dir.join("images")),
        Server::Kea(socket) => {
            return start_kea(pair, dir, &KeaLeases::Memfile(&dir.join("leases.csv")), socket, false);
        }
        Server::Dnsmasq => {
            let args = dnsmasq_dhcp_args(&dir.join("leases"));
            spawn(ns, "dnsmasq (DHCP)", DNSMASQ, &args, &[], &dir.join("dnsmasq.log"))?
        }
    };
    wait_listening(ns, &mut proc, Proto::Udp, 67)?;
    Ok(proc)
}

/// kea-dhcp4 in `pair.server`, its config, pid and lock files and log in `dir`, its leases in `leases`
/// over `socket`s ([`kea_json`] says what `multi_threaded` means).
pub(crate) fn start_kea(
    pair: &Pair,
    dir: &Path,
    leases: &KeaLeases<'_>,
    socket: KeaSocket,
    multi_threaded: bool,
) -> anyhow::Result<Proc> {
    let config = dir.join("kea.json");
    std::fs::write(&config, kea_json(leases, socket, multi_threaded))
        .with_context(|| format!("writing {}", config.display()))?;
    let d = dir.to_string_lossy();
    let envs = [("KEA_PIDFILE_DIR", &*d), ("KEA_LOCKFILE_DIR", &*d)];
    let args = ["-c".to_string(), config.display().to_string()];
    let mut proc = spawn(&pair.server, "kea-dhcp4", KEA, &args, &envs, &dir.join("kea.log"))?;
    wait_listening(&pair.server, &mut proc, Proto::Udp, 67)?;
    Ok(proc)
}

/// perfdhcp at `rate` for `secs` seconds, sending to `server` (an address, or `all` to broadcast).
pub(crate) fn perfdhcp_run(pair: &Pair, perf: &str, rate: u32, secs: u32, server: &str) -> anyhow::Result<Perfdhcp> {
    let mut cmd = pair.client.command(perf);
    let (r, p, clients) = (rate.to_string(), secs.to_string(), CLIENTS.to_string());
    cmd.args(["-4", "-l", CLIENT_IF, "-r", &r, "-p", &p, "-R", &clients, server]);
    let buffer_drops_before = client_buffer_drops(pair)?;
    // perfdhcp exits 3 when packets were dropped: the report is what counts.
    let (_, out) = timed("perfdhcp", &mut cmd, |code| matches!(code, Some(0..=3)))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut report = perfdhcp(&text).map_err(|e| {
        anyhow::anyhow!(
            "reading perfdhcp's report: {e}\nstdout: {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    report.client_buffer_drops = client_buffer_drops(pair)?.saturating_sub(buffer_drops_before);
    Ok(report)
}

/// UDP datagrams dropped in the client's namespace for a full receive buffer so far: perfdhcp is its
/// only UDP receiver, so these are replies it lost itself, however fast the server was.
fn client_buffer_drops(pair: &Pair) -> anyhow::Result<u64> {
    let out =
        pair.client.command("cat").arg("/proc/net/snmp").output().context("reading the client's /proc/net/snmp")?;
    let text = String::from_utf8_lossy(&out.stdout);
    rackhand_bench::parse::snmp_udp_rcvbuf_errors(&text)
        .with_context(|| format!("no Udp RcvbufErrors in the client namespace's /proc/net/snmp:\n{text}"))
}

/// Stop boot-service, read its store, restart it on the same store and ask for a stored lease back.
fn durability(ctx: &Ctx, pair: &Pair, dir: &Path) -> anyhow::Result<Row> {
    let db = dir.join("data/rackhand.db");
    let leases = SqliteStore::open(&db).with_context(|| format!("opening {}", db.display()))?.leases()?;
    let Some(lease) = leases.last().cloned() else {
        bail!("no leases in {} after a perfdhcp run", db.display());
    };
    let _proc = start_boot_service(ctx, &pair.server, dir, &dir.join("assets"), &dir.join("images"))?;
    let verdict = ask_back(pair, &lease)?;
    let row = Row::ours_only("dhcp leases durable across restart", "leases", Better::Higher, &[leases.len() as f64]);
    Ok(row.with_note(format!("{} leases in the SQLite store after SIGTERM; {verdict}", leases.len())))
}

/// After a restart: the client of a stored `lease` asks for its address back (INIT-REBOOT REQUEST,
/// broadcast); the verdict, `yes: …` when it is ACKed.
pub(crate) fn ask_back(pair: &Pair, lease: &Lease) -> anyhow::Result<String> {
    let (mac, ip) = (lease.mac.octets(), lease.ip);
    let reply = pair
        .client
        .spawn_inside(move || crate::client::request_known(mac, ip).map_err(std::io::Error::other))?
        .join()
        .map_err(|_| anyhow::anyhow!("the durability client panicked"))??;
    Ok(match reply {
        Some(r) if r.msg_type == MessageType::Ack && r.yiaddr == ip => {
            format!("yes: restarted, {} re-ACKed {ip} (INIT-REBOOT REQUEST)", lease.mac)
        }
        Some(r) => format!("NO: restarted, {} asked for {ip} and got {:?} {}", lease.mac, r.msg_type, r.yiaddr),
        None => format!("NO: restarted, {} asked for {ip} and got no reply", lease.mac),
    })
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
