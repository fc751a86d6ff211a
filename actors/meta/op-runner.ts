/**
 * Runs one request as one KV transaction under the KV's retry driver, with idempotency: the
 * request's record is read at the same time as the operation runs (the two reads do not depend on
 * each other); when the record is there, the attempt is abandoned without writing and the recorded
 * answer — result or refusal — is the answer. A refusal of a recorded request type is committed
 * as its record, in the transaction that decided it. Also runs an owner's batch: many requests in
 * one transaction, each answered on its own, their records read together up front.
 *
 * Operations check everything before they write, so a refusal leaves nothing behind; a guard
 * watches the writes and turns a refusal after a write into an abort of the attempt (nothing
 * committed, the refusal not recorded) rather than commit half an operation.
 *
 * The outcome says at which read version (and, for a batch that wrote, which versionstamp) the
 * answer was decided, for the simulation's reference model; only taken when asked for.
 */
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import type { KeyValue, Kv, RangeOptions, Transaction } from '../kv/index.ts'
import { isErrno } from './errors.ts'
import { findApplied, recordApplied, recordedError, type StoredIdem } from './idempotency.ts'
import { opContext, type OpContext } from './op-context.ts'

export type Answer =
  | { readonly ok: true; readonly value: unknown; readonly replayed: StoredIdem | null }
  | { readonly ok: false; readonly error: T3fsError; readonly replayed: StoredIdem | null }

export interface RunResult<A = Answer> {
  readonly answer: A
  /** The read version of the attempt that decided the answer (null unless asked for). */
  readonly readVersion: bigint | null
  /** A transaction that wrote: its commit's versionstamp (null unless asked for, or read-only). */
  readonly versionstamp?: Buffer | null
}

export type OpBase = Omit<OpContext, 'tx' | 'reads'>

export interface RunOptions {
  readonly timeoutMs: number
  readonly wantReadVersion: boolean
}

/**
 * The transaction, with a flag that goes up at its first write. A class that delegates, not a
 * Proxy: a proxy's trap and a bound method on every call cost on each read of every request.
 */
class WriteWatch implements Transaction {
  wrote = false
  readonly snapshot: Transaction['snapshot']

  constructor(private readonly tx: Transaction) {
    this.snapshot = tx.snapshot
  }

  get(key: Uint8Array): Promise<Buffer | undefined> {
    return this.tx.get(key)
  }

  getRange(begin: Uint8Array, end: Uint8Array, options?: RangeOptions): Promise<KeyValue[]> {
    return this.tx.getRange(begin, end, options)
  }

  getReadVersion(): Promise<bigint> {
    return this.tx.getReadVersion()
  }

  addReadConflictRange(begin: Uint8Array, end: Uint8Array): void {
    this.tx.addReadConflictRange(begin, end)
  }

  addReadConflictKey(key: Uint8Array): void {
    this.tx.addReadConflictKey(key)
  }

  addWriteConflictRange(begin: Uint8Array, end: Uint8Array): void {
    this.tx.addWriteConflictRange(begin, end)
  }

  addWriteConflictKey(key: Uint8Array): void {
    this.tx.addWriteConflictKey(key)
  }

  set(key: Uint8Array, value: Uint8Array): void {
    this.wrote = true
    this.tx.set(key, value)
  }

  clear(key: Uint8Array): void {
    this.wrote = true
    this.tx.clear(key)
  }

  clearRange(begin: Uint8Array, end: Uint8Array): void {
    this.wrote = true
    this.tx.clearRange(begin, end)
  }

  add(key: Uint8Array, delta: Uint8Array | bigint): void {
    this.wrote = true
    this.tx.add(key, delta)
  }

  setVersionstampedKey(key: Uint8Array, offset: number, value: Uint8Array): void {
    this.wrote = true
    this.tx.setVersionstampedKey(key, offset, value)
  }

  setVersionstampedValue(key: Uint8Array, value: Uint8Array, offset?: number): void {
    this.wrote = true
    this.tx.setVersionstampedValue(key, value, offset)
  }

  getVersionstamp(): { promise: Promise<Buffer> } {
    return this.tx.getVersionstamp()
  }

  getCommittedVersion(): bigint {
    return this.tx.getCommittedVersion()
  }
}

class Replayed {
  constructor(readonly record: StoredIdem) {}
}

class Aborted {
  constructor(readonly error: T3fsError) {}
}

const replayOf = (record: StoredIdem): Answer => {
  const error = recordedError(record)
  return error === null ? { ok: true, value: record.result, replayed: record } : { ok: false, error, replayed: record }
}

function stampOf(tx: Transaction, want: boolean): { promise: Promise<Buffer> } | null {
  if (!want) return null
  const stamp = tx.getVersionstamp()
  stamp.promise.catch(() => undefined)
  return stamp
}

