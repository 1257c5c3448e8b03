//! Errors of the state module: [`ApplyError`] (an op does not fit the tree it
//! is applied to) and [`DocError`] (the document refused a write).
//!
//! Both carry the offending path so a room can name it in its own error
//! message, and both expose a stable machine-readable [`code`](DocError::code)
//! that never changes once published (clients may match on it).

use std::fmt::Write as _;

use thiserror::Error;

use super::{Path, Seg};

/// Renders a path as a JSON array (`["players","abc",3]`): unambiguous even
/// when keys contain `/` or quotes.
pub fn display_path(path: &[Seg]) -> String {
    let mut out = String::from("[");
    for (i, seg) in path.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match seg {
            // serde_json escapes exactly like the wire would.
            Seg::Key(k) => match serde_json::to_string(k) {
                Ok(quoted) => out.push_str(&quoted),
                Err(_) => out.push_str("\"?\""),
            },
            Seg::Idx(n) => {
                let _ = write!(out, "{n}");
            }
        }
    }
    out.push(']');
    out
}

/// An op that cannot be applied to the tree it meets. For a client mirror
/// this means it has diverged from the server: it must send `resync`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApplyError {
    /// A map key on the path does not exist.
    #[error("no value at {}", display_path(.path))]
    NotFound {
        /// The path up to and including the missing key.
        path: Path,
    },
    /// A string segment met something that is not a map.
    #[error("{} is not a map", display_path(.path))]
    NotAMap {
        /// The path of the value that should have been a map.
        path: Path,
    },
    /// An integer segment (or a push) met something that is not a list.
    #[error("{} is not a list", display_path(.path))]
    NotAList {
        /// The path of the value that should have been a list.
        path: Path,
    },
    /// A list index past the end (a set may use `index == len` to append).
    #[error("index {index} out of range for the list at {} (length {len})", display_path(.path))]
    IndexOutOfRange {
        /// The path of the list.
        path: Path,
        /// The index asked for.
        index: u32,
        /// The list's length.
        len: usize,
    },
    /// `Del` with the empty path: the root cannot be removed (set it instead).
    #[error("the root cannot be deleted")]
    CannotDeleteRoot,
}

impl ApplyError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApplyError::NotFound { .. } => "not_found",
            ApplyError::NotAMap { .. } => "not_a_map",
            ApplyError::NotAList { .. } => "not_a_list",
            ApplyError::IndexOutOfRange { .. } => "index_out_of_range",
            ApplyError::CannotDeleteRoot => "cannot_delete_root",
        }
    }
}

/// A write the [`Document`](super::Document) refused. A refused write leaves
/// the document and its pending ops exactly as they were.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DocError {
    /// A map key on the path does not exist.
    #[error("no value at {}", display_path(.path))]
    NotFound {
        /// The path up to and including the missing key.
        path: Path,
    },
    /// A string segment met something that is not a map.
    #[error("{} is not a map", display_path(.path))]
    NotAMap {
        /// The path of the value that should have been a map.
        path: Path,
    },
    /// An integer segment (or a push) met something that is not a list.
    #[error("{} is not a list", display_path(.path))]
    NotAList {
        /// The path of the value that should have been a list.
        path: Path,
    },
    /// A list index past the end (a set may use `index == len` to append).
    #[error("index {index} out of range for the list at {} (length {len})", display_path(.path))]
    IndexOutOfRange {
        /// The path of the list.
        path: Path,
        /// The index asked for.
        index: u32,
        /// The list's length.
        len: usize,
    },
    /// The root cannot be removed (set it instead).
    #[error("the root cannot be deleted")]
    CannotDeleteRoot,
    /// The write would put a value deeper than `DocLimits::max_depth`.
    #[error("value at depth {depth} exceeds the document's depth limit {max}")]
    TooDeep {
        /// The depth the write would reach (path length of its deepest node).
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// The write would make the encoded document larger than `DocLimits::max_bytes`.
    #[error("document would be {size} bytes, above the limit of {max}")]
    TooLarge {
        /// The encoded size the document would have.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// NaN and infinities have no JSON form and break equality: refused.
    #[error("non-finite float in the value written at {}", display_path(.path))]
    NonFinite {
        /// The path of the write.
        path: Path,
    },
    /// Map keys starting with `$` are reserved (JSON's `{"$bytes": …}` marker).
    #[error("map key {key:?} is reserved (keys must not start with '$')")]
    ReservedKey {
        /// The refused key.
        key: String,
    },
}

impl DocError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DocError::NotFound { .. } => "not_found",
            DocError::NotAMap { .. } => "not_a_map",
            DocError::NotAList { .. } => "not_a_list",
            DocError::IndexOutOfRange { .. } => "index_out_of_range",
            DocError::CannotDeleteRoot => "cannot_delete_root",
            DocError::TooDeep { .. } => "too_deep",
            DocError::TooLarge { .. } => "too_large",
            DocError::NonFinite { .. } => "non_finite",
            DocError::ReservedKey { .. } => "reserved_key",
        }
    }
}

impl From<ApplyError> for DocError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::NotFound { path } => DocError::NotFound { path },
            ApplyError::NotAMap { path } => DocError::NotAMap { path },
            ApplyError::NotAList { path } => DocError::NotAList { path },
            ApplyError::IndexOutOfRange { path, index, len } => {
                DocError::IndexOutOfRange { path, index, len }
            }
            ApplyError::CannotDeleteRoot => DocError::CannotDeleteRoot,
        }
    }
}
