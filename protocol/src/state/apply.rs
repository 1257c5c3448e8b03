//! Applying ops to a plain [`Value`] tree: what a client mirror does with
//! each patch, and the path walking the [`Document`](super::Document) shares.
//!
//! Owns the meaning of each op (the spec's "how to apply" table). It does not
//! enforce document limits: a mirror trusts the server's ops and only refuses
//! those that do not fit its tree, which means it has diverged.

use super::{ApplyError, Op, Seg, Value};

/// Applies one op to `root`. On error `root` is unchanged.
///
/// - `Set(path, v)`: empty path replaces the root; otherwise the parent must
///   exist and be a map (key: insert or replace) or a list (`index < len`
///   replaces, `index == len` appends).
/// - `Del(path)`: removes a map entry (must exist) or list element (must be in
///   range; later elements shift down). The root cannot be deleted.
/// - `Push(path, v)`: appends to the list at `path`.
pub fn apply(root: &mut Value, op: &Op) -> Result<(), ApplyError> {
    match op {
        Op::Set(path, value) => set(root, path, value.clone()),
        Op::Del(path) => delete(root, path).map(drop),
        Op::Push(path, value) => push(root, path, value.clone()),
    }
}

/// Applies ops in order, stopping at the first that fails. On error the ops
/// before it stay applied: a mirror that gets an error has diverged and must
/// ask for a snapshot (`resync`) anyway.
pub fn apply_all(root: &mut Value, ops: &[Op]) -> Result<(), ApplyError> {
    ops.iter().try_for_each(|op| apply(root, op))
}

/// `Set` semantics, taking the value by move (no clone).
pub(crate) fn set(root: &mut Value, path: &[Seg], value: Value) -> Result<(), ApplyError> {
    let Some((last, parent_path)) = path.split_last() else {
        *root = value;
        return Ok(());
    };
    let parent = walk_mut(root, parent_path)?;
    match (parent, last) {
        (Value::Map(map), Seg::Key(k)) => {
            if let Some(slot) = map.get_mut(k) {
                *slot = value;
            } else {
                map.insert(k.clone(), value);
            }
            Ok(())
        }
        (Value::List(list), Seg::Idx(i)) => {
            let i = *i as usize;
            if let Some(slot) = list.get_mut(i) {
                *slot = value;
                Ok(())
            } else if i == list.len() {
                list.push(value);
                Ok(())
            } else {
                Err(out_of_range(parent_path, i, list.len()))
            }
        }
        (_, seg) => Err(mismatch(parent_path, seg)),
    }
}

/// `Del` semantics; returns the removed value.
pub(crate) fn delete(root: &mut Value, path: &[Seg]) -> Result<Value, ApplyError> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err(ApplyError::CannotDeleteRoot);
    };
    let parent = walk_mut(root, parent_path)?;
    match (parent, last) {
        (Value::Map(map), Seg::Key(k)) => map.remove(k).ok_or_else(|| ApplyError::NotFound {
            path: path.to_vec(),
        }),
        (Value::List(list), Seg::Idx(i)) => {
            let i = *i as usize;
            if i < list.len() {
                Ok(list.remove(i))
            } else {
                Err(out_of_range(parent_path, i, list.len()))
            }
        }
        (_, seg) => Err(mismatch(parent_path, seg)),
    }
}

/// `Push` semantics, taking the value by move.
pub(crate) fn push(root: &mut Value, path: &[Seg], value: Value) -> Result<(), ApplyError> {
    match walk_mut(root, path)? {
        Value::List(list) => {
            list.push(value);
            Ok(())
        }
        _ => Err(ApplyError::NotAList {
            path: path.to_vec(),
        }),
    }
}

/// The value at `path`, or why there is none.
pub(crate) fn walk<'a>(root: &'a Value, path: &[Seg]) -> Result<&'a Value, ApplyError> {
    let mut node = root;
    for (i, seg) in path.iter().enumerate() {
        node = match (node, seg) {
            (Value::Map(map), Seg::Key(k)) => map.get(k).ok_or_else(|| ApplyError::NotFound {
                path: path[..=i].to_vec(),
            })?,
            (Value::List(list), Seg::Idx(x)) => list
                .get(*x as usize)
                .ok_or_else(|| out_of_range(&path[..i], *x as usize, list.len()))?,
            (_, seg) => return Err(mismatch(&path[..i], seg)),
        };
    }
    Ok(node)
}

/// Mutable twin of [`walk`] (same errors).
pub(crate) fn walk_mut<'a>(root: &'a mut Value, path: &[Seg]) -> Result<&'a mut Value, ApplyError> {
    let mut node = root;
    for (i, seg) in path.iter().enumerate() {
        node = match (node, seg) {
            (Value::Map(map), Seg::Key(k)) => {
                map.get_mut(k).ok_or_else(|| ApplyError::NotFound {
                    path: path[..=i].to_vec(),
                })?
            }
            (Value::List(list), Seg::Idx(x)) => {
                let len = list.len();
                list.get_mut(*x as usize)
                    .ok_or_else(|| out_of_range(&path[..i], *x as usize, len))?
            }
            (_, seg) => return Err(mismatch(&path[..i], seg)),
        };
    }
    Ok(node)
}

/// The error for a segment that does not fit the container kind it met.
pub(crate) fn mismatch(container: &[Seg], seg: &Seg) -> ApplyError {
    let path = container.to_vec();
    match seg {
        Seg::Key(_) => ApplyError::NotAMap { path },
        Seg::Idx(_) => ApplyError::NotAList { path },
    }
}

pub(crate) fn out_of_range(list: &[Seg], index: usize, len: usize) -> ApplyError {
    ApplyError::IndexOutOfRange {
        path: list.to_vec(),
        // Indices come from a `Seg::Idx(u32)`, so this never saturates.
        index: u32::try_from(index).unwrap_or(u32::MAX),
        len,
    }
}
