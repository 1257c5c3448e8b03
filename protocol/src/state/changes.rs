//! The record of what changed since the last `take_ops`, kept compact as it
//! is written, and turned into ops on demand.
//!
//! Owns the compaction rules; must not touch the document (it only reads it
//! when emitting). Shape: a trie of touched paths over the current
//! *segment* (the span since the last flush), plus the ops already flushed.
//!
//! - A set or delete marks its path [`Node::Whole`] and drops the subtree
//!   under it: last write wins, a delete drops its subtree's ops. The value
//!   is not copied at write time: emission reads the document's current value,
//!   so ten writes to one path cost one clone per take.
//! - A push (or a set at `index == len`) records where the list's appended
//!   tail starts; emission pushes the tail's current elements in order.
//! - Deleting a list element shifts the indices after it, so earlier changes
//!   recorded under that list would name the wrong elements. When there are
//!   any, the segment is flushed into ops (read from the document *before*
//!   the delete) and a new segment starts: we never merge across a shift.
//!
//! Invariant (property-tested): applying the emitted ops to a mirror equal to
//! the document at the segment's start yields the document's current state.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use super::{Op, Path, Seg, Value};

/// One touched path of the current segment.
#[derive(Debug, Clone)]
enum Node {
    /// The value here was replaced or removed; emit it whole from the
    /// document (`Set` if present, `Del` if absent and it existed at the
    /// segment's start, nothing if it never existed for the mirror).
    Whole {
        /// Whether the mirror has a value here.
        existed: bool,
    },
    /// The value here existed at the segment's start and is still the same
    /// container; only things below it changed.
    Inner {
        /// Touched children.
        children: BTreeMap<Seg, Node>,
        /// For a list: its length at the segment's start, once something was
        /// appended. Elements from there on are emitted as pushes.
        appended_from: Option<usize>,
    },
}

impl Node {
    fn inner() -> Node {
        Node::Inner {
            children: BTreeMap::new(),
            appended_from: None,
        }
    }
}

/// What a list-element delete means for the record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ListDelete {
    /// Already covered by a whole-value change above it, or the element was
    /// appended in this segment: nothing to record.
    Covered,
    /// No recorded change under the list: emit the delete as it is.
    Direct,
    /// Changes under the list would shift: flush the segment first.
    Flush,
}

/// Pending changes: flushed ops, then the current segment's trie.
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes {
    flushed: Vec<Op>,
    root: Option<Node>,
}

impl Changes {
    /// Whether anything was recorded since the last take. Changes that cancel
    /// out (create then delete) still count until the next take.
    pub(crate) fn is_empty(&self) -> bool {
        self.flushed.is_empty() && self.root.is_none()
    }

    /// Records that the value at `path` was set or deleted; `existed` says
    /// whether there was a value there just before.
    pub(crate) fn record_write(&mut self, path: &[Seg], existed: bool) {
        let Some((last, parent)) = path.split_last() else {
            self.root = Some(Node::Whole { existed: true });
            return;
        };
        let Some(Node::Inner {
            children,
            appended_from,
        }) = self.descend(parent)
        else {
            return;
        };
        if in_tail(*appended_from, last) {
            return;
        }
        // One search either way: a first write per path per take is the
        // common case, and its key has to be copied anyway.
        match children.entry(last.clone()) {
            Entry::Occupied(mut slot) => {
                let node = slot.get_mut();
                let existed = match node {
                    // The mirror's view is what it was before the first write here.
                    Node::Whole { existed } => *existed,
                    // `Inner` means it existed at the segment's start, untouched.
                    Node::Inner { .. } => true,
                };
                // Replacing an `Inner` node drops the changes recorded below it.
                *node = Node::Whole { existed };
            }
            Entry::Vacant(slot) => {
                slot.insert(Node::Whole { existed });
            }
        }
    }

    /// Records an append to the list at `path`, which had `len` elements.
    pub(crate) fn record_append(&mut self, path: &[Seg], len: usize) {
        if let Some(Node::Inner { appended_from, .. }) = self.descend(path) {
            appended_from.get_or_insert(len);
        }
    }

    /// Classifies a delete of element `index` of the list at `list`.
    pub(crate) fn classify_list_delete(&mut self, list: &[Seg], index: u32) -> ListDelete {
        // Read-only walk: a list delete must not create trie nodes.
        let mut node = match &self.root {
            None => return ListDelete::Direct,
            Some(node) => node,
        };
        for seg in list {
            match node {
                Node::Whole { .. } => return ListDelete::Covered,
                Node::Inner {
                    children,
                    appended_from,
                } => {
                    if in_tail(*appended_from, seg) {
                        return ListDelete::Covered;
                    }
                    match children.get(seg) {
                        Some(child) => node = child,
                        None => return ListDelete::Direct,
                    }
                }
            }
        }
        match node {
            Node::Whole { .. } => ListDelete::Covered,
            Node::Inner {
                appended_from: Some(from),
                ..
            } if index as usize >= *from => ListDelete::Covered,
            Node::Inner {
                children,
                appended_from: None,
            } if children.is_empty() => ListDelete::Direct,
            Node::Inner { .. } => ListDelete::Flush,
        }
    }

    /// Appends an op to the flushed list as is (after any earlier flush).
    pub(crate) fn push_direct(&mut self, op: Op) {
        self.flushed.push(op);
    }

