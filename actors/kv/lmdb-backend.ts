/**
 * The `lmdb` backend: the embedded default. Persistent, and safe across worker threads and
 * processes of one machine.
 *
 * - A transaction reads at a snapshot: an LMDB read transaction, whose stored version is the read
 *   version.
 * - Commits are grouped (group-commit.ts): the transactions that reach commit while a batch is
 *   being written go together in the next batch, one LMDB write transaction (LMDB serializes
 *   writers across threads and processes) written and synced by lmdb's writer thread. In it each
 *   member, in arrival order, has its read conflict ranges checked against the on-disk log of
 *   write ranges committed after its read version (earlier members of the batch included), and if
 *   they pass, its mutations applied and its write ranges appended to the log under its own new
 *   version; then the log is trimmed and the version record written. All of it is one atomic LMDB
 *   commit, so a crash leaves either the whole batch or nothing of it.
 * - The log is bounded by age (the 5 s window) and entry count; a read version older than the
 *   trimmed part (the horizon) fails with ERR_TXN_TOO_OLD and is retried.
 *
 * Key layout in the single LMDB database (binary keys, binary values):
 *   0x00 'V'            current version (u64 BE), then the horizon (u64 BE): all writes after
 *                       the horizon are in the log
 *   0x00 'L' + u64 BE   log entry of one commit: [f64 BE commit time ms][encoded ranges] (key-ranges.ts:
 *                       a point range is its key alone)
 *   0x01 + user key     user value
 */
import { open, type RootDatabase } from 'lmdb'
import { tooOld } from './conflict-history.ts'
import type { CommitRequest, EngineSnapshot, LocalEngine } from './engine.ts'
import { kvError, KvErrorCode } from './errors.ts'
import { decodeRanges, encodeRanges, rangesIntersect, type KeyRange } from './key-ranges.ts'
import type { KvLimits } from './limits.ts'
import { applyMutations, makeVersionstamp, stampedWriteRanges, type MutableStore } from './mutation.ts'
import type { Clock } from '../../runtime/clock.ts'
import { GroupCommitter, type CommitOutcome, type GroupCommitBounds } from './group-commit.ts'

export { LMDB_LIMITS, LMDB_MAX_KEY_BYTES } from './limits.ts'
/** Log entries removed per batch at most, so one batch never stalls on a long trim. */
const MAX_TRIM_PER_COMMIT = 256
/** Age-based trimming runs on every this-many-th version (a cursor per commit is not free). */
const TRIM_EVERY_VERSIONS = 16n
/** A conflict check this many versions back or fewer reads the log entries by key, not with a cursor. */
const CHECK_BY_GETS_MAX = 8n

const VERSION_KEY = Buffer.from([0x00, 0x56])
const LOG_PREFIX = Buffer.from([0x00, 0x4c])
const LOG_END = Buffer.from([0x00, 0x4d])
const DATA_PREFIX = 0x01

export interface LmdbEngineOptions {
  path: string
  limits: KvLimits
  /** Stamps conflict-log entries: milliseconds since the Unix epoch (see sources.ts). */
  clock: Clock
  historyEntries: number
  mapSizeBytes: number
  noSync: boolean
  groupCommit: GroupCommitBounds
}

export function openLmdbEngine(options: LmdbEngineOptions): LmdbEngine {
  return new LmdbEngine(options)
}

function dataKey(key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(key.length + 1)
  out[0] = DATA_PREFIX
  key.copy(out, 1)
  return out
}

function logKey(version: bigint): Buffer {
  const out = Buffer.allocUnsafe(10)
  LOG_PREFIX.copy(out, 0)
  out.writeBigUInt64BE(version, 2)
  return out
}

/** [version, horizon] from the 16-byte version record (an empty environment is at [0, 0]). */
function readVersions(buf: Buffer | undefined): [bigint, bigint] {
  if (buf === undefined) return [0n, 0n]
  if (buf.length !== 16) throw kvError(KvErrorCode.CORRUPT, `the stored version record has ${buf.length} bytes, expected 16 (not a t3fs kv environment?)`)
  return [buf.readBigUInt64BE(0), buf.readBigUInt64BE(8)]
}

function versionRecord(version: bigint, horizon: bigint): Buffer {
  const out = Buffer.allocUnsafe(16)
  out.writeBigUInt64BE(version, 0)
  out.writeBigUInt64BE(horizon, 8)
  return out
}

function conflict(readVersion: bigint, conflictVersion: bigint) {
  return kvError(KvErrorCode.NOT_COMMITTED, `transaction conflicts with the commit at version ${conflictVersion} (read version ${readVersion})`, { readVersion: String(readVersion), conflictVersion: String(conflictVersion) })
}

type ReadTxn = { done(): void }
/** lmdb's typings omit getBinary's options argument (it takes { transaction }). */
type GetBinaryAt = (key: Buffer, options: { transaction: ReadTxn }) => Buffer | undefined

