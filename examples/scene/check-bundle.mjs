// Runs the built scene bundle (bin/index.js, from `sdk-commands build`) the way the explorer does,
// against a real Plaza server, and checks what the scene shows. Not part of CI (it needs the SDK
// install and the build of README "Build"); run it by hand after building:
//
//   (cd ../../clients/ts && npm ci && npm run build) && cargo build --bin plaza
//   node check-bundle.mjs
//
// The bundle is evaluated in a fresh V8 context with only the scene runtime's globals
// (shared/scene-runtime.md §2: no timers until @dcl/ecs installs its own, no URL/TextEncoder), the
// scene WebSocket shim of clients/ts/test/support, `~system/SignedFetch` answered with a real
// @dcl/crypto identity as the explorer would, and `~system/EngineApi` recording what the scene sends
// to the renderer. PLAZA_URL in the bundle is pointed at the local server.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import vm from 'node:vm'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const client = path.join(here, '..', '..', 'clients', 'ts')
const require = createRequire(path.join(client, 'package.json'))
const { startServer, makeIdentity, explorerGetHeaders } = await import(path.join(client, 'test/support/server.mjs'))
const { sceneWebSocketClass } = await import(path.join(client, 'test/support/scene-websocket.mjs'))
const { signedHeaders, identitySignedFetch, connectNode } = require(path.join(client, 'dist/node.js'))

const bundle = path.join(here, 'bin', 'index.js')
if (!fs.existsSync(bundle)) throw new Error(`${bundle} missing: build the scene first (README "Build")`)

const server = await startServer({})
const logs = []
const rendered = []
try {
  const player = await makeIdentity()
  const context = vm.createContext({})
  const cons = {}
  for (const level of ['log', 'info', 'debug', 'trace', 'warning', 'error']) {
    cons[level] = (...args) => logs.push(`${level}: ${args.map(String).join(' ')}`)
  }
  context.console = cons
  context.global = vm.runInContext('globalThis', context)
  vm.runInContext('globalThis.setImmediate = (fn) => Promise.resolve().then(fn)', context)
  context.WebSocket = sceneWebSocketClass({ realm: vm.runInContext('({ Uint8Array })', context), log: logs })
  const system = {
    '~system/EngineApi': {
      crdtSendToRenderer: async ({ data }) => {
        rendered.push(Buffer.from(data).toString('utf8'))
        return { data: [] }
      },
      crdtGetState: async () => ({ hasEntities: false, data: [] }),
      sendBatch: async () => ({ events: [] }),
      subscribe: async () => ({}),
      unsubscribe: async () => ({})
    },
    '~system/Runtime': {
      readFile: async () => {
        throw new Error('no such file')
      },
      getRealm: async () => ({})
    },
    '~system/SignedFetch': {
      getHeaders: explorerGetHeaders(player.identity, signedHeaders),
      signedFetch: identitySignedFetch(player.identity)
    }
  }
  const source = fs.readFileSync(bundle, 'utf8').replace('wss://plaza.example.org', server.ws)
  const wrapper = vm.runInContext(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, context, { filename: bundle })
  const module = { exports: {} }
  wrapper(module.exports, (name) => {
    if (system[name]) return system[name]
    throw new Error(`Module '${name}' not found.`)
  }, module, bundle, here)

  // The explorer's loop: onStart, then onUpdate(dt) every frame (dt 0 first, then ≤ 0.1 s).
  const frames = async (n) => {
    for (let i = 0; i < n; i++) {
      await module.exports.onUpdate(0.033)
      await new Promise((r) => setTimeout(r, 33))
    }
  }
  await module.exports.onStart()
  await module.exports.onUpdate(0)
  await frames(60)

  const rooms = await (await fetch(`${server.http}/v1/rooms?type=shared`)).json()
  const mine = rooms.rooms.find((r) => r.metadata?.scene === 'plaza-example')
  assert.ok(mine && mine.clients === 1, `the scene joined its room: ${JSON.stringify(rooms)}`)

  // Another player moves the counter: the scene must show it.
  const other = await makeIdentity()
  const oc = await connectNode(server.ws, { identity: other.identity })
  const room = await oc.joinOrCreate('shared', { filter: { scene: 'plaza-example' } })
  await room.request('set', { path: 'board/counter', value: 41 })
  await frames(30)
  oc.close()

  const texts = [...new Set(rendered.join('').match(/count: \d+/g) ?? [])]
  console.log(`room ${mine.room}; counter texts sent to the renderer: ${JSON.stringify(texts)}`)
  assert.deepEqual(texts, ['count: 0', 'count: 41'])
  assert.deepEqual(logs.filter((l) => l.startsWith('error')), [])
  console.log('check-bundle: ok')
} finally {
  await server.stop()
}
process.exit(0)
