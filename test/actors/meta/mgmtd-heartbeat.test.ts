/**
 * Meta nodes heartbeat to mgmtd as META (actors/meta/mgmtd-heartbeat.ts), in the simulator: mgmtd
 * on node 1 with a meta actor of its own (which never heartbeats), two meta actors on node 2 (one
 * heartbeater reports both, without refusals or routing churn; the other takes over when the first
 * stops), node failure and return, and mgmtd refusing an unregistered node until it is registered.
 */
import t from 'tap'
import { openKv, type Kv } from '../../../actors/kv/index.ts'
import { metaActor } from '../../../actors/meta/meta-actor.ts'
import { metaNamesInOrder, type HeartbeatOutcome } from '../../../actors/meta/mgmtd-heartbeat.ts'
import type { MetaMsg } from '../../../actors/meta/protocol.ts'
import { resolveMetaConfig } from '../../../actors/meta/config.ts'
import { mgmtdActor } from '../../../actors/mgmtd/mgmtd-actor.ts'
import type { MgmtdMsg, NodeInfo, RoutingInfo } from '../../../actors/mgmtd/protocol.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import { createLogger, type LogRecord } from '../../../runtime/logger.ts'
import { Simulation, type SimNode } from '../../../runtime/testkit/simulation.ts'

const seed = Number(process.env.T3FS_SEED ?? 11)
const mgmtdConfig = { leaseLengthMs: 1_000, extendLeaseIntervalMs: 250, heartbeatFailIntervalMs: 600, checkStatusIntervalMs: 100 }
const metaConfig = { mgmtd_heartbeat_interval: '100ms', gc_scan_interval: '1h', routing_refresh_interval: '1h', session_scan_interval: '1h' }

interface Cluster {
  sim: Simulation
  kv: Kv
  mgmtd: ActorRef<MgmtdMsg>
  /** Every heartbeat round, by the meta server's id. */
  outcomes: Map<number, HeartbeatOutcome[]>
  logs: LogRecord[]
  metaNode(name: string, actors: { name: string; serverId: number }[]): { node: SimNode; refs: () => ActorRef<MetaMsg>[] }
  routing(): Promise<RoutingInfo>
  nodeInfo(nodeId: number): Promise<NodeInfo | undefined>
  runMs(ms: number): Promise<void>
}

async function cluster(t: Tap, mgmtdExtra: Record<string, unknown> = {}): Promise<Cluster> {
  const logs: LogRecord[] = []
  const sim = new Simulation(seed, {}, createLogger({ level: 'info', sink: (r) => logs.push(r) }))
  const kv = await openKv({ backend: 'memory', clock: sim.clock, random: sim.forkRandom() })
  t.teardown(() => kv.close())
  const outcomes = new Map<number, HeartbeatOutcome[]>()
  const probe = (serverId: number) => ({ onAnswer: () => {}, onHeartbeat: (o: HeartbeatOutcome) => outcomes.set(serverId, [...(outcomes.get(serverId) ?? []), o]) })
  let mgmtd!: ActorRef<MgmtdMsg>
  sim.addNode('mgmtd', {
    boot: (n) => {
      mgmtd = n.system.spawn(mgmtdActor, { nodeId: 1, kv, config: { ...mgmtdConfig, ...mgmtdExtra } }, { name: 'mgmtd' }) as unknown as ActorRef<MgmtdMsg>
      n.system.spawn(metaActor, { serverId: 10, kv, mgmtd, probe: probe(10), config: metaConfig }, { name: 'meta' })
    },
  })
  const runMs = (ms: number) => sim.run({ untilMs: sim.clock.now() + ms })
  const settle = async <T>(p: Promise<T>): Promise<T> => {
    let done = false
    const w = p.finally(() => { done = true })
    w.catch(() => undefined)
    await sim.run({ until: () => done, untilMs: sim.clock.now() + 10_000 })
    return w
  }
  const routing = async () => (await settle(mgmtd.ask({ type: 'get-routing-info' }, { timeoutMs: 1_000 })))!
  return {
    sim, kv, mgmtd, outcomes, logs, runMs, routing,
    nodeInfo: async (nodeId) => (await routing()).nodes.find((n) => n.nodeId === nodeId),
    metaNode(name, actors) {
      let refs: ActorRef<MetaMsg>[] = []
      const node = sim.addNode(name, {
        boot: (n) => {
          refs = actors.map((a) => n.system.spawn(metaActor, { serverId: a.serverId, kv, mgmtd, probe: probe(a.serverId), nodeListen: `10.0.0.${n.id}:9000`, config: metaConfig }, { name: a.name }) as unknown as ActorRef<MetaMsg>)
        },
      })
      return { node, refs: () => refs }
    },
  }
}
type Tap = { teardown(fn: () => unknown): void }

const kinds = (list: readonly HeartbeatOutcome[] | undefined): string[] => [...new Set((list ?? []).map((o) => o.kind))]

t.test('heartbeater order: meta names only, shorter first', async (t) => {
  t.same(metaNamesInOrder(['meta10', 'storage', 'meta2', 'metadata', 'meta', 'meta1', 'xmeta']), ['meta', 'meta1', 'meta2', 'meta10'])
})

t.test('mgmtd_heartbeat_interval: a duration, default 10 s, refused out of range naming the knob', async (t) => {
  t.equal(resolveMetaConfig().mgmtdHeartbeatIntervalMs, 10_000)
  t.equal(resolveMetaConfig({ mgmtd_heartbeat_interval: '2s' }).mgmtdHeartbeatIntervalMs, 2_000)
  for (const bad of ['0ms', '11min', 'soon', -1]) {
    t.throws(() => resolveMetaConfig({ mgmtd_heartbeat_interval: bad }), { code: 'ERR_INVALID_OPTION', message: /meta\.mgmtd_heartbeat_interval/ }, JSON.stringify(bad))
  }
})

