/**
 * The meta actor: one stateless metadata server (reference/3fs.md §1.3, §2). Any server answers
 * any request; every operation is one serializable KV transaction; create of a new entry and
 * close/sync/truncate/setAttr by inode go to the owner of the directory or inode (rendezvous over
 * the live servers), which batches them. A crash loses nothing but the batches in flight, whose
 * clients retry with the same request ids (idempotency.ts makes a retry apply once).
 *
 * In a profile (needs: ['kv', 'listen', 'layout'] — the node's [kv] arrives as nodeKv, its listen
 * address as nodeListen, the endpoint a META heartbeat reports: mgmtd-heartbeat.ts; on the node
 * that bootstraps the cluster, [bootstrap]'s layout as clusterLayout, the root directory's unless
 * root_layout says otherwise):
 *   [[actors]]  name = "meta"  module = "actors/meta/meta-actor.ts"  export = "metaActor"
 *   [actors.params]  server_id = 100  mgmtd_node = 1  gc_file_delay = "5min" ...
 * Several meta actors (on one node or many) share the one KV.
 */
import { defineActor, type ActorContext, type ActorRef } from '../../runtime/actor.ts'
import { T3fsError } from '../../runtime/errors.ts'
import { checkNodeKvSettings, openNodeKv, type Kv, type NodeKvSettings } from '../kv/index.ts'
import type { MgmtdMsg } from '../mgmtd/protocol.ts'
import type { Layout } from './layout.ts'
import { bootstrap } from './bootstrap.ts'
import { chainStorage } from './chain-storage.ts'
import { resolveMetaConfig, type MetaConfig } from './config.ts'
import { fetchIdRange } from './inode-alloc.ts'
import { ALLOC_SHARDS } from './keys.ts'
import { join, leave, LivenessTracker, readMembership } from './membership.ts'
import { applyMembership, applyRouting, ensureIds, onMembershipRead, onTaskDone, onTick, refreshMembership, routingSourceOf, scheduleBackground } from './meta-background.ts'
import { admit, onBatchDone, onBatchKick, onCreateResolved, onForwardDone, onOpDone, refuseAll, route, settle } from './meta-requests.ts'
import { serverServices, type MetaSelfMsg, type MetaState } from './meta-state.ts'
import { metaHeartbeatFor } from './mgmtd-heartbeat.ts'
import { mgmtdLink, type MgmtdLink } from './mgmtd-link.ts'
import { MUTANTS, type Mutant } from './op-context.ts'
import type { MetaProbe } from './probe.ts'
import { InodeIdPool } from './inode-alloc.ts'
import { emptyRouting, type RoutingView } from './routing-view.ts'
import { unavailableStorage, type StorageService } from './storage-protocol.ts'
import { UserStore } from './users.ts'
import { validateMetaMsg } from './validate.ts'
import { WALK_CACHE_ENTRIES_MAX, WalkCache } from './walk-cache.ts'

export interface MetaArgs {
  /** This server's id in the membership (default: the node id). Unique among meta servers. */
  serverId?: number
  /** An open KV (in-process use and the simulator), or the node's KV settings from the profile's [kv]. */
  kv?: Kv
  nodeKv?: NodeKvSettings
  /** The node's TCP listen address, handed by `t3fs launch` (needs: ['listen']): the endpoint this node reports to mgmtd. */
  nodeListen?: string
  /** The cluster's layout from the node's [bootstrap], handed by `t3fs launch` (needs: ['layout']): the root's when the knob root_layout is not set. */
  clusterLayout?: Layout
  /** The storage service (default: the chains of mgmtd's routing info when mgmtd is given, else unavailable: storage-protocol.ts). */
  storage?: StorageService
  /** A fixed routing view (tests, simulator); otherwise routing comes from mgmtd. */
  routing?: RoutingView
  /** mgmtd: an in-process ref, or found by name on a node (params mgmtd_node, mgmtd_name). */
  mgmtd?: ActorRef<MgmtdMsg>
  mgmtdNode?: number
  mgmtdName?: string
  /** The live client ids (tests, simulator); otherwise mgmtd's client sessions. */
  liveClients?: () => Promise<ReadonlySet<string> | null>
  /** Knobs (config.ts), camelCase or 3FS's snake_case. */
  config?: Readonly<Record<string, unknown>>
  probe?: MetaProbe
  /** Deliberate bugs, for the simulation suite only. */
  mutants?: readonly Mutant[]
}

const ARG_NAMES = new Set(['serverId', 'server_id', 'kv', 'nodeKv', 'nodeListen', 'clusterLayout', 'storage', 'routing', 'mgmtd', 'mgmtdNode', 'mgmtd_node', 'mgmtdName', 'mgmtd_name', 'liveClients', 'config', 'probe', 'mutants'])

