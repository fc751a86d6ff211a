/**
 * Opens a KV by backend name, validating every option with a message that names it.
 *
 *   openKv({ backend: 'memory' })
 *   openKv({ backend: 'lmdb', path: '/var/lib/t3fs/kv' })
 *   openKv({ backend: 'fdb', clusterFile: '/etc/foundationdb/fdb.cluster' })
 */
import type { Clock } from '../../runtime/clock.ts'
import { invalidOption } from '../../runtime/errors.ts'
import type { Random } from '../../runtime/random.ts'
import type { BackendName, Kv, TransactOptions } from './kv.ts'
import { DEFAULT_LIMITS, LMDB_LIMITS, type KvLimits } from './limits.ts'
import { LocalKv } from './local-kv.ts'
import { MemoryEngine, type MemoryFaults } from './memory-backend.ts'
import { resolveRetryPolicy } from './retry.ts'
import { resolveGroupCommit, type GroupCommitOptions } from './group-commit.ts'
import { resolveSources } from './sources.ts'

export const BACKENDS: readonly BackendName[] = ['memory', 'lmdb', 'fdb']
/** Largest simulated durable-write time of the memory backend (commitDelayMs). */
export const MAX_COMMIT_DELAY_MS = 60_000

interface CommonOptions {
  /** Default retry policy of every `transact` on this handle. */
  retry?: TransactOptions
  /** Lower (never raise) the limits; fields left out keep the backend's. */
  limits?: Partial<KvLimits>
  /**
   * The runtime Clock (default: the system clock): transaction age, retry budget, and the retry
   * backoff sleeps on its timer. lmdb needs epoch milliseconds (see sources.ts).
   */
  clock?: Clock
  /** The runtime Random (default: the system's): backoff jitter, memory fault sites. */
  random?: Random
}

export interface MemoryKvOptions extends CommonOptions {
  backend: 'memory'
  /** Commits kept for conflict checks (default 100000). */
  historyEntries?: number
  /** Fault sites for simulation (off by default); decided by `random`. */
  faults?: MemoryFaults
  /** Group-commit batch bounds (see GroupCommitOptions). */
  groupCommit?: GroupCommitOptions
  /**
   * Simulated time a batch's durable write takes, in ms on `clock` (default 0): commits arriving
   * meanwhile share the next batch, as they do during LMDB's fsync.
   */
  commitDelayMs?: number
}

export interface LmdbKvOptions extends CommonOptions {
  backend: 'lmdb'
  /** Directory of the LMDB environment (created if missing). */
  path: string
  /** Commits kept in the on-disk conflict log (default 100000). */
  historyEntries?: number
  /** LMDB map size in bytes (default 1 GiB; grows on demand). */
  mapSizeBytes?: number
  /** Skip fsync at commit (tests only: a machine crash may lose or corrupt data). */
  noSync?: boolean
  /** Group-commit batch bounds (see GroupCommitOptions); { maxTxns: 1 } writes each transaction alone. */
  groupCommit?: GroupCommitOptions
}

export interface FdbKvOptions extends CommonOptions {
  backend: 'fdb'
  /** FoundationDB cluster file; default: the client library's default lookup. */
  clusterFile?: string
  /** FDB API version (default 710). */
  apiVersion?: number
  /** Store every key under this prefix (a subspace); default none. */
  keyPrefix?: Uint8Array
}

export type OpenKvOptions = MemoryKvOptions | LmdbKvOptions | FdbKvOptions

const COMMON_KEYS = ['backend', 'retry', 'limits', 'clock', 'random']
const KEYS: Record<BackendName, string[]> = {
  memory: [...COMMON_KEYS, 'historyEntries', 'faults', 'groupCommit', 'commitDelayMs'],
  lmdb: [...COMMON_KEYS, 'path', 'historyEntries', 'mapSizeBytes', 'noSync', 'groupCommit'],
  fdb: [...COMMON_KEYS, 'clusterFile', 'apiVersion', 'keyPrefix'],
}

