//! A throwaway PostgreSQL server for tests, from Debian's own binaries (`/usr/lib/postgresql/*/bin`):
//! one per test process, started on first use, listening only on a Unix socket of its own (no TCP
//! port, no system service). Each test asks it for a fresh database of its own.
//!
//! Its data directory is `target/pg-test/<pid>/data` (under the system's temporary directory instead
//! when the server's user could not reach `target/`, as in a clone under a private home). The server runs under a small shell that waits on
//! a pipe from the test process: when the test process ends (however it ends, the pipe's last end
//! closes), the shell stops the server and deletes the data. Directories left by a process that is gone
//! (a machine stopped mid-run) are deleted by the next start.
//!
//! As root (CI), initdb and the server run as Debian's `postgres` user, as PostgreSQL refuses to run
//! as root. When the binaries are missing the tests are skipped with a message, unless [`REQUIRE_ENV`]
//! is set (as `cargo xtask test` sets it), which makes it a failure.
//!
//! The tests' server trades durability for speed ([`Durability::Off`]). A benchmark that compares
//! commit policies starts its own with PostgreSQL's defaults instead ([`TestPostgres::start`] with
//! [`Durability::Full`]), and gets errors back rather than skips and panics.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Environment variable that turns a missing PostgreSQL into a test failure instead of a skip.
pub const REQUIRE_ENV: &str = "RACKHAND_REQUIRE_POSTGRES";

/// The superuser initdb creates; trusted on the Unix socket (the socket's directory is the server's own).
const SUPERUSER: &str = "postgres";
/// How long a fresh server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What a commit has done when it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: nothing waits for the disk (tests).
    Off,
    /// PostgreSQL's defaults: a commit returns once its WAL is flushed to disk (benchmarks).
    Full,
}

impl Durability {
    /// The `postgres -c` settings that differ from PostgreSQL's defaults.
    fn settings(self) -> &'static [&'static str] {
        match self {
            Durability::Off => &["fsync=off", "synchronous_commit=off", "full_page_writes=off"],
            Durability::Full => &[],
        }
    }
}

pub struct TestPostgres {
    socket_dir: PathBuf,
    log: PathBuf,
    next_database: AtomicU32,
    /// The shell that stops the server when this end closes; never written to.
    stop: Mutex<(Child, ChildStdin)>,
}

/// The server of this test process, started on first use. `None` (after printing why) when PostgreSQL
/// is not installed and [`REQUIRE_ENV`] is unset; panics when it is set, or when a server that should
/// start does not.
pub fn server() -> Option<&'static TestPostgres> {
    static SERVER: OnceLock<Result<TestPostgres, Unavailable>> = OnceLock::new();
    match SERVER.get_or_init(|| TestPostgres::start_or_why(Durability::Off)) {
        Ok(server) => Some(server),
        Err(Unavailable::NotInstalled(why)) if std::env::var_os(REQUIRE_ENV).is_none() => {
            eprintln!("SKIPPED: {why}");
            None
        }
        Err(Unavailable::NotInstalled(why) | Unavailable::Failed(why)) => panic!("test PostgreSQL: {why}"),
    }
}

/// Skip the calling test (returning from it) when [`server`] says PostgreSQL is unavailable; else bind
/// the server to `$name`.
#[macro_export]
macro_rules! require_postgres {
    ($name:ident) => {
        let Some($name) = $crate::server() else { return };
    };
}

#[derive(Debug)]
enum Unavailable {
    NotInstalled(String),
    Failed(String),
}

impl TestPostgres {
    /// A server of the caller's own (not this process's shared one), stopped when it is dropped or the
    /// process ends; the error says what failed (PostgreSQL not installed, initdb, the server's log).
    pub fn start(durability: Durability) -> Result<TestPostgres, String> {
        Self::start_or_why(durability).map_err(|(Unavailable::NotInstalled(why) | Unavailable::Failed(why))| why)
    }

    /// A new empty database on this server: its connection string (libpq's `key=value` form).
    pub fn database(&self) -> String {
        self.try_database().unwrap_or_else(|err| panic!("test PostgreSQL: {err}"))
    }

