import type { ActorRef, Message } from './actor.ts'
import { ActorSystem } from './actor-system.ts'
import { newIncarnation, type ActorAddress } from './address.ts'
import { allocateBufferPool, BufferPool } from './buffer-pool.ts'
import { invalidOption, T3fsError } from './errors.ts'
import { allocateMesh, HostMesh } from './host-mesh.ts'
import { createLogger, type Logger } from './logger.ts'
import { NetworkRoute } from './network-route.ts'
import { registryAddress, type RegistryMsg } from './registry.ts'
import { TcpTransport } from './transport/tcp-transport.ts'

/** What makes refs: an ActorSystem (a client process) or an actor's context. */
export interface RefSource {
  refFor<M extends Message>(address: ActorAddress): ActorRef<M>
}

/** Asks `node`'s registry for the actor named `name` (ERR_NAME_UNKNOWN, listing the names it has, when none is). */
export async function lookupOn<M extends Message>(refs: RefSource, node: number, name: string, timeoutMs: number): Promise<ActorRef<M>> {
  const registry = refs.refFor<RegistryMsg>(registryAddress(node))
  const address = await registry.ask({ type: 'lookup', name }, { timeoutMs })
  if (address === null) {
    const names = await registry.ask({ type: 'names' }, { timeoutMs })
    throw new T3fsError('ERR_NAME_UNKNOWN', `node ${node} has no actor named ${JSON.stringify(name)}; it has: ${names.join(', ') || '(none)'}`, { node, name })
  }
  return refs.refFor<M>(address)
}

export interface NodeClientOptions {
  /** The node's TCP address, `host:port`. */
  readonly address: string
  /** The node's id. */
  readonly node: number
  /** This client's node id; default: one derived from the process id, above 60000. */
  readonly clientNode?: number
  /** The cluster's id (a node refuses peers of another cluster). Default "t3fs", as in configs/base.toml. */
  readonly clusterId?: string
  readonly connectTimeoutMs?: number
  readonly log?: Logger
}

export interface NodeClient {
  readonly system: ActorSystem
  lookup<M extends Message = Message>(name: string): Promise<ActorRef<M>>
  close(): Promise<void>
}

/**
 * A short-lived process (the admin CLI, a tool) joining a running node as a client node: an actor
 * system of its own on this thread, connected over TCP, that reaches the node's actors by name.
 */
export async function connectToNode(options: NodeClientOptions): Promise<NodeClient> {
  const match = /^(.+):(\d+)$/.exec(options.address)
  if (match === null) throw invalidOption('address', options.address, 'host:port, e.g. 127.0.0.1:7301')
  const clientNode = options.clientNode ?? 60000 + (process.pid % 5000)
  const log = options.log ?? createLogger({ level: 'error' })
  const system = new ActorSystem({ node: clientNode, host: 0, incarnation: newIncarnation(), log, bufferPool: new BufferPool(allocateBufferPool({ classes: [{ slotBytes: 1 << 20, slots: 4 }] })) })
  const mesh = new HostMesh(system, allocateMesh(1))
  // A refused connection means nothing listens there: say so at once instead of waiting out the timeout.
  let refused: (error: T3fsError) => void = () => {}
  const refusal = new Promise<never>((_, reject) => { refused = reject })
  const watchDials = {
    info: () => {},
    // The node answered our HELLO with a refusal (another cluster's id, …): its reason, at once.
    warn: (event: object) => {
      const { evt, node, reason } = event as { evt?: string; node?: number; reason?: string }
      if (evt === 'TransportRefused' && node === options.node) {
        const hint = /\bcluster "/.test(reason ?? '') ? '; give the cluster\'s id (--cluster-id or $T3FS_CLUSTER_ID)' : ''
        refused(new T3fsError('ERR_HELLO_REJECTED', `node ${options.node} at ${options.address} refused this client: ${(reason ?? 'no reason given').replace(/^node \d+ refused the connection: /, '')}${hint}`, { address: options.address }))
      }
    },
    debug: (event: object) => {
      const { evt, node, err } = event as { evt?: string; node?: number; err?: string }
      if (evt === 'TransportSocketError' && node === options.node && /ECONNREFUSED/.test(err ?? '')) {
        refused(new T3fsError('ERR_CONNECT_REFUSED', `nothing listens at ${options.address} (connection refused); is node ${options.node} running?`, { address: options.address }))
      }
    },
  }
  const transport = new TcpTransport({
    nodeId: clientNode,
    clusterId: options.clusterId ?? 't3fs',
    listen: { host: '127.0.0.1', port: 0 },
    peers: [{ node: options.node, address: { host: match[1], port: Number(match[2]) } }],
    log: watchDials,
  })
  new NetworkRoute(system, mesh, transport)
  const timeoutMs = options.connectTimeoutMs ?? 5_000
  const up = new Promise<void>((resolve) => transport.onPeerState((node, state) => { if (node === options.node && state === 'up') resolve() }))
  await transport.start({ incarnation: system.incarnation })
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new T3fsError('ERR_CONNECT_TIMEOUT', `no answer from node ${options.node} at ${options.address} within ${timeoutMs} ms; is it running?`, { address: options.address })), timeoutMs)
  })
  try {
    await Promise.race([up, timedOut, refusal])
  } catch (error) {
    system.shutdown()
    await transport.close()
    throw error
  } finally {
    clearTimeout(timer)
  }
  return {
    system,
    lookup: (name) => lookupOn(system, options.node, name, timeoutMs),
    async close() {
      system.shutdown()
      await transport.close()
    },
  }
}
