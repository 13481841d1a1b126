//! The `tollgate` command line: parse, load and validate the configuration, hand over to the
//! master; or, for `tollgate admin`, be a client of a running gateway (`tollgate::cli`).
//!
//! The same rules as the library (`src/lib.rs`): documented `unsafe`, and `clippy.toml`'s
//! request-path lists.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::disallowed_methods, clippy::disallowed_types))]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// glibc's malloc showed as ~10% of a worker's CPU under load; mimalloc's per-thread heaps
/// serve Pingora's many small per-request allocations more cheaply.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tollgate", version, about = "An AI and API gateway on Pingora")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Start the gateway: a master process and its pre-forked workers.
    Run {
        #[arg(short, long, default_value = "conf/tollgate.toml")]
        config: PathBuf,
    },
    /// Check configuration files and print every problem; exit 1 if there is any.
    Validate {
        #[arg(short, long = "config", default_value = "conf/tollgate.toml", num_args = 1..)]
        configs: Vec<PathBuf>,
    },
    /// Manage tenants, apps, keys, subscriptions and APIs through a running gateway's admin API.
    Admin(tollgate::cli::admin::AdminArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { configs } => validate(&configs),
        Command::Run { config } => run(config),
        Command::Admin(args) => tollgate::cli::admin::main(args),
    }
}

fn validate(paths: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in paths {
        match tollgate::config::load(path) {
            Ok(config) => {
                let now = tollgate::base::clock::now_unix();
                for w in tollgate::config::expiring(&config.tls, now) {
                    eprintln!("{}: warning: {w}", path.display());
                }
                println!("{}: ok", path.display());
            }
            Err(problems) => {
                failed = true;
                for p in &problems.0 {
                    eprintln!("{p}");
                }
                eprintln!("{}: {} problem(s)", path.display(), problems.0.len());
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run(path: PathBuf) -> ExitCode {
    let config = match tollgate::config::load(&path) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("{problems}");
            eprintln!(
                "tollgate: refusing to start: {} problem(s) in {}",
                problems.0.len(),
                path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| {
            tracing_subscriber::EnvFilter::try_new(format!(
                "{},pingora=warn,pingora_core=warn,pingora_proxy=warn",
                config.log.level
            ))
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours only for a terminal: the journal and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(tollgate::telemetry::log_filter::ClientNoise)
        .with_filter(filter);
    tracing_subscriber::registry().with(stderr).init();
    ExitCode::from(tollgate::master::run(path, config) as u8)
}
