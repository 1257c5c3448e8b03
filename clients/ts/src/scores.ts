//! Scores and leaderboards over HTTP: `POST /v1/scores` through a signed fetch, and
//! `GET /v1/leaderboards/{id}` through a plain fetch.
//!
//! Owns the request shapes and the error mapping (the server answers every refusal with
//! `{"error":{"code","rule","message"}}`). Must not sign anything itself: inside a scene the
//! explorer's `signedFetch` signs and adds `hashPayload`; in Node, `node.ts` supplies one that does.

import { PlazaError } from './errors'

/** The response shape both the scene's `signedFetch`/`fetch` and Node's `fetch` can provide. */
export interface HttpResponseLike {
  ok: boolean
  status: number
  /** The body as text (the scene's `signedFetch` gives it this way). */
  body?: unknown
  /** The body as text (Node and the scene's `fetch`). */
  text?: () => Promise<string>
}

/** The shape of `signedFetch` from `~system/SignedFetch` (its typings make `init.headers` mandatory). */
export type SignedFetch = (req: {
  url: string
  init?: { method?: string; headers: Record<string, string>; body?: string }
}) => Promise<HttpResponseLike>

/** A plain `fetch` (GET only is needed). */
export type PlainFetch = (url: string) => Promise<HttpResponseLike>

/** A score claim as the server reads it. */
export interface ScoreClaim {
  leaderboard: string
  score: number
  session: string
}

/** Reads a response body as text, whichever way the runtime exposes it. */
export async function readText(res: HttpResponseLike): Promise<string> {
  if (typeof res.body === 'string') return res.body
  if (typeof res.text === 'function') return res.text()
  return ''
}

/** Reads a JSON body; `null` when it is empty or not JSON. */
export async function readJson(res: HttpResponseLike): Promise<unknown> {
  const text = await readText(res)
  if (text === '') return null
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

/** Turns a failed response into a `PlazaError` carrying the server's code when it sent one. */
export async function httpError(res: HttpResponseLike, what: string): Promise<PlazaError> {
  const body = await readJson(res)
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error
  const code = typeof e?.code === 'string' ? e.code : 'http'
  const message = typeof e?.message === 'string' ? e.message : `${what} failed with HTTP ${res.status}`
  return new PlazaError(code, message, {
    status: res.status,
    body,
    retryable: res.status === 429 || res.status >= 500
  })
}

/** The largest score a client can send exactly (the server refuses anything beyond). */
const MAX_SCORE = 9007199254740991

/** The exact body `submitScore` sends, so callers (and tests) can reproduce it. */
export function scoreBody(claim: ScoreClaim): string {
  return JSON.stringify({ leaderboard: claim.leaderboard, score: claim.score, session: claim.session })
}

/** `POST /v1/scores`; resolves with the stored entry, rejects with a `PlazaError`. */
export async function submitScore(signedFetch: SignedFetch, httpUrl: string, claim: ScoreClaim): Promise<unknown> {
  if (!Number.isInteger(claim.score) || Math.abs(claim.score) > MAX_SCORE) {
    throw new PlazaError('invalid_score', `score must be an integer within ±(2^53-1), got ${claim.score}`)
  }
  const res = await signedFetch({
    url: `${httpUrl}/v1/scores`,
    init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: scoreBody(claim) }
  })
  if (!res.ok) throw await httpError(res, 'score submission')
  return readJson(res)
}

/** `GET /v1/leaderboards/{id}?…`; resolves with the parsed body. */
export async function readLeaderboard(
  fetch: PlainFetch,
  httpUrl: string,
  id: string,
  query: Record<string, string | number | boolean> = {}
): Promise<unknown> {
  const qs = Object.keys(query)
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(String(query[k]))}`)
    .join('&')
  const res = await fetch(`${httpUrl}/v1/leaderboards/${encodeURIComponent(id)}${qs ? `?${qs}` : ''}`)
  if (!res.ok) throw await httpError(res, 'leaderboard read')
  return readJson(res)
}
