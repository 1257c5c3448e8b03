//! Frame encodings: the JSON text codec (works everywhere, the scene default) and the interface a
//! binary (MessagePack) codec implements. protocol/src/codec.rs is the contract: a text frame is
//! the message as JSON, bytes are `{"$bytes":"<base64>"}`; a binary frame is the same message as
//! MessagePack.
//!
//! Must not import a MessagePack library: those touch `TextEncoder` when they load, which kills a
//! scene bundle before `onStart` (scene-runtime.md §6). The binary codec lives in `msgpack.ts`.

import { base64Decode, base64Encode } from './value'

/** Turns messages into frames and frames into messages. */
export interface Codec {
  /** Name for logs: `json`, `msgpack`. */
  readonly name: string
  /** Encodes one message; strings go out as text frames, bytes as binary frames. */
  encode(msg: object): string | Uint8Array
  /** Decodes one frame of this codec's kind; throws on malformed input. */
  decode(frame: string | Uint8Array): unknown
}

const BYTES_KEY = '$bytes'

/** JSON text frames. Bytes values travel as `{"$bytes":"<base64>"}` in both directions. */
export const jsonCodec: Codec = {
  name: 'json',
  encode(msg: object): string {
    return JSON.stringify(msg, (_key, value: unknown) =>
      value instanceof Uint8Array ? { [BYTES_KEY]: base64Encode(value) } : value
    )
  },
  decode(frame: string | Uint8Array): unknown {
    if (typeof frame !== 'string') throw new Error('the JSON codec reads text frames only')
    return JSON.parse(frame, (_key, value: unknown) => {
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        const keys = Object.keys(value)
        const b64 = (value as Record<string, unknown>)[BYTES_KEY]
        if (keys.length === 1 && keys[0] === BYTES_KEY && typeof b64 === 'string') {
          const bytes = base64Decode(b64)
          if (bytes === null) throw new Error('invalid base64 in $bytes')
          return bytes
        }
      }
      return value
    })
  }
}
