//! A server process run inside a namespace for a test: its standard error appended to a log file, and
//! waited for until a probe says it serves. The boot service in the namespace tests and in the lab.

use std::io;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Start `command` (made with [`Netns::command`](crate::Netns::command)) with its standard output
/// discarded and its standard error appended to `log`, then wait until `up()` says it serves, at most
/// `limit`. Fails, naming why and quoting the log, when the process exits first or time runs out (then
/// it is killed).
pub fn start_until_up(
    mut command: Command,
    log: &Path,
    limit: Duration,
    mut up: impl FnMut() -> bool,
) -> io::Result<Child> {
    let stderr = std::fs::File::options().create(true).append(true).open(log)?;
    let mut child = command.stdout(Stdio::null()).stderr(stderr).spawn()?;
    let deadline = Instant::now() + limit;
    let why = loop {
        if up() {
            return Ok(child);
        }
        if let Some(status) = child.try_wait()? {
            break format!("exited ({status})");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break format!("did not come up within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log_text = std::fs::read_to_string(log).unwrap_or_default();
    Err(io::Error::other(format!("{command:?} {why}; its log {}:\n{log_text}", log.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn a_process_that_exits_first_is_named_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let err = start_until_up(sh("echo boom >&2; exit 3"), &log, Duration::from_secs(10), || false).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exited (exit status: 3)") && text.contains("boom"), "{text}");
    }

    #[test]
    fn a_process_that_never_comes_up_is_killed_at_the_limit_and_one_that_does_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let err = start_until_up(sh("sleep 30"), &log, Duration::from_millis(300), || false).unwrap_err();
        assert!(err.to_string().contains("did not come up within 300ms"), "{err}");
        let mut probes = 0;
        let mut child = start_until_up(sh("sleep 30"), &log, Duration::from_secs(10), || {
            probes += 1;
            probes == 3
        })
        .unwrap();
        assert_eq!(probes, 3, "probed until it said up");
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
