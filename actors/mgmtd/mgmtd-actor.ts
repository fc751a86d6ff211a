/**
 * The mgmtd actor: primary election through the KV lease, then — as primary — the node registry,
 * heartbeats, target states, the chain updater, chain tables, client sessions, and routing info
 * pushed to subscribers on every change. A standby answers get-primary-mgmtd and status, and
 * refuses everything else with ERR_MGMTD_NOT_PRIMARY naming the primary.
 *
 * Every write re-checks the lease in its transaction (store.ts); any failed write drops the
 * in-memory view, and the next lease round reloads it from the KV. A restart (crash) re-runs init
 * with a new lease token, so a half-finished handler of the old incarnation cannot write.
 */
import { defineActor, type ActorContext, type ActorRef } from '../../runtime/actor.ts'
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import { checkNodeKvSettings, openNodeKv, type Kv, type NodeKvSettings } from '../kv/index.ts'
import { updateChain } from './chain-state-machine.ts'
import { planReplication, trackOffline } from './replication.ts'
import { fromSnapshot, persistedNode, persistedTarget, type ClusterData } from './cluster-data.ts'
import { resolveMgmtdConfig, type MgmtdConfig } from './config.ts'
import { applyHeartbeat, checkHeartbeats } from './heartbeat.ts'
import { extendLease, type LeaseRecord } from './lease.ts'
import * as ops from './operations.ts'
import { MgmtdErrorCode, type MgmtdMsg, type RoutingUpdate } from './protocol.ts'
import { buildRoutingInfo } from './routing-info.ts'
import { maybeRecordRoutingMetrics } from './metrics.ts'
import { loadSnapshot, writeAsPrimary, type ChainWrite, type PrimaryWrites } from './store.ts'
import { validateMgmtdMsg } from './validate.ts'

/** Test hook (in-process only): told whenever this incarnation's belief about being primary changes. */
export interface MgmtdProbe {
  onRole(event: { nodeId: number; token: string; primary: boolean; leaseEndMs: number }): void
}

export interface MgmtdArgs {
  /** Default: the node this actor runs on. */
  nodeId?: number
  hostname?: string
  /** An open KV (in-process use and the simulator). */
  kv?: Kv
  /** Or the node's KV settings, which `t3fs launch` hands over from the profile's [kv]. */
  nodeKv?: NodeKvSettings
  /** Timing knobs (camelCase ms, or 3FS's snake_case names with duration strings). */
  config?: Readonly<Record<string, unknown>>
  probe?: MgmtdProbe
}

/** Profile params arrive flat: node_id, hostname, plus the 3FS knob names; nodeKv comes from [kv]. */
const ARG_NAMES = new Set(['nodeId', 'node_id', 'hostname', 'kv', 'nodeKv', 'config', 'probe'])
/** Params of old profiles: the KV is the node's, set once in the profile's [kv] section. */
const FORMER_KV_PARAMS = new Set(['kv_backend', 'kv_path', 'kv_cluster_file', 'kvBackend', 'kvPath', 'kvClusterFile'])

interface MgmtdState {
  readonly nodeId: number
  readonly hostname: string
  readonly token: string
  readonly config: MgmtdConfig
  readonly kv: Kv
  readonly ownsKv: boolean
  readonly probe: MgmtdProbe | undefined
  leaseEndMs: number
  holder: LeaseRecord | null
  /** Non-null exactly while this incarnation is primary. */
  data: ClusterData | null
  subscribers: ActorRef<RoutingUpdate>[]
}

