//! The state document: a tree of [`Value`]s that room logic mutates through
//! recorded [`Op`]s, and that clients mirror by applying patches.

mod op;
mod value;

pub use op::{Op, Path, Seg};
pub use value::Value;
