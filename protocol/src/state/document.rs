//! [`Document`]: the authoritative state of one room, and the only way to
//! change it so that every change is recorded for the next patch.
//!
//! Owns the document's limits (size, depth, finite floats, no `$` keys) and
//! its bookkeeping (encoded size, node count per depth, pending changes), all
//! kept up to date per write in time proportional to the path and to the
//! values written or replaced, never to the whole tree. It must not know
//! about rooms, seqs or encodings of messages.

use super::apply::{self, mismatch, out_of_range, walk, walk_mut};
use super::changes::{Changes, ListDelete, OpRef};
use super::measure::{check, check_key, container_header, count_nodes, encoded_len, str_len};
use super::{ApplyError, DocError, Op, Seg, Value};

/// Limits a [`Document`] enforces on every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocLimits {
    /// Largest encoded (MessagePack) size of the whole document, bytes.
    pub max_bytes: usize,
    /// Longest path from the root to any value (`{"a":{"b":1}}` has depth 2).
    pub max_depth: usize,
}

impl DocLimits {
    /// 256 KiB: a snapshot stays one comfortable frame for a joining client.
    pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;
    /// 16 levels: far more than game state needs, and it bounds the recursion
    /// of every walk over the tree.
    pub const DEFAULT_MAX_DEPTH: usize = 16;
}

impl Default for DocLimits {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }
}

/// A room's state tree plus the changes recorded since the last
/// [`take_ops`](Document::take_ops).
///
/// Every write is checked against the limits first; a refused write changes
/// nothing (neither the tree nor the pending changes).
#[derive(Debug, Clone)]
pub struct Document {
    root: Value,
    limits: DocLimits,
    /// Encoded MessagePack size of `root`, maintained per write.
    size: usize,
    /// `counts[d]` = number of nodes at depth `d`; gives `depth()` in O(limit).
    counts: Vec<usize>,
    changes: Changes,
}

/// Moves the node counts from `old` to `new`, both at `depth`. When both
/// are shallow (a scalar, or a container of scalars: a move's `[x, y, n]`, a
/// counter) only the child level changes, by the difference in children;
/// otherwise both trees are walked.
fn recount(counts: &mut Vec<usize>, depth: usize, old: &Value, new: &Value) {
    match (shallow(old), shallow(new)) {
        (Some(before), Some(after)) if after >= before => {
            if after > before {
                if counts.len() <= depth + 1 {
                    counts.resize(depth + 2, 0);
                }
                counts[depth + 1] += after - before;
            }
        }
        (Some(before), Some(after)) => {
            if let Some(n) = counts.get_mut(depth + 1) {
                *n = n.saturating_sub(before - after);
            }
        }
        _ => {
            count_nodes(new, depth, counts, true);
            count_nodes(old, depth, counts, false);
        }
    }
}

/// The number of children of a value whose children are all scalars (0 for
/// a scalar), or `None` for a deeper value.
fn shallow(v: &Value) -> Option<usize> {
    let scalar = |c: &Value| !matches!(c, Value::List(_) | Value::Map(_));
    match v {
        Value::List(items) => items.iter().all(scalar).then_some(items.len()),
        Value::Map(map) => map.values().all(scalar).then_some(map.len()),
        _ => Some(0),
    }
}

impl Default for Document {
    fn default() -> Self {
        Self::new()
    }
}

impl Document {
    /// An empty map root with the default limits.
    pub fn new() -> Self {
        Self::with_limits(DocLimits::default())
    }

    /// An empty map root with the given limits.
    pub fn with_limits(limits: DocLimits) -> Self {
        let root = Value::Map(Default::default());
        let mut counts = Vec::new();
        count_nodes(&root, 0, &mut counts, true);
        Self {
            size: encoded_len(&root),
            root,
            limits,
            counts,
            changes: Changes::default(),
        }
    }

