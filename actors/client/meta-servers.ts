/**
 * Where a FileClient finds the meta servers (3FS: clients learn the meta servers' addresses from
 * mgmtd's routing info, where meta nodes heartbeat as META). connectFileClient, the FUSE mount and
 * the USRBIO actor all find them here.
 *
 * - `metaNodes` given: the actors named meta, meta2, … on those nodes, through each node's
 *   registry, found once at start (pinned: a meta node that restarts is not followed).
 * - otherwise: those on mgmtd's node (found by name, as configs/dev.toml places them), plus the
 *   meta actors every META node of the routing info reports (`services`; its endpoint, which a
 *   client process dials and a launched node finds in its peer table: a META node without one is
 *   left out). The list follows the routing: a META node that appears later joins it, one that
 *   goes HEARTBEAT_FAILED or DISABLED leaves it, one that restarts comes back with the addresses
 *   of its new life. A routing that would leave no server at all keeps the last list, so requests
 *   fail on the servers that were known, with their errors, not with "no server known".
 */
import type { ActorRef } from '../../runtime/actor.ts'
import type { ActorAddress } from '../../runtime/address.ts'
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import { lookupOn, type RefSource } from '../../runtime/node-client.ts'
import { registryAddress, type RegistryMsg } from '../../runtime/registry.ts'
import type { NodeInfo, RoutingInfo } from '../mgmtd/protocol.ts'
import { META_ACTOR_NAME, type MetaMsg } from '../meta/index.ts'

export class MetaServers {
  private list: readonly ActorRef<MetaMsg>[]
  /** Where the latest routing info is read from (followRouting), and the one last taken. */
  private source: (() => RoutingInfo | null) | null = null
  private seen: RoutingInfo | null = null

  private constructor(
    private readonly refs: RefSource,
    /** Found by name at connect (metaNodes, or mgmtd's node). */
    private readonly named: readonly ActorRef<MetaMsg>[],
    /** Whether META nodes of the routing info count (no metaNodes given). */
    private readonly routed: boolean,
    routing: RoutingInfo | null,
  ) {
    this.list = named
    this.seen = routing
    this.update(routing)
  }

  /**
   * Finds the servers at connect, or throws ERR_CLIENT_CONNECT naming the nodes tried.
   * `metaNodes` null: mgmtd's node and the routing's META nodes.
   */
  static async find(refs: RefSource, metaNodes: readonly number[] | null, mgmtdNode: number, routing: RoutingInfo | null, timeoutMs: number): Promise<MetaServers> {
    const nodes = metaNodes ?? [mgmtdNode]
    const named: ActorRef<MetaMsg>[] = []
    for (const node of nodes) named.push(...(await namedMetaOn(refs, node, timeoutMs)))
    const servers = new MetaServers(refs, named, metaNodes === null, routing)
    if (servers.list.length > 0) return servers
    if (metaNodes !== null) throw new T3fsError('ERR_CLIENT_CONNECT', `no meta server (an actor named meta, meta2, …) on node(s) ${nodes.join(', ')}; set metaNodes to the nodes that run one`, { nodes: [...nodes] })
    const listed = (routing?.nodes ?? []).filter((n) => n.type === 'META').map((n) => `${n.nodeId} ${n.status}${metaNamesOf(n).length === 0 ? ' reporting no meta actor' : ''}`)
    throw new T3fsError('ERR_CLIENT_CONNECT', `no meta server: mgmtd's node ${mgmtdNode} has no actor named meta, meta2, …, and mgmtd's routing info lists ${listed.length === 0 ? 'no META node' : `no connected META node with one (META nodes: ${listed.join(', ')})`}; start a meta server (it heartbeats to mgmtd from its own node), or set metaNodes`, { nodes: [mgmtdNode], metaNodes: listed })
  }

  /**
   * The current servers (what the FileClient's MetaClient asks for before every request): with a
   * routing source, taken from the latest routing info first when it changed since the last call.
   */
  readonly current = (): readonly ActorRef<MetaMsg>[] => {
    const latest = this.source?.() ?? null
    if (latest !== null && latest !== this.seen) {
      this.seen = latest
      this.update(latest)
    }
    return this.list
  }

  /** Follows the routing info `source` returns (a FileClient's latest, pushed by mgmtd): read on every `current()`. */
  followRouting(source: () => RoutingInfo | null): void {
    this.source = source
  }

  /** Takes the META nodes of a routing info (no-op when given metaNodes). */
  private update(routing: RoutingInfo | null): void {
    if (!this.routed || routing === null) return
    const routed = routing.nodes
      .filter((n) => n.type === 'META' && n.endpoint !== null && n.status !== 'HEARTBEAT_FAILED' && n.status !== 'DISABLED')
      .sort((a, b) => a.nodeId - b.nodeId)
      .flatMap((n) => metaNamesOf(n).map((name) => this.refs.refFor<MetaMsg>(n.services[name])))
    const next = [...this.named, ...routed.filter((r) => !this.named.some((m) => sameAddress(m.address, r.address)))]
    if (next.length === 0) return
    if (next.length !== this.list.length || next.some((r, i) => !sameAddress(r.address, this.list[i].address))) this.list = next
  }
}

/** The actors named meta, meta2, … on a node, through its registry. */
async function namedMetaOn(refs: RefSource, node: number, timeoutMs: number): Promise<ActorRef<MetaMsg>[]> {
  const registry = refs.refFor<RegistryMsg>(registryAddress(node))
  const names = await registry.ask({ type: 'names' }, { timeoutMs }).catch((e: unknown) => {
    const error = toT3fsError(e)
    throw new T3fsError('ERR_CLIENT_CONNECT', `meta node ${node} did not answer (${error.message}); a meta node other than mgmtd's must be in mgmtd's routing info (its endpoint)`, { node, cause: error.code })
  })
  const found: ActorRef<MetaMsg>[] = []
  for (const name of names.filter((n) => META_ACTOR_NAME.test(n))) found.push(await lookupOn<MetaMsg>(refs, node, name, timeoutMs))
  return found
}

function metaNamesOf(node: NodeInfo): string[] {
  return Object.keys(node.services).filter((name) => META_ACTOR_NAME.test(name)).sort((a, b) => a.length - b.length || (a < b ? -1 : 1))
}

function sameAddress(a: ActorAddress, b: ActorAddress): boolean {
  return a.node === b.node && a.host === b.host && a.id === b.id && a.incarnation === b.incarnation
}
