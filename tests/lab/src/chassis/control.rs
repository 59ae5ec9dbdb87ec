//! What each chassis call does to the server's QEMU.
//!
//! - Power off: QMP `stop`. The vCPUs pause and the server falls silent; QEMU itself stays, because the
//!   lab owns that process (a real BMC cannot unplug the chassis either).
//! - Power on: `system_reset` then `cont`, a fresh boot. The power state is always QEMU's own
//!   (`query-status`), never a copy that could disagree with it.
//! - Reset: `system_reset`.
//! - `set boot pxe` (honest): a one-time override, as IPMI's "boot flags valid for the next boot only".
//!   NIC 1's bootindex goes to 0 at once (QMP `qom-set`); QEMU writes the firmware's boot order (fw_cfg
//!   `bootorder`) afresh at every machine reset, so the next boot tries the network first. The next power
//!   on or reset consumes the override, and NIC 1's bootindex goes back to the server's order once the
//!   firmware has started, seen as SeaBIOS's banner on the serial console. Not right after the reset:
//!   SeaBIOS answers QEMU's reset with a second reset of its own (it reboots to restore its pristine image),
//!   and the boot order is written again then. A background run of this program waits for the banner
//!   (the call itself returns at once: ipmi_sim waits for it, and ipmitool retries a slow BMC).
//! - `set boot pxe` (ignores-boot-override): answered with success, remembered (`get boot` says `pxe`) and
//!   consumed by the next boot like an honest one, but never applied.
//! - `set boot default|none` clears a pending override. `get boot` says `pxe` while one is pending.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Options;
use crate::bmc::BmcBehaviour;
use crate::boot_order::NETWORK_OVERRIDE_BOOTINDEX;
use crate::qmp::Qmp;
use crate::server::NIC1_DEVICE;

/// SeaBIOS's first line on the serial console: printed after it has read the boot order.
pub const FIRMWARE_BANNER: &str = "SeaBIOS (version";
/// How long the background run waits for the firmware before putting the boot order back regardless.
const FIRMWARE_LIMIT: Duration = Duration::from_secs(120);
/// The internal operation of the background run: `<device> restore-boot-order <generation> <console offset>`.
const RESTORE: &str = "restore-boot-order";

/// What a call answers ipmi_sim (`stdout`) and what it did (for the log).
pub struct Answer {
    pub stdout: String,
    pub done: String,
}

/// What the BMC remembers between calls.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The boot device asked for the next boot (`pxe`), until a boot consumes it.
    pending: Option<String>,
    /// Counts consumed overrides; a background run restores only the boot order of its own.
    generation: u64,
}

/// Run one call (`0x20 get power`) with the BMC's lock held (ipmi_sim and a background run may overlap).
pub fn call(options: &Options, call: &[String]) -> Result<Answer, String> {
    let words: Vec<&str> = call.iter().map(String::as_str).collect();
    let [_device, operation, params @ ..] = words.as_slice() else {
        return Err(format!("expected `<device> get|set ...`, got `{}`", words.join(" ")));
    };
    if *operation == RESTORE {
        return restore(options, params);
    }
    let _lock = lock(options)?;
    let mut state = load(options)?;
    let answer = match (*operation, params) {
        ("get", params) => {
            get(options, &state, params).map(|stdout| Answer { done: stdout.trim().replace('\n', " "), stdout })
        }
        ("set", params) => set(options, &mut state, call, params).map(|done| Answer { stdout: String::new(), done }),
        _ => Err(format!("unknown operation `{operation}`")),
    };
    // Saved even when the call failed part way: an override a reset consumed stays consumed.
    save(options, &state)?;
    answer
}

fn get(options: &Options, state: &State, params: &[&str]) -> Result<String, String> {
    let mut out = String::new();
    for param in params {
        let value = match *param {
            "power" => match qemu(options)? {
                Some(mut qmp) => u8::from(powered(&status(&mut qmp)?)).to_string(),
                None => "0".into(),
            },
            "boot" => state.pending.clone().unwrap_or_else(|| "default".into()),
            other => return Err(format!("cannot get `{other}`")),
        };
        out.push_str(&format!("{param}:{value}\n"));
    }
    Ok(out)
}

