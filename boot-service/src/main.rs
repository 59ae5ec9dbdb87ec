//! `boot-service serve --config FILE`: the Rackhand boot service daemon.

use std::path::PathBuf;

use anyhow::Context;
use boot_service::config::Config;
use clap::{Parser, Subcommand, ValueEnum};
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
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
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
    }
}
