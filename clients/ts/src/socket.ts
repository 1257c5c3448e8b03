//! What the client needs from a WebSocket, reduced to what the Decentraland scene runtime really
//! offers (scene-runtime.md §3), plus the runtime services it looks up lazily: timers and logging.
//!
//! Rules this module encodes so the client never breaks them: handler *properties* only (no
//! `addEventListener`), `readyState` compared with the number 1 (no `ws.OPEN`), `send` guarded
//! and wrapped (it throws when not open), `close` wrapped (it throws after a server close), no
//! close codes read, binary data accepted as `Uint8Array`, `ArrayBuffer` or a Node `Buffer`.

/** The subset of a WebSocket the client uses; the browser, `ws` and the scene shim all fit it. */
export interface SocketLike {
  readonly readyState: number
  binaryType?: string
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data?: unknown }) => void) | null
  onclose: ((ev: unknown) => void) | null
  onerror: ((ev: unknown) => void) | null
  send(data: string | Uint8Array): void
  close(): void
}

/** A WebSocket class: `new WebSocket(url)`. */
export type SocketConstructor = new (url: string) => SocketLike

/** `readyState` of an open socket (the scene shim has no instance constants). */
export const OPEN = 1

/** Timer functions; in a scene they come from `@dcl/ecs` and advance only with frames. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** Where the client writes diagnostics (scenes have `console.log`/`console.error` only). */
export interface Logger {
  log(message: string): void
  error(message: string): void
}

// Declared here, not taken from lib.dom / @types/node: the scene build must compile without them,
// and every use below checks they exist at call time (they may be installed after load).
declare const WebSocket: SocketConstructor | undefined
declare const setTimeout: ((fn: () => void, ms: number) => unknown) | undefined
declare const clearTimeout: ((handle: unknown) => void) | undefined
declare const console: { log?: (...a: unknown[]) => void; error?: (...a: unknown[]) => void } | undefined

/** The runtime's global `WebSocket`, if any. */
export function globalWebSocket(): SocketConstructor | undefined {
  return typeof WebSocket === 'function' ? WebSocket : undefined
}

/** The runtime's timers, looked up on every call (the SDK installs them after this module loads). */
export const globalTimers: Timers = {
  setTimeout(fn, ms) {
    return typeof setTimeout === 'function' ? setTimeout(fn, ms) : undefined
  },
  clearTimeout(handle) {
    if (typeof clearTimeout === 'function' && handle !== undefined) clearTimeout(handle)
  }
}

/** True when the runtime has timers at all (a scene bundle without `@dcl/ecs` has none). */
export function hasGlobalTimers(): boolean {
  return typeof setTimeout === 'function'
}

/** `console.log`/`console.error`, tolerant of a console without them. */
export const consoleLogger: Logger = {
  log(message) {
    if (typeof console !== 'undefined' && typeof console.log === 'function') console.log(message)
  },
  error(message) {
    if (typeof console !== 'undefined' && typeof console.error === 'function') console.error(message)
  }
}

/** A received frame as text or bytes; `null` for anything else. */
export function frameData(data: unknown): string | Uint8Array | null {
  if (typeof data === 'string') return data
  // Realm-agnostic checks: the host may build the array with another realm's constructors.
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (Object.prototype.toString.call(data) === '[object ArrayBuffer]') return new Uint8Array(data as ArrayBuffer)
  return null
}

/** `readyState === 1`, without letting a throwing getter (scene socket in state None) escape. */
export function isOpen(ws: SocketLike): boolean {
  try {
    return ws.readyState === OPEN
  } catch {
    return false
  }
}

/** Closes if the socket still allows it; never throws. Detaches every handler first. */
export function safeClose(ws: SocketLike): void {
  ws.onopen = null
  ws.onmessage = null
  ws.onclose = null
  ws.onerror = null
  try {
    const s = ws.readyState
    if (s === 0 || s === OPEN) ws.close()
  } catch {
    // A scene socket throws from close() after a server close (readyState stuck at 2): ignore.
  }
}
