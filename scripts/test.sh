#!/usr/bin/env bash
# The whole test suite: Rust (all crates) and the Node harnesses.
# Needs: cargo, node >= 20, npm. PostgreSQL tests run when DATABASE_URL is set, Redis tests when REDIS_URL is.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DATABASE_URL:-}" ]; then
  echo "!! DATABASE_URL is not set: PostgreSQL store tests will be SKIPPED (SQLite still runs)." >&2
fi
if [ -z "${REDIS_URL:-}" ]; then
  echo "!! REDIS_URL is not set: shared (Redis) replay store tests will be SKIPPED." >&2
fi

# Node packages used by the interop harness and the TypeScript client tests.
for dir in tests/interop clients/ts; do
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

cargo build --workspace --bins
cargo test --workspace --all-targets
if [ -f clients/ts/package.json ]; then
  (cd clients/ts && npm run build && npm test)
fi
