/**
 * Public entry point of the KV layer: what mgmtd, meta and tools import.
 *
 * Group commit (memory and lmdb; additions only, every earlier call behaves as before):
 * - Commits are grouped: transactions that reach commit while a batch is being written share the
 *   next batch; a commit that finds none in flight is written at once. A batch is validated member
 *   by member in arrival order, against the recent-writes log and the members before it (a member
 *   that read what an earlier member wrote fails with ERR_NOT_COMMITTED and is retried, exactly
 *   as if they had committed one after the other), written as one LMDB transaction with one fsync
 *   (on lmdb's writer thread: the event loop keeps running), and each member is acknowledged with
 *   its own version (consecutive in arrival order; versionstamps follow) or failed with its own
 *   error. A crash keeps all or nothing of a batch.
 * - `openKv({ ..., groupCommit: { maxTxns?, maxBytes? } })` bounds a batch (defaults
 *   DEFAULT_GROUP_COMMIT_MAX_TXNS = 128 transactions, DEFAULT_GROUP_COMMIT_MAX_BYTES = 8 MiB counted
 *   as maxTxnBytes counts; a larger transaction goes alone; maxTxns 1 = one write per commit).
 *   At most GROUP_COMMIT_MAX_QUEUED (10000) commits wait; beyond that a commit fails with
 *   ERR_KV_TRANSIENT, which `transact` retries.
 * - memory only: `commitDelayMs` (default 0) simulates a batch's durable write on the clock, so a
 *   simulation forms batches as LMDB's fsync does.
 * - `kv.stats.batches`: batches this handle has written (commits / batches = mean batch size);
 *   absent on fdb, whose commit proxies batch out of a client's sight.
 * Explicit conflict ranges (addRead/WriteConflictRange/Key), versionstamped keys and values,
 * getVersionstamp and the commit version were already part of the interface (see kv.ts).
 */
export type {
  BackendName,
  KeyValue,
  Kv,
  KvLimits,
  KvStats,
  RangeOptions,
  ReadView,
  SnapshotReader,
  Transaction,
  TransactInfo,
  TransactOptions,
} from './kv.ts'
export { compareBytes, int64le, keyAfter, prefixEnd, readInt64le, VERSIONSTAMP_BYTES } from './kv.ts'
export { checkNodeKvSettings, openNodeKv, type NodeKvSettings } from './node-kv.ts'
export { openKv, BACKENDS, MAX_COMMIT_DELAY_MS, type OpenKvOptions, type MemoryKvOptions, type LmdbKvOptions, type FdbKvOptions } from './open-kv.ts'
export { pack, unpack, tupleRange, prefixRange, compareTuples, type Tuple, type TupleItem } from './tuple.ts'
export { KvErrorCode, isRetryableKvError, type KvErrorCodeValue } from './errors.ts'
export {
  DEFAULT_GROUP_COMMIT_MAX_BYTES,
  DEFAULT_GROUP_COMMIT_MAX_TXNS,
  GROUP_COMMIT_MAX_BYTES_LIMIT,
  GROUP_COMMIT_MAX_QUEUED,
  GROUP_COMMIT_MAX_TXNS_LIMIT,
  type GroupCommitOptions,
} from './group-commit.ts'
export { DEFAULT_LIMITS, DEFAULT_MAX_KEY_BYTES, DEFAULT_MAX_VALUE_BYTES, DEFAULT_MAX_TXN_BYTES, DEFAULT_MAX_TXN_AGE_MS, LMDB_LIMITS, LMDB_MAX_KEY_BYTES } from './limits.ts'
