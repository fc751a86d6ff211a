/**
 * Chunk-sized payloads between nodes: PooledBuffers and large Uint8Arrays travel as frame payloads
 * (out of band), land straight in a pool slot (or the receiver's own buffer) on the other node,
 * are bounded only by max_frame_size, and a failure refuses only its own message.
 */
import t from 'tap'
import { NodeRuntime } from '../../runtime/node-runtime.ts'
import { TcpTransport, type TcpTransportOptions } from '../../runtime/transport/tcp-transport.ts'
import type { BufferPoolOptions } from '../../runtime/buffer-pool.ts'
import type { ClientMsg, PeerMsg } from './fixtures/payload-actors.ts'
import type { EchoMsg } from './fixtures/mesh-actors.ts'

const fixtures = new URL('./fixtures/payload-actors.ts', import.meta.url).href
const def = (name: string) => ({ module: fixtures, export: name })
const oneDomain = [{ id: 0, cpus: [0, 1] }]
const fast = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2000, reconnectMinMs: 20, reconnectMaxMs: 200 }
const KiB = 1024
const MiB = 1024 * KiB
const bigPool: BufferPoolOptions = { classes: [{ slotBytes: 64 * KiB, slots: 16 }, { slotBytes: MiB, slots: 8 }, { slotBytes: 64 * MiB, slots: 2 }] }

interface Setup {
  pool1?: BufferPoolOptions
  pool2?: BufferPoolOptions
  transport1?: Partial<TcpTransportOptions>
  /** Node 2's transport delivers payloads as views, never asking where they go (as the simulator's does). */
  unplaced?: boolean
}

/** Two nodes in this process, two worker hosts each, over loopback TCP; node 2's received frames are recorded. */
async function twoNodes(t: { teardown(fn: () => unknown): void }, setup: Setup = {}) {
  const transport1 = new TcpTransport({ nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, ...fast, ...setup.transport1 })
  const transport2 = new TcpTransport({ nodeId: 2, listen: { host: '127.0.0.1', port: 0 }, ...fast })
  // What node 2's transport delivers: the payload sizes of each data frame as received.
  const framesAt2: number[][] = []
  const onFrame = transport2.onFrame.bind(transport2)
  transport2.onFrame = (handler, place) => onFrame((from, frame, placement) => {
    framesAt2.push(frame.payloads.map((p) => p.length))
    handler(from, frame, placement)
  }, setup.unplaced ? undefined : place)
  const node1 = await NodeRuntime.start({ node: 1, hostsPerDomain: 2, domains: oneDomain, transport: transport1, bufferPool: setup.pool1 ?? bigPool })
  const node2 = await NodeRuntime.start({ node: 2, hostsPerDomain: 2, domains: oneDomain, transport: transport2, bufferPool: setup.pool2 ?? bigPool })
  t.teardown(async () => { await node1.shutdown(); await node2.shutdown() })
  const up = new Promise<void>((resolve) => transport1.onPeerState((node, state) => { if (node === 2 && state === 'up') resolve() }))
  transport1.addPeer(2, { host: '127.0.0.1', port: transport2.port })
  await up
  const client = await node1.spawn<ClientMsg>(def('payloadClient'), undefined, { host: 1 })
  await node2.spawn<PeerMsg>(def('payloadPeer'), undefined, { host: 2, name: 'peer' })
  const peer = await node1.lookupRemote<PeerMsg>(2, 'peer')
  return { node1, node2, transport1, transport2, client, peer, framesAt2 }
}

/** Slots in use on a node, once writes in flight have completed (the sender releases after the socket took them). */
async function settledInUse(node: NodeRuntime): Promise<number[]> {
  let inUse = node.system.bufferPool!.inUse()
  for (let i = 0; i < 200 && inUse.some((n) => n > 0); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    inUse = node.system.bufferPool!.inUse()
  }
  return inUse
}

