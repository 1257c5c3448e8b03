//! `[rooms]` configuration: the room types that exist at startup and the
//! per-type options a custom Rust type is registered with.
//!
//! Owns defaults and validation only; it never builds rooms. `shared` and
//! `arena` exist with no config at all; a `[[rooms.types]]` entry with the
//! same name replaces the built-in one.

use serde::{Deserialize, Serialize};

use super::rules::WriteRule;

/// The built-in type names.
pub const SHARED: &str = "shared";
/// The benchmark game of `shared/bench/arena.md`.
pub const ARENA: &str = "arena";

/// Room types and matchmaking settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsConfig {
    /// Extra (or replacing) room types built from the built-in logics.
    pub types: Vec<RoomTypeConfig>,
    /// Patches kept per room for `resume`. 50 at 20 Hz is 2.5 s of history:
    /// a short network blip is caught up from memory, a longer one costs one
    /// snapshot, and a room never holds more than this many patches. (At 100,
    /// the ring was ~2 KB of server memory per arena client under load.)
    pub patch_ring: usize,
    /// Commands waiting for one room actor before senders get `room_busy`.
    pub queue_capacity: usize,
    /// How long a seat may stay lagging (outbox full) before it is dropped, ms.
    pub slow_kick_ms: u64,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            types: Vec::new(),
            patch_ring: 50,
            queue_capacity: 1024,
            slow_kick_ms: 10_000,
        }
    }
}

/// Which built-in logic a configured type runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinKind {
    /// A document with write rules.
    Shared,
    /// The benchmark game.
    Arena,
}

/// What happens when a wallet that already has a seat joins again from
/// another session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletPolicy {
    /// The old seat is closed (`left {reason:"replaced"}`) and the new one joins.
    #[default]
    Replace,
    /// The new join is refused with `wallet_seated`.
    Refuse,
}

/// One `[[rooms.types]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomTypeConfig {
    /// Registered name (what `joinOrCreate.type` names).
    pub name: String,
    /// Built-in logic.
    pub kind: BuiltinKind,
    /// Seat limit; the room auto-locks when full.
    pub max_clients: u32,
    /// Ticks (and at most this many patches) per second.
    pub patch_rate_hz: u32,
    /// How long a dropped session keeps its seat, ms.
    pub seat_hold_ms: u64,
    /// Shown by `GET /v1/rooms` and the lobby.
    pub listed: bool,
    /// How long an empty room lives before it is disposed, ms.
    pub empty_grace_ms: u64,
    /// How long a created room waits for its first join, ms.
    pub first_join_timeout_ms: u64,
    /// Second seat of one wallet: replace or refuse.
    pub one_seat_per_wallet: WalletPolicy,
    /// Write rules (`shared` only), first match wins.
    pub rules: Vec<WriteRule>,
    /// Largest document, encoded bytes.
    pub max_state_bytes: usize,
    /// Deepest document path.
    pub max_depth: usize,
    /// Sustained room messages per second per seat (burst = 2×); 0 = no limit.
    pub messages_per_second: u32,
    /// Leaderboard that room logic awards to (`arena`: the score at leave).
    pub award_leaderboard: Option<String>,
}

impl Default for RoomTypeConfig {
    fn default() -> Self {
        let o = RoomOptions::default();
        Self {
            name: String::new(),
            kind: BuiltinKind::Shared,
            max_clients: o.max_clients,
            patch_rate_hz: o.patch_rate_hz,
            seat_hold_ms: o.seat_hold_ms,
            listed: o.listed,
            empty_grace_ms: o.empty_grace_ms,
            first_join_timeout_ms: o.first_join_timeout_ms,
            one_seat_per_wallet: o.one_seat_per_wallet,
            rules: Vec::new(),
            max_state_bytes: o.max_state_bytes,
            max_depth: o.max_depth,
            messages_per_second: o.messages_per_second,
            award_leaderboard: None,
        }
    }
}

impl RoomTypeConfig {
    /// The registration options this entry describes.
    pub fn options(&self) -> RoomOptions {
        RoomOptions {
            max_clients: self.max_clients,
            patch_rate_hz: self.patch_rate_hz,
            seat_hold_ms: self.seat_hold_ms,
            listed: self.listed,
            empty_grace_ms: self.empty_grace_ms,
            first_join_timeout_ms: self.first_join_timeout_ms,
            one_seat_per_wallet: self.one_seat_per_wallet,
            max_state_bytes: self.max_state_bytes,
            max_depth: self.max_depth,
            messages_per_second: self.messages_per_second,
        }
    }

    /// The built-in `shared` type.
    pub fn default_shared() -> Self {
        Self {
            name: SHARED.into(),
            kind: BuiltinKind::Shared,
            ..Self::default()
        }
    }

    /// The built-in `arena` type (16 seats, 20 Hz, as `arena.md` fixes).
    pub fn default_arena() -> Self {
        Self {
            name: ARENA.into(),
            kind: BuiltinKind::Arena,
            max_clients: 16,
            ..Self::default()
        }
    }
}

