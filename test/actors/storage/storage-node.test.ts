/**
 * The storage node service in the simulator with the real mgmtd: targets on its SimDisk, heartbeats
 * with local states, endpoints and replica addresses, the boot rule (OFFLINE until out of the
 * chain, then ONLINE), local states following the public ones, admin target management.
 */
import t from 'tap'
import type { RoutingInfo } from '../../../actors/mgmtd/protocol.ts'
import { loadSnapshot } from '../../../actors/mgmtd/store.ts'
import { buildStorageCluster, type StorageCluster } from '../../sim/storage-cluster.ts'
import { batchReplyResults } from '../../../actors/storage/batch-reply.ts'
import { packBatchRead } from '../../../actors/storage/batch-request.ts'
import { makeChunkId, type ChunkId } from '../../../actors/storage/chunk-id.ts'
import { storageClientActor } from '../../../actors/storage/client/client-actor.ts'
import type { ReadIO, ReadResult, StorageNodeMsg } from '../../../actors/storage/protocol.ts'
import { PooledBuffer } from '../../../runtime/buffer-pool.ts'

/** Runs until `untilMs`, recording each public state a target goes through (from the KV). */
async function trace(c: StorageCluster, targetId: number, untilMs: number): Promise<string[]> {
  const seen: string[] = []
  while (c.sim.clock.now() < untilMs) {
    await c.sim.run({ untilMs: c.sim.clock.now() + 5 })
    const snapshot = await loadSnapshot(c.kv)
    const state = snapshot.chains.flatMap((ch) => ch.targets).find((x) => x.targetId === targetId)?.publicState ?? 'none'
    if (seen.at(-1) !== state) seen.push(state)
  }
  return seen
}

const states = (info: RoutingInfo | null, chainId: number): string => info?.chains.find((c) => c.chainId === chainId)?.targets.map((x) => `${x.targetId}:${x.publicState}`).join(' ') ?? 'none'
const localOf = (info: RoutingInfo | null, targetId: number): string => info?.targets.find((x) => x.targetId === targetId)?.localState ?? 'none'

t.test('targets come up UPTODATE and SERVING; routing names each replica and each node service', async (t) => {
  const c = await buildStorageCluster(1, {}, { storageNodes: 3, chains: 2, replicas: 3, spares: 1 })
  let info: RoutingInfo | null = null
  const ok = await c.runUntil(() => false, 600)
  void ok
  info = await c.routing()
  t.equal(states(info, 1), '101:SERVING 201:SERVING 301:SERVING')
  t.equal(states(info, 2), '202:SERVING 302:SERVING 102:SERVING')
  t.same(info!.targets.map((x) => x.localState), ['UPTODATE', 'UPTODATE', 'UPTODATE', 'UPTODATE', 'UPTODATE', 'UPTODATE'])
  for (const target of info!.targets) t.equal(target.address?.node, c.storage[Math.floor(target.targetId / 100) - 1].id, `target ${target.targetId} names its replica on its node`)
  for (const node of c.storage) t.same(info!.nodes.find((n) => n.nodeId === node.id)?.services.storage, c.service(node).address, `node ${node.name} names its service`)
  t.same(info!.orphanTargets.map((o) => `${o.targetId}:${o.localState}`), ['190:ONLINE', '290:ONLINE', '390:ONLINE'], 'spares are reported ONLINE')
})

t.test('a crashed node\'s targets go OFFLINE; restarted, they report OFFLINE until out of the chain, then ONLINE and sync', async (t) => {
  const c = await buildStorageCluster(2, {}, { storageNodes: 3, chains: 1, replicas: 3 })
  await c.runUntil(() => false, 500)
  c.sim.crashNode(c.storage[1])
  await c.runUntil(() => false, 1_200)
  let info = await c.routing()
  t.equal(states(info, 1), '101:SERVING 301:SERVING 201:OFFLINE', 'the silent node\'s target left the serving chain')
  c.sim.restartNode(c.storage[1])
  t.same(await trace(c, 201, 2_000), ['OFFLINE', 'SYNCING', 'SERVING'], 'back ONLINE it syncs, then serves')
  info = await c.routing()
  t.equal(states(info, 1), '101:SERVING 301:SERVING 201:SERVING')
  t.equal(localOf(info, 201), 'UPTODATE')
  t.equal(info!.targets.find((x) => x.targetId === 201)!.address?.incarnation, c.storage[1].incarnation, 'its new replica address (new incarnation)')
})

