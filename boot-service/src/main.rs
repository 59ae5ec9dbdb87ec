//! `boot-service serve --config FILE`: the Rackhand boot service daemon; `nodes`, `node`, `register`,
//! `reprovision`, `bmc`, `power` and `boot-device` talk to a running one (for people and scripts).

use std::path::PathBuf;

use anyhow::Context;
use boot_service::admin::AdminClient;
use boot_service::config::Config;
use clap::{Parser, Subcommand, ValueEnum};
use rackhand_api::node_table;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "Rackhand boot service: DHCP, TFTP, HTTP/iPXE and the node API")]
struct Cli {
    /// Log format: human-readable lines, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true, env = "RACKHAND_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a config file and print what it resolves to.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// List the nodes of a running boot service.
    Nodes {
        #[command(flatten)]
        remote: Remote,
        /// The records as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One node, with its events, as JSON.
    Node {
        #[command(flatten)]
        remote: Remote,
        id: i64,
    },
    /// Pre-register a server by MAC (admin).
    Register {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        mac: rackhand_api::MacAddr,
        #[arg(long)]
        profile: Option<String>,
        #[arg(long)]
        hostname: Option<String>,
        /// The rack it stands in (with --unit); without, it is derived from its switch ports when it can be.
        #[arg(long, requires = "unit")]
        rack: Option<String>,
        /// The rack unit its lowest edge sits in, counted from 1 at the bottom (with --rack).
        #[arg(long, requires = "rack")]
        unit: Option<u32>,
    },
    /// Send a ready or failed node through the installer again (admin): with a BMC, the server is
    /// network-booted through it now; without, at its next network boot.
    Reprovision {
        #[command(flatten)]
        remote: Remote,
        id: i64,
    },
    /// Set or remove a node's BMC (admin; IPMI over LAN). The password is read from
    /// RACKHAND_BMC_PASSWORD, else from the first line of standard input; never from the command line.
    Bmc {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        action: BmcCommand,
    },
    /// A node's power through its BMC (admin): status, on, off, cycle.
    Power {
        #[command(flatten)]
        remote: Remote,
        id: i64,
        #[arg(value_enum)]
        action: PowerCommand,
    },
    /// The device a node boots from next, once, through its BMC (admin).
    BootDevice {
        #[command(flatten)]
        remote: Remote,
        id: i64,
        #[arg(value_enum)]
        device: DeviceArg,
    },
}

#[derive(Subcommand)]
enum BmcCommand {
    Set {
        id: i64,
        /// Its IPv4 address or host name on the management network.
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = rackhand_api::IPMI_PORT)]
        port: u16,
        #[arg(long)]
        user: String,
        /// The RMCP+ cipher suite (0-17); unset, ipmitool asks the BMC.
        #[arg(long)]
        cipher_suite: Option<u8>,
    },
    Remove {
        id: i64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum PowerCommand {
    Status,
    On,
    Off,
    Cycle,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Network,
    Disk,
}

/// Which boot service to talk to, and as whom.
#[derive(clap::Args)]
struct Remote {
    /// The boot service's HTTP base URL.
    #[arg(long, env = "RACKHAND_SERVER", default_value = "http://127.0.0.1")]
    server: String,
    /// `server.admin_token`, for admin calls.
    #[arg(long, env = "RACKHAND_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

impl Remote {
    fn client(self) -> AdminClient {
        AdminClient::new(&self.server, self.admin_token)
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: under systemd stderr goes to the journal, which shows escapes as text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            boot_service::service::run(config, shutdown_signal()).await.context("boot service stopped")
        }
        Command::CheckConfig { config } => {
            let config = Config::load(&config)?;
            println!("{config:#?}");
            Ok(())
        }
        command => tokio::task::spawn_blocking(move || remote(command)).await?,
    }
}

/// The BMC password: from RACKHAND_BMC_PASSWORD, else the first line of standard input (never an
/// argument, which every local user can read in /proc).
fn bmc_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("RACKHAND_BMC_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the BMC password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no BMC password: set RACKHAND_BMC_PASSWORD or give it on standard input");
    Ok(password)
}

/// The commands that talk to a running boot service (blocking HTTP, off the runtime's threads).
fn remote(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Nodes { remote, json } => {
            let nodes = remote.client().nodes()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&nodes)?);
            } else {
                print!("{}", node_table(&nodes));
            }
        }
        Command::Node { remote, id } => println!("{}", serde_json::to_string_pretty(&remote.client().node(id)?)?),
        Command::Register { remote, mac, profile, hostname, rack, unit } => {
            let location = rack.zip(unit).map(|(rack, unit)| rackhand_api::Location { rack, unit });
            let node = remote.client().register(&rackhand_api::RegisterNode { mac, profile, hostname, location })?;
            println!("registered {} ({mac})", node.label());
        }
        Command::Reprovision { remote, id } => {
            let node = remote.client().reprovision(id)?;
            match (&node.state, &node.deadline) {
                (rackhand_api::NodeState::Booting, Some(deadline)) => println!(
                    "{} is booting: its BMC network-boots it, and it must be seen network-booting by {}",
                    node.label(),
                    deadline.at.strftime("%H:%M UTC")
                ),
                (rackhand_api::NodeState::Failed, _) => {
                    let why = node.failure.as_ref().map(|f| f.reason.as_str()).unwrap_or("no reason");
                    anyhow::bail!("{} failed: {why}", node.label())
                }
                _ => println!("{} is {}: it installs again at its next network boot", node.label(), node.state),
            }
        }
        Command::Bmc { remote, action: BmcCommand::Set { id, host, port, user, cipher_suite } } => {
            let password = bmc_password()?;
            let set = rackhand_api::SetBmc { host, port, username: user, password, cipher_suite };
            let node = remote.client().set_bmc(id, &set)?;
            println!("{}: BMC at {}", node.label(), node.bmc.map(|b| b.to_string()).unwrap_or_default());
        }
        Command::Bmc { remote, action: BmcCommand::Remove { id } } => {
            let node = remote.client().remove_bmc(id)?;
            println!("{}: no BMC", node.label());
        }
        Command::Power { remote, id, action } => {
            use rackhand_api::PowerAction;
            let client = remote.client();
            let status = match action {
                PowerCommand::Status => client.power_state(id)?,
                PowerCommand::On => client.power(id, PowerAction::On)?,
                PowerCommand::Off => client.power(id, PowerAction::Off)?,
                PowerCommand::Cycle => client.power(id, PowerAction::Cycle)?,
            };
            println!("node {id}: power {} (as its BMC reports)", status.power);
        }
        Command::BootDevice { remote, id, device } => {
            let device = match device {
                DeviceArg::Network => rackhand_api::BootDevice::Network,
                DeviceArg::Disk => rackhand_api::BootDevice::Disk,
            };
            remote.client().boot_device(id, device)?;
            println!("node {id}: boots from {} next, once (the BMC accepted it)", device.as_str());
        }
        Command::Serve { .. } | Command::CheckConfig { .. } => unreachable!("handled in main"),
    }
    Ok(())
}
