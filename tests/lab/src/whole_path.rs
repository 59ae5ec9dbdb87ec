//! The whole path (issue 16): what provisioning costs beside what it replaces. One lab server goes from
//! power-on through the network boot, the install and its reboot to its installed OS's login prompt on
//! the serial console ([`Round::provisioned`]). The same server is then powered off and on again and boots
//! that OS straight from its disk to the same prompt ([`Round::direct`]); beside it, the time `dd` takes to
//! write the image at the disk's speed ([`Round::copy`]). Provisioning is worth it when `provisioned` stays
//! close to `direct + copy`: the work a technician would do by hand with a pre-imaged disk.
//!
//! The server boots its disks first, as a racked server with a BMC does: its empty disks fall through to
//! the network the first time, and its second boot is the disk's alone, with no network boot in it. The
//! prompt is the mark in both boots because it is the same OS reaching the same point; when the boot
//! service saw the node `ready` (the OS's first report) is kept too ([`Round::ready`]).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rackhand_api::{Event, EventKind, NodeState};
use serde::Serialize;

use crate::accel::Accel;
use crate::assets::Assets;
use crate::boot_order::BootOrder;
use crate::lab::Lab;
use crate::server::{ServerSpec, VirtualServer};

/// What the installed OS prints on its serial console once it is up (`<hostname> login:`).
const LOGIN_PROMPT: &str = " login:";

/// What a whole-path round needs: the boot service, the netboot assets, the published images (the OS
/// image's raw file among their sources), how QEMU runs, and how long one boot may take.
pub struct Inputs<'a> {
    pub boot_service: &'a Path,
    pub assets: &'a Assets,
    pub images: &'a Path,
    /// The raw OS image the servers install, for the copy.
    pub os_image: &'a Path,
    pub accel: Accel,
    pub limit: Duration,
}

/// One round's times, in seconds from the power-on of each boot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    /// Power-on with empty disks → the installed OS's login prompt (network boot, install, reboot).
    pub provisioned: f64,
    /// Power-on with empty disks → the boot service's `ready` (the installed OS's first report), as seen
    /// by polling the node every half second.
    pub ready: f64,
    /// Power-on of the installed server → the same login prompt, straight from its disk.
    pub direct: f64,
    /// `dd` writing the OS image to a file beside the server's disks, `oflag=direct`, its bytes synced.
    pub copy: f64,
    /// Where the provisioned boot's time went, from the node's history ([`Stages::of`]).
    pub stages: Stages,
}

/// Seconds from power-on to the node's first entry into each state that marks a stage of the provisioned
/// boot (`None` if it never entered it): the installer's script served (`booting`: DHCP, iPXE), the
/// install begun (`installing`: the installer's kernel booted, the hardware judged), the install done
/// (`rebooting`: RAID built, image written and verified). After it come the reboot and the OS's own boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stages {
    pub script_served: Option<f64>,
    pub install_started: Option<f64>,
    pub install_done: Option<f64>,
}

impl Stages {
    /// From `events` (the node's history), relative to `powered_on`.
    pub fn of(events: &[Event], powered_on: jiff::Timestamp) -> Stages {
        let first = |state: NodeState| {
            events.iter().find_map(|e| match &e.kind {
                EventKind::Transition { to, .. } if *to == state => Some(e.at.duration_since(powered_on).as_secs_f64()),
                _ => None,
            })
        };
        Stages {
            script_served: first(NodeState::Booting),
            install_started: first(NodeState::Installing),
            install_done: first(NodeState::Rebooting),
        }
    }
}

impl Round {
    /// What the server would have taken with its disk imaged by hand: the copy, then the disk's boot.
    pub fn by_hand(&self) -> f64 {
        self.direct + self.copy
    }

    /// Provisioning's overhead over doing it by hand: issue 16's target is ≤ 1.3.
    pub fn overhead(&self) -> f64 {
        self.provisioned / self.by_hand()
    }
}

/// `runs` rounds, each in a lab of its own under `base`; `each` hears of every round as it ends.
pub fn measure(
    inputs: &Inputs<'_>,
    base: &Path,
    runs: usize,
    mut each: impl FnMut(usize, &Round),
) -> anyhow::Result<Vec<Round>> {
    let mut rounds = Vec::with_capacity(runs);
    for index in 0..runs {
        let round = round(inputs, base).with_context(|| format!("whole path, round {}", index + 1))?;
        each(index, &round);
        rounds.push(round);
    }
    Ok(rounds)
}

