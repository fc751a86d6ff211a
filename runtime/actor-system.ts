import type { ActorRef, AnyActorDefinition, AskOptions, Message, SpawnOptions, StopReason } from './actor.ts'
import { mailboxMaxDefault, mailboxMaxLimit } from './actor.ts'
import { anyIncarnation, formatAddress, parseAddress, type ActorAddress } from './address.ts'
import { ActorCell } from './actor-cell.ts'
import { ActorRefImpl, type RefRouter } from './actor-ref.ts'
import { systemClock, type Clock, type TimerHandle } from './clock.ts'
import { fromWire, invalidOption, T3fsError, toT3fsError, type WireError } from './errors.ts'
import { createLogger, type Logger } from './logger.ts'
import { PendingAsks } from './pending-asks.ts'
import type { MailItem, ReplyTarget } from './mail.ts'
import { systemRandom, type Random } from './random.ts'
import { askTimeout, hostDied, nodeDown, staleIncarnation, systemStopped, unknownAddress } from './runtime-errors.ts'
import { resolvePolicy } from './supervision.ts'
import type { BufferPool, SlotHolder } from './buffer-pool.ts'
import type { Disk } from './disk/disk.ts'
import { neverBuggify, type Buggify } from './buggify.ts'
import { forEachPooled } from './pooled-scan.ts'
import { MetricsRegistry } from './metrics/registry.ts'
import { registerSystemCollectors } from './metrics/system-collectors.ts'
import { meteredDisk } from './metrics/metered-disk.ts'

/** How the dispatcher gets run: a microtask in production, the simulator's own loop under test. */
export interface Executor {
  schedule(task: () => void): void
}

export const microtaskExecutor: Executor = { schedule: (task) => queueMicrotask(task) }

/** Messages to other hosts of this node or other nodes: implemented by the host mesh and transports. */
export interface RemoteRoute {
  deliver(to: ActorAddress, item: MailItem): void
  whenWritable(to: ActorAddress): Promise<void>
  reply(target: ReplyTarget, ok: boolean, value: unknown): void
  /** `incarnation`: of the node the control concerns (0 = any), refused there when stale. */
  control(node: number, host: number, incarnation: number, control: ControlMessage): void
}

/** Runtime-internal traffic between hosts (death watch and delivery failures). */
export type ControlMessage =
  | { readonly op: 'watch'; readonly target: number; readonly watcher: ActorAddress }
  | { readonly op: 'unwatch'; readonly target: number; readonly watcher: ActorAddress }
  | { readonly op: 'terminated'; readonly watcher: number; readonly ref: ActorAddress; readonly reason: StopReason }
  | { readonly op: 'undelivered'; readonly sender: number; readonly to: ActorAddress; readonly message: unknown; readonly error: WireError }
  | { readonly op: 'node-down'; readonly node: number; readonly reason: string }

export interface ActorSystemOptions {
  node?: number
  host?: number
  /** This node's incarnation (see address.ts); every host of a node shares it. Default 1. */
  incarnation?: number
  clock?: Clock
  random?: Random
  log?: Logger
  executor?: Executor
  /** Default ask timeout. */
  askTimeoutMs?: number
  /** The node's shared buffer pool, when it has one (see buffer-pool.ts). */
  bufferPool?: BufferPool | null
  /** This host's disk, handed to actors as ctx.disk (see disk/disk.ts). */
  disk?: Disk | null
  /** Fault sites (the simulator's); production never fires them. */
  buggify?: Buggify
  /** Host 0 of this node runs the regions actor (one-sided transfers: see regions-actor.ts). */
  servesRegions?: boolean
  /** This host's metrics (ctx.metrics and the runtime's own); default: a registry of its own. */
  metrics?: MetricsRegistry
}

interface PendingAsk {
  readonly corr: number
  resolve(value: unknown): void
  reject(error: unknown): void
  timer: TimerHandle
  to: ActorAddress
  /** Who holds pool buffers that come back in the reply: the asking actor's epoch, or this host. */
  holder: SlotHolder | null
}

/** Dispatcher turns run at most this many cells before yielding to I/O. */
const cellsPerTurn = 256

/**
 * All actors of one thread: addressing, mailboxes, the dispatcher, asks and death watch. Messages
 * to actors elsewhere go through the RemoteRoute (host mesh inside a process, transports between
 * processes).
 */
