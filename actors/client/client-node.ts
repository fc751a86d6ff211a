/**
 * A plain Node process joining a running cluster as a client node and getting a FileClient:
 *
 *   import { connectFileClient } from 't3fs/client'
 *   const fs = await connectFileClient({ mgmtd: '127.0.0.1:9000' })   // or $T3FS_MGMTD
 *   const h = await fs.create('/data/x.bin')
 *   await fs.write(h, bytes, 0)
 *   await fs.close(h)
 *   await fs.shutdown()
 *
 * What it builds on this thread (no worker threads): an actor system with a buffer pool that
 * serves one-sided transfers (its own registry and regions actor, as every node has), a TCP
 * transport that dials mgmtd's node, then every node mgmtd's routing info lists with an endpoint
 * (storage and meta nodes; kept up to date while the client runs), and the FileClient's actor.
 * Meta servers (meta-servers.ts): by name (`meta`, `meta2`, …) on mgmtd's node, as in
 * configs/dev.toml, and on every META node of the routing info (meta nodes heartbeat to mgmtd
 * with their meta actors), following the routing; or by name on `metaNodes` only, when given.
 * The client registers with mgmtd as a client; `shutdown` closes everything.
 */
import { ActorSystem } from '../../runtime/actor-system.ts'
import type { Clock, TimerHandle } from '../../runtime/clock.ts'
import { newIncarnation } from '../../runtime/address.ts'
import { allocateBufferPool, BufferPool } from '../../runtime/buffer-pool.ts'
import { invalidOption, T3fsError, toT3fsError } from '../../runtime/errors.ts'
import { allocateMesh, HostMesh } from '../../runtime/host-mesh.ts'
import { createLogger } from '../../runtime/logger.ts'
import { NetworkRoute } from '../../runtime/network-route.ts'
import { lookupOn } from '../../runtime/node-client.ts'
import { regionsActor } from '../../runtime/regions-actor.ts'
import { registry } from '../../runtime/registry.ts'
import { TcpTransport } from '../../runtime/transport/tcp-transport.ts'
import type { MgmtdMsg, RoutingInfo } from '../mgmtd/protocol.ts'
import { routingOf, startFileClientWith } from './file-client-actor.ts'
import type { ConnectFileClientOptions, FileClient } from './file-client.ts'
import { MetaServers } from './meta-servers.ts'

/** How often the client looks for nodes new to the routing info, to dial them. */
export const peerRefreshMs = 1_000
const defaultPool = { classes: [{ slotBytes: 64 * 1024, slots: 64 }, { slotBytes: 1024 * 1024, slots: 48 }] }

function parseAddress(field: string, text: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(text)
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65_535) throw invalidOption(field, text, 'host:port, e.g. 127.0.0.1:9000')
  return { host: m[1], port: Number(m[2]) }
}

export async function connectFileClient(options: ConnectFileClientOptions = {}): Promise<FileClient> {
  const mgmtdText = options.mgmtd ?? process.env.T3FS_MGMTD ?? '127.0.0.1:9000'
  const mgmtdAddress = parseAddress('mgmtd', mgmtdText)
  const mgmtdNode = options.mgmtdNode ?? Number(process.env.T3FS_MGMTD_NODE ?? 1)
  if (!Number.isInteger(mgmtdNode) || mgmtdNode < 0 || mgmtdNode > 0xffff) throw invalidOption('mgmtdNode', mgmtdNode, 'a node id from 0 to 65535')
  const clientNode = options.clientNode ?? 60_000 + (process.pid % 5_000)
  const timeoutMs = options.connectTimeoutMs ?? 5_000
  const log = createLogger({ level: 'error' })
  const system = new ActorSystem({ node: clientNode, host: 0, incarnation: newIncarnation(), log, bufferPool: new BufferPool(allocateBufferPool(options.bufferPool ?? defaultPool)), servesRegions: true })
  const mesh = new HostMesh(system, allocateMesh(1))
  const transport = new TcpTransport({ nodeId: clientNode, clusterId: options.clusterId ?? 't3fs', listen: { host: '127.0.0.1', port: 0 }, peers: [{ node: mgmtdNode, address: mgmtdAddress }], maxFrameBytes: 256 * 1024 * 1024 })
  // The node's system actors at their well-known ids, as every node starts them.
  system.spawn(registry, { names: system.nameTable }, { name: 'registry' })
  system.spawn(regionsActor, { pool: system.bufferPool, transport, peerIncarnation: (node) => transport.peerIncarnation(node) })
  new NetworkRoute(system, mesh, transport)
  let timer: TimerHandle | undefined
  const close = async (): Promise<void> => {
    timer?.cancel()
    system.shutdown()
    await transport.close()
  }
  try {
    const up = new Promise<void>((resolve) => transport.onPeerState((node, state) => { if (node === mgmtdNode && state === 'up') resolve() }))
    await transport.start({ incarnation: system.incarnation })
    await withDeadline(system.clock, up, timeoutMs, `mgmtd's node ${mgmtdNode} at ${mgmtdText}`)
    const mgmtd = await withDeadline(system.clock, lookupOn<MgmtdMsg>(system, mgmtdNode, 'mgmtd', timeoutMs), timeoutMs, `mgmtd (node ${mgmtdNode} at ${mgmtdText})`)
    const dialed = new Set<number>([mgmtdNode])
    const dial = (info: RoutingInfo | null): void => {
      for (const n of info?.nodes ?? []) {
        if (n.endpoint === null || dialed.has(n.nodeId) || n.nodeId === clientNode) continue
        dialed.add(n.nodeId)
        transport.addPeer(n.nodeId, parseAddress(`endpoint of node ${n.nodeId}`, n.endpoint))
      }
    }
    const routing = await mgmtd.ask({ type: 'get-routing-info' }, { timeoutMs })
    dial(routing)
    const meta = await MetaServers.find(system, options.metaNodes ?? null, mgmtdNode, routing, timeoutMs)
    const client = await startFileClientWith(system, { ...options, mgmtd: [mgmtd], meta: meta.current }, close)
    meta.followRouting(() => routingOf(client))
    // New nodes in the routing get dialled; on the system's clock, rescheduled until close.
    const refreshPeers = (): void => {
      dial(routingOf(client))
      timer = system.clock.setTimer(peerRefreshMs, refreshPeers)
    }
    timer = system.clock.setTimer(peerRefreshMs, refreshPeers)
    return client
  } catch (error) {
    await close()
    const e = toT3fsError(error)
    if (e.code === 'ERR_CLIENT_CONNECT' || e.code === 'ERR_INVALID_OPTION') throw e
    throw new T3fsError('ERR_CLIENT_CONNECT', `could not join the cluster at ${mgmtdText}: ${e.message}`, { cause: e.code })
  }
}

async function withDeadline<T>(clock: Clock, work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: TimerHandle | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimer(timeoutMs, () => reject(new T3fsError('ERR_CLIENT_CONNECT', `no answer from ${what} within ${timeoutMs} ms; is it running?`, {})))
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    timer?.cancel()
  }
}
