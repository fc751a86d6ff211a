/**
 * mgmtd's storage-facing additions: heartbeats carry the node's endpoint and service addresses,
 * each target's replica address and a predecessor's sync progress; targets in no chain are spares;
 * a target OFFLINE past `autoReplaceOfflineAfterMs` is replaced by a spare on another node, which
 * syncs, after which the dead target leaves the chain.
 */
import t from 'tap'
import { openKv } from '../../../actors/kv/index.ts'
import { mgmtdActor } from '../../../actors/mgmtd/mgmtd-actor.ts'
import { fromSnapshot } from '../../../actors/mgmtd/cluster-data.ts'
import { planReplication, trackOffline } from '../../../actors/mgmtd/replication.ts'
import type { ActorAddress } from '../../../runtime/address.ts'
import type { HeartbeatInfo, LocalTargetInfo, MgmtdMsg, RoutingInfo } from '../../../actors/mgmtd/protocol.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import { TestSystem } from '../../../runtime/testkit/test-system.ts'

const config = { leaseLengthMs: 1_000, extendLeaseIntervalMs: 200, heartbeatFailIntervalMs: 500, checkStatusIntervalMs: 100, updateChainsIntervalMs: 50, newChainBootstrapIntervalMs: 0, autoReplaceOfflineAfterMs: 1_000 }

async function setup() {
  const sys = new TestSystem({ seed: 3 })
  const kv = await openKv({ backend: 'memory', clock: sys.clock })
  const m = sys.spawn(mgmtdActor, { nodeId: 1, kv, config })
  await sys.advance(10)
  return { sys, kv, m }
}

async function ask<Q extends MgmtdMsg>(sys: TestSystem, ref: ActorRef<MgmtdMsg>, msg: Q) {
  let settled = false
  const p = ref.ask(msg, { timeoutMs: 10_000 })
  p.then(() => { settled = true }, () => { settled = true })
  for (let i = 0; i < 1000 && !settled; i++) await sys.advance(1)
  return p
}

const addr = (node: number, id: number): ActorAddress => ({ node, host: 1, id, incarnation: 7 })
let hb = 0
function heartbeat(sys: TestSystem, nodeId: number, targets: LocalTargetInfo[], extra: Partial<HeartbeatInfo> = {}): { type: 'heartbeat'; info: HeartbeatInfo } {
  return { type: 'heartbeat', info: { nodeId, type: 'STORAGE', incarnation: 1, hbVersion: ++hb, timestampMs: sys.clock.now(), targets, ...extra } }
}

const states = (info: RoutingInfo | null, chainId = 1): string => info!.chains.find((c) => c.chainId === chainId)!.targets.map((x) => `${x.targetId}:${x.publicState}`).join(' ')

