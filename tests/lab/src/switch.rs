//! Simulated top-of-rack switches: each sends LLDP on the tap of the server NIC cabled to it, once a
//! second, from a thread inside the lab namespace, so each NIC sees its own neighbour.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use installer::observe::lldp::{encode_lldp_frame, send_frames};
use rackhand_api::MacAddr;
use rackhand_netns::Netns;

/// LLDP senders that stop when dropped.
pub struct Switches {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<std::io::Result<()>>>,
}

/// One switch port: the tap it sends on and who it says it is.
#[derive(Debug, Clone)]
pub struct SwitchPort {
    pub tap: String,
    pub switch_name: String,
    pub chassis_mac: MacAddr,
    pub port: String,
}

impl Switches {
    pub fn start(ns: &Netns, ports: &[SwitchPort]) -> std::io::Result<Switches> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for port in ports {
            let frame = encode_lldp_frame(
                port.chassis_mac,
                &port.chassis_mac.to_string(),
                &port.port,
                &port.switch_name,
                "Rackhand lab switch",
                120,
            );
            let (tap, stop) = (port.tap.clone(), stop.clone());
            threads.push(ns.spawn_inside(move || {
                while !stop.load(Ordering::Relaxed) {
                    // The tap only carries frames once QEMU has opened it; until then sends fail.
                    let _ = send_frames(&tap, &frame, 1, Duration::ZERO);
                    std::thread::sleep(Duration::from_millis(1000));
                }
                Ok(())
            })?);
        }
        Ok(Switches { stop, threads })
    }
}

impl Drop for Switches {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
