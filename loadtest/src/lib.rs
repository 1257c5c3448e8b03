//! `plaza-loadtest`: drives thousands of real Plaza clients over loopback,
//! each with its own wallet, through the real auth handshake and the arena
//! scenario of `../shared/bench/arena.md`, and measures the server from
//! `/proc/<pid>`.
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | options and their defaults (the arena scenario's) |
//! | [`target`] | the server URL; refuses anything not loopback |
//! | [`creds`] | per-client wallets and signed handshakes |
//! | [`client`] | connect → handshake → joinOrCreate |
//! | [`wire`] | hot-path frames (move, ping) and the no-decode frame peek |
//! | [`track`] | move→patch latency: per-seat move rings, one observer per room |
//! | [`stats`] | counters and histograms shared by every client task |
//! | [`hist`] | latency histograms (µs, 3 significant digits) |
//! | [`procstat`] | `/proc/<pid>` CPU and memory |
//! | [`scenario`] | `arena`, `idle`, `storm`: phases, timing, reports |
//! | [`report`] | report figures and the human table |
//!
//! Bounded by construction: loopback only, a hard wall-clock deadline in
//! `main`, a timeout on every join and every phase.

pub mod cli;
pub mod client;
pub mod creds;
pub mod hist;
pub mod procstat;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod target;
pub mod track;
pub mod wire;
