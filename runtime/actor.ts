/**
 * What an actor is: state, a handler, and declared policy (mailbox bound, supervision,
 * validation). Side effects go only through the context, so a test or the simulator can
 * intercept them.
 */
import type { ActorAddress } from './address.ts'
import type { Clock, TimerHandle } from './clock.ts'
import type { Random } from './random.ts'
import type { WireError } from './errors.ts'
import type { SupervisionPolicy } from './supervision.ts'
import type { Logger } from './logger.ts'
import type { ActorBuffers } from './actor-buffers.ts'
import type { Regions } from './actor-regions.ts'
import type { Disk } from './disk/disk.ts'
import type { T3fsError } from './errors.ts'
import type { Metrics } from './metrics/metrics.ts'

export interface Message {
  readonly type: string
}

/** Marks a message that expects a reply of type R: `{ type: 'get'; key: string } & Returns<number>`. */
export interface Returns<R> {
  readonly __returns?: R
}

export type ReplyOf<M> = M extends { readonly __returns?: infer R } ? R : unknown

/** The reply type of the member of union M whose `type` is Q's: what `ask(Q)` resolves to. */
export type AskReply<M extends Message, Q extends Message> = ReplyOf<Extract<M, { readonly type: Q['type'] }>>

export interface AskOptions {
  timeoutMs?: number
}

export interface ActorRef<M extends Message = Message> {
  readonly address: ActorAddress
  /** Delivers without waiting. Throws ERR_MAILBOX_FULL, ERR_UNKNOWN_ADDRESS, ERR_INVALID_MESSAGE or ERR_HOST_DIED. */
  tell(message: M): void
  /** Like tell, but waits for room when the mailbox (or the link to its host) is full. */
  send(message: M): Promise<void>
  /** Sends and waits for the reply; rejects with ERR_ASK_TIMEOUT after `timeoutMs` (default 5000). */
  ask<Q extends M>(message: Q, options?: AskOptions): Promise<AskReply<M, Q>>
  equals(other: ActorRef<Message>): boolean
  toString(): string
}

export type StopReason =
  | { readonly kind: 'stopped' }
  | { readonly kind: 'failed'; readonly error: WireError }
  | { readonly kind: 'host-died'; readonly error: WireError }
  | { readonly kind: 'unknown' }

export type Signal =
  | { readonly type: 'terminated'; readonly ref: ActorRef<Message>; readonly reason: StopReason }
  | { readonly type: 'undelivered'; readonly to: ActorRef<Message>; readonly message: unknown; readonly error: WireError }

/** A reply that the handler finishes later (after awaiting other actors without blocking its mailbox). */
export interface DeferredReply {
  resolve(value: unknown): void
  reject(error: unknown): void
}

export interface SpawnOptions {
  name?: string
  supervision?: SupervisionPolicy
  mailboxMax?: number
}

export interface ActorContext<M extends Message> {
  readonly self: ActorRef<M>
  readonly clock: Clock
  readonly random: Random
  readonly log: Logger
  /**
   * Shared buffers for payloads that cross threads and nodes without a copy (null without a
   * pool). Slots this actor allocates or receives are its own: released by it, or by the runtime
   * when it crashes or stops.
   */
  readonly buffers: ActorBuffers | null
  /** One-sided transfers to and from other nodes' registered buffers (null without a pool): see runtime/regions-actor.ts. */
  readonly regions: Regions | null
  /** The host's disk (null when the node has none): see runtime/disk/disk.ts. */
  readonly disk: Disk | null
  /**
   * Counters, gauges and histograms registered by name (`t3fs_…`), served by the node on its
   * `[metrics]` address in the Prometheus format: see runtime/metrics/metrics.ts.
   */
  readonly metrics: Metrics
  /** A fault site that only the simulator turns on (see runtime/buggify.ts); false in production. */
  buggify(site: string): boolean
  /**
   * Keeps `work` in flight without holding the mailbox: when it settles, `toMessage(outcome)` is
   * queued to this actor (even past the mailbox bound: the actor bounds its own work in flight).
   * Dropped if the actor crashed or stopped meanwhile.
   */
  pipeToSelf<T>(work: Promise<T>, toMessage: (outcome: Outcome<T>) => M): void
  /** The actor that sent the current message, when it was sent from inside an actor. */
  readonly sender: ActorRef<Message> | null
  /** Replies to the current ask (no-op for a tell). */
  reply(value: unknown): void
  /** Replies to the current ask with an error. */
  fail(error: unknown): void
  /** Takes the current ask's reply out of the handler, to finish it later. */
  deferReply(): DeferredReply
  tell<N extends Message>(to: ActorRef<N>, message: N): void
  /**
   * A ref to the actor at `address` (one read from the KV, or carried as data): refs of another
   * node's earlier incarnation are refused when used (ERR_STALE_INCARNATION).
   */
  refFor<N extends Message>(address: ActorAddress): ActorRef<N>
  ask<N extends Message, Q extends N>(to: ActorRef<N>, message: Q, options?: AskOptions): Promise<AskReply<N, Q>>
  spawn<S, N extends Message, A>(definition: ActorDefinition<S, N, A>, args: A, options?: SpawnOptions): ActorRef<N>
  /** Stops a child, or this actor when called without a ref. */
  stop(ref?: ActorRef<Message>): void
  watch(ref: ActorRef<Message>): void
  unwatch(ref: ActorRef<Message>): void
  /** Tells `message` to self after `delayMs`; cancelled automatically when the actor stops or restarts. */
  schedule(delayMs: number, message: M): TimerHandle
}

/** How a piped operation ended. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: T3fsError }

export type HandlerResult<S> = S | void | Promise<S | void>

export interface ActorDefinition<S, M extends Message, A = void> {
  readonly kind: string
  /**
   * Node services whoever starts this actor from a node profile must hand it in its spawn args
   * (bin/launch.ts: "kv" → `args.nodeKv`, the profile's resolved [kv]). The runtime ignores it.
   */
  readonly needs?: readonly string[]
  /** Messages the mailbox holds before senders are pushed back. Default 1024. */
  readonly mailboxMax?: number
  readonly supervision?: SupervisionPolicy
  /** Checks a message where it enters: returns null when valid, else the reason it is not. */
  readonly validate?: (message: unknown) => string | null
  init(ctx: ActorContext<M>, args: A): S | Promise<S>
  /** Handles one message; returning a value replaces the state, returning nothing keeps it. */
  handle(state: S, message: M, ctx: ActorContext<M>): HandlerResult<S>
  onSignal?(state: S, signal: Signal, ctx: ActorContext<M>): HandlerResult<S>
  onStop?(state: S, ctx: ActorContext<M>): void | Promise<void>
}

export const mailboxMaxDefault = 1024
export const mailboxMaxLimit = 1 << 20

export function defineActor<S, M extends Message, A = void>(definition: ActorDefinition<S, M, A>): ActorDefinition<S, M, A> {
  return definition
}

/** Type-erased form the runtime stores; handlers stay exhaustive at their definition site. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyActorDefinition = ActorDefinition<any, any, any>