t.test('1 MiB and 64 MiB PooledBuffers: worker host of node 1 → worker host of node 2 and back, byte for byte', async (t) => {
  const { node1, node2, client, peer, framesAt2 } = await twoNodes(t)
  for (const [bytes, seed] of [[MiB, 1], [64 * MiB, 2], [MiB, 3]] as const) {
    const trip = await client.ask({ type: 'roundTrip', to: peer, bytes, pooled: true, seed }, { timeoutMs: 120_000 })
    t.same(trip.there, { crc: trip.sent, length: bytes, kind: 'pooled' }, `${bytes} bytes arrived on node 2 as a PooledBuffer, intact`)
    t.same(trip.back, { crc: trip.sent, length: bytes, kind: 'pooled' }, `${bytes} bytes came back to node 1 as a PooledBuffer, intact`)
  }
  t.ok(framesAt2.some((sizes) => sizes.includes(64 * MiB)), 'the 64 MiB buffer crossed as one frame payload')
  t.same(await settledInUse(node1), [0, 0, 0], 'node 1 leaked no slot')
  t.same(await settledInUse(node2), [0, 0, 0], 'node 2 leaked no slot')
})

t.test('a transport that does not place payloads still delivers them (copied into place on arrival)', async (t) => {
  const { node2, client, peer } = await twoNodes(t, { unplaced: true })
  const pooled = await client.ask({ type: 'roundTrip', to: peer, bytes: MiB, pooled: true, seed: 5 }, { timeoutMs: 30_000 })
  t.same(pooled.there, { crc: pooled.sent, length: MiB, kind: 'pooled' })
  const plain = await client.ask({ type: 'roundTrip', to: peer, bytes: 200 * KiB, pooled: false, seed: 6 }, { timeoutMs: 30_000 })
  t.same(plain.there, { crc: plain.sent, length: 200 * KiB, kind: 'plain' })
  t.same(await settledInUse(node2), [0, 0, 0])
})

t.test('a 4 MiB Uint8Array crosses out of band and arrives as a Uint8Array the receiver owns', async (t) => {
  const { client, peer, framesAt2 } = await twoNodes(t)
  const trip = await client.ask({ type: 'roundTrip', to: peer, bytes: 4 * MiB, pooled: false, seed: 9 }, { timeoutMs: 60_000 })
  t.same(trip.there, { crc: trip.sent, length: 4 * MiB, kind: 'plain' })
  t.same(trip.back, { crc: trip.sent, length: 4 * MiB, kind: 'plain' })
  t.ok(framesAt2.some((sizes) => sizes.includes(4 * MiB)), 'as a payload, not inside the header')
})

