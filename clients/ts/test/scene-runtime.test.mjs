// The package inside a scene-like V8 context (support/scene-realm.mjs) with the scene WebSocket shim
// (support/scene-websocket.mjs) against the scripted peer: it must load and work with no browser or
// Node globals, and with timers only when @dcl/ecs would provide them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'

import { startPeer, until } from './support/peer.mjs'
import { sceneRealm } from './support/scene-realm.mjs'
import { sceneWebSocketClass } from './support/scene-websocket.mjs'

test('the scene context really lacks the globals the client must not use', () => {
  const realm = sceneRealm()
  assert.equal(realm.run('[typeof setTimeout, typeof URL, typeof TextEncoder, typeof crypto, typeof Buffer, typeof atob, typeof fetch, typeof console.warn].join()'),
    'undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined')
})

test('the main entry loads in a scene context; the MessagePack entry dies on TextEncoder', () => {
  const msgpackMain = fileURLToPath(new URL('../node_modules/@msgpack/msgpack/dist.cjs/index.cjs', import.meta.url))
  const realm = sceneRealm({ packages: { '@msgpack/msgpack': msgpackMain } })
  const lib = realm.require('./index')
  assert.equal(typeof lib.connect, 'function')
  assert.equal(typeof lib.signedHeadersAuth, 'function')
  // Why MessagePack is a separate entry (scene-runtime.md §6): it fails at load in a scene.
  assert.throws(() => realm.require('./msgpack'), /TextEncoder is not defined/)
})

test('in a scene with @dcl/ecs timers: connect, join, patches, and a resume after a TCP drop', async (t) => {
  const peer = await startPeer()
  const consoleLines = []
  const shimLog = []
  const realm = sceneRealm({ WebSocket: (r) => sceneWebSocketClass({ realm: r, log: shimLog }), timers: true, consoleLines })
  // The engine loop: onUpdate every ~33 ms with dt capped at 0.1 s.
  const engine = setInterval(() => realm.frame(0.033), 33)
  t.after(async () => {
    clearInterval(engine)
    await peer.close()
  })
  const lib = realm.require('./index')
  const headerCalls = []
  realm.context.getHeaders = async (req) => {
    headerCalls.push(req)
    return { headers: { 'x-identity-timestamp': '1', 'x-identity-metadata': '{}' } }
  }
  const pending = lib.connect(peer.url, { auth: lib.signedHeadersAuth(realm.context.getHeaders), reconnect: { baseDelayMs: 50 } })
  const conn = await peer.accept()
  assert.equal((await conn.welcome()).t, 'auth')
  const client = await pending
  t.after(() => client.close())
  assert.equal(headerCalls[0].url, `${peer.url}/v1/ws`)
  const joining = client.joinOrCreate('counter')
  const req = await conn.next()
  conn.send({ t: 'joined', rid: req.rid, room: 'C', type: 'counter', seat: '0xabc', seq: 1, state: { count: 0 } })
  const room = await joining
  const counts = []
  room.onChange('count', (v) => counts.push(v))
  conn.send({ t: 'patch', room: 'C', seq: 2, ops: [[0, ['count'], 1]] })
  await until(() => counts.length === 1)
  conn.drop()
  const c2 = await peer.accept()
  c2.send({ t: 'challenge', nonce: 'n' })
  assert.deepEqual(await c2.next(), { t: 'resume', token: 'tok-1', rooms: { C: 2 } })
  c2.send({ t: 'resumed', address: '0xabc', sessionId: 's-1', resumeToken: 'tok-2', rooms: ['C'] })
  c2.send({ t: 'patch', room: 'C', seq: 3, ops: [[0, ['count'], 2]] })
  await until(() => counts.length === 2)
  assert.deepEqual(counts, [1, 2])
  assert.equal(client.status, 'open')
  assert.deepEqual(shimLog, [])
  assert.ok(!consoleLines.some((l) => l.startsWith('error:')), consoleLines.join('\n'))
})

test('in a scene without timers: the client works, and a drop ends it instead of looping', async (t) => {
  const peer = await startPeer()
  t.after(() => peer.close())
  const consoleLines = []
  const realm = sceneRealm({ WebSocket: (r) => sceneWebSocketClass({ realm: r }), consoleLines })
  const lib = realm.require('./index')
  const pending = lib.connect(peer.url, { auth: lib.ticketAuth(async () => 'tkt') })
  const conn = await peer.accept()
  await conn.welcome()
  const client = await pending
  const ended = []
  client.onClose((e) => ended.push(e.code))
  conn.drop()
  await until(() => client.status === 'closed', 2000, 'closed')
  assert.deepEqual(ended, ['closed'])
})
