/**
 * Runs one request as one KV transaction under the KV's retry driver, with idempotency: the
 * request's record is read at the same time as the operation runs (the two reads do not depend on
 * each other); when the record is there, the attempt is abandoned without writing and the recorded
 * answer is the answer. Also runs an owner's batch: many requests in one transaction, each
 * answered on its own (a refused one writes nothing), their records read together up front.
 *
 * The outcome says at which read version the answer was decided (for the simulation's reference
 * model; only taken when asked for, as it costs a call on FoundationDB).
 */
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import type { Kv, Transaction } from '../kv/index.ts'
import { isErrno } from './errors.ts'
import { findApplied, recordApplied, type StoredIdem } from './idempotency.ts'
import { opContext, type OpContext } from './op-context.ts'

export type Answer = { readonly ok: true; readonly value: unknown; readonly replayed: StoredIdem | null } | { readonly ok: false; readonly error: T3fsError }

export interface RunResult<A = Answer> {
  readonly answer: A
  /** The read version of the attempt that decided the answer (null unless asked for). */
  readonly readVersion: bigint | null
}

export type OpBase = Omit<OpContext, 'tx' | 'reads'>

export interface RunOptions {
  readonly timeoutMs: number
  readonly wantReadVersion: boolean
}

class Replayed {
  constructor(readonly record: StoredIdem) {}
}

class Refused {
  constructor(readonly error: T3fsError) {}
}

async function readVersionOf(tx: Transaction, want: boolean): Promise<bigint | null> {
  return want ? tx.getReadVersion() : null
}

/** One request, one transaction. Errno refusals are answers; anything else is thrown. */
export async function runOne(kv: Kv, base: OpBase, spec: { writes: boolean; idempotent: boolean; type: string; run: (ctx: OpContext) => Promise<unknown> }, options: RunOptions): Promise<RunResult> {
  let readVersion: bigint | null = null
  try {
    const value = await kv.transact(
      async (tx) => {
        readVersion = await readVersionOf(tx, options.wantReadVersion)
        const ctx = opContext(tx, spec.writes, base)
        const applied = spec.idempotent ? findApplied(ctx) : null
        const [outcome, prior] = await Promise.allSettled([spec.run(ctx), applied])
        if (prior.status === 'rejected') throw prior.reason
        if (prior.value != null) throw new Replayed(prior.value)
        if (outcome.status === 'rejected') throw isErrno(outcome.reason) ? new Refused(outcome.reason) : outcome.reason
        if (spec.idempotent) recordApplied(ctx, spec.type, outcome.value, 0)
        return outcome.value
      },
      { timeoutMs: options.timeoutMs },
    )
    return { answer: { ok: true, value, replayed: null }, readVersion }
  } catch (error) {
    if (error instanceof Replayed) return { answer: { ok: true, value: error.record.result, replayed: error.record }, readVersion }
    if (error instanceof Refused) return { answer: { ok: false, error: error.error }, readVersion }
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
  const answers = await kv.transact(
    async (tx) => {
      readVersion = await readVersionOf(tx, options.wantReadVersion)
      await hooks.prepare?.(tx)
      const ctxs = items.map((item) => opContext(tx, true, item.base))
      const prior = await Promise.all(ctxs.map((ctx) => findApplied(ctx)))
      const out: Answer[] = []
      for (let i = 0; i < items.length; i++) {
        const record = prior[i]
        if (record !== null) {
          out.push({ ok: true, value: record.result, replayed: record })
          continue
        }
        try {
          const value = await items[i].run(ctxs[i])
          recordApplied(ctxs[i], items[i].type, value, i)
          out.push({ ok: true, value, replayed: null })
        } catch (error) {
          if (!isErrno(error)) throw error
          out.push({ ok: false, error })
        }
      }
      await hooks.finish?.(tx)
      return out
    },
    { timeoutMs: options.timeoutMs },
  )
  return { answer: answers, readVersion }
}
