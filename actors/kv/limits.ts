/**
 * Named limits of the KV layer. The defaults follow FoundationDB's; a backend may lower some
 * (LMDB cannot store keys above 1978 bytes with its default page size).
 */
export interface KvLimits {
  /** Largest key, in bytes. */
  readonly maxKeyBytes: number
  /** Largest value, in bytes. */
  readonly maxValueBytes: number
  /** Mutations (keys + values + range ends) and conflict ranges of one transaction, in bytes. */
  readonly maxTxnBytes: number
  /** Age after which a read version is too old to read at or commit from, in milliseconds. */
  readonly maxTxnAgeMs: number
}

export const DEFAULT_MAX_KEY_BYTES = 10_000
export const DEFAULT_MAX_VALUE_BYTES = 100_000
export const DEFAULT_MAX_TXN_BYTES = 10_000_000
export const DEFAULT_MAX_TXN_AGE_MS = 5_000

export const DEFAULT_LIMITS: KvLimits = Object.freeze({
  maxKeyBytes: DEFAULT_MAX_KEY_BYTES,
  maxValueBytes: DEFAULT_MAX_VALUE_BYTES,
  maxTxnBytes: DEFAULT_MAX_TXN_BYTES,
  maxTxnAgeMs: DEFAULT_MAX_TXN_AGE_MS,
})

/** Fixed cost FDB charges per mutation or conflict range, on top of its bytes. */
export const PER_ENTRY_OVERHEAD_BYTES = 16

/** LMDB's key limit with the default page size is 1978 bytes; one goes to the prefix, one to range ends. */
export const LMDB_MAX_KEY_BYTES = 1976
export const LMDB_LIMITS: KvLimits = Object.freeze({ ...DEFAULT_LIMITS, maxKeyBytes: LMDB_MAX_KEY_BYTES })
