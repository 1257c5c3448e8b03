// Starts a real `plaza serve` (../../target/debug/plaza, built by `cargo build --bin plaza`) on a
// free loopback port with a throw-away data dir, and stops it. Also makes real @dcl/crypto identities.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Authenticator } = require('@dcl/crypto')
const { createUnsafeIdentity } = require('@dcl/crypto/dist/crypto')

// TS_PLAZA_BIN overrides the binary (e.g. to try another build; not PLAZA_*, which the server reads
// as config); the default is the workspace's debug build.
export const PLAZA_BIN = process.env.TS_PLAZA_BIN ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../target/debug/plaza')

/** Why the server tests cannot run here, or null when they can. */
export function serverUnavailable() {
  if (!fs.existsSync(PLAZA_BIN)) return `SKIPPED: ${PLAZA_BIN} is not built (run cargo build --bin plaza)`
  const help = spawnSync(PLAZA_BIN, ['--help'], { encoding: 'utf8', timeout: 10_000 })
  if (!/\bserve\b/.test(`${help.stdout}${help.stderr}`)) return `SKIPPED: ${PLAZA_BIN} has no serve command yet`
  return null
}

/**
 * Whether this build accepts `configToml` (`plaza config check`): the scores tests use it to tell
 * a build without the scores module from a broken one.
 */
export function acceptsConfig(configToml) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plaza-ts-check-'))
  try {
    const file = path.join(dir, 'check.toml')
    fs.writeFileSync(file, configToml)
    const r = spawnSync(PLAZA_BIN, ['config', 'check', file], { encoding: 'utf8', timeout: 10_000 })
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function freePort() {
  const s = net.createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address()
  await new Promise((r) => s.close(r))
  return port
}

/** Starts the server; `config` is TOML text added to the config file. */
export async function startServer({ config = '', env = {} } = {}) {
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plaza-ts-'))
  const configFile = path.join(dir, 'plaza.toml')
  fs.writeFileSync(configFile, config)
  const logs = []
  const child = spawn(PLAZA_BIN, ['serve', '--config', configFile], {
    env: {
      ...process.env,
      PLAZA_SERVER__BIND: `127.0.0.1:${port}`,
      PLAZA_SERVER__DATA_DIR: path.join(dir, 'data'),
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout.on('data', (d) => logs.push(String(d)))
  child.stderr.on('data', (d) => logs.push(String(d)))
  let exited = null
  child.on('exit', (code, signal) => (exited = { code, signal }))
  const http = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    if (exited) throw new Error(`plaza exited before serving (${JSON.stringify(exited)}):\n${logs.join('')}`)
    try {
      const res = await fetch(`${http}/healthz`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`plaza did not answer /healthz within 20 s:\n${logs.join('')}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    port,
    http,
    ws: `ws://127.0.0.1:${port}`,
    logs,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000)
        await new Promise((r) => (exited ? r() : child.once('exit', r)))
        clearTimeout(t)
      }
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** A fresh wallet and a real 3-link @dcl/crypto identity for it (Authenticator.initializeAuthChain). */
export async function makeIdentity(minutes = 60) {
  const wallet = createUnsafeIdentity()
  const ephemeral = createUnsafeIdentity()
  const identity = await Authenticator.initializeAuthChain(wallet.address, ephemeral, minutes, async (message) =>
    Authenticator.createSignature(wallet, message)
  )
  return { wallet, identity, address: wallet.address.toLowerCase() }
}

/**
 * What the Unity explorer's `getHeaders` returns (scene-runtime.md §4), produced with a real
 * identity: `get:<pathname>:<ms>:<metadata>` lower-cased, metadata in the explorer's member order
 * with an empty `hashPayload` (no body).
 */
export function explorerGetHeaders(identity, signedHeaders) {
  return async ({ url, init }) => {
    const pathname = new URL(url).pathname
    const metadata = {
      sceneId: 'bafkreiexamplescene',
      parcel: '0,0',
      tld: 'org',
      network: 'mainnet',
      isGuest: false,
      realm: { hostname: '127.0.0.1', protocol: 'v3', serverName: 'LocalPreview' },
      signer: 'decentraland-kernel-scene',
      hashPayload: ''
    }
    return { headers: { ...(init.headers ?? {}), ...signedHeaders(identity, init.method || 'get', pathname, metadata) } }
  }
}
