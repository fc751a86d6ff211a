/**
 * MetaServers, the list of meta servers a FileClient asks (connectFileClient, the FUSE mount,
 * USRBIO): found by name on mgmtd's node, taken from the META nodes of the routing info, and
 * followed through a routing source as META nodes come, fail and return with new addresses. The
 * refs come from a fake RefSource whose registries answer from a table.
 */
import t from 'tap'
import type { ActorRef, Message } from '../../../runtime/actor.ts'
import type { ActorAddress } from '../../../runtime/address.ts'
import { registryActorId } from '../../../runtime/registry.ts'
import { MetaServers } from '../../../actors/client/meta-servers.ts'
import type { RefSource } from '../../../runtime/node-client.ts'
import type { NodeInfo, NodeStatus, RoutingInfo } from '../../../actors/mgmtd/protocol.ts'

const MGMTD_NODE = 1
const addr = (node: number, id: number, incarnation = 1): ActorAddress => ({ node, host: 1, id, incarnation })

/** Registries answer `names` and `lookup` from `named` (node → name → address); other refs just carry their address. */
function fakeRefs(named: Map<number, Record<string, ActorAddress>>): RefSource {
  return {
    refFor<M extends Message>(address: ActorAddress): ActorRef<M> {
      const ask = async (msg: { type: string; name?: string }): Promise<unknown> => {
        if (address.id !== registryActorId) throw new Error('only registries answer here')
        const table = named.get(address.node)
        if (table === undefined) throw new Error(`node ${address.node} is unreachable`)
        return msg.type === 'names' ? Object.keys(table) : (table[msg.name!] ?? null)
      }
      return { address, ask } as unknown as ActorRef<M>
    },
  }
}

function metaNode(nodeId: number, status: NodeStatus, incarnation: number): NodeInfo {
  return { nodeId, type: 'META', status, hostname: `meta-${nodeId}`, lastHeartbeatMs: 0, endpoint: `10.0.0.${nodeId}:9000`, services: { meta: addr(nodeId, 7, incarnation) } }
}

function routing(version: number, nodes: NodeInfo[]): RoutingInfo {
  return { routingInfoVersion: version, bootstrapping: false, nodes, chainTables: [], chains: [], targets: [], orphanTargets: [], replacements: [] }
}

const nodesOf = (servers: MetaServers): string[] => servers.current().map((r) => `${r.address.node}@${r.address.incarnation}`)

t.test('no meta_nodes: those on mgmtd\'s node and the routing\'s META nodes, followed through a routing source', async (t) => {
  const refs = fakeRefs(new Map([[MGMTD_NODE, { mgmtd: addr(1, 3), meta: addr(1, 5) }]]))
  const servers = await MetaServers.find(refs, null, MGMTD_NODE, routing(1, [metaNode(201, 'HEARTBEAT_CONNECTED', 1)]), 1_000)
  t.same(nodesOf(servers), ['1@1', '201@1'], 'the named one on mgmtd\'s node, then the META node\'s')

  let latest: RoutingInfo | null = null
  servers.followRouting(() => latest)
  t.same(nodesOf(servers), ['1@1', '201@1'], 'no routing from the source yet: the list stays')
  latest = routing(2, [metaNode(201, 'HEARTBEAT_CONNECTED', 1), metaNode(202, 'HEARTBEAT_CONNECTED', 1)])
  t.same(nodesOf(servers), ['1@1', '201@1', '202@1'], 'a META node that appears joins')
  latest = routing(3, [metaNode(201, 'HEARTBEAT_FAILED', 1), metaNode(202, 'HEARTBEAT_CONNECTED', 1)])
  t.same(nodesOf(servers), ['1@1', '202@1'], 'one that fails leaves')
  latest = routing(4, [metaNode(201, 'HEARTBEAT_CONNECTED', 2), metaNode(202, 'DISABLED', 1)])
  t.same(nodesOf(servers), ['1@1', '201@2'], 'one that returns comes back at the address of its new life; a disabled one leaves')
})

t.test('a routing that would leave no server keeps the last list; none at connect is a clear error', async (t) => {
  const refs = fakeRefs(new Map([[MGMTD_NODE, { mgmtd: addr(1, 3) }]]))
  const servers = await MetaServers.find(refs, null, MGMTD_NODE, routing(1, [metaNode(201, 'HEARTBEAT_CONNECTED', 1)]), 1_000)
  let latest = routing(2, [metaNode(201, 'HEARTBEAT_FAILED', 1)])
  servers.followRouting(() => latest)
  t.same(nodesOf(servers), ['201@1'], 'requests go on failing on the server that was known, with its errors')
  latest = routing(3, [metaNode(201, 'HEARTBEAT_CONNECTED', 3)])
  t.same(nodesOf(servers), ['201@3'], 'and it is followed again once back')

  await t.rejects(MetaServers.find(refs, null, MGMTD_NODE, routing(1, [metaNode(201, 'HEARTBEAT_FAILED', 1)]), 1_000),
    { code: 'ERR_CLIENT_CONNECT', message: /no meta server: mgmtd's node 1 has no actor named meta.*META nodes: 201 HEARTBEAT_FAILED/ })
})

t.test('meta_nodes given: the named actors of those nodes, pinned (the routing is not followed)', async (t) => {
  const refs = fakeRefs(new Map<number, Record<string, ActorAddress>>([[MGMTD_NODE, { mgmtd: addr(1, 3) }], [101, { meta: addr(101, 5), meta2: addr(101, 6), other: addr(101, 9) }]]))
  const servers = await MetaServers.find(refs, [101], MGMTD_NODE, routing(1, [metaNode(201, 'HEARTBEAT_CONNECTED', 1)]), 1_000)
  t.same(servers.current().map((r) => r.address.id), [5, 6], 'meta and meta2 of node 101, nothing else')
  servers.followRouting(() => routing(2, [metaNode(201, 'HEARTBEAT_CONNECTED', 1)]))
  t.same(servers.current().map((r) => r.address.node), [101, 101], 'the routing\'s META node is not added')
  await t.rejects(MetaServers.find(refs, [1], MGMTD_NODE, null, 1_000), { code: 'ERR_CLIENT_CONNECT', message: /no meta server .* on node\(s\) 1; set metaNodes/ })
})
