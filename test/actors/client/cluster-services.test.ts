/**
 * findClusterServices, the start-up of the FUSE mount and USRBIO on a launched node: mgmtd and the
 * meta servers asked again while they are not up yet, and a node missing from the peer table
 * refused at once (it can never become reachable). The context is a fake: registries answer from
 * a table, unreachable nodes fail as the transport fails them, and the clock is virtual, driven
 * by the test.
 */
import t from 'tap'
import type { ActorContext, ActorRef, Message } from '../../../runtime/actor.ts'
import type { ActorAddress } from '../../../runtime/address.ts'
import { T3fsError } from '../../../runtime/errors.ts'
import { registryActorId } from '../../../runtime/registry.ts'
import { drive, VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'
import { findClusterServices, type FindClusterServices } from '../../../actors/client/cluster-services.ts'

const addr = (node: number, id: number): ActorAddress => ({ node, host: 1, id, incarnation: 1 })
const PEERS = [1, 10001]

interface Fake {
  readonly ctx: ActorContext<Message>
  readonly clock: VirtualClock
  /** Registry asks made, by node. */
  readonly asks: number[]
  /** Nodes whose registry is not up yet (the transport says the peer is down). */
  readonly down: Set<number>
}

/** A node in PEERS answers from `named`; one not in PEERS fails as the transport does (ERR_PEER_UNKNOWN). */
function fakeContext(named: Map<number, Record<string, ActorAddress>>): Fake {
  const clock = new VirtualClock()
  const asks: number[] = []
  const down = new Set<number>()
  const refFor = <M extends Message>(address: ActorAddress): ActorRef<M> => {
    const ask = async (msg: { type: string; name?: string }): Promise<unknown> => {
      if (!PEERS.includes(address.node)) throw new T3fsError('ERR_PEER_UNKNOWN', `node ${address.node} is not in the peer table of node 301; accepted: one of ${PEERS.join(', ')}`, { node: address.node })
      if (address.id !== registryActorId) throw new T3fsError('ERR_TIMEOUT', 'only registries answer here (mgmtd is no primary yet)')
      asks.push(address.node)
      if (down.has(address.node)) throw new T3fsError('ERR_PEER_DOWN', `node ${address.node} is down (connection refused)`, { node: address.node })
      const table = named.get(address.node) ?? {}
      return msg.type === 'names' ? Object.keys(table) : (table[msg.name!] ?? null)
    }
    return { address, ask } as unknown as ActorRef<M>
  }
  return { ctx: { clock, refFor } as unknown as ActorContext<Message>, clock, asks, down }
}

const options = (mgmtdNode: number): FindClusterServices => ({
  mgmtdNode, mgmtdName: 'mgmtd', metaNodes: null, budgetMs: 60_000, askTimeoutMs: 1_000,
  errorCode: 'ERR_FUSE_CLUSTER', who: 'the FUSE mount at /mnt/t3fs', options: 'mgmtd_node, mgmtd_name and meta_nodes',
})

/** Runs `work` on the virtual clock (testkit's drive); returns how far the clock went. */
async function timed<T>(clock: VirtualClock, work: Promise<T>): Promise<{ result: T; elapsedMs: number }> {
  const start = clock.now()
  const result = await drive(clock, work)
  return { result, elapsedMs: clock.now() - start }
}

t.test('a cluster that is starting: asked again until mgmtd and meta are up', async (t) => {
  const f = fakeContext(new Map([[1, { mgmtd: addr(1, 3), meta: addr(1, 5) }]]))
  f.down.add(1)
  const found = findClusterServices(f.ctx, options(1))
  const lift = timed(f.clock, found)
  // Node 1 answers once it is up, after a few rounds.
  while (f.asks.length < 3) await new Promise((resolve) => setImmediate(resolve))
  f.down.delete(1)
  const { result, elapsedMs } = await lift
  t.same(result.mgmtd.address, addr(1, 3), 'mgmtd by name on its node')
  t.same(result.meta.current().map((r) => r.address), [addr(1, 5)], 'meta on mgmtd\'s node')
  t.ok(f.asks.length >= 4 && elapsedMs > 0, `asked ${f.asks.length} times over ${elapsedMs} virtual ms`)
})

t.test('mgmtd_node not in the peer table: refused at once, naming the node, the table and the options', async (t) => {
  const f = fakeContext(new Map([[1, { mgmtd: addr(1, 3), meta: addr(1, 5) }]]))
  const { result, elapsedMs } = await timed(f.clock, findClusterServices(f.ctx, options(9)).then(() => null, (error: unknown) => error as T3fsError))
  t.ok(result instanceof T3fsError, 'it fails')
  t.equal(result?.code, 'ERR_FUSE_CLUSTER', 'with the caller\'s code')
  t.match(result?.message, /^the FUSE mount at \/mnt\/t3fs: node 9 is not in the peer table of node 301; accepted: one of 1, 10001; check mgmtd_node, mgmtd_name and meta_nodes, or list the node in \[\[peers\]\]/)
  t.equal(elapsedMs, 0, 'without waiting out the budget (no retry on the virtual clock)')
})

t.test('a pinned meta node not in the peer table: refused at once too', async (t) => {
  const f = fakeContext(new Map([[1, { mgmtd: addr(1, 3) }]]))
  const { result, elapsedMs } = await timed(f.clock, findClusterServices(f.ctx, { ...options(1), metaNodes: [77] }).then(() => null, (error: unknown) => error as T3fsError))
  t.equal(result?.code, 'ERR_FUSE_CLUSTER')
  t.match(result?.message, /node 77 is not in the peer table/)
  t.equal(elapsedMs, 0, 'no retry')
})

t.test('a node that stays down: the budget ends with the last error', async (t) => {
  const f = fakeContext(new Map([[1, { mgmtd: addr(1, 3) }]]))
  f.down.add(1)
  const { result, elapsedMs } = await timed(f.clock, findClusterServices(f.ctx, options(1)).then(() => null, (error: unknown) => error as T3fsError))
  t.equal(result?.code, 'ERR_FUSE_CLUSTER')
  t.match(result?.message, /mgmtd \(mgmtd on node 1\) and meta servers .* not found within 60000 ms: node 1 is down \(connection refused\)/)
  t.ok(elapsedMs >= 59_000 && elapsedMs <= 60_000, `asked again for the whole budget (${elapsedMs} virtual ms)`)
})
