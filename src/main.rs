//! The `plaza` binary: parses the CLI, sets up logging, binds, and hands over
//! to `plaza::server::run`. Nothing else lives here.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use plaza::config::Config;

/// mimalloc instead of glibc malloc: per-thread free lists and less
/// fragmentation keep RSS per connection down (see BENCHMARKS.md "Arena").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "plaza",
    version,
    about = "Authoritative game-state server for Decentraland scenes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Auth-chain tools (debug a client's signatures).
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Exit 0 if the server at ADDR answers `GET /healthz` with 200 (for
    /// container health checks; needs no curl in the image).
    Healthcheck {
        /// host:port of the server (plain HTTP).
        #[arg(default_value = "127.0.0.1:8080")]
        addr: String,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// TOML config file (also PLAZA_CONFIG).
    #[arg(long, env = "PLAZA_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address (overrides server.bind).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Data directory (overrides server.data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TLS certificate chain, PEM (overrides server.tls_cert).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key, PEM (overrides server.tls_key).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Log JSON lines.
    #[arg(long)]
    json_logs: bool,
    /// Runtime worker threads (overrides server.workers; 0 = one per CPU).
    #[arg(long)]
    workers: Option<usize>,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate FILE (with PLAZA_* overrides) and print the effective config.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuthCommand {
    /// stdin {"authChain","expectedFinalAuthority","nowMs"} → one JSON verdict line.
    VerifyChain {
        /// Reproduce @dcl/crypto 3.7.0 verdicts instead of Plaza's strict policy.
        #[arg(long)]
        compat: bool,
    },
    /// stdin {"request":{method,target,headers,body?},"nowMs","options"} → one JSON verdict line.
    VerifyRequest {
        /// Reproduce decentraland-crypto-middleware 1.3.0 verdicts.
        #[arg(long)]
        compat: bool,
    },
}

fn env_vars() -> Vec<(String, String)> {
    std::env::vars().collect()
}

/// The runtime for `workers` threads: tokio's single-threaded scheduler for
/// one (no work stealing, no cross-thread wake-ups to pay for), the
/// multi-threaded one otherwise.
fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serve_config = match &cli.command {
        Command::Serve(args) => match load_config(args) {
            Ok(config) => Some(config),
            Err(code) => return code,
        },
        _ => None,
    };
    let workers = serve_config
        .as_ref()
        .map_or(1, |c| c.server.resolved_workers());
    let runtime = match runtime(workers) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plaza: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Command::Serve(_) => match serve_config {
            Some(config) => runtime.block_on(serve(config)),
            None => ExitCode::from(2),
        },
        Command::Healthcheck { addr } => healthcheck(&addr),
        Command::Config(ConfigCommand::Check { file }) => {
            match Config::load(Some(&file), env_vars()) {
                Ok(config) => {
                    print!("{}", config.to_toml());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("plaza: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Auth(cmd) => {
            let mut input = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("plaza: cannot read stdin: {e}");
                return ExitCode::from(2);
            }
            let result = runtime.block_on(async {
                match cmd {
                    AuthCommand::VerifyChain { compat } => {
                        plaza::auth::cli::verify_chain(compat, &input).await
                    }
                    AuthCommand::VerifyRequest { compat } => {
                        plaza::auth::cli::verify_request(compat, &input).await
                    }
                }
            });
            match result {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("plaza: {message}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// The config file and environment, then the `serve` flags over them.
fn load_config(args: &ServeArgs) -> Result<Config, ExitCode> {
    let mut config = match Config::load(args.config.as_deref(), env_vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("plaza: {e}");
            return Err(ExitCode::from(2));
        }
    };
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    if let Some(dir) = &args.data_dir {
        config.server.data_dir = dir.clone();
    }
    if args.tls_cert.is_some() {
        config.server.tls_cert = args.tls_cert.clone();
        config.server.tls_key = args.tls_key.clone();
    }
    if let Some(workers) = args.workers {
        config.server.workers = workers;
    }
    config.server.json_logs |= args.json_logs;
    if let Err(e) = config.validate() {
        eprintln!("plaza: {e}");
        return Err(ExitCode::from(2));
    }
    Ok(config)
}

async fn serve(config: Config) -> ExitCode {
    init_logging(config.server.json_logs);
    let workers = config.server.resolved_workers();
    let scheduler = if workers <= 1 {
        "current_thread"
    } else {
        "multi_thread"
    };
    tracing::info!(workers, scheduler, "runtime");
    let listener = match std::net::TcpListener::bind(config.server.bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("plaza: cannot listen on {}: {e}", config.server.bind);
            return ExitCode::from(1);
        }
    };
    match plaza::server::run(listener, config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plaza: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn healthcheck(addr: &str) -> ExitCode {
    use std::io::Write as _;
    use std::net::ToSocketAddrs as _;
    use std::time::Duration;
    let Some(target) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        eprintln!("plaza: cannot resolve {addr}");
        return ExitCode::from(2);
    };
    let attempt = || -> std::io::Result<bool> {
        let mut stream = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"))
    };
    match attempt() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("plaza: healthcheck failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PLAZA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
