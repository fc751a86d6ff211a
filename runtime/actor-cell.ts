import type {
  ActorContext,
  AnyActorDefinition,
  DeferredReply,
  Message,
  Signal,
  StopReason,
} from './actor.ts'
import { formatAddress, type ActorAddress } from './address.ts'
import { ActorRefImpl } from './actor-ref.ts'
import { Mailbox } from './mailbox.ts'
import type { TimerHandle } from './clock.ts'
import { T3fsError, toT3fsError } from './errors.ts'
import type { ReplyTarget } from './mail.ts'
import type { ActorRef } from './actor.ts'
import { actorFailed, actorStopped, invalidMessage, mailboxFull } from './runtime-errors.ts'
import { restartDelayMs, type ResolvedPolicy } from './supervision.ts'
import type { ActorSystem } from './actor-system.ts'

type Status = 'starting' | 'running' | 'suspended' | 'stopped'

/** Messages one cell handles before the dispatcher moves on to the next cell (fairness). */
const throughputPerTurn = 64

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/**
 * The runtime's side of one actor: its mailbox, state, lifecycle, supervision and watchers.
 * Exactly one message (or signal) is handled at a time; an async handler holds the mailbox until it
 * settles.
 */
export class ActorCell {
  readonly ref: ActorRefImpl
  readonly mailbox: Mailbox
  readonly children = new Set<ActorCell>()
  /** Watchers by formatted address. */
  readonly watchers = new Map<string, ActorAddress>()
  readonly ctx: ActorContext<Message>
  scheduled = false
  status: Status = 'starting'
  private busy = false
  private state: unknown = undefined
  /** Reply target and sender of the message being handled (null between messages and for signals). */
  private currentReplyTo: ReplyTarget | null = null
  private currentSender: ActorRef<Message> | null = null
  private replied = true
  private readonly signals: Signal[] = []
  private readonly timers = new Set<TimerHandle>()
  private readonly restartTimes: number[] = []
  private spaceWaiters: (() => void)[] = []
  private stopRequested: StopReason | null = null
  handledCount = 0

  constructor(
    readonly system: ActorSystem,
    readonly address: ActorAddress,
    readonly definition: AnyActorDefinition,
    private readonly args: unknown,
    readonly parent: ActorCell | null,
    readonly policy: ResolvedPolicy,
    mailboxMax: number,
    readonly name: string | null,
  ) {
    this.ref = new ActorRefImpl(address, system)
    this.mailbox = new Mailbox(mailboxMax)
    this.ctx = this.createContext()
  }

  get kind(): string {
    return this.definition.kind
  }

  get hasWork(): boolean {
    if (this.busy || this.status === 'suspended' || this.status === 'stopped') return false
    if (this.status === 'starting') return false
    return this.signals.length > 0 || this.mailbox.length > 0
  }

  /** Validates and queues a message; throws the coded error the sender should see. */
  enqueue(message: Message, replyTo: ReplyTarget | null, sender: ActorRef<Message> | null): void {
    if (this.status === 'stopped') throw actorStopped(this.address)
    const reason = this.validate(message)
    if (reason !== null) throw invalidMessage(this.kind, message, reason)
    if (!this.mailbox.push(message, replyTo, sender)) throw mailboxFull(this.address, this.kind, this.mailbox.capacity)
    this.system.schedule(this)
  }

  /** Resolves when the mailbox has room (or the actor stopped, after which a send fails). */
  whenWritable(): Promise<void> {
    if (!this.mailbox.full || this.status === 'stopped') return Promise.resolve()
    return new Promise((resolve) => this.spaceWaiters.push(resolve))
  }

  deliverSignal(signal: Signal): void {
    if (this.status === 'stopped') return
    this.signals.push(signal)
    this.system.schedule(this)
  }

  start(): void {
    this.status = 'starting'
    let result: unknown
    try {
      result = this.definition.init(this.ctx, this.args)
    } catch (error) {
      this.onFailure(error)
      return
    }
    if (isPromise(result)) {
      this.busy = true
      result.then(
        (state) => {
          this.busy = false
          this.becomeRunning(state)
        },
        (error: unknown) => {
          this.busy = false
          this.onFailure(error)
        },
      )
    } else {
      this.becomeRunning(result)
    }
  }

