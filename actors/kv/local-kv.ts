/** The Kv handle over a LocalEngine (memory, lmdb): attempts + the shared retry driver; commits go through the engine's group commit. */
import { kvError, KvErrorCode } from './errors.ts'
import type { EngineSnapshot, LocalEngine } from './engine.ts'
import type { BackendName, Kv, KvLimits, KvStats, SnapshotReader, Transaction, TransactInfo, TransactOptions } from './kv.ts'
import { USER_KEYSPACE_END } from './attempt-base.ts'
import { LocalTransaction } from './local-transaction.ts'
import { newStats, resolveRetryPolicy, runTransaction, type RetryPolicy } from './retry.ts'
import type { KvSources } from './sources.ts'

export class LocalKv implements Kv {
  readonly stats: KvStats
  private closed = false

  constructor(
    private readonly engine: LocalEngine,
    private readonly sources: KvSources,
    private readonly defaultPolicy: RetryPolicy,
  ) {
    // A live view like the other counters (spread copies it too): the engine counts its batches.
    this.stats = Object.defineProperty(newStats(), 'batches', { get: () => engine.batches, enumerable: true })
  }

  get backend(): BackendName {
    return this.engine.backend
  }

  get limits(): KvLimits {
    return this.engine.limits
  }

  async transact<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactOptions): Promise<T> {
    return (await this.transactWithInfo(fn, options)).value
  }

  async transactWithInfo<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactOptions): Promise<{ value: T; info: TransactInfo }> {
    if (this.closed) throw kvError(KvErrorCode.KV_CLOSED, `the ${this.backend} KV is closed`)
    if (typeof fn !== 'function') throw kvError(KvErrorCode.INVALID_ARGUMENT, 'transact expects a function (tx) => result')
    const policy = options === undefined ? this.defaultPolicy : resolveRetryPolicy(options, this.defaultPolicy)
    return runTransaction(() => new LocalTransaction(this.engine, this.sources.clock), fn, policy, this.sources, this.stats)
  }

  readSnapshot<T>(fn: (reader: SnapshotReader) => T): T {
    if (this.closed) throw kvError(KvErrorCode.KV_CLOSED, `the ${this.backend} KV is closed`)
    const snap = this.engine.openSnapshot()
    try {
      return fn(new CheckedReader(snap, this.engine.limits.maxKeyBytes))
    } finally {
      snap.release()
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.engine.close()
  }
}

/** Reads keys checked as a transaction checks them (attempt-base.ts checkKey), without the copy: the engine only reads them. */
class CheckedReader implements SnapshotReader {
  constructor(
    private readonly snap: EngineSnapshot,
    private readonly maxKeyBytes: number,
  ) {}

  get readVersion(): bigint {
    return this.snap.readVersion
  }

  get(key: Uint8Array): Buffer | undefined {
    if (!(key instanceof Uint8Array)) throw kvError(KvErrorCode.INVALID_ARGUMENT, `a key must be a Uint8Array/Buffer, got ${typeof key}`)
    const max = this.maxKeyBytes
    if (key.length > max) throw kvError(KvErrorCode.KEY_TOO_LARGE, `key of ${key.length} bytes exceeds maxKeyBytes ${max}`, { bytes: key.length, limit: max })
    if (key.length > 0 && key[0] === USER_KEYSPACE_END[0]) {
      throw kvError(KvErrorCode.KEY_OUTSIDE_LEGAL_RANGE, `key ${Buffer.from(key).toString('hex')} is in the system key space (starts with 0xff); user keys are below 0xff`, { use: 'read' })
    }
    return this.snap.get(Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength))
  }
}