t.test(`one heartbeater per node reports every meta actor; mgmtd's own node never heartbeats (seed=${seed})`, async (t) => {
  const c = await cluster(t)
  const two = c.metaNode('meta-node', [{ name: 'meta', serverId: 21 }, { name: 'meta2', serverId: 22 }])
  const odd = c.metaNode('odd-node', [{ name: 'metadata', serverId: 31 }])
  await c.runMs(3_000)
  const [first, second] = two.refs()
  const info = await c.nodeInfo(two.node.id)
  t.match(info, { type: 'META', status: 'HEARTBEAT_CONNECTED', endpoint: `10.0.0.${two.node.id}:9000` }, 'node 2 is a connected META node with its endpoint')
  t.same(info?.services, { meta: first.address, meta2: second.address }, 'its services: both meta actors by name')
  t.same(kinds(c.outcomes.get(21)), ['accepted'], 'meta (first in name order) heartbeats, never refused')
  t.ok((c.outcomes.get(21) ?? []).length >= 20, `it beat every interval (${c.outcomes.get(21)?.length} rounds)`)
  t.same(c.outcomes.get(22)?.map((o) => (o.kind === 'watching' ? o.heartbeater : o.kind)).filter((h) => h !== 'meta'), [], 'meta2 only watches meta heartbeat')
  t.notOk(c.outcomes.has(10), 'the meta actor on mgmtd\'s node runs no heartbeat at all')
  t.same((await c.routing()).nodes.filter((n) => n.nodeId === 1).map((n) => n.type), ['MGMTD'], 'node 1 is listed as mgmtd only')
  t.same(kinds(c.outcomes.get(31)), ['watching'], 'a meta actor without a meta name does not heartbeat')
  t.equal(await c.nodeInfo(odd.node.id), undefined, 'so its node is not in the routing info')
  const version = (await c.routing()).routingInfoVersion
  await c.runMs(1_000)
  t.equal((await c.routing()).routingInfoVersion, version, 'steady heartbeats change no routing (no services flip-flop)')

  two.node.system.stop(first)
  await c.runMs(1_000)
  const after = await c.nodeInfo(two.node.id)
  t.match(after, { type: 'META', status: 'HEARTBEAT_CONNECTED' }, 'still connected after the heartbeater stopped')
  t.same(after?.services, { meta2: second.address }, 'meta2 took over and reports itself only')
  t.same(kinds(c.outcomes.get(22)).sort(), ['accepted', 'watching'], 'meta2 heartbeats now, no refusal on the takeover')

  c.sim.crashNode(two.node)
  await c.runMs(1_500)
  t.match(await c.nodeInfo(two.node.id), { status: 'HEARTBEAT_FAILED' }, 'a crashed meta node goes HEARTBEAT_FAILED')
  c.sim.restartNode(two.node)
  await c.runMs(1_000)
  const back = await c.nodeInfo(two.node.id)
  t.match(back, { type: 'META', status: 'HEARTBEAT_CONNECTED' }, 'restarted, it is connected again')
  const [first2, second2] = two.refs()
  t.same(back?.services, { meta: first2.address, meta2: second2.address }, 'with the addresses of its new life')
  // A restarted node's first beat may find its link to mgmtd still coming up (ERR_HOST_DIED): not mgmtd's refusal.
  const refusals = [...c.outcomes.values()].flat().flatMap((o) => (o.kind === 'refused' && o.error.code.startsWith('ERR_MGMTD_') ? [o.error.code] : []))
  t.same(refusals, [], 'mgmtd refused no heartbeat (none stale, through the takeover and the restart)')
})

t.test(`mgmtd refusing unregistered nodes: refused and logged, retried until the node is registered (seed=${seed})`, async (t) => {
  const c = await cluster(t, { allowHeartbeatFromUnregistered: false })
  const one = c.metaNode('meta-node', [{ name: 'meta', serverId: 21 }])
  await c.runMs(2_000)
  const refused = (c.outcomes.get(21) ?? []).filter((o) => o.kind === 'refused')
  t.ok(refused.length >= 10, `refused at every interval (${refused.length} rounds)`)
  t.same([...new Set(refused.map((o) => o.kind === 'refused' && o.error.code))], ['ERR_MGMTD_NODE_NOT_FOUND'], 'because the node is not registered')
  const warned = c.logs.filter((r) => r.level === 'warn' && /META heartbeat/.test(r.message ?? ''))
  t.ok(warned.length >= 1 && warned.length < refused.length, `logged, not at every round (${warned.length} lines for ${refused.length} refusals)`)
  t.match(warned[0]?.fields, { code: 'ERR_MGMTD_NODE_NOT_FOUND', err: /register-node/ }, 'the log line names the code and what to do')
  t.equal(await c.nodeInfo(one.node.id), undefined, 'the node is not in the routing info')
  let registered = false
  void c.mgmtd.ask({ type: 'register-node', nodeId: one.node.id, nodeType: 'META' }).then(() => { registered = true })
  await c.sim.run({ until: () => registered, untilMs: c.sim.clock.now() + 2_000 })
  await c.runMs(500)
  t.match(await c.nodeInfo(one.node.id), { type: 'META', status: 'HEARTBEAT_CONNECTED', services: { meta: one.refs()[0].address } }, 'registered, its next heartbeat is taken')
  t.ok(c.logs.some((r) => r.level === 'info' && /accepts the META heartbeat of this node again/.test(r.message ?? '')), 'and the recovery is logged')
})
