// The client against a real `plaza serve` (started here from ../../target/debug/plaza) with real
// @dcl/crypto identities: handshakes, rooms converging with the server's own view, requests,
// resume after a dropped TCP connection, scores accepted and replays refused — over MessagePack
// (Node) and over JSON text frames through the scene-runtime WebSocket shim.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

import { until } from './support/peer.mjs'
import { startProxy } from './support/proxy.mjs'
import { sceneWebSocketClass } from './support/scene-websocket.mjs'
import { acceptsConfig, explorerGetHeaders, makeIdentity, serverUnavailable, startServer } from './support/server.mjs'

const require = createRequire(import.meta.url)
const { connect, signedHeadersAuth, submitScore, valueEquals, PlazaError } = require('../dist/index.js')
const { connectNode, identityChallengeAuth, identitySignedFetch, signedHeaders } = require('../dist/node.js')

const SCORES_CONFIG = `
[[scores.leaderboards]]
id = "clicks"
`

const unavailable = serverUnavailable()
if (unavailable) console.log(`\n!! ${unavailable}: the real-server tests below are skipped\n`)
// The scores module may land after the gateway and rooms: a build whose config has no
// leaderboards cannot run the score tests (said loudly); any other failure still fails.
const scoresCheck = unavailable ? { ok: false, output: unavailable } : acceptsConfig(SCORES_CONFIG)
const noScores = scoresCheck.ok ? null : `SKIPPED: this plaza build refuses a [[scores.leaderboards]] config (${scoresCheck.output.split('\n')[0]})`
if (!unavailable && noScores) console.log(`\n!! ${noScores}: the score tests below are skipped\n`)
let server = null
const opened = []

before(async () => {
  if (!unavailable) server = await startServer({ config: noScores ? '' : SCORES_CONFIG })
})

after(async () => {
  for (const c of opened) c.close()
  if (server) await server.stop()
})

/** A test that needs the real server; skipped (loudly, above) when the binary cannot serve. */
function serverTest(name, fn) {
  test(name, { skip: unavailable ?? false }, fn)
}

/** A test that also needs the scores module. */
function scoresTest(name, fn) {
  test(name, { skip: unavailable ?? noScores ?? false }, fn)
}

async function nodeClient(opts = {}) {
  const me = opts.me ?? (await makeIdentity())
  const client = await connectNode(opts.url ?? server.ws, { identity: me.identity, logger: quiet(), ...opts.connect })
  opened.push(client)
  return { client, me }
}

function quiet() {
  const lines = []
  return { lines, log: (m) => lines.push(m), error: (m) => lines.push(`error: ${m}`) }
}

/** The server's document of `room`, through the shared room's `get` request. */
function serverView(room) {
  return room.request('get', { path: [] })
}

async function converged(room, view, what) {
  try {
    await until(() => valueEquals(room.state, view), 5000, `${what} to converge`)
  } catch (e) {
    throw new Error(`${e.message}; mirror ${JSON.stringify(room.state)} vs server ${JSON.stringify(view)}`)
  }
}

serverTest('Node: first-frame signed headers from a real @dcl/crypto identity, MessagePack frames', async () => {
  const { client, me } = await nodeClient()
  assert.equal(client.status, 'open')
  assert.equal(client.address, me.address)
  assert.ok(client.sessionId.length > 0)
  assert.ok(client.limits && client.limits.maxFrameBytes >= 1024)
  assert.ok((await client.ping()) >= 0)
})

serverTest('Node: the challenge handshake with a real identity', async () => {
  const me = await makeIdentity()
  const { client } = await nodeClient({ me, connect: { auth: identityChallengeAuth(me.identity) } })
  assert.equal(client.address, me.address)
})

serverTest('a bad signature is refused with the server error, not a hang', async () => {
  const me = await makeIdentity()
  const other = await makeIdentity()
  const forged = {
    name: 'headers',
    async firstFrame(ctx) {
      const h = signedHeaders(me.identity, 'GET', new URL(ctx.wsUrl).pathname, {})
      // Claim another wallet in the chain: the signatures no longer match.
      h['x-identity-auth-chain-0'] = JSON.stringify({ type: 'SIGNER', payload: other.wallet.address, signature: '' })
      return { t: 'auth', headers: h }
    }
  }
  await assert.rejects(connectNode(server.ws, { auth: forged, logger: quiet(), reconnect: false }), (e) => {
    assert.ok(e instanceof PlazaError)
    assert.notEqual(e.code, 'connect_failed')
    assert.notEqual(e.code, 'handshake_timeout')
    return true
  })
})

