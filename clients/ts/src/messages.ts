//! The wire messages, as TypeScript types. protocol/src/msg.rs is the contract: every message is a
//! map tagged by `t`, with camelCase names. Types only: nothing here runs.

import type { Op } from './state'
import type { Value, ValueMap } from './value'

/** Limits the server enforces on this session (sent in `welcome`). */
export interface Limits {
  maxFrameBytes: number
  messagesPerSecond: number
  messageBurst: number
  resumeGraceMs: number
}

/** Client → server. */
export type ClientMsg =
  | { t: 'auth'; headers: Record<string, string> }
  | { t: 'ticket'; ticket: string }
  | { t: 'answer'; authChain: unknown[] }
  | { t: 'resume'; token: string; rooms: Record<string, number> }
  | { t: 'joinOrCreate'; rid: number; type: string; filter: ValueMap; options: ValueMap }
  | { t: 'create'; rid: number; type: string; options: ValueMap; private: boolean }
  | { t: 'join'; rid: number; room: string; options: ValueMap }
  | { t: 'leave'; room: string }
  | { t: 'msg'; room: string; type: string; data: Value }
  | { t: 'req'; rid: number; room: string; type: string; data: Value }
  | { t: 'resync'; room: string }
  | { t: 'lock'; room: string }
  | { t: 'unlock'; room: string }
  | { t: 'lobby'; type?: string }
  | { t: 'unlobby' }
  | { t: 'ping'; d: number }

/** One entry of a room listing (lobby and `GET /v1/rooms`). */
export interface RoomInfo {
  room: string
  type: string
  clients: number
  maxClients: number
  locked: boolean
  metadata: ValueMap
}

/** Server → client. */
export type ServerMsg =
  | { t: 'challenge'; nonce: string }
  | { t: 'welcome'; address: string; sessionId: string; resumeToken: string; serverTime: number; limits: Limits }
  | { t: 'resumed'; address: string; sessionId: string; resumeToken: string; rooms: string[] }
  | { t: 'error'; code: string; message: string; retryable: boolean; rid?: number; room?: string }
  | { t: 'joined'; rid: number; room: string; type: string; seat: string; seq: number; state: Value }
  | { t: 'left'; room: string; reason: string }
  | { t: 'patch'; room: string; seq: number; ops: Op[] }
  | { t: 'snapshot'; room: string; seq: number; state: Value }
  | { t: 'msg'; room: string; type: string; data: Value }
  | { t: 'res'; rid: number; room: string; data: Value }
  | { t: 'lobbyList'; rooms: RoomInfo[] }
  | { t: 'lobbyUpdate'; info: RoomInfo }
  | { t: 'lobbyRemove'; room: string }
  | { t: 'pong'; d: number }
  | { t: 'shutdown'; reason: string; retryAfterMs: number }

/** Narrows a decoded frame to a message with a string tag; anything else is `null`. */
export function asServerMsg(v: unknown): ServerMsg | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null
  const t = (v as { t?: unknown }).t
  return typeof t === 'string' ? (v as ServerMsg) : null
}