export const metaActor = defineActor<MetaState, MetaSelfMsg, MetaArgs>({
  kind: 'meta',
  needs: ['kv', 'listen', 'layout'],
  mailboxMax: 16_384,
  supervision: { strategy: 'restart', maxRestarts: 50, withinMs: 60_000, backoffMinMs: 10, backoffMaxMs: 1_000 },
  validate: validateMetaMsg,
  init: (ctx, rawArgs) => start(ctx, rawArgs),
  handle(state, msg, ctx) {
    switch (msg.type) {
      case 'status':
        return ctx.reply({ serverId: state.serverId, members: state.live, membershipVersion: state.membershipVersion, inFlight: state.inFlight, ...state.stats })
      case 'authorized':
        if (!msg.outcome.ok) return settle(state, msg.token, false, msg.outcome.error)
        return route(state, ctx, msg.outcome.value, msg.token)
      case 'create-resolved':
        return onCreateResolved(state, ctx, msg.msg, msg.token, msg.outcome.ok ? msg.outcome.value : msg.outcome.error)
      case 'op-done':
        onOpDone(state, ctx, msg.msg, msg.token, msg.outcome)
        return ensureIds(state, ctx)
      case 'batch-done':
        if (onBatchDone(state, ctx, msg.key, msg.entries, msg.outcome)) refreshMembership(state, ctx, false)
        return ensureIds(state, ctx)
      case 'batch-kick':
        return onBatchKick(state, ctx, msg.key)
      case 'forward-done':
        return onForwardDone(state, ctx, msg.msg, msg.token, msg.outcome)
      case 'value-done':
        return settle(state, msg.token, msg.outcome.ok, msg.outcome.ok ? msg.outcome.value : msg.outcome.error)
      case 'task-done':
        return onTaskDone(state, ctx, msg.task, msg.outcome)
      case 'membership-read':
        if (msg.outcome.ok) return onMembershipRead(state, ctx, msg.outcome.value)
        state.running.delete('membership')
        return
      case 'tick':
        return onTick(state, ctx, msg.task)
      default:
        return admit(state, ctx, msg)
    }
  },
  async onStop(state) {
    refuseAll(state, 'it is stopping')
    await leave(state.kv, [state.serverId], state.config.operationTimeoutMs).catch(() => undefined)
    if (state.ownsKv) await state.kv.close()
  },
})

async function start(ctx: ActorContext<MetaSelfMsg>, rawArgs: MetaArgs): Promise<MetaState> {
  const args = normalizeArgs(rawArgs, ctx.self.address.node)
  const config = resolveMetaConfig(args.config)
  const serverId = args.serverId as number
  const mutants = new Set(args.mutants ?? [])
  const kv = args.kv ?? (await openOwnKv(args, ctx))
  const timeoutMs = config.operationTimeoutMs
  let state: MetaState | undefined
  const services = serverServices(() => state as MetaState, config, serverId, mutants, () => ctx.random.int(0x1_0000_0000))
  const mgmtd = args.mgmtd !== undefined || args.mgmtdNode !== undefined || args.mgmtdName !== undefined ? mgmtdLink(ctx, { ref: args.mgmtd, node: args.mgmtdNode, name: args.mgmtdName }, config.forwardTimeoutMs) : null
  const self: MetaState = {
    serverId, config, kv, ownsKv: args.kv === undefined, mutants, services,
    storage: args.storage ?? (mgmtd === null ? unavailableStorage() : storageOverChains(ctx, mgmtd, serverId, config)),
    users: new UserStore(kv, config.adminToken, config.userCacheTtlMs, timeoutMs),
    mgmtd,
    heartbeat: metaHeartbeatFor(ctx.self.address.node, mgmtd === null ? null : { link: mgmtd, node: args.mgmtd?.address.node ?? args.mgmtdNode ?? ctx.self.address.node }, args.nodeListen, config.forwardTimeoutMs),
    liveClientsOverride: args.liveClients ?? null,
    probe: args.probe ?? null,
    pool: new InodeIdPool(),
    routing: args.routing ?? emptyRouting,
    routingVersion: null,
    routingSource: routingSourceOf(() => state as MetaState),
    chainCounters: new Map(),
    gcDirectory: -1,
    tracker: new LivenessTracker(serverId),
    membershipVersion: '',
    members: new Map(),
    live: [serverId],
    nextToken: 1,
    pending: new Map(),
    inFlight: 0,
    waiting: [],
    batches: new Map(),
    readyBatches: new Set(),
    parked: [],
    running: new Set(),
    gcPostponed: new Map(),
    statFs: null,
    walks: new WalkCache(WALK_CACHE_ENTRIES_MAX, mutants.has('walk-cache-ignores-version')),
    stats: { batches: 0, batchedOps: 0, forwarded: 0 },
  }
  state = self
  self.pool.add(await fetchIdRange(kv, ctx.random.int(ALLOC_SHARDS), timeoutMs))
  self.gcDirectory = await bootstrap(kv, serverId, config.rootLayout, ctx.clock.now(), () => services.allocateInodeId(), timeoutMs)
  await join(kv, { serverId, address: ctx.self.address, startedMs: ctx.clock.now() }, timeoutMs)
  applyMembership(self, await readMembership(kv, timeoutMs), ctx.clock.now())
  if (mgmtd !== null) await firstRouting(self, mgmtd)
  scheduleBackground(self, ctx)
  return self
}

