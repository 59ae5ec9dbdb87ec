//! `lab-chassis`: the chassis control program of the lab's BMCs ([`crate::bmc`]). ipmi_sim runs it for
//! every chassis command that arrives over IPMI, as `lab-chassis <options> 0x20 get power|boot` (it prints
//! `power:1`, `boot:default`) or `lab-chassis <options> 0x20 set power 0|1 | reset 1 | boot pxe|default|none`
//! (it prints nothing on success, its error on stdout with a non-zero exit on failure). A power cycle
//! arrives as `set power 0`, then `set power 1` a second later.
//!
//! It drives the server's QEMU over the BMC's own QMP socket ([`control`] says how). Every call is appended
//! to its log with what was done, which is how tests (and a person debugging a lab) see what the BMC did.
//! [`Options`] is both sides of the command line: the lab writes it into ipmi_sim's `chassis_control`,
//! this program parses it back.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::bmc::BmcBehaviour;

mod control;

pub use control::FIRMWARE_BANNER;

/// What the lab tells the program about its server, before ipmi_sim's device and operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The BMC's own QMP socket of the server's QEMU.
    pub qmp: PathBuf,
    /// Every call, appended, with what was done.
    pub log: PathBuf,
    /// What the BMC remembers between calls: a pending boot override (JSON), and its lock file beside it.
    pub state: PathBuf,
    /// The server's serial console log, where the firmware's banner says a boot has started.
    pub console: PathBuf,
    /// NIC 1's bootindex in the server's own boot order, put back after a one-time override.
    pub nic_bootindex: u32,
    pub behaviour: BmcBehaviour,
}

impl Options {
    /// The options as command-line words (each a path or a word without spaces: ipmi_sim splits on them).
    pub fn args(&self) -> Vec<String> {
        let path = |p: &Path| p.display().to_string();
        vec![
            "--qmp".into(),
            path(&self.qmp),
            "--log".into(),
            path(&self.log),
            "--state".into(),
            path(&self.state),
            "--console".into(),
            path(&self.console),
            "--nic-bootindex".into(),
            self.nic_bootindex.to_string(),
            "--behaviour".into(),
            self.behaviour.as_arg().into(),
        ]
    }

    /// Parse [`Options::args`] off the front of `args`; the rest is ipmi_sim's call (`0x20 set power 1`).
    pub fn parse(args: &[String]) -> Result<(Options, &[String]), String> {
        let (mut qmp, mut log, mut state, mut console, mut nic_bootindex, mut behaviour) =
            (None, None, None, None, None, None);
        let mut rest = args;
        while let [flag, value, tail @ ..] = rest
            && flag.starts_with("--")
        {
            match flag.as_str() {
                "--qmp" => qmp = Some(PathBuf::from(value)),
                "--log" => log = Some(PathBuf::from(value)),
                "--state" => state = Some(PathBuf::from(value)),
                "--console" => console = Some(PathBuf::from(value)),
                "--nic-bootindex" => {
                    nic_bootindex = Some(value.parse().map_err(|_| format!("bad --nic-bootindex `{value}`"))?)
                }
                "--behaviour" => {
                    behaviour =
                        Some(BmcBehaviour::from_arg(value).ok_or_else(|| format!("unknown --behaviour `{value}`"))?)
                }
                _ => return Err(format!("unknown option `{flag}`")),
            }
            rest = tail;
        }
        let missing = |name: &str| format!("lab-chassis needs --{name}");
        let options = Options {
            qmp: qmp.ok_or_else(|| missing("qmp"))?,
            log: log.ok_or_else(|| missing("log"))?,
            state: state.ok_or_else(|| missing("state"))?,
            console: console.ok_or_else(|| missing("console"))?,
            nic_bootindex: nic_bootindex.ok_or_else(|| missing("nic-bootindex"))?,
            behaviour: behaviour.ok_or_else(|| missing("behaviour"))?,
        };
        Ok((options, rest))
    }
}

/// The program: `args` without the program's own name.
pub fn main(args: &[String]) -> ExitCode {
    let (mut options, call) = match Options::parse(args) {
        Ok(parsed) => parsed,
        Err(error) => {
            println!("{error}");
            return ExitCode::FAILURE;
        }
    };
    // A behaviour switched at run time (`Bmc::set_behaviour`) wins over the one it was started with.
    let switched = std::fs::read_to_string(behaviour_file(&options.state)).ok();
    if let Some(behaviour) = switched.as_deref().and_then(|text| BmcBehaviour::from_arg(text.trim())) {
        options.behaviour = behaviour;
    }
    let outcome = control::call(&options, call);
    let said = match &outcome {
        Ok(answer) if answer.done.is_empty() => "ok".to_owned(),
        Ok(answer) => answer.done.clone(),
        Err(error) => format!("FAILED: {error}"),
    };
    append_log(&options.log, &format!("{} {}: {said}", timestamp(), call.join(" ")));
    match outcome {
        Ok(answer) => {
            print!("{}", answer.stdout);
            ExitCode::SUCCESS
        }
        Err(error) => {
            // ipmi_sim reads a failure from stdout.
            println!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// Where a behaviour switched at run time is kept, beside the state file.
pub fn behaviour_file(state: &Path) -> PathBuf {
    state.with_extension("behaviour")
}

/// Seconds since the epoch, to the millisecond: lines of the log compare with the serial log and the test's.
fn timestamp() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    format!("{}.{:03}", now.as_secs(), now.subsec_millis())
}

fn append_log(log: &Path, line: &str) {
    use std::io::Write;
    // A log that cannot be written must not fail the BMC's answer; the call still happened.
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(file, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            qmp: "/lab/s1/bmc-qmp.sock".into(),
            log: "/lab/s1/bmc/chassis.log".into(),
            state: "/lab/s1/bmc/chassis.state".into(),
            console: "/lab/s1/serial.log".into(),
            nic_bootindex: 5,
            behaviour: BmcBehaviour::IgnoresBootOverride,
        }
    }

    #[test]
    fn the_options_the_lab_writes_are_the_options_the_program_reads() {
        let mut args = options().args();
        args.extend(["0x20", "set", "boot", "pxe"].map(String::from));
        let (parsed, call) = Options::parse(&args).unwrap();
        assert_eq!(parsed, options());
        assert_eq!(call, ["0x20", "set", "boot", "pxe"]);
    }

    #[test]
    fn a_missing_or_unknown_option_is_refused_by_name() {
        let mut args = options().args();
        args.drain(0..2);
        assert_eq!(Options::parse(&args).unwrap_err(), "lab-chassis needs --qmp");
        let mut args = options().args();
        args.extend(["--colour", "red"].map(String::from));
        assert_eq!(Options::parse(&args).unwrap_err(), "unknown option `--colour`");
    }
}
