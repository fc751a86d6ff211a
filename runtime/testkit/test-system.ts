import { defineActor, type ActorRef, type Message } from '../actor.ts'
import { ActorSystem } from '../actor-system.ts'
import { T3fsError } from '../errors.ts'
import { silentLogger, type Logger } from '../logger.ts'
import { SeededRandom } from '../random.ts'
import { flushMicrotasks, VirtualClock } from './virtual-clock.ts'

export interface TestSystemOptions {
  seed?: number
  log?: Logger
}

/** Where a probe stands: what it received and not yet expected. */
interface ProbeState {
  readonly received: Message[]
}

/**
 * An actor system on virtual time for actor-level tests: probes stand in for other actors and
 * `expectMessage` / `expectNoMessage` advance time only as far as needed.
 */
export class TestSystem {
  readonly clock: VirtualClock
  readonly random: SeededRandom
  readonly system: ActorSystem

  constructor(options: TestSystemOptions = {}) {
    this.clock = new VirtualClock()
    this.random = new SeededRandom(options.seed ?? 1)
    this.system = new ActorSystem({ clock: this.clock, random: this.random, log: options.log ?? silentLogger })
  }

  spawn: ActorSystem['spawn'] = (definition, args, options) => this.system.spawn(definition, args, options)

  createProbe<M extends Message = Message>(name?: string): TestProbe<M> {
    return new TestProbe<M>(this, name)
  }

  /** Runs ready work and timers up to `ms` of virtual time from now. */
  async advance(ms: number): Promise<void> {
    const target = this.clock.now() + ms
    await flushMicrotasks()
    for (let next = this.clock.nextAtMs(); next !== null && next <= target; next = this.clock.nextAtMs()) {
      this.clock.fireNext()
      await flushMicrotasks()
    }
    this.clock.advanceTo(target)
  }

  shutdown(): void {
    this.system.shutdown()
  }
}

export class TestProbe<M extends Message = Message> {
  readonly ref: ActorRef<M>
  private readonly state: ProbeState = { received: [] }

  constructor(
    private readonly testSystem: TestSystem,
    name?: string,
  ) {
    const state = this.state
    const probe = defineActor<null, M, void>({
      kind: `probe${name === undefined ? '' : `:${name}`}`,
      mailboxMax: 65536,
      init: () => null,
      handle: (_s, message, ctx) => {
        state.received.push(message)
        ctx.reply(undefined)
      },
    })
    this.ref = testSystem.system.spawn(probe, undefined)
  }

  /**
   * Waits (in virtual time) up to `timeoutMs` for the next message and checks it against
   * `expected`: a predicate, or a value compared structurally.
   */
  async expectMessage(expected?: ((message: M) => boolean) | Partial<M>, timeoutMs = 3_000): Promise<M> {
    const deadline = this.testSystem.clock.now() + timeoutMs
    for (;;) {
      await flushMicrotasks()
      const message = this.state.received.shift() as M | undefined
      if (message !== undefined) {
        if (expected !== undefined && !matches(message, expected)) {
          throw new T3fsError('ERR_PROBE_MISMATCH', `probe got ${JSON.stringify(message)}, expected ${typeof expected === 'function' ? 'a message passing the predicate' : JSON.stringify(expected)}`)
        }
        return message
      }
      const next = this.testSystem.clock.nextAtMs()
      if (next === null || next > deadline) {
        this.testSystem.clock.advanceTo(deadline)
        throw new T3fsError('ERR_PROBE_TIMEOUT', `probe got no message within ${timeoutMs} ms of virtual time`)
      }
      this.testSystem.clock.fireNext()
    }
  }

  /** Passes `ms` of virtual time and fails if any message arrives meanwhile. */
  async expectNoMessage(ms = 100): Promise<void> {
    await this.testSystem.advance(ms)
    if (this.state.received.length > 0) {
      throw new T3fsError('ERR_PROBE_UNEXPECTED', `probe expected no message for ${ms} ms but got ${JSON.stringify(this.state.received[0])}`)
    }
  }

  get pending(): readonly M[] {
    return this.state.received as M[]
  }
}

function matches<M>(message: M, expected: ((message: M) => boolean) | Partial<M>): boolean {
  if (typeof expected === 'function') return expected(message)
  return Object.entries(expected).every(([key, value]) => JSON.stringify((message as Record<string, unknown>)[key]) === JSON.stringify(value))
}
