/**
 * The transactional KV interface, after FoundationDB's: ordered byte keys, serializable
 * transactions with optimistic concurrency, snapshot reads, explicit conflict ranges, atomic adds
 * and versionstamps. mgmtd and meta persist through this interface only; the backend (memory, lmdb,
 * fdb) is chosen by `openKv`. Concurrent commits share durable writes (group commit, see index.ts)
 * with the same outcome as committing one after another.
 */
import type { KvLimits } from './limits.ts'

export type { KvLimits } from './limits.ts'
export { int64le, readInt64le, VERSIONSTAMP_BYTES } from './mutation.ts'
export { keyAfter, prefixEnd, compareBytes } from './bytes.ts'

export type BackendName = 'memory' | 'lmdb' | 'fdb'

export interface KeyValue {
  readonly key: Buffer
  readonly value: Buffer
}

export interface RangeOptions {
  /** At most this many pairs (a positive integer); unlimited when absent. */
  limit?: number
  /** Walk from the end of the range backwards. */
  reverse?: boolean
}

/** Reads. On a transaction they add read conflicts; on `tx.snapshot` they add none. */
export interface ReadView {
  get(key: Uint8Array): Promise<Buffer | undefined>
  /** Pairs with begin <= key < end, in key order (or reverse). */
  getRange(begin: Uint8Array, end: Uint8Array, options?: RangeOptions): Promise<KeyValue[]>
}

export interface Transaction extends ReadView {
  /** The same reads, without read conflicts (FDB's snapshot reads). Read-your-writes still applies. */
  readonly snapshot: ReadView
  /** The version all reads of this transaction observe. */
  getReadVersion(): Promise<bigint>

  addReadConflictRange(begin: Uint8Array, end: Uint8Array): void
  addReadConflictKey(key: Uint8Array): void
  addWriteConflictRange(begin: Uint8Array, end: Uint8Array): void
  addWriteConflictKey(key: Uint8Array): void

  set(key: Uint8Array, value: Uint8Array): void
  clear(key: Uint8Array): void
  /** Clears every key with begin <= key < end. */
  clearRange(begin: Uint8Array, end: Uint8Array): void
  /**
   * Atomic little-endian add (FDB ADD), applied at commit without a read conflict. A bigint is
   * sent as a signed 64-bit operand (see `int64le`/`readInt64le`).
   */
  add(key: Uint8Array, delta: Uint8Array | bigint): void
  /** Sets a key whose bytes [offset, offset+10) are replaced by the commit's versionstamp. */
  setVersionstampedKey(key: Uint8Array, offset: number, value: Uint8Array): void
  /** Sets a value whose bytes [offset, offset+10) are replaced by the commit's versionstamp. */
  setVersionstampedValue(key: Uint8Array, value: Uint8Array, offset?: number): void

  /**
   * The 10-byte versionstamp of this attempt, once it commits. Wrapped in an object so returning
   * it from the transaction function does not wait on the commit (which waits on the function).
   * Rejects with ERR_NO_VERSIONSTAMP for a read-only attempt, or with the attempt's error.
   */
  getVersionstamp(): { promise: Promise<Buffer> }
  /**
   * After a successful commit: its version; -1n for a read-only transaction (as in FDB). On memory
   * and lmdb every committed transaction has its own version, also within a group commit.
   */
  getCommittedVersion(): bigint
}

export interface TransactOptions {
  /** Retries after the first attempt, for retryable errors (default 100; 0 = no retry). */
  maxRetries?: number
  /** Whole-call budget including backoff, in ms (default 60000). */
  timeoutMs?: number
  /** First backoff in ms (default 5); doubles per retry with jitter. */
  initialBackoffMs?: number
  /** Backoff ceiling in ms (default 1000). */
  maxBackoffMs?: number
}

export interface TransactInfo {
  /** Attempts made, including the successful one. */
  attempts: number
  committedVersion: bigint
}

/** Synchronous point reads at one consistent snapshot (see Kv.readSnapshot). */
export interface SnapshotReader {
  /** The version every read of this snapshot observes. */
  readonly readVersion: bigint
  get(key: Uint8Array): Buffer | undefined
}

export interface Kv {
  readonly backend: BackendName
  readonly limits: KvLimits
  /**
   * Local backends (memory, lmdb) only: runs `fn` synchronously over a consistent snapshot of the
   * latest committed version, then releases it — the same reads a read-only transaction's
   * `tx.snapshot` makes, without its attempt, retry loop, promises or commit. For work that only
   * reads a few keys (a stat's path walk); `fn` must not keep the reader past its return.
   */
  readSnapshot?<T>(fn: (reader: SnapshotReader) => T): T
  /**
   * Runs `fn` in a transaction and commits it; on a retryable error (conflict, too old) runs it
   * again with backoff. `fn` may run more than once: keep side effects out of it. Non-retryable
   * errors, including anything `fn` throws, propagate untouched.
   */
  transact<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactOptions): Promise<T>
  /** `transact`, also reporting attempts and the committed version. */
  transactWithInfo<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactOptions): Promise<{ value: T; info: TransactInfo }>
  /** Retries counted over this handle's lifetime (for benchmarks and metrics). */
  readonly stats: KvStats
  close(): Promise<void>
}

export interface KvStats {
  commits: number
  retries: number
  conflicts: number
  tooOld: number
  /**
   * Group-commit batches this handle has written (memory, lmdb): one durable write each, so
   * commits / batches is the mean batch size. Absent on fdb, whose proxies batch out of sight.
   */
  readonly batches?: number
}
