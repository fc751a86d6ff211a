/** Public entry point of the KV layer: what mgmtd, meta and tools import. */
export type {
  BackendName,
  KeyValue,
  Kv,
  KvLimits,
  KvStats,
  RangeOptions,
  ReadView,
  Transaction,
  TransactInfo,
  TransactOptions,
} from './kv.ts'
export { compareBytes, int64le, keyAfter, prefixEnd, readInt64le, VERSIONSTAMP_BYTES } from './kv.ts'
export { checkNodeKvSettings, openNodeKv, type NodeKvSettings } from './node-kv.ts'
export { openKv, BACKENDS, type OpenKvOptions, type MemoryKvOptions, type LmdbKvOptions, type FdbKvOptions } from './open-kv.ts'
export { pack, unpack, tupleRange, prefixRange, compareTuples, type Tuple, type TupleItem } from './tuple.ts'
export { KvErrorCode, isRetryableKvError, type KvErrorCodeValue } from './errors.ts'
export { DEFAULT_LIMITS, DEFAULT_MAX_KEY_BYTES, DEFAULT_MAX_VALUE_BYTES, DEFAULT_MAX_TXN_BYTES, DEFAULT_MAX_TXN_AGE_MS, LMDB_LIMITS, LMDB_MAX_KEY_BYTES } from './limits.ts'
