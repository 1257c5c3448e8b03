// A shared counter and a leaderboard on Plaza, in a Decentraland SDK 7 scene.
//
// - The counter lives in a `shared` room's document at `board/counter`: every player in the scene
//   sees the same number, kept in sync by the server's patches. Clicking the red cube sets it to
//   the next value (the default `shared` rules let anyone write under `board/`).
// - The blue cube submits this player's click count to the `clicks` leaderboard with the explorer's
//   signedFetch (which signs the request and binds the body with `hashPayload`), naming the room
//   seat it was earned in as the session. The text above it shows the top five.
//
// The client authenticates with `getHeaders` from `~system/SignedFetch`: the explorer signs
// `GET /v1/ws` with the player's identity and the client sends those headers as its first frame.

import {
  engine,
  InputAction,
  Material,
  MeshCollider,
  MeshRenderer,
  pointerEventsSystem,
  TextShape,
  Transform,
  type Entity
} from '@dcl/sdk/ecs'
import { Color4, Vector3 } from '@dcl/sdk/math'
import { getHeaders, signedFetch } from '~system/SignedFetch'
import { connect, signedHeadersAuth, type PlazaClient, type Room } from '@plaza/client'

/** Your Plaza server. Use `wss://` (plain `ws://` only works in local preview). */
const PLAZA_URL = 'wss://plaza.example.org'
const LEADERBOARD = 'clicks'
const LEADERBOARD_REFRESH_S = 10

/** What this scene keeps in the room's document (a type for the editor; the server owns the data). */
type CounterState = { board?: { counter?: number } } | null

let client: PlazaClient | null = null
let room: Room<CounterState> | null = null
let myClicks = 0

export function main(): void {
  const counterText = label(Vector3.create(8, 2.6, 8), 'connecting…')
  const boardText = label(Vector3.create(12, 3.2, 8), 'leaderboard')

  const counterCube = cube(Vector3.create(8, 1, 8), Color4.Red())
  pointerEventsSystem.onPointerDown({ entity: counterCube, opts: { button: InputAction.IA_POINTER, hoverText: 'Count +1' } }, () => {
    if (!room) return
    const current = readCounter(room)
    myClicks++
    // `send` never throws (a throw inside a system would count against the scene): it returns
    // false when the message was dropped, and queues while the client is reconnecting.
    room.send('set', { path: 'board/counter', value: current + 1 })
  })

  const scoreCube = cube(Vector3.create(12, 1, 8), Color4.Blue())
  pointerEventsSystem.onPointerDown({ entity: scoreCube, opts: { button: InputAction.IA_POINTER, hoverText: 'Submit my clicks' } }, () => {
    if (!client || !room) return
    client
      .submitScore(LEADERBOARD, myClicks, room.seat)
      .then(() => refreshBoard(boardText))
      .catch((err: { code?: string; message?: string }) => console.log(`score refused: ${err.code}: ${err.message}`))
  })

  connect(PLAZA_URL, {
    auth: signedHeadersAuth(getHeaders),
    signedFetch,
    // Leaderboard reads go through signedFetch too: the runtime's `fetch` wrapper parses request
    // bodies as JSON, and signedFetch handles GETs without a body cleanly.
    fetch: (url) => signedFetch({ url, init: { method: 'GET', headers: {} } })
  })
    .then(async (c) => {
      client = c
      c.onClose((err) => setText(counterText, `disconnected (${err.code})`))
      room = await c.joinOrCreate<CounterState>('shared', { filter: { scene: 'plaza-example' } })
      setText(counterText, `count: ${readCounter(room)}`)
      room.onChange('board/counter', (value) => setText(counterText, `count: ${typeof value === 'number' ? value : 0}`))
      room.onLeave((reason) => setText(counterText, `left the room (${reason})`))
      refreshBoard(boardText)
    })
    .catch((err: { code?: string; message?: string }) => setText(counterText, `cannot connect: ${err.code ?? err.message}`))

  // Refresh the leaderboard now and then, from an engine system (timers advance with frames).
  let sinceRefresh = 0
  engine.addSystem((dt: number) => {
    sinceRefresh += dt
    if (sinceRefresh >= LEADERBOARD_REFRESH_S) {
      sinceRefresh = 0
      refreshBoard(boardText)
    }
  })
}

function readCounter(r: Room<CounterState>): number {
  const v = r.state?.board?.counter
  return typeof v === 'number' ? v : 0
}

function refreshBoard(text: Entity): void {
  if (!client) return
  client
    .leaderboard(LEADERBOARD, { limit: 5 })
    .then((body) => {
      // GET /v1/leaderboards/{id} → {leaderboard, period…, entries: [{rank, address, value, …}]}
      type Entry = { rank?: number; address?: string; value?: number }
      const entries = ((body as { entries?: Entry[] } | null)?.entries ?? []).slice(0, 5)
      const lines = entries.map((e, i) => `${e.rank ?? i + 1}. ${(e.address ?? '?').slice(0, 8)}  ${e.value ?? 0}`)
      setText(text, ['Top clicks', ...lines].join('\n'))
    })
    .catch((err: { code?: string }) => setText(text, `leaderboard unavailable (${err.code})`))
}

function cube(position: Vector3, color: Color4): Entity {
  const e = engine.addEntity()
  Transform.create(e, { position })
  MeshRenderer.setBox(e)
  MeshCollider.setBox(e)
  Material.setPbrMaterial(e, { albedoColor: color })
  return e
}

function label(position: Vector3, text: string): Entity {
  const e = engine.addEntity()
  Transform.create(e, { position })
  TextShape.create(e, { text, fontSize: 3 })
  return e
}

function setText(entity: Entity, text: string): void {
  TextShape.getMutable(entity).text = text
}
