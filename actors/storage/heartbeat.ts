/**
 * One heartbeat round of a storage node (3FS's storage heartbeat, reference/3fs.md §3.5): the
 * node's targets with their local states go to every mgmtd (only the primary accepts), the routing
 * info is fetched when the primary's version is newer than the node's, and the node (re)subscribes
 * to routing pushes. Runs outside the node's mailbox (piped back as one message).
 */
import type { ActorContext, ActorRef, Message } from '../../runtime/actor.ts'
import type { HeartbeatInfo, MgmtdMsg, RoutingInfo } from '../mgmtd/protocol.ts'
import { registryAddress, type RegistryMsg } from '../../runtime/registry.ts'

export interface HeartbeatRound {
  /** The node's clock when the heartbeat left: the serve lease counts from here. */
  sentAtMs: number
  /** The mgmtd that accepted it (null: none did). */
  primary: ActorRef<MgmtdMsg> | null
  routing: RoutingInfo | null
  /** Refs found by name lookups this round (production: mgmtd by name on its nodes). */
  mgmtds: ActorRef<MgmtdMsg>[]
}

export interface HeartbeatInput {
  info: HeartbeatInfo
  mgmtds: ActorRef<MgmtdMsg>[]
  /** Where to find mgmtds by name when `mgmtds` is empty. */
  lookup: { nodes: number[]; name: string } | null
  knownRoutingVersion: number
  timeoutMs: number
  subscriber: ActorRef<Message>
  /** Subscribe this round (the first, after a primary change, and now and then). */
  subscribe: boolean
}

export async function heartbeatRound<M extends Message>(ctx: ActorContext<M>, input: HeartbeatInput): Promise<HeartbeatRound> {
  const sentAtMs = ctx.clock.now()
  const mgmtds = input.mgmtds.length > 0 || input.lookup === null ? input.mgmtds : await findMgmtds(ctx, input.lookup, input.timeoutMs)
  const answers = await Promise.all(
    mgmtds.map((m) => m.ask({ type: 'heartbeat', info: input.info }, { timeoutMs: input.timeoutMs }).then((reply) => ({ m, version: reply.routingInfoVersion }), () => null)),
  )
  const accepted = answers.find((a) => a !== null) ?? null
  if (accepted === null) return { sentAtMs, primary: null, routing: null, mgmtds }
  if (input.subscribe) for (const m of mgmtds) tellQuietly(ctx, m, { type: 'subscribe', subscriber: input.subscriber as never })
  let routing: RoutingInfo | null = null
  if (accepted.version > input.knownRoutingVersion) {
    routing = await accepted.m.ask({ type: 'get-routing-info', routingInfoVersion: input.knownRoutingVersion }, { timeoutMs: input.timeoutMs }).catch(() => null)
  }
  return { sentAtMs, primary: accepted.m, routing, mgmtds }
}

async function findMgmtds<M extends Message>(ctx: ActorContext<M>, lookup: { nodes: number[]; name: string }, timeoutMs: number): Promise<ActorRef<MgmtdMsg>[]> {
  const found = await Promise.all(
    lookup.nodes.map(async (node) => {
      const registry = ctx.refFor<RegistryMsg>(registryAddress(node))
      const address = await registry.ask({ type: 'lookup', name: lookup.name }, { timeoutMs }).catch(() => null)
      return address === null ? null : ctx.refFor<MgmtdMsg>(address)
    }),
  )
  return found.filter((m): m is ActorRef<MgmtdMsg> => m !== null)
}

function tellQuietly<M extends Message, N extends Message>(ctx: ActorContext<M>, to: ActorRef<N>, message: N): void {
  try {
    ctx.tell(to, message)
  } catch {
    // Unreachable right now: the next round subscribes again.
  }
}
