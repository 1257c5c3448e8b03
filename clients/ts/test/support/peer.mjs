// A scripted Plaza peer for client tests: a real WebSocket server on 127.0.0.1:0 whose replies each
// test writes frame by frame from the protocol (protocol/src/msg.rs). It checks the client's side of
// the protocol — what it sends, and what it does with exact server frames — where the real server
// cannot be made to misbehave on cue (seq gaps, refusals, drops at a chosen moment).
import { WebSocketServer } from 'ws'
import { decode, encode } from '@msgpack/msgpack'

export async function startPeer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise((r) => wss.once('listening', r))
  const waiting = []
  const arrived = []
  wss.on('connection', (ws) => {
    const conn = new PeerConn(ws)
    if (waiting.length) waiting.shift()(conn)
    else arrived.push(conn)
  })
  return {
    url: `ws://127.0.0.1:${wss.address().port}`,
    /** The next connection (waits for it). */
    accept(timeoutMs = 5000) {
      if (arrived.length) return Promise.resolve(arrived.shift())
      return withTimeout(new Promise((r) => waiting.push(r)), timeoutMs, 'no connection')
    },
    async close() {
      for (const c of wss.clients) c.terminate()
      await new Promise((r) => wss.close(r))
    }
  }
}

class PeerConn {
  constructor(ws) {
    this.ws = ws
    this.inbox = []
    this.waiters = []
    this.formats = []
    this.closed = new Promise((r) => ws.once('close', r))
    ws.on('message', (data, isBinary) => {
      this.formats.push(isBinary ? 'binary' : 'text')
      const msg = isBinary ? decode(data) : JSON.parse(data.toString('utf8'))
      if (this.waiters.length) this.waiters.shift()(msg)
      else this.inbox.push(msg)
    })
  }
  /** The next client message. */
  next(timeoutMs = 5000) {
    if (this.inbox.length) return Promise.resolve(this.inbox.shift())
    return withTimeout(new Promise((r) => this.waiters.push(r)), timeoutMs, 'no message from the client')
  }
  /** Sends a server message as JSON text (default) or MessagePack. */
  send(msg, format = 'text') {
    if (format === 'binary') this.ws.send(encode(msg), { binary: true })
    else this.ws.send(JSON.stringify(msg))
  }
  /** A server close with a close frame. */
  close() {
    this.ws.close(4000, 'bye')
  }
  /** A dropped TCP connection (no close frame). */
  drop() {
    this.ws._socket.destroy()
  }
  /** challenge → expect the first frame → welcome; returns the first frame. */
  async welcome({ address = '0xabc', token = 'tok-1', session = 's-1' } = {}) {
    this.send({ t: 'challenge', nonce: 'n-123' })
    const first = await this.next()
    this.send({
      t: 'welcome',
      address,
      sessionId: session,
      resumeToken: token,
      serverTime: Date.now(),
      limits: { maxFrameBytes: 65536, messagesPerSecond: 30, messageBurst: 60, resumeGraceMs: 30000 }
    })
    return first
  }
}

export function withTimeout(p, ms, what) {
  let t
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms)))
  ])
}

/** Resolves when `cond()` is true (polling), or rejects after `ms`. */
export async function until(cond, ms = 5000, what = 'condition') {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A logger that records lines instead of printing them. */
export function recordingLogger() {
  const lines = []
  return { lines, log: (m) => lines.push(`log: ${m}`), error: (m) => lines.push(`error: ${m}`) }
}
