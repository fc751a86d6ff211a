/**
 * The `fdb` backend: FoundationDB through the optional `foundationdb` npm package (which needs
 * the libfdb_c client library). Imported dynamically, so the rest of t3fs runs where it cannot
 * install; opening it there fails with ERR_KV_BACKEND_UNAVAILABLE and the loader's reason.
 *
 * FDB itself does the MVCC, conflict detection and versionstamps; this file maps our interface
 * onto a raw FDB transaction, maps FDB error codes onto ours, and keeps every key under an
 * optional prefix (a subspace), so tests and tenants can share a cluster.
 */
import { kvError, KvErrorCode } from './errors.ts'
import { AttemptBase } from './attempt-base.ts'
import type { KeyRange } from './key-ranges.ts'
import type { Kv, KeyValue, KvLimits, KvStats, RangeOptions, ReadView, Transaction, TransactInfo, TransactOptions } from './kv.ts'
import { checkRangeOptions } from './local-transaction.ts'
import { int64le, type Mutation } from './mutation.ts'
import { newStats, resolveRetryPolicy, runTransaction, type RetryPolicy } from './retry.ts'
import type { KvSources } from './sources.ts'

/** FDB MutationType codes used here. */
const MUTATION_ADD = 2
const MUTATION_SET_VERSIONSTAMPED_KEY = 14
const MUTATION_SET_VERSIONSTAMPED_VALUE = 15

/** The slice of the `foundationdb` package's API this backend uses. */
export interface FdbRawTransaction {
  get(key: Buffer): Promise<Buffer | undefined>
  getRangeAll(start: Buffer, end: Buffer, opts?: { limit?: number; reverse?: boolean }): Promise<Array<[Buffer, Buffer]>>
  snapshot(): FdbRawTransaction
  set(key: Buffer, value: Buffer): void
  clear(key: Buffer): void
  clearRange(start: Buffer, end: Buffer): void
  atomicOpNative(op: number, key: Buffer, param: Buffer): void
  addReadConflictRange(start: Buffer, end: Buffer): void
  addWriteConflictRange(start: Buffer, end: Buffer): void
  getReadVersion(): Promise<unknown>
  getCommittedVersion(): unknown
  getVersionstamp(): { promise: Promise<Buffer> }
  rawCommit(): Promise<void>
  rawCancel(): void
}
export interface FdbDatabase {
  rawCreateTransaction(): FdbRawTransaction
  close(): void
}
export interface FdbModule {
  setAPIVersion(version: number): void
  open(clusterFile?: string): FdbDatabase
}

export interface FdbKvOptions {
  clusterFile: string | undefined
  apiVersion: number
  limits: KvLimits
  sources: KvSources
  policy: RetryPolicy
  /** Every key is stored under this prefix (default none). */
  keyPrefix?: Uint8Array
  /** Use this module instead of importing `foundationdb` (tests drive the adapter with a fake). */
  fdbModule?: FdbModule
}

let loaded: Promise<FdbModule> | undefined

/** Loads the optional package once; rejects with ERR_KV_BACKEND_UNAVAILABLE and the reason. */
export function loadFdb(apiVersion: number): Promise<FdbModule> {
  loaded ??= (async () => {
    const name = 'foundationdb'
    let mod: { default?: FdbModule } & Partial<FdbModule>
    try {
      mod = (await import(name)) as { default?: FdbModule } & Partial<FdbModule>
    } catch (error) {
      throw kvError(KvErrorCode.BACKEND_UNAVAILABLE, `the fdb backend needs the optional 'foundationdb' package and the FoundationDB client library (libfdb_c): ${(error as Error).message}`, {}, error)
    }
    const fdb = (mod.default ?? mod) as FdbModule
    fdb.setAPIVersion(apiVersion)
    return fdb
  })()
  return loaded
}

export async function openFdbKv(options: FdbKvOptions): Promise<Kv> {
  const fdb = options.fdbModule ?? (await loadFdb(options.apiVersion))
  return new FdbKv(fdb.open(options.clusterFile), options)
}

class FdbKv implements Kv {
  readonly backend = 'fdb' as const
  readonly stats: KvStats = newStats()
  readonly limits: KvLimits
  private readonly prefix: Buffer
  private closed = false

  constructor(
    private readonly db: FdbDatabase,
    private readonly options: FdbKvOptions,
  ) {
    this.limits = options.limits
    this.prefix = Buffer.from(options.keyPrefix ?? [])
  }

  async transact<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactOptions): Promise<T> {
    return (await this.transactWithInfo(fn, options)).value
  }

  async transactWithInfo<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactOptions): Promise<{ value: T; info: TransactInfo }> {
    if (this.closed) throw kvError(KvErrorCode.KV_CLOSED, 'the fdb KV is closed')
    const policy = options === undefined ? this.options.policy : resolveRetryPolicy(options, this.options.policy)
    return runTransaction(() => new FdbAttempt(this.db.rawCreateTransaction(), this.limits, this.prefix), fn, policy, this.options.sources, this.stats)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }
}

class FdbAttempt extends AttemptBase {
  readonly snapshot: ReadView
  private wrote = false

  constructor(
    private readonly tn: FdbRawTransaction,
    limits: KvLimits,
    private readonly prefix: Buffer,
  ) {
    super(limits)
    const snap = tn.snapshot()
    this.snapshot = {
      get: (key) => this.getFrom(snap, key),
      getRange: (begin, end, options) => this.rangeFrom(snap, begin, end, options),
    }
  }

  get(key: Uint8Array): Promise<Buffer | undefined> {
    return this.getFrom(this.tn, key)
  }

