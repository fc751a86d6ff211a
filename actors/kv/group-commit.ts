/**
 * Group commit: transactions that reach commit while a batch is being written wait and go
 * together in the next one, so one durable write (one LMDB transaction, one fsync) acknowledges
 * many transactions. A commit that finds no batch in flight is written at once (a lone committer
 * waits for nothing but its own write).
 *
 * The engine's BatchWriter validates the members in arrival order, each against the recent-writes
 * history *and* the writes of the members before it in the batch (so the outcome is exactly that
 * of committing them one after another), applies the ones that pass at consecutive versions, and
 * makes the whole batch durable atomically: after a crash, all of it or none of it. Each member is
 * then acknowledged with its version or failed with its own error (a conflict, too old); a
 * failure of the write itself fails every member (nothing of the batch was written).
 */
import { invalidOption } from '../../runtime/errors.ts'
import type { CommitRequest } from './engine.ts'
import { kvError, KvErrorCode } from './errors.ts'

export interface GroupCommitOptions {
  /** Transactions written in one batch at most (1 = no batching: one write per transaction). */
  maxTxns?: number
  /**
   * Bytes in one batch at most, counted as a transaction's size is counted against maxTxnBytes
   * (keys, values, range ends, conflict ranges). A larger transaction still goes, alone.
   */
  maxBytes?: number
}

export interface GroupCommitBounds {
  readonly maxTxns: number
  readonly maxBytes: number
}

export const DEFAULT_GROUP_COMMIT_MAX_TXNS = 128
export const DEFAULT_GROUP_COMMIT_MAX_BYTES = 8 * 1024 * 1024
/** Highest accepted maxTxns (a batch is validated and written on the event loop in one go). */
export const GROUP_COMMIT_MAX_TXNS_LIMIT = 4096
/** Highest accepted maxBytes. */
export const GROUP_COMMIT_MAX_BYTES_LIMIT = 256 * 1024 * 1024
/** Commits waiting for the next batch at most; beyond it a commit fails with ERR_KV_TRANSIENT (retried). */
export const GROUP_COMMIT_MAX_QUEUED = 10_000

export const DEFAULT_GROUP_COMMIT: GroupCommitBounds = Object.freeze({
  maxTxns: DEFAULT_GROUP_COMMIT_MAX_TXNS,
  maxBytes: DEFAULT_GROUP_COMMIT_MAX_BYTES,
})

/** What one member of a batch came to: its commit version, or its own error. */
export type CommitOutcome = { readonly version: bigint } | { readonly error: unknown }

/** Validates, applies and durably writes a batch (see the file comment); one outcome per request, in order. */
export type BatchWriter = (requests: readonly CommitRequest[]) => Promise<CommitOutcome[]>

interface Pending {
  readonly request: CommitRequest
  readonly resolve: (version: bigint) => void
  readonly reject: (error: unknown) => void
}

export class GroupCommitter {
  /** Batches written so far (commits / batches = mean batch size). */
  batches = 0
  private queue: Pending[] = []
  private inFlight = false
  private closed = false
  private idleWaiters: Array<() => void> = []

  constructor(
    private readonly write: BatchWriter,
    private readonly bounds: GroupCommitBounds,
  ) {}

  /** Queues a commit; resolves to its version once its batch is durable. */
  submit(request: CommitRequest): Promise<bigint> {
    if (this.closed) return Promise.reject(kvError(KvErrorCode.KV_CLOSED, 'the KV is closed'))
    if (this.queue.length >= GROUP_COMMIT_MAX_QUEUED) {
      return Promise.reject(kvError(KvErrorCode.TRANSIENT, `${this.queue.length} commits are already waiting for the next batch (GROUP_COMMIT_MAX_QUEUED ${GROUP_COMMIT_MAX_QUEUED}); retry later`, { queued: this.queue.length }))
    }
    return new Promise<bigint>((resolve, reject) => {
      this.queue.push({ request, resolve, reject })
      if (!this.inFlight) this.flush()
    })
  }

  /** Refuses new commits and resolves once every queued one has been written. */
  async close(): Promise<void> {
    this.closed = true
    if (!this.inFlight) return
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  private flush(): void {
    const batch = this.take()
    this.inFlight = true
    this.batches++
    let written: Promise<CommitOutcome[]>
    try {
      written = this.write(batch.map((p) => p.request))
    } catch (error) {
      written = Promise.reject(error)
    }
    written.then(
      (outcomes) => this.acknowledge(batch, outcomes),
      (error: unknown) => {
        for (const p of batch) p.reject(error)
      },
    ).finally(() => this.next())
  }

  private acknowledge(batch: readonly Pending[], outcomes: readonly CommitOutcome[]): void {
    if (outcomes.length !== batch.length) {
      const error = new Error(`group commit: the batch writer returned ${outcomes.length} outcomes for ${batch.length} transactions`)
      for (const p of batch) p.reject(error)
      return
    }
    batch.forEach((p, i) => {
      const outcome = outcomes[i]
      if ('version' in outcome) p.resolve(outcome.version)
      else p.reject(outcome.error)
    })
  }

  private next(): void {
    if (this.queue.length > 0) return this.flush()
    this.inFlight = false
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }

  /** The longest prefix of the queue within the bounds; always at least one transaction. */
  private take(): Pending[] {
    let count = 1
    let bytes = this.queue[0].request.sizeBytes
    while (count < this.queue.length && count < this.bounds.maxTxns) {
      const size = this.queue[count].request.sizeBytes
      if (bytes + size > this.bounds.maxBytes) break
      bytes += size
      count++
    }
    return this.queue.splice(0, count)
  }
}

/** Validates the `groupCommit` option of openKv, naming each field. */
export function resolveGroupCommit(value: unknown): GroupCommitBounds {
  if (value === undefined) return DEFAULT_GROUP_COMMIT
  if (typeof value !== 'object' || value === null) throw invalidOption('groupCommit', value, 'an object { maxTxns?, maxBytes? }')
  const out = { ...DEFAULT_GROUP_COMMIT }
  const limits: Record<string, number> = { maxTxns: GROUP_COMMIT_MAX_TXNS_LIMIT, maxBytes: GROUP_COMMIT_MAX_BYTES_LIMIT }
  for (const [name, v] of Object.entries(value)) {
    const max = limits[name]
    if (max === undefined) throw invalidOption(`groupCommit.${name}`, v, 'one of maxTxns, maxBytes')
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > max) throw invalidOption(`groupCommit.${name}`, v, `an integer from 1 to ${max}`)
    out[name as keyof GroupCommitBounds] = v
  }
  return Object.freeze(out)
}
