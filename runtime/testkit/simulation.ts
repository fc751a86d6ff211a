import type { ActorRef, Message } from '../actor.ts'
import { ActorSystem } from '../actor-system.ts'
import { allocateBufferPool, BufferPool, type BufferPoolMemory, type BufferPoolOptions } from '../buffer-pool.ts'
import { SeededBuggify } from '../buggify.ts'
import type { Disk } from '../disk/disk.ts'
import { invalidOption } from '../errors.ts'
import { allocateMesh, HostMesh } from '../host-mesh.ts'
import { silentLogger, type Logger } from '../logger.ts'
import { NetworkRoute } from '../network-route.ts'
import { regionsActor } from '../regions-actor.ts'
import { registry } from '../registry.ts'
import { SeededRandom } from '../random.ts'
import { NodeClock } from './node-clock.ts'
import { SimNetwork, type NetworkFaults } from './sim-network.ts'
import type { SimTransport } from './sim-transport.ts'
import { SimDisk, type SimDiskOptions } from './sim-disk.ts'
import { flushMicrotasks, VirtualClock } from './virtual-clock.ts'

/** What the simulated network, processes and scheduler do to a run; all decisions come from the seed. */
export interface FaultPlan extends NetworkFaults {
  /** Mean virtual time between crashes of a random crashable actor; 0 = never. */
  readonly crashEveryMs?: number
  /** Each node's clock is off by a fixed amount drawn from [-clockSkewMs, clockSkewMs]. Default 0. */
  readonly clockSkewMs?: number
  /**
   * Turn on the components' buggify fault sites (runtime/buggify.ts). Default false. `{ sites,
   * fireRate }`: only those sites, each on in every run, firing with `fireRate` (a suite about one
   * fault).
   */
  readonly buggify?: boolean | { readonly sites: readonly string[]; readonly fireRate: number }
}

export interface RunLimits {
  /** Stop once virtual time would pass this. */
  readonly untilMs?: number
  /** Stop after this many events (a runaway guard). Default 1,000,000. */
  readonly maxEvents?: number
  /** Stop as soon as this holds (checked after every event). */
  readonly until?: () => boolean
}

/** A disk that a simulated power loss can hit: SimDisk (runtime/testkit/sim-disk.ts). */
export interface CrashableDisk extends Disk {
  crash(): void
}

export interface SimNodeOptions {
  /** Starts the node's actors: at the first start and after every restart (memory is lost). */
  readonly boot?: (node: SimNode) => void | Promise<void>
  /** The node's disk; it survives restarts, losing what was not synced. */
  readonly disk?: CrashableDisk
  /** The node's buffer pool (none by default: most simulations move no bulk data). */
  readonly bufferPool?: BufferPoolOptions
}

/** One simulated process; `system` and `incarnation` change when it restarts. */
export class SimNode {
  system!: ActorSystem
  incarnation = 0
  up = false
  clock!: NodeClock
  transport!: SimTransport
  /** Durable values that survive actor crashes and node restarts (a stand-in for a disk where a test needs no real one). */
  readonly durable = new Map<string, unknown>()
  readonly disk: CrashableDisk | null
  readonly pool: BufferPool | null

  constructor(
    readonly id: number,
    readonly name: string,
    readonly skewMs: number,
    readonly options: SimNodeOptions,
    poolMemory: BufferPoolMemory | null,
  ) {
    this.disk = options.disk ?? null
    this.pool = poolMemory === null ? null : new BufferPool(poolMemory)
  }
}

/**
 * A whole cluster in one thread: every node is an ActorSystem on one virtual clock (each with its
 * own skew), running the real router over a simulated network (see sim-network.ts): messages are
 * encoded as on the wire, links delay, partition (asymmetrically too) and heal, peers are reported
 * down as the TCP transport reports them. Whole nodes crash (memory, timers and in-flight work
 * gone; the disk keeps what was synced) and restart with a new incarnation; chosen actors crash at
 * random and restart under their supervision. All choices come from one seed, so a failing seed
 * replays the same run exactly.
 */