export const mgmtdActor = defineActor<MgmtdState, MgmtdMsg, MgmtdArgs>({
  kind: 'mgmtd',
  // Started from a profile, mgmtd gets the node's [kv] as args.nodeKv.
  needs: ['kv'],
  mailboxMax: 4096,
  // A bad config fails init every time: give up after a bounded number of restarts.
  supervision: { strategy: 'restart', maxRestarts: 50, withinMs: 60_000, backoffMinMs: 10, backoffMaxMs: 1_000 },
  validate: validateMgmtdMsg,
  async init(ctx, rawArgs) {
    const args = normalizeArgs(rawArgs, ctx.self.address.node)
    const config = resolveMgmtdConfig(args.config)
    const kv = args.kv ?? (await openOwnKv(args, ctx))
    const token = `${args.nodeId}:${ctx.clock.now().toFixed(3)}:${Math.floor(ctx.random.next() * 2 ** 32).toString(16)}`
    ctx.schedule(0, { type: 'tick-lease' })
    ctx.schedule(config.checkStatusIntervalMs, { type: 'tick-check' })
    ctx.schedule(config.updateChainsIntervalMs, { type: 'tick-update-chains' })
    return { nodeId: args.nodeId, hostname: args.hostname ?? '', token, config, kv, ownsKv: args.kv === undefined, probe: args.probe, leaseEndMs: 0, holder: null, data: null, subscribers: [] }
  },
  async handle(state, msg, ctx) {
    const data = primaryData(state, ctx)
    switch (msg.type) {
      case 'tick-lease':
        return tickLease(state, ctx)
      case 'tick-check':
        ctx.schedule(state.config.checkStatusIntervalMs, { type: 'tick-check' })
        if (data !== null) await tickCheck(state, data, ctx)
        maybeRecordRoutingMetrics(ctx.metrics, ctx.clock.now(), () => (state.data === null ? null : buildRoutingInfo(state.data, state, ctx.clock.now(), state.config.heartbeatFailIntervalMs)))
        return
      case 'tick-update-chains':
        ctx.schedule(state.config.updateChainsIntervalMs, { type: 'tick-update-chains' })
        if (data !== null) await tickUpdateChains(state, data, ctx)
        return
      case 'get-primary-mgmtd': {
        if (data !== null) return ctx.reply({ nodeId: state.nodeId, address: ctx.self.address, leaseEndMs: state.leaseEndMs })
        const holder = state.holder
        return ctx.reply(holder !== null && ctx.clock.now() < holder.leaseEndMs ? { nodeId: holder.nodeId, address: holder.address ?? null, leaseEndMs: holder.leaseEndMs } : null)
      }
      case 'status':
        return ctx.reply({ nodeId: state.nodeId, primary: data !== null, primaryNodeId: data !== null ? state.nodeId : (state.holder?.nodeId ?? null), routingInfoVersion: data?.routingVersion ?? 0 })
      case 'subscribe':
        if (!state.subscribers.some((s) => s.equals(msg.subscriber))) state.subscribers.push(msg.subscriber)
        if (data !== null) push(state, data, ctx, [msg.subscriber])
        return
      case 'unsubscribe':
        state.subscribers = state.subscribers.filter((s) => !s.equals(msg.subscriber))
        return
      default:
        if (data === null) throw notPrimary(state, ctx)
        return handleAsPrimary(state, data, msg, ctx)
    }
  },
  async onStop(state) {
    if (state.ownsKv) await state.kv.close()
  },
})

type PrimaryMsg = Exclude<MgmtdMsg, { type: 'tick-lease' | 'tick-check' | 'tick-update-chains' | 'get-primary-mgmtd' | 'status' | 'subscribe' | 'unsubscribe' }>

async function handleAsPrimary(state: MgmtdState, data: ClusterData, msg: PrimaryMsg, ctx: ActorContext<MgmtdMsg>): Promise<void> {
  const now = ctx.clock.now()
  switch (msg.type) {
    case 'heartbeat': {
      const effects = applyHeartbeat(data, msg.info, now, state.config, state.nodeId)
      const writes: PrimaryWrites = { targets: effects.targets.map(persistedTarget), nodes: effects.node === null ? [] : [persistedNode(effects.node)] }
      const changed = effects.routingChanged || effects.targets.length > 0
      if (changed) await persist(state, data, ctx, writes, true)
      return ctx.reply({ routingInfoVersion: data.routingVersion })
    }
    case 'get-routing-info': {
      const fresh = msg.routingInfoVersion !== undefined && msg.routingInfoVersion >= data.routingVersion
      return ctx.reply(fresh ? null : buildRoutingInfo(data, state, now, state.config.heartbeatFailIntervalMs))
    }
    case 'list-client-sessions':
      return ctx.reply([...data.sessions.values()].sort((a, b) => a.clientId.localeCompare(b.clientId)))
    case 'get-client-session':
      return ctx.reply(data.sessions.get(msg.clientId) ?? null)
    case 'get-cluster':
      return ctx.reply(data.cluster)
    default:
      return apply(state, data, ctx, operation(data, msg, now))
  }
}