  /** Handles up to `throughputPerTurn` items; returns whether more work is ready right now. */
  run(): boolean {
    let budget = throughputPerTurn
    while (budget-- > 0 && this.hasWork) {
      const signal = this.signals.shift()
      if (signal !== undefined) {
        this.invokeSignal(signal)
        continue
      }
      const message = this.mailbox.shift()!
      if (this.spaceWaiters.length > 0) this.spaceWaiters.shift()!()
      this.invokeHandle(message, this.mailbox.replyTo, this.mailbox.sender)
    }
    return this.hasWork
  }

  /** Stops after the current message; stops at once when idle. */
  requestStop(reason: StopReason): void {
    if (this.status === 'stopped') return
    if (this.busy) {
      this.stopRequested ??= reason
      return
    }
    this.stopNow(reason)
  }

  private validate(message: unknown): string | null {
    if (typeof message !== 'object' || message === null) return 'a message must be an object with a string `type`'
    if (typeof (message as { type?: unknown }).type !== 'string') return 'a message must have a string `type`'
    const check = this.definition.validate
    return check === undefined ? null : check(message)
  }

  private becomeRunning(state: unknown): void {
    if (this.status === 'stopped') return
    this.state = state
    this.status = 'running'
    if (this.stopRequested !== null) {
      this.stopNow(this.stopRequested)
      return
    }
    this.system.schedule(this)
  }

  private invokeHandle(message: Message, replyTo: ReplyTarget | null, sender: ActorRef<Message> | null): void {
    this.currentReplyTo = replyTo
    this.currentSender = sender
    this.replied = replyTo === null
    this.handledCount++
    let result: unknown
    try {
      result = this.definition.handle(this.state, message, this.ctx)
    } catch (error) {
      this.onHandlerError(error)
      return
    }
    this.settle(result)
  }

  private invokeSignal(signal: Signal): void {
    const onSignal = this.definition.onSignal
    if (onSignal === undefined) return
    this.clearCurrent()
    this.replied = true
    let result: unknown
    try {
      result = onSignal(this.state, signal, this.ctx)
    } catch (error) {
      this.onHandlerError(error)
      return
    }
    this.settle(result)
  }

  private settle(result: unknown): void {
    if (!isPromise(result)) {
      this.afterHandle(result)
      return
    }
    this.busy = true
    result.then(
      (value) => {
        this.busy = false
        this.afterHandle(value)
        this.system.schedule(this)
      },
      (error: unknown) => {
        this.busy = false
        this.onHandlerError(error)
        this.system.schedule(this)
      },
    )
  }

  private afterHandle(value: unknown): void {
    if (value !== undefined) this.state = value
    // An ask whose handler neither replied nor deferred completes with `undefined`.
    if (!this.replied) this.replyCurrent(true, undefined)
    this.clearCurrent()
    if (this.stopRequested !== null) this.stopNow(this.stopRequested)
  }

  private clearCurrent(): void {
    this.currentReplyTo = null
    this.currentSender = null
  }

  private onHandlerError(error: unknown): void {
    if (error instanceof T3fsError) {
      // An operating error is the answer to this message, not a crash of the actor.
      if (!this.replied) this.replyCurrent(false, error)
      else this.system.log.warn({ evt: 'ActorOperatingError', actor: this.kind, code: error.code }, error.message)
      this.clearCurrent()
      if (this.stopRequested !== null) this.stopNow(this.stopRequested)
      return
    }
    if (!this.replied) this.replyCurrent(false, actorFailed(this.address, this.kind, error))
    this.clearCurrent()
    this.onFailure(error)
  }

  /** A programmer error (or failed init): apply the declared supervision policy. */
  onFailure(error: unknown): void {
    if (this.status === 'stopped') return
    const failed: StopReason = { kind: 'failed', error: toT3fsError(error, 'ERR_ACTOR_FAILED').toWire() }
    this.system.log.error({ evt: 'ActorFailed', actor: this.kind, address: formatAddress(this.address), err: String(error) })
    if (this.stopRequested !== null) {
      this.stopNow(this.stopRequested)
      return
    }
    switch (this.policy.strategy) {
      case 'stop':
        this.stopNow(failed)
        return
      case 'escalate':
        if (this.parent !== null) this.parent.onFailure(error)
        else this.stopNow(failed)
        return
      case 'restart': {
        const now = this.system.clock.now()
        while (this.restartTimes.length > 0 && now - this.restartTimes[0] > this.policy.withinMs) this.restartTimes.shift()
        if (this.restartTimes.length >= this.policy.maxRestarts) {
          this.stopNow(failed)
          return
        }
        this.restartTimes.push(now)
        this.status = 'suspended'
        this.cancelTimers()
        for (const child of [...this.children]) child.requestStop({ kind: 'stopped' })
        const delayMs = restartDelayMs(this.policy, this.restartTimes.length - 1, this.system.random)
        this.system.clock.setTimer(delayMs, () => {
          if (this.status === 'suspended') this.start()
        })
      }
    }
  }

