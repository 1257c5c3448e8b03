//! One joined room on the client side: the state mirror kept in sync by patches (gap → resync →
//! snapshot), per-path change callbacks, messages and requests to the room logic.
//!
//! Owns the room's seq bookkeeping and its listeners. Must not touch the socket: everything goes
//! through `RoomHost` (the client), which queues while reconnecting. Every listener is called
//! through `safeCall`, so an application callback that throws never reaches a socket handler.

import { describe, PlazaError } from './errors'
import type { ClientMsg } from './messages'
import type { Logger } from './socket'
import { applyOp, getAt, parsePattern, touchedPaths } from './state'
import { valueEquals, type Path, type Seg, type Value } from './value'

/** What a room needs from its client. */
export interface RoomHost {
  /** Sends (or queues while reconnecting); `false` when the message was dropped. */
  send(msg: ClientMsg): boolean
  /** Sends a `req` and resolves with the `res` data. */
  request(room: string, type: string, data: Value, timeoutMs?: number): Promise<Value>
  /** Sends `leave` and resolves when the server confirms. */
  leave(room: string): Promise<string>
  readonly logger: Logger
}

type Unsubscribe = () => void

interface ChangeListener {
  pattern: Seg[]
  cb: (value: Value | undefined, path: Path) => void
}

/**
 * A room this client holds a seat in. `S` is the shape you expect the state to have (e.g.
 * `Room<{ board: { counter: number } }>`): a type for your convenience, not checked at run time.
 */
export class Room<S = Value> {
  /** Room id (chosen by the server). */
  readonly id: string
  /** Room type name. */
  readonly type: string
  /** This client's seat id inside the room. */
  readonly seat: string
  private _state: Value
  private _seq: number
  private _joined = true
  private awaitingSnapshot = false
  private readonly host: RoomHost
  private readonly stateListeners: Array<(state: S) => void> = []
  private readonly changeListeners: ChangeListener[] = []
  private readonly messageListeners: Array<{ type: string; cb: (data: Value, type: string) => void }> = []
  private readonly leaveListeners: Array<(reason: string) => void> = []
  private readonly errorListeners: Array<(err: PlazaError) => void> = []

  /** @internal Created by the client on `joined`. */
  constructor(host: RoomHost, joined: { room: string; type: string; seat: string; seq: number; state: Value }) {
    this.host = host
    this.id = joined.room
    this.type = joined.type
    this.seat = joined.seat
    this._seq = joined.seq
    this._state = joined.state
  }

  /** The mirrored document (a plain object tree). Read it; never mutate it. */
  get state(): S {
    return this._state as unknown as S
  }

  /** The seq of the last applied patch or snapshot. */
  get seq(): number {
    return this._seq
  }

  /** False once the seat is gone (`left`, kicked, lost on reconnect, client closed). */
  get joined(): boolean {
    return this._joined
  }

  /** Called after every applied patch or snapshot with the whole state. */
  onStateChange(cb: (state: S) => void): Unsubscribe {
    return addListener(this.stateListeners, cb)
  }

  /**
   * Called when a patch or snapshot touched `pattern` (`"players/*\/score"` or a segment array;
   * `*` matches any key or index), with the new value there (`undefined` when removed) and the
   * concrete path.
   */
  onChange(pattern: string | readonly Seg[], cb: (value: Value | undefined, path: Path) => void): Unsubscribe {
    return addListener(this.changeListeners, { pattern: parsePattern(pattern), cb })
  }

  /** Messages from the room logic of `type` (`*` for every type). */
  onMessage(type: string, cb: (data: Value, type: string) => void): Unsubscribe {
    return addListener(this.messageListeners, { type, cb })
  }

  /** Called once when the seat is gone, with the reason (`left`, `kicked`, `disposed`, …). */
  onLeave(cb: (reason: string) => void): Unsubscribe {
    return addListener(this.leaveListeners, cb)
  }

  /** Server errors about this room that answer no request (e.g. a refused message). */
  onError(cb: (err: PlazaError) => void): Unsubscribe {
    return addListener(this.errorListeners, cb)
  }

  /** Fire-and-forget message to the room logic. `false` when dropped (not joined, queue full). */
  send(type: string, data: Value = null): boolean {
    if (!this._joined) return false
    return this.host.send({ t: 'msg', room: this.id, type, data })
  }

  /** A request to the room logic; resolves with its answer, rejects with a `PlazaError`. */
  request(type: string, data: Value = null, opts: { timeoutMs?: number } = {}): Promise<Value> {
    if (!this._joined) return Promise.reject(new PlazaError('not_joined', `room ${this.id} is not joined`, { room: this.id }))
    return this.host.request(this.id, type, data, opts.timeoutMs)
  }

