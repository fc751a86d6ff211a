import { Worker, type Transferable } from 'node:worker_threads'
import { wrap, releaseProxy, type Remote } from 'comlink'
import { nodeEndpoint } from './comlink-endpoint.ts'
import type { ActorRef, Message, SpawnOptions } from './actor.ts'
import type { ActorAddress } from './address.ts'
import { ActorSystem } from './actor-system.ts'
import { fromWire, invalidOption, T3fsError } from './errors.ts'
import type { ControlResult, DefinitionRef, HostControl, HostStats, HostWorkerData } from './host-control.ts'
import { allocateMesh, HostMesh, ringBytesDefault } from './host-mesh.ts'
import { createLogger, type Logger, type LogLevel } from './logger.ts'
import { readTopology, type NumaDomain } from './topology.ts'
import { allocateBufferPool, BufferPool, type BufferPoolOptions } from './buffer-pool.ts'
import { hostDied } from './runtime-errors.ts'
import { NetworkRoute } from './network-route.ts'
import { UringDisk } from './disk/uring-disk.ts'
import { siblingModule } from './module-url.ts'
import { loadDefinition } from './definition-loader.ts'
import { registry, registryActorId } from './registry.ts'
import { regionsActor, regionsActorId } from './regions-actor.ts'
import { lookupOn } from './node-client.ts'
import { newIncarnation, sameAddress } from './address.ts'
import type { NodeTransport } from './transport/transport.ts'
import { meteredTransport } from './metrics/metered-transport.ts'
import { aggregateFamilies } from './metrics/aggregate.ts'
import type { MetricFamily } from './metrics/registry.ts'
import { metricsActor, metricsActorId } from './metrics/metrics-actor.ts'

export interface NodeRuntimeOptions {
  /** This node's id in the cluster. Default 1. */
  node?: number
  /** Worker hosts per NUMA domain. Default 1. */
  hostsPerDomain?: number
  /** NUMA domains to use; default: every domain sysfs reports. */
  domains?: readonly NumaDomain[]
  /** Bytes per host-to-host ring (a power of two). Default 1 MiB. */
  ringBytes?: number
  logLevel?: LogLevel
  log?: Logger
  /** Size classes of the shared buffer pool for zero-copy payloads. */
  bufferPool?: BufferPoolOptions
  /** The transport to other nodes (started here); without it the node reaches only itself. */
  transport?: NodeTransport
  /** A directory every host's actors get as ctx.disk, each host on its own io_uring. */
  disk?: { readonly root: string }
}

interface HostHandle {
  readonly host: number
  readonly domain: number
  readonly cpus: readonly number[]
  readonly worker: Worker
  readonly control: Remote<HostControl>
  alive: boolean
  exitReason: string | null
  /** Control calls waiting for an answer: failed at once if the host exits (one exit listener per host). */
  readonly calls: Set<(error: Error) => void>
}

const hostsPerDomainMax = 64

/**
 * One node (OS process): the main thread is host 0 and runs this object; worker hosts 1..n are
 * grouped per NUMA domain and pinned to its CPUs. Actors on any host reach each other with the
 * same refs through the shared-memory mesh.
 */
export class NodeRuntime {
  readonly system: ActorSystem
  private readonly mesh: HostMesh
  private readonly hosts: HostHandle[]
  /** Named actors of this node, served to other processes by the registry on host 0. */
  private readonly names = new Map<string, ActorAddress>()
  readonly transport: NodeTransport | null
  private readonly meteredTransport: NodeTransport | null
  private stopping = false

  private constructor(system: ActorSystem, mesh: HostMesh, hosts: HostHandle[], transport: NodeTransport | null) {
    this.system = system
    this.mesh = mesh
    this.hosts = hosts
    this.transport = transport
    const registryRef = system.spawn(registry, { names: this.names }, { name: 'registry' })
    if (registryRef.address.id !== registryActorId) throw new Error('the registry must be the first actor of host 0')
    // The router and the regions actor see the transport through a meter (bytes and frames per peer).
    const metered = transport === null ? null : meteredTransport(transport, system.metrics)
    this.meteredTransport = metered
    const regionsRef = system.spawn(regionsActor, {
      pool: system.bufferPool, transport: metered, peerIncarnation: (node) => transport?.peerIncarnation?.(node),
    })
    if (regionsRef.address.id !== regionsActorId) throw new Error('the regions actor must be the second actor of host 0')
    const metricsRef = system.spawn(metricsActor, { gather: () => this.metricFamilies() })
    if (metricsRef.address.id !== metricsActorId) throw new Error('the metrics actor must be the third actor of host 0')
  }