    /// A document starting from `root` (e.g. a room's initial state), with no
    /// pending changes. Refused if `root` breaks the limits.
    pub fn from_value(root: Value, limits: DocLimits) -> Result<Self, DocError> {
        let size = check(&root, &[], 0, limits.max_depth)?;
        if size > limits.max_bytes {
            return Err(DocError::TooLarge {
                size,
                max: limits.max_bytes,
            });
        }
        let mut counts = Vec::new();
        count_nodes(&root, 0, &mut counts, true);
        Ok(Self {
            root,
            limits,
            size,
            counts,
            changes: Changes::default(),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> DocLimits {
        self.limits
    }

    /// The whole tree (what a snapshot sends). A snapshot labelled with seq
    /// `N` must be the state patch `N` left, so take it when
    /// [`has_changes`](Document::has_changes) is false (right after
    /// [`take_ops`](Document::take_ops)): otherwise the next patch would
    /// repeat writes the snapshot already holds (a repeated push or delete
    /// does not apply twice cleanly).
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The value at `path`, if any.
    pub fn get(&self, path: &[Seg]) -> Option<&Value> {
        walk(&self.root, path).ok()
    }

    /// Puts `value` at `path`, replacing what was there. The parent must
    /// exist: a map (any key not starting with `$`) or a list (`index < len`
    /// replaces, `index == len` appends). The empty path replaces the root.
    pub fn set(&mut self, path: &[Seg], value: Value) -> Result<(), DocError> {
        let new_len = check(&value, path, path.len(), self.limits.max_depth)?;
        let Some((last, parent_path)) = path.split_last() else {
            let size = grown(self.size, self.size, new_len, 0, self.limits)?;
            self.changes.record_write(path, true);
            self.counts.clear();
            count_nodes(&value, 0, &mut self.counts, true);
            self.root = value;
            self.size = size;
            return Ok(());
        };
        let depth = path.len();
        match (walk_mut(&mut self.root, parent_path)?, last) {
            (Value::Map(map), Seg::Key(k)) => {
                check_key(k)?;
                if let Some(slot) = map.get_mut(k) {
                    self.size = grown(self.size, encoded_len(slot), new_len, 0, self.limits)?;
                    self.changes.record_write(path, true);
                    recount(&mut self.counts, depth, slot, &value);
                    *slot = value;
                } else {
                    let entry = str_len(k.len()) + header_growth(map.len());
                    self.size = grown(self.size, 0, new_len, entry, self.limits)?;
                    self.changes.record_write(path, false);
                    count_nodes(&value, depth, &mut self.counts, true);
                    map.insert(k.clone(), value);
                }
                Ok(())
            }
            (Value::List(list), Seg::Idx(i)) => {
                let index = *i as usize;
                if let Some(slot) = list.get_mut(index) {
                    self.size = grown(self.size, encoded_len(slot), new_len, 0, self.limits)?;
                    self.changes.record_write(path, true);
                    recount(&mut self.counts, depth, slot, &value);
                    *slot = value;
                    Ok(())
                } else if index == list.len() {
                    self.size = grown(self.size, 0, new_len, header_growth(index), self.limits)?;
                    // An append: recorded like a push, so the mirror gets it in order.
                    self.changes.record_append(parent_path, index);
                    count_nodes(&value, depth, &mut self.counts, true);
                    list.push(value);
                    Ok(())
                } else {
                    Err(out_of_range(parent_path, index, list.len()).into())
                }
            }
            (_, seg) => Err(mismatch(parent_path, seg).into()),
        }
    }

    /// Like [`set`](Document::set), but first creates the missing maps on the
    /// way (every segment after the last existing value must be a key). The
    /// whole write is one op and all-or-nothing.
    pub fn set_creating(&mut self, path: &[Seg], value: Value) -> Result<(), DocError> {
        let Some(missing) = self.first_missing(path) else {
            return self.set(path, value);
        };
        // Wrap `value` in one map per segment below the first missing one.
        let mut wrapped = value;
        for (j, seg) in path.iter().enumerate().skip(missing + 1).rev() {
            match seg {
                Seg::Key(k) => wrapped = Value::Map([(k.clone(), wrapped)].into()),
                Seg::Idx(_) => {
                    return Err(DocError::NotAList {
                        path: path[..j].to_vec(),
                    })
                }
            }
        }
        self.set(&path[..=missing], wrapped)
    }

    /// Removes the value at `path` and returns it; `Ok(None)` when there is
    /// nothing there (missing key, index past the end, missing parent). A
    /// segment that does not fit its container is an error, as is the root.
    pub fn delete(&mut self, path: &[Seg]) -> Result<Option<Value>, DocError> {
        let Some((last, parent_path)) = path.split_last() else {
            return Err(DocError::CannotDeleteRoot);
        };
        let parent = match walk(&self.root, parent_path) {
            Ok(parent) => parent,
            Err(ApplyError::NotFound { .. } | ApplyError::IndexOutOfRange { .. }) => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        let (len, list_index) = match (parent, last) {
            (Value::Map(map), Seg::Key(k)) if map.contains_key(k) => (map.len(), None),
            (Value::List(list), Seg::Idx(i)) if (*i as usize) < list.len() => {
                (list.len(), Some(*i))
            }
            (Value::Map(_), Seg::Key(_)) | (Value::List(_), Seg::Idx(_)) => return Ok(None),
            (_, seg) => return Err(mismatch(parent_path, seg).into()),
        };
        let direct = match list_index {
            None => false,
            Some(index) => match self.changes.classify_list_delete(parent_path, index) {
                ListDelete::Covered => false,
                ListDelete::Direct => true,
                ListDelete::Flush => {
                    // Changes under this list name indices the delete will
                    // shift: turn them into ops while they still mean what
                    // they meant.
                    self.changes.flush(&self.root);
                    true
                }
            },
        };
        let old = apply::delete(&mut self.root, path)?;
        let key_len = match last {
            Seg::Key(k) => str_len(k.len()),
            Seg::Idx(_) => 0,
        };
        self.size -= encoded_len(&old) + key_len + header_growth(len - 1);
        count_nodes(&old, path.len(), &mut self.counts, false);
        if direct {
            self.changes.push_direct(Op::Del(path.to_vec()));
        } else if list_index.is_none() {
            self.changes.record_write(path, true);
        }
        Ok(Some(old))
    }

    /// Appends `value` to the list at `path`.
    pub fn push(&mut self, path: &[Seg], value: Value) -> Result<(), DocError> {
        let depth = path.len() + 1;
        let new_len = check(&value, path, depth, self.limits.max_depth)?;
        let Value::List(list) = walk_mut(&mut self.root, path)? else {
            return Err(DocError::NotAList {
                path: path.to_vec(),
            });
        };
        self.size = grown(
            self.size,
            0,
            new_len,
            header_growth(list.len()),
            self.limits,
        )?;
        self.changes.record_append(path, list.len());
        count_nodes(&value, depth, &mut self.counts, true);
        list.push(value);
        Ok(())
    }

    /// Performs `op` through the checked API (what a room does with a write a
    /// client sent): [`set`](Document::set), [`delete`](Document::delete)
    /// (deleting nothing is not an error) or [`push`](Document::push).
    pub fn apply_op(&mut self, op: Op) -> Result<(), DocError> {
        match op {
            Op::Set(path, value) => self.set(&path, value),
            Op::Del(path) => self.delete(&path).map(drop),
            Op::Push(path, value) => self.push(&path, value),
        }
    }

    /// Whether anything was written since the last [`take_ops`](Document::take_ops).
    /// Writes that cancel out (create then delete) count until the next take,
    /// which may then return no ops.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The compacted ops since the last take: applied in order to a mirror
    /// equal to the document at the last take, they give the current document.
    pub fn take_ops(&mut self) -> Vec<Op> {
        self.changes.take(&self.root)
    }

    /// [`take_ops`](Document::take_ops) without the copies: each op is
    /// handed to `f` as a view of the record and the document (a patch can be
    /// encoded straight from it). Returns the number of ops.
    pub fn take_ops_with(&mut self, mut f: impl FnMut(OpRef<'_>)) -> usize {
        self.changes.take_with(&self.root, &mut f)
    }

    /// Encoded MessagePack size of the root (maintained per write, O(1)).
    pub fn size_bytes(&self) -> usize {
        self.size
    }

    /// Length of the longest path from the root to any value: 0 for an empty
    /// root, 1 for `{"a":1}`, 2 for `{"a":{"b":1}}`.
    pub fn depth(&self) -> usize {
        self.counts.iter().rposition(|&n| n > 0).unwrap_or(0)
    }

    /// Index of the first segment of `path` (excluding the last) that names
    /// nothing, if any.
    fn first_missing(&self, path: &[Seg]) -> Option<usize> {
        let mut node = &self.root;
        for (i, seg) in path.iter().enumerate().take(path.len().saturating_sub(1)) {
            let next = match (node, seg) {
                (Value::Map(map), Seg::Key(k)) => map.get(k),
                (Value::List(list), Seg::Idx(x)) => list.get(*x as usize),
                // A mismatch is not "missing": let `set` report it.
                _ => return None,
            };
            match next {
                Some(next) => node = next,
                None => return Some(i),
            }
        }
        None
    }
}

/// Extra header bytes when a container grows from `len` to `len + 1` entries.
fn header_growth(len: usize) -> usize {
    container_header(len + 1) - container_header(len)
}

/// The document size after replacing `old` bytes by `new` plus `extra`,
/// or `TooLarge`.
fn grown(
    size: usize,
    old: usize,
    new: usize,
    extra: usize,
    limits: DocLimits,
) -> Result<usize, DocError> {
    let size = size - old + new + extra;
    if size > limits.max_bytes {
        Err(DocError::TooLarge {
            size,
            max: limits.max_bytes,
        })
    } else {
        Ok(size)
    }
}