export class ActorSystem implements RefRouter {
  readonly node: number
  readonly host: number
  readonly incarnation: number
  readonly clock: Clock
  readonly random: Random
  readonly log: Logger
  readonly askTimeoutMs: number
  readonly bufferPool: BufferPool | null
  readonly disk: Disk | null
  readonly buggify: Buggify
  readonly servesRegions: boolean
  /** This host's metrics registry: what ctx.metrics registers into (see metrics/registry.ts). */
  readonly metrics: MetricsRegistry
  /** The disk as actors get it: `disk` with every operation counted in `metrics`. */
  readonly meteredDisk: Disk | null
  /** Messages handled by stopped actors, per kind (metrics/system-collectors.ts). */
  readonly retiredHandled = new Map<string, number>()
  private readonly executor: Executor
  private readonly cells = new Map<number, ActorCell>()
  private readonly names = new Map<string, ActorCell>()
  private readonly pending = new PendingAsks<PendingAsk>()
  /** Watchers on other hosts of actors that are not local: address key → watcher ids here. */
  private readonly remoteWatches = new Map<string, Set<number>>()
  private runQueue: ActorCell[] = []
  private drainScheduled = false
  private nextId = 1
  private nextCorr = 1
  private remote: RemoteRoute | null = null
  private stopped = false

  static create(options: ActorSystemOptions = {}): ActorSystem {
    return new ActorSystem(options)
  }

  constructor(options: ActorSystemOptions = {}) {
    this.node = options.node ?? 0
    this.host = options.host ?? 0
    this.incarnation = options.incarnation ?? 1
    if (!Number.isInteger(this.incarnation) || this.incarnation < 1 || this.incarnation > 0xffff_ffff) {
      throw invalidOption('incarnation', this.incarnation, 'an integer from 1 to 4294967295')
    }
    this.clock = options.clock ?? systemClock
    this.random = options.random ?? systemRandom
    this.log = options.log ?? createLogger()
    this.executor = options.executor ?? microtaskExecutor
    this.askTimeoutMs = options.askTimeoutMs ?? 5_000
    this.bufferPool = options.bufferPool ?? null
    this.disk = options.disk ?? null
    this.buggify = options.buggify ?? neverBuggify
    this.servesRegions = options.servesRegions ?? false
    checkTimeout('askTimeoutMs', this.askTimeoutMs)
    this.metrics = options.metrics ?? new MetricsRegistry()
    this.meteredDisk = this.disk === null ? null : meteredDisk(this.disk, this.metrics)
    registerSystemCollectors(this.metrics, this)
  }

  setRemote(route: RemoteRoute): void {
    this.remote = route
  }

  // ---- spawning and stopping -------------------------------------------------------------

  spawn<S, M extends Message, A>(
    definition: import('./actor.ts').ActorDefinition<S, M, A>,
    args: A,
    options: SpawnOptions = {},
  ): ActorRef<M> {
    return this.spawnCell(definition, args, options, null).ref as unknown as ActorRef<M>
  }

  spawnCell(definition: AnyActorDefinition, args: unknown, options: SpawnOptions, parent: ActorCell | null): ActorCell {
    if (this.stopped) throw systemStopped()
    if (typeof definition?.handle !== 'function' || typeof definition.init !== 'function' || typeof definition.kind !== 'string') {
      throw invalidOption('definition', definition, 'an actor definition from defineActor({ kind, init, handle })')
    }
    const mailboxMax = options.mailboxMax ?? definition.mailboxMax ?? mailboxMaxDefault
    if (!Number.isInteger(mailboxMax) || mailboxMax < 1 || mailboxMax > mailboxMaxLimit) {
      throw invalidOption('mailboxMax', mailboxMax, `an integer from 1 to ${mailboxMaxLimit}`)
    }
    const name = options.name ?? null
    if (name !== null && this.names.has(name)) {
      throw new T3fsError('ERR_NAME_TAKEN', `an actor named ${JSON.stringify(name)} already runs on this host`, { name })
    }
    const policy = resolvePolicy(options.supervision ?? definition.supervision)
    const address: ActorAddress = { node: this.node, host: this.host, id: this.nextId++, incarnation: this.incarnation }
    const cell = new ActorCell(this, address, definition, args, parent, policy, mailboxMax, name)
    this.cells.set(address.id, cell)
    if (name !== null) this.names.set(name, cell)
    parent?.children.add(cell)
    cell.start()
    return cell
  }

  stop(ref: ActorRef<Message>): void {
    const cell = this.localCell(ref.address)
    if (cell === undefined) throw unknownAddress(ref.address)
    cell.requestStop({ kind: 'stopped' })
  }

