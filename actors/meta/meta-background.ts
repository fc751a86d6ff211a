/**
 * A meta server's periodic work, each piece on its own timer and never two of a kind at once:
 * membership (heartbeat, read the live servers, remove dead ones, refetch inode ids), GC of the
 * GC directories it owns, and — on the first live server only — pruning sessions of dead clients,
 * expiring idempotency records and emptying expired trash; plus refreshing routing from mgmtd and,
 * on a node other than mgmtd's, the node's META heartbeat (mgmtd-heartbeat.ts).
 */
import type { ActorContext } from '../../runtime/actor.ts'
import { toT3fsError } from '../../runtime/errors.ts'
import { gcScan } from './gc.ts'
import { cleanExpired } from './idempotency.ts'
import { fetchIdRange, PREFETCH_BELOW } from './inode-alloc.ts'
import { ALLOC_SHARDS } from './keys.ts'
import { beat, leave, readMembership, type MembershipSnapshot } from './membership.ts'
import { reroute } from './meta-requests.ts'
import type { BackgroundTask, MetaSelfMsg, MetaState } from './meta-state.ts'
import type { RoutingInfo } from '../mgmtd/protocol.ts'
import { routingViewOf, type RoutingSource, type RoutingView } from './routing-view.ts'
import { pruneDeadClients } from './session-scan.ts'
import { cleanTrash } from './trash-cleaner.ts'

type Ctx = ActorContext<MetaSelfMsg>

/** Idempotency records cleared per round. */
export const IDEM_CLEAN_BATCH = 4096

function intervalOf(state: MetaState, task: BackgroundTask): number | null {
  const c = state.config
  switch (task) {
    case 'membership':
      return c.membershipHeartbeatIntervalMs
    case 'gc':
      return c.gcScanIntervalMs
    case 'sessions':
      return c.sessionScanIntervalMs
    case 'idem':
      return c.idempotentCleanIntervalMs
    case 'trash':
      return c.trashCleanIntervalMs
    case 'routing':
      return state.mgmtd === null ? null : c.routingRefreshIntervalMs
    case 'heartbeat':
      return state.heartbeat === null ? null : c.mgmtdHeartbeatIntervalMs
    default:
      return null
  }
}

export function scheduleBackground(state: MetaState, ctx: Ctx): void {
  for (const task of ['membership', 'gc', 'sessions', 'idem', 'trash', 'routing', 'heartbeat'] as const) {
    const every = intervalOf(state, task)
    if (every !== null) ctx.schedule(task === 'routing' || task === 'heartbeat' ? 0 : every, { type: 'tick', task })
  }
}

const isFirst = (state: MetaState): boolean => state.live.length === 0 || state.live[0] === state.serverId

function start(state: MetaState, ctx: Ctx, task: BackgroundTask, work: () => Promise<unknown>): void {
  if (state.running.has(task)) return
  state.running.add(task)
  ctx.pipeToSelf(work(), (outcome) => ({ type: 'task-done', task, outcome }))
}

export function onTick(state: MetaState, ctx: Ctx, task: BackgroundTask): void {
  const every = intervalOf(state, task)
  if (every !== null) ctx.schedule(every, { type: 'tick', task })
  const timeoutMs = state.config.operationTimeoutMs
  const now = ctx.clock.now()
  switch (task) {
    case 'membership':
      refreshMembership(state, ctx, true)
      ensureIds(state, ctx)
      return
    case 'gc':
      return start(state, ctx, 'gc', () => gcScan({ kv: state.kv, storage: state.storage, routing: state.routingSource, services: state.services, nowMs: now, live: state.live, postponed: state.gcPostponed, timeoutMs }))
    case 'sessions':
      if (!isFirst(state)) return
      return start(state, ctx, 'sessions', async () => {
        const live = state.liveClientsOverride !== null ? await state.liveClientsOverride() : state.mgmtd === null ? null : await state.mgmtd.liveClients()
        if (live === null) return { sessions: 0, locks: 0 }
        return pruneDeadClients(state.kv, live, ctx.clock.now(), state.config.sessionPruneGraceMs, timeoutMs)
      })
    case 'idem':
      if (!isFirst(state)) return
      return start(state, ctx, 'idem', () => cleanExpired(state.kv, now, IDEM_CLEAN_BATCH, timeoutMs))
    case 'trash':
      if (!isFirst(state)) return
      return start(state, ctx, 'trash', () => cleanTrash(state.kv, state.services, now, timeoutMs))
    case 'routing':
      return start(state, ctx, 'routing', async () => {
        const info = await state.mgmtd?.routingInfo(state.routingVersion)
        if (info != null) return info
        return null
      })
    case 'heartbeat':
      return start(state, ctx, 'heartbeat', async () => {
        const outcome = await state.heartbeat!.round(ctx)
        state.probe?.onHeartbeat?.(outcome)
        return null
      })
    default:
      return
  }
}

