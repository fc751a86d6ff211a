import t from 'tap'
import { openKv, type Kv } from '../../../actors/kv/index.ts'
import { resolveMgmtdConfig } from '../../../actors/mgmtd/config.ts'
import { decideLease } from '../../../actors/mgmtd/lease.ts'
import { mgmtdActor } from '../../../actors/mgmtd/mgmtd-actor.ts'
import type { HeartbeatInfo, MgmtdMsg, RoutingUpdate } from '../../../actors/mgmtd/protocol.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import { TestSystem } from '../../../runtime/testkit/test-system.ts'

const config = { leaseLengthMs: 1_000, extendLeaseIntervalMs: 200, heartbeatFailIntervalMs: 500, checkStatusIntervalMs: 100, updateChainsIntervalMs: 50, newChainBootstrapIntervalMs: 0, clientSessionTimeoutMs: 2_000 }

async function setup(mgmtds = 1) {
  const sys = new TestSystem({ seed: 7 })
  const kv = await openKv({ backend: 'memory', clock: sys.clock })
  const refs = Array.from({ length: mgmtds }, (_, i) => sys.spawn(mgmtdActor, { nodeId: i + 1, kv, config }))
  await sys.advance(10)
  return { sys, kv, refs }
}

/** Asks while virtual time moves; resolves or rejects like the ask. */
async function ask<Q extends MgmtdMsg>(sys: TestSystem, ref: ActorRef<MgmtdMsg>, msg: Q) {
  let settled = false
  const p = ref.ask(msg, { timeoutMs: 10_000 })
  p.then(() => { settled = true }, () => { settled = true })
  for (let i = 0; i < 1000 && !settled; i++) await sys.advance(1)
  return p
}

let hb = 0
const heartbeat = (sys: TestSystem, nodeId: number, targets: HeartbeatInfo['targets'], extra: Partial<HeartbeatInfo> = {}): { type: 'heartbeat'; info: HeartbeatInfo } => ({
  type: 'heartbeat',
  info: { nodeId, type: 'STORAGE', incarnation: 1, hbVersion: ++hb, timestampMs: sys.clock.now(), targets, ...extra },
})

t.test('one primary among two; the standby refuses with the primary named; the other takes over with the state after a stop', async (t) => {
  const { sys, refs } = await setup(2)
  const status = await Promise.all(refs.map((r) => ask(sys, r, { type: 'status' })))
  t.equal(status.filter((s) => s.primary).length, 1, 'exactly one primary')
  const [primary, standby] = status[0].primary ? refs : [refs[1], refs[0]]
  const primaryId = status[0].primary ? 1 : 2
  t.equal((await ask(sys, standby, { type: 'get-primary-mgmtd' }))?.nodeId, primaryId, 'any mgmtd names the lease holder')
  await t.rejects(ask(sys, standby, { type: 'get-routing-info' }), { code: 'ERR_MGMTD_NOT_PRIMARY', message: new RegExp(`not the primary; the primary is node ${primaryId}`) })
  await ask(sys, primary, { type: 'set-chains', chains: [{ chainId: 1, targets: [11, 12] }] })
  await ask(sys, primary, { type: 'extend-client-session', clientId: 'fuse-1', description: 'mount' })
  const stoppedAt = sys.clock.now()
  sys.system.stop(primary)
  let tookOver = -1
  for (let i = 0; i < 150 && tookOver < 0; i++) {
    await sys.advance(10)
    if ((await ask(sys, standby, { type: 'status' })).primary) tookOver = sys.clock.now() - stoppedAt
  }
  t.ok(tookOver > 0 && tookOver <= config.leaseLengthMs + 20, `took over ${tookOver} ms after the stop (lease ${config.leaseLengthMs} ms)`)
  const info = await ask(sys, standby, { type: 'get-routing-info' })
  t.same(info?.chains.map((c) => c.chainId), [1], 'chains survive the failover')
  t.same((await ask(sys, standby, { type: 'list-client-sessions' })).map((s) => s.clientId), ['fuse-1'], 'sessions too')
})

