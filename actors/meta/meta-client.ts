/**
 * A client of the meta servers (3FS's MetaClient): stamps each request with the user, the client
 * id and a request id that stays the same across its retries, sends it to a meta server, and on a
 * failure of the way (timeout, dead host, restarted server, busy server, a KV that gave up)
 * retries with backoff on the next server. POSIX errnos are answers and are never retried. Used by
 * the admin CLI, the benchmarks, the simulation and (next) the FUSE actor.
 */
import type { ActorRef, ReplyOf } from '../../runtime/actor.ts'
import type { Clock } from '../../runtime/clock.ts'
import { sleep } from '../../runtime/clock.ts'
import { isT3fsError, T3fsError } from '../../runtime/errors.ts'
import type { Random } from '../../runtime/random.ts'
import type { MetaMsg, MetaRequest, ReqBase, UserInfo } from './protocol.ts'

/** Error codes that say nothing about the file system, only that this attempt did not get through. */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'ERR_ASK_TIMEOUT', 'ERR_HOST_DIED', 'ERR_PEER_DOWN', 'ERR_STALE_INCARNATION', 'ERR_UNKNOWN_ADDRESS', 'ERR_ACTOR_FAILED', 'ERR_ACTOR_STOPPED', 'ERR_ACTOR_FENCED',
  'ERR_MAILBOX_FULL', 'ERR_META_BUSY', 'ERR_META_OWNER_MOVED', 'ERR_TXN_RETRY_LIMIT', 'ERR_COMMIT_UNKNOWN_RESULT', 'ERR_NOT_COMMITTED', 'ERR_KV_TRANSIENT', 'ERR_TXN_TOO_OLD',
])

export interface MetaClientOptions {
  /** The meta servers (a function: the set may change). */
  readonly servers: readonly ActorRef<MetaMsg>[] | (() => readonly ActorRef<MetaMsg>[])
  readonly clientId: string
  readonly user: UserInfo
  readonly clock: Clock
  readonly random: Random
  /** Per attempt (default 5000 ms). */
  readonly timeoutMs?: number
  /** Attempts per request (default 20). */
  readonly maxAttempts?: number
  readonly initialBackoffMs?: number
  readonly maxBackoffMs?: number
}

/** What a request of type T resolves to. */
export type ReplyFor<T extends MetaRequest['type']> = ReplyOf<Extract<MetaRequest, { type: T }>>

export type RequestOf<T extends MetaRequest['type']> = Omit<Extract<MetaRequest, { type: T }>, keyof ReqBase | '__returns'> & { requestId?: string; user?: UserInfo }

export class MetaClient {
  private seq = 0
  private next: number
  private readonly prefix: string
  /** Attempts that failed on the way and were retried, over this client's life. */
  retries = 0

  constructor(private readonly options: MetaClientOptions) {
    this.next = options.random.int(1 << 30)
    this.prefix = `${options.random.int(0x7fffffff).toString(36)}${options.random.int(0x7fffffff).toString(36)}`
  }

  get clientId(): string {
    return this.options.clientId
  }

  /** A fresh request id (unique for this client's life). */
  newRequestId(): string {
    return `${this.prefix}-${++this.seq}`
  }

  private servers(): readonly ActorRef<MetaMsg>[] {
    const s = this.options.servers
    return typeof s === 'function' ? s() : s
  }

  async request<T extends MetaRequest['type']>(message: RequestOf<T> & { type: T }): Promise<ReplyFor<T>> {
    // Not `{ ...message, user, ... }`: on Node 20 (V8 11.3) an object spread followed by more
    // properties left about a quarter of the client thread's young allocations alive through each
    // scavenge (promoted, then collected by full GCs); Object.assign then stores does not.
    const full = Object.assign({}, message) as Record<string, unknown>
    full.user = message.user ?? this.options.user
    full.clientId = this.options.clientId
    full.requestId = message.requestId ?? this.newRequestId()
    const maxAttempts = this.options.maxAttempts ?? 20
    let backoffMs = this.options.initialBackoffMs ?? 20
    for (let attempt = 1; ; attempt++) {
      const servers = this.servers()
      if (servers.length === 0) throw new T3fsError('ERR_META_NO_SERVER', 'no meta server is known to this client', {})
      const server = servers[this.next++ % servers.length]
      try {
        return (await server.ask(full as unknown as Extract<MetaRequest, { type: T }>, { timeoutMs: this.options.timeoutMs ?? 5_000 })) as ReplyFor<T>
      } catch (error) {
        if (!isT3fsError(error) || !RETRYABLE_CODES.has(error.code) || attempt >= maxAttempts) throw error
        this.retries++
        await sleep(this.options.clock, backoffMs * (0.5 + this.options.random.next() / 2))
        backoffMs = Math.min(backoffMs * 2, this.options.maxBackoffMs ?? 1_000)
      }
    }
  }
}
