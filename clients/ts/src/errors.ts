//! The one error type the client hands to applications, with stable codes.
//!
//! Server refusals keep the server's own `code` (see protocol/README.md); codes the client
//! makes up itself are listed in `ClientErrorCode`. Never thrown out of a socket handler: the
//! client catches and routes them to promises or callbacks (a throwing handler kills a scene
//! socket's receive loop, scene-runtime.md §3.7).

/** Codes the client produces itself (server codes pass through unchanged). */
export type ClientErrorCode =
  /** The socket could not be opened, or dropped before the handshake finished. */
  | 'connect_failed'
  /** The handshake did not finish in time. */
  | 'handshake_timeout'
  /** The auth method could not produce its first frame (e.g. `getHeaders` threw). */
  | 'auth_unavailable'
  /** A request got no answer in time. */
  | 'timeout'
  /** The client was closed, or gave up reconnecting, before an answer came. */
  | 'closed'
  /** Too many messages queued while reconnecting. */
  | 'queue_full'
  /** The room is no longer joined. */
  | 'not_joined'
  /** A frame could not be decoded, or a patch did not apply to the mirror. */
  | 'protocol'
  /** An HTTP call (scores, leaderboards, tickets) failed. */
  | 'http'

/** An error from Plaza or from the client; `code` is stable, `message` is for humans. */
export class PlazaError extends Error {
  /** Stable machine-readable code (a server code, or a `ClientErrorCode`). */
  readonly code: string
  /** Whether trying again later may succeed. */
  readonly retryable: boolean
  /** The room concerned, if any. */
  readonly room?: string
  /** HTTP status, for HTTP failures. */
  readonly status?: number
  /** The server's structured body, for HTTP failures (e.g. `{error:{code, rule, message}}`). */
  readonly body?: unknown

  constructor(
    code: string,
    message: string,
    extra: { retryable?: boolean; room?: string; status?: number; body?: unknown } = {}
  ) {
    super(message)
    this.name = 'PlazaError'
    this.code = code
    this.retryable = extra.retryable ?? false
    if (extra.room !== undefined) this.room = extra.room
    if (extra.status !== undefined) this.status = extra.status
    if (extra.body !== undefined) this.body = extra.body
  }
}

/** Turns anything thrown into a message string without relying on its shape. */
export function describe(err: unknown): string {
  if (typeof err === 'string') return err
  // Duck-typed: errors from the host (or another realm) fail `instanceof Error`.
  const message = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : undefined
  if (typeof message === 'string') return message
  try {
    return JSON.stringify(err)
  } catch {
    return String(err)
  }
}
