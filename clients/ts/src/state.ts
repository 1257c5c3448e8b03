//! The state mirror: applies the server's ops (`[code, path, value?]`) to a plain-object copy of a
//! room's document, and finds which watched paths an op touched.
//!
//! Owns the op semantics of protocol/src/state/op.rs (0 set, 1 delete, 2 push). Must not decide
//! what to do on a failure (the room resyncs); it only reports it with a `PatchError`.

import { PlazaError } from './errors'
import { isMap, pathToString, type Path, type Seg, type Value } from './value'

/** Op codes, as on the wire. */
export const OP_SET = 0
export const OP_DEL = 1
export const OP_PUSH = 2

/** One op as decoded from the wire. */
export type Op = [typeof OP_SET, Path, Value] | [typeof OP_DEL, Path] | [typeof OP_PUSH, Path, Value]

/** An op that does not fit the mirror: the mirror and the server disagree, resync. */
export class PatchError extends PlazaError {
  constructor(message: string) {
    super('protocol', message)
    this.name = 'PatchError'
  }
}

/** The value at `path`, or `undefined` when the path does not exist. */
export function getAt(root: Value | undefined, path: readonly Seg[]): Value | undefined {
  let node: Value | undefined = root
  for (const seg of path) {
    if (Array.isArray(node)) {
      const i = typeof seg === 'number' ? seg : toIndex(seg)
      if (i === null || i >= node.length) return undefined
      node = node[i]
    } else if (isMap(node)) {
      const k = String(seg)
      if (!Object.prototype.hasOwnProperty.call(node, k)) return undefined
      node = node[k]
    } else {
      return undefined
    }
  }
  return node
}

/** The node at `path` for applying an op: keys only into maps, indices only into lists. */
function walkStrict(root: Value, path: Path): Value | undefined {
  let node: Value | undefined = root
  for (const seg of path) {
    if (Array.isArray(node) && typeof seg === 'number') node = node[seg]
    else if (isMap(node) && typeof seg === 'string' && Object.prototype.hasOwnProperty.call(node, seg)) node = node[seg]
    else return undefined
  }
  return node
}

/**
 * Applies one op to `root` in place and returns the new root (a set at the empty path replaces
 * it). Throws `PatchError` when the op does not fit the document; `root` may then be partly
 * updated by earlier ops of the same patch, so the caller must resync.
 */
export function applyOp(root: Value, op: unknown): Value {
  if (!Array.isArray(op) || op.length < 2 || !Array.isArray(op[1])) {
    throw new PatchError(`malformed op ${safeJson(op)}`)
  }
  const code = op[0]
  const path = op[1] as unknown[]
  for (const seg of path) {
    if (typeof seg !== 'string' && !(typeof seg === 'number' && Number.isInteger(seg) && seg >= 0)) {
      throw new PatchError(`malformed path segment ${safeJson(seg)}`)
    }
  }
  const p = path as Path
  switch (code) {
    case OP_SET: {
      if (op.length !== 3) throw new PatchError('set op needs a value')
      const value = op[2] as Value
      if (p.length === 0) return value
      const parent = walkStrict(root, p.slice(0, -1))
      const last = p[p.length - 1]
      if (isMap(parent) && typeof last === 'string') {
        putKey(parent, last, value)
      } else if (Array.isArray(parent) && typeof last === 'number') {
        if (last > parent.length) {
          throw new PatchError(`set at ${pathToString(p)}: index past the end (${parent.length})`)
        }
        parent[last] = value
      } else {
        throw new PatchError(`set at ${pathToString(p)}: no map or list to hold it`)
      }
      return root
    }
    case OP_DEL: {
      if (op.length !== 2) throw new PatchError('delete op takes no value')
      if (p.length === 0) throw new PatchError('delete of the root')
      const parent = walkStrict(root, p.slice(0, -1))
      const last = p[p.length - 1]
      if (isMap(parent) && typeof last === 'string') {
        // As protocol/src/state/apply.rs: the key must exist, else the mirror has diverged.
        if (!Object.prototype.hasOwnProperty.call(parent, last)) {
          throw new PatchError(`delete at ${pathToString(p)}: no such key`)
        }
        delete parent[last]
      } else if (Array.isArray(parent) && typeof last === 'number') {
        if (last >= parent.length) {
          throw new PatchError(`delete at ${pathToString(p)}: index past the end (${parent.length})`)
        }
        parent.splice(last, 1)
      } else {
        throw new PatchError(`delete at ${pathToString(p)}: no map or list holds it`)
      }
      return root
    }
    case OP_PUSH: {
      if (op.length !== 3) throw new PatchError('push op needs a value')
      const list = walkStrict(root, p)
      if (!Array.isArray(list)) throw new PatchError(`push at ${pathToString(p)}: not a list`)
      list.push(op[2] as Value)
      return root
    }
    default:
      throw new PatchError(`unknown op code ${safeJson(code)}`)
  }
}

/** Applies ops in order; see `applyOp`. */
export function applyOps(root: Value, ops: readonly unknown[]): Value {
  let r = root
  for (const op of ops) r = applyOp(r, op)
  return r
}

/** Splits `"players/*\/score"` into segments; an array is taken as is. */
export function parsePattern(pattern: string | readonly Seg[]): Seg[] {
  if (typeof pattern !== 'string') return [...pattern]
  return pattern.split('/').filter((s) => s.length > 0)
}

/**
 * The concrete paths matching `pattern` (segments; `'*'` matches any one key or index) that an op
 * on `opPath` may have changed, looked up in `root`. Call it before and after applying the op so
 * removed and added entries are both found.
 */
export function touchedPaths(root: Value, pattern: readonly Seg[], opPath: readonly Seg[]): Path[] {
  const n = Math.min(pattern.length, opPath.length)
  for (let i = 0; i < n; i++) {
    if (pattern[i] !== '*' && String(pattern[i]) !== String(opPath[i])) return []
  }
  if (opPath.length >= pattern.length) return [opPath.slice(0, pattern.length)]
  // The op replaced a whole subtree above the pattern's depth: enumerate what is there.
  const out: Path[] = []
  const walk = (node: Value | undefined, at: Path, rest: readonly Seg[]): void => {
    if (rest.length === 0) {
      out.push(at)
      return
    }
    const [head, ...tail] = rest
    if (Array.isArray(node)) {
      if (head === '*') node.forEach((child, i) => walk(child, [...at, i], tail))
      else {
        const i = typeof head === 'number' ? head : toIndex(head)
        if (i !== null) walk(node[i], [...at, i], tail)
      }
    } else if (isMap(node)) {
      if (head === '*') for (const k of Object.keys(node)) walk(node[k], [...at, k], tail)
      else walk(node[String(head)], [...at, String(head)], tail)
    } else if (head !== '*') {
      // The entry does not exist (yet, or any more): still a touched path for a fixed pattern.
      walk(undefined, [...at, head], tail)
    }
  }
  walk(getAt(root, opPath), [...opPath], pattern.slice(opPath.length))
  return out
}

function putKey(map: { [key: string]: Value }, key: string, value: Value): void {
  if (key === '__proto__') {
    // Plain assignment would change the prototype; a document key is always an own property.
    Object.defineProperty(map, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    map[key] = value
  }
}

function toIndex(seg: Seg): number | null {
  if (typeof seg === 'number') return seg
  return /^(0|[1-9][0-9]*)$/.test(seg) ? Number(seg) : null
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}
