/**
 * The CRAQ chain replica in the simulator, without faults, one behaviour at a time: writes reach
 * every replica and any replica answers the committed version; a retried update is applied once;
 * chain versions fence stale senders; truncate, extend, query-last-chunk, remove-chunks; a
 * returning target gets only the chunks that differ.
 */
import t from 'tap'
import { crc32c } from '../../../runtime/checksum.ts'
import { createLogger } from '../../../runtime/logger.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import type { RoutingInfo } from '../../../actors/mgmtd/protocol.ts'
import { fileChunkRange, makeChunkId } from '../../../actors/storage/chunk-id.ts'
import { storageClientActor } from '../../../actors/storage/client/client-actor.ts'
import type { ChunkMeta, IOResult, MessageTag, ReplicaMsg, UpdateIO } from '../../../actors/storage/protocol.ts'
import { buildStorageCluster, type StorageCluster } from '../../sim/storage-cluster.ts'

const chunkSizeBytes = 64 * 1024

async function cluster(seed: number, events?: Map<string, unknown[]>): Promise<{ c: StorageCluster; routing: RoutingInfo; replica: (targetId: number) => ActorRef<ReplicaMsg>; client: ActorRef<import('../../../actors/storage/client/client-actor.ts').ClientActorMsg> }> {
  const log = createLogger({ level: 'debug', sink: (r) => { const evt = r.fields.evt; if (events !== undefined && typeof evt === 'string') events.set(evt, [...(events.get(evt) ?? []), r.fields]) } })
  const c = await buildStorageCluster(seed, {}, { storageNodes: 3, chains: 1, replicas: 3, log })
  const node = c.sim.addNode('client', { bufferPool: { classes: [{ slotBytes: chunkSizeBytes, slots: 16 }] } })
  const client = node.system.spawn(storageClientActor, { clientId: 'c', mgmtds: c.mgmtds, requestTimeoutMs: 200, retryBudgetMs: 2_000, backoffMinMs: 5, backoffMaxMs: 50 })
  await c.runUntil(() => false, 600)
  const routing = (await c.routing())!
  const replica = (targetId: number) => node.system.refFor<ReplicaMsg>(routing.targets.find((x) => x.targetId === targetId)!.address!)
  return { c, routing, replica, client }
}

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)
const io = (routing: RoutingInfo, chunk: number, offset: number, data: Uint8Array, extra: Partial<UpdateIO> = {}): UpdateIO => ({
  key: { chainId: 1, chainVersion: routing.chains[0].chainVersion, chunkId: makeChunkId(5n, chunk) }, type: 'write', offset, length: data.length, chunkSizeBytes,
  data: { kind: 'inline', bytes: data }, checksum: crc32c(data), updateVersion: 0, ...extra,
})
const tag = (channel: number, seqnum: number): MessageTag => ({ clientId: 'test', requestId: seqnum, channel: { id: channel, seqnum } })

t.test('a write reaches every replica; any SERVING replica answers the committed bytes', async (t) => {
  const { c, routing, client } = await cluster(1)
  const head = routing.chains[0].targets[0].targetId
  t.equal(routing.chains[0].targets.map((x) => x.publicState).join(), 'SERVING,SERVING,SERVING')
  const w = await c.settle(client.ask({ type: 'write', chainId: 1, chunkId: makeChunkId(5n, 0), offset: 4096, data: bytes(8192, 7), chunkSizeBytes }), 800)
  t.match(w, { lengthBytes: 12288, commitVersion: 1 }, 'the head answered after the chain committed')
  for (const x of routing.chains[0].targets) {
    const r = await c.settle(client.ask({ type: 'read', chainId: 1, chunkId: makeChunkId(5n, 0), offset: 0, length: 16384, prefer: x.targetId }), c.sim.clock.now() + 200)
    t.equal(r.targetId, x.targetId)
    t.same([r.lengthBytes, r.commitVersion, r.bytes[4095], r.bytes[4096], r.bytes[12287]], [12288, 1, 0, 7, 7], `target ${x.targetId} holds the write (a gap before it reads as zeros)`)
  }
  const missing = await c.settle(client.ask({ type: 'read', chainId: 1, chunkId: makeChunkId(5n, 9), offset: 0, length: 100 }), c.sim.clock.now() + 200)
  t.equal(missing.lengthBytes, 0, 'a chunk never written reads as a hole')
  void head
})