type WriteMsg = Exclude<PrimaryMsg, { type: 'heartbeat' | 'get-routing-info' | 'list-client-sessions' | 'get-client-session' | 'get-cluster' }>

function operation(data: ClusterData, msg: WriteMsg, now: number): ops.OpResult<unknown> {
  switch (msg.type) {
    case 'register-node':
      return ops.registerNode(data, msg.nodeId, msg.nodeType, msg.hostname)
    case 'unregister-node':
      return ops.unregisterNode(data, msg.nodeId)
    case 'enable-node':
      return ops.setNodeDisabled(data, msg.nodeId, false)
    case 'disable-node':
      return ops.setNodeDisabled(data, msg.nodeId, true)
    case 'set-chains':
      return ops.setChains(data, msg.chains, now)
    case 'set-chain-table':
      return ops.setChainTable(data, msg.tableId, msg.chains, msg.desc ?? '')
    case 'update-chain':
      return ops.updateChainMembers(data, msg.chainId, msg.targetId, msg.mode, now)
    case 'rotate-lastsrv':
      return ops.rotateLastServing(data, msg.chainId)
    case 'offline-target':
      return ops.offlineTarget(data, msg.targetId, now)
    case 'extend-client-session':
      return ops.extendClientSession(data, msg.clientId, msg.nodeId, msg.description, now)
    case 'init-cluster':
      return ops.initCluster(data, msg.cluster)
  }
}

async function apply(state: MgmtdState, data: ClusterData, ctx: ActorContext<MgmtdMsg>, result: ops.OpResult<unknown>): Promise<void> {
  await persist(state, data, ctx, result.writes, result.routingChanged)
  ctx.reply(result.reply)
}

/** The view, if this incarnation is primary and its lease has not run out. */
function primaryData(state: MgmtdState, ctx: ActorContext<MgmtdMsg>): ClusterData | null {
  if (state.data !== null && ctx.clock.now() >= state.leaseEndMs) stepDown(state, 'lease ran out before it was extended')
  return state.data
}

function notPrimary(state: MgmtdState, ctx: ActorContext<MgmtdMsg>): T3fsError {
  const holder = state.holder !== null && ctx.clock.now() < state.holder.leaseEndMs ? state.holder : null
  return new T3fsError(
    MgmtdErrorCode.NOT_PRIMARY,
    `mgmtd node ${state.nodeId} is not the primary; ${holder === null ? 'no primary holds the lease right now, retry shortly' : `the primary is node ${holder.nodeId}`}`,
    { nodeId: state.nodeId, primaryNodeId: holder?.nodeId ?? null, primaryAddress: holder?.address ?? null },
  )
}

function stepDown(state: MgmtdState, why: string): void {
  if (state.data === null) return
  state.data = null
  state.leaseEndMs = 0
  state.probe?.onRole({ nodeId: state.nodeId, token: state.token, primary: false, leaseEndMs: 0 })
  void why
}

/** Persists one change as primary; bumps and pushes the routing version when routing changed. */
async function persist(state: MgmtdState, data: ClusterData, ctx: ActorContext<MgmtdMsg>, writes: PrimaryWrites, routingChanged: boolean): Promise<void> {
  const nextVersion = data.routingVersion + 1
  try {
    await writeAsPrimary(state.kv, state.token, () => ctx.clock.now(), routingChanged ? { ...writes, routingVersion: nextVersion } : writes)
  } catch (error) {
    // The view may now differ from the KV: drop it; the next lease round reloads it.
    ctx.log.warn({ err: toT3fsError(error).message }, 'mgmtd write failed; dropping the in-memory view')
    stepDown(state, 'write failed')
    throw toT3fsError(error)
  }
  if (routingChanged && state.data === data) {
    data.routingVersion = nextVersion
    push(state, data, ctx, state.subscribers)
  }
}

