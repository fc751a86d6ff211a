/**
 * mgmtd and the meta servers for a client that runs as an actor of a launched node: the FUSE mount
 * and the USRBIO actor. mgmtd by name on its node; the meta servers as connectFileClient finds
 * them (meta-servers.ts): pinned to `metaNodes` when given, otherwise those on mgmtd's node and
 * every META node of mgmtd's routing info, followed as the routing changes (a meta node that
 * restarts is used in its new life). A launched node reaches META nodes through its peer table
 * (configs/multi/base.toml lists every server).
 *
 * Asked again every RETRY_MS until found or `budgetMs` ends: a node may start before its cluster
 * (`npm start` starts them together; on several machines the client may come up first). A node
 * that is not in this node's peer table fails at once instead: the table is the profile's and does
 * not change while the node runs, so asking again would only hide a wrong mgmtd_node (or a pinned
 * meta node) for the whole budget.
 */
import type { ActorContext, ActorRef, Message } from '../../runtime/actor.ts'
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import { lookupOn } from '../../runtime/node-client.ts'
import { TransportErrorCode } from '../../runtime/transport/transport.ts'
import type { MgmtdMsg, RoutingInfo } from '../mgmtd/protocol.ts'
import { MetaServers } from './meta-servers.ts'

const RETRY_MS = 200

export interface ClusterServices {
  readonly mgmtd: ActorRef<MgmtdMsg>
  readonly meta: MetaServers
}

export interface FindClusterServices {
  readonly mgmtdNode: number
  readonly mgmtdName: string
  /** null: mgmtd's node and the routing's META nodes, followed (see meta-servers.ts). */
  readonly metaNodes: readonly number[] | null
  readonly budgetMs: number
  /** Each ask's timeout. */
  readonly askTimeoutMs: number
  /** The error's code when the budget ends (ERR_FUSE_CLUSTER, ERR_USRBIO_START), and who says it. */
  readonly errorCode: string
  readonly who: string
  /** The option names to point the user at, e.g. "mgmtd_node and meta_nodes". */
  readonly options: string
}

export async function findClusterServices<M extends Message>(ctx: ActorContext<M>, o: FindClusterServices): Promise<ClusterServices> {
  const deadline = ctx.clock.now() + o.budgetMs
  let last = ''
  for (;;) {
    try {
      const mgmtd = await lookupOn<MgmtdMsg>(ctx, o.mgmtdNode, o.mgmtdName, o.askTimeoutMs)
      // Only a primary answers; before one is (a cluster starting), meta on mgmtd's node is found
      // by name all the same, and META nodes once the FileClient's routing lists them.
      const routing: RoutingInfo | null = o.metaNodes !== null ? null
        : await mgmtd.ask({ type: 'get-routing-info' }, { timeoutMs: o.askTimeoutMs }).catch(() => null)
      return { mgmtd, meta: await MetaServers.find(ctx, o.metaNodes, o.mgmtdNode, routing, o.askTimeoutMs) }
    } catch (error) {
      const e = toT3fsError(error)
      if (e.code === TransportErrorCode.peerUnknown || e.details.cause === TransportErrorCode.peerUnknown) {
        throw new T3fsError(o.errorCode, `${o.who}: ${e.message}; check ${o.options}, or list the node in [[peers]] of this node's profile`, { mgmtdNode: o.mgmtdNode, cause: e.code })
      }
      last = e.message
    }
    if (ctx.clock.now() + RETRY_MS > deadline) break
    await new Promise<void>((resolve) => ctx.clock.setTimer(RETRY_MS, resolve))
  }
  const meta = o.metaNodes === null ? `meta servers (on node ${o.mgmtdNode} or META nodes of the routing info)` : `meta servers on node(s) ${o.metaNodes.join(', ')}`
  throw new T3fsError(o.errorCode, `${o.who}: mgmtd (${o.mgmtdName} on node ${o.mgmtdNode}) and ${meta} not found within ${o.budgetMs} ms: ${last}; check ${o.options}`, { mgmtdNode: o.mgmtdNode })
}
