/**
 * meta's knobs, defaults from 3FS's meta_main.toml [server.meta] where it has them (reference/3fs.md
 * §2.4–2.6, §6.1). A profile gives them in [actors.params] by their snake_case names, durations as
 * strings ("5min") or ms, sizes as strings ("1GiB") or bytes; in-process callers may use the
 * camelCase names. Every knob is checked, naming it and what it accepts.
 */
import { invalidOption } from '../../runtime/errors.ts'
import { DURATION_ACCEPTED, parseDurationMs, parseSizeBytes, SIZE_ACCEPTED } from '../../runtime/profile/units.ts'
import { checkLayout, type Layout } from './layout.ts'

export interface MetaConfig {
  /** Requests of one owner batch merged into one transaction (3FS max_batch_operations). */
  maxBatchOperations: number
  /** Transactions in flight per server; more wait in a queue of maxQueued, then ERR_META_BUSY. */
  maxInFlight: number
  maxQueued: number
  listDefaultLimit: number
  listMaxLimit: number
  /** Symlinks followed inside one another / in one resolution (3FS: 4 and 10). */
  symlinkDepthMax: number
  symlinkTotalMax: number
  idempotentRecordExpireMs: number
  idempotentCleanIntervalMs: number
  /** Entries checked for permission before a recursive remove moves a tree to GC. */
  recursiveRemoveCheckLimit: number
  gcFileDelayMs: number
  gcDirectoryDelayMs: number
  gcScanIntervalMs: number
  gcRetryDelayMs: number
  /** GC entries handled per scan and files whose chunks are removed at once. */
  gcScanBatch: number
  gcConcurrency: number
  sessionScanIntervalMs: number
  /** A session younger than this is never pruned (its client may not have reached mgmtd yet). */
  sessionPruneGraceMs: number
  membershipHeartbeatIntervalMs: number
  membershipTimeoutMs: number
  /** O_TRUNC of a file at least this long, with one link and no session, replaces its inode. */
  otruncReplaceFileThresholdBytes: number
  dynamicStripe: boolean
  authenticate: boolean
  /** A bootstrap admin token (uid 0, admin) accepted besides the USER records; null = none. */
  adminToken: string | null
  userCacheTtlMs: number
  trashCleanIntervalMs: number
  statFsCacheMs: number
  /** Whole-operation budget of one KV transaction with its retries. */
  operationTimeoutMs: number
  forwardTimeoutMs: number
  storageTimeoutMs: number
  /** How often routing info (chain tables) and the client list are fetched from mgmtd. */
  routingRefreshIntervalMs: number
  /**
   * How often a meta node on a node other than mgmtd's heartbeats to mgmtd as a META node, with
   * its endpoint and meta actors (mgmtd-heartbeat.ts). Well below mgmtd's heartbeat_fail_interval.
   */
  mgmtdHeartbeatIntervalMs: number
  /** The root directory's layout when this server creates the root. */
  rootLayout: Layout
}

const MiB = 1024 * 1024

export const DEFAULT_META_CONFIG: Readonly<MetaConfig> = {
  maxBatchOperations: 4096,
  maxInFlight: 1024,
  maxQueued: 16_384,
  listDefaultLimit: 128,
  listMaxLimit: 4096,
  symlinkDepthMax: 4,
  symlinkTotalMax: 10,
  idempotentRecordExpireMs: 30 * 60_000,
  idempotentCleanIntervalMs: 60_000,
  recursiveRemoveCheckLimit: 1024,
  gcFileDelayMs: 5 * 60_000,
  gcDirectoryDelayMs: 0,
  gcScanIntervalMs: 200,
  gcRetryDelayMs: 10 * 60_000,
  gcScanBatch: 4096,
  gcConcurrency: 32,
  sessionScanIntervalMs: 5 * 60_000,
  sessionPruneGraceMs: 30_000,
  membershipHeartbeatIntervalMs: 1_000,
  membershipTimeoutMs: 10_000,
  otruncReplaceFileThresholdBytes: 1024 * MiB,
  dynamicStripe: false,
  authenticate: false,
  adminToken: null,
  userCacheTtlMs: 60_000,
  trashCleanIntervalMs: 60_000,
  statFsCacheMs: 5_000,
  operationTimeoutMs: 5_000,
  forwardTimeoutMs: 5_000,
  storageTimeoutMs: 10_000,
  routingRefreshIntervalMs: 5_000,
  mgmtdHeartbeatIntervalMs: 10_000,
  rootLayout: { tableId: 1, tableVersion: 0, chunkSizeBytes: MiB, stripeSize: 1, chains: { kind: 'empty' } },
}