/**
 * One LMDB read transaction. A class, not closures: a stat opens one per request, and each closure
 * made per call costs (more so under a loader that names functions).
 */
class LmdbSnapshot implements EngineSnapshot {
  private released = false
  private version: bigint | null = null
  private readonly at: { readonly transaction: ReadTxn }

  constructor(
    private readonly db: RootDatabase<Buffer, Buffer>,
    private readonly transaction: ReadTxn,
    private readonly checkOpen: () => void,
  ) {
    this.at = { transaction }
  }

  /**
   * Read on first use, in the same read transaction. Through lmdb's shared get buffer (no copy):
   * the version is decoded before anything else reads; meta's stats read it for every request.
   */
  get readVersion(): bigint {
    if (this.version === null) {
      if (this.released) throw kvError(KvErrorCode.TXN_CANCELLED, 'the snapshot was released before its read version was asked for')
      this.version = readVersions((this.db.getBinaryFast as unknown as GetBinaryAt).call(this.db, VERSION_KEY, this.at))[0]
    }
    return this.version
  }

  get(key: Buffer): Buffer | undefined {
    this.checkOpen()
    return this.getAt(dataKey(key)) ?? undefined
  }

  scan(begin: Buffer, end: Buffer, reverse: boolean, visit: (key: Buffer, value: Buffer) => boolean): void {
    this.checkOpen()
    const transaction = this.transaction
    const range = reverse
      ? { start: dataKey(end), end: dataKey(begin), reverse: true, exclusiveStart: true, inclusiveEnd: true, transaction }
      : { start: dataKey(begin), end: dataKey(end), transaction }
    for (const { key, value } of this.db.getRange(range as Parameters<RootDatabase<Buffer, Buffer>['getRange']>[0])) {
      if (!visit(Buffer.from(key.subarray(1)), value)) break
    }
  }

  release(): void {
    if (this.released) return
    this.released = true
    this.transaction.done()
  }

  /**
   * A copy the caller may keep. Not lmdb's getBinary: it copies with Uint8Array#slice, which gives
   * every value an ArrayBuffer of its own (an allocation outside the heap, and work for the GC);
   * a small Buffer.allocUnsafe comes out of Node's shared pool. A meta create reads some ten keys.
   */
  private getAt(key: Buffer): Buffer | undefined {
    const fast = (this.db.getBinaryFast as unknown as GetBinaryAt).call(this.db, key, this.at) as (Buffer & { isGlobal?: boolean }) | undefined
    if (fast === undefined) return undefined
    // lmdb's shared read buffer (reused by the next get), sized to this value by lmdb-js; anything
    // else (a view of a shared memory map) is copied as it is.
    if (fast.isGlobal !== true) return Buffer.from(fast)
    // Its `length` is redefined to the value's size over a larger array, which Buffer#copy takes
    // at its word: copy through a view of exactly the value.
    const size = (this.db as unknown as { lastSize: number }).lastSize
    const out = Buffer.allocUnsafe(size)
    out.set(new Uint8Array(fast.buffer, fast.byteOffset, size))
    return out
  }
}

export class LmdbEngine implements LocalEngine {
  readonly backend = 'lmdb' as const
  readonly limits: KvLimits
  private readonly db: RootDatabase<Buffer, Buffer>
  private readonly clock: Clock
  private readonly historyEntries: number
  private readonly committer: GroupCommitter
  private readonly store: MutableStore
  private closed = false

  constructor(options: LmdbEngineOptions) {
    this.limits = options.limits
    this.clock = options.clock
    this.historyEntries = options.historyEntries
    this.db = open<Buffer, Buffer>({
      path: options.path,
      keyEncoding: 'binary',
      encoding: 'binary',
      mapSize: options.mapSizeBytes,
      noSync: options.noSync,
      // lmdb's default on Linux makes an async commit visible before it is synced; without it a
      // batch is synced before it becomes visible, so nobody reads what a machine crash can lose.
      overlappingSync: false,
    })
    this.committer = new GroupCommitter((batch) => this.writeBatch(batch), options.groupCommit)
    this.store = this.makeWriteStore()
  }

  openSnapshot(): EngineSnapshot {
    this.checkOpen()
    // A fresh LMDB read transaction for every snapshot: lmdb-js hands out its current one while any
    // earlier snapshot still holds it, which would read from before commits acknowledged since
    // (another thread's, e.g. the other meta server's: a file it just created "did not exist").
    this.db.resetReadTxn()
    return new LmdbSnapshot(this.db, this.db.useReadTransaction() as unknown as ReadTxn, () => this.checkOpen())
  }

  commit(request: CommitRequest): Promise<bigint> {
    this.checkOpen()
    return this.committer.submit(request)
  }

  get batches(): number {
    return this.committer.batches
  }

  /**
   * One group commit: one LMDB write transaction, written and synced by lmdb's writer thread while
   * this thread keeps running (and queues the next batch). The callback runs on this thread once
   * the writer holds the lock; it is a child transaction so that a throw aborts all of the batch.
   */
  private async writeBatch(requests: readonly CommitRequest[]): Promise<CommitOutcome[]> {
    this.checkOpen()
    return this.db.childTransaction(() => this.applyBatch(requests))
  }

