//! Write rules of the `shared` room: which document paths a client may write.
//!
//! A rule is a `/`-separated pattern and an access level. Pattern segments:
//! a literal key, `*` (any one segment), `{address}` (any one segment, bound
//! to the writer's wallet for `owner` rules) and `**` (any rest, zero or more
//! segments; last only). Rules are tried in order; the first whose pattern
//! matches decides. A path no rule matches is refused ("default deny").
//! This module only decides; it never touches the document.

use std::fmt;

use plaza_protocol::state::Seg;
use serde::{Deserialize, Serialize};

/// Who may write where a rule's pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteAccess {
    /// Only the wallet named by the `{address}` segment.
    Owner,
    /// Any seated client.
    Anyone,
    /// Nobody (a read-only area).
    None,
}

/// One configured rule, e.g. `{ path = "players/{address}/**", write = "owner" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteRule {
    /// The pattern.
    pub path: String,
    /// The access level.
    pub write: WriteAccess,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatSeg {
    Lit(String),
    One,
    Address,
    Rest,
}

/// A rule ready to match paths.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    source: String,
    access: WriteAccess,
    segs: Vec<PatSeg>,
}

/// Why a write was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The pattern that decided, or `None` when no rule matched.
    pub rule: Option<String>,
    /// Human-readable reason.
    pub reason: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl WriteRule {
    /// Parses the pattern; the error says what is wrong with it.
    pub fn compile(&self) -> Result<CompiledRule, String> {
        let mut segs = Vec::new();
        let parts: Vec<&str> = self.path.split('/').collect();
        if self.path.is_empty() {
            return Err("rule path must not be empty".into());
        }
        for (i, p) in parts.iter().enumerate() {
            let seg = match *p {
                "" => return Err(format!("rule path {:?} has an empty segment", self.path)),
                "**" if i + 1 != parts.len() => {
                    return Err(format!(
                        "rule path {:?}: ** is allowed only at the end",
                        self.path
                    ))
                }
                "**" => PatSeg::Rest,
                "*" => PatSeg::One,
                "{address}" => PatSeg::Address,
                lit if lit.contains('{') || lit.contains('*') => {
                    return Err(format!(
                        "rule path {:?}: unknown placeholder {lit:?}",
                        self.path
                    ))
                }
                lit => PatSeg::Lit(lit.to_owned()),
            };
            segs.push(seg);
        }
        if self.write == WriteAccess::Owner && !segs.contains(&PatSeg::Address) {
            return Err(format!(
                "rule path {:?}: write = \"owner\" needs a {{address}} segment",
                self.path
            ));
        }
        Ok(CompiledRule {
            source: self.path.clone(),
            access: self.write,
            segs,
        })
    }

    /// Validation only.
    pub fn check(&self) -> Result<(), String> {
        self.compile().map(|_| ())
    }

    /// The rules of `shared` when none are configured.
    pub fn defaults() -> Vec<WriteRule> {
        vec![
            WriteRule {
                path: "players/{address}/**".into(),
                write: WriteAccess::Owner,
            },
            WriteRule {
                path: "board/**".into(),
                write: WriteAccess::Anyone,
            },
        ]
    }
}

fn seg_text(seg: &Seg) -> std::borrow::Cow<'_, str> {
    match seg {
        Seg::Key(k) => std::borrow::Cow::Borrowed(k.as_str()),
        Seg::Idx(i) => std::borrow::Cow::Owned(i.to_string()),
    }
}

impl CompiledRule {
    /// If the pattern matches `path`, the segment bound to `{address}`.
    fn matches<'p>(&self, path: &'p [Seg]) -> Option<Option<&'p Seg>> {
        let mut bound = None;
        for (i, pat) in self.segs.iter().enumerate() {
            match pat {
                PatSeg::Rest => return Some(bound),
                _ if i >= path.len() => return None,
                PatSeg::Lit(lit) => {
                    if seg_text(&path[i]) != lit.as_str() {
                        return None;
                    }
                }
                PatSeg::One => {}
                PatSeg::Address => bound = Some(&path[i]),
            }
        }
        (path.len() == self.segs.len()).then_some(bound)
    }
}

/// Decides a write of `path` by `address` (lower-case wallet).
pub fn check_write(rules: &[CompiledRule], path: &[Seg], address: &str) -> Result<(), Denied> {
    for rule in rules {
        let Some(bound) = rule.matches(path) else {
            continue;
        };
        let denied = |why: &str| Denied {
            rule: Some(rule.source.clone()),
            reason: format!("write refused by rule `{}`: {why}", rule.source),
        };
        return match rule.access {
            WriteAccess::Anyone => Ok(()),
            WriteAccess::None => Err(denied("nobody may write here")),
            WriteAccess::Owner => match bound {
                Some(Seg::Key(k)) if k.eq_ignore_ascii_case(address) => Ok(()),
                _ => Err(denied("only the owner wallet may write here")),
            },
        };
    }
    Err(Denied {
        rule: None,
        reason: "write refused by the default rule: no write rule matches this path".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[&str]) -> Vec<Seg> {
        parts.iter().map(|p| Seg::Key((*p).to_owned())).collect()
    }

    fn rules() -> Vec<CompiledRule> {
        WriteRule::defaults()
            .iter()
            .map(|r| r.compile().expect("compile"))
            .collect()
    }

    #[test]
    fn owner_rule_binds_the_address_segment() {
        let r = rules();
        assert!(check_write(&r, &key(&["players", "0xab"]), "0xab").is_ok());
        assert!(check_write(&r, &key(&["players", "0xab", "pos", "x"]), "0xab").is_ok());
        let err = check_write(&r, &key(&["players", "0xcd", "pos"]), "0xab").expect_err("other");
        assert_eq!(err.rule.as_deref(), Some("players/{address}/**"));
        assert!(err.reason.contains("players/{address}/**"), "{err}");
        // The map itself is not a player's.
        let err = check_write(&r, &key(&["players"]), "0xab").expect_err("players root");
        assert_eq!(err.rule, None);
    }

    #[test]
    fn anyone_star_and_default_deny() {
        let r = rules();
        assert!(check_write(&r, &key(&["board"]), "0xab").is_ok());
        let mut p = key(&["board", "cells"]);
        p.push(Seg::Idx(3));
        assert!(check_write(&r, &p, "0xab").is_ok());
        let err = check_write(&r, &key(&["world"]), "0xab").expect_err("unlisted");
        assert!(err.reason.contains("default rule"));
        assert!(check_write(&r, &[], "0xab").is_err());

        let star = WriteRule {
            path: "cells/*".into(),
            write: WriteAccess::Anyone,
        }
        .compile()
        .expect("ok");
        let mut p = key(&["cells"]);
        p.push(Seg::Idx(2));
        assert!(check_write(std::slice::from_ref(&star), &p, "0x1").is_ok());
        p.push(Seg::Idx(0));
        assert!(check_write(std::slice::from_ref(&star), &p, "0x1").is_err());
    }
}
