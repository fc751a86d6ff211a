import type { ActorContext, AnyActorDefinition, Message, Signal, StopReason } from './actor.ts'
import { formatAddress, type ActorAddress } from './address.ts'
import { ActorRefImpl } from './actor-ref.ts'
import { Mailbox } from './mailbox.ts'
import type { TimerHandle } from './clock.ts'
import { T3fsError, toT3fsError } from './errors.ts'
import type { ReplyTarget } from './mail.ts'
import type { ActorRef } from './actor.ts'
import { actorFailed, actorStopped, invalidMessage, mailboxFull } from './runtime-errors.ts'
import { ActorEpoch } from './actor-epoch.ts'
import { createActorContext } from './actor-context.ts'
import { forEachPooled } from './pooled-scan.ts'
import type { SlotHolder } from './buffer-pool.ts'
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
 * settles. Each life of the actor (from init to a crash or stop) is an epoch with its own context;
 * a crash fences the epoch (see actor-epoch.ts, actor-context.ts).
 */
export class ActorCell {
  readonly ref: ActorRefImpl
  readonly mailbox: Mailbox
  readonly children = new Set<ActorCell>()
  /** Watchers by formatted address. */
  readonly watchers = new Map<string, ActorAddress>()
  ctx: ActorContext<Message>
  private epoch: ActorEpoch
  private epochs = 0
  scheduled = false
  status: Status = 'starting'
  private busy = false
  private state: unknown = undefined
  /** Reply target and sender of the message being handled (null between messages and for signals). */
  private currentReplyTo: ReplyTarget | null = null
  currentSender: ActorRef<Message> | null = null
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
    this.epoch = new ActorEpoch(0)
    this.epoch.live = false
    this.ctx = createActorContext(this, this.epoch)
  }

  get kind(): string {
    return this.definition.kind
  }

  /** The number of the actor's current life, while it is live (undefined while restarting). */
  get liveEpoch(): number | undefined {
    return this.epoch.live ? this.epoch.number : undefined
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
    this.handBuffers(message, 0)
    this.system.schedule(this)
  }

  /** A message the runtime queues for the actor itself (piped work, timers): past the bound, unvalidated. */
  enqueueInternal(message: Message): void {
    if (this.status === 'stopped') return
    this.mailbox.pushOver(message)
    this.handBuffers(message, 0)
    this.system.schedule(this)
  }

  /** Records that the pool buffers in `message` are held by this actor (epoch 0: queued for it). */
  private handBuffers(message: unknown, epoch: number): void {
    if (this.system.bufferPool?.active !== true) return
    const holder: SlotHolder = { host: this.address.host, actor: this.address.id, epoch }
    forEachPooled(message, (buffer) => buffer.handTo(holder))
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
    this.epoch = new ActorEpoch(++this.epochs)
    this.ctx = createActorContext(this, this.epoch)
    const epoch = this.epoch
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
          if (epoch !== this.epoch) return
          this.busy = false
          this.becomeRunning(state)
        },
        (error: unknown) => {
          if (epoch !== this.epoch) return
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

  /**
   * The process died (a simulated node crash): nothing runs any more, no hook, no signal, no
   * reply. Its epoch is fenced so a handler still awaiting something can never act.
   */
  halt(): void {
    this.status = 'stopped'
    this.cancelTimers()
    this.epoch.live = false
    this.busy = false
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
    this.handBuffers(message, this.epoch.number)
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
    if (signal.type === 'undelivered') {
      // The undelivered message's buffers came back to this actor: its own now, or freed.
      if (onSignal === undefined) this.system.freeBuffers(signal.message)
      else this.handBuffers(signal.message, this.epoch.number)
    }
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
    const epoch = this.epoch
    result.then(
      (value) => {
        if (epoch !== this.epoch) return // the actor crashed meanwhile: this handler is fenced
        this.busy = false
        this.afterHandle(value)
        this.system.schedule(this)
      },
      (error: unknown) => {
        if (epoch !== this.epoch) return
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

  /** A programmer error (or failed init, or a simulated crash): apply the declared supervision policy. */
  onFailure(error: unknown): void {
    if (this.status === 'stopped') return
    const failed: StopReason = { kind: 'failed', error: toT3fsError(error, 'ERR_ACTOR_FAILED').toWire() }
    this.system.log.error({ evt: 'ActorFailed', actor: this.kind, address: formatAddress(this.address), err: String(error) })
    this.fenceEpoch(error)
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
        // After the backoff, and once the crashed life's disk and region operations have settled:
        // the next life must not reuse what the kernel (or a peer) may still be writing.
        const crashed = this.epoch
        this.system.clock.setTimer(delayMs, () => {
          void crashed.whenIoQuiet().then(() => {
            if (this.status === 'suspended' && this.epoch === crashed) this.start()
          })
        })
      }
    }
  }

  /**
   * Ends the current epoch after a crash: whatever waited on it is failed now, its handler (if one
   * is still running) is fenced, and its pool slots are reclaimed once its operations settle.
   */
  private fenceEpoch(error: unknown): void {
    const epoch = this.epoch
    if (!epoch.live) return
    const failure = actorFailed(this.address, this.kind, error)
    if (!this.replied) this.replyCurrent(false, failure)
    this.clearCurrent()
    for (const entry of epoch.deferred) entry.fail(failure)
    epoch.deferred.clear()
    this.busy = false
    const pool = this.system.bufferPool
    epoch.end(() => pool?.reclaim(this.address.host, this.address.id, epoch.number))
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
        if (isPromise(result)) this.system.trackStopHook(result.catch((error: unknown) => this.logStopError(error)))
      } catch (error) {
        this.logStopError(error)
      }
    }
    const stoppedError = actorStopped(this.address)
    for (const entry of this.epoch.deferred) entry.fail(stoppedError)
    this.epoch.deferred.clear()
    for (const target of this.mailbox.drainReplyTargets()) this.system.completeReply(target, false, stoppedError)
    // Every slot it held (any epoch, and those queued in its mailbox) comes back once its work settles.
    const pool = this.system.bufferPool
    const { host, id } = this.address
    if (this.epoch.live) this.epoch.end(() => pool?.reclaim(host, id))
    else pool?.reclaim(host, id, 0)
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

  /** Answers the message being handled, once (later calls are ignored, as a second reply is). */
  replyToCurrent(ok: boolean, value: unknown): void {
    if (!this.replied) this.replyCurrent(ok, value)
  }

  /** Takes the current ask's reply target out of the handler, to be finished later (deferReply). */
  takeCurrentReply(): ReplyTarget | null {
    const target = this.replied ? null : this.currentReplyTo
    this.replied = true
    return target
  }

  /** A timer that tells this actor `message`; cancelled when it stops or restarts. */
  scheduleSelf(delayMs: number, message: Message): TimerHandle {
    const handle = this.system.clock.setTimer(delayMs, () => {
      this.timers.delete(handle)
      if (this.status === 'stopped') return
      try {
        this.enqueue(message, null, null)
      } catch (error) {
        this.system.log.warn({ evt: 'TimerMessageDropped', actor: this.kind, code: toT3fsError(error).code })
      }
    })
    this.timers.add(handle)
    return {
      cancel: () => {
        handle.cancel()
        this.timers.delete(handle)
      },
    }
  }
}
