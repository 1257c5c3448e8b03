//! The connection: handshake (first-frame auth with fallback between methods), the frame loop,
//! request/answer matching, reconnection with backoff and the resume token, and the bounded
//! queue of sends made while reconnecting.
//!
//! Owns the socket and the session. Must not let anything throw out of a socket handler (a throw
//! inside `onmessage` silently stops a scene socket's receive loop, scene-runtime.md §3.7), must
//! not read close codes or `readyState` quirks (§3.8-3.11: `onclose` may come zero, one or two
//! times; `onerror` alone may be the end), and must not need timers to work at all (a scene
//! without `@dcl/ecs` has none: then there are no timeouts and no automatic reconnection).

import type { AuthMethod } from './auth'
import { jsonCodec, type Codec } from './codec'
import { describe, PlazaError } from './errors'
import { asServerMsg, type ClientMsg, type Limits, type RoomInfo, type ServerMsg } from './messages'
import { Room, safeCall, type RoomHost } from './room'
import { readLeaderboard, submitScore, type PlainFetch, type SignedFetch } from './scores'
import {
  consoleLogger,
  frameData,
  globalTimers,
  globalWebSocket,
  hasGlobalTimers,
  isOpen,
  safeClose,
  type Logger,
  type SocketConstructor,
  type SocketLike,
  type Timers
} from './socket'
import { endpoints } from './url'
import type { Value, ValueMap } from './value'

/** Reconnection policy. */
export interface ReconnectOptions {
  /** Attempts after a drop before giving up (default 10). */
  maxAttempts?: number
  /** First delay, doubled each attempt (default 250 ms). */
  baseDelayMs?: number
  /** Delay cap (default 10 s). */
  maxDelayMs?: number
}

/** Everything `connect` accepts. Only `auth` is required. */
export interface ConnectOptions {
  /** Auth methods, tried in order until one is accepted (see `auth.ts`). */
  auth: AuthMethod | AuthMethod[]
  /** The WebSocket class (default: the runtime's global `WebSocket`). */
  WebSocket?: SocketConstructor
  /** Encoding of outgoing frames (default JSON text frames, which every runtime can send). */
  codec?: Codec
  /** Decoder for incoming binary frames (default: `codec` when it is not JSON). */
  binaryCodec?: Codec
  /** Timers (default: the runtime's, looked up when needed). */
  timers?: Timers
  /** Diagnostics (default: `console.log`/`console.error`). */
  logger?: Logger
  /** Time allowed for one handshake (default 10 s). */
  handshakeTimeoutMs?: number
  /** Default time allowed for a join or request answer (default 10 s). */
  requestTimeoutMs?: number
  /** Reconnection policy, or `false` to end the client on the first drop. */
  reconnect?: ReconnectOptions | false
  /** Messages kept while reconnecting; more are dropped with `queue_full` (default 100). */
  maxQueued?: number
  /** Signed fetch for scores and tickets (`signedFetch` from `~system/SignedFetch` in a scene). */
  signedFetch?: SignedFetch
  /** Plain fetch for leaderboard reads (default: the runtime's global `fetch`). */
  fetch?: PlainFetch
}

/** Callbacks of a lobby subscription. */
export interface LobbyHandlers {
  /** The whole list (first message, and again after a reconnection). */
  onList?: (rooms: RoomInfo[]) => void
  /** A room appeared or changed. */
  onUpdate?: (info: RoomInfo) => void
  /** A room went away or stopped being listed. */
  onRemove?: (roomId: string) => void
}

/** Where the client is in its life. */
export type ClientStatus = 'connecting' | 'open' | 'reconnecting' | 'closed'

interface Pending {
  resolve: (v: unknown) => void
  reject: (e: PlazaError) => void
  timer: unknown
}

const DEFAULTS = {
  handshakeTimeoutMs: 10_000,
  requestTimeoutMs: 10_000,
  maxQueued: 100,
  maxAttempts: 10,
  baseDelayMs: 250,
  maxDelayMs: 10_000
}