  static async start(options: NodeRuntimeOptions = {}): Promise<NodeRuntime> {
    const node = options.node ?? 1
    if (!Number.isInteger(node) || node < 0 || node > 0xffff) throw invalidOption('node', node, 'an integer from 0 to 65535')
    const hostsPerDomain = options.hostsPerDomain ?? 1
    if (!Number.isInteger(hostsPerDomain) || hostsPerDomain < 1 || hostsPerDomain > hostsPerDomainMax) {
      throw invalidOption('hostsPerDomain', hostsPerDomain, `an integer from 1 to ${hostsPerDomainMax}`)
    }
    const ringBytes = options.ringBytes ?? ringBytesDefault
    if (!Number.isInteger(ringBytes) || ringBytes < 4096 || ringBytes > 1 << 30 || (ringBytes & (ringBytes - 1)) !== 0) {
      throw invalidOption('ringBytes', ringBytes, 'a power of two from 4096 to 1073741824')
    }
    const domains = options.domains ?? readTopology()
    if (domains.length === 0) throw invalidOption('domains', domains, 'at least one NUMA domain with CPUs')
    const logLevel = options.logLevel ?? 'warn'
    const log = options.log ?? createLogger({ level: logLevel, fields: { node } })

    const placements = domains.flatMap((domain) => Array.from({ length: hostsPerDomain }, () => domain))
    const memory = allocateMesh(placements.length + 1, ringBytes)
    const poolMemory = allocateBufferPool(options.bufferPool)
    const incarnation = newIncarnation()
    const pool = new BufferPool(poolMemory)
    const diskRoot = options.disk?.root ?? null
    const disk = diskRoot === null ? null : await UringDisk.open({ root: diskRoot, create: true, pool })
    const system = new ActorSystem({ node, host: 0, incarnation, log, bufferPool: pool, servesRegions: true, disk })
    const mesh = new HostMesh(system, memory)
    mesh.start()

    const hosts = placements.map((domain, index): HostHandle => {
      const host = index + 1
      const data: HostWorkerData = { node, host, incarnation, cpus: domain.cpus, mesh: memory, logLevel, bufferPool: poolMemory, diskRoot }
      const worker = startWorker(siblingModule('./worker-host-main.ts', import.meta.url), data)
      return { host, domain: domain.id, cpus: domain.cpus, worker, control: wrap<HostControl>(nodeEndpoint(worker)), alive: true, exitReason: null, calls: new Set() }
    })
    const runtime = new NodeRuntime(system, mesh, hosts, options.transport ?? null)
    for (const handle of hosts) runtime.watchWorker(handle)
    try {
      await Promise.all(hosts.map((handle) => raceExit(handle, handle.control.ping())))
      if (options.transport !== undefined) {
        new NetworkRoute(system, mesh, runtime.meteredTransport!)
        // Peers learn this incarnation in the handshake: a restart is then told apart from a reconnect.
        await options.transport.start({ incarnation })
      }
    } catch (error) {
      await runtime.shutdown()
      throw error
    }
    return runtime
  }

  /** Worker hosts, 1..n (host 0 is this thread). */
  get hostIds(): number[] {
    return this.hosts.map((handle) => handle.host)
  }

  /**
   * Spawns an actor on a worker host (round-robin when `host` is not given), or with `host: 0` on
   * this thread, beside the network transport (no ring hop between the socket and the actor).
   */
  async spawn<M extends Message = Message>(definition: DefinitionRef, args: unknown, options: SpawnOptions & { host?: number } = {}): Promise<ActorRef<M>> {
    const { host, ...spawnOptions } = options
    if (spawnOptions.name !== undefined && this.names.has(spawnOptions.name)) {
      throw new T3fsError('ERR_NAME_TAKEN', `an actor named ${JSON.stringify(spawnOptions.name)} already runs on node ${this.system.node}`, { name: spawnOptions.name })
    }
    if (host === 0) {
      const ref = this.system.spawn(await loadDefinition(definition), args, spawnOptions) as ActorRef<M>
      if (spawnOptions.name !== undefined) this.names.set(spawnOptions.name, ref.address)
      return ref
    }
    const handle = this.handleFor(host ?? this.nextHost())
    const result = await raceExit(handle, handle.control.spawn(definition, args, spawnOptions) as Promise<ControlResult<ActorAddress>>)
    const address = unwrap(result)
    if (spawnOptions.name !== undefined) this.names.set(spawnOptions.name, address)
    return this.system.refFor<M>(address)
  }

  /** The address of an actor spawned here with a name (what other nodes get from the registry). */
  lookup<M extends Message = Message>(name: string): ActorRef<M> | undefined {
    const address = this.names.get(name)
    return address === undefined ? undefined : this.system.refFor<M>(address)
  }

  /** Asks `node`'s registry for its actor named `name` (ERR_NAME_UNKNOWN when there is none). */
  async lookupRemote<M extends Message = Message>(node: number, name: string, timeoutMs = 5_000): Promise<ActorRef<M>> {
    return lookupOn<M>(this.system, node, name, timeoutMs)
  }

  async stop(ref: ActorRef<Message>): Promise<void> {
    for (const [name, address] of this.names) if (sameAddress(address, ref.address)) this.names.delete(name)
    if (ref.address.host === 0) return this.system.stop(ref)
    const handle = this.handleFor(ref.address.host)
    unwrap(await raceExit(handle, handle.control.stop(ref.address.id) as Promise<ControlResult<null>>))
  }