t.test('a restarted node whose target still looks SERVING reports it OFFLINE until mgmtd moves it', async (t) => {
  const c = await buildStorageCluster(3, {}, { storageNodes: 3, chains: 1, replicas: 3 })
  await c.runUntil(() => false, 500)
  // Crash and restart at once: mgmtd never missed a heartbeat.
  c.sim.crashNode(c.storage[2])
  c.sim.restartNode(c.storage[2])
  t.same(await trace(c, 301, 1_500), ['SERVING', 'OFFLINE', 'SYNCING', 'SERVING'], 'it went through OFFLINE and SYNCING back to SERVING')
  t.equal(states(await c.routing(), 1), '101:SERVING 201:SERVING 301:SERVING')
})

t.test('create-target, list-targets, remove-target, space-info on the node service', async (t) => {
  const c = await buildStorageCluster(4, {}, { storageNodes: 2, chains: 1, replicas: 2 })
  await c.runUntil(() => false, 300)
  const svc = c.service(c.storage[0])
  const created = await c.settle(svc.ask({ type: 'create-target', targetId: 150 }), 400)
  t.match(created, { targetId: 150, chainId: null, nodeId: c.storage[0].id, publicState: null })
  await t.rejects(c.settle(svc.ask({ type: 'create-target', targetId: 150 }), 500), { code: 'ERR_STORAGE_TARGET_EXISTS' })
  await c.runUntil(() => false, 600)
  t.same((await c.routing())!.orphanTargets.map((o) => o.targetId), [150], 'the new target is a spare')
  t.same((await c.settle(svc.ask({ type: 'list-targets' }), 700)).map((x) => x.targetId), [101, 150])
  await t.rejects(c.settle(svc.ask({ type: 'remove-target', targetId: 101 }), 800), { code: 'ERR_STORAGE_TARGET_STATE', message: /target 101 is SERVING in chain 1; only a target that is OFFLINE or in no chain/ })
  t.match(await c.settle(svc.ask({ type: 'remove-target', targetId: 150 }), 900), { targetId: 150 })
  await t.rejects(c.settle(svc.ask({ type: 'remove-target', targetId: 150 }), 1_000), { code: 'ERR_STORAGE_TARGET_NOT_FOUND' })
  // The removal is durable: after a crash the node comes back without it.
  c.sim.crashNode(c.storage[0])
  c.sim.restartNode(c.storage[0])
  await c.runUntil(() => false, 1_100)
  t.same((await c.settle(c.service(c.storage[0]).ask({ type: 'list-targets' }), 1_200)).map((x) => x.targetId), [101])
  const space = await c.settle(c.service(c.storage[0]).ask({ type: 'space-info' }), 1_300)
  t.ok(space.totalBytes > 0 && space.freeBytes <= space.totalBytes)
  await t.rejects(c.settle(svc.ask({ type: 'create-target', targetId: 0 } as never), 1_400), /./)
})

