//! Exact MessagePack sizes of values, and the checks a value must pass before
//! it enters a [`Document`](super::Document).
//!
//! The sizes mirror what `rmp_serde::to_vec_named` writes for a [`Value`]
//! (most compact int/str/bin/array/map headers, float32 narrowing); a property
//! test holds them equal. They let the document keep its encoded size up to
//! date per write instead of re-encoding the tree.

use super::{DocError, Seg, Value};

/// Bytes of an array or map header holding `n` entries.
pub(crate) fn container_header(n: usize) -> usize {
    if n < 16 {
        1
    } else if n < 65_536 {
        3
    } else {
        5
    }
}

/// Bytes of a string of `len` UTF-8 bytes, header included.
pub(crate) fn str_len(len: usize) -> usize {
    let header = if len < 32 {
        1
    } else if len < 256 {
        2
    } else if len < 65_536 {
        3
    } else {
        5
    };
    header + len
}

fn bin_len(len: usize) -> usize {
    let header = if len < 256 {
        2
    } else if len < 65_536 {
        3
    } else {
        5
    };
    header + len
}

fn int_len(i: i64) -> usize {
    match i {
        -32..=127 => 1,
        -128..=255 => 2,
        -32_768..=65_535 => 3,
        -2_147_483_648..=4_294_967_295 => 5,
        _ => 9,
    }
}

fn float_len(f: f64) -> usize {
    // Same test as `Value::serialize`: exactly representable as f32 → 5 bytes.
    if f64::from(f as f32) == f {
        5
    } else {
        9
    }
}

/// Encoded size of `v` in MessagePack.
pub(crate) fn encoded_len(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 1,
        Value::Int(i) => int_len(*i),
        Value::Float(f) => float_len(*f),
        Value::Str(s) => str_len(s.len()),
        Value::Bytes(b) => bin_len(b.len()),
        Value::List(items) => {
            container_header(items.len()) + items.iter().map(encoded_len).sum::<usize>()
        }
        Value::Map(map) => {
            container_header(map.len())
                + map
                    .iter()
                    .map(|(k, v)| str_len(k.len()) + encoded_len(v))
                    .sum::<usize>()
        }
    }
}

/// Adds (`add`) or removes (`!add`) the nodes of `v`, which sits
/// at `depth`, from the per-depth node counts.
pub(crate) fn count_nodes(v: &Value, depth: usize, counts: &mut Vec<usize>, add: bool) {
    if counts.len() <= depth {
        counts.resize(depth + 1, 0);
    }
    if add {
        counts[depth] += 1;
    } else {
        counts[depth] = counts[depth].saturating_sub(1);
    }
    match v {
        Value::List(items) => items
            .iter()
            .for_each(|c| count_nodes(c, depth + 1, counts, add)),
        Value::Map(map) => map
            .values()
            .for_each(|c| count_nodes(c, depth + 1, counts, add)),
        _ => {}
    }
}

/// Checks a value about to be written at `depth` by a write to `path` (for
/// error messages) and returns its encoded size.
///
/// Refuses non-finite floats, `$` keys and nodes deeper than `max_depth`.
/// Recursion stops at the depth limit, so a hostile deeply nested value
/// cannot exhaust the stack here.
pub(crate) fn check(
    v: &Value,
    path: &[Seg],
    depth: usize,
    max_depth: usize,
) -> Result<usize, DocError> {
    if depth > max_depth {
        return Err(DocError::TooDeep {
            depth,
            max: max_depth,
        });
    }
    Ok(match v {
        Value::Float(f) if !f.is_finite() => {
            return Err(DocError::NonFinite {
                path: path.to_vec(),
            });
        }
        Value::List(items) => {
            let mut total = container_header(items.len());
            for item in items {
                total += check(item, path, depth + 1, max_depth)?;
            }
            total
        }
        Value::Map(map) => {
            let mut total = container_header(map.len());
            for (k, item) in map {
                check_key(k)?;
                total += str_len(k.len()) + check(item, path, depth + 1, max_depth)?;
            }
            total
        }
        scalar => encoded_len(scalar),
    })
}

/// Map keys starting with `$` are reserved for JSON markers (`$bytes`).
pub(crate) fn check_key(k: &str) -> Result<(), DocError> {
    if k.starts_with('$') {
        Err(DocError::ReservedKey { key: k.to_owned() })
    } else {
        Ok(())
    }
}