function push(state: MgmtdState, data: ClusterData, ctx: ActorContext<MgmtdMsg>, to: readonly ActorRef<RoutingUpdate>[]): void {
  if (to.length === 0) return
  const info = buildRoutingInfo(data, state, ctx.clock.now(), state.config.heartbeatFailIntervalMs)
  for (const subscriber of to) {
    try {
      ctx.tell(subscriber, { type: 'routing-info', info })
    } catch {
      state.subscribers = state.subscribers.filter((s) => !s.equals(subscriber)) // gone or unreachable
    }
  }
}

async function tickLease(state: MgmtdState, ctx: ActorContext<MgmtdMsg>): Promise<void> {
  const { config } = state
  try {
    const outcome = await extendLease(state.kv, { nodeId: state.nodeId, token: state.token, address: ctx.self.address }, () => ctx.clock.now(), config.leaseLengthMs)
    if (outcome.kind === 'primary') {
      state.holder = outcome.lease
      state.leaseEndMs = outcome.lease.leaseEndMs
      if (state.data === null) await takeOver(state, ctx)
      else state.probe?.onRole({ nodeId: state.nodeId, token: state.token, primary: true, leaseEndMs: state.leaseEndMs })
    } else {
      state.holder = outcome.holder
      stepDown(state, `the lease is held by node ${outcome.holder?.nodeId}`)
    }
  } catch (error) {
    ctx.log.warn({ err: toT3fsError(error).message }, 'mgmtd lease round failed')
  }
  // A standby retries as soon as the holder's lease runs out, so takeover fits in one lease period.
  const untilFree = state.data === null && state.holder !== null ? Math.max(0, state.holder.leaseEndMs - ctx.clock.now()) : Infinity
  ctx.schedule(Math.min(config.extendLeaseIntervalMs, untilFree), { type: 'tick-lease' })
}

async function takeOver(state: MgmtdState, ctx: ActorContext<MgmtdMsg>): Promise<void> {
  const snapshot = await loadSnapshot(state.kv)
  if (ctx.clock.now() >= state.leaseEndMs) return // the load outlived the lease: try again next round
  const data = fromSnapshot(snapshot, ctx.clock.now())
  state.data = data
  state.probe?.onRole({ nodeId: state.nodeId, token: state.token, primary: true, leaseEndMs: state.leaseEndMs })
  ctx.log.info({ nodeId: state.nodeId, routingInfoVersion: data.routingVersion }, 'mgmtd is primary')
  const self = data.nodes.get(state.nodeId)
  const node = self ?? { nodeId: state.nodeId, type: 'MGMTD' as const, hostname: state.hostname, disabled: false, lastHeartbeatMs: 0, incarnation: -1, hbVersion: -1, failed: false }
  data.nodes.set(state.nodeId, node)
  await persist(state, data, ctx, { nodes: [persistedNode(node)] }, true).catch(() => undefined)
}

async function tickCheck(state: MgmtdState, data: ClusterData, ctx: ActorContext<MgmtdMsg>): Promise<void> {
  const effects = checkHeartbeats(data, ctx.clock.now(), state.config)
  const changed = effects.failedNodes.length > 0 || effects.offlinedTargets.length > 0
  if (!changed && effects.expiredSessions.length === 0) return
  await persist(state, data, ctx, { targets: effects.offlinedTargets.map(persistedTarget), removeSessions: effects.expiredSessions }, changed).catch(() => undefined)
}

