//! Boot storm: N simulated PXE clients at once against a fresh boot-service. Each does DHCP (iPXE's
//! DORA, from one socket on the client veth), then over HTTP its iPXE script, kernel and initrd, from
//! the client namespace's single address. Measured: time from the first DISCOVER until every client
//! has all its files, and the boot service's peak memory (VmHWM).

use std::fs::File;
use std::io::BufWriter;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rackhand_api::MacAddr;
use rackhand_bench::configs::SERVER_IP;
use rackhand_bench::dhcpmsg::client_mac;
use rackhand_bench::parse::vm_hwm_kib;
use rackhand_bench::report::Row;
use rackhand_bench::stats::Better;

use crate::client::{dora_all, http_get, http_get_from};
use crate::env::{Ctx, Pair, fresh_dir, start_boot_service};

const KERNEL: u64 = 2 << 20;
const INITRD: u64 = 6 << 20;

pub fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let sizes: &[u32] = if ctx.smoke { &[5] } else { &[100, 500, 1000] };
    let pair = Pair::create()?;
    // The clients' leased addresses are the client namespace's own (AnyIP: local routes over the pool's
    // first 7936 addresses), so each asks for its script from its own address, as a real server does.
    for range in ["10.201.1.0/24", "10.201.2.0/23", "10.201.4.0/22", "10.201.8.0/21", "10.201.16.0/20"] {
        pair.client.ip(&["route", "add", "local", range, "dev", "lo"])?;
    }
    let dir = fresh_dir(ctx, "storm")?;
    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets)?;
    for (name, size) in [("vmlinuz", KERNEL), ("initrd.img", INITRD)] {
        images::synth_image(&mut BufWriter::new(File::create(assets.join(name))?), size, 1)?;
    }
    let mut rows = Vec::new();
    for &n in sizes {
        let mut times = Vec::new();
        let mut peaks = Vec::new();
        for run in 0..ctx.runs {
            let run_dir = fresh_dir(ctx, &format!("storm/{n}-{run}"))?;
            let mut proc = start_boot_service(ctx, &pair.server, &run_dir, &assets, &dir.join("images"))?;
            let took = pair
                .client
                .spawn_inside(move || storm(n).map_err(std::io::Error::other))?
                .join()
                .map_err(|_| anyhow::anyhow!("the storm thread panicked"))?
                .with_context(|| format!("boot storm of {n} clients"))?;
            proc.ensure_running()?;
            let status = std::fs::read_to_string(format!("/proc/{}/status", proc.pid()))?;
            let peak = vm_hwm_kib(&status).context("no VmHWM in the boot service's /proc status")?;
            proc.stop(Duration::from_secs(5));
            times.push(took.as_secs_f64());
            peaks.push(peak as f64 / 1024.0);
        }
        let files = format!("DHCP + script + {} MiB kernel + {} MiB initrd each", KERNEL >> 20, INITRD >> 20);
        rows.push(
            Row::ours_only(format!("boot storm N={n}: all booted"), "s", Better::Lower, &times).with_note(&files),
        );
        rows.push(Row::ours_only(format!("boot storm N={n}: peak RSS"), "MiB", Better::Lower, &peaks));
    }
    Ok(rows)
}

/// Run one storm; the time until the last client has its last file.
fn storm(n: u32) -> anyhow::Result<Duration> {
    let macs: Vec<[u8; 6]> = (0..n).map(client_mac).collect();
    let (done_tx, done_rx) = mpsc::channel::<anyhow::Result<()>>();
    let mut threads = Vec::new();
    let start = Instant::now();
    dora_all(&macs, Duration::from_secs(60), |_, ack| {
        let (mac, address) = (MacAddr::new(ack.mac), ack.yiaddr);
        let has_boot_file = ack.bootfile.is_some();
        let done = done_tx.clone();
        threads.push(std::thread::spawn(move || {
            let result = if has_boot_file {
                fetch_all(mac, address)
            } else {
                Err(anyhow::anyhow!("{mac}: ACK without a boot file"))
            };
            let _ = done.send(result);
        }));
    })?;
    drop(done_tx);
    let mut errors = Vec::new();
    for result in done_rx {
        if let Err(err) = result {
            errors.push(format!("{err:#}"));
        }
    }
    let took = start.elapsed();
    for t in threads {
        let _ = t.join();
    }
    if let Some(first) = errors.first() {
        bail!("{} of {n} clients failed; first: {first}", errors.len());
    }
    Ok(took)
}

/// What iPXE does after DHCP: its script (from the address DHCP gave it, as the boot service requires),
/// then the kernel and initrd the script names.
fn fetch_all(mac: MacAddr, address: std::net::Ipv4Addr) -> anyhow::Result<()> {
    let config = ureq::Agent::config_builder().proxy(None).timeout_global(Some(Duration::from_secs(120))).build();
    let agent = ureq::Agent::new_with_config(config);
    let base = format!("http://{SERVER_IP}");
    let url = format!("{base}/boot/{mac}.ipxe");
    let (status, script) = http_get_from(address, &url)?;
    let script = String::from_utf8_lossy(&script);
    if status != 200 {
        bail!("GET {url} from {address}: HTTP {status}: {script}");
    }
    if !script.contains("kernel") {
        bail!("{mac}: the iPXE script boots no kernel:\n{script}");
    }
    for (file, size) in [("vmlinuz", KERNEL), ("initrd.img", INITRD)] {
        let (got, _) = http_get(&agent, &format!("{base}/assets/{file}"))?;
        if got != size {
            bail!("{mac}: /assets/{file}: {got} bytes of {size}");
        }
    }
    Ok(())
}