  lookup<M extends Message = Message>(name: string): ActorRef<M> | undefined {
    return this.names.get(name)?.ref as ActorRef<M> | undefined
  }

  /** The named actors of this host, as a registry serves them. */
  readonly nameTable = {
    get: (name: string): ActorAddress | undefined => this.names.get(name)?.address,
    keys: (): Iterable<string> => this.names.keys(),
  }

  /** A ref to an address, local or not (e.g. one learned from a peer). */
  refFor<M extends Message = Message>(address: ActorAddress): ActorRef<M> {
    return new ActorRefImpl<M>(address, this)
  }

  isLocal(address: ActorAddress): boolean {
    return address.host === this.host && address.node === this.node
  }

  /** An address of this node from an earlier incarnation (its id may now belong to another actor). */
  isStale(address: ActorAddress): boolean {
    return address.node === this.node && address.incarnation !== this.incarnation && address.incarnation !== anyIncarnation
  }

  // ---- sending -----------------------------------------------------------------------------

  tellFrom(to: ActorAddress, message: Message, sender: ActorRef<Message> | null): void {
    if (this.isLocal(to) && !this.stopped) {
      if (this.isStale(to)) throw staleIncarnation(to, this.incarnation)
      const cell = this.cells.get(to.id)
      if (cell === undefined) throw unknownAddress(to)
      cell.enqueue(message, null, sender)
      return
    }
    this.deliver(to, { message, replyTo: null, sender })
  }

  /** Records who holds the pool buffers inside `value` now that it changed hands. */
  handBuffers(value: unknown, holder: SlotHolder): void {
    if (this.bufferPool?.active === true) forEachPooled(value, (buffer) => buffer.handTo(holder))
  }

  /** Releases the pool buffers inside a value nobody will receive. */
  freeBuffers(value: unknown): void {
    if (this.bufferPool !== null) forEachPooled(value, (buffer) => buffer.release())
  }

  /** The holder of buffers an ask's reply brings: the asking actor's live epoch, or this host. */
  private askHolder(sender: ActorRef<Message> | null): SlotHolder | null {
    if (this.bufferPool === null) return null
    const epoch = sender === null ? undefined : this.cells.get(sender.address.id)?.liveEpoch
    return sender !== null && this.isLocal(sender.address) && epoch !== undefined
      ? { host: this.host, actor: sender.address.id, epoch }
      : { host: this.host, actor: 0, epoch: 0 }
  }

  async sendFrom(to: ActorAddress, message: Message, sender: ActorRef<Message> | null): Promise<void> {
    for (;;) {
      try {
        this.deliver(to, { message, replyTo: null, sender })
        return
      } catch (error) {
        if (!(error instanceof T3fsError) || error.code !== 'ERR_MAILBOX_FULL') throw error
        await this.whenWritable(to)
      }
    }
  }

  askFrom(to: ActorAddress, message: Message, sender: ActorRef<Message> | null, options: AskOptions | undefined): Promise<unknown> {
    const timeoutMs = options?.timeoutMs ?? this.askTimeoutMs
    checkTimeout('timeoutMs', timeoutMs)
    const corr = this.nextCorr++
    return new Promise((resolve, reject) => {
      const type = typeof message?.type === 'string' ? message.type : '?'
      const timer = this.clock.setTimer(timeoutMs, () => {
        if (this.pending.take(corr) !== undefined) reject(askTimeout(to, timeoutMs, type))
      })
      this.pending.add({ corr, resolve, reject, timer, to, holder: this.askHolder(sender) })
      try {
        this.deliver(to, { message, replyTo: { node: this.node, host: this.host, corr, incarnation: this.incarnation }, sender })
      } catch (error) {
        timer.cancel()
        this.pending.take(corr)
        reject(error)
      }
    })
  }

  /** Routes one mail item; throws the coded error the sender should see. */
  deliver(to: ActorAddress, item: MailItem): void {
    if (this.stopped) throw systemStopped()
    if (this.isStale(to)) throw staleIncarnation(to, this.incarnation)
    if (this.isLocal(to)) {
      const cell = this.cells.get(to.id)
      if (cell === undefined) throw unknownAddress(to)
      cell.enqueue(item.message, item.replyTo, item.sender)
      return
    }
    if (this.remote === null) throw unknownAddress(to)
    this.remote.deliver(to, item)
    // Encoded but not yet published (that happens at the end of the turn): the slots are the
    // receiver's from now on, queued for it (another node's route holds them until written).
    this.handBuffers(item.message, to.node === this.node ? { host: to.host, actor: to.id, epoch: 0 } : { host: 0, actor: 0, epoch: 0 })
  }

