//! How a client proves who it is: each `AuthMethod` produces the first frame of a connection.
//! `connect` tries the methods in the order given and falls back to the next one when a method
//! cannot produce its frame or the server refuses it.
//!
//! Scene-safe: no signing here (a scene signs through `~system/SignedFetch`, passed in as a
//! function so this package never imports `~system/*`). Node signers live in `node.ts`.

import type { ClientMsg } from './messages'
import type { SignedFetch } from './scores'
import { readJson } from './scores'

/** What an auth method gets to build its first frame. */
export interface AuthContext {
  /** The WebSocket URL being opened (`wss://host/v1/ws`): what signed headers must be signed for. */
  wsUrl: string
  /** The HTTP base URL (`https://host`), for tickets. */
  httpUrl: string
  /** Resolves with the nonce of the server's `challenge` frame. */
  challenge(): Promise<string>
}

/** One way to authenticate. */
export interface AuthMethod {
  /** For logs and errors: `headers`, `ticket`, `challenge`. */
  readonly name: string
  /** Builds the first frame; may throw/reject when the method is not available here. */
  firstFrame(ctx: AuthContext): Promise<ClientMsg>
}

/** The shape of `getHeaders` from `~system/SignedFetch`. */
export type GetHeaders = (req: {
  url: string
  init: { method: string; headers: Record<string, string> }
}) => Promise<{ headers: Record<string, string> }>

/**
 * Signed headers for `GET /v1/ws` in the first frame: the scene path. Pass `getHeaders` from
 * `~system/SignedFetch`. The explorer signs the URL's path (query dropped) with the player's
 * ephemeral key; `init.headers` is given (empty) because the runtime's typings require it.
 */
export function signedHeadersAuth(getHeaders: GetHeaders): AuthMethod {
  return {
    name: 'headers',
    async firstFrame(ctx) {
      const res = await getHeaders({ url: ctx.wsUrl, init: { method: 'GET', headers: {} } })
      const headers: Record<string, string> = {}
      const raw = res && typeof res === 'object' ? res.headers : undefined
      if (!raw || typeof raw !== 'object') throw new Error('getHeaders returned no headers')
      // Every value must be the exact signed string: anything else would not verify anyway.
      for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') headers[k] = v
      return { t: 'auth', headers }
    }
  }
}

/** A ticket from a function of yours (e.g. fetched by your own backend) in the first frame. */
export function ticketAuth(getTicket: () => Promise<string>): AuthMethod {
  return {
    name: 'ticket',
    async firstFrame() {
      const ticket = await getTicket()
      if (typeof ticket !== 'string' || ticket === '') throw new Error('no ticket')
      return { t: 'ticket', ticket }
    }
  }
}

/**
 * A ticket from `POST /v1/auth/ticket`, obtained with a signed fetch: the fallback for runtimes
 * that have `signedFetch` but no `getHeaders`.
 */
export function signedFetchTicketAuth(signedFetch: SignedFetch): AuthMethod {
  return {
    name: 'ticket',
    async firstFrame(ctx) {
      const res = await signedFetch({ url: `${ctx.httpUrl}/v1/auth/ticket`, init: { method: 'POST', headers: {} } })
      const body = (await readJson(res)) as { ticket?: unknown } | null
      if (!res.ok || !body || typeof body.ticket !== 'string') {
        throw new Error(`ticket request failed with HTTP ${res.status}`)
      }
      return { t: 'ticket', ticket: body.ticket }
    }
  }
}

/** Answers the server's challenge with an auth chain whose last link signs the nonce. */
export function challengeAuth(signChallenge: (nonce: string) => Promise<unknown[]> | unknown[]): AuthMethod {
  return {
    name: 'challenge',
    async firstFrame(ctx) {
      const nonce = await ctx.challenge()
      const authChain = await signChallenge(nonce)
      if (!Array.isArray(authChain)) throw new Error('signChallenge did not return an auth chain')
      return { t: 'answer', authChain }
    }
  }
}
