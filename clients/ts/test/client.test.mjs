// The client's side of the protocol against a scripted peer (support/peer.mjs) speaking exact
// server frames, through the scene-runtime WebSocket shim (support/scene-websocket.mjs) unless a
// test says otherwise. The real-server tests are in server.test.mjs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import WebSocketImpl from 'ws'

import { recordingLogger, startPeer, until } from './support/peer.mjs'
import { sceneWebSocketClass } from './support/scene-websocket.mjs'

const require = createRequire(import.meta.url)
const { connect, signedHeadersAuth, challengeAuth, ticketAuth, PlazaError } = require('../dist/index.js')
const { msgpackCodec } = require('../dist/msgpack.js')

const HEADERS = { 'x-identity-auth-chain-0': '{"type":"SIGNER","payload":"0xabc","signature":""}', 'x-identity-timestamp': '1', 'x-identity-metadata': '{}' }

function fakeGetHeaders(calls = []) {
  return async (req) => {
    calls.push(req)
    return { headers: HEADERS }
  }
}

async function setup(t, opts = {}) {
  const peer = await startPeer()
  const shimLog = []
  const SceneWs = sceneWebSocketClass({ log: shimLog })
  const logger = recordingLogger()
  const sockets = []
  class Tracked extends SceneWs {
    constructor(url) {
      super(url)
      sockets.push(this)
    }
  }
  const calls = []
  const pending = connect(peer.url, {
    auth: signedHeadersAuth(fakeGetHeaders(calls)),
    WebSocket: Tracked,
    logger,
    reconnect: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 5 },
    ...opts
  })
  const conn = await peer.accept()
  const first = await conn.welcome()
  const client = await pending
  t.after(async () => {
    client.close()
    await peer.close()
  })
  return { peer, conn, first, client, calls, logger, sockets, shimLog }
}

async function joinRoom(conn, client, state = { counter: 0 }, seq = 5) {
  const p = client.joinOrCreate('shared', { filter: { scene: 'a' } })
  const req = await conn.next()
  assert.equal(req.t, 'joinOrCreate')
  conn.send({ t: 'joined', rid: req.rid, room: 'R1', type: 'shared', seat: '0xabc', seq, state })
  return { room: await p, req }
}

test('scene path: getHeaders is asked for GET on the ws URL and its headers are the first (text) frame', async (t) => {
  const { first, client, calls, sockets, conn } = await setup(t)
  assert.deepEqual(calls, [{ url: `${client.httpBase.replace('http', 'ws')}/v1/ws`, init: { method: 'GET', headers: {} } }])
  assert.deepEqual(first, { t: 'auth', headers: HEADERS })
  assert.equal(client.address, '0xabc')
  assert.equal(client.sessionId, 's-1')
  assert.equal(client.status, 'open')
  assert.deepEqual(conn.formats, ['text'])
  assert.ok(sockets[0].sent.every((f) => f.kind === 'text' && typeof f.data === 'string' && f.data !== ''))
})

test('auth falls back to the next method when one cannot produce its frame or is refused', async (t) => {
  const peer = await startPeer()
  t.after(() => peer.close())
  const logger = recordingLogger()
  const pending = connect(peer.url, {
    auth: [
      signedHeadersAuth(async () => {
        throw new Error('Module system/SignedFetch not found.')
      }),
      ticketAuth(async () => 'tkt-1'),
      challengeAuth(async (nonce) => [{ type: 'SIGNER', payload: '0xabc', signature: '' }, { type: 'ECDSA_SIGNED_ENTITY', payload: nonce, signature: '0x00' }])
    ],
    WebSocket: sceneWebSocketClass(),
    logger,
    reconnect: false
  })
  // 1: getHeaders throws: the socket is closed without a frame.
  const c1 = await peer.accept()
  c1.send({ t: 'challenge', nonce: 'n1' })
  await c1.closed
  assert.equal(c1.inbox.length, 0)
  // 2: the ticket is refused by the server.
  const c2 = await peer.accept()
  c2.send({ t: 'challenge', nonce: 'n2' })
  assert.deepEqual(await c2.next(), { t: 'ticket', ticket: 'tkt-1' })
  c2.send({ t: 'error', code: 'ticket_invalid', message: 'unknown ticket', retryable: false })
  c2.close()
  // 3: the challenge answer signs this connection's nonce.
  const c3 = await peer.accept()
  const answer = await c3.welcome()
  assert.equal(answer.t, 'answer')
  assert.equal(answer.authChain[1].payload, 'n-123')
  const client = await pending
  t.after(() => client.close())
  assert.equal(client.status, 'open')
  assert.ok(logger.lines.some((l) => l.includes('auth method headers failed: auth_unavailable')))
  assert.ok(logger.lines.some((l) => l.includes('auth method ticket failed: ticket_invalid')))
})

