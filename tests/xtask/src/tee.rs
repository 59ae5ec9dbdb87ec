//! A command's output streamed to the console line by line (stdout to stdout, stderr to stderr) and
//! scanned on the way for tests that said they did not run: `cargo xtask test` fails a root run in
//! which any test printed `SKIPPED`, and names them.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use crate::display;

/// What a test prints when it does not run (see `rackhand_netns::skip_unless_required`).
pub const SKIP_MARK: &str = "SKIPPED";

/// One line that said a test skipped, with the test target cargo was running when it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// `tests/raid_loop.rs`, from cargo's `Running tests/raid_loop.rs (target/debug/deps/...)`.
    pub target: Option<String>,
    pub line: String,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Some(target) => write!(f, "{target}: {}", self.line),
            None => f.write_str(&self.line),
        }
    }
}

/// Reads a command's output: remembers which test target runs, collects the skip lines.
#[derive(Debug, Default)]
pub struct Scanner {
    target: Option<String>,
    skips: Vec<Skip>,
}

impl Scanner {
    pub fn line(&mut self, line: &str) {
        let trimmed = line.trim();
        if let Some(running) = trimmed.strip_prefix("Running ") {
            self.target = Some(running.split(" (").next().unwrap_or(running).to_owned());
        } else if let Some(doc) = trimmed.strip_prefix("Doc-tests ") {
            self.target = Some(format!("doc tests of {doc}"));
        }
        if line.contains(SKIP_MARK) {
            self.skips.push(Skip { target: self.target.clone(), line: trimmed.to_owned() });
        }
    }

    pub fn skips(&self) -> &[Skip] {
        &self.skips
    }
}

/// Run `cmd` (echoed first, as `run_cmd` does) with both of its output streams copied to ours line by
/// line as they come, and return how it exited and every line that said a test skipped.
pub fn run_scanning(cmd: &mut Command) -> anyhow::Result<(ExitStatus, Vec<Skip>)> {
    eprintln!("+ {}", display(cmd));
    run_scanning_to(cmd, Box::new(std::io::stdout()), Box::new(std::io::stderr()))
}

/// [`run_scanning`] with the command's stdout and stderr copied to `out` and `err`.
fn run_scanning_to(
    cmd: &mut Command,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
) -> anyhow::Result<(ExitStatus, Vec<Skip>)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting `{}`: {e}", display(cmd)))?;
    let scanner = Arc::new(Mutex::new(Scanner::default()));
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let copies = [spawn_copy(stdout, out, Arc::clone(&scanner)), spawn_copy(stderr, err, Arc::clone(&scanner))];
    let status = child.wait()?;
    for copy in copies {
        copy.join().map_err(|_| anyhow::anyhow!("an output copier panicked"))??;
    }
    let skips = scanner.lock().expect("no copier panicked holding it").skips().to_vec();
    Ok((status, skips))
}

fn spawn_copy(
    from: impl Read + Send + 'static,
    mut to: Box<dyn Write + Send>,
    scanner: Arc<Mutex<Scanner>>,
) -> std::thread::JoinHandle<std::io::Result<()>> {
    std::thread::spawn(move || {
        let mut from = BufReader::new(from);
        let mut line = Vec::new();
        loop {
            line.clear();
            if from.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            to.write_all(&line)?;
            to.flush()?;
            scanner.lock().expect("no copier panicked holding it").line(&String::from_utf8_lossy(&line));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_lines_are_named_with_the_test_target_cargo_was_running() {
        let mut scanner = Scanner::default();
        for line in [
            "     Running tests/raid_loop.rs (target/debug/deps/raid_loop-b6a48ec88e404718)",
            "test signatures_on_a_real_block_device_are_found_and_wiped ... ok",
            "SKIPPED mdadm_builds_a_raid1: the kernel has no md driver\n",
            "   Doc-tests installer",
            "test result: ok. 3 passed; 0 failed; 0 ignored",
        ] {
            scanner.line(line);
        }
        let skip = Skip {
            target: Some("tests/raid_loop.rs".into()),
            line: "SKIPPED mdadm_builds_a_raid1: the kernel has no md driver".into(),
        };
        assert_eq!(scanner.skips(), std::slice::from_ref(&skip));
        assert_eq!(skip.to_string(), "tests/raid_loop.rs: SKIPPED mdadm_builds_a_raid1: the kernel has no md driver");
    }

    /// A `Write` whose bytes the test reads afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `script` under sh with its output copied into buffers (never onto this test's own console:
    /// a skip line there would fail the `cargo xtask test` that runs this test).
    fn run(script: &str) -> (ExitStatus, Vec<Skip>, String, String) {
        let (out, err) = (Shared::default(), Shared::default());
        let (status, skips) =
            run_scanning_to(Command::new("sh").args(["-c", script]), Box::new(out.clone()), Box::new(err.clone()))
                .unwrap();
        let text = |s: Shared| String::from_utf8(s.0.lock().unwrap().clone()).unwrap();
        (status, skips, text(out), text(err))
    }

    #[test]
    fn both_streams_are_copied_and_scanned_to_the_end_and_the_exit_status_is_kept() {
        let script = "echo 'Running tests/a.rs (x)' >&2; echo 'SKIPPED a::one: no busybox' >&2; \
                      for i in $(seq 1 2000); do echo line $i; done; echo 'SKIPPED a::two: no md'; exit 3";
        let (status, skips, out, err) = run(script);
        assert_eq!(status.code(), Some(3));
        let mut lines: Vec<&str> = skips.iter().map(|s| s.line.as_str()).collect();
        lines.sort();
        assert_eq!(lines, ["SKIPPED a::one: no busybox", "SKIPPED a::two: no md"]);
        let stderr_skip = skips.iter().find(|s| s.line.contains("a::one")).unwrap();
        assert_eq!(stderr_skip.target.as_deref(), Some("tests/a.rs"));
        assert_eq!(out.lines().count(), 2001, "every stdout line reaches the console");
        assert!(out.starts_with("line 1\n") && out.ends_with("line 2000\nSKIPPED a::two: no md\n"), "{out}");
        assert_eq!(err, "Running tests/a.rs (x)\nSKIPPED a::one: no busybox\n");

        let (status, skips, out, _) = run("echo all ran");
        assert!(status.success() && skips.is_empty(), "{skips:?}");
        assert_eq!(out, "all ran\n");
    }
}
