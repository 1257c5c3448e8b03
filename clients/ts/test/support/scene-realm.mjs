// Loads the built package into a fresh V8 context that has only what a Decentraland scene has
// (shared/scene-runtime.md §2): ECMAScript built-ins, a console with log/info/debug/trace/warning/
// error (no warn), setImmediate as a microtask, `global`, a WebSocket shim, and — only when asked,
// as @dcl/ecs would install them — frame-driven timers. No setTimeout, URL, TextEncoder, crypto,
// Buffer, atob, fetch. Modules load through a CommonJS wrapper with no cache, like Init.js's require.
import vm from 'node:vm'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist')

export function sceneRealm({ WebSocket, timers = false, consoleLines = [], packages = {} } = {}) {
  const sandbox = {}
  const context = vm.createContext(sandbox)
  const fmt = (args) => args.map((a) => (typeof a === 'string' ? a : String(a))).join(' ')
  const cons = {}
  for (const level of ['log', 'info', 'debug', 'trace', 'warning', 'error']) {
    cons[level] = (...args) => consoleLines.push(`${level}: ${fmt(args)}`)
  }
  sandbox.console = cons
  sandbox.global = vm.runInContext('globalThis', context)
  vm.runInContext('globalThis.setImmediate = (fn) => Promise.resolve().then(fn)', context)
  if (WebSocket) sandbox.WebSocket = WebSocket(vm.runInContext('({ Uint8Array })', context))
  let frame = null
  if (timers) {
    // Like @dcl/ecs 7.28's polyfill: timers advance by dt, only when the engine ticks.
    frame = vm.runInContext(
      `(() => {
        let now = 0, next = 1
        const timers = new Map()
        globalThis.setTimeout = (fn, ms) => { const id = next++; timers.set(id, { at: now + (ms || 0), fn }); return id }
        globalThis.clearTimeout = (id) => { timers.delete(id) }
        return (dt) => {
          now += dt * 1000
          for (const [id, t] of [...timers]) if (t.at <= now) { timers.delete(id); t.fn() }
        }
      })()`,
      context
    )
  }
  // Bare names resolve only when listed in `packages` (name → file): like a bundle that includes them.
  const requireIn = (fromDir) => (name) => {
    let file
    if (packages[name]) file = packages[name]
    else if (!name.startsWith('.')) throw new Error(`Module '${name}' not found.`)
    else file = path.join(fromDir, /\.c?js$/.test(name) ? name : `${name}.js`)
    if (!fs.existsSync(file)) throw new Error(`Module '${name}' not found.`)
    const src = fs.readFileSync(file, 'utf8')
    const fn = vm.runInContext(`(function (exports, require, module, __filename, __dirname) {${src}\n})`, context, { filename: file })
    const module = { exports: {} }
    fn(module.exports, requireIn(path.dirname(file)), module, file, path.dirname(file))
    return module.exports
  }
  return { context, require: requireIn(DIST), frame, run: (code) => vm.runInContext(code, context) }
}
