/** KvCacheOptions checked where they enter (ERR_INVALID_OPTION naming the option, value and range) and resolved to defaults. */
import type { Clock } from '../../runtime/clock.ts'
import { systemClock } from '../../runtime/clock.ts'
import { invalidOption } from '../../runtime/errors.ts'
import type { Metrics } from '../../runtime/metrics/metrics.ts'
import type { UsrbioClient } from '../client/usrbio/client.ts'

const MiB = 1024 * 1024

export interface KvCacheOptions {
  /** The cache's directory on t3fs (absolute; default "/kvcache"); created when missing. */
  readonly root?: string
  /** Bytes of blocks the cache keeps; past it, puts evict least-recently-used blocks (default 1 GiB). */
  readonly capacityBytes?: number
  /** A block expires this long after its put (default 1 h); GC deletes it, get no longer returns it. */
  readonly ttlMs?: number
  /** Largest block a put accepts (default 64 MiB, at most capacityBytes). */
  readonly maxBlockBytes?: number
  /** How often the background GC runs on `clock` (default 5 s; 0: only when `gc()` is called). */
  readonly gcIntervalMs?: number
  /** Each background GC pass first lists the whole tree (blocks other instances put are collected too; default false). */
  readonly gcRescan?: boolean
  /** Unlinks the GC keeps in flight (default 16). */
  readonly gcConcurrency?: number
  /**
   * A rescanning GC pass deletes a put's temporary file once it has kept seeing it this long on
   * `clock` (its writer died between create and rename; default 10 min, far above a put's retries).
   */
  readonly orphanTempAgeMs?: number
  /** Gets of one batchGet in flight (default 16). */
  readonly getConcurrency?: number
  /** A get tells meta the access time (atime) at most this often per block (default 60 s, relatime-like; 0: every get). */
  readonly accessPersistIntervalMs?: number
  /** Time for TTL, LRU and the GC timer (default the system clock; tests pass a VirtualClock). */
  readonly clock?: Clock
  /** Where `t3fs_kvcache_gc_deletes_total` and friends go (an actor's ctx.metrics); counters are in stats() either way. */
  readonly metrics?: Metrics
  /** Reads through USRBIO (a client of the node's usrbio server, `connectUsrbio`); puts, deletes and listings stay on the FileClient. */
  readonly usrbio?: UsrbioClient
  /** Gets in flight through USRBIO, each with a slot of the shared region (default 8). */
  readonly usrbioSlots?: number
  /** Bytes per USRBIO slot (default min(maxBlockBytes, 4 MiB)); larger blocks are read through the FileClient. */
  readonly usrbioSlotBytes?: number
  /** Names this writer's temporary files (default: the FileClient's id). */
  readonly writerId?: string
  /** Deliberate bugs, for the KVCache simulation suite only (test/sim/kvcache-suite.ts must catch each); never set outside tests. */
  readonly mutants?: readonly KvCacheMutant[]
}

/**
 * The KVCache's named mutants: `put-in-place` (a put writes the key's own file, no temporary file
 * and rename), `ttl-ignored-on-get` (a get returns expired blocks), `orphan-age-zero` (a rescanning
 * GC deletes temporary files the first time it sees them, live puts' too), `gc-deletes-unexpired`
 * (the GC takes blocks at half their TTL).
 */
export const KVCACHE_MUTANTS = ['put-in-place', 'ttl-ignored-on-get', 'orphan-age-zero', 'gc-deletes-unexpired'] as const
export type KvCacheMutant = (typeof KVCACHE_MUTANTS)[number]

export interface ResolvedKvOptions {
  readonly root: string
  readonly capacityBytes: number
  readonly ttlMs: number
  readonly maxBlockBytes: number
  readonly gcIntervalMs: number
  readonly gcRescan: boolean
  readonly gcConcurrency: number
  readonly orphanTempAgeMs: number
  readonly getConcurrency: number
  readonly accessPersistIntervalMs: number
  readonly clock: Clock
  readonly metrics: Metrics | null
  readonly writerId: string
  readonly mutants: ReadonlySet<KvCacheMutant>
  readonly usrbio: { readonly client: UsrbioClient; readonly slots: number; readonly slotBytes: number } | null
}

