import type { ActorRef, Message } from '../actor.ts'
import type { ActorAddress } from '../address.ts'
import { ActorSystem, type ControlMessage, type RemoteRoute } from '../actor-system.ts'
import { invalidOption } from '../errors.ts'
import { silentLogger } from '../logger.ts'
import type { MailItem, ReplyTarget } from '../mail.ts'
import { SeededRandom } from '../random.ts'
import { unknownAddress } from '../runtime-errors.ts'
import { flushMicrotasks, VirtualClock } from './virtual-clock.ts'

/** What the simulated network and scheduler do to a run; all decisions come from the seed. */
export interface FaultPlan {
  /** Probability that a message (or reply, or control signal) is lost. */
  readonly dropRate?: number
  /** Probability that a message is delivered twice. */
  readonly duplicateRate?: number
  /** Each delivery waits a uniform delay in [minDelayMs, maxDelayMs]; different delays reorder. */
  readonly minDelayMs?: number
  readonly maxDelayMs?: number
  /** Mean virtual time between crashes of a random crashable actor; 0 = never. */
  readonly crashEveryMs?: number
}

interface ResolvedFaults {
  dropRate: number
  duplicateRate: number
  minDelayMs: number
  maxDelayMs: number
  crashEveryMs: number
}

export interface RunLimits {
  /** Stop once virtual time would pass this. */
  readonly untilMs?: number
  /** Stop after this many events (a runaway guard). Default 1,000,000. */
  readonly maxEvents?: number
  /** Stop as soon as this holds (checked after every event). */
  readonly until?: () => boolean
}

export interface SimNode {
  readonly id: number
  readonly name: string
  readonly system: ActorSystem
  /** Durable storage that survives actor crashes and restarts (the node's "disk"). */
  readonly disk: Map<string, unknown>
}

/**
 * A whole system of actors in one thread: every node is an ActorSystem on one virtual clock, every
 * message between nodes crosses a simulated network that delays, reorders, drops and duplicates it,
 * and chosen actors crash at random and restart under their supervision. All choices come from one
 * seed, so a failing seed replays the same run exactly.
 */
export class Simulation {
  readonly clock = new VirtualClock()
  readonly random: SeededRandom
  readonly nodes: SimNode[] = []
  readonly faults: ResolvedFaults
  /** Counts of what the network and scheduler did, for test output. */
  readonly counters = { sent: 0, dropped: 0, duplicated: 0, crashes: 0, events: 0 }
  private readonly crashable: ActorRef<Message>[] = []

  constructor(readonly seed: number, faults: FaultPlan = {}) {
    this.random = new SeededRandom(seed)
    this.faults = resolveFaults(faults)
    if (this.faults.crashEveryMs > 0) this.scheduleCrash()
  }

  addNode(name: string): SimNode {
    const id = this.nodes.length + 1
    const system = new ActorSystem({ node: id, host: 0, clock: this.clock, random: this.random.fork(), log: silentLogger })
    const node: SimNode = { id, name, system, disk: new Map() }
    system.setRemote(this.routeFrom(node))
    this.nodes.push(node)
    return node
  }

  /** Marks an actor as one the scheduler may crash at random. */
  allowCrashes(ref: ActorRef<Message>): void {
    this.crashable.push(ref)
  }

  /** Crashes an actor now, as a programmer error would: its supervisor decides what follows. */
  crash(ref: ActorRef<Message>): boolean {
    const cell = this.nodes[ref.address.node - 1]?.system.localCell(ref.address)
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

  /** Sends `deliver` across the network from one node to another, under the fault plan. */
  private transmit(deliver: () => void): void {
    this.counters.sent++
    if (this.random.next() < this.faults.dropRate) {
      this.counters.dropped++
      return
    }
    this.clock.setTimer(this.delayMs(), deliver)
    if (this.random.next() < this.faults.duplicateRate) {
      this.counters.duplicated++
      this.clock.setTimer(this.delayMs(), deliver)
    }
  }

  private delayMs(): number {
    const { minDelayMs, maxDelayMs } = this.faults
    return minDelayMs + this.random.next() * (maxDelayMs - minDelayMs)
  }

  private scheduleCrash(): void {
    // Exponential inter-arrival times make crashes a Poisson process over virtual time.
    const waitMs = -Math.log(1 - this.random.next()) * this.faults.crashEveryMs
    this.clock.setTimer(waitMs, () => {
      if (this.crashable.length > 0) this.crash(this.crashable[this.random.int(this.crashable.length)])
      this.scheduleCrash()
    })
  }

  private systemOf(node: number, address: ActorAddress | null): ActorSystem {
    const target = this.nodes[node - 1]
    if (target === undefined) throw unknownAddress(address ?? { node, host: 0, id: 0, incarnation: 0 })
    return target.system
  }

  private routeFrom(from: SimNode): RemoteRoute {
    void from
    const deliverMail = (to: ActorAddress, item: MailItem): void => {
      const target = this.systemOf(to.node, to)
      this.transmit(() => {
        const blocked = target.receiveRemote(to.id, item.message, item.replyTo, item.sender)
        // A full mailbox holds the message in the network until there is room (backpressure).
        if (blocked !== null) void blocked.then(() => deliverAgain(to, item))
      })
    }
    const deliverAgain = (to: ActorAddress, item: MailItem): void => {
      const blocked = this.systemOf(to.node, to).receiveRemote(to.id, item.message, item.replyTo, item.sender)
      if (blocked !== null) void blocked.then(() => deliverAgain(to, item))
    }
    return {
      deliver: deliverMail,
      whenWritable: () => Promise.resolve(),
      reply: (target: ReplyTarget, ok: boolean, value: unknown) => {
        const system = this.systemOf(target.node, null)
        this.transmit(() => system.settleAsk(target.corr, ok, value))
      },
      control: (node: number, _host: number, _incarnation: number, control: ControlMessage) => {
        const system = this.systemOf(node, null)
        this.transmit(() => system.receiveControl(control))
      },
    }
  }
}

function resolveFaults(faults: FaultPlan): ResolvedFaults {
  const resolved: ResolvedFaults = {
    dropRate: faults.dropRate ?? 0,
    duplicateRate: faults.duplicateRate ?? 0,
    minDelayMs: faults.minDelayMs ?? 1,
    maxDelayMs: faults.maxDelayMs ?? 10,
    crashEveryMs: faults.crashEveryMs ?? 0,
  }
  for (const key of ['dropRate', 'duplicateRate'] as const) {
    if (!(resolved[key] >= 0 && resolved[key] < 1)) throw invalidOption(key, resolved[key], 'a probability in [0, 1)')
  }
  if (!(resolved.minDelayMs >= 0 && resolved.maxDelayMs >= resolved.minDelayMs)) {
    throw invalidOption('maxDelayMs', resolved.maxDelayMs, `a delay >= minDelayMs (${resolved.minDelayMs})`)
  }
  if (!(resolved.crashEveryMs >= 0)) throw invalidOption('crashEveryMs', resolved.crashEveryMs, 'a non-negative number of ms')
  return resolved
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