  /** Leaves the room (the seat is not held); resolves with the server's reason. */
  leave(): Promise<string> {
    if (!this._joined) return Promise.resolve('left')
    return this.host.leave(this.id)
  }

  /** Locks the room (creator only): no new joins. */
  lock(): boolean {
    return this._joined && this.host.send({ t: 'lock', room: this.id })
  }

  /** Unlocks the room (creator only). */
  unlock(): boolean {
    return this._joined && this.host.send({ t: 'unlock', room: this.id })
  }

  /** @internal A `patch` frame: applied in seq order; a gap or a misfit asks for a snapshot. */
  _patch(seq: number, ops: unknown): void {
    if (!this._joined || this.awaitingSnapshot) return
    if (seq <= this._seq) return // already applied (replayed after a resume)
    if (seq !== this._seq + 1 || !Array.isArray(ops)) {
      this.resync(`seq gap: have ${this._seq}, got ${seq}`)
      return
    }
    const touched = new Map<ChangeListener, Map<string, Path>>()
    try {
      for (const op of ops) {
        const opPath = Array.isArray(op) && Array.isArray(op[1]) ? (op[1] as Path) : null
        if (opPath) this.collect(touched, opPath)
        this._state = applyOp(this._state, op)
        if (opPath) this.collect(touched, opPath)
      }
    } catch (err) {
      this.resync(`patch ${seq} does not apply: ${describe(err)}`)
      return
    }
    this._seq = seq
    for (const [l, paths] of touched) {
      for (const p of paths.values()) safeCall(this.host.logger, 'onChange', () => l.cb(getAt(this._state, p), p))
    }
    this.emitState()
  }

  /** @internal A `snapshot` frame (after `resync` or a resume past the server's ring). */
  _snapshot(seq: number, state: Value): void {
    if (!this._joined) return
    const old = this._state
    this._state = state
    this._seq = seq
    this.awaitingSnapshot = false
    for (const l of this.changeListeners.slice()) {
      const paths = new Map<string, Path>()
      for (const p of [...touchedPaths(old, l.pattern, []), ...touchedPaths(state, l.pattern, [])]) {
        paths.set(JSON.stringify(p), p)
      }
      for (const p of paths.values()) {
        const now = getAt(state, p)
        if (!valueEquals(getAt(old, p), now)) safeCall(this.host.logger, 'onChange', () => l.cb(now, p))
      }
    }
    this.emitState()
  }

  /** @internal A `msg` frame. */
  _message(type: string, data: Value): void {
    for (const l of this.messageListeners.slice()) {
      if (l.type === type || l.type === '*') safeCall(this.host.logger, 'onMessage', () => l.cb(data, type))
    }
  }

  /** @internal An `error` frame about this room that answers no request. */
  _error(err: PlazaError): void {
    if (this.errorListeners.length === 0) this.host.logger.error(`plaza: room ${this.id}: ${err.code}: ${err.message}`)
    for (const cb of this.errorListeners.slice()) safeCall(this.host.logger, 'onError', () => cb(err))
  }

  /** @internal The seat is gone. Idempotent. */
  _left(reason: string): void {
    if (!this._joined) return
    this._joined = false
    for (const cb of this.leaveListeners.slice()) safeCall(this.host.logger, 'onLeave', () => cb(reason))
  }

  /** @internal After a resume: a resync asked for on the dropped socket may have been lost. */
  _afterResume(): void {
    if (this._joined && this.awaitingSnapshot) this.host.send({ t: 'resync', room: this.id })
  }

  private resync(why: string): void {
    this.host.logger.log(`plaza: room ${this.id}: ${why}; asking for a snapshot`)
    this.awaitingSnapshot = true
    this.host.send({ t: 'resync', room: this.id })
  }

  private collect(into: Map<ChangeListener, Map<string, Path>>, opPath: Path): void {
    for (const l of this.changeListeners) {
      const found = touchedPaths(this._state, l.pattern, opPath)
      if (found.length === 0) continue
      let m = into.get(l)
      if (!m) into.set(l, (m = new Map()))
      for (const p of found) m.set(JSON.stringify(p), p)
    }
  }

  private emitState(): void {
    for (const cb of this.stateListeners.slice()) safeCall(this.host.logger, 'onStateChange', () => cb(this.state))
  }
}

function addListener<T>(list: T[], item: T): Unsubscribe {
  list.push(item)
  return () => {
    const i = list.indexOf(item)
    if (i >= 0) list.splice(i, 1)
  }
}

/** Runs an application callback; a throw is logged, never propagated into a socket handler. */
export function safeCall(logger: Logger, what: string, fn: () => void): void {
  try {
    fn()
  } catch (err) {
    logger.error(`plaza: ${what} callback threw: ${describe(err)}`)
  }
}