async function stampValue(stamp: { promise: Promise<Buffer> } | null): Promise<Buffer | null> {
  return stamp === null ? null : stamp.promise.catch(() => null)
}

/** A read-only operation: its refusal is an answer, with nothing to record or undo. */
async function readOnly(work: Promise<unknown>): Promise<Answer> {
  try {
    return { ok: true, value: await work, replayed: null }
  } catch (error) {
    if (isErrno(error)) return { ok: false, error, replayed: null }
    throw error
  }
}

/** One request, one transaction. Errno refusals are answers; anything else is thrown. */
export async function runOne(kv: Kv, base: OpBase, spec: { writes: boolean; idempotent: boolean; type: string; run: (ctx: OpContext) => Promise<unknown> }, options: RunOptions): Promise<RunResult> {
  let readVersion: bigint | null = null
  let stamp: { promise: Promise<Buffer> } | null = null
  try {
    const answer = await kv.transact(
      async (raw): Promise<Answer> => {
        readVersion = options.wantReadVersion ? await raw.getReadVersion() : null
        if (!spec.writes) return readOnly(spec.run(opContext(raw, false, base)))
        stamp = stampOf(raw, options.wantReadVersion)
        const tx = new WriteWatch(raw)
        const ctx = opContext(tx, spec.writes, base)
        const applied = spec.idempotent ? findApplied(ctx) : null
        const [outcome, prior] = await Promise.allSettled([spec.run(ctx), applied])
        if (prior.status === 'rejected') throw prior.reason
        if (prior.value != null) throw new Replayed(prior.value)
        if (outcome.status === 'fulfilled') {
          if (spec.idempotent) recordApplied(ctx, spec.type, outcome.value, 0)
          return { ok: true, value: outcome.value, replayed: null }
        }
        if (!isErrno(outcome.reason)) throw outcome.reason
        if (!spec.idempotent || tx.wrote) throw new Aborted(outcome.reason)
        recordApplied(ctx, spec.type, null, 0, outcome.reason)
        return { ok: false, error: outcome.reason, replayed: null }
      },
      { timeoutMs: options.timeoutMs },
    )
    return { answer, readVersion, versionstamp: await stampValue(stamp) }
  } catch (error) {
    if (error instanceof Replayed) return { answer: replayOf(error.record), readVersion }
    if (error instanceof Aborted) return { answer: { ok: false, error: error.error, replayed: null }, readVersion }
    throw toT3fsError(error)
  }
}

export interface BatchItem {
  readonly base: OpBase
  readonly type: string
  run(ctx: OpContext): Promise<unknown>
}

/**
 * Many requests in one transaction, applied in order (read-your-writes makes each see the ones
 * before it). `prepare` runs first in each attempt (e.g. the owner's membership check); `finish`
 * after the items (e.g. writing an inode they all changed).
 */
export async function runBatch(
  kv: Kv,
  items: readonly BatchItem[],
  hooks: { prepare?: (tx: Transaction) => Promise<void>; finish?: (tx: Transaction) => Promise<void> },
  options: RunOptions,
): Promise<RunResult<Answer[]>> {
  let readVersion: bigint | null = null
  let stamp: { promise: Promise<Buffer> } | null = null
  const answers = await kv.transact(
    async (raw) => {
      readVersion = options.wantReadVersion ? await raw.getReadVersion() : null
      stamp = stampOf(raw, options.wantReadVersion)
      await hooks.prepare?.(raw)
      const ctxs = items.map((item) => opContext(raw, true, item.base))
      const prior = await Promise.all(ctxs.map((ctx) => findApplied(ctx)))
      const out: Answer[] = []
      for (let i = 0; i < items.length; i++) {
        const record = prior[i]
        if (record !== null) {
          out.push(replayOf(record))
          continue
        }
        const tx = new WriteWatch(raw)
        const ctx = opContext(tx, true, items[i].base)
        try {
          const value = await items[i].run(ctx)
          recordApplied(ctx, items[i].type, value, i)
          out.push({ ok: true, value, replayed: null })
        } catch (error) {
          if (!isErrno(error)) throw error
          if (tx.wrote) throw new T3fsError('ERR_INTERNAL', `${items[i].type} was refused (${error.code}) after it had written: the batch is abandoned`, {}, { cause: error })
          recordApplied(ctx, items[i].type, null, i, error)
          out.push({ ok: false, error, replayed: null })
        }
      }
      await hooks.finish?.(raw)
      return out
    },
    { timeoutMs: options.timeoutMs },
  )
  return { answer: answers, readVersion, versionstamp: await stampValue(stamp) }
}