type Kind = 'duration' | 'int' | 'bool' | 'size' | 'token' | 'layout'
const KNOBS: Readonly<Record<keyof MetaConfig, { snake: string; kind: Kind; min?: number; max?: number }>> = {
  maxBatchOperations: { snake: 'max_batch_operations', kind: 'int', min: 1, max: 65_536 },
  maxInFlight: { snake: 'max_in_flight', kind: 'int', min: 1, max: 65_536 },
  maxQueued: { snake: 'max_queued', kind: 'int', min: 0, max: 1 << 20 },
  listDefaultLimit: { snake: 'list_default_limit', kind: 'int', min: 1, max: 65_536 },
  listMaxLimit: { snake: 'list_max_limit', kind: 'int', min: 1, max: 65_536 },
  symlinkDepthMax: { snake: 'symlink_depth_max', kind: 'int', min: 0, max: 64 },
  symlinkTotalMax: { snake: 'symlink_total_max', kind: 'int', min: 0, max: 256 },
  idempotentRecordExpireMs: { snake: 'idempotent_record_expire', kind: 'duration' },
  idempotentCleanIntervalMs: { snake: 'idempotent_record_clean', kind: 'duration', min: 1 },
  recursiveRemoveCheckLimit: { snake: 'recursive_remove_check_limit', kind: 'int', min: 0, max: 1 << 20 },
  gcFileDelayMs: { snake: 'gc_file_delay', kind: 'duration' },
  gcDirectoryDelayMs: { snake: 'gc_directory_delay', kind: 'duration' },
  gcScanIntervalMs: { snake: 'gc_scan_interval', kind: 'duration', min: 1 },
  gcRetryDelayMs: { snake: 'gc_retry_delay', kind: 'duration', min: 1 },
  gcScanBatch: { snake: 'gc_scan_batch', kind: 'int', min: 1, max: 1 << 16 },
  gcConcurrency: { snake: 'gc_concurrency', kind: 'int', min: 1, max: 1024 },
  sessionScanIntervalMs: { snake: 'session_scan_interval', kind: 'duration', min: 1 },
  sessionPruneGraceMs: { snake: 'session_prune_grace', kind: 'duration' },
  membershipHeartbeatIntervalMs: { snake: 'membership_heartbeat_interval', kind: 'duration', min: 1 },
  membershipTimeoutMs: { snake: 'membership_timeout', kind: 'duration', min: 1 },
  otruncReplaceFileThresholdBytes: { snake: 'otrunc_replace_file_threshold', kind: 'size' },
  dynamicStripe: { snake: 'dynamic_stripe', kind: 'bool' },
  authenticate: { snake: 'authenticate', kind: 'bool' },
  adminToken: { snake: 'admin_token', kind: 'token' },
  userCacheTtlMs: { snake: 'user_cache_ttl', kind: 'duration' },
  trashCleanIntervalMs: { snake: 'trash_clean_interval', kind: 'duration', min: 1 },
  statFsCacheMs: { snake: 'statfs_cache', kind: 'duration' },
  operationTimeoutMs: { snake: 'operation_timeout', kind: 'duration', min: 1 },
  forwardTimeoutMs: { snake: 'forward_timeout', kind: 'duration', min: 1 },
  storageTimeoutMs: { snake: 'storage_timeout', kind: 'duration', min: 1 },
  routingRefreshIntervalMs: { snake: 'routing_refresh_interval', kind: 'duration', min: 1 },
  // At most 10 min: mgmtd fails a node silent for its heartbeat_fail_interval (1 min by default).
  mgmtdHeartbeatIntervalMs: { snake: 'mgmtd_heartbeat_interval', kind: 'duration', min: 10, max: 600_000 },
  rootLayout: { snake: 'root_layout', kind: 'layout' },
}

const BY_SNAKE = new Map(Object.entries(KNOBS).map(([camel, k]) => [k.snake, camel as keyof MetaConfig]))
export const META_KNOB_NAMES: readonly string[] = Object.values(KNOBS).map((k) => k.snake)

export function resolveMetaConfig(input: Readonly<Record<string, unknown>> = {}): MetaConfig {
  const config: Record<string, unknown> = { ...DEFAULT_META_CONFIG }
  for (const [given, value] of Object.entries(input)) {
    const key = BY_SNAKE.get(given) ?? (given in KNOBS ? (given as keyof MetaConfig) : undefined)
    if (key === undefined) throw invalidOption(`meta.${given}`, value, `a known meta option: ${META_KNOB_NAMES.join(', ')}`)
    config[key] = parseKnob(`meta.${given}`, KNOBS[key], value)
  }
  const c = config as unknown as MetaConfig
  if (c.listDefaultLimit > c.listMaxLimit) throw invalidOption('meta.list_default_limit', c.listDefaultLimit, `at most list_max_limit (${c.listMaxLimit})`)
  if (c.membershipTimeoutMs < 2 * c.membershipHeartbeatIntervalMs) {
    throw invalidOption('meta.membership_timeout', c.membershipTimeoutMs, `at least twice membership_heartbeat_interval (${c.membershipHeartbeatIntervalMs} ms)`)
  }
  return c
}

function parseKnob(name: string, knob: { kind: Kind; min?: number; max?: number }, value: unknown): unknown {
  const min = knob.min ?? 0
  switch (knob.kind) {
    case 'duration': {
      const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDurationMs(value) : undefined
      const max = knob.max ?? 7 * 86_400_000
      if (ms === undefined || !Number.isFinite(ms) || ms < min || ms > max) throw invalidOption(name, value, `a number of ms in [${min}, ${max}] or ${DURATION_ACCEPTED}`)
      return ms
    }
    case 'size': {
      const bytes = parseSizeBytes(value)
      if (bytes === undefined) throw invalidOption(name, value, SIZE_ACCEPTED)
      return bytes
    }
    case 'int': {
      const max = knob.max ?? Number.MAX_SAFE_INTEGER
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw invalidOption(name, value, `an integer from ${min} to ${max}`)
      return value
    }
    case 'bool':
      if (typeof value !== 'boolean') throw invalidOption(name, value, 'true or false')
      return value
    case 'token':
      if (value !== null && (typeof value !== 'string' || value.length < 8)) throw invalidOption(name, '(hidden)', 'a string of at least 8 characters, or null')
      return value
    case 'layout':
      try {
        return checkLayout(value, name)
      } catch (error) {
        throw invalidOption(name, value, (error as Error).message)
      }
  }
}
