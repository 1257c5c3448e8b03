//! Document values as the client sees them, and the helpers every other module shares:
//! base64 for JSON `{"$bytes": …}` values, deep equality, path display.
//!
//! Must not touch runtime globals (`atob`, `btoa`, `Buffer`, `TextEncoder`): this module is loaded
//! inside the Decentraland scene runtime, which has none of them.

/** One node of a room's state document, as mirrored on the client. */
export type Value =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Value[]
  | { [key: string]: Value }

/** A plain map of values (room options, filters, message payloads). */
export type ValueMap = { [key: string]: Value }

/** One path segment: a string is a map key, a number a list index. */
export type Seg = string | number

/** A path from the document root; `[]` is the root itself. */
export type Path = Seg[]

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const B64_INDEX: Record<string, number> = {}
for (let i = 0; i < B64.length; i++) B64_INDEX[B64[i]] = i

/** Standard base64 with padding (RFC 4648 §4), as the server writes `$bytes`. */
export function base64Encode(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]
    const b1 = i + 1 < bytes.length ? bytes[i + 1] : 0
    const b2 = i + 2 < bytes.length ? bytes[i + 2] : 0
    const n = (b0 << 16) | (b1 << 8) | b2
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63]
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : '='
    out += i + 2 < bytes.length ? B64[n & 63] : '='
  }
  return out
}

/** Decodes standard padded base64; `null` on any malformed input (never throws). */
export function base64Decode(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0
  const out = new Uint8Array((text.length / 4) * 3 - pad)
  let acc = 0
  let bits = 0
  let o = 0
  for (let i = 0; i < text.length - pad; i++) {
    // `=` inside the body is not in the alphabet, so it is refused here too.
    const v = B64_INDEX[text[i]]
    if (v === undefined) return null
    acc = ((acc << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 255
    }
  }
  return o === out.length ? out : null
}

/** Structural equality of two values (bytes compared by content). */
export function valueEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
    return true
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!(Array.isArray(a) && Array.isArray(b)) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!valueEquals(a[i], b[i])) return false
    return true
  }
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a)
    if (ka.length !== Object.keys(b).length) return false
    for (const k of ka) {
      if (!Object.prototype.hasOwnProperty.call(b, k) || !valueEquals(a[k], b[k])) return false
    }
    return true
  }
  return false
}

/** True for a plain map node (not null, not a list, not bytes). */
export function isMap(v: unknown): v is { [key: string]: Value } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/** A readable form of a path for error messages: `players/0x12/pos/0`. */
export function pathToString(path: readonly Seg[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('/')
}