/// Options every room type is registered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomOptions {
    /// Seat limit; the room auto-locks when full.
    pub max_clients: u32,
    /// Ticks per second (the patch rate).
    pub patch_rate_hz: u32,
    /// How long a dropped session keeps its seat, ms.
    pub seat_hold_ms: u64,
    /// Shown in listings.
    pub listed: bool,
    /// How long an empty room lives before it is disposed, ms.
    pub empty_grace_ms: u64,
    /// How long a created room waits for its first join, ms.
    pub first_join_timeout_ms: u64,
    /// Second seat of one wallet: replace or refuse.
    pub one_seat_per_wallet: WalletPolicy,
    /// Largest document, encoded bytes.
    pub max_state_bytes: usize,
    /// Deepest document path.
    pub max_depth: usize,
    /// Sustained room messages per second per seat (burst = 2×); 0 = no limit.
    pub messages_per_second: u32,
}

impl Default for RoomOptions {
    fn default() -> Self {
        Self {
            max_clients: 64,
            patch_rate_hz: 20,
            // Matches the gateway's default resume grace, so a resumed
            // session finds its seats.
            seat_hold_ms: 30_000,
            listed: true,
            empty_grace_ms: 0,
            first_join_timeout_ms: 10_000,
            one_seat_per_wallet: WalletPolicy::Replace,
            max_state_bytes: 256 * 1024,
            max_depth: 16,
            // The arena sends 11/s; 30 leaves room for bursts of UI clicks.
            messages_per_second: 30,
        }
    }
}

impl RoomOptions {
    /// Checks one type's options; `name` prefixes the message.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        if self.max_clients == 0 {
            return Err(format!("rooms type {name}: max_clients must be at least 1"));
        }
        if !(1..=120).contains(&self.patch_rate_hz) {
            return Err(format!("rooms type {name}: patch_rate_hz must be 1..=120"));
        }
        if self.max_depth == 0 || self.max_state_bytes < 64 {
            return Err(format!(
                "rooms type {name}: max_depth must be ≥ 1 and max_state_bytes ≥ 64"
            ));
        }
        Ok(())
    }
}

impl RoomsConfig {
    /// Every type that exists: the built-ins, replaced by configured entries
    /// of the same name, then the other configured entries in order.
    pub fn effective_types(&self) -> Vec<RoomTypeConfig> {
        let mut out = Vec::with_capacity(self.types.len() + 2);
        for builtin in [
            RoomTypeConfig::default_shared(),
            RoomTypeConfig::default_arena(),
        ] {
            if !self.types.iter().any(|t| t.name == builtin.name) {
                out.push(builtin);
            }
        }
        out.extend(self.types.iter().cloned());
        out
    }

    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), String> {
        if self.patch_ring == 0 {
            return Err("rooms.patch_ring must be at least 1".into());
        }
        if self.queue_capacity < 16 {
            return Err("rooms.queue_capacity must be at least 16".into());
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.types {
            if t.name.is_empty() || t.name.len() > 64 {
                return Err("rooms.types: name must be 1..=64 characters".into());
            }
            if !seen.insert(t.name.as_str()) {
                return Err(format!("rooms.types: duplicate type name {}", t.name));
            }
            t.options().validate(&t.name)?;
            if t.kind != BuiltinKind::Shared && !t.rules.is_empty() {
                return Err(format!(
                    "rooms type {}: rules apply to kind = \"shared\" only",
                    t.name
                ));
            }
            for rule in &t.rules {
                rule.check()
                    .map_err(|e| format!("rooms type {}: {e}", t.name))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_exist_without_config_and_can_be_replaced() {
        let c = RoomsConfig::default();
        let names: Vec<_> = c
            .effective_types()
            .into_iter()
            .map(|t| (t.name, t.max_clients))
            .collect();
        assert_eq!(
            names,
            vec![("shared".to_owned(), 64), ("arena".to_owned(), 16)]
        );

        let c: RoomsConfig =
            toml::from_str("[[types]]\nname = \"arena\"\nkind = \"arena\"\nmax_clients = 4\n")
                .expect("parse");
        c.validate().expect("valid");
        let arena = c
            .effective_types()
            .into_iter()
            .find(|t| t.name == "arena")
            .expect("arena");
        assert_eq!(arena.max_clients, 4);
    }

    #[test]
    fn bad_entries_are_refused_with_reasons() {
        let parse = |s: &str| toml::from_str::<RoomsConfig>(s).expect("parse");
        let err = parse("[[types]]\nname = \"x\"\nmax_clients = 0\n")
            .validate()
            .expect_err("0");
        assert!(err.contains("max_clients"), "{err}");
        let err = parse("[[types]]\nname = \"x\"\n[[types]]\nname = \"x\"\n")
            .validate()
            .expect_err("dup");
        assert!(err.contains("duplicate"), "{err}");
        let err =
            parse("[[types]]\nname = \"x\"\nrules = [{ path = \"a/**/b\", write = \"anyone\" }]\n")
                .validate()
                .expect_err("** not last");
        assert!(err.contains("**"), "{err}");
        let err =
            parse("[[types]]\nname = \"x\"\nrules = [{ path = \"a/*\", write = \"owner\" }]\n")
                .validate()
                .expect_err("owner without {address}");
        assert!(err.contains("{address}"), "{err}");
        assert!(toml::from_str::<RoomsConfig>("[[types]]\nname = \"x\"\nnope = 1\n").is_err());
    }
}
