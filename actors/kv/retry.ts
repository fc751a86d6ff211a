/**
 * The retry driver every backend shares (FDB's retry loop / 3FS's OperationDriver): run the
 * function in a fresh attempt, commit, and on a retryable error back off exponentially with
 * jitter and try again — bounded by a retry count and a total time budget.
 */
import { sleep } from '../../runtime/clock.ts'
import { T3fsError, invalidOption } from '../../runtime/errors.ts'
import { isRetryableKvError, kvError, KvErrorCode } from './errors.ts'
import type { KvStats, Transaction, TransactInfo, TransactOptions } from './kv.ts'
import type { KvSources } from './sources.ts'

export const DEFAULT_MAX_RETRIES = 100
export const MAX_RETRIES_LIMIT = 1_000_000
export const DEFAULT_TRANSACT_TIMEOUT_MS = 60_000
export const DEFAULT_INITIAL_BACKOFF_MS = 5
export const DEFAULT_MAX_BACKOFF_MS = 1_000
const MAX_MS = 24 * 3600 * 1000

export interface RetryPolicy {
  readonly maxRetries: number
  readonly timeoutMs: number
  readonly initialBackoffMs: number
  readonly maxBackoffMs: number
}

/** One attempt as the driver sees it. */
export interface Attempt extends Transaction {
  commit(): Promise<void>
  cancel(reason?: unknown): void
}

export function resolveRetryPolicy(options: TransactOptions | undefined, base?: RetryPolicy): RetryPolicy {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalidOption('transact options', options, 'an object { maxRetries?, timeoutMs?, initialBackoffMs?, maxBackoffMs? }')
  }
  const o = options ?? {}
  const policy: RetryPolicy = {
    maxRetries: intOption('maxRetries', o.maxRetries, base?.maxRetries ?? DEFAULT_MAX_RETRIES, 0, MAX_RETRIES_LIMIT),
    timeoutMs: intOption('timeoutMs', o.timeoutMs, base?.timeoutMs ?? DEFAULT_TRANSACT_TIMEOUT_MS, 1, MAX_MS),
    initialBackoffMs: intOption('initialBackoffMs', o.initialBackoffMs, base?.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS, 0, MAX_MS),
    maxBackoffMs: intOption('maxBackoffMs', o.maxBackoffMs, base?.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS, 0, MAX_MS),
  }
  if (policy.maxBackoffMs < policy.initialBackoffMs) {
    throw invalidOption('maxBackoffMs', policy.maxBackoffMs, `an integer >= initialBackoffMs (${policy.initialBackoffMs})`)
  }
  return policy
}

function intOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(name, value, `an integer from ${min} to ${max}`)
  }
  return value
}

/** Backoff before retry number `retry` (1-based): initial·2^(retry-1), capped, times a jitter in [0.5, 1). */
export function backoffMs(policy: RetryPolicy, retry: number, random: number): number {
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(retry - 1, 30))
  return base * (0.5 + random / 2)
}

export async function runTransaction<T>(
  begin: () => Attempt,
  fn: (tx: Transaction) => Promise<T> | T,
  policy: RetryPolicy,
  sources: KvSources,
  stats: KvStats,
): Promise<{ value: T; info: TransactInfo }> {
  const startMs = sources.clock.now()
  for (let attempt = 1; ; attempt++) {
    const tx = begin()
    let value: T
    try {
      value = await fn(tx)
      await tx.commit()
      stats.commits++
      return { value, info: { attempts: attempt, committedVersion: tx.getCommittedVersion() } }
    } catch (error) {
      tx.cancel(error)
      if (!isRetryableKvError(error)) throw error
      countRetryable(stats, error as T3fsError)
      const elapsedMs = sources.clock.now() - startMs
      const retry = attempt
      if (retry > policy.maxRetries || elapsedMs >= policy.timeoutMs) {
        throw kvError(
          KvErrorCode.TXN_RETRY_LIMIT,
          `transaction gave up after ${attempt} attempts in ${Math.round(elapsedMs)} ms (maxRetries ${policy.maxRetries}, timeoutMs ${policy.timeoutMs}); last error ${(error as T3fsError).code}`,
          { attempts: attempt, elapsedMs, lastCode: (error as T3fsError).code },
          error,
        )
      }
      stats.retries++
      const delayMs = Math.min(backoffMs(policy, retry, sources.random.next()), Math.max(0, policy.timeoutMs - elapsedMs))
      if (delayMs > 0) await sleep(sources.clock, delayMs)
    }
  }
}

function countRetryable(stats: KvStats, error: T3fsError): void {
  if (error.code === KvErrorCode.NOT_COMMITTED) stats.conflicts++
  else if (error.code === KvErrorCode.TXN_TOO_OLD) stats.tooOld++
}

export function newStats(): KvStats {
  return { commits: 0, retries: 0, conflicts: 0, tooOld: 0 }
}
