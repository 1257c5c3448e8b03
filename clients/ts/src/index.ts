//! `@plaza/client`: the Plaza client for Decentraland SDK 7 scenes and Node.
//!
//! This entry is scene-safe: it touches no `TextEncoder`, `URL`, `crypto`, `Buffer`, `setTimeout`
//! or `~system/*` module when it loads (tsconfig.scene.json type-checks it without DOM or Node
//! types, and a test loads its bundle in a context that has none of them). MessagePack and Node
//! signing live in `@plaza/client/msgpack` and `@plaza/client/node`.

export {
  connect,
  PlazaClient,
  type ClientStatus,
  type ConnectOptions,
  type LobbyHandlers,
  type ReconnectOptions
} from './client'
export { Room, type RoomHost } from './room'
export {
  challengeAuth,
  signedFetchTicketAuth,
  signedHeadersAuth,
  ticketAuth,
  type AuthContext,
  type AuthMethod,
  type GetHeaders
} from './auth'
export { jsonCodec, type Codec } from './codec'
export { PlazaError, type ClientErrorCode } from './errors'
export type { ClientMsg, Limits, RoomInfo, ServerMsg } from './messages'
export {
  readLeaderboard,
  scoreBody,
  submitScore,
  type HttpResponseLike,
  type PlainFetch,
  type ScoreClaim,
  type SignedFetch
} from './scores'
export { applyOp, applyOps, getAt, PatchError, type Op } from './state'
export type { Logger, SocketConstructor, SocketLike, Timers } from './socket'
export { endpoints, parseUrl } from './url'
export { base64Decode, base64Encode, valueEquals, type Path, type Seg, type Value, type ValueMap } from './value'
