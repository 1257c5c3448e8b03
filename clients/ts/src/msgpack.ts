//! The MessagePack codec for binary frames (Node and browsers), on `@msgpack/msgpack`.
//!
//! Kept out of the main entry on purpose: `@msgpack/msgpack` creates a `TextEncoder` when it loads,
//! which the scene runtime does not have (scene-runtime.md §6). Import `@plaza/client/msgpack` only
//! where `TextEncoder` exists. The server writes floats that fit float32 as float32; the decoder
//! widens them back to numbers, losslessly.

import { Decoder, Encoder } from '@msgpack/msgpack'

import type { Codec } from './codec'

/** A MessagePack codec; `undefined` members are left out, bytes are `bin`, maps have string keys. */
export function msgpackCodec(): Codec {
  const encoder = new Encoder({ ignoreUndefined: true })
  const decoder = new Decoder()
  return {
    name: 'msgpack',
    encode(msg: object): Uint8Array {
      // `encode` returns a view of a buffer the encoder reuses: copy it, so a queued frame is not
      // overwritten by the next one and its byteOffset is 0 (scene sockets ignore byteOffset).
      return encoder.encode(msg).slice()
    },
    decode(frame: string | Uint8Array): unknown {
      if (typeof frame === 'string') throw new Error('the MessagePack codec reads binary frames only')
      return decoder.decode(frame)
    }
  }
}
