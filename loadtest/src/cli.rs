//! Command-line options. Defaults are the arena scenario of
//! `../shared/bench/arena.md` (K = 16, 10 Hz moves, 1 Hz pings, 5 s warm-up,
//! 30 s window, 50 joins in flight).

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Drives real, authenticated Plaza clients over loopback and measures the
/// server (latency, CPU and memory from /proc/<pid>).
#[derive(Debug, Parser)]
#[command(name = "plaza-loadtest", version)]
pub struct Cli {
    /// The scenario.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Join N clients to `arena` rooms, then moves at 10 Hz and pings at 1 Hz;
    /// move→patch latency, RTT, server CPU and RSS over the window.
    Arena(ArenaArgs),
    /// Join N clients that send nothing; server RSS per idle connection.
    Idle(IdleArgs),
    /// A burst of N authenticated joins with C in flight; joins per second.
    Storm(StormArgs),
}

/// How a client proves its identity on the WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HandshakeKind {
    /// Signed `x-identity-*` headers for `GET /v1/ws` in the first frame.
    Headers,
    /// `POST /v1/auth/ticket` (signed), then the ticket in the first frame.
    Ticket,
    /// An auth chain signing the server's `challenge` nonce.
    Challenge,
}

/// Who decodes patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Observe {
    /// One client per room decodes and timestamps for the whole room.
    Room,
    /// Every client decodes and watches its own player.
    All,
}

/// Options every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Server WebSocket URL; loopback only (`ws://127.0.0.1:PORT[/v1/ws]`).
    #[arg(long, default_value = "ws://127.0.0.1:8080/v1/ws")]
    pub url: String,
    /// Server process id, to read its CPU and memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Number of clients.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub clients: usize,
    /// Joins in flight at once.
    #[arg(long, default_value_t = 50)]
    pub join_concurrency: usize,
    /// Handshake method.
    #[arg(long, value_enum, default_value_t = HandshakeKind::Headers)]
    pub handshake: HandshakeKind,
    /// Room type joined with joinOrCreate.
    #[arg(long, default_value = "arena")]
    pub room_type: String,
    /// Metadata JSON signed into the headers (default: what a scene sends).
    #[arg(long)]
    pub metadata: Option<String>,
    /// Hard wall-clock limit for the whole run, s (exit code 3 when hit).
    #[arg(long, default_value_t = 295.0)]
    pub max_wall_s: f64,
    /// Time allowed for one client's connect + handshake + join, s.
    #[arg(long, default_value_t = 30.0)]
    pub join_timeout_s: f64,
    /// Tokio worker threads (0 = one per CPU this process may run on).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Non-observer clients read their socket only every this many ms
    /// (several frames per read) to keep the load tool cheap; 0 = eager.
    #[arg(long, default_value_t = 200)]
    pub lazy_ms: u64,
    /// Print the JSON report on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Free text copied into the report.
    #[arg(long, default_value = "")]
    pub label: String,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 2.0)]
    pub progress_s: f64,
}

/// `arena` options.
#[derive(Debug, Clone, Args)]
pub struct ArenaArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// Moves per second per client.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Pings per second per client (0 = none).
    #[arg(long, default_value_t = 1.0)]
    pub ping_rate: f64,
    /// Warm-up before the window, s.
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Measurement window, s.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Wait after the window for in-flight patches, s.
    #[arg(long, default_value_t = 1.0)]
    pub drain: f64,
    /// Who decodes patches.
    #[arg(long, value_enum, default_value_t = Observe::Room)]
    pub observe: Observe,
}

/// `idle` options.
#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// Wait after the last join before the first reading, s.
    #[arg(long, default_value_t = 5.0)]
    pub settle: f64,
    /// Time between the two readings, s.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Authenticate only; do not join a room.
    #[arg(long)]
    pub no_join: bool,
}

/// `storm` options.
#[derive(Debug, Clone, Args)]
pub struct StormArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// Bursts on the same server (1 = cold only; 2 = cold then warm).
    #[arg(long, default_value_t = 1)]
    pub bursts: usize,
    /// Pause between bursts (after the previous burst's clients left), s.
    #[arg(long, default_value_t = 2.0)]
    pub pause: f64,
    /// Authenticate only; do not join a room.
    #[arg(long)]
    pub no_join: bool,
}