  private whenWritable(to: ActorAddress): Promise<void> {
    if (this.isLocal(to)) {
      const cell = this.cells.get(to.id)
      if (cell === undefined) throw unknownAddress(to)
      return cell.whenWritable()
    }
    if (this.remote === null) throw unknownAddress(to)
    return this.remote.whenWritable(to)
  }

  /** Completes an ask: locally, or by sending the reply to the asking host. */
  completeReply(target: ReplyTarget, ok: boolean, value: unknown): void {
    if (target.host === this.host && target.node === this.node) {
      // An ask of an earlier incarnation of this node: its asker is gone, the corr may be reused.
      if (target.incarnation === this.incarnation) this.settleAsk(target.corr, ok, value)
      return
    }
    try {
      this.remote?.reply(target, ok, ok ? value : toT3fsError(value).toWire())
      if (ok) this.handBuffers(value, { host: target.node === this.node ? target.host : 0, actor: 0, epoch: 0 })
    } catch (error) {
      // The asking host is gone; its ask already failed there.
      this.log.debug({ evt: 'ReplyUndeliverable', code: toT3fsError(error).code })
    }
  }

  settleAsk(corr: number, ok: boolean, value: unknown): void {
    const pending = this.pending.take(corr)
    if (pending === undefined) return // late reply after a timeout
    pending.timer.cancel()
    if (ok && pending.holder !== null) this.handBuffers(value, pending.holder)
    if (ok) pending.resolve(value)
    else pending.reject(value instanceof Error ? value : fromWire(value as WireError))
  }

  // ---- inbound from other hosts -------------------------------------------------------------

  /**
   * An item that crossed from another host. Returns a promise when the target's mailbox is full
   * (the caller keeps the item and retries once it resolves: backpressure reaches the link);
   * other failures go back to whoever waits for them.
   */
  receiveRemote(id: number, message: Message, replyTo: ReplyTarget | null, sender: ActorRef<Message> | null): Promise<void> | null {
    try {
      if (this.stopped) throw systemStopped()
      const cell = this.cells.get(id)
      if (cell === undefined) throw unknownAddress(this.addressOf(id))
      if (cell.mailbox.full && cell.status !== 'stopped') return cell.whenWritable()
      cell.enqueue(message, replyTo, sender)
    } catch (error) {
      this.reportUndeliverable(this.addressOf(id), { message, replyTo, sender }, error)
    }
    return null
  }

  /** An item from the network for any host of this node; a failure (a full mailbox too) goes back. */
  deliverOrReport(to: ActorAddress, item: MailItem): void {
    try {
      this.deliver(to, item)
    } catch (error) {
      this.reportUndeliverable(to, item, error)
    }
  }

  /** Tells whoever waits on an item that it could not be delivered: the asker, or the sending actor. */
  reportUndeliverable(to: ActorAddress, item: MailItem, error: unknown): void {
    const wire = toT3fsError(error)
    if (item.replyTo !== null) {
      this.freeBuffers(item.message) // the asker gets only the error
      this.completeReply(item.replyTo, false, wire)
      return
    }
    const sender = item.sender?.address
    if (sender !== undefined && !this.isLocal(sender)) {
      try {
        this.remote?.control(sender.node, sender.host, sender.incarnation, { op: 'undelivered', sender: sender.id, to, message: item.message, error: wire.toWire() })
        this.handBuffers(item.message, { host: sender.node === this.node ? sender.host : 0, actor: sender.id, epoch: 0 })
        return
      } catch {
        // the sender's host is gone too
      }
    } else if (sender !== undefined) {
      const cell = this.cells.get(sender.id)
      if (cell !== undefined) {
        // The message (and its buffers) goes back to its sender.
        this.handBuffers(item.message, { host: this.host, actor: sender.id, epoch: 0 })
        cell.deliverSignal({ type: 'undelivered', to: this.refFor(to), message: item.message, error: wire.toWire() })
        return
      }
    }
    this.freeBuffers(item.message)
    this.log.warn({ evt: 'MessageDropped', code: wire.code, to: formatAddress(to) }, wire.message)
  }

