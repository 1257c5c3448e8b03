//! Shared helpers of the `scores_*` integration tests: a store per backend
//! (SQLite in a temp dir always; PostgreSQL in a fresh schema when
//! `DATABASE_URL` is set) and leaderboard configs.

#![allow(dead_code)] // each test binary uses a different subset

pub mod http;

use std::sync::atomic::{AtomicU32, Ordering};

use plaza::store::{Store, StoreConfig};

static SCHEMA_SEQ: AtomicU32 = AtomicU32::new(0);

/// A backend under test; keeps its temp dir alive.
pub struct Backend {
    pub name: &'static str,
    pub store: Store,
    pub _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = StoreConfig::default();
    let store = Store::open(&config, dir.path()).await.expect("open sqlite");
    Backend {
        name: "sqlite",
        store,
        _dir: Some(dir),
    }
}

/// A PostgreSQL store in a schema of its own, or `None` (with a loud line)
/// when `DATABASE_URL` is not set.
pub async fn postgres() -> Option<Backend> {
    postgres_with(4).await
}

/// Like [`postgres`] with a pool of `connections`.
pub async fn postgres_with(connections: u32) -> Option<Backend> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("SKIPPED: DATABASE_URL not set: PostgreSQL scores tests did not run");
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let schema = format!(
        "plaza_t{}_{}_{}",
        std::process::id(),
        nanos,
        SCHEMA_SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let config = StoreConfig {
        schema: Some(schema),
        max_connections: connections,
        ..Default::default()
    };
    let store = Store::connect_with(&url, &config)
        .await
        .expect("connect postgres");
    Some(Backend {
        name: "postgres",
        store,
        _dir: None,
    })
}

/// SQLite, plus PostgreSQL when available.
pub async fn backends() -> Vec<Backend> {
    let mut out = vec![sqlite().await];
    out.extend(postgres().await);
    out
}

/// `0x` + 40 hex from a small number (distinct, sortable addresses).
pub fn addr(n: u32) -> String {
    format!("0x{n:040x}")
}
