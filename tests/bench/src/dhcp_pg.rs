//! DHCP on PostgreSQL: perfdhcp DORA against boot-service with its store in PostgreSQL, one instance and
//! then two sharing one database, side by side with Kea's PostgreSQL lease backend, all on one PostgreSQL
//! server started for the run with PostgreSQL's durable defaults, each side on a fresh database of its
//! own for every run. perfdhcp broadcasts (every side alike), so that both instances hear each client.
//! Then the leases the two instances stored are read from the database, and the instances, restarted,
//! give a stored lease back.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use boot_service::store::{PostgresStore, Store};
use rackhand_bench::configs::{CLIENT_IP, Instance, KeaLeases, KeaSocket, SECOND_SERVER_IP, SERVER_IP};
use rackhand_bench::parse::{Perfdhcp, prometheus_sample};
use rackhand_bench::report::Row;
use rackhand_bench::stats::Better;
use rackhand_test_postgres::{Durability, TestPostgres};

use crate::dhcp::{ask_back, capacity_row, perfdhcp_run, rate_row, start_kea};
use crate::env::{Ctx, Pair, Proc, fresh_dir, start_instance, timed};

/// perfdhcp's server argument for a broadcast DISCOVER and REQUEST.
const BROADCAST: &str = "all";
const KEA_LABEL: &str = "kea-dhcp4 PostgreSQL";
const KEA_THREADS_LABEL: &str = "kea-dhcp4 PostgreSQL multi-threaded";
/// The commit policies in short, on each rate's rows (the capacity rows state them in full).
const SHORT_POLICIES: &str = "ours: group commit; Kea: a commit per lease (see the capacity row)";

#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// One boot-service instance on PostgreSQL.
    One,
    /// Two instances on one PostgreSQL database, each at its own address, peers of each other.
    Two,
    /// Kea as configured by default: single-threaded.
    Kea,
    /// Kea with its multi-threading on.
    KeaThreads,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::One => "ours-1",
            Side::Two => "ours-2",
            Side::Kea => "kea",
            Side::KeaThreads => "kea-mt",
        }
    }

    fn is_kea(self) -> bool {
        matches!(self, Side::Kea | Side::KeaThreads)
    }
}

/// What the runs measured.
#[derive(Default)]
struct Measured {
    reports: Vec<(u32, Side, Perfdhcp)>,
    /// At each rate and side, from its last run: what each of the two instances ACKed, what Kea stored
    /// and how it says it ran.
    facts: Vec<(u32, Side, String)>,
    /// The work dir and database of the last two-instance run.
    last_two: Option<(PathBuf, String)>,
}

/// The rows; `kea_admin` is Kea's schema tool, or why Kea cannot be measured (our side still runs).
pub fn run(
    ctx: &Ctx,
    perf: &str,
    kea_admin: Result<String, String>,
    rates: &[u32],
    secs: u32,
) -> anyhow::Result<Vec<Row>> {
    let pg = TestPostgres::start(Durability::Full).map_err(|why| anyhow!("starting PostgreSQL: {why}"))?;
    let policies = commit_policies(&pg)?;
    let pair = Pair::with_second_server()?;
    let mut m = Measured::default();
    let setup = Setup { ctx, pg: &pg, pair: &pair, perf };
    for &rate in rates {
        for run in 0..ctx.runs {
            for side in [Side::One, Side::Two, Side::Kea, Side::KeaThreads] {
                let kea_admin = match (side.is_kea(), &kea_admin) {
                    (true, Err(_)) => continue,
                    (_, admin) => admin.as_deref().ok(),
                };
                measure(&setup, (rate, secs, run), side, kea_admin, &mut m)?;
            }
        }
    }

    let of = |side: Side, rate: u32| -> Vec<Perfdhcp> {
        m.reports.iter().filter(|(r, s, _)| *s == side && *r == rate).map(|(_, _, p)| *p).collect()
    };
    let achieved = |side: Side| -> Vec<(u32, Vec<f64>)> {
        rates.iter().map(|&rate| (rate, of(side, rate).iter().map(|p| p.rate).collect())).collect()
    };
    let last_fact = |side: Side, rate: u32| {
        m.facts.iter().rev().find(|(r, s, _)| *r == rate && *s == side).map_or("", |(_, _, fact)| fact.as_str())
    };
    let kea_reason = kea_admin.as_ref().err();
    let mut rows = Vec::new();
    for (side, what) in [(Side::One, "1 instance"), (Side::Two, "2 instances, one database")] {
        for &rate in rates {
            let kea = of(Side::Kea, rate);
            let theirs = kea_reason.map_or(Ok(kea.as_slice()), |why| Err(why.clone()));
            let benchmark = format!("dhcp DORA on PostgreSQL @{rate}/s, {what}");
            let row = rate_row(benchmark, rate, &of(side, rate), KEA_LABEL, theirs, 2.0).detail();
            let row = row.with_note(last_fact(side, rate)).with_note(last_fact(Side::Kea, rate));
            rows.push(row.with_note(SHORT_POLICIES));
        }
        for (kea_side, label) in [(Side::Kea, KEA_LABEL), (Side::KeaThreads, KEA_THREADS_LABEL)] {
            let kea = achieved(kea_side);
            let theirs = kea_reason.map_or(Ok(kea.as_slice()), |why| Err(why.clone()));
            let benchmark = format!("dhcp DORA capacity on PostgreSQL, {what}");
            let row = capacity_row(&benchmark, &achieved(side), label, theirs, 2.0).with_note(&policies);
            rows.push(row.with_note(rates.last().map_or("", |&rate| last_fact(kea_side, rate))));
        }
    }
    if let Some((dir, db)) = m.last_two {
        rows.push(durability(ctx, &pair, &dir, &db)?);
    }
    Ok(rows)
}