  receiveControl(control: ControlMessage): void {
    switch (control.op) {
      case 'watch': {
        const cell = this.cells.get(control.target)
        if (cell === undefined) {
          const ref = this.addressOf(control.target)
          this.remote?.control(control.watcher.node, control.watcher.host, control.watcher.incarnation, { op: 'terminated', watcher: control.watcher.id, ref, reason: { kind: 'unknown' } })
        } else {
          cell.watchers.set(formatAddress(control.watcher), control.watcher)
        }
        return
      }
      case 'unwatch':
        this.cells.get(control.target)?.watchers.delete(formatAddress(control.watcher))
        return
      case 'terminated':
        this.remoteWatches.get(formatAddress(control.ref))?.delete(control.watcher)
        this.cells.get(control.watcher)?.deliverSignal({ type: 'terminated', ref: this.refFor(control.ref), reason: control.reason })
        return
      case 'undelivered':
        this.cells.get(control.sender)?.deliverSignal({
          type: 'undelivered', to: this.refFor(control.to), message: control.message, error: control.error,
        })
        return
      case 'node-down':
        this.hostDown(control.node, null, control.reason)
        return
    }
  }

  /** A host (or a whole node when `host` is null) is gone: fail what waits on it, tell watchers. */
  hostDown(node: number, host: number | null, reason: string): void {
    const error = host === null ? nodeDown(node, reason) : hostDied(node, host, reason)
    for (const pending of this.pending.takeWhere((p) => p.to.node === node && (host === null || p.to.host === host))) {
      pending.timer.cancel()
      pending.reject(error)
    }
    for (const [key, watchers] of this.remoteWatches) {
      const address = parseAddressKey(key)
      if (address.node !== node || (host !== null && address.host !== host)) continue
      this.remoteWatches.delete(key)
      for (const watcher of watchers) {
        this.cells.get(watcher)?.deliverSignal({
          type: 'terminated', ref: this.refFor(address), reason: { kind: 'host-died', error: error.toWire() },
        })
      }
    }
  }

  // ---- death watch ----------------------------------------------------------------------------

  watch(watcher: ActorAddress, target: ActorAddress): void {
    if (this.isLocal(target)) {
      const cell = this.isStale(target) ? undefined : this.cells.get(target.id)
      if (cell === undefined) {
        this.cells.get(watcher.id)?.deliverSignal({ type: 'terminated', ref: this.refFor(target), reason: { kind: 'unknown' } })
        return
      }
      cell.watchers.set(formatAddress(watcher), watcher)
      return
    }
    const key = formatAddress(target)
    let watchers = this.remoteWatches.get(key)
    if (watchers === undefined) this.remoteWatches.set(key, (watchers = new Set()))
    watchers.add(watcher.id)
    try {
      if (this.remote === null) throw unknownAddress(target)
      this.remote.control(target.node, target.host, target.incarnation, { op: 'watch', target: target.id, watcher })
    } catch (error) {
      watchers.delete(watcher.id)
      const wire = toT3fsError(error).toWire()
      this.cells.get(watcher.id)?.deliverSignal({ type: 'terminated', ref: this.refFor(target), reason: { kind: 'host-died', error: wire } })
    }
  }

  unwatch(watcher: ActorAddress, target: ActorAddress): void {
    if (this.isLocal(target)) {
      if (!this.isStale(target)) this.cells.get(target.id)?.watchers.delete(formatAddress(watcher))
      return
    }
    this.remoteWatches.get(formatAddress(target))?.delete(watcher.id)
    try {
      this.remote?.control(target.node, target.host, target.incarnation, { op: 'unwatch', target: target.id, watcher })
    } catch {
      // The target's host is gone: nothing left to unwatch.
    }
  }

  /** Stop hooks (onStop) still running: an actor is gone from `cells` before its hook settles. */
  private readonly stopHooks = new Set<Promise<unknown>>()

  /** Called by a cell whose onStop returned a promise; `quiesced` waits for it. */
  trackStopHook(hook: Promise<unknown>): void {
    const tracked = hook.then(() => {}, () => {}).finally(() => this.stopHooks.delete(tracked))
    this.stopHooks.add(tracked)
  }

  /**
   * After shutdown(): resolves once every actor is gone and every stop hook has settled, or at
   * `deadlineMs` (this system's clock). A host is ended only after it (worker-host-main.ts,
   * node-runtime.ts): a hook closing a KV may still have a write in flight, and LMDB aborts the
   * whole process when its pending write meets a terminating thread.
   */
  async quiesced(deadlineMs: number): Promise<void> {
    while ((this.cells.size > 0 || this.stopHooks.size > 0) && this.clock.now() < deadlineMs) {
      await new Promise((resolve) => this.clock.setTimer(5, () => resolve(null)))
    }
  }