/**
 * The routing info before the first request: a restarted server that answered with no chain
 * tables would refuse creates and fail every exact length with EIO until its first refresh. A
 * few tries, each bounded by forward_timeout; mgmtd unreachable now only means the refresh timer
 * (and storage calls, on demand) fetch it later.
 */
async function firstRouting(state: MetaState, mgmtd: MgmtdLink): Promise<void> {
  for (let attempt = 0; attempt < FIRST_ROUTING_TRIES; attempt++) {
    const info = await mgmtd.routingInfo(null).catch(() => null)
    if (info === null) continue
    applyRouting(state, info)
    return
  }
}

const FIRST_ROUTING_TRIES = 3

function normalizeArgs(raw: MetaArgs | Readonly<Record<string, unknown>>, ownNode: number): MetaArgs {
  const r = (raw ?? {}) as Readonly<Record<string, unknown>>
  const pick = (...names: string[]): unknown => names.map((n) => r[n]).find((v) => v !== undefined)
  const int = (name: string, value: unknown, fallback?: number): number | undefined => {
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > 0xffffffff) {
      throw new T3fsError('ERR_INVALID_OPTION', `meta option ${name} is ${JSON.stringify(value)}; accepted: an integer from 0 to 4294967295`, { option: name })
    }
    return value
  }
  const mutants = r.mutants as unknown
  if (mutants !== undefined && (!Array.isArray(mutants) || mutants.some((m) => !MUTANTS.includes(m as Mutant)))) {
    throw new T3fsError('ERR_INVALID_OPTION', `meta option mutants is ${JSON.stringify(mutants)}; accepted: a list of ${MUTANTS.join(', ')}`, { option: 'mutants' })
  }
  const config: Record<string, unknown> = { ...((r.config as Record<string, unknown> | undefined) ?? {}) }
  for (const [key, value] of Object.entries(r)) if (!ARG_NAMES.has(key)) config[key] = value // flat knobs from a profile
  // The cluster's layout (the launcher's, from [bootstrap]) is the root's default; root_layout wins.
  if (r.clusterLayout !== undefined && config.root_layout === undefined && config.rootLayout === undefined) config.root_layout = r.clusterLayout
  const mgmtdName = pick('mgmtdName', 'mgmtd_name')
  if (mgmtdName !== undefined && (typeof mgmtdName !== 'string' || mgmtdName.length === 0)) {
    throw new T3fsError('ERR_INVALID_OPTION', `meta option mgmtd_name is ${JSON.stringify(mgmtdName)}; accepted: an actor name`, { option: 'mgmtd_name' })
  }
  if (r.nodeListen !== undefined && typeof r.nodeListen !== 'string') {
    throw new T3fsError('ERR_INVALID_OPTION', `meta option nodeListen is ${JSON.stringify(r.nodeListen)}; accepted: the node's listen address "host:port"`, { option: 'nodeListen' })
  }
  return {
    serverId: int('server_id', pick('serverId', 'server_id'), ownNode),
    kv: r.kv as Kv | undefined,
    nodeKv: r.nodeKv === undefined ? undefined : checkNodeKvSettings(r.nodeKv),
    nodeListen: r.nodeListen as string | undefined,
    storage: r.storage as StorageService | undefined,
    routing: r.routing as RoutingView | undefined,
    mgmtd: r.mgmtd as ActorRef<MgmtdMsg> | undefined,
    mgmtdNode: int('mgmtd_node', pick('mgmtdNode', 'mgmtd_node')),
    mgmtdName: mgmtdName as string | undefined,
    liveClients: r.liveClients as MetaArgs['liveClients'],
    config,
    probe: r.probe as MetaProbe | undefined,
    mutants: mutants as Mutant[] | undefined,
  }
}

/**
 * The chains of mgmtd's routing info, through a storage client of this server's life. A request
 * gets a quarter of the storage budget, so a dead head costs a few retries, not the whole budget.
 */
function storageOverChains(ctx: ActorContext<MetaSelfMsg>, mgmtd: MgmtdLink, serverId: number, config: MetaConfig): StorageService {
  const life = Math.floor(ctx.random.next() * 2 ** 48).toString(36)
  return chainStorage(ctx, mgmtd, {
    clientId: `meta-${serverId}:${life}`,
    requestTimeoutMs: Math.max(1, Math.floor(config.storageTimeoutMs / 4)),
    retryBudgetMs: config.storageTimeoutMs,
  })
}

async function openOwnKv(args: MetaArgs, ctx: ActorContext<MetaSelfMsg>): Promise<Kv> {
  if (args.nodeKv === undefined) {
    throw new T3fsError('ERR_INVALID_OPTION', "meta has no KV; accepted: started by t3fs launch it gets the profile's [kv] section (as nodeKv); in-process, pass kv (an open Kv) or nodeKv ({ backend, path?, clusterFile? })", { option: 'nodeKv' })
  }
  return openNodeKv(args.nodeKv, { clock: ctx.clock, random: ctx.random })
}