  async stats(): Promise<HostStats[]> {
    return Promise.all(this.hosts.filter((h) => h.alive).map((handle) => raceExit(handle, handle.control.stats() as Promise<HostStats>)))
  }

  /** Every host's metric families, summed per series (what the node's /metrics serves). */
  async metricFamilies(): Promise<MetricFamily[]> {
    return this.aggregatedMetrics().then((m) => m.families())
  }

  /** The node's metrics in the Prometheus text format. */
  async metricsText(): Promise<string> {
    return this.aggregatedMetrics().then((m) => m.text())
  }

  private async aggregatedMetrics(): Promise<ReturnType<typeof aggregateFamilies>> {
    const alive = this.hosts.filter((h) => h.alive)
    const workers = await Promise.all(alive.map((handle) => raceExit(handle, handle.control.metrics() as Promise<MetricFamily[]>)))
    return aggregateFamilies([await this.system.metrics.families(), ...workers])
  }

  /** Kills a worker host abruptly (tests and fault drills); the others are told it died. */
  async killHost(host: number): Promise<void> {
    const handle = this.handleFor(host)
    await handle.worker.terminate()
  }

  /** Stops every actor on every host, waits up to `graceMs` for handlers to finish, ends the workers. */
  async shutdown(graceMs = 2_000): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.system.shutdown()
    const deadline = this.system.clock.now() + graceMs
    await Promise.all([...this.hosts.map(async (handle) => {
      if (!handle.alive) return
      try {
        await raceExit(handle, handle.control.shutdown(graceMs))
      } catch {
        // a host that died during shutdown is already gone
      }
      handle.control[releaseProxy]()
      await handle.worker.terminate()
    }), this.system.quiesced(deadline)])
    this.mesh.stop()
    await (this.system.disk as UringDisk | null)?.close()
    await this.transport?.close()
  }

  private roundRobin = 0
  private nextHost(): number {
    const alive = this.hosts.filter((h) => h.alive)
    if (alive.length === 0) throw new T3fsError('ERR_HOST_DIED', 'no worker host is alive')
    return alive[this.roundRobin++ % alive.length].host
  }

  private handleFor(host: number): HostHandle {
    const handle = this.hosts.find((h) => h.host === host)
    if (handle === undefined) throw invalidOption('host', host, `one of ${this.hosts.map((h) => h.host).join(', ')}`)
    if (!handle.alive) throw hostDied(this.system.node, host, handle.exitReason ?? 'exited')
    return handle
  }

  private watchWorker(handle: HostHandle): void {
    const onDeath = (reason: string) => {
      if (!handle.alive) return
      handle.alive = false
      handle.exitReason = reason
      const error = hostDied(0, handle.host, reason)
      for (const fail of handle.calls) fail(error)
      handle.calls.clear()
      if (this.stopping) return
      this.system.log.error({ evt: 'HostDied', host: handle.host, reason })
      // Its actors can release nothing any more: every slot held there (or queued for it) comes back.
      const reclaimed = this.system.bufferPool?.reclaim(handle.host) ?? 0
      if (reclaimed > 0) this.system.log.warn({ evt: 'PoolSlotsReclaimed', host: handle.host, slots: reclaimed })
      this.mesh.hostDown(handle.host, reason)
      for (const other of this.hosts) if (other.alive) void other.control.hostDown(handle.host, reason).catch(() => {})
    }
    handle.worker.on('error', (error) => onDeath(`uncaught ${error instanceof Error ? error.message : String(error)}`))
    handle.worker.on('exit', (code) => onDeath(`exited with code ${code}`))
  }
}

function unwrap<T>(result: ControlResult<T>): T {
  if (result.ok) return result.value
  throw fromWire(result.error)
}

/**
 * A control call that fails fast with ERR_HOST_DIED when the host exits before answering. The
 * host's one exit listener (watchWorker) fails every such call, so many calls in flight add no
 * listeners (smallpond keeps dozens of tasks in flight on each host).
 */
function raceExit<T>(handle: HostHandle, call: Promise<T>): Promise<T> {
  if (!handle.alive) return Promise.reject(hostDied(0, handle.host, handle.exitReason ?? 'exited'))
  return new Promise<T>((resolve, reject) => {
    handle.calls.add(reject)
    call.then(
      (value) => { handle.calls.delete(reject); resolve(value) },
      (error: unknown) => { handle.calls.delete(reject); reject(error) },
    )
  })
}

/**
 * Starts a worker on a module. A `.ts` entry (running from source) needs tsx registered inside the
 * worker first; compiled `.js` entries (a built package, see module-url.ts) start directly.
 */
export function startWorker(entry: URL, workerData: unknown, transferList: Transferable[] = []): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData, transferList })
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(bootstrap, { eval: true, workerData, transferList })
}