/** Server codes after which this client must not reconnect (protocol/README.md §4). */
const SESSION_ENDING_CODES = new Set(['replaced'])

/** Client codes that mean "the network failed", as opposed to "the server refused". */
const NETWORK_CODES = new Set(['connect_failed', 'handshake_timeout'])

declare const fetch: PlainFetch | undefined

/** Connects, authenticates and resolves with a ready client; rejects with a `PlazaError`. */
export async function connect(url: string, opts: ConnectOptions): Promise<PlazaClient> {
  const client = new PlazaClient(url, opts)
  await client._start()
  return client
}

/** A connected Plaza session. Create it with `connect`. */
export class PlazaClient {
  /** The verified wallet address (lower-case). */
  address = ''
  /** The session id (kept across resumes). */
  sessionId = ''
  /** Limits in force, from `welcome`. */
  limits: Limits | null = null
  /** Server clock minus local clock at `welcome`, ms (rough: includes half a round trip). */
  clockOffsetMs = 0

  private _status: ClientStatus = 'connecting'
  private readonly wsUrl: string
  private readonly httpUrl: string
  private readonly auth: AuthMethod[]
  private authIndex = 0
  private readonly Ws: SocketConstructor
  private readonly codec: Codec
  private readonly binaryCodec: Codec | undefined
  private readonly timers: Timers
  /** @internal */
  readonly logger: Logger
  private readonly opts: ConnectOptions
  private readonly reconnectOpts: Required<ReconnectOptions> | null
  private ws: SocketLike | null = null
  /** Bumped for every socket, so late events of a replaced socket are ignored. */
  private gen = 0
  private resumeToken: string | null = null
  private attempts = 0
  private retryAfterMs: number | null = null
  private reconnectTimer: unknown = undefined
  /** Encoded frames waiting for a connection (bounded by `maxQueued`). */
  private readonly queue: Array<string | Uint8Array> = []
  private readonly pending = new Map<number, Pending>()
  private readonly leaving = new Map<string, Array<(reason: string) => void>>()
  private readonly pings = new Map<number, { resolve: () => void; reject: (e: PlazaError) => void }>()
  private nextRid = 1
  private readonly roomMap = new Map<string, Room>()
  private readonly closeListeners: Array<(err: PlazaError) => void> = []
  private readonly errorListeners: Array<(err: PlazaError) => void> = []
  private readonly reconnectListeners: Array<(resumed: boolean) => void> = []
  private readonly host: RoomHost
  /** The live room list while subscribed (`lobby`). */
  private lobbySub: { type?: string; handlers: LobbyHandlers; rooms: Map<string, RoomInfo> } | null = null

  /** @internal Use `connect`. */
  constructor(url: string, opts: ConnectOptions) {
    const ep = endpoints(url)
    this.wsUrl = ep.ws
    this.httpUrl = ep.http
    this.opts = opts
    this.auth = Array.isArray(opts.auth) ? opts.auth : [opts.auth]
    if (this.auth.length === 0) throw new PlazaError('auth_unavailable', 'no auth method given')
    const Ws = opts.WebSocket ?? globalWebSocket()
    if (!Ws) throw new PlazaError('connect_failed', 'no WebSocket available: pass opts.WebSocket')
    this.Ws = Ws
    this.codec = opts.codec ?? jsonCodec
    this.binaryCodec = opts.binaryCodec ?? (this.codec === jsonCodec ? undefined : this.codec)
    this.timers = opts.timers ?? globalTimers
    this.logger = opts.logger ?? consoleLogger
    this.reconnectOpts =
      opts.reconnect === false
        ? null
        : {
            maxAttempts: opts.reconnect?.maxAttempts ?? DEFAULTS.maxAttempts,
            baseDelayMs: opts.reconnect?.baseDelayMs ?? DEFAULTS.baseDelayMs,
            maxDelayMs: opts.reconnect?.maxDelayMs ?? DEFAULTS.maxDelayMs
          }
    this.host = {
      send: (msg) => this.send(msg),
      request: (room, type, data, timeoutMs) =>
        this.call<Value>({ t: 'req', rid: this.rid(), room, type, data }, timeoutMs),
      leave: (room) => this.leaveRoom(room),
      logger: this.logger
    }
  }