serverTest('two clients in one shared room converge with the server view; requests answer or refuse', async () => {
  const a = await nodeClient()
  const b = await nodeClient()
  const filter = { scene: `converge-${Date.now()}` }
  const ra = await a.client.joinOrCreate('shared', { filter })
  const rb = await b.client.joinOrCreate('shared', { filter })
  assert.equal(ra.id, rb.id)
  const changes = []
  rb.onChange('board/counter', (v) => changes.push(v))
  for (let i = 1; i <= 5; i++) ra.send('set', { path: 'board/counter', value: i })
  ra.send('set', { path: ['players', a.me.address, 'pos'], value: [1.5, 2.25, 0] })
  rb.send('set', { path: ['players', b.me.address, 'pos'], value: [3, 4, 0] })
  ra.send('set', { path: 'board/list', value: [] })
  ra.send('push', { path: 'board/list', value: 'x' })
  ra.send('push', { path: 'board/list', value: { deep: [true, null, 'é🎮'] } })
  ra.send('set', { path: 'board/tmp', value: 1 })
  ra.send('del', { path: 'board/tmp' })
  rb.send('set', { path: 'board/bytes', value: new Uint8Array([0, 255, 7]) })
  // A request after each client's writes is answered once they are applied (one connection's
  // messages reach the room in order; two connections' do not race past this point).
  assert.equal(await ra.request('get', { path: 'board/counter' }), 5)
  assert.deepEqual(await rb.request('get', { path: 'board/bytes' }), new Uint8Array([0, 255, 7]))
  const view = await serverView(ra)
  assert.equal(view.board.counter, 5)
  assert.deepEqual(view.board.list, ['x', { deep: [true, null, 'é🎮'] }])
  await converged(ra, view, 'client A')
  await converged(rb, view, 'client B')
  assert.equal(changes[changes.length - 1], 5)
  // Refusals come back as typed errors with the server's code.
  await assert.rejects(rb.request('set', { path: ['players', a.me.address, 'pos'], value: 0 }), (e) => e instanceof PlazaError && e.code === 'write_refused')
  await assert.rejects(rb.request('nope', {}), (e) => e instanceof PlazaError && e.code === 'invalid_message')
  await assert.rejects(a.client.join('no-such-room'), (e) => e instanceof PlazaError && e.code === 'room_not_found')
  assert.equal(await rb.leave(), 'left')
  assert.equal(rb.joined, false)
})

serverTest('after a dropped TCP connection the client resumes its session and its room catches up', async (t) => {
  const proxy = await startProxy(server.port)
  t.after(() => proxy.close())
  const a = await nodeClient({ url: `ws://127.0.0.1:${proxy.port}`, connect: { reconnect: { baseDelayMs: 50, maxDelayMs: 200 } } })
  const writer = await nodeClient()
  const filter = { scene: `resume-${Date.now()}` }
  const ra = await a.client.joinOrCreate('shared', { filter })
  const rw = await writer.client.joinOrCreate('shared', { filter })
  const session = a.client.sessionId
  const resumed = []
  a.client.onReconnect((r) => resumed.push(r))
  await rw.request('set', { path: 'board/n', value: 1 })
  await until(() => ra.state?.board?.n === 1)
  assert.ok(proxy.cutAll() >= 1)
  // While A is away: the room moves on, and A queues a write.
  await rw.request('set', { path: 'board/n', value: 2 })
  await rw.request('set', { path: 'board/m', value: 'while away' })
  await until(() => a.client.status !== 'open', 2000, 'drop noticed')
  assert.equal(ra.send('set', { path: 'board/queued', value: true }), true)
  await until(() => resumed.length === 1, 10_000, 'resume')
  assert.deepEqual(resumed, [true])
  assert.equal(a.client.sessionId, session)
  assert.equal(ra.joined, true)
  await until(() => ra.state?.board?.queued === true, 5000, 'queued write applied')
  const view = await serverView(rw)
  assert.equal(view.board.n, 2)
  await converged(ra, view, 'resumed client')
})