t.test('a crashed primary restarts, waits out its old lease (new token) and reloads everything from the KV', async (t) => {
  const { sys, refs } = await setup(1)
  const [m] = refs
  await ask(sys, m, { type: 'init-cluster', cluster: { clusterId: 'c1', chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 4 } })
  await ask(sys, m, { type: 'set-chains', chains: [{ chainId: 5, targets: [51] }] })
  await ask(sys, m, { type: 'set-chain-table', tableId: 1, chains: [5], desc: 'x' })
  const before = await ask(sys, m, { type: 'get-routing-info' })
  sys.system.localCell(m.address)!.onFailure(new Error('simulated crash'))
  await sys.advance(50)
  t.equal((await ask(sys, m, { type: 'status' })).primary, false, 'not primary right after the restart: the old incarnation holds the lease')
  await sys.advance(config.leaseLengthMs + 50)
  t.equal((await ask(sys, m, { type: 'status' })).primary, true)
  const after = await ask(sys, m, { type: 'get-routing-info' })
  t.same(after?.chains.map((c) => c.chainId), [5])
  t.same(after?.chainTables, before?.chainTables)
  t.ok((after?.routingInfoVersion ?? 0) > (before?.routingInfoVersion ?? 0), 'the routing version keeps growing across restarts')
  t.same(await ask(sys, m, { type: 'get-cluster' }), { clusterId: 'c1', chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 4 })
})

t.test('heartbeats: accepted, stale, skewed, disabled, type mismatch, unregistered when not allowed', async (t) => {
  const { sys, refs } = await setup(1)
  const [m] = refs
  t.ok((await ask(sys, m, heartbeat(sys, 10, []))).routingInfoVersion > 0)
  const stale = heartbeat(sys, 10, [])
  stale.info.hbVersion = 1
  await t.rejects(ask(sys, m, stale), { code: 'ERR_MGMTD_STALE_HEARTBEAT', message: /stale heartbeat from node 10/ })
  await t.rejects(ask(sys, m, heartbeat(sys, 10, [], { timestampMs: sys.clock.now() + 60_000 })), { code: 'ERR_MGMTD_CLOCK_SKEW', message: /within ±30000 ms/ })
  await t.rejects(ask(sys, m, heartbeat(sys, 10, [], { type: 'META' })), { code: 'ERR_MGMTD_NODE_TYPE_MISMATCH' })
  await ask(sys, m, { type: 'disable-node', nodeId: 10 })
  await t.rejects(ask(sys, m, heartbeat(sys, 10, [])), { code: 'ERR_MGMTD_NODE_DISABLED', message: /enable it \(t3fs admin enable-node 10\)/ })
  await ask(sys, m, { type: 'enable-node', nodeId: 10 })
  await ask(sys, m, heartbeat(sys, 10, []))
  await t.rejects(ask(sys, m, { type: 'heartbeat', info: { nodeId: -1 } } as never), { code: 'ERR_INVALID_MESSAGE', message: /heartbeat\.info\.nodeId is -1; accepted: a non-negative safe integer/ })
  await t.rejects(ask(sys, m, { type: 'register-node', nodeId: 10, nodeType: 'META' }), { code: 'ERR_MGMTD_NODE_TYPE_MISMATCH' })
  await t.rejects(ask(sys, m, heartbeat(sys, 1, [])), { code: 'ERR_MGMTD_BAD_REQUEST', message: /id of this mgmtd/ })
  await t.rejects(ask(sys, m, heartbeat(sys, 0, [])), { code: 'ERR_MGMTD_BAD_REQUEST', message: /0 is not a node id/ })
  await t.rejects(ask(sys, m, heartbeat(sys, 10, [{ targetId: 5, localState: 'ONLINE' }, { targetId: 5, localState: 'OFFLINE' }])), { message: /lists target 5 twice/ })
  await t.rejects(ask(sys, m, { type: 'set-chains', chains: [{ chainId: 0, targets: [1] }] }), { code: 'ERR_MGMTD_BAD_REQUEST', message: /accepted: chain and target ids >= 1/ })
  await t.rejects(ask(sys, m, { type: 'unregister-node', nodeId: 77 }), { code: 'ERR_MGMTD_NODE_NOT_FOUND' })

  const strict = await setup(1)
  const s = strict.sys.spawn(mgmtdActor, { nodeId: 2, kv: await openKv({ backend: 'memory', clock: strict.sys.clock }), config: { ...config, allowHeartbeatFromUnregistered: false } })
  await strict.sys.advance(10)
  await t.rejects(ask(strict.sys, s, heartbeat(strict.sys, 20, [])), { code: 'ERR_MGMTD_NODE_NOT_FOUND', message: /register it first \(t3fs admin register-node 20 STORAGE\)/ })
  await ask(strict.sys, s, { type: 'register-node', nodeId: 20, nodeType: 'STORAGE' })
  t.ok(await ask(strict.sys, s, heartbeat(strict.sys, 20, [])), 'accepted once registered')
})

