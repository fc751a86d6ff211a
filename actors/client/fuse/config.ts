/**
 * The FUSE mount's knobs (a profile's `[actors.params]` of `fuseMount`, or in-process args), in
 * 3FS's names where 3FS has one (attr_timeout, entry_timeout, negative_timeout, symlink_timeout,
 * max_write, allow_other, default_permissions). Every bad value fails with the knob, the value and
 * what is accepted.
 */
import { invalidOption } from '../../../runtime/errors.ts'
import { DURATION_ACCEPTED, SIZE_ACCEPTED, parseDurationMs, parseSizeBytes } from '../../../runtime/profile/units.ts'

export interface FuseConfig {
  /** Where to mount: absolute, or relative to the node's root (npm start: `mnt` in the checkout). */
  mountPoint: string
  /** Create the mount point directory when it is missing. */
  createMountPoint: boolean
  /** The node that runs mgmtd, and the actor's name there. */
  mgmtdNode: number
  mgmtdName: string
  /**
   * Nodes whose actors named meta, meta2, … serve metadata, found at mount (pinned). null (the
   * default): those on mgmtd's node and every META node of mgmtd's routing info, followed as it
   * changes (actors/client/meta-servers.ts).
   */
  metaNodes: number[] | null
  /** Largest WRITE (and READ) the kernel sends; 3FS: 1 MiB. */
  maxWriteBytes: number
  /** Requests the mount serves at once (beyond: it stops reading /dev/fuse until one finishes). */
  maxInFlight: number
  /** Reads of /dev/fuse each queue keeps posted. */
  readsPerQueue: number
  attrTimeoutMs: number
  entryTimeoutMs: number
  /** How long the kernel may remember that a name does not exist (0: not at all). */
  negativeTimeoutMs: number
  symlinkTimeoutMs: number
  allowOther: boolean
  defaultPermissions: boolean
  /** How often cached inodes and names are checked against meta for changes by other clients (0: never). */
  revalidateIntervalMs: number
  /** Inodes (and as many names) checked per round. */
  revalidateBatch: number
  /** Inodes and names remembered for revalidation (least recently looked up out first). */
  revalidateEntriesMax: number
  /** Lock waiters (F_SETLKW, blocking flock) at once; one more is refused with ENOLCK. */
  lockWaitersMax: number
  /** A blocked lock asks meta again after this long (doubling to 1 s). */
  lockRetryMs: number
  /** FileClient knobs for the mount's client. */
  writeBufferBytes: number
  readAheadBytes: number
  /** The kernel's read-ahead window on the mount (its bdi's read_ahead_kb; 0: the kernel's default, 128 KiB). */
  kernelReadAheadBytes: number
  /** What the mount says it is (fsname in /proc/mounts is `t3fs.<clusterId>`); from t3fs launch, node.cluster_id. */
  clusterId: string
}

export const DEFAULT_FUSE_CONFIG: Readonly<Omit<FuseConfig, 'mountPoint'>> = {
  createMountPoint: true,
  mgmtdNode: 1,
  mgmtdName: 'mgmtd',
  metaNodes: null,
  maxWriteBytes: 1024 * 1024,
  maxInFlight: 256,
  readsPerQueue: 8,
  attrTimeoutMs: 30_000,
  entryTimeoutMs: 30_000,
  negativeTimeoutMs: 1_000,
  symlinkTimeoutMs: 5_000,
  allowOther: true,
  defaultPermissions: true,
  revalidateIntervalMs: 1_000,
  revalidateBatch: 256,
  revalidateEntriesMax: 65_536,
  lockWaitersMax: 1024,
  lockRetryMs: 10,
  writeBufferBytes: 1024 * 1024,
  readAheadBytes: 4 * 1024 * 1024,
  kernelReadAheadBytes: 4 * 1024 * 1024,
  clusterId: 't3fs',
}

type Kind =
  | { kind: 'duration'; minMs: number; maxMs: number }
  | { kind: 'size'; min: number; max: number }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'ids' }
  | { kind: 'name' }
  | { kind: 'path' }