  /** Timers exist (asked each time: `@dcl/ecs` may install them after this client was made). */
  private get hasTimers(): boolean {
    return this.opts.timers !== undefined || hasGlobalTimers()
  }

  /** Where the client is: `open`, `reconnecting`, `closed`… */
  get status(): ClientStatus {
    return this._status
  }

  /** The rooms this client holds a seat in, by id. */
  get rooms(): ReadonlyMap<string, Room> {
    return this.roomMap
  }

  /** The HTTP base URL (`https://host`). */
  get httpBase(): string {
    return this.httpUrl
  }

  /** Called once when the client ends (closed by you, or gave up reconnecting). */
  onClose(cb: (err: PlazaError) => void): () => void {
    return listen(this.closeListeners, cb)
  }

  /** Server errors that answer no request and concern no room (e.g. rate limits). */
  onError(cb: (err: PlazaError) => void): () => void {
    return listen(this.errorListeners, cb)
  }

  /** Called after each successful reconnection; `resumed` is false when a fresh session was made. */
  onReconnect(cb: (resumed: boolean) => void): () => void {
    return listen(this.reconnectListeners, cb)
  }

  /** Joins a room of `type` matching `filter`, or creates one. */
  joinOrCreate<S = Value>(type: string, opts: { filter?: ValueMap; options?: ValueMap; timeoutMs?: number } = {}): Promise<Room<S>> {
    return this.joinCall<S>({ t: 'joinOrCreate', rid: this.rid(), type, filter: opts.filter ?? {}, options: opts.options ?? {} }, opts.timeoutMs)
  }

  /** Creates a new room (a private one is joinable by id only). */
  create<S = Value>(type: string, opts: { options?: ValueMap; private?: boolean; timeoutMs?: number } = {}): Promise<Room<S>> {
    return this.joinCall<S>({ t: 'create', rid: this.rid(), type, options: opts.options ?? {}, private: opts.private ?? false }, opts.timeoutMs)
  }

  /** Joins a room by id. */
  join<S = Value>(roomId: string, opts: { options?: ValueMap; timeoutMs?: number } = {}): Promise<Room<S>> {
    return this.joinCall<S>({ t: 'join', rid: this.rid(), room: roomId, options: opts.options ?? {} }, opts.timeoutMs)
  }

  /**
   * Subscribes to the live room list (of one `type`, or every listed room). Replaces a previous
   * subscription. Returns a function that ends it. `lobbyRooms` holds the current list.
   */
  lobby(type: string | undefined, handlers: LobbyHandlers): () => void {
    const sub = { type, handlers, rooms: new Map<string, RoomInfo>() }
    this.lobbySub = sub
    this.send(type === undefined ? { t: 'lobby' } : { t: 'lobby', type })
    return () => {
      if (this.lobbySub !== sub) return
      this.lobbySub = null
      this.send({ t: 'unlobby' })
    }
  }

  /** The rooms of the current lobby subscription, by id (empty when not subscribed). */
  get lobbyRooms(): ReadonlyMap<string, RoomInfo> {
    return this.lobbySub?.rooms ?? new Map()
  }

  /** Application-level round trip, ms. */
  ping(): Promise<number> {
    return new Promise((resolve, reject) => {
      const d = this.nextRid++
      const started = Date.now()
      this.pings.set(d, { resolve: () => resolve(Date.now() - started), reject })
      const err = this.trySend({ t: 'ping', d })
      if (err) {
        this.pings.delete(d)
        reject(err)
      }
    })
  }

  /** `POST /v1/scores` through the signed fetch given to `connect`. */
  submitScore(leaderboard: string, score: number, session: string): Promise<unknown> {
    const sf = this.opts.signedFetch
    if (!sf) return Promise.reject(new PlazaError('http', 'submitScore needs opts.signedFetch'))
    return submitScore(sf, this.httpUrl, { leaderboard, score, session })
  }