t.test('heartbeats carry endpoints, service and replica addresses, sync progress; unknown targets are spares', async (t) => {
  const { sys, m } = await setup()
  await ask(sys, m, { type: 'set-chains', chains: [{ chainId: 1, targets: [101, 201] }] })
  await ask(sys, m, heartbeat(sys, 10001, [{ targetId: 101, localState: 'UPTODATE', address: addr(10001, 5), sync: { targetId: 201, doneChunks: 3, totalChunks: 10, copiedChunks: 2, copiedBytes: 8192 } }, { targetId: 199, localState: 'ONLINE', usedSizeBytes: 4096, address: addr(10001, 6) }], { endpoint: '127.0.0.1:9101', services: { storage: addr(10001, 4) } }))
  await ask(sys, m, heartbeat(sys, 10002, [{ targetId: 201, localState: 'OFFLINE', address: addr(10002, 5) }], { endpoint: '127.0.0.1:9102' }))
  await sys.advance(100)
  await ask(sys, m, heartbeat(sys, 10002, [{ targetId: 201, localState: 'ONLINE', address: addr(10002, 5) }]))
  await sys.advance(100)
  const info = await ask(sys, m, { type: 'get-routing-info' })
  const node = info!.nodes.find((n) => n.nodeId === 10001)!
  t.equal(node.endpoint, '127.0.0.1:9101')
  t.same(node.services, { storage: addr(10001, 4) })
  t.same(info!.targets.find((x) => x.targetId === 101)!.address, addr(10001, 5), 'the replica address of a chain target')
  t.same(info!.orphanTargets.map((o) => [o.targetId, o.nodeId, o.localState, o.usedSizeBytes]), [[199, 10001, 'ONLINE', 4096]], 'a target in no chain is listed as a spare with its node')
  t.equal(states(info), '101:SERVING 201:SYNCING', 'the target back ONLINE syncs')
  // Progress shows on the SYNCING target once its predecessor reports it.
  await ask(sys, m, heartbeat(sys, 10001, [{ targetId: 101, localState: 'UPTODATE', address: addr(10001, 5), sync: { targetId: 201, doneChunks: 7, totalChunks: 10, copiedChunks: 4, copiedBytes: 16384 } }]))
  const after = await ask(sys, m, { type: 'get-routing-info' })
  t.same(after!.targets.find((x) => x.targetId === 201)!.syncProgress, { targetId: 201, doneChunks: 7, totalChunks: 10, copiedChunks: 4, copiedBytes: 16384 })
  // A restarted node reports a new replica address: routing changes, the address follows.
  const version = after!.routingInfoVersion
  await ask(sys, m, heartbeat(sys, 10001, [{ targetId: 101, localState: 'UPTODATE', address: addr(10001, 9) }], { incarnation: 2 }))
  const moved = await ask(sys, m, { type: 'get-routing-info' })
  t.ok(moved!.routingInfoVersion > version, 'a new address bumps the routing version (pushed to subscribers)')
  t.same(moved!.targets.find((x) => x.targetId === 101)!.address, addr(10001, 9))
  await t.rejects(ask(sys, m, heartbeat(sys, 10001, [{ targetId: 101, localState: 'UPTODATE', address: { node: 1 } as never }], { incarnation: 3 })), { code: 'ERR_INVALID_MESSAGE', message: /heartbeat\.info\.targets .*address\?: \{ node, host, id, incarnation \}/ })
  await t.rejects(ask(sys, m, heartbeat(sys, 10001, [], { incarnation: 3, endpoint: 'nowhere' })), { code: 'ERR_INVALID_MESSAGE', message: /heartbeat\.info\.endpoint is "nowhere"; accepted: a TCP address "host:port"/ })
})

t.test('a target OFFLINE past the delay is replaced by a spare on another node; the dead one leaves once the spare serves', async (t) => {
  const { sys, m, kv } = await setup()
  await ask(sys, m, { type: 'set-chains', chains: [{ chainId: 1, targets: [101, 201, 301] }] })
  // Node 10004 holds a spare; node 10001 holds another spare, but also a target of the chain.
  const beat = async (dead: boolean, spareState: 'ONLINE' | 'UPTODATE' = 'ONLINE') => {
    await ask(sys, m, heartbeat(sys, 10001, [{ targetId: 101, localState: 'UPTODATE' }, { targetId: 102, localState: 'ONLINE' }]))
    await ask(sys, m, heartbeat(sys, 10002, [{ targetId: 201, localState: 'UPTODATE' }]))
    if (!dead) await ask(sys, m, heartbeat(sys, 10003, [{ targetId: 301, localState: 'UPTODATE' }]))
    await ask(sys, m, heartbeat(sys, 10004, [{ targetId: 401, localState: spareState }]))
  }
  for (let i = 0; i < 3; i++) { await beat(false); await sys.advance(100) }
  t.equal(states(await ask(sys, m, { type: 'get-routing-info' })), '101:SERVING 201:SERVING 301:SERVING')
  for (let i = 0; i < 8; i++) { await beat(true); await sys.advance(100) }
  let info = await ask(sys, m, { type: 'get-routing-info' })
  t.equal(states(info), '101:SERVING 201:SERVING 301:OFFLINE', 'node 10003 went silent')
  t.same(info!.replacements, [], 'not replaced before the delay')
  for (let i = 0; i < 10; i++) { await beat(true); await sys.advance(100) }
  info = await ask(sys, m, { type: 'get-routing-info' })
  t.equal(states(info), '101:SERVING 201:SERVING 401:SYNCING 301:OFFLINE', 'the spare on the node without a chain target joined and syncs')
  t.match(info!.replacements, [{ chainId: 1, deadTargetId: 301, spareTargetId: 401 }])
  t.same(info!.orphanTargets.map((o) => o.targetId), [102], 'the other spare stays a spare')
  // A new primary (crash and reload) keeps the replacement going from the KV.
  sys.system.localCell(m.address)!.onFailure(new Error('simulated crash'))
  await sys.advance(config.leaseLengthMs + 100)
  info = await ask(sys, m, { type: 'get-routing-info' })
  t.match(info!.replacements, [{ chainId: 1, deadTargetId: 301, spareTargetId: 401 }], 'recorded in the KV')
  for (let i = 0; i < 4; i++) { await beat(true, 'UPTODATE'); await sys.advance(100) }
  info = await ask(sys, m, { type: 'get-routing-info' })
  t.equal(states(info), '101:SERVING 201:SERVING 401:SERVING', 'synced: the spare serves and the dead target left the chain')
  t.same(info!.replacements, [])
  t.notOk(info!.targets.some((x) => x.targetId === 301), 'the dead target is no longer a chain target')
  void kv
})