export class Simulation {
  readonly clock = new VirtualClock()
  readonly random: SeededRandom
  readonly network: SimNetwork
  readonly nodes: SimNode[] = []
  readonly buggify: SeededBuggify | null
  /** Counts of what the simulation did, for test output. */
  readonly counters = { crashes: 0, nodeCrashes: 0, restarts: 0, events: 0 }
  private readonly crashEveryMs: number
  private readonly clockSkewMs: number
  private readonly crashable: ActorRef<Message>[] = []

  constructor(readonly seed: number, faults: FaultPlan = {}, private readonly log: Logger = silentLogger) {
    this.random = new SeededRandom(seed)
    this.network = new SimNetwork(this.clock, this.random.fork(), faults)
    this.crashEveryMs = faults.crashEveryMs ?? 0
    this.clockSkewMs = faults.clockSkewMs ?? 0
    if (!(this.crashEveryMs >= 0)) throw invalidOption('crashEveryMs', this.crashEveryMs, 'a non-negative number of ms')
    if (!(this.clockSkewMs >= 0)) throw invalidOption('clockSkewMs', this.clockSkewMs, 'a non-negative number of ms')
    const b = faults.buggify
    this.buggify = b === true ? new SeededBuggify(this.random.fork())
      : typeof b === 'object' && b !== null ? new SeededBuggify(this.random.fork(), 1, b.fireRate, b.sites)
      : null
    if (this.crashEveryMs > 0) this.scheduleCrash()
  }

  /** Sent, dropped, duplicated and lost frames, and cut connections (the network's counters). */
  get networkCounters(): SimNetwork['counters'] {
    return this.network.counters
  }

  /**
   * A seeded SimDisk for a node (pass it as `addNode(name, { disk })`): on the simulation's clock,
   * with its own generator forked from the seed, so its choices do not shift the network's.
   */
  newDisk(name: string, options: Omit<SimDiskOptions, 'name' | 'clock' | 'random'> = {}): SimDisk {
    return new SimDisk({ ...options, name, clock: this.clock, random: this.random.fork() })
  }

  /** An independent generator derived from the seed (for a SimDisk, a workload). */
  forkRandom(): SeededRandom {
    return this.random.fork()
  }

  addNode(name: string, options: SimNodeOptions = {}): SimNode {
    const id = this.nodes.length + 1
    const skewMs = this.clockSkewMs === 0 ? 0 : (this.random.next() * 2 - 1) * this.clockSkewMs
    const poolMemory = options.bufferPool === undefined ? null : allocateBufferPool(options.bufferPool)
    const node = new SimNode(id, name, skewMs, options, poolMemory)
    this.nodes.push(node)
    this.boot(node)
    return node
  }

  node(id: number): SimNode {
    const node = this.nodes[id - 1]
    if (node === undefined) throw invalidOption('node', id, `a node id from 1 to ${this.nodes.length}`)
    return node
  }

  /** The process dies: actors halt, timers and in-flight work vanish, unsynced disk writes may be lost or torn. */
  crashNode(target: SimNode | number): void {
    const node = typeof target === 'number' ? this.node(target) : target
    if (!node.up) return
    node.up = false
    this.counters.nodeCrashes++
    node.clock.kill()
    node.system.halt()
    this.network.detach(node.id)
    node.disk?.crash()
  }

  /** Starts a crashed node again: a new incarnation, empty memory, its disk as the crash left it. */
  restartNode(target: SimNode | number): void {
    const node = typeof target === 'number' ? this.node(target) : target
    if (node.up) throw invalidOption('node', node.id, 'a crashed node (crashNode first)')
    this.counters.restarts++
    node.pool?.reset()
    this.boot(node)
    this.network.connectAll(node.id)
  }

  /** Cuts the links between two nodes (only a → b with `oneWay`). */
  partition(a: SimNode | number, b: SimNode | number, options: { readonly oneWay?: boolean } = {}): void {
    this.network.partition(idOf(a), idOf(b), options.oneWay ?? false)
  }

  heal(a: SimNode | number, b: SimNode | number): void {
    this.network.heal(idOf(a), idOf(b))
  }

  /** Cuts a node off from every other node. */
  isolate(target: SimNode | number): void {
    for (const other of this.nodes) if (other.id !== idOf(target)) this.partition(target, other)
  }