    /// Turns the current segment into ops read from `doc` (the document's
    /// current state) and starts a new segment.
    pub(crate) fn flush(&mut self, doc: &Value) {
        if let Some(node) = self.root.take() {
            let flushed = &mut self.flushed;
            emit(&node, &mut Vec::new(), Some(doc), &mut |op| {
                flushed.push(op.to_op());
            });
        }
    }

    /// Everything recorded, as ops; leaves the record empty.
    pub(crate) fn take(&mut self, doc: &Value) -> Vec<Op> {
        self.flush(doc);
        std::mem::take(&mut self.flushed)
    }

    /// Everything recorded, handed to `f` one op at a time, in the order
    /// [`take`](Changes::take) would return them, without copying a path or a
    /// value; leaves the record empty. Returns the number of ops.
    pub(crate) fn take_with(&mut self, doc: &Value, f: &mut dyn FnMut(OpRef<'_>)) -> usize {
        let mut count = 0;
        for op in self.flushed.drain(..) {
            let path: Vec<&Seg> = op.path().iter().collect();
            let value = match &op {
                Op::Set(_, v) | Op::Push(_, v) => Some(v),
                Op::Del(_) => None,
            };
            f(OpRef {
                code: op.code(),
                path: &path,
                value,
            });
            count += 1;
        }
        if let Some(node) = self.root.take() {
            emit(&node, &mut Vec::new(), Some(doc), &mut |op| {
                count += 1;
                f(op);
            });
        }
        count
    }

    /// Walks to the `Inner` node at `path`, creating `Inner` nodes on the way.
    /// `None` when a `Whole` node on the way (or at `path`) or an appended
    /// list tail already covers everything below.
    fn descend(&mut self, path: &[Seg]) -> Option<&mut Node> {
        let mut node = self.root.get_or_insert_with(Node::inner);
        for seg in path {
            let Node::Inner {
                children,
                appended_from,
            } = node
            else {
                return None;
            };
            if in_tail(*appended_from, seg) {
                return None;
            }
            // Two searches when present, two when absent (not three).
            node = if children.contains_key(seg) {
                children.get_mut(seg)?
            } else {
                children.entry(seg.clone()).or_insert_with(Node::inner)
            };
        }
        match node {
            Node::Inner { .. } => Some(node),
            Node::Whole { .. } => None,
        }
    }
}

/// Whether `seg` names an element of a list's appended tail.
fn in_tail(appended_from: Option<usize>, seg: &Seg) -> bool {
    matches!((appended_from, seg), (Some(from), Seg::Idx(i)) if *i as usize >= from)
}

/// One op, borrowed: its path's segments and its value (none for a delete).
#[derive(Debug, Clone, Copy)]
pub struct OpRef<'a> {
    /// [`Op::code`]: 0 set, 1 delete, 2 push.
    pub code: u8,
    /// The path, segment by segment.
    pub path: &'a [&'a Seg],
    /// The value of a set or push.
    pub value: Option<&'a Value>,
}

impl OpRef<'_> {
    /// The owned op.
    pub fn to_op(&self) -> Op {
        let path: Path = self.path.iter().map(|s| (*s).clone()).collect();
        match (self.code, self.value) {
            (2, Some(v)) => Op::Push(path, v.clone()),
            (_, Some(v)) => Op::Set(path, v.clone()),
            (_, None) => Op::Del(path),
        }
    }
}

/// Emits the ops for `node` at `path`, whose current value is `current`.
fn set<'a>(path: &'a [&'a Seg], value: &'a Value) -> OpRef<'a> {
    OpRef {
        code: 0,
        path,
        value: Some(value),
    }
}

fn emit<'n>(
    node: &'n Node,
    path: &mut Vec<&'n Seg>,
    current: Option<&Value>,
    out: &mut dyn FnMut(OpRef<'_>),
) {
    match (node, current) {
        (Node::Whole { .. }, Some(value)) => out(set(path, value)),
        (Node::Whole { existed: true }, None) => out(OpRef {
            code: 1,
            path,
            value: None,
        }),
        (Node::Whole { existed: false }, None) => {}
        (
            Node::Inner {
                children,
                appended_from,
            },
            Some(Value::Map(map)),
        ) => {
            debug_assert!(appended_from.is_none(), "append recorded on a map");
            for (seg, child) in children {
                let current = match seg {
                    Seg::Key(k) => map.get(k),
                    Seg::Idx(_) => None,
                };
                path.push(seg);
                emit(child, path, current, out);
                path.pop();
            }
        }
        (
            Node::Inner {
                children,
                appended_from,
            },
            Some(Value::List(list)),
        ) => {
            for (seg, child) in children {
                let current = match seg {
                    Seg::Idx(i) => list.get(*i as usize),
                    Seg::Key(_) => None,
                };
                path.push(seg);
                emit(child, path, current, out);
                path.pop();
            }
            if let Some(from) = appended_from {
                for item in list.get(*from..).unwrap_or_default() {
                    out(OpRef {
                        code: 2,
                        path,
                        value: Some(item),
                    });
                }
            }
        }
        // An `Inner` node always names a container that still exists; if that
        // invariant were ever broken, sending the whole value keeps the
        // mirror correct.
        (Node::Inner { .. }, current) => {
            debug_assert!(false, "inner change node on a non-container");
            if let Some(value) = current {
                out(set(path, value));
            }
        }
    }
}