/**
 * Runs a score submission, retrying while the server does not know the seat yet: seats are
 * written to the store from room events, asynchronously, so a claim made right after the join
 * can arrive first. Any other outcome is returned or thrown at once.
 */
async function whenSeatKnown(submit) {
  const end = Date.now() + 5000
  for (;;) {
    try {
      return await submit()
    } catch (e) {
      if (e.code !== 'session_unknown' || Date.now() > end) throw e
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

scoresTest('scores: a signed submission is accepted; the same request replayed is refused', async () => {
  const { client, me } = await nodeClient()
  const room = await client.joinOrCreate('shared', { filter: { scene: `score-${Date.now()}` } })
  const sent = []
  const recordingFetch = async (url, init) => {
    sent.push({ url, init: { ...init, headers: { ...init.headers } } })
    return fetch(url, init)
  }
  const sf = identitySignedFetch(me.identity, { fetch: recordingFetch })
  const entry = await whenSeatKnown(() => submitScore(sf, server.http, { leaderboard: 'clicks', score: 7, session: room.seat }))
  assert.ok(entry, 'the server returns the stored entry')
  const accepted = sent[sent.length - 1]
  const { init } = accepted
  assert.equal(JSON.parse(init.headers['x-identity-metadata']).hashPayload.length, 64)
  // Byte-for-byte replay of the accepted request.
  const replay = await fetch(accepted.url, init)
  assert.equal(replay.ok, false)
  assert.equal(replay.status, 401, await replay.text())
  // The board shows the score.
  const board = await client.leaderboard('clicks')
  assert.ok(board.entries.some((e) => e.address === me.address && e.value === 7), JSON.stringify(board))
})

scoresTest('scores through the client: accepted, then a second claim for the same session is refused', async () => {
  const { client } = await nodeClient()
  const room = await client.joinOrCreate('shared', { filter: { scene: `score2-${Date.now()}` } })
  await whenSeatKnown(() => client.submitScore('clicks', 3, room.seat))
  await assert.rejects(client.submitScore('clicks', 4, room.seat), (e) => e instanceof PlazaError && e.status === 409 && e.code === 'session_duplicate')
  await assert.rejects(client.submitScore('clicks', 1.5, room.seat), (e) => e.code === 'invalid_score')
  await assert.rejects(client.submitScore('no-such-board', 1, room.seat), (e) => e.status === 404)
})

serverTest('scene shim: explorer-style getHeaders, JSON text frames, convergence, and resume after a TCP drop', async (t) => {
  const proxy = await startProxy(server.port)
  t.after(() => proxy.close())
  const me = await makeIdentity()
  const shimLog = []
  const SceneWs = sceneWebSocketClass({ log: shimLog })
  const sockets = []
  class Tracked extends SceneWs {
    constructor(url) {
      super(url)
      sockets.push(this)
    }
  }
  const client = await connect(`ws://127.0.0.1:${proxy.port}`, {
    auth: signedHeadersAuth(explorerGetHeaders(me.identity, signedHeaders)),
    WebSocket: Tracked,
    logger: quiet(),
    reconnect: { baseDelayMs: 50, maxDelayMs: 200 }
  })
  opened.push(client)
  assert.equal(client.address, me.address)
  const filter = { scene: `scene-${Date.now()}` }
  const room = await client.joinOrCreate('shared', { filter })
  const other = await nodeClient()
  const ro = await other.client.joinOrCreate('shared', { filter })
  assert.equal(room.send('set', { path: 'board/text', value: 'héllo' }), true)
  assert.equal(await room.request('get', { path: 'board/text' }), 'héllo') // the send is applied
  await ro.request('set', { path: 'board/bin', value: new Uint8Array([1, 2, 3]) })
  await converged(room, await serverView(ro), 'scene client')
  assert.ok(room.state.board.bin instanceof Uint8Array)
  proxy.cutAll() // the shim reports onerror only (§3.9)
  await ro.request('set', { path: 'board/after', value: 1 })
  await until(() => client.status === 'open' && sockets.length === 2 && room.state?.board?.after === 1, 10_000, 'scene resume')
  await converged(room, await serverView(ro), 'scene client after resume')
  // Only non-empty text frames ever went out, and the shim never had to refuse a close().
  for (const s of sockets) assert.ok(s.sent.every((f) => f.kind === 'text' && f.data.length > 0))
  assert.deepEqual(shimLog, [])
})