fn round(inputs: &Inputs<'_>, base: &Path) -> anyhow::Result<Round> {
    let mut lab = Lab::up(base, inputs.boot_service, inputs.assets, inputs.images).context("lab up")?;
    let mut spec = ServerSpec::standard("whole-path", 2);
    spec.boot_order = BootOrder::DiskFirst;
    let mac = spec.mac(1).to_string();

    let (powered_on, at) = (Instant::now(), jiff::Timestamp::now());
    let mut server = VirtualServer::start(&lab, &spec, inputs.accel).context("starting the server")?;
    let (provisioned, ready) = watch(&lab, &mut server, &mac, powered_on, inputs.limit)?;
    let history = lab.node_by_mac(&mac)?.map(|node| node.events).unwrap_or_default();
    let stages = Stages::of(&history, at);

    // QEMU may close the socket before its answer to `quit` is read: its exit is what counts.
    let quit = server.qmp().and_then(|mut qmp| qmp.execute("quit", serde_json::json!({})));
    if server.wait_exit(Duration::from_secs(30))?.is_none() {
        bail!("QEMU did not power the server off within 30 s of `quit` ({quit:?})");
    }
    // The first boot's console is kept; QEMU starts the log afresh.
    std::fs::rename(server.dir.join("serial.log"), server.dir.join("serial-provisioned.log"))?;
    let powered_on = Instant::now();
    server.power_on()?;
    let direct = match server.wait_for_serial(LOGIN_PROMPT, inputs.limit) {
        Ok(()) => powered_on.elapsed().as_secs_f64(),
        Err(e) => bail!("no login prompt booting its disk: {e}\n{}", server.serial_tail(40)),
    };
    drop(server);

    let copy = copy_seconds(inputs.os_image, &lab.dir.join("copy.img"))?;
    lab.clean_up_on_success();
    Ok(Round { provisioned, ready, direct, copy, stages })
}

/// Seconds from `since` until the login prompt is on the server's console and until the node is `ready`,
/// each taken when first seen (both are polled every quarter second: either may come first). A failed
/// node, a QEMU that exits, or `limit` passing is an error naming what was missing.
fn watch(
    lab: &Lab,
    server: &mut VirtualServer,
    mac: &str,
    since: Instant,
    limit: Duration,
) -> anyhow::Result<(f64, f64)> {
    let (mut prompt, mut ready) = (None, None);
    loop {
        let now = since.elapsed();
        if prompt.is_none() && server.serial_log().contains(LOGIN_PROMPT) {
            prompt = Some(now.as_secs_f64());
        }
        if ready.is_none()
            && let Some(node) = lab.node_by_mac(mac)?
        {
            match node.state {
                NodeState::Ready => ready = Some(now.as_secs_f64()),
                NodeState::Failed => {
                    let reason = node.failure.map(|f| f.reason).unwrap_or_default();
                    bail!("the server's install failed: {reason}\n{}", server.serial_tail(40));
                }
                _ => {}
            }
        }
        if let (Some(prompt), Some(ready)) = (prompt, ready) {
            return Ok((prompt, ready));
        }
        if now > limit || !server.is_running() {
            let missing = match (prompt, ready) {
                (None, None) => "neither the login prompt nor the node ready",
                (None, _) => "no login prompt",
                _ => "the node not ready",
            };
            let how = if now > limit { format!("within {limit:?}") } else { "before QEMU exited".into() };
            bail!("{missing} {how}\n{}", server.serial_tail(40));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// How long `dd` takes to write `image` to `into` with O_DIRECT and its data synced (the copy is removed).
fn copy_seconds(image: &Path, into: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = Command::new("dd")
        .arg(format!("if={}", image.display()))
        .arg(format!("of={}", into.display()))
        .args(["bs=4M", "oflag=direct", "conv=fsync", "status=none"])
        .status()
        .context("running dd")?;
    let seconds = started.elapsed().as_secs_f64();
    std::fs::remove_file(into).ok();
    if !status.success() {
        bail!("dd {} → {}: {status}", image.display(), into.display());
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stages_are_the_first_entries_into_their_states_since_power_on() {
        let on: jiff::Timestamp = "2026-12-02T07:00:00Z".parse().unwrap();
        let to = |state, secs: i64| Event {
            at: on + jiff::SignedDuration::from_secs(secs),
            kind: EventKind::Transition { from: None, to: state, reason: None },
        };
        let progress = Event { at: on, kind: EventKind::OsHealth { said: "nothing is wrong".into() } };
        let history = [
            to(NodeState::Discovered, 3),
            to(NodeState::Booting, 9),
            progress,
            to(NodeState::Inspecting, 40),
            to(NodeState::Installing, 45),
            to(NodeState::Booting, 50),
            to(NodeState::Rebooting, 80),
            to(NodeState::Ready, 130),
        ];
        let stages = Stages::of(&history, on);
        assert_eq!(stages, Stages { script_served: Some(9.0), install_started: Some(45.0), install_done: Some(80.0) });
        assert_eq!(Stages::of(&history[..2], on).install_done, None, "never rebooted");
    }
}