t.test('a silent node fails: its targets go OFFLINE and a chain with no serving target has exactly one LASTSRV', async (t) => {
  const { sys, refs } = await setup(1)
  const [m] = refs
  await ask(sys, m, { type: 'set-chains', chains: [{ chainId: 1, targets: [101, 201] }] })
  const beat = async () => {
    await ask(sys, m, heartbeat(sys, 10001, [{ targetId: 101, localState: 'UPTODATE' }], { hbVersion: ++hb }))
    await ask(sys, m, heartbeat(sys, 10002, [{ targetId: 201, localState: 'UPTODATE' }], { hbVersion: ++hb }))
  }
  for (let i = 0; i < 5; i++) { await beat(); await sys.advance(100) }
  let info = await ask(sys, m, { type: 'get-routing-info' })
  t.same(info?.chains[0].targets.map((x) => x.publicState), ['SERVING', 'SERVING'])
  t.same(info?.nodes.filter((n) => n.type === 'STORAGE').map((n) => n.status), ['HEARTBEAT_CONNECTED', 'HEARTBEAT_CONNECTED'])
  for (let i = 0; i < 8; i++) { await ask(sys, m, heartbeat(sys, 10002, [{ targetId: 201, localState: 'UPTODATE' }])); await sys.advance(100) }
  info = await ask(sys, m, { type: 'get-routing-info' })
  t.same(info?.nodes.find((n) => n.nodeId === 10001)?.status, 'HEARTBEAT_FAILED')
  t.same(info?.chains[0].targets, [{ targetId: 201, publicState: 'SERVING' }, { targetId: 101, publicState: 'OFFLINE' }])
  t.equal(info?.chains[0].chainVersion, 2)
  await sys.advance(800)
  info = await ask(sys, m, { type: 'get-routing-info' })
  t.same(info?.chains[0].targets, [{ targetId: 201, publicState: 'LASTSRV' }, { targetId: 101, publicState: 'OFFLINE' }], 'the last serving target died: it is the one LASTSRV')
  await ask(sys, m, heartbeat(sys, 10001, [{ targetId: 101, localState: 'ONLINE' }], { incarnation: 2 }))
  await sys.advance(100)
  info = await ask(sys, m, { type: 'get-routing-info' })
  t.same(info?.chains[0].targets, [{ targetId: 201, publicState: 'LASTSRV' }, { targetId: 101, publicState: 'WAITING' }], 'a complete other target still waits for the LASTSRV')
  await ask(sys, m, heartbeat(sys, 10002, [{ targetId: 201, localState: 'ONLINE' }], { incarnation: 2 }))
  await sys.advance(100)
  info = await ask(sys, m, { type: 'get-routing-info' })
  t.same(info?.chains[0].targets, [{ targetId: 201, publicState: 'SERVING' }, { targetId: 101, publicState: 'SYNCING' }], 'LASTSRV returns, the other starts syncing')
  t.same(await ask(sys, m, { type: 'get-routing-info', routingInfoVersion: info!.routingInfoVersion }), null, 'an up-to-date caller gets nothing')
})

t.test('subscribers receive the routing info on every change, versions growing', async (t) => {
  const { sys, refs } = await setup(1)
  const [m] = refs
  const probe = sys.createProbe<RoutingUpdate>('routing')
  m.tell({ type: 'subscribe', subscriber: probe.ref })
  const first = await probe.expectMessage()
  await ask(sys, m, { type: 'set-chains', chains: [{ chainId: 3, targets: [31] }] })
  const second = await probe.expectMessage()
  t.ok(second.info.routingInfoVersion > first.info.routingInfoVersion)
  t.same(second.info.chains.map((c) => c.chainId), [3])
  await ask(sys, m, { type: 'register-node', nodeId: 40, nodeType: 'META' })
  const third = await probe.expectMessage()
  t.equal(third.info.routingInfoVersion, second.info.routingInfoVersion + 1)
  m.tell({ type: 'unsubscribe', subscriber: probe.ref })
  await ask(sys, m, { type: 'register-node', nodeId: 41, nodeType: 'META' })
  await probe.expectNoMessage(50)
})

