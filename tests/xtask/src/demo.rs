//! `cargo xtask demo`: the main job. Until the QEMU lab lands (issue 5) it brings up a lab namespace
//! with a bridge and the boot service, then plays a server's network boot against it with real clients
//! (busybox udhcpc as firmware PXE and as iPXE, curl for TFTP and HTTP), and prints the node table.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rackhand_netns::{Netns, veth_pair};

use crate::{packages, run_cmd, workspace_root};

const SERVER_IP: &str = "10.77.0.1";
const BRIDGE: &str = "br-rackhand";
const HTTP_PORT: u16 = 8080;
const ADMIN_TOKEN: &str = "lab-admin-token-not-secret";

pub fn run(keep: bool, install: bool) -> anyhow::Result<()> {
    packages::ensure(packages::TEST, install)?;
    if let Some(reason) = rackhand_netns::unavailable_reason() {
        bail!("the demo needs network namespaces: {reason}");
    }
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(Command::new(&cargo).current_dir(&root).args(["build", "--quiet", "-p", "boot-service"]))?;
    let binary = root.join("target/debug/boot-service");

    let lab_dir = root.join("target/lab");
    let lab = Lab::up(&lab_dir, &binary)?;
    println!("lab is up: namespace {}, boot service at http://{SERVER_IP}:{HTTP_PORT}", lab.ns.name());

    let servers = [("rack1-u1", "52:54:00:77:00:01"), ("rack1-u2", "52:54:00:77:00:02")];
    for (i, (name, mac)) in servers.iter().enumerate() {
        println!("\n== {name} ({mac}) powers on");
        simulate_netboot(&lab, i, mac)?;
    }

    let nodes = lab.api("/api/v1/nodes")?;
    std::fs::write(lab_dir.join("nodes.json"), &nodes)?;
    print_table(&nodes)?;
    println!("\nnode records written to {}", lab_dir.join("nodes.json").display());

    if keep {
        println!(
            "\n--keep: the lab stays up. Try:\n  ip netns exec {} curl -s http://{SERVER_IP}:{HTTP_PORT}/api/v1/nodes\nCtrl-C tears it down.",
            lab.ns.name()
        );
        wait_for_ctrl_c()?;
    }
    println!("tearing the lab down");
    Ok(())
}

/// A lab namespace with a bridge and the boot service on it; removed on drop.
struct Lab {
    service: Child,
    dir: PathBuf,
    ns: Netns,
}

impl Lab {
    fn up(dir: &Path, binary: &Path) -> anyhow::Result<Lab> {
        let assets = dir.join("assets");
        std::fs::create_dir_all(&assets)?;
        for file in ["undionly.kpxe", "ipxe.efi", "snponly.efi"] {
            let from = Path::new("/usr/lib/ipxe").join(file);
            if from.exists() {
                std::fs::copy(&from, assets.join(file)).with_context(|| format!("copying {}", from.display()))?;
            }
        }
        let ns = Netns::create("lab")?;
        ns.bridge(BRIDGE)?;
        ns.addr_up(BRIDGE, &format!("{SERVER_IP}/24"))?;
        let data = dir.join("data");
        let _ = std::fs::remove_dir_all(&data);
        let config = dir.join("boot-service.toml");
        std::fs::write(&config, lab_config(&data, &assets))?;
        let log = std::fs::File::create(dir.join("boot-service.log"))?;
        let service = ns
            .command(binary.to_str().context("binary path is not UTF-8")?)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the boot service")?;
        let lab = Lab { service, dir: dir.to_owned(), ns };
        lab.wait_healthy()?;
        let description = serde_json::json!({
            "namespace": lab.ns.name(),
            "bridge": BRIDGE,
            "server": SERVER_IP,
            "api": format!("http://{SERVER_IP}:{HTTP_PORT}/api/v1"),
            "admin_token": ADMIN_TOKEN,
        });
        std::fs::write(dir.join("lab.json"), serde_json::to_string_pretty(&description)?)?;
        Ok(lab)
    }

    fn wait_healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.api("/healthz").is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!("boot service did not become healthy; see {}", self.dir.join("boot-service.log").display())
    }

    fn api(&self, path: &str) -> anyhow::Result<String> {
        Ok(self.ns.exec("curl", &["-sf", &format!("http://{SERVER_IP}:{HTTP_PORT}{path}")])?)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.service.kill();
        let _ = self.service.wait();
    }
}

