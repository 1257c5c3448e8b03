//! The built-in `shared` room: an authoritative document that clients write
//! directly, within write rules from config.
//!
//! Messages (`msg` or `req`, same payloads): `set {path, value}`,
//! `del {path}`, `push {path, value}`; `req` only: `get {path}` → the value.
//! A path is a list of segments (`["board", "cells", 3]`) or a `/`-separated
//! string of keys (`"board/title"`). Writes go through [`rules::check_write`]
//! (refusals name the rule) and the document's own size/depth limits. When a
//! wallet's last seat closes, its `players/<address>` subtree is removed.
//! Owns the mapping from messages to document calls; nothing else.

use plaza_protocol::state::{Seg, Value};

use super::logic::{RoomClient, RoomCtx, RoomFactory, RoomLogic};
use super::rules::{check_write, CompiledRule, WriteRule};
use super::RoomError;

/// Builds shared rooms with one rule set.
#[derive(Debug, Clone)]
pub struct SharedFactory {
    rules: std::sync::Arc<[CompiledRule]>,
}

impl SharedFactory {
    /// `rules` in order; the default rules when empty. Invalid rules are
    /// skipped (config validation refuses them before this point).
    pub fn new(rules: &[WriteRule]) -> Self {
        let source = if rules.is_empty() {
            WriteRule::defaults()
        } else {
            rules.to_vec()
        };
        let rules = source
            .iter()
            .filter_map(|r| match r.compile() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "shared room rule skipped");
                    None
                }
            })
            .collect();
        Self { rules }
    }
}

impl RoomFactory for SharedFactory {
    fn build(&self) -> Box<dyn RoomLogic> {
        Box::new(Shared {
            rules: self.rules.clone(),
        })
    }
}

/// One shared room.
pub struct Shared {
    rules: std::sync::Arc<[CompiledRule]>,
}

fn parse_path(v: Option<&Value>) -> Result<Vec<Seg>, RoomError> {
    let bad = || {
        RoomError::InvalidMessage(
            "path must be a list of keys/indices or a \"a/b/c\" string".into(),
        )
    };
    match v.ok_or_else(bad)? {
        Value::Str(s) => {
            if s.is_empty() || s.split('/').any(str::is_empty) {
                return Err(bad());
            }
            Ok(s.split('/').map(|k| Seg::Key(k.to_owned())).collect())
        }
        Value::List(items) => items
            .iter()
            .map(|i| match i {
                Value::Str(k) => Ok(Seg::Key(k.clone())),
                Value::Int(n) => u32::try_from(*n).map(Seg::Idx).map_err(|_| bad()),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

fn state_err(e: impl std::fmt::Display) -> RoomError {
    RoomError::State(e.to_string())
}

impl Shared {
    /// Applies one write or read; `Ok(Some(v))` only for `get`.
    fn apply(
        &self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        kind: &str,
        data: Value,
    ) -> Result<Value, RoomError> {
        let Value::Map(mut m) = data else {
            return Err(RoomError::InvalidMessage(format!(
                "{kind} needs a map payload"
            )));
        };
        let path = parse_path(m.get("path"))?;
        if kind == "get" {
            return Ok(ctx.state().get(&path).cloned().unwrap_or(Value::Null));
        }
        if !matches!(kind, "set" | "del" | "push") {
            return Err(RoomError::InvalidMessage(format!(
                "unknown shared message {kind:?}"
            )));
        }
        check_write(&self.rules, &path, client.address())
            .map_err(|d| RoomError::WriteRefused(d.reason))?;
        let doc = ctx.doc();
        match kind {
            "del" => doc.delete(&path).map(|_| ()).map_err(state_err)?,
            _ => {
                let value = m
                    .remove("value")
                    .ok_or_else(|| RoomError::InvalidMessage(format!("{kind} needs a value")))?;
                if kind == "set" {
                    doc.set_creating(&path, value).map_err(state_err)?;
                } else {
                    doc.push(&path, value).map_err(state_err)?;
                }
            }
        }
        Ok(Value::Null)
    }
}

impl RoomLogic for Shared {
    fn message(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        kind: &str,
        data: Value,
    ) -> Result<(), RoomError> {
        if kind == "get" {
            return Err(RoomError::InvalidMessage(
                "get is a request (req), not a msg".into(),
            ));
        }
        self.apply(ctx, client, kind, data).map(|_| ())
    }

    fn request(
        &mut self,
        ctx: &mut RoomCtx<'_>,
        client: &RoomClient,
        kind: &str,
        data: Value,
    ) -> Result<Value, RoomError> {
        self.apply(ctx, client, kind, data)
    }

    fn leave(&mut self, ctx: &mut RoomCtx<'_>, client: &RoomClient, _consented: bool) {
        let address = client.address();
        if ctx.clients().any(|c| c.address() == address) {
            return;
        }
        let path = [Seg::Key("players".into()), Seg::Key(address.to_owned())];
        if ctx.state().get(&path).is_some() {
            if let Err(e) = ctx.doc().delete(&path) {
                tracing::warn!(error = %e, "shared room: player subtree not removed");
            }
        }
    }
}