test('connect rejects with the server refusal when every method is refused', async (t) => {
  const peer = await startPeer()
  t.after(() => peer.close())
  const pending = connect(peer.url, { auth: ticketAuth(async () => 'x'), WebSocket: sceneWebSocketClass(), logger: recordingLogger(), reconnect: false })
  const c = await peer.accept()
  await c.next()
  c.send({ t: 'error', code: 'auth_expired', message: 'timestamp outside the window', retryable: true })
  c.close()
  await assert.rejects(pending, (e) => e instanceof PlazaError && e.code === 'auth_expired' && e.retryable === true)
})

test('connect rejects with connect_failed when nothing listens', async () => {
  const peer = await startPeer()
  const url = peer.url
  await peer.close()
  await assert.rejects(
    connect(url, { auth: ticketAuth(async () => 'x'), WebSocket: sceneWebSocketClass(), logger: recordingLogger(), reconnect: false }),
    (e) => e.code === 'connect_failed'
  )
})

test('patches keep the mirror in sync; change callbacks fire per path; a gap asks for a snapshot', async (t) => {
  const { conn, client } = await setup(t)
  const { room, req } = await joinRoom(conn, client, { counter: 0, players: {} })
  assert.deepEqual(req.filter, { scene: 'a' })
  assert.equal(room.id, 'R1')
  assert.equal(room.seq, 5)
  const changes = []
  const states = []
  room.onChange('players/*/score', (v, p) => changes.push([p.join('/'), v]))
  room.onChange(['counter'], (v) => changes.push(['counter', v]))
  room.onStateChange((s) => states.push(structuredClone(s)))
  conn.send({ t: 'patch', room: 'R1', seq: 6, ops: [[0, ['counter'], 1], [0, ['players', 'a'], { score: 3 }]] })
  conn.send({ t: 'patch', room: 'R1', seq: 6, ops: [[0, ['counter'], 99]] }) // duplicate: ignored
  conn.send({ t: 'patch', room: 'R1', seq: 7, ops: [[0, ['players', 'a', 'score'], 4], [0, ['players', 'b'], { score: 1 }]] })
  await until(() => room.seq === 7, 2000, 'seq 7')
  assert.deepEqual(room.state, { counter: 1, players: { a: { score: 4 }, b: { score: 1 } } })
  assert.deepEqual(changes, [['counter', 1], ['players/a/score', 3], ['players/a/score', 4], ['players/b/score', 1]])
  assert.equal(states.length, 2)
  // seq 9 skips 8: the client asks for a resync and drops patches until the snapshot.
  conn.send({ t: 'patch', room: 'R1', seq: 9, ops: [[0, ['counter'], 9]] })
  assert.deepEqual(await conn.next(), { t: 'resync', room: 'R1' })
  conn.send({ t: 'patch', room: 'R1', seq: 10, ops: [[0, ['counter'], 10]] })
  changes.length = 0
  conn.send({ t: 'snapshot', room: 'R1', seq: 10, state: { counter: 10, players: { b: { score: 1 } } } })
  await until(() => room.seq === 10, 2000, 'snapshot')
  assert.deepEqual(room.state, { counter: 10, players: { b: { score: 1 } } })
  // Only what the snapshot changed: a removed, counter changed; b unchanged.
  assert.deepEqual(changes.sort(), [['counter', 10], ['players/a/score', undefined]])
  conn.send({ t: 'patch', room: 'R1', seq: 11, ops: [[2, ['counter'], 1]] }) // does not fit: resync
  assert.deepEqual(await conn.next(), { t: 'resync', room: 'R1' })
  assert.equal(room.seq, 10)
})