  /** Heals every cut link. */
  healAll(): void {
    for (const a of this.nodes) for (const b of this.nodes) if (a.id < b.id) this.heal(a, b)
  }

  /** Marks an actor as one the scheduler may crash at random. */
  allowCrashes(ref: ActorRef<Message>): void {
    this.crashable.push(ref)
  }

  /** Crashes an actor now, as a programmer error would: its supervisor decides what follows. */
  crash(ref: ActorRef<Message>): boolean {
    const node = this.nodes[ref.address.node - 1]
    const cell = node?.up ? node.system.localCell(ref.address) : undefined
    if (cell === undefined || cell.status === 'stopped') return false
    this.counters.crashes++
    cell.onFailure(new Error('simulated crash'))
    return true
  }

  /** Runs `callback` at virtual time `atMs`. */
  at(atMs: number, callback: () => void): void {
    this.clock.setTimer(atMs - this.clock.now(), callback)
  }

  /** Processes events in virtual-time order until a limit is reached or nothing is left. */
  async run(limits: RunLimits = {}): Promise<void> {
    const untilMs = limits.untilMs ?? Number.POSITIVE_INFINITY
    const maxEvents = limits.maxEvents ?? 1_000_000
    await flushMicrotasks()
    for (let events = 0; events < maxEvents; events++) {
      if (limits.until?.()) return
      const next = this.clock.nextAtMs()
      if (next === null || next > untilMs) break
      this.clock.fireNext()
      this.counters.events++
      await flushMicrotasks()
    }
    if (untilMs !== Number.POSITIVE_INFINITY) this.clock.advanceTo(untilMs)
  }

  private boot(node: SimNode): void {
    node.incarnation++
    node.clock = new NodeClock(this.clock, node.skewMs)
    node.system = new ActorSystem({
      node: node.id,
      host: 0,
      incarnation: node.incarnation,
      clock: node.clock,
      random: this.random.fork(),
      log: this.log,
      bufferPool: node.pool,
      disk: node.disk,
      servesRegions: true,
      ...(this.buggify === null ? {} : { buggify: this.buggify }),
    })
    const transport = this.network.attach(node.id, node.incarnation)
    node.transport = transport
    // One host per simulated process: the mesh only hands off-node traffic to the network route.
    new NetworkRoute(node.system, new HostMesh(node.system, allocateMesh(1)), transport)
    // The node's system actors, at their well-known ids, as NodeRuntime starts them.
    node.system.spawn(registry, { names: node.system.nameTable }, { name: 'registry' })
    node.system.spawn(regionsActor, { pool: node.pool, transport, peerIncarnation: (peer) => transport.peerIncarnation(peer) })
    node.up = true
    void node.options.boot?.(node)
  }

  private scheduleCrash(): void {
    // Exponential inter-arrival times make crashes a Poisson process over virtual time.
    const waitMs = -Math.log(1 - this.random.next()) * this.crashEveryMs
    this.clock.setTimer(waitMs, () => {
      if (this.crashable.length > 0) this.crash(this.crashable[this.random.int(this.crashable.length)])
      this.scheduleCrash()
    })
  }
}

function idOf(node: SimNode | number): number {
  return typeof node === 'number' ? node : node.id
}

export interface SeedFailure {
  readonly seed: number
  readonly error: unknown
}

/**
 * Runs `scenario` once per seed (`T3FS_SEED` in the environment replays one seed) and returns the
 * first failure, printing `seed=N` so the run can be replayed.
 */
export async function exploreSeeds(
  options: { seeds: number; firstSeed?: number; log?: (line: string) => void },
  scenario: (seed: number) => Promise<void>,
): Promise<SeedFailure | null> {
  const replay = process.env.T3FS_SEED
  const seeds = replay !== undefined ? [Number(replay)] : Array.from({ length: options.seeds }, (_, i) => (options.firstSeed ?? 1) + i)
  for (const seed of seeds) {
    try {
      await scenario(seed)
    } catch (error) {
      ;(options.log ?? console.log)(`simulation failed: seed=${seed} (replay with T3FS_SEED=${seed}): ${error instanceof Error ? error.message : String(error)}`)
      return { seed, error }
    }
  }
  return null
}