/// What every run uses: the PostgreSQL server, the namespaces, perfdhcp.
struct Setup<'a> {
    ctx: &'a Ctx,
    pg: &'a TestPostgres,
    pair: &'a Pair,
    perf: &'a str,
}

/// One run of `side` at `rate` for `secs` seconds on a fresh database: its perfdhcp report and facts.
fn measure(
    setup: &Setup<'_>,
    (rate, secs, run): (u32, u32, usize),
    side: Side,
    kea_admin: Option<&str>,
    m: &mut Measured,
) -> anyhow::Result<()> {
    let Setup { ctx, pg, pair, perf } = *setup;
    let dir = fresh_dir(ctx, &format!("dhcp-pg/{}-{rate}-{run}", side.name()))?;
    let db = pg.try_database().map_err(|why| anyhow!("a database for {}: {why}", side.name()))?;
    let mut procs = start(ctx, pair, side, &dir, &db, pg, kea_admin)?;
    let report = perfdhcp_run(pair, perf, rate, secs, BROADCAST)
        .with_context(|| format!("perfdhcp against {} on PostgreSQL at {rate}/s", side.name()))?;
    for proc in &mut procs {
        proc.ensure_running()?;
    }
    if side == Side::Two {
        let (a, b) = (acks_sent(pair, SERVER_IP)?, acks_sent(pair, SECOND_SERVER_IP)?);
        m.facts.push((rate, side, format!("ACKs sent by {SERVER_IP} / {SECOND_SERVER_IP}: {a} / {b}")));
    }
    for proc in &mut procs {
        if side.is_kea() {
            proc.stop(Duration::from_secs(5));
        } else {
            proc.stop_cleanly(Duration::from_secs(5))?;
        }
    }
    if side.is_kea() {
        let log = std::fs::read_to_string(dir.join("kea.log")).unwrap_or_default();
        let threads = log.lines().find_map(|l| l.split_once("DHCP4_MULTI_THREADING_INFO ")).map_or("?", |(_, t)| t);
        let fact = format!("leases in Kea's database: {}; Kea's threading: {threads}", kea_leases(&db)?);
        m.facts.push((rate, side, fact));
    }
    if side == Side::Two {
        m.last_two = Some((dir, db));
    }
    m.reports.push((rate, side, report));
    Ok(())
}

/// Start one side on database `db` (a connection string of `pg`); returns once each process listens.
fn start(
    ctx: &Ctx,
    pair: &Pair,
    side: Side,
    dir: &Path,
    db: &str,
    pg: &TestPostgres,
    kea_admin: Option<&str>,
) -> anyhow::Result<Vec<Proc>> {
    let ours = |instance: &Instance, dir: &Path| -> anyhow::Result<Proc> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        start_instance(ctx, &pair.server, dir, &dir.join("assets"), &dir.join("images"), instance)
    };
    match side {
        Side::One => {
            let instance = Instance { postgres: Some(db.to_owned()), ..Instance::default() };
            Ok(vec![ours(&instance, dir)?])
        }
        Side::Two => start_two(ctx, pair, dir, db),
        Side::Kea | Side::KeaThreads => {
            let admin = kea_admin.context("kea-admin is not installed")?;
            let name = db_name(db)?;
            let host = pg.socket_dir();
            let mut init = std::process::Command::new(admin);
            init.args(["db-init", "pgsql", "-n", &name, "-u", pg.user(), "-h"]).arg(host);
            // No password: the server trusts its socket; kea-admin would otherwise ask for one.
            init.env("KEA_ADMIN_DB_PASSWORD", "");
            timed("kea-admin db-init pgsql", &mut init, |code| code == Some(0))?;
            let leases = KeaLeases::Postgres { name: &name, host, user: pg.user() };
            Ok(vec![start_kea(pair, dir, &leases, KeaSocket::Raw, side == Side::KeaThreads)?])
        }
    }
}

