/**
 * The storage node's knobs (a profile's `[actors.params]` of the storage service, or in-process
 * args). Each has a camelCase name and 3FS-style snake_case alias, a type, a range and a default;
 * every bad value fails with the knob, the value and what is accepted.
 */
import { invalidOption } from '../../runtime/errors.ts'
import { DURATION_ACCEPTED, parseDurationMs } from '../../runtime/profile/units.ts'

export interface StorageConfig {
  /** Nodes that run mgmtd (each is asked for the lease holder; heartbeats go to all, only the primary accepts). */
  mgmtdNodes: number[]
  mgmtdName: string
  /** Targets this node creates at start when they do not exist yet. */
  targets: number[]
  /** Directory of this node's targets on ctx.disk. */
  root: string
  heartbeatIntervalMs: number
  /** A target serves only this long after the send time of its last heartbeat mgmtd accepted; below mgmtd's heartbeat_fail_interval. */
  serveLeaseMs: number
  mgmtdTimeoutMs: number
  /** Per-attempt timeout of a forward to the successor; attempts back off from forwardBackoffMinMs to forwardBackoffMaxMs. */
  forwardTimeoutMs: number
  forwardBackoffMinMs: number
  forwardBackoffMaxMs: number
  /** A forward that keeps failing this long fails the update (the client retries). */
  forwardBudgetMs: number
  /** Updates and reads in flight per target; more are refused with ERR_STORAGE_BUSY. */
  maxInFlight: number
  /** Channels remembered per target for exactly-once (least recently used first out). */
  dedupEntriesMax: number
  /** Chunks a sync copies at once. */
  syncConcurrency: number
  /** A sync that fails waits this long before it starts again. */
  syncRetryMs: number
  /** Forwarded data: pulled by the successor from a registered region, or carried in the message. */
  forwardData: 'region' | 'inline'
}

export const DEFAULT_STORAGE_CONFIG: Readonly<StorageConfig> = {
  mgmtdNodes: [1],
  mgmtdName: 'mgmtd',
  targets: [],
  root: 'storage',
  heartbeatIntervalMs: 10_000,
  serveLeaseMs: 30_000,
  mgmtdTimeoutMs: 5_000,
  forwardTimeoutMs: 5_000,
  forwardBackoffMinMs: 100,
  forwardBackoffMaxMs: 1_000,
  forwardBudgetMs: 60_000,
  maxInFlight: 256,
  dedupEntriesMax: 65_536,
  syncConcurrency: 8,
  syncRetryMs: 1_000,
  forwardData: 'region',
}

type Kind = { kind: 'duration'; maxMs: number } | { kind: 'int'; min: number; max: number } | { kind: 'ids' } | { kind: 'name' } | { kind: 'path' } | { kind: 'enum'; values: readonly string[] }

const KNOBS: Readonly<Record<keyof StorageConfig, { snake: string; type: Kind }>> = {
  mgmtdNodes: { snake: 'mgmtd_nodes', type: { kind: 'ids' } },
  mgmtdName: { snake: 'mgmtd_name', type: { kind: 'name' } },
  targets: { snake: 'targets', type: { kind: 'ids' } },
  root: { snake: 'root', type: { kind: 'path' } },
  heartbeatIntervalMs: { snake: 'heartbeat_interval', type: { kind: 'duration', maxMs: 600_000 } },
  serveLeaseMs: { snake: 'serve_lease', type: { kind: 'duration', maxMs: 3_600_000 } },
  mgmtdTimeoutMs: { snake: 'mgmtd_timeout', type: { kind: 'duration', maxMs: 600_000 } },
  forwardTimeoutMs: { snake: 'forward_timeout', type: { kind: 'duration', maxMs: 600_000 } },
  forwardBackoffMinMs: { snake: 'forward_backoff_min', type: { kind: 'duration', maxMs: 600_000 } },
  forwardBackoffMaxMs: { snake: 'forward_backoff_max', type: { kind: 'duration', maxMs: 600_000 } },
  forwardBudgetMs: { snake: 'forward_budget', type: { kind: 'duration', maxMs: 3_600_000 } },
  maxInFlight: { snake: 'max_in_flight', type: { kind: 'int', min: 1, max: 65_536 } },
  dedupEntriesMax: { snake: 'dedup_entries_max', type: { kind: 'int', min: 16, max: 1 << 22 } },
  syncConcurrency: { snake: 'sync_concurrency', type: { kind: 'int', min: 1, max: 1024 } },
  syncRetryMs: { snake: 'sync_retry', type: { kind: 'duration', maxMs: 600_000 } },
  forwardData: { snake: 'forward_data', type: { kind: 'enum', values: ['region', 'inline'] } },
}