const KNOBS: Readonly<Record<keyof FuseConfig, { snake: string; type: Kind }>> = {
  mountPoint: { snake: 'mount_point', type: { kind: 'path' } },
  createMountPoint: { snake: 'create_mount_point', type: { kind: 'bool' } },
  mgmtdNode: { snake: 'mgmtd_node', type: { kind: 'int', min: 1, max: 0xffff } },
  mgmtdName: { snake: 'mgmtd_name', type: { kind: 'name' } },
  metaNodes: { snake: 'meta_nodes', type: { kind: 'ids' } },
  maxWriteBytes: { snake: 'max_write', type: { kind: 'size', min: 64 * 1024, max: 1024 * 1024 } },
  maxInFlight: { snake: 'max_in_flight', type: { kind: 'int', min: 1, max: 65_536 } },
  readsPerQueue: { snake: 'reads_per_queue', type: { kind: 'int', min: 1, max: 256 } },
  attrTimeoutMs: { snake: 'attr_timeout', type: { kind: 'duration', minMs: 0, maxMs: 86_400_000 } },
  entryTimeoutMs: { snake: 'entry_timeout', type: { kind: 'duration', minMs: 0, maxMs: 86_400_000 } },
  negativeTimeoutMs: { snake: 'negative_timeout', type: { kind: 'duration', minMs: 0, maxMs: 86_400_000 } },
  symlinkTimeoutMs: { snake: 'symlink_timeout', type: { kind: 'duration', minMs: 0, maxMs: 86_400_000 } },
  allowOther: { snake: 'allow_other', type: { kind: 'bool' } },
  defaultPermissions: { snake: 'default_permissions', type: { kind: 'bool' } },
  revalidateIntervalMs: { snake: 'revalidate_interval', type: { kind: 'duration', minMs: 0, maxMs: 3_600_000 } },
  revalidateBatch: { snake: 'revalidate_batch', type: { kind: 'int', min: 1, max: 4096 } },
  revalidateEntriesMax: { snake: 'revalidate_entries_max', type: { kind: 'int', min: 16, max: 1 << 22 } },
  lockWaitersMax: { snake: 'lock_waiters_max', type: { kind: 'int', min: 1, max: 65_536 } },
  lockRetryMs: { snake: 'lock_retry', type: { kind: 'duration', minMs: 1, maxMs: 1_000 } },
  writeBufferBytes: { snake: 'write_buffer_size', type: { kind: 'size', min: 0, max: 64 * 1024 * 1024 } },
  readAheadBytes: { snake: 'read_ahead_size', type: { kind: 'size', min: 0, max: 256 * 1024 * 1024 } },
  kernelReadAheadBytes: { snake: 'kernel_read_ahead', type: { kind: 'size', min: 0, max: 256 * 1024 * 1024 } },
  clusterId: { snake: 'cluster_id', type: { kind: 'name' } },
}

const BY_SNAKE = new Map(Object.entries(KNOBS).map(([camel, k]) => [k.snake, camel as keyof FuseConfig]))

function accepted(type: Kind): string {
  switch (type.kind) {
    case 'duration': return `a number of ms in [${type.minMs}, ${type.maxMs}] or ${DURATION_ACCEPTED}`
    case 'size': return `a number of bytes in [${type.min}, ${type.max}] or ${SIZE_ACCEPTED}`
    case 'int': return `an integer from ${type.min} to ${type.max}`
    case 'bool': return 'true or false'
    case 'ids': return 'a non-empty list of distinct node ids from 1 to 65535'
    case 'name': return 'a name of 1-128 letters, digits, ".", "_", "-"'
    case 'path': return 'a path of 1 to 4096 characters without NUL'
  }
}

function parse(type: Kind, value: unknown): unknown {
  switch (type.kind) {
    case 'duration': {
      const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDurationMs(value) : undefined
      return ms !== undefined && Number.isFinite(ms) && ms >= type.minMs && ms <= type.maxMs ? ms : undefined
    }
    case 'size': {
      const bytes = parseSizeBytes(value)
      return bytes !== undefined && bytes >= type.min && bytes <= type.max ? bytes : undefined
    }
    case 'int': return typeof value === 'number' && Number.isInteger(value) && value >= type.min && value <= type.max ? value : undefined
    case 'bool': return typeof value === 'boolean' ? value : undefined
    case 'ids':
      return Array.isArray(value) && value.length > 0 && value.every((v) => Number.isInteger(v) && v >= 1 && v <= 0xffff) && new Set(value).size === value.length ? [...(value as number[])] : undefined
    case 'name': return typeof value === 'string' && /^[A-Za-z0-9._-]{1,128}$/.test(value) ? value : undefined
    case 'path': return typeof value === 'string' && value.length >= 1 && value.length <= 4096 && !value.includes('\0') ? value : undefined
  }
}

/** Fills defaults and checks every knob; unknown keys are refused, naming the known ones. */
export function resolveFuseConfig(input: Readonly<Record<string, unknown>>): FuseConfig {
  const config: Record<string, unknown> = { ...DEFAULT_FUSE_CONFIG }
  for (const [given, value] of Object.entries(input)) {
    const key = BY_SNAKE.get(given) ?? (given in KNOBS ? (given as keyof FuseConfig) : undefined)
    if (key === undefined) throw invalidOption(`fuse.${given}`, value, `a known fuse option: ${Object.values(KNOBS).map((k) => k.snake).join(', ')}`)
    const parsed = parse(KNOBS[key].type, value)
    if (parsed === undefined) throw invalidOption(`fuse.${given}`, value, accepted(KNOBS[key].type))
    config[key] = parsed
  }
  if (config.mountPoint === undefined) throw invalidOption('fuse.mount_point', undefined, `${accepted(KNOBS.mountPoint.type)} (required)`)
  return config as unknown as FuseConfig
}
