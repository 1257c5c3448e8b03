// A WebSocket that behaves like the Decentraland scene runtime's shim (shared/scene-runtime.md §3),
// built on a real `ws` connection so it can talk to a real server. Every quirk below is one the
// client must survive; the section numbers point at the note.
import WebSocketImpl from 'ws'

const CONNECTING = 0
const OPEN = 1
const CLOSING = 2
const CLOSED = 3

/**
 * Makes a scene-like WebSocket class. `realm` supplies the Uint8Array constructor the "host" uses
 * for binary data (the scene's own realm when the client runs inside a vm context).
 * `log` collects console.error lines the shim prints, like the runtime does.
 */
export function sceneWebSocketClass({ realm = globalThis, log = [] } = {}) {
  class SceneWebSocket {
    static CONNECTING = CONNECTING
    static OPEN = OPEN
    static CLOSING = CLOSING
    static CLOSED = CLOSED

    #ws
    #state = CONNECTING
    #receiving = true
    onopen = null
    onmessage = null
    onclose = null
    onerror = null
    /** Everything this socket put on the wire, for assertions: {kind: 'text'|'binary', data}. */
    sent = []

    // §3.1: protocols ignored, no options, no headers; never throws for an unreachable server.
    constructor(url, _protocols) {
      if (typeof url !== 'string') throw new TypeError('url must be a string') // host binding
      const ws = new WebSocketImpl(url)
      this.#ws = ws
      ws.binaryType = 'nodebuffer'
      ws.on('open', () => {
        this.#state = OPEN
        this.#call('onopen', { type: 'open' })
      })
      ws.on('message', (data, isBinary) => {
        if (!this.#receiving) return // §3.7: the receive loop died
        const ev = isBinary
          ? { type: 'binary', data: new realm.Uint8Array(data) } // §3.6: host-made Uint8Array
          : { type: 'text', data: data.toString('utf8') }
        try {
          if (typeof this.onmessage === 'function') this.onmessage(ev)
        } catch (err) {
          // §3.7: the exception ends the loop; onerror gets it; the socket stays OPEN.
          this.#receiving = false
          log.push(`Error receiving data: ${err}`)
          this.#call('onerror', err)
        }
      })
      ws.on('close', (code) => {
        // §3.10: a connect failure was reported by 'error' (state CLOSED already); nothing more.
        if (this.#state === CONNECTING || (this.#state === CLOSED && !this.#closedByUs)) return
        if (this.#closedByUs) {
          this.#state = CLOSED
          // §3.11: the host close completes and the pending receive returns Close: twice.
          this.#call('onclose', { type: 'close' })
          this.#call('onclose', { type: 'close' })
        } else if (code === 1006) {
          // §3.9: no close frame: onerror only, state Aborted.
          this.#state = CLOSED
          this.#call('onerror', new Error('The remote party closed the WebSocket connection without completing the close handshake.'))
        } else {
          // §3.8: a close frame: {type:'close'} with no code/reason; the handshake is never
          // completed, so readyState stays 2 forever.
          this.#state = CLOSING
          this.#call('onclose', { type: 'close' })
        }
      })
      ws.on('error', (err) => {
        if (this.#state === CONNECTING) {
          // §3.10: connect failure: onerror only, no onclose.
          this.#state = CLOSED
          this.#call('onerror', err)
        }
      })
    }

    #closedByUs = false

    #call(name, ev) {
      const h = this[name]
      if (typeof h !== 'function') return
      try {
        h.call(this, ev)
      } catch (err) {
        if (name === 'onopen') this.#call('onerror', err) // §3.7
        else log.push(`handler ${name} threw: ${err}`)
      }
    }

    // §3.4: a getter that asks the host each time; no instance constants.
    get readyState() {
      return this.#state
    }

    get binaryType() {
      return 'arraybuffer'
    }
    set binaryType(v) {
      if (v !== 'arraybuffer') throw new Error("Only 'arraybuffer' is supported as binaryType")
    }

    get protocol() {
      return ''
    }
    get bufferedAmount() {
      return 0
    }

    // §3.5
    send(data) {
      if (this.#state !== OPEN) throw new Error(`WebSocket state is ${this.#state}, cannot send data`)
      if (typeof data === 'string') {
        if (data === '') return // nothing is sent
        this.sent.push({ kind: 'text', data })
        this.#ws.send(data, { binary: false })
      } else if (ArrayBuffer.isView(data) && Object.prototype.toString.call(data) === '[object Uint8Array]') {
        if (data.length === 0) return
        // The host reads `length` bytes from offset 0 of the buffer, ignoring byteOffset.
        const bytes = Buffer.from(new Uint8Array(data.buffer, 0, data.length))
        this.sent.push({ kind: 'binary', data: bytes })
        this.#ws.send(bytes, { binary: true })
      } else if (Object.prototype.toString.call(data) === '[object ArrayBuffer]') {
        if (data.byteLength === 0) return
        const bytes = Buffer.from(new Uint8Array(data))
        this.sent.push({ kind: 'binary', data: bytes })
        this.#ws.send(bytes, { binary: true })
      } else {
        log.push(`Unsupported data type: ${typeof data}`)
        throw new TypeError('(intermediate value) is not a constructor')
      }
    }

    // §3.11: code and reason ignored; only from CONNECTING or OPEN.
    close(_code, _reason) {
      if (this.#state === CLOSING || this.#state === CLOSED) {
        log.push(`WebSocket state is ${this.#state}, cannot close`)
        throw new Error(`WebSocket state is ${this.#state}, cannot close`)
      }
      this.#closedByUs = true
      if (this.#state === CONNECTING) {
        this.#state = CLOSED
        this.#ws.terminate()
        return
      }
      this.#state = CLOSING
      this.#ws.close(1000, '')
    }
  }
  return SceneWebSocket
}