export async function openKv(options: OpenKvOptions): Promise<Kv> {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object with backend: "memory" | "lmdb" | "fdb"')
  const backend = options.backend
  if (!BACKENDS.includes(backend)) throw invalidOption('backend', backend, BACKENDS.map((b) => JSON.stringify(b)).join(' | '))
  for (const key of Object.keys(options)) {
    if (!KEYS[backend].includes(key)) throw invalidOption(key, (options as unknown as Record<string, unknown>)[key], `not an option of the ${backend} backend; its options are ${KEYS[backend].join(', ')}`)
  }
  const sources = resolveSources(checkSources(options))
  const policy = resolveRetryPolicy(options.retry)
  switch (options.backend) {
    case 'memory': {
      const limits = resolveLimits(options.limits, DEFAULT_LIMITS)
      const historyEntries = positiveInt('historyEntries', options.historyEntries, 100_000)
      const faults = checkFaults(options.faults)
      const groupCommit = resolveGroupCommit(options.groupCommit)
      const commitDelayMs = options.commitDelayMs === undefined ? 0 : nonNegativeMs('commitDelayMs', options.commitDelayMs)
      return new LocalKv(new MemoryEngine({ limits, clock: sources.clock, random: sources.random, faults, historyEntries, groupCommit, commitDelayMs }), sources, policy)
    }
    case 'lmdb': {
      const { openLmdbEngine } = await import('./lmdb-backend.ts')
      if (typeof options.path !== 'string' || options.path.length === 0) throw invalidOption('path', options.path, 'a non-empty directory path')
      if (options.noSync !== undefined && typeof options.noSync !== 'boolean') throw invalidOption('noSync', options.noSync, 'true or false')
      const engine = openLmdbEngine({
        path: options.path,
        limits: resolveLimits(options.limits, LMDB_LIMITS),
        clock: sources.clock,
        historyEntries: positiveInt('historyEntries', options.historyEntries, 100_000),
        mapSizeBytes: positiveInt('mapSizeBytes', options.mapSizeBytes, 1 << 30),
        noSync: options.noSync ?? false,
        groupCommit: resolveGroupCommit(options.groupCommit),
      })
      return new LocalKv(engine, sources, policy)
    }
    case 'fdb': {
      const { openFdbKv } = await import('./fdb-backend.ts')
      if (options.clusterFile !== undefined && (typeof options.clusterFile !== 'string' || options.clusterFile.length === 0)) {
        throw invalidOption('clusterFile', options.clusterFile, 'a path to a FoundationDB cluster file')
      }
      const apiVersion = positiveInt('apiVersion', options.apiVersion, 710)
      if (options.keyPrefix !== undefined && (!(options.keyPrefix instanceof Uint8Array) || options.keyPrefix[0] === 0xff)) {
        throw invalidOption('keyPrefix', options.keyPrefix, 'a Uint8Array not starting with 0xff')
      }
      return openFdbKv({ clusterFile: options.clusterFile, apiVersion, keyPrefix: options.keyPrefix, limits: resolveLimits(options.limits, DEFAULT_LIMITS), sources, policy })
    }
  }
}

function checkSources(options: CommonOptions): CommonOptions {
  const need = (name: string, value: unknown, methods: string[], what: string) => {
    if (value !== undefined && (typeof value !== 'object' || value === null || methods.some((m) => typeof (value as Record<string, unknown>)[m] !== 'function'))) {
      throw invalidOption(name, value, `${what}: an object with ${methods.map((m) => `${m}()`).join(' and ')} methods`)
    }
  }
  need('clock', options.clock, ['now', 'setTimer'], 'a runtime Clock')
  need('random', options.random, ['next', 'int'], 'a runtime Random')
  return options
}

function checkFaults(faults: unknown): MemoryFaults | undefined {
  if (faults === undefined) return undefined
  if (typeof faults !== 'object' || faults === null) throw invalidOption('faults', faults, 'an object { commitUnknownResult? }')
  for (const [name, value] of Object.entries(faults)) {
    if (name !== 'commitUnknownResult') throw invalidOption(`faults.${name}`, value, 'one of commitUnknownResult')
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw invalidOption(`faults.${name}`, value, 'a probability from 0 to 1')
  }
  return faults as MemoryFaults
}

function nonNegativeMs(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_COMMIT_DELAY_MS) throw invalidOption(name, value, `a number of milliseconds from 0 to ${MAX_COMMIT_DELAY_MS}`)
  return value
}

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalidOption(name, value, 'a positive integer')
  return value
}

function resolveLimits(given: Partial<KvLimits> | undefined, backend: KvLimits): KvLimits {
  if (given === undefined) return backend
  if (typeof given !== 'object' || given === null) throw invalidOption('limits', given, 'an object { maxKeyBytes?, maxValueBytes?, maxTxnBytes?, maxTxnAgeMs? }')
  const out: Record<string, number> = { ...backend }
  for (const [name, value] of Object.entries(given)) {
    if (!(name in backend)) throw invalidOption(`limits.${name}`, value, `one of ${Object.keys(backend).join(', ')}`)
    const max = backend[name as keyof KvLimits]
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
      throw invalidOption(`limits.${name}`, value, `an integer from 1 to ${max} (the ${name} of this backend)`)
    }
    out[name] = value
  }
  return Object.freeze(out) as unknown as KvLimits
}