t.test('client sessions: extend, get, list, expire after the timeout', async (t) => {
  const { sys, refs } = await setup(1)
  const [m] = refs
  const s = await ask(sys, m, { type: 'extend-client-session', clientId: 'c1', nodeId: 9, description: 'fuse /mnt' })
  t.same({ nodeId: s.nodeId, description: s.description }, { nodeId: 9, description: 'fuse /mnt' })
  await sys.advance(1_000)
  await ask(sys, m, { type: 'extend-client-session', clientId: 'c1' })
  await ask(sys, m, { type: 'extend-client-session', clientId: 'c2' })
  t.equal((await ask(sys, m, { type: 'get-client-session', clientId: 'c1' }))?.description, 'fuse /mnt', 'an extension keeps what it does not change')
  await sys.advance(1_500)
  await ask(sys, m, { type: 'extend-client-session', clientId: 'c2' })
  await sys.advance(1_000)
  t.same((await ask(sys, m, { type: 'list-client-sessions' })).map((x) => x.clientId), ['c2'], 'c1 expired')
  await t.rejects(ask(sys, m, { type: 'extend-client-session', clientId: '' }), { code: 'ERR_INVALID_MESSAGE' })
})

t.test('lease decisions and config validation', async (t) => {
  const me = { nodeId: 1, token: 'a', address: null }
  t.match(decideLease(undefined, me, 100, 1000), { kind: 'primary', acquired: true, lease: { leaseEndMs: 1100 } })
  t.match(decideLease({ nodeId: 2, address: null, token: 'b', leaseStartMs: 0, leaseEndMs: 500 }, me, 499, 1000), { kind: 'standby' })
  t.match(decideLease({ nodeId: 2, address: null, token: 'b', leaseStartMs: 0, leaseEndMs: 500 }, me, 500, 1000), { kind: 'primary', acquired: true })
  t.match(decideLease({ nodeId: 1, address: null, token: 'a', leaseStartMs: 0, leaseEndMs: 500 }, me, 300, 1000), { kind: 'primary', acquired: false, lease: { leaseStartMs: 0, leaseEndMs: 1300 } })
  t.equal(resolveMgmtdConfig({ lease_length: '2min', extend_lease_interval: '10s' }).leaseLengthMs, 120_000)
  t.throws(() => resolveMgmtdConfig({ lease_length: 'forever' }), { code: 'ERR_INVALID_OPTION', message: /mgmtd\.lease_length is "forever"; accepted: a number of ms .* or a duration string/ })
  t.throws(() => resolveMgmtdConfig({ leaseLengthMs: 1000, extendLeaseIntervalMs: 800 }), { message: /at most half of leaseLengthMs/ })
  t.throws(() => resolveMgmtdConfig({ bogus: 1 }), { message: /mgmtd\.bogus .*accepted: a known mgmtd option/ })
})

void ({} as Kv)

t.test('the KV: nodeKv (what t3fs launch hands over from [kv]) opens it; the old kv_* params are refused, naming [kv]', async (t) => {
  const { createLogger } = await import('../../../runtime/logger.ts')
  const failures: string[] = []
  const log = createLogger({ level: 'error', sink: (r) => { if (r.fields.evt === 'ActorFailed') failures.push(String(r.fields.err)) } })
  const sys = new TestSystem({ seed: 3, log })
  const m = sys.spawn(mgmtdActor, { nodeId: 1, nodeKv: { backend: 'memory' }, config })
  await sys.advance(10)
  t.equal((await ask(sys, m, { type: 'status' })).primary, true, 'mgmtd on the memory KV it opened from nodeKv is primary')
  t.same(mgmtdActor.needs, ['kv'], 'mgmtd declares that it needs the node\'s KV')
  for (const [key, value] of [['kv_backend', 'memory'], ['kv_path', '/tmp/x'], ['kvClusterFile', '/etc/fdb.cluster']] as const) {
    failures.length = 0
    sys.spawn(mgmtdActor, { nodeId: 2, nodeKv: { backend: 'memory' }, config, [key]: value } as unknown as Parameters<typeof mgmtdActor.init>[1])
    await sys.advance(10)
    t.match(failures[0], new RegExp(`mgmtd option ${key} is "${value}"; accepted: no such option — a node's KV is set once, in the profile's \\[kv\\] section .*remove ${key} from \\[actors\\.params\\]`), key)
  }
  failures.length = 0
  sys.spawn(mgmtdActor, { nodeId: 3, config })
  await sys.advance(10)
  t.match(failures[0], /mgmtd has no KV; accepted: started by t3fs launch it gets the profile's \[kv\] section/, 'no KV at all is a clear error')
  failures.length = 0
  sys.spawn(mgmtdActor, { nodeId: 4, nodeKv: { backend: 'lmdb' }, config } as unknown as Parameters<typeof mgmtdActor.init>[1])
  await sys.advance(10)
  t.match(failures[0], /option kv\.path is undefined; accepted: a non-empty directory path/, 'lmdb settings without a path are refused')
})