test('requests resolve with res, reject with a typed error; messages reach onMessage', async (t) => {
  const { conn, client } = await setup(t)
  const { room } = await joinRoom(conn, client)
  const got = []
  room.onMessage('chat', (d) => got.push(d))
  room.onMessage('*', (d, type) => got.push(type))
  const r1 = room.request('add', { n: 2 })
  const q1 = await conn.next()
  assert.deepEqual({ ...q1, rid: 0 }, { t: 'req', rid: 0, room: 'R1', type: 'add', data: { n: 2 } })
  const r2 = room.request('boom', null)
  const q2 = await conn.next()
  conn.send({ t: 'error', rid: q2.rid, room: 'R1', code: 'logic_refused', message: 'no', retryable: false })
  conn.send({ t: 'res', rid: q1.rid, room: 'R1', data: { total: 2 } })
  conn.send({ t: 'msg', room: 'R1', type: 'chat', data: 'hi' })
  assert.deepEqual(await r1, { total: 2 })
  await assert.rejects(r2, (e) => e instanceof PlazaError && e.code === 'logic_refused' && e.room === 'R1')
  await until(() => got.length === 2, 2000, 'messages')
  assert.deepEqual(got, ['hi', 'chat'])
  assert.equal(room.send('move', { x: 1 }), true)
  assert.deepEqual(await conn.next(), { t: 'msg', room: 'R1', type: 'move', data: { x: 1 } })
  const left = room.leave()
  assert.deepEqual(await conn.next(), { t: 'leave', room: 'R1' })
  conn.send({ t: 'left', room: 'R1', reason: 'left' })
  assert.equal(await left, 'left')
  assert.equal(room.joined, false)
  assert.equal(client.rooms.size, 0)
  assert.equal(room.send('move', {}), false)
})

test('lobby: list, update, remove keep lobbyRooms current; unsubscribing sends unlobby', async (t) => {
  const { conn, client } = await setup(t)
  const seen = []
  const stop = client.lobby('shared', {
    onList: (rooms) => seen.push(['list', rooms.map((r) => r.room)]),
    onUpdate: (info) => seen.push(['update', info.room, info.clients]),
    onRemove: (id) => seen.push(['remove', id])
  })
  assert.deepEqual(await conn.next(), { t: 'lobby', type: 'shared' })
  const info = (room, clients) => ({ room, type: 'shared', clients, maxClients: 8, locked: false, metadata: {} })
  conn.send({ t: 'lobbyList', rooms: [info('A', 1), info('B', 2)] })
  conn.send({ t: 'lobbyUpdate', info: info('A', 3) })
  conn.send({ t: 'lobbyUpdate', info: info('C', 1) })
  conn.send({ t: 'lobbyRemove', room: 'B' })
  await until(() => seen.length === 4, 2000, 'lobby events')
  assert.deepEqual(seen, [['list', ['A', 'B']], ['update', 'A', 3], ['update', 'C', 1], ['remove', 'B']])
  assert.deepEqual([...client.lobbyRooms.keys()].sort(), ['A', 'C'])
  assert.equal(client.lobbyRooms.get('A').clients, 3)
  stop()
  assert.deepEqual(await conn.next(), { t: 'unlobby' })
  assert.equal(client.lobbyRooms.size, 0)
})

test('a message over the announced maxFrameBytes is refused locally, the connection stays up', async (t) => {
  const { conn, client } = await setup(t)
  const { room } = await joinRoom(conn, client)
  const errors = []
  client.onError((e) => errors.push(e.code))
  // welcome announced maxFrameBytes 65536; 'é' is 2 bytes in UTF-8, so 40k of them is 80 KB.
  assert.equal(room.send('big', 'é'.repeat(40_000)), false)
  assert.deepEqual(errors, ['frame_too_large'])
  await assert.rejects(room.request('big', 'x'.repeat(70_000)), (e) => e.code === 'frame_too_large')
  assert.equal(room.send('small', 'é'.repeat(1000)), true)
  assert.equal((await conn.next()).type, 'small')
  assert.equal(client.status, 'open')
})

test('utf8Length counts UTF-8 bytes like Buffer.byteLength', () => {
  const { utf8Length } = require('../dist/client.js')
  for (const s of ['', 'abc', 'é', '€', '🎮', 'a\u{10FFFF}b', '\uD800', '\uDC00x', 'プラザ héllo 🎮']) {
    assert.equal(utf8Length(s), Buffer.byteLength(s, 'utf8'), JSON.stringify(s))
  }
})

test('a join that answers after its timeout is left at once (no orphan seat)', async (t) => {
  const { conn, client } = await setup(t)
  const p = client.joinOrCreate('shared', { timeoutMs: 30 })
  const req = await conn.next()
  await assert.rejects(p, (e) => e.code === 'timeout')
  conn.send({ t: 'joined', rid: req.rid, room: 'LATE', type: 'shared', seat: 's', seq: 0, state: {} })
  assert.deepEqual(await conn.next(), { t: 'leave', room: 'LATE' })
  assert.equal(client.rooms.size, 0)
})

test('a request with no answer times out', async (t) => {
  const { conn, client } = await setup(t)
  const { room } = await joinRoom(conn, client)
  const r = room.request('slow', null, { timeoutMs: 50 })
  await conn.next()
  await assert.rejects(r, (e) => e.code === 'timeout')
})

