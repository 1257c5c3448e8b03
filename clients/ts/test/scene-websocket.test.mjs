// The scene WebSocket shim itself (support/scene-websocket.mjs) reproduces the runtime behaviours
// of shared/scene-runtime.md §3 that the client tests rely on.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { startPeer, until } from './support/peer.mjs'
import { sceneWebSocketClass } from './support/scene-websocket.mjs'

test('scene shim: constants only as statics, send/close guards, events without codes', async (t) => {
  const peer = await startPeer()
  t.after(() => peer.close())
  const log = []
  const Ws = sceneWebSocketClass({ log })
  assert.equal(Ws.OPEN, 1)
  const ws = new Ws(peer.url)
  assert.equal(ws.OPEN, undefined)
  assert.equal(typeof ws.addEventListener, 'undefined')
  assert.throws(() => ws.send('early'), /WebSocket state is 0, cannot send data/)
  const events = []
  ws.onopen = (e) => events.push(e)
  ws.onclose = (e) => events.push(e)
  ws.onerror = (e) => events.push({ error: String(e) })
  ws.onmessage = (e) => events.push(e)
  const conn = await peer.accept()
  await until(() => ws.readyState === 1)
  assert.equal(ws.binaryType, 'arraybuffer')
  assert.throws(() => (ws.binaryType = 'blob'), /Only 'arraybuffer'/)
  ws.send('') // nothing goes out
  ws.send('{"t":"ping","d":1}')
  assert.deepEqual(await conn.next(), { t: 'ping', d: 1 })
  assert.throws(() => ws.send({ t: 'x' }), /not a constructor/)
  assert.throws(() => ws.send(42), TypeError)
  // byteOffset is ignored: the host reads `length` bytes from the start of the buffer. (The bytes
  // that go out happen to be valid MessagePack, [1,2,3,4], so the peer can read them.)
  const buf = new Uint8Array([0x94, 1, 2, 3, 4, 5, 6])
  ws.send(buf.subarray(2))
  assert.deepEqual(ws.sent.at(-1).data, Buffer.from([0x94, 1, 2, 3, 4]))
  assert.deepEqual(await conn.next(), [1, 2, 3, 4])
  conn.send({ t: 'pong', d: 1 })
  await until(() => events.some((e) => e.type === 'text'))
  conn.close()
  await until(() => events.some((e) => e.type === 'close'))
  assert.deepEqual(events.find((e) => e.type === 'close'), { type: 'close' }) // no code, reason, wasClean
  assert.equal(ws.readyState, 2) // and it stays there
  assert.throws(() => ws.close(), /WebSocket state is 2, cannot close/)
})

test('scene shim: a TCP drop gives onerror and no onclose; a throwing onmessage stops delivery', async (t) => {
  const peer = await startPeer()
  t.after(() => peer.close())
  const Ws = sceneWebSocketClass()
  const ws = new Ws(peer.url)
  const events = []
  ws.onclose = () => events.push('close')
  ws.onerror = (e) => events.push(`error: ${e.message}`)
  let received = 0
  ws.onmessage = () => {
    received++
    throw new Error('handler bug')
  }
  const conn = await peer.accept()
  await until(() => ws.readyState === 1)
  conn.send({ t: 'pong', d: 1 })
  conn.send({ t: 'pong', d: 2 })
  await until(() => events.length === 1)
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(received, 1) // the receive loop died with the first throw
  assert.deepEqual(events, ['error: handler bug'])
  assert.equal(ws.readyState, 1) // ...while the socket stays open
  conn.drop()
  await until(() => events.length === 2)
  await new Promise((r) => setTimeout(r, 50))
  assert.match(events[1], /without completing the close handshake/)
  assert.equal(events.includes('close'), false)
  assert.equal(ws.readyState, 3)
})

test('scene shim: a refused connection gives onerror only', async () => {
  const peer = await startPeer()
  const url = peer.url
  await peer.close()
  const ws = new (sceneWebSocketClass())(url)
  const events = []
  ws.onclose = () => events.push('close')
  ws.onerror = () => events.push('error')
  await until(() => events.length === 1)
  await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(events, ['error'])
})