/** Heartbeat (optionally) and read the membership; the answer arrives as 'membership-read'. */
export function refreshMembership(state: MetaState, ctx: Ctx, withBeat: boolean): void {
  if (state.running.has('membership')) return
  state.running.add('membership')
  const timeoutMs = state.config.operationTimeoutMs
  const work = (withBeat ? beat(state.kv, state.serverId, timeoutMs) : Promise.resolve()).then(() => readMembership(state.kv, timeoutMs))
  ctx.pipeToSelf(work, (outcome) => ({ type: 'membership-read', outcome }))
}

export function applyMembership(state: MetaState, snapshot: MembershipSnapshot, nowMs: number): void {
  state.tracker.observe(snapshot, nowMs)
  state.members = new Map(snapshot.members.map((m) => [m.serverId, m]))
  state.live = state.tracker.live(nowMs, state.config.membershipTimeoutMs).filter((id) => state.members.has(id) || id === state.serverId)
  state.membershipVersion = snapshot.version
}

export function onMembershipRead(state: MetaState, ctx: Ctx, snapshot: MembershipSnapshot): void {
  state.running.delete('membership')
  const now = ctx.clock.now()
  applyMembership(state, snapshot, now)
  if (state.parked.length > 0) reroute(state, ctx)
  const dead = state.tracker.dead(now, state.config.membershipTimeoutMs).filter((id) => state.members.has(id))
  if (dead.length > 0 && isFirst(state)) start(state, ctx, 'leave', () => leave(state.kv, dead, state.config.operationTimeoutMs))
}

export function ensureIds(state: MetaState, ctx: Ctx): void {
  if (state.pool.available >= PREFETCH_BELOW) return
  start(state, ctx, 'ids', async () => {
    state.pool.add(await fetchIdRange(state.kv, ctx.random.int(ALLOC_SHARDS), state.config.operationTimeoutMs))
    return null
  })
}

export function onTaskDone(state: MetaState, ctx: Ctx, task: BackgroundTask, outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void {
  state.running.delete(task)
  if (!outcome.ok) {
    ctx.log.warn({ task, err: toT3fsError(outcome.error).message }, 'meta background task failed; it runs again at its next tick')
    return
  }
  if (task === 'routing' && outcome.value !== null && typeof outcome.value === 'object') applyRouting(state, outcome.value as RoutingInfo)
}

/** Takes a routing info from mgmtd when it is newer than the one held (for placement and for storage). */
export function applyRouting(state: MetaState, info: RoutingInfo): void {
  if (state.routingVersion !== null && info.routingInfoVersion < state.routingVersion) return
  state.routing = routingViewOf(info)
  state.routingVersion = info.routingInfoVersion
  state.storage.noteRouting?.(info)
}

/**
 * The server's routing as storage calls see it: the view held, and a fetch from mgmtd on demand
 * (one at a time; its failure leaves the view as it was, and the caller then answers EIO).
 */
export function routingSourceOf(state: () => MetaState): RoutingSource {
  let inFlight: Promise<RoutingView> | null = null
  return {
    current: () => state().routing,
    refresh() {
      const s = state()
      if (s.mgmtd === null) return Promise.resolve(s.routing)
      inFlight ??= s.mgmtd.routingInfo(null).then(
        (info) => { if (info !== null) applyRouting(s, info); return s.routing },
        () => s.routing,
      ).finally(() => { inFlight = null })
      return inFlight
    },
  }
}