t.test('exactly once: a retry with the same tag is answered, not applied again; an older seqnum is refused', async (t) => {
  const { c, routing, replica } = await cluster(2)
  const head = replica(routing.chains[0].targets[0].targetId)
  const first = await c.settle(head.ask({ type: 'write', io: io(routing, 0, 0, bytes(4096, 1)), tag: tag(1, 10) }), 700) as IOResult
  const again = await c.settle(head.ask({ type: 'write', io: io(routing, 0, 0, bytes(4096, 1)), tag: tag(1, 10), retryCount: 1 }), 800) as IOResult
  t.same(again, first, 'the cached result')
  const next = await c.settle(head.ask({ type: 'write', io: io(routing, 0, 0, bytes(4096, 2)), tag: tag(1, 11) }), 900) as IOResult
  t.equal(next.commitVersion, first.commitVersion + 1, 'a new update on the channel is applied')
  await t.rejects(c.settle(head.ask({ type: 'write', io: io(routing, 0, 0, bytes(4096, 1)), tag: tag(1, 10) }), 1_000), { code: 'ERR_STORAGE_DUPLICATE_UPDATE' }, 'the old one, late: refused')
  const tail = replica(routing.chains[0].targets[2].targetId)
  const meta = await c.settle(tail.ask({ type: 'query-chunk', chainId: 1, chunkId: makeChunkId(5n, 0) }), 1_100)
  t.equal(meta.meta?.commitVersion, 2, 'two writes applied at the tail, not three')
})

t.test('fencing: another chain version, a client write to a non-head, a forwarded update marked fromClient', async (t) => {
  const { c, routing, replica } = await cluster(3)
  const [h, m] = routing.chains[0].targets.map((x) => replica(x.targetId))
  const v = routing.chains[0].chainVersion
  await t.rejects(c.settle(h.ask({ type: 'write', io: io(routing, 0, 0, bytes(4096, 1), { key: { chainId: 1, chainVersion: v - 1, chunkId: makeChunkId(5n, 0) } }), tag: tag(1, 1) }), 700), { code: 'ERR_STORAGE_ROUTING_VERSION', message: new RegExp(`chain 1 is at version ${v} on target \\d+, the request carries ${v - 1}`) })
  await t.rejects(c.settle(h.ask({ type: 'write', io: io(routing, 0, 0, bytes(4096, 1), { key: { chainId: 1, chainVersion: v + 1, chunkId: makeChunkId(5n, 0) } }), tag: tag(1, 2) }), 800), { code: 'ERR_STORAGE_ROUTING_VERSION' })
  await t.rejects(c.settle(m.ask({ type: 'write', io: io(routing, 0, 0, bytes(4096, 1)), tag: tag(1, 3) }), 900), { code: 'ERR_STORAGE_NOT_HEAD' })
  await t.rejects(c.settle(m.ask({ type: 'update', io: { ...io(routing, 0, 0, bytes(4096, 1)), updateVersion: 1 }, options: { fromClient: true, isSyncing: false, commitChainVersion: 0 } }), 1_000), { code: 'ERR_STORAGE_BAD_REQUEST' })
  await t.rejects(c.settle(m.ask({ type: 'update', io: { ...io(routing, 0, 0, bytes(4096, 1)), updateVersion: 1, key: { chainId: 1, chainVersion: v - 1, chunkId: makeChunkId(5n, 0) } }, options: { fromClient: false, isSyncing: false, commitChainVersion: 0 }, tag: tag(2, 1) }), 1_100), { code: 'ERR_STORAGE_ROUTING_VERSION' }, 'a stale predecessor\'s forward is refused')
  await t.rejects(c.settle(h.ask({ type: 'write', io: { ...io(routing, 0, 0, bytes(4096, 1)), checksum: 12345 }, tag: tag(1, 4) }), 1_200), { code: 'ERR_CHECKSUM_MISMATCH' }, 'bytes that do not match their checksum are never written')
  await t.rejects(c.settle(h.ask({ type: 'write', io: { ...io(routing, 0, 60_000, bytes(8192, 1)) }, tag: tag(1, 5) } as never), 1_300), { code: 'ERR_INVALID_MESSAGE', message: /offset \+ length <= chunkSizeBytes/ })
})

