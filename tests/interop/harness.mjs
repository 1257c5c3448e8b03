// Interop harness for tests/auth_interop.rs. Reads one JSON array of commands on
// stdin, answers one JSON array on stdout. Every signature and verdict comes from the
// real packages pinned in package.json (nothing here re-implements a check).
//
//   {"cmd":"sign", "method", "path", "metadata": {...}, "timestampMs", "expiration": ISO}
//     → {address, headers: [[name, value], ...]}   (decentraland-crypto-fetch signedHeaderFactory)
//   {"cmd":"validate", "authChain": [...], "expected": "...", "nowMs": N}
//     → {ok, message}                              (@dcl/crypto Authenticator.validateSignature)
import { createRequire } from 'node:module'
import { Wallet } from 'ethers'

const require = createRequire(import.meta.url)
const { Authenticator, AuthLinkType, getEphemeralSignatureType } = require('@dcl/crypto')
const { signedHeaderFactory } = require('decentraland-crypto-fetch')

function key(w) {
  return { address: w.address, privateKey: w.privateKey, publicKey: w.signingKey.publicKey }
}

function identity(expirationISO) {
  const owner = key(Wallet.createRandom())
  const ephemeral = key(Wallet.createRandom())
  const expiration = new Date(expirationISO)
  const payload = Authenticator.getEphemeralMessage(ephemeral.address, expiration)
  const signature = Authenticator.createSignature(owner, payload)
  return {
    owner,
    identity: {
      ephemeralIdentity: ephemeral,
      expiration,
      authChain: [
        { type: AuthLinkType.SIGNER, payload: owner.address, signature: '' },
        { type: getEphemeralSignatureType(signature), payload, signature }
      ]
    }
  }
}

async function run(c) {
  if (c.cmd === 'sign') {
    const { owner, identity: id } = identity(c.expiration)
    const realNow = Date.now
    Date.now = () => c.timestampMs
    try {
      const headers = signedHeaderFactory()(id, c.method, c.path, c.metadata)
      return { address: owner.address, headers: [...headers.entries()] }
    } finally {
      Date.now = realNow
    }
  }
  if (c.cmd === 'validate') {
    const r = await Authenticator.validateSignature(c.expected, c.authChain, null, c.nowMs)
    return { ok: r.ok, message: r.message ?? null }
  }
  throw new Error(`unknown cmd ${c.cmd}`)
}

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (d) => (input += d))
process.stdin.on('end', async () => {
  const out = []
  for (const c of JSON.parse(input)) out.push(await run(c))
  process.stdout.write(JSON.stringify(out))
})
