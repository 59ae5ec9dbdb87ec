//! `boot-service serve --config FILE`: the Rackhand boot service daemon; `nodes`, `node`, `register` and
//! `reprovision` talk to a running one (for people and scripts).

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
    /// Send a ready or failed node through the installer again at its next network boot (admin).
    Reprovision {
        #[command(flatten)]
        remote: Remote,
        id: i64,
    },
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
            println!("{} is {}: it installs again at its next network boot", node.label(), node.state);
        }
        Command::Serve { .. } | Command::CheckConfig { .. } => unreachable!("handled in main"),
    }
    Ok(())
}
