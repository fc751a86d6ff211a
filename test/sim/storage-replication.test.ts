/**
 * Automatic re-replication end to end in the simulator: a storage node dies for good; after
 * auto_replace_offline_after, mgmtd adds a spare target of another node to each chain that lost a
 * replica; the spare syncs the chain's chunks from the real storage service, serves, and the dead
 * target leaves the chain. The data reads back from the spare.
 */
import t from 'tap'
import { makeChunkId } from '../../actors/storage/chunk-id.ts'
import { storageClientActor } from '../../actors/storage/client/client-actor.ts'
import type { RoutingInfo } from '../../actors/mgmtd/protocol.ts'
import { buildStorageCluster } from './storage-cluster.ts'

const chunkSizeBytes = 64 * 1024

t.test('a dead node\'s targets are replaced by spares on other nodes, which sync and serve', async (t) => {
  const c = await buildStorageCluster(11, {}, { storageNodes: 4, chains: 2, replicas: 3, spares: 1, mgmtdConfig: { autoReplaceOfflineAfterMs: 500 } })
  const node = c.sim.addNode('client', { bufferPool: { classes: [{ slotBytes: chunkSizeBytes, slots: 16 }] } })
  const client = node.system.spawn(storageClientActor, { clientId: 'c', mgmtds: c.mgmtds, requestTimeoutMs: 200, retryBudgetMs: 3_000, backoffMinMs: 5, backoffMaxMs: 50 })
  await c.runUntil(() => false, 700)
  for (let i = 0; i < 8; i++) {
    await c.settle(client.ask({ type: 'write', chainId: 1 + (i % 2), chunkId: makeChunkId(3n, i), offset: 0, data: new Uint8Array(8192).fill(i + 1), chunkSizeBytes }), c.sim.clock.now() + 500)
  }
  c.sim.crashNode(c.storage[0]) // node 1 holds 101 (chain 1) and spare 190
  const states = (info: RoutingInfo | null) => info?.chains.map((ch) => ch.targets.map((x) => `${x.targetId}:${x.publicState}`).join(' ')).join(' | ') ?? ''
  let info: RoutingInfo | null = null
  let sawReplacement = false
  for (let step = 0; step < 60; step++) {
    await c.runUntil(() => false, c.sim.clock.now() + 100)
    info = await c.routing()
    if ((info?.replacements.length ?? 0) > 0) sawReplacement = true
    if (info !== null && info.chains[0].targets.length === 3 && !info.chains[0].targets.some((x) => x.targetId === 101) && info.chains[0].targets.every((x) => x.publicState === 'SERVING')) break
  }
  t.ok(sawReplacement, 'mgmtd listed the replacement while it ran')
  t.equal(states(info).split(' | ')[0], '201:SERVING 301:SERVING 490:SERVING', 'chain 1: the spare of node 4 replaced 101, which left the chain')
  t.equal(states(info).split(' | ')[1], '202:SERVING 302:SERVING 402:SERVING', 'chain 2 never had a target on node 1')
  t.same(info!.replacements, [], 'done')
  t.notOk(info!.targets.some((x) => x.targetId === 101))
  for (const i of [0, 2, 4, 6]) {
    const r = await c.settle(client.ask({ type: 'read', chainId: 1, chunkId: makeChunkId(3n, i), offset: 0, length: 8192, prefer: 490 }), c.sim.clock.now() + 300)
    t.same([r.targetId, r.lengthBytes, r.bytes[0], r.bytes[8191]], [490, 8192, i + 1, i + 1], `chunk ${i} reads back from the spare`)
  }
})