  /** Inside the write transaction: validate and apply each member in order, then log and version. */
  private applyBatch(requests: readonly CommitRequest[]): CommitOutcome[] {
    const db = this.db
    const [before, oldHorizon] = readVersions(db.getBinary(VERSION_KEY))
    const nowMs = this.clock.now()
    const header = Buffer.allocUnsafe(8)
    header.writeDoubleBE(nowMs)
    let current = before
    const outcomes: CommitOutcome[] = []
    for (const request of requests) {
      try {
        if (request.readVersion < oldHorizon) throw tooOld(request.readVersion, oldHorizon)
        // Nothing committed since the read version: nothing to conflict with (and no cursor).
        // The log holds the earlier members of this batch too: the transaction sees its own writes.
        if (request.readConflicts.length > 0 && request.readVersion < current) this.checkLog(request.readVersion, current, request.readConflicts)
      } catch (error) {
        outcomes.push({ error })
        continue
      }
      const version = current + 1n
      const stamp = makeVersionstamp(version)
      applyMutations(this.store, request.mutations, stamp)
      // The request's ranges come normalised (sorted); only versionstamped keys add ranges to sort in.
      const stamped = stampedWriteRanges(request.mutations, stamp)
      const ranges = stamped.length === 0 ? request.writeConflicts : [...request.writeConflicts, ...stamped].sort((a, b) => Buffer.compare(a.begin, b.begin))
      db.putSync(logKey(version), Buffer.concat([header, encodeRanges(ranges)]))
      current = version
      outcomes.push({ version })
    }
    if (current !== before) {
      const horizon = this.trimLog(current, before, oldHorizon, nowMs)
      db.putSync(VERSION_KEY, versionRecord(current, horizon))
    }
    return outcomes
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.committer.close()
    this.closed = true
    await this.db.close()
  }

  private checkOpen(): void {
    if (this.closed) throw kvError(KvErrorCode.KV_CLOSED, 'the lmdb KV is closed')
  }

  /** Throws NOT_COMMITTED when a commit in (readVersion, current] wrote what the request read. */
  private checkLog(readVersion: bigint, current: bigint, readConflicts: readonly KeyRange[]): void {
    // A few versions back (the usual case: the other meta server committed since): every version
    // has its entry (each applied member writes one; trimming stops at the horizon, and the read
    // version is not older), so point gets find them without a cursor. Else, or when one is
    // missing, the log is scanned.
    if (current - readVersion <= CHECK_BY_GETS_MAX) {
      let complete = true
      for (let v = readVersion + 1n; v <= current && complete; v++) {
        const value = this.db.getBinaryFast(logKey(v))
        if (value === undefined) complete = false
        else if (rangesIntersect(decodeRanges(value, 8), readConflicts)) throw conflict(readVersion, v)
      }
      if (complete) return
    }
    for (const { key, value } of this.db.getRange({ start: logKey(readVersion + 1n), end: LOG_END })) {
      if (rangesIntersect(decodeRanges(value, 8), readConflicts)) throw conflict(readVersion, key.readBigUInt64BE(2))
    }
  }

  /** Drops log entries older than the window or beyond the count bound; returns the new horizon. */
  private trimLog(version: bigint, before: bigint, horizon: bigint, nowMs: number): bigint {
    const overCount = version - horizon > BigInt(this.historyEntries)
    // Age-based trimming when the version crosses a multiple of TRIM_EVERY_VERSIONS (a batch may jump several).
    if (!overCount && version / TRIM_EVERY_VERSIONS === before / TRIM_EVERY_VERSIONS) return horizon
    const oldestAllowedMs = nowMs - this.limits.maxTxnAgeMs
    let trimmed = 0
    for (const { key, value } of this.db.getRange({ start: LOG_PREFIX, end: LOG_END })) {
      const entryVersion = key.readBigUInt64BE(2)
      const live = version - horizon
      const expired = value.readDoubleBE(0) < oldestAllowedMs
      if (entryVersion === version || (!expired && live <= BigInt(this.historyEntries)) || trimmed >= MAX_TRIM_PER_COMMIT) break
      this.db.removeSync(key)
      horizon = entryVersion
      trimmed++
    }
    return horizon
  }

  /** The store mutations are applied to inside a batch's write transaction (made once: closures per request cost). */
  private makeWriteStore(): MutableStore {
    const db = this.db
    return {
      get: (key) => db.getBinary(dataKey(key)) ?? undefined,
      put: (key, value) => void db.putSync(dataKey(key), value),
      del: (key) => void db.removeSync(dataKey(key)),
      delRange: (begin, end) => {
        const keys: Buffer[] = []
        for (const key of db.getKeys({ start: dataKey(begin), end: dataKey(end) })) keys.push(Buffer.from(key))
        for (const key of keys) db.removeSync(key)
      },
    }
  }
}