  getRange(begin: Uint8Array, end: Uint8Array, options?: RangeOptions): Promise<KeyValue[]> {
    return this.rangeFrom(this.tn, begin, end, options)
  }

  async getReadVersion(): Promise<bigint> {
    this.checkOpen()
    return toVersion(await mapFdb(this.tn.getReadVersion()))
  }

  async commit(): Promise<void> {
    this.checkOpen()
    this.state = 'committing'
    const stamp = this.wrote ? this.tn.getVersionstamp().promise : undefined
    stamp?.catch(() => {})
    try {
      await mapFdb(this.tn.rawCommit())
      this.committedVersion = this.wrote ? toVersion(this.tn.getCommittedVersion()) : -1n
      this.state = 'committed'
      if (stamp === undefined) this.rejectStamp(kvError(KvErrorCode.NO_VERSIONSTAMP, 'a read-only transaction has no versionstamp'))
      else this.resolveStamp(await mapFdb(stamp))
    } catch (error) {
      this.state = 'done'
      this.rejectStamp(error)
      throw error
    }
  }

  override cancel(reason?: unknown): void {
    const wasOpen = this.state === 'open' || this.state === 'committing'
    super.cancel(reason)
    if (wasOpen) this.tn.rawCancel()
  }

  protected override recordMutation(m: Mutation): void {
    this.wrote = true
    const p = (k: Buffer) => this.p(k)
    switch (m.type) {
      case 'set':
        return this.tn.set(p(m.key), m.value)
      case 'clear':
        return this.tn.clear(p(m.key))
      case 'clearRange':
        return this.tn.clearRange(p(m.begin), p(m.end))
      case 'add':
        return this.tn.atomicOpNative(MUTATION_ADD, p(m.key), m.param)
      case 'setVersionstampedKey':
        // API >= 520: the stamp offset rides as 4 little-endian bytes after the key.
        return this.tn.atomicOpNative(MUTATION_SET_VERSIONSTAMPED_KEY, Buffer.concat([p(m.key), u32le(m.offset + this.prefix.length)]), m.value)
      case 'setVersionstampedValue':
        return this.tn.atomicOpNative(MUTATION_SET_VERSIONSTAMPED_VALUE, p(m.key), Buffer.concat([m.value, u32le(m.offset)]))
    }
  }

  protected override recordReadConflict(range: KeyRange): void {
    this.tn.addReadConflictRange(this.p(range.begin), this.p(range.end))
  }

  protected override recordWriteConflict(range: KeyRange): void {
    this.wrote = true
    this.tn.addWriteConflictRange(this.p(range.begin), this.p(range.end))
  }

  protected override addParam(delta: Uint8Array | bigint): Buffer {
    return typeof delta === 'bigint' ? int64le(delta) : Buffer.from(delta)
  }

  private p(key: Buffer): Buffer {
    return this.prefix.length === 0 ? key : Buffer.concat([this.prefix, key])
  }

  private async getFrom(tn: FdbRawTransaction, key: Uint8Array): Promise<Buffer | undefined> {
    this.checkOpen()
    const k = this.checkKey(key, 'read')
    const v = await mapFdb(tn.get(this.p(k)))
    return v ?? undefined
  }

  private async rangeFrom(tn: FdbRawTransaction, begin: Uint8Array, end: Uint8Array, options: RangeOptions | undefined): Promise<KeyValue[]> {
    this.checkOpen()
    const [b, e] = this.checkRange(begin, end, 'read')
    const { limit, reverse } = checkRangeOptions(options)
    if (Buffer.compare(b, e) >= 0) return []
    const rows = await mapFdb(tn.getRangeAll(this.p(b), this.p(e), { limit: Number.isFinite(limit) ? limit : undefined, reverse }))
    return rows.map(([key, value]) => ({ key: key.subarray(this.prefix.length), value }))
  }
}

function u32le(n: number): Buffer {
  const out = Buffer.allocUnsafe(4)
  out.writeUInt32LE(n)
  return out
}

function toVersion(v: unknown): bigint {
  if (typeof v === 'bigint') return v
  if (typeof v === 'number') return BigInt(v)
  if (Buffer.isBuffer(v) && v.length === 8) return v.readBigInt64BE(0)
  throw kvError(KvErrorCode.CORRUPT, `unexpected FDB version representation: ${typeof v}`)
}

const FDB_CODES: Record<number, (typeof KvErrorCode)[keyof typeof KvErrorCode]> = {
  1007: KvErrorCode.TXN_TOO_OLD,
  1020: KvErrorCode.NOT_COMMITTED,
  1021: KvErrorCode.COMMIT_UNKNOWN_RESULT,
  1009: KvErrorCode.TRANSIENT, // future_version
  1031: KvErrorCode.TXN_TOO_OLD, // transaction_timed_out
  1037: KvErrorCode.TRANSIENT, // process_behind
  1038: KvErrorCode.TRANSIENT, // database_locked
  1213: KvErrorCode.TRANSIENT, // tag_throttled
  2101: KvErrorCode.TXN_TOO_LARGE,
  2102: KvErrorCode.KEY_TOO_LARGE,
  2103: KvErrorCode.VALUE_TOO_LARGE,
}

/** Awaits an FDB promise, turning FDBError codes into our coded errors. */
async function mapFdb<T>(p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (typeof code === 'number' && FDB_CODES[code] !== undefined) {
      throw kvError(FDB_CODES[code], `FoundationDB error ${code}: ${(error as Error).message}`, { fdbCode: code }, error)
    }
    throw error
  }
}