test('after a dropped TCP connection the client resumes with its token and room seqs, then flushes queued sends', async (t) => {
  const { peer, conn, client, sockets, shimLog } = await setup(t)
  const { room } = await joinRoom(conn, client, { counter: 0 }, 5)
  conn.send({ t: 'patch', room: 'R1', seq: 6, ops: [[0, ['counter'], 1]] })
  await until(() => room.seq === 6)
  const reconnected = []
  client.onReconnect((resumed) => reconnected.push(resumed))
  conn.drop() // scene shim: onerror only, never onclose (§3.9)
  await until(() => client.status === 'reconnecting', 2000, 'reconnecting')
  assert.equal(room.send('a', 1), true) // queued
  assert.equal(room.send('b', 2), true)
  const c2 = await peer.accept()
  c2.send({ t: 'challenge', nonce: 'n2' })
  assert.deepEqual(await c2.next(), { t: 'resume', token: 'tok-1', rooms: { R1: 6 } })
  // As the gateway does: the missed patches first, then `resumed`.
  c2.send({ t: 'patch', room: 'R1', seq: 7, ops: [[0, ['counter'], 2]] })
  c2.send({ t: 'resumed', address: '0xabc', sessionId: 's-1', resumeToken: 'tok-2', rooms: ['R1'] })
  assert.deepEqual(await c2.next(), { t: 'msg', room: 'R1', type: 'a', data: 1 })
  assert.deepEqual(await c2.next(), { t: 'msg', room: 'R1', type: 'b', data: 2 })
  await until(() => room.seq === 7)
  assert.deepEqual(room.state, { counter: 2 })
  assert.deepEqual(reconnected, [true])
  assert.equal(room.joined, true)
  // The old socket was never close()d in a state where the shim throws.
  assert.equal(sockets.length, 2)
  assert.deepEqual(shimLog.filter((l) => l.includes('cannot close')), [])
  // The fresh token is used next time: a server close (close frame; readyState stuck at 2).
  c2.close()
  const c3 = await peer.accept()
  c3.send({ t: 'challenge', nonce: 'n3' })
  assert.deepEqual(await c3.next(), { t: 'resume', token: 'tok-2', rooms: { R1: 7 } })
  c3.send({ t: 'resumed', address: '0xabc', sessionId: 's-1', resumeToken: 'tok-3', rooms: [] })
  await until(() => !room.joined, 2000, 'room lost')
  assert.equal(sockets[1].readyState, 2)
  assert.deepEqual(shimLog.filter((l) => l.includes('cannot close')), [])
})

test('a refused resume starts a fresh session and the rooms are left with resume_failed', async (t) => {
  const { peer, conn, client } = await setup(t)
  const { room } = await joinRoom(conn, client)
  const reasons = []
  room.onLeave((r) => reasons.push(r))
  conn.drop()
  const c2 = await peer.accept()
  c2.send({ t: 'challenge', nonce: 'n2' })
  assert.equal((await c2.next()).t, 'resume')
  c2.send({ t: 'error', code: 'resume_expired', message: 'no such session', retryable: false })
  c2.close()
  const c3 = await peer.accept()
  assert.equal((await c3.welcome({ token: 'tok-9', session: 's-2' })).t, 'auth')
  await until(() => client.status === 'open' && client.sessionId === 's-2', 2000, 'fresh session')
  assert.deepEqual(reasons, ['resume_failed'])
  assert.equal(client.rooms.size, 0)
})

test('a retryable refusal of a resume keeps the token and tries again later', async (t) => {
  const { peer, conn, client } = await setup(t)
  const { room } = await joinRoom(conn, client)
  conn.drop()
  const c2 = await peer.accept()
  c2.send({ t: 'challenge', nonce: 'n2' })
  assert.deepEqual(await c2.next(), { t: 'resume', token: 'tok-1', rooms: { R1: 5 } })
  c2.send({ t: 'error', code: 'too_many_connections_wallet', message: 'limit', retryable: true })
  c2.close()
  const c3 = await peer.accept()
  c3.send({ t: 'challenge', nonce: 'n3' })
  assert.deepEqual(await c3.next(), { t: 'resume', token: 'tok-1', rooms: { R1: 5 } })
  c3.send({ t: 'resumed', address: '0xabc', sessionId: 's-1', resumeToken: 'tok-2', rooms: ['R1'] })
  await until(() => client.status === 'open', 2000, 'resumed')
  assert.equal(room.joined, true)
})

