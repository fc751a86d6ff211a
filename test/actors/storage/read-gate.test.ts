/**
 * The read gate (actors/storage/replica/read-gate.ts): a node's batch reads reach its replicas
 * through it without a message, under every rule of the replica's own batch-read — a crashed
 * replica's leftover gate refuses (never answers stale or wrong bytes), the next life serves
 * again, and the replica's bound on operations in flight holds.
 */
import t from 'tap'
import type { RoutingInfo } from '../../../actors/mgmtd/protocol.ts'
import { makeChunkId, type ChunkId } from '../../../actors/storage/chunk-id.ts'
import { storageClientActor } from '../../../actors/storage/client/client-actor.ts'
import type { BatchReadReply, ReadIO, ReadResult, ReplicaMsg } from '../../../actors/storage/protocol.ts'
import { ReadGate } from '../../../actors/storage/replica/read-gate.ts'
import { buildStorageCluster, type StorageCluster } from '../../sim/storage-cluster.ts'
import { batchReplyResults } from '../../../actors/storage/batch-reply.ts'
import { packBatchRead } from '../../../actors/storage/batch-request.ts'

t.test('a gate serves the life that opened it last; an older life closing it leaves the newer one', async (t) => {
  const gate = new ReadGate()
  const into = { bytes: new Uint8Array(0), at: [] }
  t.equal(gate.read([], into), null, 'closed until a replica opens it')
  const first = gate.open(async () => [{ ok: false, code: 'first', message: '' }])
  const second = gate.open(async () => [{ ok: false, code: 'second', message: '' }])
  gate.close(first)
  const got = await gate.read([], into) as ReadResult[]
  t.equal(got[0].ok === false && got[0].code, 'second', 'the older life\'s close did not close the newer life\'s gate')
  gate.close(second)
  t.equal(gate.read([], into), null, 'closed by the life that opened it')
})

const chunkSizeBytes = 64 * 1024

async function setup(seed: number, storageConfig: Record<string, unknown> = {}): Promise<{ c: StorageCluster; chunkId: ChunkId; data: Uint8Array; io: (offset: number, length: number, chainVersion?: number) => ReadIO }> {
  const c = await buildStorageCluster(seed, {}, { storageNodes: 3, chains: 1, replicas: 3, storageConfig })
  await c.runUntil(() => false, 600)
  const clientNode = c.sim.addNode('client', { bufferPool: { classes: [{ slotBytes: chunkSizeBytes, slots: 16 }] } })
  const client = clientNode.system.spawn(storageClientActor, { clientId: 'gate-test', mgmtds: c.mgmtds, requestTimeoutMs: 200, retryBudgetMs: 2_000 })
  const chunkId = makeChunkId(9n, 0)
  const data = new Uint8Array(16_384).map((_, i) => (i * 13 + 5) & 0xff)
  await c.settle(client.ask({ type: 'write', chainId: 1, chunkId, offset: 0, data, chunkSizeBytes }), 900)
  const routing = (await c.routing())!
  const version = routing.chains[0].chainVersion
  return { c, chunkId, data, io: (offset, length, chainVersion = version) => ({ key: { chainId: 1, chainVersion, chunkId }, offset, length, into: { kind: 'none' } }) }
}

const bytesOf = (reply: BatchReadReply, r: ReadResult): number[] => {
  const data = reply.data === null || reply.data instanceof Uint8Array ? reply.data : reply.data.bytes
  return r.ok && r.at !== undefined && data !== null ? [...data.subarray(r.at, r.at + r.lengthBytes)] : []
}

t.test('a crashed replica\'s gate refuses with a state the client retries; its next life serves through the gate again', async (t) => {
  const { c, data, io } = await setup(11)
  const service = c.service(c.storage[0])
  const before = await c.settle(service.ask(packBatchRead([101], [io(4096, 4096)])), 1_000)
  t.same(bytesOf(before, batchReplyResults(before)[0]), [...data.subarray(4096, 8192)], 'served through the gate')
  const routing = (await c.routing()) as RoutingInfo
  const replica = c.storage[0].system.refFor<ReplicaMsg>(routing.targets.find((x) => x.targetId === 101)!.address!)
  t.ok(c.sim.crash(replica), 'the replica of target 101 crashed')
  const during = await c.settle(service.ask(packBatchRead([101], [io(0, 4096)])), c.sim.clock.now() + 5)
  t.match(batchReplyResults(during)[0], { ok: false, code: 'ERR_STORAGE_TARGET_STATE' }, 'the fenced life answers no bytes, only a retryable state')
  const room = during.data === null || during.data instanceof Uint8Array ? during.data : during.data.bytes
  t.ok(room !== null && room.every((x) => x === 0), 'its room in the reply is zeros')
  let after: BatchReadReply | null = null
  await c.runUntil(() => false, c.sim.clock.now() + 50)
  for (let i = 0; i < 100 && (after === null || !batchReplyResults(after)[0].ok); i++) {
    const now = (await c.routing())!.chains[0].chainVersion // the chain moved on while the target was away
    after = await c.settle(service.ask(packBatchRead([101], [io(8192, 100, now)])), c.sim.clock.now() + 20)
    if (!batchReplyResults(after)[0].ok) await c.runUntil(() => false, c.sim.clock.now() + 20)
  }
  t.ok(after !== null && batchReplyResults(after)[0].ok, 'the restarted replica serves again once it is back in the chain')
  t.same(bytesOf(after!, batchReplyResults(after!)[0]), [...data.subarray(8192, 8292)], 'with the committed bytes')
})

t.test('reads through the gate count against the replica\'s bound on operations in flight', async (t) => {
  const { c, io } = await setup(12, { maxInFlight: 1 })
  const service = c.service(c.storage[0])
  const a = service.ask(packBatchRead([101], [io(0, 4096)]))
  const b = service.ask(packBatchRead([101], [io(4096, 4096)]))
  const [ra, rb] = await c.settle(Promise.all([a, b]), c.sim.clock.now() + 200)
  t.match(batchReplyResults(ra)[0], { ok: true, lengthBytes: 4096 }, 'the first batch is served')
  t.match(batchReplyResults(rb)[0], { ok: false, code: 'ERR_STORAGE_BUSY' }, 'the second, while the first is on the disk, is refused as busy (the client retries it)')
})