  private stopNow(reason: StopReason): void {
    if (this.status === 'stopped') return
    const wasRunning = this.status === 'running'
    this.status = 'stopped'
    this.stopRequested = null
    this.cancelTimers()
    for (const child of [...this.children]) child.requestStop({ kind: 'stopped' })
    if (wasRunning && this.definition.onStop !== undefined) {
      try {
        const result = this.definition.onStop(this.state, this.ctx)
        if (isPromise(result)) result.catch((error: unknown) => this.logStopError(error))
      } catch (error) {
        this.logStopError(error)
      }
    }
    const stoppedError = actorStopped(this.address)
    for (const target of this.mailbox.drainReplyTargets()) this.system.completeReply(target, false, stoppedError)
    for (const resolve of this.spaceWaiters) resolve()
    this.spaceWaiters = []
    this.parent?.children.delete(this)
    this.system.removeCell(this, reason)
  }

  private logStopError(error: unknown): void {
    this.system.log.error({ evt: 'ActorStopHookFailed', actor: this.kind, err: String(error) })
  }

  private cancelTimers(): void {
    for (const timer of this.timers) timer.cancel()
    this.timers.clear()
  }

  private replyCurrent(ok: boolean, value: unknown): void {
    const target = this.currentReplyTo
    this.replied = true
    if (target) this.system.completeReply(target, ok, value)
  }

  private createContext(): ActorContext<Message> {
    const cell = this
    const system = this.system
    return {
      self: this.ref,
      clock: system.clock,
      random: system.random,
      log: system.log.child({ actor: this.definition.kind }),
      buffers: system.bufferPool,
      get sender() {
        return cell.currentSender
      },
      reply(value) {
        if (!cell.replied) cell.replyCurrent(true, value)
      },
      fail(error) {
        if (!cell.replied) cell.replyCurrent(false, toT3fsError(error))
      },
      deferReply(): DeferredReply {
        const target = cell.currentReplyTo
        cell.replied = true
        let done = target === null
        return {
          resolve(value) {
            if (done) return
            done = true
            system.completeReply(target!, true, value)
          },
          reject(error) {
            if (done) return
            done = true
            system.completeReply(target!, false, toT3fsError(error))
          },
        }
      },
      tell(to, message) {
        system.tellFrom(to.address, message, cell.ref)
      },
      ask(to, message, options) {
        return system.askFrom(to.address, message, cell.ref, options) as never
      },
      spawn(definition, args, options) {
        return system.spawnCell(definition, args, options ?? {}, cell).ref as never
      },
      stop(ref) {
        if (ref === undefined) {
          cell.requestStop({ kind: 'stopped' })
          return
        }
        const child = [...cell.children].find((c) => c.ref.equals(ref))
        if (child === undefined) throw new T3fsError('ERR_NOT_A_CHILD', `${String(ref)} is not a child of ${cell.kind}`)
        child.requestStop({ kind: 'stopped' })
      },
      watch(ref) {
        system.watch(cell.address, ref.address)
      },
      unwatch(ref) {
        system.unwatch(cell.address, ref.address)
      },
      schedule(delayMs, message) {
        const handle = system.clock.setTimer(delayMs, () => {
          cell.timers.delete(handle)
          if (cell.status === 'stopped') return
          try {
            cell.enqueue(message, null, null)
          } catch (error) {
            system.log.warn({ evt: 'TimerMessageDropped', actor: cell.kind, code: toT3fsError(error).code })
          }
        })
        cell.timers.add(handle)
        return {
          cancel() {
            handle.cancel()
            cell.timers.delete(handle)
          },
        }
      },
    }
  }
}