test('the send queue is bounded while reconnecting', async (t) => {
  const { peer, conn, client } = await setup(t, { maxQueued: 2 })
  const { room } = await joinRoom(conn, client)
  const errors = []
  client.onError((e) => errors.push(e.code))
  conn.drop()
  await until(() => client.status === 'reconnecting')
  assert.equal(room.send('m', 1), true)
  assert.equal(room.send('m', 2), true)
  assert.equal(room.send('m', 3), false)
  assert.deepEqual(errors, ['queue_full'])
  const r = room.request('q', null)
  await assert.rejects(r, (e) => e.code === 'queue_full')
  await peer.accept() // let the reconnection proceed, then end it
})

test('a session taken over by another connection (replaced) ends the client instead of fighting back', async (t) => {
  const { peer, conn, client } = await setup(t)
  const { room } = await joinRoom(conn, client)
  const ended = []
  client.onClose((e) => ended.push(e.code))
  conn.send({ t: 'error', code: 'replaced', message: 'this session was resumed on another connection', retryable: false })
  conn.close()
  await until(() => client.status === 'closed', 2000, 'closed')
  assert.deepEqual(ended, ['replaced'])
  assert.equal(room.joined, false)
  await assert.rejects(peer.accept(300), /no connection/)
})

test('close() during a reconnection handshake: the late resumed does not revive the client', async (t) => {
  const { peer, conn, client } = await setup(t)
  conn.drop()
  const c2 = await peer.accept()
  c2.send({ t: 'challenge', nonce: 'n2' })
  assert.equal((await c2.next()).t, 'resume')
  const pinged = client.ping()
  client.close()
  await assert.rejects(pinged, (e) => e.code === 'closed')
  c2.send({ t: 'resumed', address: '0xabc', sessionId: 's-1', resumeToken: 'tok-2', rooms: [] })
  await c2.closed // the client closes the socket it no longer wants
  assert.equal(client.status, 'closed')
})

test('a throwing application callback does not stop message delivery (scene receive loop)', async (t) => {
  const { conn, client, logger, shimLog } = await setup(t)
  const { room } = await joinRoom(conn, client)
  room.onStateChange(() => {
    throw new Error('app bug')
  })
  conn.send({ t: 'patch', room: 'R1', seq: 6, ops: [[0, ['counter'], 1]] })
  conn.send({ t: 'patch', room: 'R1', seq: 7, ops: [[0, ['counter'], 2]] })
  await until(() => room.seq === 7, 2000, 'both patches')
  assert.ok(logger.lines.some((l) => l.includes('onStateChange callback threw: app bug')))
  assert.deepEqual(shimLog, [])
})

test('shutdown: the client waits retryAfterMs before reconnecting', async (t) => {
  const { peer, conn, client } = await setup(t)
  conn.send({ t: 'shutdown', reason: 'deploy', retryAfterMs: 300 })
  await new Promise((r) => setTimeout(r, 20))
  const dropped = Date.now()
  conn.close()
  const c2 = await peer.accept()
  assert.ok(Date.now() - dropped >= 280, `reconnected after ${Date.now() - dropped} ms`)
  c2.send({ t: 'challenge', nonce: 'n' })
  assert.equal((await c2.next()).t, 'resume')
  assert.equal(client.status, 'reconnecting')
})

test('Node path: MessagePack binary frames both ways', async (t) => {
  const peer = await startPeer()
  t.after(() => peer.close())
  const pending = connect(peer.url, { auth: ticketAuth(async () => 't'), WebSocket: WebSocketImpl, codec: msgpackCodec(), logger: recordingLogger() })
  const conn = await peer.accept()
  conn.send({ t: 'challenge', nonce: 'n' }, 'binary')
  assert.deepEqual(await conn.next(), { t: 'ticket', ticket: 't' })
  conn.send({ t: 'welcome', address: '0xabc', sessionId: 's', resumeToken: 'k', serverTime: 1, limits: {} }, 'binary')
  const client = await pending
  t.after(() => client.close())
  const p = client.join('R9', { options: { blob: new Uint8Array([1, 2, 3]) } })
  const req = await conn.next()
  assert.deepEqual(new Uint8Array(req.options.blob), new Uint8Array([1, 2, 3]))
  conn.send({ t: 'joined', rid: req.rid, room: 'R9', type: 'shared', seat: 's', seq: 0, state: { f: 1.5, b: new Uint8Array([9]) } }, 'binary')
  const room = await p
  assert.deepEqual(room.state, { f: 1.5, b: new Uint8Array([9]) })
  assert.ok(conn.formats.every((f) => f === 'binary'))
})