t.test('a receiver out of slots refuses only the envelopes it cannot place; the rest of the frame arrives', async (t) => {
  // Node 2 has two slots that fit 512 KiB; its peer keeps every buffer it gets.
  const { node1, node2, client, peer, framesAt2 } = await twoNodes(t, { pool2: { classes: [{ slotBytes: 64 * KiB, slots: 4 }, { slotBytes: MiB, slots: 2 }] } })
  const outcomes = await client.ask({ type: 'burst', to: peer, asks: 3, tells: 1, bytes: 512 * KiB })
  t.same(outcomes, [1, 2, 'ERR_POOL_EXHAUSTED', 'still here'], 'two kept, the third ask refused, the small ask behind them answered')
  t.ok(framesAt2.some((sizes) => sizes.length === 4 && sizes.filter((n) => n === 512 * KiB).length === 2 && sizes.filter((n) => n === 0).length === 2),
    'all four payloads came in one frame: two placed, two skipped')
  let signals: Array<{ code: string; message: unknown }> = []
  for (let i = 0; i < 200 && signals.length === 0; i++) {
    signals = await client.ask({ type: 'signals' })
    if (signals.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.same(signals, [{ code: 'ERR_POOL_EXHAUSTED', message: { type: 'keepTell', data: null } }], 'the tell\'s sender got undelivered, its buffer shown as null')
  t.equal(await peer.ask({ type: 'releaseAll' }), 2)
  t.same(await settledInUse(node2), [0, 0], 'refused and released slots all went back on node 2')
  t.same(await settledInUse(node1), [0, 0, 0], 'node 1 released every buffer it sent')
  const again = await client.ask({ type: 'burst', to: peer, asks: 2, tells: 0, bytes: 512 * KiB })
  t.same(again, [1, 2, 'still here'], 'with slots free again, the same traffic is accepted')
  await peer.ask({ type: 'releaseAll' })
})

t.test('a message too big for max_frame_size fails only its own ask; the connection stays up for the next', async (t) => {
  const { transport1, client, peer, node1 } = await twoNodes(t, { transport1: { maxFrameBytes: 2 * MiB } })
  t.equal(transport1.maxFrameBytesTo(2), 2 * MiB)
  // From the main thread (host 0): refused at once, by the sender.
  const big = new Uint8Array(3 * MiB)
  const pending = peer.ask({ type: 'small', value: 'queued before' })
  await t.rejects(peer.ask({ type: 'chunk', data: big }), { code: 'ERR_MESSAGE_TOO_LARGE', message: /needs a frame of \d+ bytes; accepted: at most 2097152 bytes \(transport\.max_frame_size of this node\)/ })
  t.equal(await pending, 'queued before', 'a message already in the frame still went')
  t.equal(await peer.ask({ type: 'small', value: 'after' }), 'after')
  // From a worker host: its message crosses to host 0, which refuses it back to the asker.
  t.match(await client.ask({ type: 'askBig', to: peer, bytes: 3 * MiB }), /^ERR_MESSAGE_TOO_LARGE: .*max_frame_size.* \| next$/)
  // A reply too large to cross comes back as the error, not as silence.
  await t.rejects(peer.ask({ type: 'make', bytes: 3 * MiB }), { code: 'ERR_MESSAGE_TOO_LARGE', message: /max_frame_size of node 1/ })
  await t.rejects(peer.ask({ type: 'small', value: (() => 1) as never }), { code: 'ERR_INVALID_MESSAGE', message: /cannot cross to node 2/ })
  t.equal(await peer.ask({ type: 'small', value: 'still up' }), 'still up')
  t.equal(transport1.peerPhase(2), 'up')
  // A message just under the limit crosses.
  t.same((await client.ask({ type: 'roundTrip', to: peer, bytes: MiB + 512 * KiB, pooled: false, seed: 4 }, { timeoutMs: 30_000 })).back.length, MiB + 512 * KiB)
  void node1
})

t.test('a worker flooding a congested connection waits (its link stalls) instead of failing', async (t) => {
  const pool: BufferPoolOptions = { classes: [{ slotBytes: 64 * KiB, slots: 4 }, { slotBytes: MiB, slots: 40 }] }
  const { node1, transport1, client, peer } = await twoNodes(t, { pool1: pool, pool2: pool, transport1: { highWaterBytes: 256 * KiB } })
  const outcomes = await client.ask({ type: 'flood', to: peer, count: 32, bytes: MiB }, { timeoutMs: 60_000 })
  t.same(outcomes, new Array(32).fill(MiB), 'all 32 MiB crossed a connection whose high-water mark is 256 KiB')
  t.equal(transport1.peerPhase(2), 'up')
  t.same(await settledInUse(node1), [0, 0])
})

t.test('small messages and payloads mixed: order kept, shapes learned per frame', async (t) => {
  const { node1, node2 } = await twoNodes(t)
  const echo = await node2.spawn<EchoMsg>({ module: new URL('./fixtures/mesh-actors.ts', import.meta.url).href, export: 'echo' }, undefined, { host: 1, name: 'echo' })
  void echo
  const remote = await node1.lookupRemote<EchoMsg>(2, 'echo')
  const replies: Array<Promise<unknown>> = []
  for (let i = 0; i < 300; i++) {
    const value = i % 7 === 0 ? { i, data: new Uint8Array(70_000 + i).fill(i & 0xff) } : { i, note: `n${i}` }
    replies.push(remote.ask({ type: 'echo', value }))
  }
  const got = (await Promise.all(replies)) as Array<{ i: number; data?: Uint8Array; note?: string }>
  t.same(got.map((r) => r.i), Array.from({ length: 300 }, (_, i) => i))
  t.ok(got.every((r) => (r.i % 7 === 0 ? r.data!.length === 70_000 + r.i && r.data!.every((b) => b === (r.i & 0xff)) : r.note === `n${r.i}`)))
})
