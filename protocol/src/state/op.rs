//! [`Op`]: one recorded change, and its wire form `[code, path, value?]`.
//!
//! | code | op | wire |
//! |---|---|---|
//! | 0 | set | `[0, path, value]` |
//! | 1 | delete | `[1, path]` |
//! | 2 | push (append to a list) | `[2, path, value]` |
//!
//! A path is an array of segments: a string is a map key, a non-negative
//! integer a list index. The empty path is the root.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Value;

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    /// A map key.
    Key(String),
    /// A list index.
    Idx(u32),
}

/// A path from the root; empty = the root itself.
pub type Path = Vec<Seg>;

/// One change to the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Put `value` at `path` (replacing what was there). The parent must be a
    /// map, or a list with `index <= len` (`== len` appends).
    Set(Path, Value),
    /// Remove the map entry or list element at `path` (later elements shift).
    Del(Path),
    /// Append `value` to the list at `path`.
    Push(Path, Value),
}

impl Serialize for Seg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Seg::Key(k) => s.serialize_str(k),
            Seg::Idx(i) => s.serialize_u32(*i),
        }
    }
}

impl<'de> Deserialize<'de> for Seg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SegVisitor;
        impl Visitor<'_> for SegVisitor {
            type Value = Seg;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map key (string) or list index (non-negative integer)")
            }
            fn visit_str<E>(self, v: &str) -> Result<Seg, E> {
                Ok(Seg::Key(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Seg, E> {
                Ok(Seg::Key(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seg, E> {
                u32::try_from(v)
                    .map(Seg::Idx)
                    .map_err(|_| E::custom("list index above u32::MAX"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seg, E> {
                u32::try_from(v)
                    .map(Seg::Idx)
                    .map_err(|_| E::custom("list index must be 0..=u32::MAX"))
            }
        }
        d.deserialize_any(SegVisitor)
    }
}

impl Op {
    /// The op's wire code.
    pub fn code(&self) -> u8 {
        match self {
            Op::Set(..) => 0,
            Op::Del(..) => 1,
            Op::Push(..) => 2,
        }
    }

    /// The path the op acts on.
    pub fn path(&self) -> &Path {
        match self {
            Op::Set(p, _) | Op::Del(p) | Op::Push(p, _) => p,
        }
    }
}

impl Serialize for Op {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (path, value) = match self {
            Op::Set(p, v) | Op::Push(p, v) => (p, Some(v)),
            Op::Del(p) => (p, None),
        };
        let mut seq = s.serialize_seq(Some(if value.is_some() { 3 } else { 2 }))?;
        seq.serialize_element(&self.code())?;
        seq.serialize_element(path)?;
        if let Some(v) = value {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OpVisitor;
        impl<'de> Visitor<'de> for OpVisitor {
            type Value = Op;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an op array [code, path, value?]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Op, A::Error> {
                let code: u8 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let path: Path = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let op = match code {
                    0 | 2 => {
                        let value: Value = seq
                            .next_element()?
                            .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                        if code == 0 {
                            Op::Set(path, value)
                        } else {
                            Op::Push(path, value)
                        }
                    }
                    1 => Op::Del(path),
                    other => {
                        return Err(de::Error::custom(format!("unknown op code {other}")));
                    }
                };
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("too many elements in op"));
                }
                Ok(op)
            }
        }
        d.deserialize_seq(OpVisitor)
    }
}
