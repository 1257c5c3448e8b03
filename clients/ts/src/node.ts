//! Node helpers: sign with a real `@dcl/crypto` identity (first-frame headers, challenge answers,
//! signed fetch with `hashPayload`), MessagePack by default, and a WebSocket class found for you.
//!
//! Node-only (uses `node:crypto`, `URL`, `fetch`); never import it from a scene. `@dcl/crypto`
//! (and `ws` on Node < 22) are peer dependencies: install them beside this package.

import { createHash } from 'node:crypto'

import { Authenticator, type AuthIdentity } from '@dcl/crypto'

import type { AuthMethod } from './auth'
import { connect, type ConnectOptions, type PlazaClient } from './client'
import { msgpackCodec } from './msgpack'
import { readText, type HttpResponseLike, type SignedFetch } from './scores'
import type { SocketConstructor } from './socket'

/** Header names of a signed request (decentraland-crypto-fetch spells them this way). */
export const AUTH_CHAIN_HEADER_PREFIX = 'x-identity-auth-chain-'
export const AUTH_TIMESTAMP_HEADER = 'x-identity-timestamp'
export const AUTH_METADATA_HEADER = 'x-identity-metadata'

/**
 * The signed-fetch headers for `method path`, exactly as `decentraland-crypto-fetch` builds them:
 * payload `lower(method:path:timestamp:metadata)`, signed by the identity's ephemeral key.
 */
export function signedHeaders(
  identity: AuthIdentity,
  method: string,
  path: string,
  metadata: Record<string, unknown> = {},
  now: number = Date.now()
): Record<string, string> {
  const timestamp = String(now)
  const meta = JSON.stringify(metadata)
  const payload = [method, path, timestamp, meta].join(':').toLowerCase()
  const headers: Record<string, string> = {}
  Authenticator.signPayload(identity, payload).forEach((link, i) => {
    headers[AUTH_CHAIN_HEADER_PREFIX + i] = JSON.stringify(link)
  })
  headers[AUTH_TIMESTAMP_HEADER] = timestamp
  headers[AUTH_METADATA_HEADER] = meta
  return headers
}

/** First-frame signed headers for `GET /v1/ws`, signed with `identity` (the Node twin of `getHeaders`). */
export function identityHeadersAuth(identity: AuthIdentity, metadata: Record<string, unknown> = {}): AuthMethod {
  return {
    name: 'headers',
    async firstFrame(ctx) {
      return { t: 'auth', headers: signedHeaders(identity, 'GET', new URL(ctx.wsUrl).pathname, metadata) }
    }
  }
}

/** Answers the server's challenge with `identity` (the last link signs the nonce). */
export function identityChallengeAuth(identity: AuthIdentity): AuthMethod {
  return {
    name: 'challenge',
    async firstFrame(ctx) {
      const nonce = await ctx.challenge()
      return { t: 'answer', authChain: Authenticator.signPayload(identity, nonce) }
    }
  }
}

/** Lower-case hex SHA-256 of the UTF-8 body: the `hashPayload` that binds a signature to a body. */
export function hashPayload(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex')
}

/**
 * A `signedFetch` like the scene's: signs `method + pathname` (query excluded) with `identity`,
 * adds `hashPayload` to the metadata when there is a body, and returns `{ok, status, body}`.
 */
export function identitySignedFetch(
  identity: AuthIdentity,
  opts: { metadata?: Record<string, unknown>; fetch?: typeof fetch } = {}
): SignedFetch {
  const doFetch = opts.fetch ?? fetch
  return async ({ url, init = {} }) => {
    const method = (init.method ?? 'GET').toUpperCase()
    const body = init.body
    const metadata = { ...(opts.metadata ?? {}), ...(body ? { hashPayload: hashPayload(body) } : {}) }
    const headers = { ...(init.headers ?? {}), ...signedHeaders(identity, method, new URL(url).pathname, metadata) }
    const res = await doFetch(url, { method, headers, body })
    const text = await res.text()
    const out: HttpResponseLike = { ok: res.ok, status: res.status, body: text }
    return out
  }
}

/** A plain fetch with the `HttpResponseLike` shape. */
export async function nodeFetch(url: string): Promise<HttpResponseLike> {
  const res = await fetch(url)
  return { ok: res.ok, status: res.status, body: await readText({ ok: res.ok, status: res.status, text: () => res.text() }) }
}

/** The WebSocket class to use in Node: the global one (Node ≥ 22), else the `ws` package. */
export function nodeWebSocket(): SocketConstructor {
  const g = (globalThis as { WebSocket?: SocketConstructor }).WebSocket
  if (typeof g === 'function') return g
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('ws') as SocketConstructor
}

/** Options of `connectNode`: `connect`'s, with `identity` standing in for `auth` and `signedFetch`. */
export type NodeConnectOptions = Partial<ConnectOptions> & {
  /** Signs the handshake (first-frame headers, then the challenge as fallback) and score posts. */
  identity?: AuthIdentity
  /** Metadata put in signed requests (`hashPayload` is added for bodies). */
  metadata?: Record<string, unknown>
}

/** `connect` with Node defaults: MessagePack frames, a WebSocket class, identity-based auth. */
export function connectNode(url: string, opts: NodeConnectOptions): Promise<PlazaClient> {
  const { identity, metadata, ...rest } = opts
  const auth = rest.auth ?? (identity ? [identityHeadersAuth(identity, metadata), identityChallengeAuth(identity)] : undefined)
  if (!auth) return Promise.reject(new Error('connectNode needs opts.identity or opts.auth'))
  return connect(url, {
    ...rest,
    auth,
    WebSocket: rest.WebSocket ?? nodeWebSocket(),
    codec: rest.codec ?? msgpackCodec(),
    signedFetch: rest.signedFetch ?? (identity ? identitySignedFetch(identity, { metadata }) : undefined),
    fetch: rest.fetch ?? nodeFetch
  })
}

export { msgpackCodec }
