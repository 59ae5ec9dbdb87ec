//! `cargo xtask demo`: the main job. Build everything, bring up a lab, boot two virtual servers (one
//! SeaBIOS, one UEFI) through the whole chain (firmware PXE → iPXE → installer → reboot → the installed
//! Debian from its RAID1 → its own report), show each node's progress live, print per server the time
//! from power-on to the installed OS's report, print the final node table, write the node records to `target/lab/nodes.json`, and tear the lab down (`--keep`
//! leaves it up; `cargo xtask lab down` removes it).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use rackhand_api::{EventKind, NodeRecord, NodeState};
use rackhand_lab::accel::Accel;
use rackhand_lab::lab::Lab;
use rackhand_lab::server::{Firmware, ServerSpec, VirtualServer};

use crate::lab::prepare;

/// A whole install and first boot under TCG takes minutes; give up well before CI would.
const BOOT_LIMIT: Duration = Duration::from_secs(30 * 60);

pub fn run(keep: bool, install: bool) -> anyhow::Result<()> {
    let prepared = prepare(install)?;
    let lab_dir = rackhand_lab::lab_dir();
    let lab = Lab::up(&lab_dir, &prepared.boot_service, &prepared.assets, &prepared.images)?;
    println!("lab is up: namespace {}, boot service at {}", lab.ns().name(), lab.info().api);

    let mut uefi = ServerSpec::standard("rack1-u2", 2);
    uefi.firmware = Firmware::Uefi;
    let servers = [ServerSpec::standard("rack1-u1", 1), uefi];
    let result = boot_and_follow(&lab, &servers, prepared.accel);
    let nodes = lab.nodes().context("reading the final node records")?;
    std::fs::write(lab_dir.join("nodes.json"), serde_json::to_string_pretty(&nodes)?)?;
    print_table(&nodes);
    println!("\nnode records: {}", lab_dir.join("nodes.json").display());

    if keep {
        let info = lab.detach();
        std::fs::write(lab_dir.join("lab.json"), serde_json::to_string_pretty(&info)?)?;
        println!(
            "--keep: the lab stays up (namespace {}). Try:\n  cargo xtask lab dashboard   (the technicians' page on http://127.0.0.1:8080/)\n  ip netns exec {} curl -s {}/nodes\n\
             and `cargo xtask lab down` when done.",
            info.namespace, info.namespace, info.api
        );
    } else {
        println!("tearing the lab down");
    }
    result.map(drop)
}

/// Start the servers and follow them through the API until each is ready or failed (or its QEMU
/// exits without finishing); print every state change and step as it happens.
pub fn boot_and_follow(lab: &Lab, servers: &[ServerSpec], accel: Accel) -> anyhow::Result<Vec<NodeRecord>> {
    let started = Instant::now();
    let mut running = Vec::new();
    for spec in servers {
        println!(
            "[{:>4}s] {}: power on ({}, {:?}; {} {} + {} {}, accel {})",
            0,
            spec.name,
            spec.model.name(),
            spec.firmware,
            spec.nics[0],
            spec.mac(1),
            spec.nics[1],
            spec.mac(2),
            accel.qemu_arg()
        );
        running.push(VirtualServer::start(lab, spec, accel)?);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut finished: HashMap<String, NodeRecord> = HashMap::new();
    while finished.len() < running.len() {
        anyhow::ensure!(started.elapsed() < BOOT_LIMIT, "servers did not finish within {BOOT_LIMIT:?}");
        std::thread::sleep(Duration::from_secs(1));
        for server in &mut running {
            let name = server.spec.name.clone();
            if finished.contains_key(&name) {
                continue;
            }
            let mac = server.spec.mac(1).to_string();
            let Some(node) = lab.node_by_mac(&mac)? else {
                if !server.is_running() {
                    anyhow::bail!(
                        "{name} powered off before it reached the boot service:\n{}",
                        tail(&server.serial_log())
                    );
                }
                continue;
            };
            let shown = seen.entry(name.clone()).or_default();
            for event in &node.events[(*shown).min(node.events.len())..] {
                println!("[{:>4}s] {name}: {}", started.elapsed().as_secs(), describe(&event.kind));
            }
            *shown = node.events.len();
            let done = matches!(node.state, NodeState::Ready | NodeState::Failed);
            if node.state == NodeState::Ready {
                let os = node.os.as_ref().map_or(String::new(), |os| format!(" ({} on {})", os.hostname, os.kernel));
                println!(
                    "[{:>4}s] {name}: the installed OS reported in{os}: {} s from power-on to ready",
                    started.elapsed().as_secs(),
                    started.elapsed().as_secs()
                );
            }
            if done || !server.is_running() {
                if !done {
                    println!(
                        "{name}: QEMU exited with the node {}; serial console:\n{}",
                        node.state,
                        tail(&server.serial_log())
                    );
                }
                finished.insert(name, node);
            }
        }
    }
    Ok(servers.iter().filter_map(|spec| finished.remove(&spec.name)).collect())
}

fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::Transition { to, reason, .. } => {
            format!("→ {to}{}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())
        }
        EventKind::Progress(p) => {
            let amount = match (p.done, p.total) {
                (Some(done), Some(total)) if total > 0 => format!(" {}%", done * 100 / total),
                _ => String::new(),
            };
            let message = p.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            format!("  {} {:?}{amount}{message}", p.step, p.status).to_lowercase()
        }
        EventKind::Bmc { asked, answer } => format!("  BMC: {asked}: {answer}"),
        EventKind::OsHealth { said } => format!("  its OS reports: {said}"),
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

pub fn print_table(nodes: &[NodeRecord]) {
    print!("\n{}", rackhand_api::node_table(nodes));
}
