// The state mirror against hand-made fixtures from the op spec (protocol/src/state/op.rs):
// [0, path, value] set, [1, path] delete, [2, path, value] push.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { applyOps, applyOp, getAt, PatchError, PlazaError } = require('../dist/index.js')
const { touchedPaths, parsePattern } = require('../dist/state.js')

test('set, delete and push build the expected document', () => {
  let doc = {}
  doc = applyOps(doc, [
    [0, ['counter'], 1],
    [0, ['players'], {}],
    [0, ['players', '0xabc'], { name: 'ana', pos: [1, 2] }],
    [2, ['players', '0xabc', 'pos'], 3],
    [0, ['players', '0xabc', 'pos', 0], 10],
    [0, ['players', '0xabc', 'pos', 3], 4], // index == len appends
    [1, ['players', '0xabc', 'pos', 1]], // later elements shift
    [0, ['counter'], 2],
    [0, ['log'], []],
    [2, ['log'], 'hello']
  ])
  assert.deepEqual(doc, { counter: 2, players: { '0xabc': { name: 'ana', pos: [10, 3, 4] } }, log: ['hello'] })
  doc = applyOps(doc, [[1, ['players', '0xabc']], [1, ['log']]])
  assert.deepEqual(doc, { counter: 2, players: {} })
})

test('a set at the empty path replaces the root', () => {
  const doc = applyOp({ a: 1 }, [0, [], [1, 2]])
  assert.deepEqual(doc, [1, 2])
  assert.deepEqual(applyOp(doc, [0, [1], { x: null }]), [1, { x: null }])
})

test('ops that do not fit the document throw PatchError (code protocol)', () => {
  const cases = [
    [[0, ['a', 'b'], 1], { a: 5 }, /no map or list/],
    [[0, [3], 1], [1], /past the end/],
    [[1, [1]], [1], /past the end/],
    [[1, []], {}, /root/],
    [[1, ['b']], { a: 1 }, /no such key/],
    [[0, ['l', '0', 'x'], 1], { l: [{}] }, /no map or list/], // a key never indexes a list // as apply.rs: a missing key means the mirror diverged
    [[2, ['a'], 1], { a: {} }, /not a list/],
    [[7, ['a'], 1], {}, /unknown op code/],
    [[0, ['a']], {}, /needs a value/],
    [[1, ['a'], 2], { a: 1 }, /takes no value/],
    [[0, [-1], 1], [], /malformed path segment/],
    [[0, [1.5], 1], [], /malformed path segment/],
    [{ op: 0 }, {}, /malformed op/],
    [[0, 'a', 1], {}, /malformed op/],
    [[0, ['x'], 1], 'text', /no map or list/]
  ]
  for (const [op, doc, re] of cases) {
    assert.throws(() => applyOp(structuredClone(doc), op), (e) => {
      assert.ok(e instanceof PatchError, `PatchError for ${JSON.stringify(op)}`)
      assert.ok(e instanceof PlazaError)
      assert.equal(e.code, 'protocol')
      assert.match(e.message, re)
      return true
    })
  }
})

test('a "__proto__" key becomes an own property, never the prototype', () => {
  const doc = applyOp({}, [0, ['__proto__'], { polluted: true }])
  assert.equal(Object.getPrototypeOf(doc), Object.prototype)
  assert.deepEqual(Object.keys(doc), ['__proto__'])
  assert.equal(({}).polluted, undefined)
  assert.deepEqual(getAt(doc, ['__proto__', 'polluted']), true)
})

test('getAt follows keys and indices and reports missing paths as undefined', () => {
  const doc = { a: [{ b: 'x' }], n: null }
  assert.equal(getAt(doc, ['a', 0, 'b']), 'x')
  assert.equal(getAt(doc, ['a', '0', 'b']), 'x')
  assert.equal(getAt(doc, ['a', 1]), undefined)
  assert.equal(getAt(doc, ['n']), null)
  assert.equal(getAt(doc, ['n', 'x']), undefined)
  assert.equal(getAt(doc, ['toString']), undefined)
})

test('touchedPaths matches wildcards and enumerates replaced subtrees', () => {
  const pat = parsePattern('players/*/score')
  assert.deepEqual(pat, ['players', '*', 'score'])
  const doc = { players: { a: { score: 1 }, b: { score: 2 } } }
  // deeper op: the pattern's prefix of it
  assert.deepEqual(touchedPaths(doc, pat, ['players', 'a', 'score', 'x']), [['players', 'a', 'score']])
  // unrelated op
  assert.deepEqual(touchedPaths(doc, pat, ['other']), [])
  assert.deepEqual(touchedPaths(doc, pat, ['players', 'a', 'name']), [])
  // shallower op: enumerate what is below it
  assert.deepEqual(touchedPaths(doc, pat, ['players']), [['players', 'a', 'score'], ['players', 'b', 'score']])
  assert.deepEqual(touchedPaths(doc, pat, []), [['players', 'a', 'score'], ['players', 'b', 'score']])
  // fixed pattern under a replaced subtree is reported even when absent
  assert.deepEqual(touchedPaths({}, ['board', 'top'], ['board']), [['board', 'top']])
})