const BY_SNAKE = new Map(Object.entries(KNOBS).map(([camel, k]) => [k.snake, camel as keyof StorageConfig]))

function accepted(type: Kind): string {
  switch (type.kind) {
    case 'duration':
      return `a number of ms in [1, ${type.maxMs}] or ${DURATION_ACCEPTED}`
    case 'int':
      return `an integer from ${type.min} to ${type.max}`
    case 'ids':
      return 'a list of distinct integers from 1 to 2^53-1'
    case 'name':
      return 'a name of 1-128 letters, digits, ".", "_", "-"'
    case 'path':
      return 'a relative path of "/"-separated names (no ".", "..", or empty parts)'
    case 'enum':
      return type.values.map((v) => JSON.stringify(v)).join(' | ')
  }
}

function parse(type: Kind, value: unknown): unknown {
  switch (type.kind) {
    case 'duration': {
      const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDurationMs(value) : undefined
      return ms !== undefined && Number.isFinite(ms) && ms >= 1 && ms <= type.maxMs ? ms : undefined
    }
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) && value >= type.min && value <= type.max ? value : undefined
    case 'ids':
      return Array.isArray(value) && value.every((v) => Number.isSafeInteger(v) && v >= 1) && new Set(value).size === value.length ? [...(value as number[])] : undefined
    case 'name':
      return typeof value === 'string' && /^[A-Za-z0-9._-]{1,128}$/.test(value) ? value : undefined
    case 'path':
      return typeof value === 'string' && value.length <= 1024 && value.split('/').every((p) => p !== '' && p !== '.' && p !== '..') ? value : undefined
    case 'enum':
      return typeof value === 'string' && type.values.includes(value) ? value : undefined
  }
}

/** Fills defaults and checks every knob; unknown keys are refused, naming the known ones. */
export function resolveStorageConfig(input: Readonly<Record<string, unknown>> = {}): StorageConfig {
  const config: Record<string, unknown> = { ...DEFAULT_STORAGE_CONFIG }
  for (const [given, value] of Object.entries(input)) {
    const key = BY_SNAKE.get(given) ?? (given in KNOBS ? (given as keyof StorageConfig) : undefined)
    if (key === undefined) throw invalidOption(`storage.${given}`, value, `a known storage option: ${Object.values(KNOBS).map((k) => k.snake).join(', ')}`)
    const parsed = parse(KNOBS[key].type, value)
    if (parsed === undefined) throw invalidOption(`storage.${given}`, value, accepted(KNOBS[key].type))
    config[key] = parsed
  }
  const resolved = config as unknown as StorageConfig
  if (resolved.forwardBackoffMinMs > resolved.forwardBackoffMaxMs) {
    throw invalidOption('storage.forward_backoff_min', resolved.forwardBackoffMinMs, `at most forward_backoff_max (${resolved.forwardBackoffMaxMs} ms)`)
  }
  if (resolved.mgmtdNodes.length === 0) throw invalidOption('storage.mgmtd_nodes', resolved.mgmtdNodes, 'at least one node id')
  return resolved
}
