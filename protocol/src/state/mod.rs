//! The state document: a tree of [`Value`]s that room logic mutates through
//! a [`Document`] (which records every change), compacted into [`Op`]s per
//! tick; clients mirror it by applying those ops with [`apply`].
//!
//! This module owns the tree, its limits and the op semantics; it knows
//! nothing about rooms, seqs or sockets.

mod apply;
mod changes;
mod document;
mod error;
mod measure;
mod op;
mod path;
mod value;

pub use apply::{apply, apply_all};
pub use changes::OpRef;
pub use document::{DocLimits, Document};
pub use error::{display_path, ApplyError, DocError};
pub use op::{Op, Path, Seg};
pub use path::IntoSeg;
pub use value::Value;
pub(crate) use value::BYTES_KEY;