  /** Called by a cell once it stopped: forget it and tell its watchers. */
  removeCell(cell: ActorCell, reason: StopReason): void {
    this.cells.delete(cell.address.id)
    this.retiredHandled.set(cell.kind, (this.retiredHandled.get(cell.kind) ?? 0) + cell.handledCount)
    if (cell.name !== null && this.names.get(cell.name) === cell) this.names.delete(cell.name)
    for (const watcher of cell.watchers.values()) {
      if (this.isLocal(watcher)) {
        this.cells.get(watcher.id)?.deliverSignal({ type: 'terminated', ref: cell.ref, reason })
      } else {
        try {
          this.remote?.control(watcher.node, watcher.host, watcher.incarnation, { op: 'terminated', watcher: watcher.id, ref: cell.address, reason })
        } catch {
          // The watcher's host is gone too.
        }
      }
    }
    cell.watchers.clear()
  }

  // ---- dispatcher -------------------------------------------------------------------------------

  schedule(cell: ActorCell): void {
    if (cell.scheduled || !cell.hasWork) return
    cell.scheduled = true
    this.runQueue.push(cell)
    if (!this.drainScheduled) {
      this.drainScheduled = true
      this.executor.schedule(this.drain)
    }
  }

  /** Runs ready cells; yields to the event loop after `cellsPerTurn` so I/O is never starved. */
  readonly drain = (): void => {
    this.drainScheduled = false
    let turns = 0
    while (this.runQueue.length > 0) {
      if (turns++ >= cellsPerTurn) {
        this.drainScheduled = true
        setImmediate(this.drain)
        return
      }
      const queue = this.runQueue
      this.runQueue = []
      for (let i = 0; i < queue.length; i++) {
        const cell = queue[i]
        cell.scheduled = false
        if (cell.run()) {
          cell.scheduled = true
          this.runQueue.push(cell)
        }
      }
    }
  }

  /** True when no cell has work queued (the simulator's quiescence test). */
  get idle(): boolean {
    return this.runQueue.length === 0
  }

  // ---- observation and shutdown --------------------------------------------------------------

  stats(): { actors: number; pendingAsks: number; mailboxes: { address: string; kind: string; depth: number; handled: number }[] } {
    return {
      actors: this.cells.size,
      pendingAsks: this.pending.size,
      mailboxes: [...this.cells.values()].map((cell) => ({
        address: formatAddress(cell.address), kind: cell.kind, depth: cell.mailbox.length, handled: cell.handledCount,
      })),
    }
  }

  /** Each live actor's kind, mailbox depth and messages handled (for the metrics collectors). */
  forEachCell(visit: (kind: string, depth: number, handled: number) => void): void {
    for (const cell of this.cells.values()) visit(cell.kind, cell.mailbox.length, cell.handledCount)
  }

  pendingAsks(): number {
    return this.pending.size
  }

  localCell(address: ActorAddress): ActorCell | undefined {
    return this.isLocal(address) && !this.isStale(address) ? this.cells.get(address.id) : undefined
  }

  /** The address of actor `id` on this host. */
  addressOf(id: number): ActorAddress {
    return { node: this.node, host: this.host, id, incarnation: this.incarnation }
  }

  /**
   * The node's process is gone (the simulator's node crash): every actor halts where it stands,
   * without stop hooks or watchers being told, and pending asks are forgotten, never settled.
   */
  halt(): void {
    if (this.stopped) return
    this.stopped = true
    for (const cell of this.cells.values()) cell.halt()
    this.cells.clear()
    this.names.clear()
    for (const pending of this.pending.takeWhere(() => true)) pending.timer.cancel()
    this.runQueue = []
  }

  /** Stops every actor (children with their parents) and fails every pending ask. */
  shutdown(): void {
    if (this.stopped) return
    for (const cell of [...this.cells.values()]) if (cell.parent === null) cell.requestStop({ kind: 'stopped' })
    this.stopped = true
    const error = systemStopped()
    for (const pending of this.pending.takeWhere(() => true)) {
      pending.timer.cancel()
      pending.reject(error)
    }
  }
}

function checkTimeout(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0 || value > 86_400_000) {
    throw invalidOption(name, value, 'a number of milliseconds from 1 to 86400000')
  }
}

function parseAddressKey(key: string): ActorAddress {
  const address = parseAddress(key)
  if (address === null) throw new Error(`not an address key: ${key}`)
  return address
}