fn set(options: &Options, state: &mut State, call: &[String], params: &[&str]) -> Result<String, String> {
    let mut done = Vec::new();
    for pair in params.chunks(2) {
        let [param, value] = pair else { return Err(format!("`{param}` has no value", param = pair[0])) };
        done.push(match (*param, *value) {
            ("power", "0") => power_off(options)?,
            ("power", "1") => power_on(options, state, call)?,
            ("reset", "1") => reset(options, state, call)?,
            ("boot", device) => set_boot(options, state, device)?,
            (param, value) => {
                return Err(format!("cannot set `{param}` to `{value}` (the lab's chassis has power, reset, boot)"));
            }
        });
    }
    Ok(done.join("; "))
}

fn power_off(options: &Options) -> Result<String, String> {
    let Some(mut qmp) = qemu(options)? else { return Ok("already off (QEMU is not running)".into()) };
    if !powered(&status(&mut qmp)?) {
        return Ok("already off".into());
    }
    execute(&mut qmp, "stop", json!({}))?;
    Ok("powered off: vCPUs stopped".into())
}

fn power_on(options: &Options, state: &mut State, call: &[String]) -> Result<String, String> {
    let mut qmp = qemu(options)?.ok_or("the server's QEMU is not running (the lab starts it, not its BMC)")?;
    if powered(&status(&mut qmp)?) {
        return Ok("already on".into());
    }
    let booted = boot(options, &mut qmp, state, call)?;
    execute(&mut qmp, "cont", json!({}))?;
    Ok(format!("powered on: system_reset, cont{booted}"))
}

fn reset(options: &Options, state: &mut State, call: &[String]) -> Result<String, String> {
    let mut qmp = qemu(options)?.ok_or("the server's QEMU is not running")?;
    if !powered(&status(&mut qmp)?) {
        return Err("the server is powered off: there is nothing to reset".into());
    }
    let booted = boot(options, &mut qmp, state, call)?;
    Ok(format!("reset: system_reset{booted}"))
}

