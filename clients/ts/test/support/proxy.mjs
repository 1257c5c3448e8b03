// A TCP proxy on 127.0.0.1:0 in front of a server, whose connections a test can cut without a
// close frame: a dropped socket, as a flaky network or a sleeping laptop produces it.
import net from 'node:net'

export async function startProxy(targetPort) {
  const pairs = new Set()
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1')
    const pair = { client, upstream }
    pairs.add(pair)
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: server.address().port,
    /** Destroys every proxied connection (both sides, no close frame). */
    cutAll() {
      const n = pairs.size
      for (const { client, upstream } of [...pairs]) {
        client.destroy()
        upstream.destroy()
      }
      pairs.clear()
      return n
    },
    get connections() {
      return pairs.size
    },
    close() {
      for (const { client, upstream } of pairs) {
        client.destroy()
        upstream.destroy()
      }
      return new Promise((r) => server.close(r))
    }
  }
}