t.test('batch-read on the node service: each read goes to its target\'s replica, answers in order, a missing target fails only its reads', async (t) => {
  const c = await buildStorageCluster(5, {}, { storageNodes: 3, chains: 2, replicas: 3 })
  await c.runUntil(() => false, 600)
  const clientNode = c.sim.addNode('client', { bufferPool: { classes: [{ slotBytes: 64 * 1024, slots: 16 }] } })
  const client = clientNode.system.spawn(storageClientActor, { clientId: 'batch-reader', mgmtds: c.mgmtds, requestTimeoutMs: 200, retryBudgetMs: 2_000 })
  const chunkA = makeChunkId(7n, 0)
  const chunkB = makeChunkId(7n, 1)
  const a = new Uint8Array(8192).fill(0xa1)
  const b = new Uint8Array(4096).fill(0xb2)
  await c.settle(client.ask({ type: 'write', chainId: 1, chunkId: chunkA, offset: 0, data: a, chunkSizeBytes: 64 * 1024 }), 900)
  await c.settle(client.ask({ type: 'write', chainId: 2, chunkId: chunkB, offset: 4096, data: b, chunkSizeBytes: 64 * 1024 }), 1_200)
  const info = (await c.routing())!
  const version = (chainId: number): number => info.chains.find((ch) => ch.chainId === chainId)!.chainVersion
  const io = (chainId: number, chunkId: ChunkId, offset: number, length: number): ReadIO => ({ key: { chainId, chainVersion: version(chainId), chunkId }, offset, length, into: { kind: 'none' } })
  // Node 1 holds target 101 (chain 1) and target 102 (chain 2).
  const reply = await c.settle(c.service(c.storage[0]).ask(packBatchRead([102, 101, 999, 101], [io(2, chunkB, 4096, 4096), io(1, chunkA, 0, 8192), io(1, chunkA, 0, 4096), io(1, chunkA, 4096, 100)])), 1_500)
  const results = batchReplyResults(reply)
  t.equal(reply.data?.length, 4096 + 8192 + 4096 + 100, 'every read has room for its length in one buffer')
  const data = reply.data instanceof PooledBuffer ? reply.data.bytes : reply.data
  t.ok(data instanceof Uint8Array && !(reply.data instanceof PooledBuffer), 'plain bytes when the asker accepts no slot')
  const bytes = (r: ReadResult): Uint8Array => (r.ok && r.at !== undefined && data !== null ? data.subarray(r.at, r.at + r.lengthBytes) : new Uint8Array(0))
  t.same([...bytes(results[0])], [...b], 'chain 2\'s chunk from target 102')
  t.same([...bytes(results[1])], [...a], 'chain 1\'s chunk from target 101')
  t.match(results[2], { ok: false, code: 'ERR_STORAGE_TARGET_NOT_FOUND' }, 'a target the node does not have fails its read alone')
  t.same([...bytes(results[3])], [...a.subarray(4096, 4196)], 'a second read of the same target in the same batch')
  await t.rejects(c.settle(c.service(c.storage[0]).ask(packBatchRead([], [])), 1_700), { code: 'ERR_STORAGE_BAD_REQUEST' }, 'an empty batch is refused')
  const bad = { ...packBatchRead([101], [io(1, chunkA, 0, 4096)]), chunkIds: 'x'.repeat(32) }
  await t.rejects(c.settle(c.service(c.storage[0]).ask(bad), 1_750), { code: 'ERR_INVALID_MESSAGE' }, 'a malformed packed batch is refused where it enters')
  // The client batches its reads per node through the service.
  const read = await c.settle(client.ask({ type: 'read', chainId: 1, chunkId: chunkA, offset: 0, length: 8192 }), 1_900)
  t.same([...read.bytes.subarray(0, 8192)], [...a])

  // An asker that accepts a pool slot gets the bytes in one, on its own node.
  const service = clientNode.system.refFor<StorageNodeMsg>(c.service(c.storage[0]).address)
  const slotted = await c.settle(service.ask(packBatchRead([101, 102], [io(1, chunkA, 0, 4096), io(2, chunkB, 4096, 4096)], 64 * 1024)), 2_100)
  t.ok(slotted.data instanceof PooledBuffer, 'the bytes came in a pool slot of the asking node')
  const slot = slotted.data as PooledBuffer
  const at = (r: ReadResult): number => (r.ok ? r.at ?? -1 : -1)
  t.same([...slot.bytes.subarray(at(batchReplyResults(slotted)[0]), at(batchReplyResults(slotted)[0]) + 4096)], [...a.subarray(0, 4096)])
  t.same([...slot.bytes.subarray(at(batchReplyResults(slotted)[1]), at(batchReplyResults(slotted)[1]) + 4096)], [...b])
  slot.release()

  // Room a read did not fill (an error, a short read) is zeros, whatever the slot held before.
  for (let round = 0; round < 3; round++) {
    const mixed = await c.settle(service.ask(packBatchRead([101, 999, 101], [io(1, chunkA, 0, 8192), io(1, chunkA, 0, 8192), io(1, chunkA, 4096, 8192)], 64 * 1024)), 2_150 + 10 * round)
    const rs = batchReplyResults(mixed)
    const bytesOfMixed = mixed.data instanceof PooledBuffer ? mixed.data.bytes : mixed.data!
    t.match(rs[1], { ok: false, code: 'ERR_STORAGE_TARGET_NOT_FOUND' })
    t.match(rs[2], { ok: true, lengthBytes: 4096, at: 8192 * 2 }, 'a read past the chunk\'s end is short')
    t.ok(bytesOfMixed.subarray(8192, 8192 * 2).every((x) => x === 0), 'the failed read\'s room is zeros')
    t.ok(bytesOfMixed.subarray(8192 * 2 + 4096, 8192 * 3).every((x) => x === 0), 'the short read\'s unused room is zeros')
    t.same([...bytesOfMixed.subarray(8192 * 2, 8192 * 2 + 4096)], [...a.subarray(4096)])
    if (mixed.data instanceof PooledBuffer) mixed.data.release()
  }

  // Without a free slot on the asking node the slotted reply is refused; the client asks again for
  // plain bytes. Every slot is taken but one, which the client actor takes for its own buffer.
  const held: PooledBuffer[] = []
  for (let p = clientNode.system.bufferPool!.tryAllocate(1); p !== null; p = clientNode.system.bufferPool!.tryAllocate(1)) held.push(p)
  held.pop()!.release()
  const starved = await c.settle(client.ask({ type: 'read', chainId: 1, chunkId: chunkA, offset: 4096, length: 4096 }), 2_300)
  for (const p of held) p.release()
  t.same([...starved.bytes.subarray(0, 4096)], [...a.subarray(4096, 8192)], 'a read on a node without a free slot for the reply still returns the bytes')
})