  /** `GET /v1/leaderboards/{id}` with optional query parameters. */
  leaderboard(id: string, query: Record<string, string | number | boolean> = {}): Promise<unknown> {
    const f = this.opts.fetch ?? (typeof fetch === 'function' ? fetch : undefined)
    if (!f) return Promise.reject(new PlazaError('http', 'leaderboard needs opts.fetch'))
    return readLeaderboard(f, this.httpUrl, id, query)
  }

  /** Ends the session: closes the socket, fails what is pending, drops every room. */
  close(): void {
    this.finish(new PlazaError('closed', 'client closed'))
  }

  // ---- internals -------------------------------------------------------------------------

  /** @internal First connection: each auth method in turn until one is accepted. */
  async _start(): Promise<void> {
    let last: PlazaError | null = null
    for (this.authIndex = 0; this.authIndex < this.auth.length; this.authIndex++) {
      try {
        await this.handshake(false)
        return
      } catch (err) {
        last = toPlazaError(err)
        this.logger.log(`plaza: auth method ${this.auth[this.authIndex].name} failed: ${last.code}: ${last.message}`)
        // A network failure is not the method's fault: another method would fail the same way.
        if (NETWORK_CODES.has(last.code)) break
      }
    }
    this._status = 'closed'
    throw last ?? new PlazaError('auth_unavailable', 'no auth method worked')
  }