t.test('truncate, extend, query-last-chunk and remove-chunks go through the chain', async (t) => {
  const { c, routing, client, replica } = await cluster(4)
  const chunk = (i: number) => makeChunkId(77n, i)
  for (let i = 0; i < 4; i++) await c.settle(client.ask({ type: 'write', chainId: 1, chunkId: chunk(i), offset: 0, data: bytes(8192 * (i + 1), i + 1), chunkSizeBytes }), c.sim.clock.now() + 300)
  let last = await c.settle(client.ask({ type: 'query-last-chunk', chainId: 1, range: fileChunkRange(77n) }), c.sim.clock.now() + 200)
  t.same(last, { lastChunkId: chunk(3), lastChunkLengthBytes: 32768, totalLengthBytes: 8192 * 10, chunkCount: 4, more: false })
  await c.settle(client.ask({ type: 'truncate', chainId: 1, chunkId: chunk(3), lengthBytes: 1000, chunkSizeBytes }), c.sim.clock.now() + 300)
  const truncated = await c.settle(client.ask({ type: 'read', chainId: 1, chunkId: chunk(3), offset: 0, length: 65536 }), c.sim.clock.now() + 200)
  t.equal(truncated.lengthBytes, 1000, 'cut')
  const removed = await c.settle(client.ask({ type: 'remove-chunks', chainId: 1, range: { begin: chunk(2), end: fileChunkRange(77n).end } }), c.sim.clock.now() + 300)
  t.same(removed, { removed: 2, more: false })
  last = await c.settle(client.ask({ type: 'query-last-chunk', chainId: 1, range: fileChunkRange(77n) }), c.sim.clock.now() + 200)
  t.same([last.lastChunkId, last.chunkCount], [chunk(1), 2])
  for (const x of routing.chains[0].targets) {
    const list = await c.settle(replica(x.targetId).ask({ type: 'list-chunks' }), c.sim.clock.now() + 200) as ChunkMeta[]
    t.same(list.filter((m) => m.chunkId.startsWith('0000000000000000004d')).map((m) => [m.chunkId, m.lengthBytes, m.pending]), [[chunk(0), 8192, null], [chunk(1), 16384, null]], `target ${x.targetId}: the same chunks`)
  }
})

t.test('a returning target gets only the chunks that changed while it was away', async (t) => {
  const events = new Map<string, unknown[]>()
  const { c, routing, client } = await cluster(5, events)
  for (let i = 0; i < 6; i++) await c.settle(client.ask({ type: 'write', chainId: 1, chunkId: makeChunkId(9n, i), offset: 0, data: bytes(4096, i + 1), chunkSizeBytes }), c.sim.clock.now() + 300)
  const tailTarget = routing.chains[0].targets[2].targetId
  const node = c.storage[Math.floor(tailTarget / 100) - 1]
  c.sim.crashNode(node)
  await c.runUntil(() => false, c.sim.clock.now() + 700)
  for (const i of [1, 4]) await c.settle(client.ask({ type: 'write', chainId: 1, chunkId: makeChunkId(9n, i), offset: 4096, data: bytes(4096, 50 + i), chunkSizeBytes }), c.sim.clock.now() + 2_000)
  await c.settle(client.ask({ type: 'write', chainId: 1, chunkId: makeChunkId(9n, 7), offset: 0, data: bytes(4096, 9), chunkSizeBytes }), c.sim.clock.now() + 2_000)
  events.clear()
  c.sim.restartNode(node)
  await c.runUntil(() => false, c.sim.clock.now() + 1_500)
  const info = (await c.routing())!
  t.equal(info.chains[0].targets.map((x) => `${x.targetId}:${x.publicState}`).join(' ').includes(`${tailTarget}:SERVING`), true, 'it is SERVING again')
  const copies = (events.get('SyncChunk') ?? []) as { chunkId: string; action: string; targetId: number }[]
  const byAction = (a: string) => copies.filter((x) => x.action === a).map((x) => Number.parseInt(x.chunkId.slice(24), 16)).sort()
  t.same(byAction('copy'), [1, 4, 7], 'the two changed chunks and the new one are copied')
  t.same(byAction('skip'), [0, 2, 3, 5], 'the others are compared and skipped')
  const r = await c.settle(client.ask({ type: 'read', chainId: 1, chunkId: makeChunkId(9n, 4), offset: 0, length: 8192, prefer: tailTarget }), c.sim.clock.now() + 300)
  t.same([r.targetId, r.bytes[0], r.bytes[4096]], [tailTarget, 5, 54], 'the returning target serves the new bytes')
})