async function tickUpdateChains(state: MgmtdState, data: ClusterData, ctx: ActorContext<MgmtdMsg>): Promise<void> {
  const now = ctx.clock.now()
  const writes: ChainWrite[] = []
  for (const chain of data.chains.values()) {
    if (now - (data.chainBornMs.get(chain.chainId) ?? 0) < state.config.newChainBootstrapIntervalMs) continue
    const next = updateChain(chain, (targetId) => data.targets.get(targetId)?.localState)
    if (next === chain) continue
    writes.push({ chain: next, expectedVersion: chain.chainVersion })
  }
  if (writes.length > 0) {
    for (const { chain } of writes) data.chains.set(chain.chainId, chain)
    await persist(state, data, ctx, { chains: writes }, true).catch(() => undefined)
  }
  if (state.data === data && state.config.autoReplaceOfflineAfterMs > 0) await tickReplication(state, data, ctx)
}

/** Automatic re-replication (replication.ts): spares join chains whose target is dead too long; dead ones leave once the spare serves. */
async function tickReplication(state: MgmtdState, data: ClusterData, ctx: ActorContext<MgmtdMsg>): Promise<void> {
  const now = ctx.clock.now()
  trackOffline(data, now)
  const frozen = (chainId: number): boolean => now - (data.chainBornMs.get(chainId) ?? 0) < state.config.newChainBootstrapIntervalMs
  const step = planReplication(data, now, state.config.autoReplaceOfflineAfterMs, frozen)
  if (step.notes.length === 0) return
  for (const note of step.notes) ctx.log.info({ evt: 'Replication' }, note)
  const writes: PrimaryWrites = { chains: step.chains, targets: step.targets.map(persistedTarget), removeTargets: step.removeTargets, replacements: step.replacements, removeReplacements: step.removeReplacements }
  await persist(state, data, ctx, writes, step.chains.length > 0).catch(() => undefined)
}

function normalizeArgs(raw: MgmtdArgs | Readonly<Record<string, unknown>>, ownNode: number): MgmtdArgs & { nodeId: number } {
  const r = (raw ?? {}) as Readonly<Record<string, unknown>>
  const pick = (...names: string[]): unknown => names.map((n) => r[n]).find((v) => v !== undefined)
  const nodeId = pick('nodeId', 'node_id') ?? ownNode
  if (typeof nodeId !== 'number' || !Number.isSafeInteger(nodeId) || nodeId < 0) {
    throw new T3fsError('ERR_INVALID_OPTION', `mgmtd option nodeId (node_id) is ${JSON.stringify(nodeId)}; accepted: a non-negative integer`, { option: 'nodeId' })
  }
  const config: Record<string, unknown> = { ...((r.config as Record<string, unknown> | undefined) ?? {}) }
  for (const [key, value] of Object.entries(r)) {
    if (FORMER_KV_PARAMS.has(key)) {
      throw new T3fsError('ERR_INVALID_OPTION', `mgmtd option ${key} is ${JSON.stringify(value)}; accepted: no such option — a node's KV is set once, in the profile's [kv] section (backend, path, cluster_file), and handed to mgmtd by t3fs launch; remove ${key} from [actors.params]`, { option: key })
    }
    if (!ARG_NAMES.has(key)) config[key] = value // flat knobs from a profile
  }
  return {
    nodeId,
    hostname: pick('hostname') as string | undefined,
    kv: r.kv as Kv | undefined,
    nodeKv: r.nodeKv === undefined ? undefined : checkNodeKvSettings(r.nodeKv),
    config,
    probe: r.probe as MgmtdProbe | undefined,
  }
}

async function openOwnKv(args: MgmtdArgs, ctx: ActorContext<MgmtdMsg>): Promise<Kv> {
  if (args.nodeKv === undefined) {
    throw new T3fsError('ERR_INVALID_OPTION', 'mgmtd has no KV; accepted: started by t3fs launch it gets the profile\'s [kv] section (as nodeKv); in-process, pass kv (an open Kv) or nodeKv ({ backend, path?, clusterFile? })', { option: 'nodeKv' })
  }
  // The actor's own clock and random: the KV's retry backoff then sleeps on the time the
  // simulator drives; in production ctx.clock is the system clock (epoch ms, as lmdb needs).
  return openNodeKv(args.nodeKv, { clock: ctx.clock, random: ctx.random })
}
