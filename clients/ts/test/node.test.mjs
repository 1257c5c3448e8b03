// The Node signers against @dcl/crypto's own verifier: what identitySignedFetch puts on the wire
// (captured by a local HTTP server) must validate as a signed request for exactly that method, path,
// timestamp and metadata, with hashPayload binding the body.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'

import { makeIdentity } from './support/server.mjs'

const require = createRequire(import.meta.url)
const { Authenticator } = require('@dcl/crypto')
const { identitySignedFetch, identityHeadersAuth, identityChallengeAuth, hashPayload, signedHeaders } = require('../dist/node.js')
const { scoreBody } = require('../dist/index.js')

/** Validates headers as @dcl/crypto does for a signed fetch: the chain must sign the payload. */
async function verify(headers, method, path) {
  const chain = []
  for (let i = 0; headers[`x-identity-auth-chain-${i}`]; i++) chain.push(JSON.parse(headers[`x-identity-auth-chain-${i}`]))
  const payload = [method, path, headers['x-identity-timestamp'], headers['x-identity-metadata']].join(':').toLowerCase()
  const res = await Authenticator.validateSignature(payload, chain, null)
  return { ok: res.ok, message: res.message, signer: chain[0]?.payload.toLowerCase(), payload }
}

test('signedHeaders validate with @dcl/crypto for the signed method and path only', async () => {
  const me = await makeIdentity()
  const h = signedHeaders(me.identity, 'GET', '/v1/ws', { a: 1 }, 1750000000000)
  assert.equal(h['x-identity-timestamp'], '1750000000000')
  assert.equal(h['x-identity-metadata'], '{"a":1}')
  const good = await verify(h, 'get', '/v1/ws')
  assert.equal(good.ok, true, good.message)
  assert.equal(good.signer, me.address)
  assert.equal((await verify(h, 'get', '/v1/other')).ok, false)
  assert.equal((await verify(h, 'post', '/v1/ws')).ok, false)
})

test('identityHeadersAuth signs GET with the ws URL pathname; identityChallengeAuth signs the nonce', async () => {
  const me = await makeIdentity()
  const frame = await identityHeadersAuth(me.identity).firstFrame({ wsUrl: 'ws://h:1/v1/ws?x=1', httpUrl: 'http://h:1', challenge: async () => 'n' })
  assert.equal(frame.t, 'auth')
  assert.equal((await verify(frame.headers, 'get', '/v1/ws')).ok, true)
  const answer = await identityChallengeAuth(me.identity).firstFrame({ wsUrl: '', httpUrl: '', challenge: async () => 'nonce-42' })
  assert.equal(answer.t, 'answer')
  const res = await Authenticator.validateSignature('nonce-42', answer.authChain, null)
  assert.equal(res.ok, true, res.message)
})

test('identitySignedFetch: POST signed for the pathname (query excluded) with hashPayload of the exact body', async (t) => {
  const me = await makeIdentity()
  const seen = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body })
      res.writeHead(201, { 'content-type': 'application/json' })
      res.end('{"ok":true}')
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => server.close())
  const sf = identitySignedFetch(me.identity, { metadata: { signer: 'test' } })
  const body = scoreBody({ leaderboard: 'clicks', score: 12, session: 'seat-1' })
  const res = await sf({ url: `http://127.0.0.1:${server.address().port}/v1/scores?season=1`, init: { method: 'POST', headers: { 'content-type': 'application/json' }, body } })
  assert.deepEqual({ ok: res.ok, status: res.status, body: res.body }, { ok: true, status: 201, body: '{"ok":true}' })
  const got = seen[0]
  assert.equal(got.method, 'POST')
  assert.equal(got.body, body)
  assert.equal(got.headers['content-type'], 'application/json')
  const meta = JSON.parse(got.headers['x-identity-metadata'])
  assert.equal(meta.signer, 'test')
  assert.equal(meta.hashPayload, createHash('sha256').update(body).digest('hex'))
  assert.equal(meta.hashPayload, hashPayload(body))
  const v = await verify(got.headers, 'post', '/v1/scores')
  assert.equal(v.ok, true, v.message)
  // A GET carries no body and so no hashPayload.
  await sf({ url: `http://127.0.0.1:${server.address().port}/v1/leaderboards/x`, init: { method: 'GET', headers: {} } })
  assert.equal(JSON.parse(seen[1].headers['x-identity-metadata']).hashPayload, undefined)
  assert.equal((await verify(seen[1].headers, 'get', '/v1/leaderboards/x')).ok, true)
})

test('submitScore refuses a score the server could not read exactly, before any request', async () => {
  const { submitScore } = require('../dist/index.js')
  let called = false
  const sf = async () => {
    called = true
    return { ok: true, status: 201, body: '{}' }
  }
  for (const bad of [1.5, Number.NaN, 2 ** 53, -(2 ** 53), Infinity]) {
    await assert.rejects(submitScore(sf, 'http://h', { leaderboard: 'b', score: bad, session: 's' }), (e) => e.code === 'invalid_score')
  }
  assert.equal(called, false)
  await submitScore(sf, 'http://h', { leaderboard: 'b', score: -(2 ** 53 - 1), session: 's' })
  assert.equal(called, true)
})

test('HTTP refusals become PlazaError with the server code, status and body', async () => {
  const { submitScore, readLeaderboard } = require('../dist/index.js')
  const refusal = { error: { code: 'session_unknown', rule: 'session', message: 'no such seat' } }
  const sf = async () => ({ ok: false, status: 422, body: JSON.stringify(refusal) })
  await assert.rejects(submitScore(sf, 'http://h', { leaderboard: 'b', score: 1, session: 's' }), (e) => {
    assert.equal(e.code, 'session_unknown')
    assert.equal(e.status, 422)
    assert.equal(e.message, 'no such seat')
    assert.deepEqual(e.body, refusal)
    assert.equal(e.retryable, false)
    return true
  })
  const urls = []
  const f = async (url) => {
    urls.push(url)
    return { ok: false, status: 503, text: async () => 'down' }
  }
  await assert.rejects(readLeaderboard(f, 'http://h', 'a b', { limit: 5, around: '0x1' }), (e) => e.code === 'http' && e.status === 503 && e.retryable)
  assert.deepEqual(urls, ['http://h/v1/leaderboards/a%20b?limit=5&around=0x1'])
})