  /** Opens one socket and runs the handshake; resolves once `welcome`/`resumed` is in. */
  private handshake(resume: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const gen = ++this.gen
      let ws: SocketLike
      try {
        ws = new this.Ws(this.wsUrl)
      } catch (err) {
        reject(new PlazaError('connect_failed', `cannot open ${this.wsUrl}: ${describe(err)}`, { retryable: true }))
        return
      }
      try {
        ws.binaryType = 'arraybuffer'
      } catch {
        // Only 'arraybuffer' is accepted by the scene shim, which is what we set; ignore others.
      }
      let settled = false
      // On resume the server sends the missed patches (or snapshots) *before* `resumed`: keep
      // them and dispatch them once the session is back.
      const early: ServerMsg[] = []
      let nonce: string | null = null
      let nonceWaiter: ((n: string) => void) | null = null
      const timer = this.hasTimers
        ? this.timers.setTimeout(
            () => fail(new PlazaError('handshake_timeout', 'the handshake did not finish in time', { retryable: true })),
            this.opts.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs
          )
        : undefined
      const fail = (err: PlazaError): void => {
        if (settled) return
        settled = true
        this.timers.clearTimeout(timer)
        safeClose(ws)
        reject(err)
      }
      const succeed = (msg: ServerMsg): void => {
        settled = true
        this.timers.clearTimeout(timer)
        if (this._status === 'closed') {
          // close() was called while this handshake was in flight: do not revive the client.
          safeClose(ws)
          reject(new PlazaError('closed', 'client closed'))
          return
        }
        this.ws = ws
        // Open from here on, synchronously: a drop noticed before the caller's continuation runs
        // must start a reconnection, not be ignored as "still reconnecting".
        this._status = 'open'
        this.adopt(msg, resume)
        for (const m of early) this.dispatch(m)
        resolve()
      }
      const method = this.auth[this.authIndex]
      ws.onopen = () =>
        guard(this.logger, 'onopen', () => {
          const frame: Promise<ClientMsg> =
            resume && this.resumeToken
              ? Promise.resolve({ t: 'resume', token: this.resumeToken, rooms: this.roomSeqs() })
              : method.firstFrame({
                  wsUrl: this.wsUrl,
                  httpUrl: this.httpUrl,
                  challenge: () =>
                    nonce !== null ? Promise.resolve(nonce) : new Promise<string>((r) => (nonceWaiter = r))
                })
          frame.then(
            (msg) => {
              if (settled) return
              if (!this.sendOn(ws, msg)) fail(new PlazaError('connect_failed', 'socket closed before the first frame', { retryable: true }))
            },
            (err) => fail(new PlazaError('auth_unavailable', `auth method ${method.name}: ${describe(err)}`))
          )
        })
      ws.onmessage = (ev) =>
        guard(this.logger, 'onmessage', () => {
          const msg = this.decode(ev && ev.data)
          if (!msg) return
          if (settled) {
            if (gen === this.gen) this.dispatch(msg)
            return
          }
          switch (msg.t) {
            case 'challenge':
              nonce = String(msg.nonce)
              if (nonceWaiter) nonceWaiter(nonce)
              return
            case 'welcome':
            case 'resumed':
              succeed(msg)
              return
            case 'error':
              fail(new PlazaError(String(msg.code), String(msg.message), { retryable: msg.retryable === true }))
              return
            case 'shutdown':
              this.retryAfterMs = Number(msg.retryAfterMs) || null
              fail(new PlazaError('shutdown', `server shutting down: ${msg.reason}`, { retryable: true }))
              return
            default:
              if (resume) early.push(msg)
              else this.logger.log(`plaza: ignoring ${msg.t} before the handshake finished`)
          }
        })
      // Scene sockets: a drop may come as onerror only, or onclose once or twice. Treat the
      // first of either as the end of this socket; `gen` makes the rest no-ops.
      const down = (why: string): void => {
        if (!settled) fail(new PlazaError('connect_failed', `connection failed: ${why}`, { retryable: true }))
        else this.socketDown(gen, why)
      }
      ws.onclose = () => guard(this.logger, 'onclose', () => down('closed'))
      ws.onerror = (e) => guard(this.logger, 'onerror', () => down(`error: ${describe(errorText(e))}`))
    })
  }

  /** Takes the session from `welcome`/`resumed` and makes the socket current. */
  private adopt(msg: ServerMsg, resume: boolean): void {
    if (msg.t === 'welcome') {
      this.address = msg.address
      this.sessionId = msg.sessionId
      this.resumeToken = msg.resumeToken
      this.limits = msg.limits ?? null
      if (typeof msg.serverTime === 'number') this.clockOffsetMs = msg.serverTime - Date.now()
      // A fresh session holds no seat: any room we thought we had is gone.
      if (resume || this.roomMap.size > 0) this.dropAllRooms('session_lost')
    } else if (msg.t === 'resumed') {
      this.address = msg.address
      this.sessionId = msg.sessionId
      this.resumeToken = msg.resumeToken
      const held = new Set(Array.isArray(msg.rooms) ? msg.rooms : [])
      for (const [id, room] of [...this.roomMap]) {
        if (!held.has(id)) {
          this.roomMap.delete(id)
          room._left('lost')
        } else {
          room._afterResume()
        }
      }
    }
  }

  /** The socket of generation `gen` is gone: reconnect, or end the client. */
  private socketDown(gen: number, why: string): void {
    if (gen !== this.gen || this._status === 'closed' || this._status === 'reconnecting') return
    this.ws = null
    this.logger.log(`plaza: connection lost (${why})`)
    if (!this.reconnectOpts || !this.hasTimers) {
      this.finish(new PlazaError('closed', `connection lost (${why})`, { retryable: true }))
      return
    }
    this._status = 'reconnecting'
    this.attempts = 0
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    const r = this.reconnectOpts
    if (!r || this._status !== 'reconnecting') return
    if (this.attempts >= r.maxAttempts) {
      this.finish(new PlazaError('closed', `gave up after ${this.attempts} reconnection attempts`, { retryable: true }))
      return
    }
    const backoff = Math.min(r.maxDelayMs, r.baseDelayMs * 2 ** this.attempts)
    // Jitter spreads a whole scene's worth of clients after a server restart.
    let delay = backoff / 2 + Math.random() * (backoff / 2)
    if (this.retryAfterMs !== null) {
      delay = Math.max(delay, this.retryAfterMs)
      this.retryAfterMs = null
    }
    this.attempts++
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = undefined
      this.reconnectOnce()
    }, delay)
  }

  private reconnectOnce(): void {
    if (this._status !== 'reconnecting') return
    const resume = this.resumeToken !== null
    this.handshake(resume).then(
      () => {
        this.attempts = 0
        if (this._status === 'open') {
          // Subscriptions belong to the connection: ask for the list again.
          const sub = this.lobbySub
          if (sub) this.send(sub.type === undefined ? { t: 'lobby' } : { t: 'lobby', type: sub.type })
          this.flushQueue()
        }
        for (const cb of this.reconnectListeners.slice()) safeCall(this.logger, 'onReconnect', () => cb(resume))
      },
      (err) => {
        const e = toPlazaError(err)
        this.logger.log(`plaza: reconnection attempt failed: ${e.code}: ${e.message}`)
        if (this._status !== 'reconnecting') return
        // A refusal that will fail again as is (`retryable: false`): a spent or expired token, or
        // an auth method the server does not accept. Anything else (network, limits, shutdown):
        // the same attempt later.
        if (!NETWORK_CODES.has(e.code) && !e.retryable) {
          if (resume) {
            // The token is gone: start a fresh session now; the seats went with the old one.
            this.resumeToken = null
            this.dropAllRooms('resume_failed')
            this.reconnectOnce()
            return
          }
          if (this.authIndex + 1 < this.auth.length) this.authIndex++
        }
        this.scheduleReconnect()
      }
    )
  }

  /** Handles one frame of an established session. */
  private dispatch(msg: ServerMsg): void {
    switch (msg.t) {
      case 'joined': {
        const p = this.takePending(msg.rid)
        if (!p) {
          // The join timed out here but succeeded there: nobody holds this room, free the seat.
          this.logger.log(`plaza: late join of ${msg.room} (rid ${msg.rid}) released`)
          this.send({ t: 'leave', room: msg.room })
          return
        }
        const room = new Room(this.host, msg)
        this.roomMap.set(room.id, room)
        p.resolve(room)
        return
      }
      case 'res': {
        const p = this.takePending(msg.rid)
        if (p) p.resolve(msg.data)
        return
      }
      case 'error': {
        const err = new PlazaError(String(msg.code), String(msg.message), {
          retryable: msg.retryable === true,
          room: msg.room
        })
        const p = msg.rid !== undefined && msg.rid !== null ? this.takePending(msg.rid) : undefined
        if (p) p.reject(err)
        else if (SESSION_ENDING_CODES.has(err.code)) {
          // Another connection took this session over: reconnecting would steal it back, and
          // the two would take turns forever. End here.
          this.finish(err)
        }
        else if (msg.room !== undefined && this.roomMap.has(msg.room)) this.roomMap.get(msg.room)?._error(err)
        else this.emitError(err)
        return
      }
      case 'patch':
        this.roomMap.get(msg.room)?._patch(Number(msg.seq), msg.ops)
        return
      case 'snapshot':
        this.roomMap.get(msg.room)?._snapshot(Number(msg.seq), msg.state)
        return
      case 'msg':
        this.roomMap.get(msg.room)?._message(String(msg.type), msg.data)
        return
      case 'left': {
        const room = this.roomMap.get(msg.room)
        this.roomMap.delete(msg.room)
        room?._left(String(msg.reason))
        const waiters = this.leaving.get(msg.room) ?? []
        this.leaving.delete(msg.room)
        for (const w of waiters) w(String(msg.reason))
        return
      }
      case 'lobbyList': {
        const sub = this.lobbySub
        if (!sub || !Array.isArray(msg.rooms)) return
        sub.rooms.clear()
        for (const info of msg.rooms) sub.rooms.set(info.room, info)
        const list = [...sub.rooms.values()]
        if (sub.handlers.onList) safeCall(this.logger, 'lobby onList', () => sub.handlers.onList?.(list))
        return
      }
      case 'lobbyUpdate': {
        const sub = this.lobbySub
        if (!sub || !msg.info) return
        sub.rooms.set(msg.info.room, msg.info)
        if (sub.handlers.onUpdate) safeCall(this.logger, 'lobby onUpdate', () => sub.handlers.onUpdate?.(msg.info))
        return
      }
      case 'lobbyRemove': {
        const sub = this.lobbySub
        if (!sub) return
        sub.rooms.delete(msg.room)
        if (sub.handlers.onRemove) safeCall(this.logger, 'lobby onRemove', () => sub.handlers.onRemove?.(msg.room))
        return
      }
      case 'pong': {
        const waiter = this.pings.get(Number(msg.d))
        this.pings.delete(Number(msg.d))
        if (waiter) waiter.resolve()
        return
      }
      case 'shutdown':
        // The server closes next; wait at least this long before reconnecting.
        this.retryAfterMs = Number(msg.retryAfterMs) || null
        this.logger.log(`plaza: server shutting down (${msg.reason})`)
        return
      default:
        return
    }
  }

  /** Sends now when open, queues while connecting/reconnecting; `false` (and `onError`) when dropped. */
  private send(msg: ClientMsg): boolean {
    const err = this.trySend(msg)
    if (err && err.code !== 'closed') this.emitError(err)
    return err === null
  }

  /** Sends or queues; the reason when the message was dropped. Never throws. */
  private trySend(msg: ClientMsg): PlazaError | null {
    if (this._status === 'closed') return new PlazaError('closed', `client closed: ${msg.t} not sent`)
    let frame: string | Uint8Array
    try {
      frame = this.codec.encode(msg)
    } catch (err) {
      return new PlazaError('protocol', `cannot encode ${msg.t}: ${describe(err)}`)
    }
    // The server closes the connection on an oversized frame: refuse it here instead.
    const limit = this.limits?.maxFrameBytes
    const size = typeof frame === 'string' ? utf8Length(frame) : frame.length
    if (limit && size > limit) {
      return new PlazaError('frame_too_large', `${msg.t} is ${size} bytes, over the server's ${limit}`)
    }
    if (this._status === 'open' && this.ws && this.queue.length === 0 && this.sendFrame(this.ws, frame)) return null
    const max = this.opts.maxQueued ?? DEFAULTS.maxQueued
    if (this.queue.length >= max) {
      return new PlazaError('queue_full', `more than ${max} messages queued while reconnecting`, { retryable: true })
    }
    this.queue.push(frame)
    return null
  }

  /** Encodes and sends a handshake message on `ws` if it is open; never throws. */
  private sendOn(ws: SocketLike, msg: ClientMsg): boolean {
    try {
      return this.sendFrame(ws, this.codec.encode(msg))
    } catch (err) {
      this.logger.error(`plaza: cannot encode ${msg.t}: ${describe(err)}`)
      return false
    }
  }

  /** Sends one frame if `ws` is open; `false` when it could not (never throws). */
  private sendFrame(ws: SocketLike, frame: string | Uint8Array): boolean {
    if (!isOpen(ws)) return false
    try {
      ws.send(frame)
      return true
    } catch (err) {
      this.logger.log(`plaza: send failed: ${describe(err)}`)
      return false
    }
  }

  private flushQueue(): void {
    while (this.queue.length > 0 && this._status === 'open' && this.ws) {
      if (!this.sendFrame(this.ws, this.queue[0])) return
      this.queue.shift()
    }
  }

  private joinCall<S>(msg: ClientMsg & { rid: number }, timeoutMs?: number): Promise<Room<S>> {
    return this.call<Room<S>>(msg, timeoutMs)
  }

  /** Sends a message carrying `rid` and resolves with what answers it. */
  private call<T>(msg: ClientMsg & { rid: number }, timeoutMs?: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const ms = timeoutMs ?? this.opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs
      const timer = this.hasTimers
        ? this.timers.setTimeout(() => {
            if (this.pending.delete(msg.rid)) reject(new PlazaError('timeout', `${msg.t} got no answer in ${ms} ms`, { retryable: true }))
          }, ms)
        : undefined
      this.pending.set(msg.rid, { resolve: resolve as (v: unknown) => void, reject, timer })
      const err = this.trySend(msg)
      if (err) {
        this.takePending(msg.rid)
        reject(err)
      }
    })
  }

  private leaveRoom(room: string): Promise<string> {
    return new Promise((resolve) => {
      const list = this.leaving.get(room) ?? []
      list.push(resolve)
      this.leaving.set(room, list)
      if (!this.send({ t: 'leave', room })) {
        // Not sendable: the seat is dropped locally; the server frees it when the session ends.
        this.leaving.delete(room)
        const r = this.roomMap.get(room)
        this.roomMap.delete(room)
        r?._left('left')
        resolve('left')
      }
    })
  }

  private takePending(rid: unknown): Pending | undefined {
    const id = Number(rid)
    const p = this.pending.get(id)
    if (p) {
      this.pending.delete(id)
      this.timers.clearTimeout(p.timer)
    }
    return p
  }

  private rid(): number {
    const r = this.nextRid
    // Request ids are u32 on the wire.
    this.nextRid = this.nextRid >= 0xffffffff ? 1 : this.nextRid + 1
    return r
  }

  private roomSeqs(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [id, room] of this.roomMap) out[id] = room.seq
    return out
  }

  private dropAllRooms(reason: string): void {
    const rooms = [...this.roomMap.values()]
    this.roomMap.clear()
    for (const r of rooms) r._left(reason)
    for (const [, waiters] of this.leaving) for (const w of waiters) w(reason)
    this.leaving.clear()
  }

  private decode(data: unknown): ServerMsg | null {
    const frame = frameData(data)
    if (frame === null) {
      this.logger.error('plaza: frame of an unknown type ignored')
      return null
    }
    try {
      if (typeof frame === 'string') return asServerMsg(jsonCodec.decode(frame))
      if (!this.binaryCodec) {
        this.logger.error('plaza: binary frame ignored: no binary codec configured')
        return null
      }
      return asServerMsg(this.binaryCodec.decode(frame))
    } catch (err) {
      this.logger.error(`plaza: undecodable frame ignored: ${describe(err)}`)
      return null
    }
  }

  private emitError(err: PlazaError): void {
    if (this.errorListeners.length === 0) this.logger.error(`plaza: ${err.code}: ${err.message}`)
    for (const cb of this.errorListeners.slice()) safeCall(this.logger, 'onError', () => cb(err))
  }

  /** Ends the client for good. Idempotent. */
  private finish(err: PlazaError): void {
    if (this._status === 'closed') return
    this._status = 'closed'
    this.gen++
    this.timers.clearTimeout(this.reconnectTimer)
    if (this.ws) safeClose(this.ws)
    this.ws = null
    this.queue.length = 0
    for (const [rid, p] of [...this.pending]) {
      this.pending.delete(rid)
      this.timers.clearTimeout(p.timer)
      p.reject(err)
    }
    for (const w of this.pings.values()) w.reject(err)
    this.pings.clear()
    this.dropAllRooms(err.code === 'closed' ? 'closed' : err.code)
    for (const cb of this.closeListeners.slice()) safeCall(this.logger, 'onClose', () => cb(err))
  }
}

/** Bytes of `s` in UTF-8 (a lone surrogate counts as U+FFFD, 3 bytes), without `TextEncoder`. */
export function utf8Length(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

function listen<T>(list: T[], cb: T): () => void {
  list.push(cb)
  return () => {
    const i = list.indexOf(cb)
    if (i >= 0) list.splice(i, 1)
  }
}

/** Runs a socket handler body; nothing may escape (it would stop a scene socket's receive loop). */
function guard(logger: Logger, what: string, fn: () => void): void {
  try {
    fn()
  } catch (err) {
    try {
      logger.error(`plaza: ${what} failed: ${describe(err)}`)
    } catch {
      // Even a broken logger must not throw out of a socket handler.
    }
  }
}

function toPlazaError(err: unknown): PlazaError {
  return err instanceof PlazaError ? err : new PlazaError('connect_failed', describe(err), { retryable: true })
}

/** Browsers and `ws` pass an Event whose `message` says what happened; the scene passes the error. */
function errorText(e: unknown): unknown {
  if (e && typeof e === 'object' && 'message' in e) return (e as { message: unknown }).message
  if (e && typeof e === 'object' && 'error' in e) return (e as { error: unknown }).error
  return e
}
