// Frame codecs against the contract of protocol/src/codec.rs and state/value.rs: JSON text frames
// with {"$bytes": base64}, MessagePack binary frames (float32 widened, bin → Uint8Array).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { jsonCodec, base64Encode, base64Decode, endpoints, parseUrl, valueEquals } = require('../dist/index.js')
const { msgpackCodec } = require('../dist/msgpack.js')

test('base64 round-trips every length and refuses malformed text', () => {
  for (let n = 0; n < 40; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255)
    const text = base64Encode(bytes)
    assert.equal(text, Buffer.from(bytes).toString('base64'))
    assert.deepEqual(base64Decode(text), bytes)
  }
  for (const bad of ['abc', 'ab=c', '=abc', 'a===', 'ab$d', 'YQ==YQ==']) assert.equal(base64Decode(bad), null, bad)
})

test('JSON codec: bytes travel as {"$bytes": …} both ways; other one-key maps stay maps', () => {
  const msg = { t: 'msg', room: 'r', type: 'blob', data: { raw: new Uint8Array([0, 1, 254, 255]), n: 1.5 } }
  const text = jsonCodec.encode(msg)
  assert.equal(text, '{"t":"msg","room":"r","type":"blob","data":{"raw":{"$bytes":"AAH+/w=="},"n":1.5}}')
  const back = jsonCodec.decode(text)
  assert.ok(back.data.raw instanceof Uint8Array)
  assert.ok(valueEquals(back, msg))
  assert.deepEqual(jsonCodec.decode('{"a":{"$bytes":1},"b":{"$bytes":"AA==","x":1}}'), {
    a: { $bytes: 1 },
    b: { $bytes: 'AA==', x: 1 }
  })
  assert.throws(() => jsonCodec.decode('{"a":{"$bytes":"@@@@"}}'), /invalid base64/)
  assert.throws(() => jsonCodec.decode(new Uint8Array([1])), /text frames only/)
})

test('MessagePack codec reads what rmp_serde writes: named maps, float32, bin, nested ops', () => {
  // {"t":"patch","room":"r","seq":7,"ops":[[0,["x"],1.5f32],[1,["y",2]],[2,["l"],bin(0x01 0x02)]]}
  const bytes = Uint8Array.from([
    0x84, 0xa1, 0x74, 0xa5, ...Buffer.from('patch'), 0xa4, ...Buffer.from('room'), 0xa1, 0x72,
    0xa3, ...Buffer.from('seq'), 0x07, 0xa3, ...Buffer.from('ops'), 0x93,
    0x93, 0x00, 0x91, 0xa1, 0x78, 0xca, 0x3f, 0xc0, 0x00, 0x00,
    0x92, 0x01, 0x92, 0xa1, 0x79, 0x02,
    0x93, 0x02, 0x91, 0xa1, 0x6c, 0xc4, 0x02, 0x01, 0x02
  ])
  const msg = msgpackCodec().decode(bytes)
  assert.equal(msg.t, 'patch')
  assert.equal(msg.seq, 7)
  assert.deepEqual(msg.ops[0], [0, ['x'], 1.5])
  assert.deepEqual(msg.ops[1], [1, ['y', 2]])
  assert.deepEqual(msg.ops[2][2], new Uint8Array([1, 2]))
})

test('MessagePack codec output is a fresh buffer at offset 0 that decodes to the message', () => {
  const c = msgpackCodec()
  const a = c.encode({ t: 'msg', room: 'r', type: 'a', data: 'x'.repeat(100) })
  const b = c.encode({ t: 'msg', room: 'r', type: 'b', data: null, skipped: undefined })
  assert.equal(a.byteOffset, 0)
  assert.equal(a.buffer.byteLength, a.length)
  assert.equal(c.decode(a).data, 'x'.repeat(100)) // not overwritten by the second encode
  assert.deepEqual(c.decode(b), { t: 'msg', room: 'r', type: 'b', data: null })
})

test('endpoints derive the ws and http URLs without the URL global', () => {
  assert.deepEqual(endpoints('wss://plaza.example.org'), { ws: 'wss://plaza.example.org/v1/ws', http: 'https://plaza.example.org' })
  assert.deepEqual(endpoints('http://127.0.0.1:8080/'), { ws: 'ws://127.0.0.1:8080/v1/ws', http: 'http://127.0.0.1:8080' })
  assert.deepEqual(endpoints('ws://h:1/v1/ws?x=1'), { ws: 'ws://h:1/v1/ws', http: 'http://h:1' })
  assert.throws(() => endpoints('plaza.example.org'), /not an absolute URL/)
  assert.throws(() => endpoints('ftp://h'), /unsupported URL scheme/)
  assert.deepEqual(parseUrl('WSS://H/a/b#f'), { scheme: 'wss', host: 'H', path: '/a/b' })
})