/** Named maxima of the knobs. */
export const kvLimits = {
  capacityBytesMax: 2 ** 50,
  blockBytesMax: 1024 * MiB,
  ttlMsMax: 365 * 24 * 3_600_000,
  concurrencyMax: 256,
} as const

function int(options: KvCacheOptions, name: keyof KvCacheOptions, fallback: number, min: number, max: number): number {
  const value = options[name] ?? fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw invalidOption(name, value, `an integer from ${min} to ${max}`)
  return value
}

function mutants(value: unknown): ReadonlySet<KvCacheMutant> {
  if (value === undefined) return new Set()
  if (!Array.isArray(value) || !value.every((m) => (KVCACHE_MUTANTS as readonly unknown[]).includes(m))) throw invalidOption('mutants', value, `an array of ${KVCACHE_MUTANTS.join(', ')} (test-only)`)
  return new Set(value as KvCacheMutant[])
}

function bool(value: unknown, name: string): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw invalidOption(name, value, 'true or false')
  return value === true
}

/** `defaultWriterId`: the FileClient's id made file-name safe (actors draw no randomness of their own). */
export function resolveKvOptions(options: KvCacheOptions, defaultWriterId: string): ResolvedKvOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object of KvCacheOptions')
  const root = options.root ?? '/kvcache'
  if (typeof root !== 'string' || !/^\/[^\0]*$/.test(root) || root.length > 1024 || root.endsWith('/') && root !== '/') throw invalidOption('root', root, 'an absolute path on t3fs without a trailing "/", e.g. "/kvcache"')
  const capacityBytes = int(options, 'capacityBytes', 1024 * MiB, 1, kvLimits.capacityBytesMax)
  const maxBlockBytes = int(options, 'maxBlockBytes', Math.min(64 * MiB, capacityBytes), 1, Math.min(kvLimits.blockBytesMax, capacityBytes))
  const writerId = options.writerId ?? (defaultWriterId.replace(/[^A-Za-z0-9_-]/g, '_').slice(-64) || 'w')
  if (typeof writerId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(writerId)) throw invalidOption('writerId', writerId, '1 to 64 characters from A-Z a-z 0-9 _ -')
  const clock = options.clock ?? systemClock
  if (typeof clock?.now !== 'function' || typeof clock.setTimer !== 'function') throw invalidOption('clock', clock, 'a Clock ({ now(), setTimer() })')
  return {
    root: root === '/' ? '' : root,
    capacityBytes,
    ttlMs: int(options, 'ttlMs', 3_600_000, 1, kvLimits.ttlMsMax),
    maxBlockBytes,
    gcIntervalMs: int(options, 'gcIntervalMs', 5_000, 0, kvLimits.ttlMsMax),
    gcRescan: bool(options.gcRescan, 'gcRescan'),
    gcConcurrency: int(options, 'gcConcurrency', 16, 1, kvLimits.concurrencyMax),
    orphanTempAgeMs: int(options, 'orphanTempAgeMs', 600_000, 1, kvLimits.ttlMsMax),
    getConcurrency: int(options, 'getConcurrency', 16, 1, kvLimits.concurrencyMax),
    accessPersistIntervalMs: int(options, 'accessPersistIntervalMs', 60_000, 0, kvLimits.ttlMsMax),
    clock,
    metrics: options.metrics ?? null,
    writerId,
    mutants: mutants(options.mutants),
    usrbio: options.usrbio === undefined ? null : {
      client: options.usrbio,
      slots: int(options, 'usrbioSlots', 8, 1, kvLimits.concurrencyMax),
      slotBytes: int(options, 'usrbioSlotBytes', Math.min(maxBlockBytes, 4 * MiB), 1, Math.min(maxBlockBytes, 256 * MiB)),
    },
  }
}