t.test('planReplication: no spare, no serving target, or a spare on the same node → nothing; one replacement per chain', async (t) => {
  const data = fromSnapshot({ cluster: null, routingVersion: 1, nodes: [], chains: [], tables: [], targets: [], sessions: [], replacements: [] }, 0)
  const node = (nodeId: number) => data.nodes.set(nodeId, { nodeId, type: 'STORAGE', hostname: '', disabled: false, lastHeartbeatMs: 0, incarnation: 1, hbVersion: 1, failed: false })
  for (const n of [1, 2, 3, 4]) node(n)
  const target = (targetId: number, chainId: number, nodeId: number, localState: 'OFFLINE' | 'UPTODATE') =>
    data.targets.set(targetId, { targetId, chainId, nodeId, localState, diskIndex: 0, usedSizeBytes: 0, adminOfflineIncarnation: null, address: null, lastUpdateMs: 0, syncProgress: null })
  data.chains.set(1, { chainId: 1, chainVersion: 3, targets: [{ targetId: 11, publicState: 'SERVING' }, { targetId: 21, publicState: 'OFFLINE' }] })
  data.chains.set(2, { chainId: 2, chainVersion: 3, targets: [{ targetId: 12, publicState: 'LASTSRV' }, { targetId: 22, publicState: 'OFFLINE' }] })
  target(11, 1, 1, 'UPTODATE'); target(21, 1, 2, 'OFFLINE'); target(12, 2, 1, 'OFFLINE'); target(22, 2, 2, 'OFFLINE')
  trackOffline(data, 0)
  const never = () => false
  t.same(planReplication(data, 5_000, 1_000, never).notes, [], 'no spare at all')
  data.orphanTargets.set(13, { targetId: 13, nodeId: 1, diskIndex: 0, localState: 'ONLINE', usedSizeBytes: 0, address: null, lastSeenMs: 0 })
  t.same(planReplication(data, 5_000, 1_000, never).notes, [], 'a spare on a node that holds a target of the chain is not used')
  data.orphanTargets.set(31, { targetId: 31, nodeId: 3, diskIndex: 0, localState: 'ONLINE', usedSizeBytes: 0, address: null, lastSeenMs: 0 })
  data.orphanTargets.set(41, { targetId: 41, nodeId: 4, diskIndex: 0, localState: 'ONLINE', usedSizeBytes: 0, address: null, lastSeenMs: 0 })
  t.same(planReplication(data, 500, 1_000, never).notes, [], 'not before the delay')
  t.same(planReplication(data, 5_000, 1_000, (id) => id === 1).notes, [], 'not while the chain is frozen')
  const step = planReplication(data, 5_000, 1_000, never)
  t.equal(step.chains.length, 1, 'only chain 1: chain 2 has no SERVING target to sync from')
  t.same(step.chains[0].chain.targets.map((x) => x.targetId), [11, 21, 31])
  t.equal(step.chains[0].chain.chainVersion, 4)
  t.same(planReplication(data, 6_000, 1_000, never).notes, [], 'one replacement per chain at a time')
})
