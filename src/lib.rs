//! Plaza: an authoritative game-state server for Decentraland scenes.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | typed configuration: defaults, TOML, `PLAZA_*` env |
//! | [`auth`] | signed requests, handshakes, replay and delegation caches → [`auth::Identity`] |
//! | [`outbox`] | the bounded, encoded-once queue in front of each client socket |
//! | [`events`] | seat and award events from rooms to the durable side |
//! | [`room`] | matchmaking, room actors, room logic, state and patches |
//! | [`scores`] | leaderboards and anti-farming rules |
//! | [`store`] | SQLite / PostgreSQL persistence |
//! | [`gateway`] | the HTTP router and WebSocket edge; errors → statuses and close codes |
//! | [`server`] | assembles everything; `run(listener, config, shutdown)` with a provable drain |
//! | [`metrics`] | metric names and the Prometheus recorder |
//!
//! `main` parses the CLI, sets up logging, binds, and calls the server's `run`.

pub mod auth;
pub mod config;
pub mod events;
pub mod gateway;
pub mod link;
pub mod metrics;
pub mod outbox;
pub mod room;
pub mod scores;
pub mod server;
pub mod store;
