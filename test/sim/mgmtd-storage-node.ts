/**
 * A stand-in storage node for mgmtd simulations: it heartbeats its targets' local states to every
 * mgmtd (only the primary accepts), reads the routing info from whichever answered, and walks each
 * target through 3FS's storage-side rules (reference/3fs.md §3.2, §3.6):
 * - after a (re)start it reports every target OFFLINE until none is SERVING/SYNCING/WAITING;
 * - a SERVING target is UPTODATE; a SYNCING one becomes UPTODATE after `syncMs`;
 * - an UPTODATE target that finds itself WAITING/OFFLINE/LASTSRV demotes itself to OFFLINE until
 *   the node restarts.
 * A crash of this actor is a node crash: supervision restarts it with a new incarnation.
 */
import { defineActor, type ActorRef, type Returns } from '../../runtime/actor.ts'
import type { LocalState, MgmtdMsg, PublicState, RoutingInfo } from '../../actors/mgmtd/protocol.ts'

export interface StorageNodeArgs {
  nodeId: number
  targets: number[]
  mgmtds: ActorRef<MgmtdMsg>[]
  heartbeatIntervalMs: number
  syncMs: number
  /** Chance per tick that the node goes silent (a stall or a cut link) for 300-900 ms: heartbeat loss beyond single drops. */
  muteChance?: number
}

export type StorageNodeMsg = { type: 'tick' } | ({ type: 'locals' } & Returns<Record<number, LocalState>>)

interface StorageNodeState {
  args: StorageNodeArgs
  incarnation: number
  hbVersion: number
  booting: boolean
  locals: Map<number, LocalState>
  syncStartMs: Map<number, number>
  routing: RoutingInfo | null
  mutedUntilMs: number
}

const askTimeoutMs = 200

export const storageNode = defineActor<StorageNodeState, StorageNodeMsg, StorageNodeArgs>({
  kind: 'sim-storage-node',
  supervision: { strategy: 'restart', backoffMinMs: 20, backoffMaxMs: 200, maxRestarts: 100_000 },
  init(ctx, args) {
    ctx.schedule(0, { type: 'tick' })
    return {
      args,
      incarnation: ctx.clock.now() + ctx.random.next() * 1e-3,
      hbVersion: 0,
      booting: true,
      locals: new Map(args.targets.map((id) => [id, 'OFFLINE' as LocalState])),
      syncStartMs: new Map(),
      routing: null,
      mutedUntilMs: 0,
    }
  },
  async handle(state, msg, ctx) {
    if (msg.type === 'locals') return ctx.reply(Object.fromEntries(state.locals))
    ctx.schedule(state.args.heartbeatIntervalMs, { type: 'tick' })
    if (ctx.clock.now() < state.mutedUntilMs) return
    if (ctx.random.next() < (state.args.muteChance ?? 0)) {
      state.mutedUntilMs = ctx.clock.now() + 300 + ctx.random.next() * 600
      return
    }
    advanceLocals(state, ctx.clock.now())
    const info = {
      nodeId: state.args.nodeId,
      type: 'STORAGE' as const,
      incarnation: state.incarnation,
      hbVersion: ++state.hbVersion,
      timestampMs: ctx.clock.now(),
      targets: state.args.targets.map((targetId) => ({ targetId, localState: state.locals.get(targetId)! })),
    }
    const answers = await Promise.all(state.args.mgmtds.map((m) => ctx.ask(m, { type: 'heartbeat', info }, { timeoutMs: askTimeoutMs }).then(() => m, () => null)))
    const primary = answers.find((m) => m !== null)
    if (primary === undefined || primary === null) return
    const request: MgmtdMsg = { type: 'get-routing-info', routingInfoVersion: state.routing?.routingInfoVersion }
    const routing = await (ctx.ask(primary, request, { timeoutMs: askTimeoutMs }) as Promise<RoutingInfo | null>).catch(() => null)
    if (routing !== null && (state.routing === null || routing.routingInfoVersion >= state.routing.routingInfoVersion)) state.routing = routing
  },
})

function publicOf(routing: RoutingInfo | null, targetId: number): PublicState | undefined {
  return routing?.targets.find((t) => t.targetId === targetId)?.publicState
}

function advanceLocals(state: StorageNodeState, nowMs: number): void {
  const { routing } = state
  if (state.booting) {
    if (routing === null) return
    const busy = state.args.targets.some((id) => ['SERVING', 'SYNCING', 'WAITING'].includes(publicOf(routing, id) ?? 'OFFLINE'))
    if (busy) return
    state.booting = false
    for (const id of state.args.targets) state.locals.set(id, 'ONLINE')
  }
  for (const id of state.args.targets) {
    const local = state.locals.get(id)!
    const pub = publicOf(routing, id)
    if (local === 'OFFLINE' || pub === undefined) continue
    if (local === 'UPTODATE' && (pub === 'WAITING' || pub === 'OFFLINE' || pub === 'LASTSRV')) state.locals.set(id, 'OFFLINE')
    else if (pub === 'SERVING') state.locals.set(id, 'UPTODATE')
    else if (pub === 'SYNCING' && local === 'ONLINE') {
      const started = state.syncStartMs.get(id) ?? nowMs
      state.syncStartMs.set(id, started)
      if (nowMs - started >= state.args.syncMs) {
        state.locals.set(id, 'UPTODATE')
        state.syncStartMs.delete(id)
      }
    } else state.syncStartMs.delete(id)
  }
}
