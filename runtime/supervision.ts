import { invalidOption } from './errors.ts'
import type { Random } from './random.ts'

/**
 * What a failed actor gets, declared on its definition (or at spawn):
 * - restart: run init again after a backoff, keeping the mailbox; after `maxRestarts` within
 *   `withinMs` it is stopped instead;
 * - stop: stop it, telling its watchers;
 * - escalate: fail its parent with the same error (a top-level actor is stopped).
 */
export type SupervisionPolicy =
  | {
      readonly strategy: 'restart'
      readonly maxRestarts?: number
      readonly withinMs?: number
      readonly backoffMinMs?: number
      readonly backoffMaxMs?: number
    }
  | { readonly strategy: 'stop' }
  | { readonly strategy: 'escalate' }

export interface ResolvedRestart {
  strategy: 'restart'
  maxRestarts: number
  withinMs: number
  backoffMinMs: number
  backoffMaxMs: number
}

export type ResolvedPolicy = ResolvedRestart | { strategy: 'stop' } | { strategy: 'escalate' }

export const defaultSupervision: ResolvedRestart = {
  strategy: 'restart',
  maxRestarts: 10,
  withinMs: 60_000,
  backoffMinMs: 10,
  backoffMaxMs: 5_000,
}

export function resolvePolicy(policy: SupervisionPolicy | undefined): ResolvedPolicy {
  if (policy === undefined) return defaultSupervision
  switch (policy.strategy) {
    case 'stop':
    case 'escalate':
      return { strategy: policy.strategy }
    case 'restart': {
      const resolved = { ...defaultSupervision, ...stripUndefined(policy) }
      checkCount('supervision.maxRestarts', resolved.maxRestarts, 0, 1_000_000)
      checkCount('supervision.withinMs', resolved.withinMs, 1, 86_400_000)
      checkCount('supervision.backoffMinMs', resolved.backoffMinMs, 0, 3_600_000)
      checkCount('supervision.backoffMaxMs', resolved.backoffMaxMs, resolved.backoffMinMs, 3_600_000)
      return resolved
    }
    default:
      throw invalidOption('supervision.strategy', (policy as { strategy: unknown }).strategy, '"restart", "stop" or "escalate"')
  }
}

/** Exponential backoff with full jitter, from the injected random source. */
export function restartDelayMs(policy: ResolvedRestart, attempt: number, random: Random): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffMinMs * 2 ** Math.min(attempt, 30))
  return policy.backoffMinMs + random.next() * (ceiling - policy.backoffMinMs)
}

function checkCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, value, `an integer from ${min} to ${max}`)
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