/// The two instances on database `db`, in `dir/a` and `dir/b`.
fn start_two(ctx: &Ctx, pair: &Pair, dir: &Path, db: &str) -> anyhow::Result<Vec<Proc>> {
    let addresses = [SERVER_IP, SECOND_SERVER_IP];
    let mut procs = Vec::new();
    for (index, sub) in ["a", "b"].into_iter().enumerate() {
        let dir = dir.join(sub);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let instance = Instance::shared(&addresses, index, db);
        procs.push(start_instance(ctx, &pair.server, &dir, &dir.join("assets"), &dir.join("images"), &instance)?);
    }
    Ok(procs)
}

/// The DHCP ACKs an instance has sent, from its `/metrics`.
fn acks_sent(pair: &Pair, instance: Ipv4Addr) -> anyhow::Result<f64> {
    let url = format!("http://{instance}/metrics");
    let (status, body) = pair
        .client
        .spawn_inside({
            let url = url.clone();
            move || crate::client::http_get_from(CLIENT_IP, &url).map_err(std::io::Error::other)
        })?
        .join()
        .map_err(|_| anyhow!("the metrics client panicked"))??;
    anyhow::ensure!(status == 200, "GET {url}: HTTP {status}");
    let text = String::from_utf8_lossy(&body);
    Ok(prometheus_sample(&text, r#"rackhand_dhcp_replies_total{msg_type="ack"}"#).unwrap_or(0.0))
}

/// How many leases Kea's PostgreSQL backend holds in database `db` (its table `lease4`).
fn kea_leases(db: &str) -> anyhow::Result<i64> {
    let mut client = postgres::Client::connect(db, postgres::NoTls).context("connecting to Kea's database")?;
    let row = client.query_one("SELECT COUNT(*) FROM lease4", &[]).context("counting Kea's leases")?;
    Ok(row.get(0))
}

/// The database name of a libpq connection string.
fn db_name(conn: &str) -> anyhow::Result<String> {
    let config: postgres::Config = conn.parse().with_context(|| format!("reading connection string {conn}"))?;
    config.get_dbname().map(str::to_owned).with_context(|| format!("no dbname in {conn}"))
}

/// What is on disk when an ACK leaves, on each side, with the server's settings as it reports them.
fn commit_policies(pg: &TestPostgres) -> anyhow::Result<String> {
    let setting = |name: &str| pg.setting(name).map_err(|why| anyhow!("PostgreSQL: {why}"));
    let (sync, fsync) = (setting("synchronous_commit")?, setting("fsync")?);
    let on_disk = if sync == "on" && fsync == "on" {
        "a commit returns once its WAL is flushed, so on both sides every ACKed lease is on disk when its ACK leaves"
    } else {
        "a commit returns before its WAL is on disk, so on neither side is an ACKed lease sure to be on disk"
    };
    Ok(format!(
        "one PostgreSQL server for both sides, synchronous_commit={sync}, fsync={fsync}: {on_disk}; ours: \
         group commit, the ACKs of each burst of queued packets leave after the one transaction holding \
         all their leases commits; Kea: each lease committed on its own (a transaction per lease) before \
         its ACK"
    ))
}

/// After the last two-instance run (both stopped): read their leases from the database, restart both on
/// it, and ask for a stored lease back.
fn durability(ctx: &Ctx, pair: &Pair, dir: &Path, db: &str) -> anyhow::Result<Row> {
    let leases = PostgresStore::open(db).context("opening the two instances' database")?.leases()?;
    let Some(lease) = leases.last().cloned() else {
        anyhow::bail!("no leases in the two instances' PostgreSQL database after a perfdhcp run");
    };
    let _procs = start_two(ctx, pair, dir, db)?;
    let verdict = ask_back(pair, &lease)?;
    let row = Row::ours_only(
        "dhcp leases durable across restart, PostgreSQL",
        "leases",
        Better::Higher,
        &[leases.len() as f64],
    );
    Ok(row.with_note(format!(
        "{} leases in the two instances' PostgreSQL database after SIGTERM; both restarted: {verdict}",
        leases.len()
    )))
}
