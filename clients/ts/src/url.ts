//! Minimal URL handling without the `URL` global (the scene runtime has none): split a server URL
//! into its parts, derive the WebSocket endpoint and the HTTP base from it.
//!
//! Owns only the forms Plaza uses: `scheme://host[:port][/path][?query][#fragment]`.

/** The parts of an absolute URL. */
export interface UrlParts {
  /** Lower-cased scheme without `:` (`wss`, `https`…). */
  scheme: string
  /** `host[:port]` as written. */
  host: string
  /** The path, `/` when empty; no query or fragment. */
  path: string
}

/** Splits an absolute URL; `null` when it has no `scheme://host`. */
export function parseUrl(url: string): UrlParts | null {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]+)([^?#]*)/.exec(url.trim())
  if (!m) return null
  return { scheme: m[1].toLowerCase(), host: m[2], path: m[3] === '' ? '/' : m[3] }
}

/** The two endpoints a client needs, from one server URL. */
export interface Endpoints {
  /** `ws(s)://host/v1/ws` (or the path given, when it is not the root). */
  ws: string
  /** `http(s)://host`, no trailing slash: scores, leaderboards and tickets hang off it. */
  http: string
}

/**
 * Accepts `wss://host`, `https://host`, `wss://host/v1/ws` (and the `ws`/`http` forms) and
 * returns both endpoints; throws a message naming the bad URL otherwise.
 */
export function endpoints(url: string): Endpoints {
  const p = parseUrl(url)
  if (!p) throw new Error(`not an absolute URL: ${url}`)
  const secure = p.scheme === 'wss' || p.scheme === 'https'
  if (!secure && p.scheme !== 'ws' && p.scheme !== 'http') {
    throw new Error(`unsupported URL scheme ${p.scheme}: (use wss, ws, https or http): ${url}`)
  }
  const wsPath = p.path === '/' ? '/v1/ws' : p.path
  return {
    ws: `${secure ? 'wss' : 'ws'}://${p.host}${wsPath}`,
    http: `${secure ? 'https' : 'http'}://${p.host}`
  }
}