    /// [`TestPostgres::database`], failing with the reason instead of panicking.
    pub fn try_database(&self) -> Result<String, String> {
        let name = format!("t{}", self.next_database.fetch_add(1, Ordering::Relaxed));
        let mut admin = self.admin()?;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).map_err(|err| format!("creating {name}: {err}"))?;
        Ok(self.conn_string(&name))
    }

    /// The server's value of a setting (`SHOW name`), e.g. `synchronous_commit`.
    pub fn setting(&self, name: &str) -> Result<String, String> {
        let row = self.admin()?.query_one("SELECT current_setting($1)", &[&name]);
        row.map(|row| row.get(0)).map_err(|err| format!("reading setting {name}: {err}"))
    }

    /// The directory of the server's Unix socket (libpq's and Kea's `host`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The superuser to connect as (trusted on the socket, no password).
    pub fn user(&self) -> &'static str {
        SUPERUSER
    }

    fn admin(&self) -> Result<postgres::Client, String> {
        postgres::Client::connect(&self.conn_string("postgres"), postgres::NoTls)
            .map_err(|err| format!("connecting: {err} (log: {})", self.log.display()))
    }

    fn conn_string(&self, dbname: &str) -> String {
        format!("host={} user={SUPERUSER} dbname={dbname}", self.socket_dir.display())
    }

    fn start_or_why(durability: Durability) -> Result<TestPostgres, Unavailable> {
        let bin = bindir().ok_or_else(|| {
            Unavailable::NotInstalled(
                "PostgreSQL's server is not installed (Debian package postgresql; `cargo xtask test` installs it)"
                    .into(),
            )
        })?;
        let failed = |what: &str, err: &dyn std::fmt::Display| Unavailable::Failed(format!("{what}: {err}"));
        let owner = server_user().map_err(|e| failed("finding the `postgres` user", &e))?;
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
        let root = if owner.is_none() || reachable_by_all(&target) {
            target.join("pg-test")
        } else {
            std::env::temp_dir().join("rackhand-pg-test")
        };
        std::fs::create_dir_all(&root).map_err(|e| failed("creating the test servers' directory", &e))?;
        prune_dead(&root);
        // One directory per server: this process's pid, and a counter after the first.
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let dir = match STARTED.fetch_add(1, Ordering::Relaxed) {
            0 => root.join(std::process::id().to_string()),
            n => root.join(format!("{}-{n}", std::process::id())),
        };
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).map_err(|e| failed("creating the data directory", &e))?;
        let dir = dir.canonicalize().map_err(|e| failed("resolving the data directory", &e))?;
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(&dir, Some(uid.into()), Some(gid.into())).map_err(|e| failed("chown", &e))?;
        }
        let data = dir.join("data");
        let log = dir.join("server.log");

        let init = as_owner(Command::new(bin.join("initdb")), owner)
            .arg("--pgdata")
            .arg(&data)
            .args(["--username", SUPERUSER, "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync"])
            .output()
            .map_err(|e| failed("running initdb", &e))?;
        if !init.status.success() {
            return Err(failed("initdb", &String::from_utf8_lossy(&init.stderr)));
        }

        // The server stops, and its data goes, when the test process's end of stdin closes.
        let script = r#"
            bin=$1 data=$2 socket=$3 log=$4
            shift 4
            "$bin/postgres" -D "$data" -k "$socket" -c listen_addresses= -c max_connections=200 "$@" \
                </dev/null >"$log" 2>&1 &
            server=$!
            read -r _
            kill -INT "$server"
            wait "$server"
            rm -rf "$data"
        "#;
        let settings = durability.settings().iter().flat_map(|setting| ["-c", setting]);
        let mut shell = as_owner(Command::new("/bin/sh"), owner)
            .args(["-c", script, "test-postgres"])
            .args([&bin, &data, &dir, &log])
            .args(settings)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed("starting postgres", &e))?;
        let stdin = shell.stdin.take().expect("piped");
        let server = TestPostgres {
            socket_dir: dir,
            log: log.clone(),
            next_database: AtomicU32::new(0),
            stop: Mutex::new((shell, stdin)),
        };
        server.wait_ready().map_err(|why| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            failed(&why, &log)
        })?;
        Ok(server)
    }

    fn wait_ready(&self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            match postgres::Client::connect(&self.conn_string("postgres"), postgres::NoTls) {
                Ok(_) => return Ok(()),
                Err(err) if started.elapsed() > START_TIMEOUT => {
                    return Err(format!("not accepting connections after {START_TIMEOUT:?}: {err}"));
                }
                Err(_) => {}
            }
            if let Ok(Some(status)) = self.stop.lock().expect("not poisoned").0.try_wait() {
                return Err(format!("the server exited ({status})"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Debian's newest installed PostgreSQL server binaries.
fn bindir() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    versions
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("postgres").exists() && bin.join("initdb").exists()).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// As root, the `postgres` user and group to run the server as; `None` when not root.
fn server_user() -> Result<Option<(u32, u32)>, String> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name(SUPERUSER) {
        Ok(Some(user)) => Ok(Some((user.uid.as_raw(), user.gid.as_raw()))),
        Ok(None) => Err("no such user (Debian's postgresql-common creates it)".into()),
        Err(err) => Err(err.to_string()),
    }
}

fn as_owner(mut command: Command, owner: Option<(u32, u32)>) -> Command {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
}

/// Whether every directory down to `dir` lets any user pass (the server runs as `postgres`).
fn reachable_by_all(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(dir) = dir.canonicalize() else { return false };
    dir.ancestors().all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// Delete the directories of test processes that are gone.
fn prune_dead(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        // `<pid>` or `<pid>-<n>`: the pid of the process that started it.
        let pid = entry.file_name().to_str().and_then(|name| name.split('-').next()?.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Durability, TestPostgres};

    #[test]
    fn the_server_runs_with_the_durability_asked_for() {
        crate::require_postgres!(shared);
        let fast = ["fsync", "synchronous_commit", "full_page_writes"].map(|name| shared.setting(name).unwrap());
        assert_eq!(fast, ["off", "off", "off"], "the tests' server does not wait for the disk");
        let durable = TestPostgres::start(Durability::Full).unwrap();
        let full = ["fsync", "synchronous_commit", "full_page_writes"].map(|name| durable.setting(name).unwrap());
        assert_eq!(full, ["on", "on", "on"], "PostgreSQL's defaults");
        let db = durable.try_database().unwrap();
        assert!(db.contains(&format!("host={}", durable.socket_dir().display())), "{db}");
    }

    #[test]
    fn a_fresh_database_takes_writes_and_is_empty_of_others() {
        crate::require_postgres!(server);
        let (a, b) = (server.database(), server.database());
        assert_ne!(a, b);
        let mut client = postgres::Client::connect(&a, postgres::NoTls).unwrap();
        client.batch_execute("CREATE TABLE t (x INT); INSERT INTO t VALUES (1)").unwrap();
        let mut other = postgres::Client::connect(&b, postgres::NoTls).unwrap();
        let tables: i64 =
            other.query_one("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'", &[]).unwrap().get(0);
        assert_eq!(tables, 0, "each test's database is its own");
    }
}