fn lab_config(data: &Path, assets: &Path) -> String {
    format!(
        r#"[server]
advertise = "{SERVER_IP}"
data_dir = "{data}"
admin_token = "{ADMIN_TOKEN}"
[http]
listen = "0.0.0.0:{HTTP_PORT}"
[boot]
assets_dir = "{assets}"
[dhcp]
mode = "full"
interfaces = ["{BRIDGE}"]
[[dhcp.subnet]]
network = "10.77.0.0/24"
router = "{SERVER_IP}"
enrolment = "auto"
pools = [{{ start = "10.77.0.100", end = "10.77.0.199" }}]
"#,
        data = data.display(),
        assets = assets.display(),
    )
}

/// One server's network boot, played by real clients in a namespace of its own cabled to the lab bridge:
/// firmware PXE DHCP → TFTP of the iPXE binary → iPXE DHCP → HTTP of its script.
fn simulate_netboot(lab: &Lab, index: usize, mac: &str) -> anyhow::Result<()> {
    let server = Netns::create("srv")?;
    let (lab_end, nic) = (format!("lab{index}"), "eth0");
    veth_pair(&lab.ns, &lab_end, &server, nic)?;
    lab.ns.ip(&["link", "set", &lab_end, "master", BRIDGE])?;
    server.ip(&["link", "set", nic, "address", mac])?;

    let script = lab.dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = bound ] || exit 0\necho \"ip=$ip boot_file=$boot_file siaddr=$siaddr\"\nip addr add \"$ip/$mask\" dev \"$interface\" 2>/dev/null\nexit 0\n",
    )?;
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let udhcpc = |extra: &[&str]| -> anyhow::Result<String> {
        let mut args =
            vec!["udhcpc", "-i", nic, "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", script.to_str().unwrap()];
        args.extend_from_slice(extra);
        Ok(server.exec("busybox", &args)?)
    };
    let pxe = udhcpc(&["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"])?;
    println!("  firmware PXE DHCP: {}", pxe.lines().find(|l| l.starts_with("ip=")).unwrap_or("no lease"));
    let boot_file = field(&pxe, "boot_file").context("no boot file offered")?;
    let out = lab.dir.join(format!("{index}-{boot_file}"));
    server.exec(
        "curl",
        &["-sf", "--tftp-blksize", "1428", "-o", out.to_str().unwrap(), &format!("tftp://{SERVER_IP}/{boot_file}")],
    )?;
    println!("  TFTP {boot_file}: {} bytes", std::fs::metadata(&out)?.len());
    let ipxe = udhcpc(&["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000", "-x", "0x4d:69505845"])?;
    let script_url = field(&ipxe, "boot_file").context("iPXE got no script URL")?;
    println!("  iPXE DHCP: script at {script_url}");
    let body = server.exec("curl", &["-sf", &script_url])?;
    let kernel = body.lines().find(|l| l.starts_with("kernel ")).unwrap_or("(no kernel line)");
    println!("  iPXE script: {}", redact_token(kernel));
    Ok(())
}

fn field(output: &str, name: &str) -> Option<String> {
    let line = output.lines().find(|l| l.starts_with("ip="))?;
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn redact_token(line: &str) -> String {
    line.split(' ')
        .map(|word| if word.starts_with("rackhand.token=") { "rackhand.token=<redacted>" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_table(nodes_json: &str) -> anyhow::Result<()> {
    let nodes: Vec<serde_json::Value> = serde_json::from_str(nodes_json).context("parsing the node list")?;
    println!("\n{:<4} {:<19} {:<12} {:<15}", "ID", "MAC", "STATE", "IPV4");
    for node in nodes {
        println!(
            "{:<4} {:<19} {:<12} {:<15}",
            node["id"].to_string(),
            node["macs"][0].as_str().unwrap_or("-"),
            node["state"].as_str().unwrap_or("-"),
            node["ipv4"].as_str().unwrap_or("-"),
        );
    }
    Ok(())
}

/// Wait for Ctrl-C with SIGINT blocked, so the process is not killed and every `Drop` (service,
/// namespaces) still runs afterwards.
fn wait_for_ctrl_c() -> anyhow::Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.thread_block()?;
    set.wait()?;
    Ok(())
}