/// Reset the machine, consuming a pending boot override; what became of the override.
fn boot(options: &Options, qmp: &mut Qmp, state: &mut State, call: &[String]) -> Result<String, String> {
    // Where this boot's console starts, to see its firmware banner and no earlier one.
    let offset = std::fs::metadata(&options.console).map_or(0, |m| m.len());
    execute(qmp, "system_reset", json!({}))?;
    let Some(device) = state.pending.take() else { return Ok(String::new()) };
    if options.behaviour == BmcBehaviour::IgnoresBootOverride {
        return Ok(format!("; the `{device}` override dropped unapplied (ignores-boot-override)"));
    }
    state.generation += 1;
    // Same options, same device word as ipmi_sim's call; detached, so ipmi_sim does not wait for it.
    Command::new(std::env::current_exe().map_err(|e| format!("finding lab-chassis itself: {e}"))?)
        .args(options.args())
        .args([call[0].as_str(), RESTORE, &state.generation.to_string(), &offset.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the background run that restores the boot order: {e}"))?;
    Ok(format!(
        "; boots from `{device}` once, NIC 1 bootindex back to {} when the firmware starts",
        options.nic_bootindex
    ))
}

fn set_boot(options: &Options, state: &mut State, device: &str) -> Result<String, String> {
    match device {
        "pxe" if options.behaviour == BmcBehaviour::IgnoresBootOverride => {
            state.pending = Some(device.into());
            Ok("next boot `pxe` accepted and ignored (ignores-boot-override)".into())
        }
        "pxe" => {
            set_nic_bootindex(options, NETWORK_OVERRIDE_BOOTINDEX)?;
            state.pending = Some(device.into());
            Ok(format!("next boot `pxe`: NIC 1 bootindex {NETWORK_OVERRIDE_BOOTINDEX} until then"))
        }
        "default" | "none" => {
            if state.pending.take().is_none() {
                return Ok("no override pending".into());
            }
            if options.behaviour == BmcBehaviour::Honest {
                set_nic_bootindex(options, options.nic_bootindex)?;
            }
            Ok(format!("override cleared: NIC 1 bootindex {}", options.nic_bootindex))
        }
        other => Err(format!("boot device `{other}` is not one the lab's chassis has (pxe, default, none)")),
    }
}

/// The background run after a boot with an override: wait for the firmware's banner after `offset`, then
/// put NIC 1's bootindex back, unless a newer override came meanwhile.
fn restore(options: &Options, params: &[&str]) -> Result<Answer, String> {
    let [generation, offset] = params else { return Err(format!("{RESTORE} needs <generation> <offset>")) };
    let generation: u64 = generation.parse().map_err(|_| format!("bad generation `{generation}`"))?;
    let offset: u64 = offset.parse().map_err(|_| format!("bad offset `{offset}`"))?;
    let started = Instant::now();
    while !banner_after(&options.console, offset) && started.elapsed() < FIRMWARE_LIMIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = match banner_after(&options.console, offset) {
        true => format!("firmware started after {:.1} s", started.elapsed().as_secs_f64()),
        false => format!("no firmware banner within {FIRMWARE_LIMIT:?}"),
    };
    let _lock = lock(options)?;
    let state = load(options)?;
    if state.generation != generation || state.pending.is_some() {
        return Ok(Answer { stdout: String::new(), done: format!("{seen}; a newer override stands, left as it is") });
    }
    set_nic_bootindex(options, options.nic_bootindex)?;
    Ok(Answer { stdout: String::new(), done: format!("{seen}; NIC 1 bootindex back to {}", options.nic_bootindex) })
}

/// Whether the console shows the firmware's banner after byte `offset` (from the start if QEMU was
/// started again meanwhile, which begins a new log).
fn banner_after(console: &Path, offset: u64) -> bool {
    let log = std::fs::read(console).unwrap_or_default();
    let from = usize::try_from(offset).ok().filter(|&o| o <= log.len()).unwrap_or(0);
    log[from..].windows(FIRMWARE_BANNER.len()).any(|w| w == FIRMWARE_BANNER.as_bytes())
}

fn set_nic_bootindex(options: &Options, bootindex: u32) -> Result<(), String> {
    let mut qmp = qemu(options)?.ok_or("the server's QEMU is not running")?;
    let path = format!("/machine/peripheral/{NIC1_DEVICE}");
    execute(&mut qmp, "qom-set", json!({ "path": path, "property": "bootindex", "value": bootindex })).map(drop)
}

/// The server's QEMU over the BMC's socket, or `None` when no QEMU is there (the server is off for good).
fn qemu(options: &Options) -> Result<Option<Qmp>, String> {
    match Qmp::connect(&options.qmp) {
        Ok(qmp) => Ok(Some(qmp)),
        Err(error) => match error.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
            Some(std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => Ok(None),
            _ => Err(format!("{error:#}")),
        },
    }
}

fn status(qmp: &mut Qmp) -> Result<String, String> {
    let status = execute(qmp, "query-status", json!({}))?;
    Ok(status["status"].as_str().unwrap_or_default().to_owned())
}

/// Whether a machine in this run state has power: paused (by power off), not yet started after a reset
/// while paused, or shut down is off; running is on, and so is a guest that has crashed.
fn powered(status: &str) -> bool {
    !matches!(status, "paused" | "prelaunch" | "shutdown")
}

fn execute(qmp: &mut Qmp, command: &str, arguments: serde_json::Value) -> Result<serde_json::Value, String> {
    qmp.execute(command, arguments).map_err(|e| format!("{e:#}"))
}

fn lock(options: &Options) -> Result<File, String> {
    let path = options.state.with_extension("lock");
    let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.lock().map_err(|e| format!("locking {}: {e}", path.display()))?;
    Ok(file)
}

fn load(options: &Options) -> Result<State, String> {
    match std::fs::read_to_string(&options.state) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", options.state.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(format!("{}: {e}", options.state.display())),
    }
}

fn save(options: &Options, state: &State) -> Result<(), String> {
    let text = serde_json::to_string(state).map_err(|e| e.to_string())?;
    std::fs::write(&options.state, text).map_err(|e| format!("{}: {e}", options.state.display()))
}
