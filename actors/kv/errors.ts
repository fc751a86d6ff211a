/**
 * KV error codes. Every failure a caller can cause or must handle is a T3fsError with one of these
 * codes; `details.retryable` says whether `transact` may run the transaction again.
 */
import { T3fsError, type ErrorDetails } from '../../runtime/errors.ts'

export const KvErrorCode = {
  /** Another transaction committed a write into this one's read conflict set (retryable). */
  NOT_COMMITTED: 'ERR_NOT_COMMITTED',
  /** The read version is older than the conflict/MVCC window (retryable: a new read version is taken). */
  TXN_TOO_OLD: 'ERR_TXN_TOO_OLD',
  /** The backend was briefly unable to commit; the outcome is unknown only for `fdb` (retryable). */
  COMMIT_UNKNOWN_RESULT: 'ERR_COMMIT_UNKNOWN_RESULT',
  /** Mutations + conflict ranges exceed the transaction size limit. */
  TXN_TOO_LARGE: 'ERR_TXN_TOO_LARGE',
  KEY_TOO_LARGE: 'ERR_KEY_TOO_LARGE',
  VALUE_TOO_LARGE: 'ERR_VALUE_TOO_LARGE',
  /** A key at or above 0xff (the system key space) or otherwise not a legal user key. */
  KEY_OUTSIDE_LEGAL_RANGE: 'ERR_KEY_OUTSIDE_LEGAL_RANGE',
  /** A transient backend condition FDB marks retryable (future_version, process_behind, throttled...). */
  TRANSIENT: 'ERR_KV_TRANSIENT',
  /** `transact` gave up after its retry limit (or its total timeout); `cause` holds the last error. */
  TXN_RETRY_LIMIT: 'ERR_TXN_RETRY_LIMIT',
  /** The transaction was used after commit/cancel, or the KV was closed. */
  TXN_CANCELLED: 'ERR_TXN_CANCELLED',
  KV_CLOSED: 'ERR_KV_CLOSED',
  /** Reading a key whose value is only known at commit (a versionstamped value). */
  ACCESSED_UNREADABLE: 'ERR_ACCESSED_UNREADABLE',
  /** The versionstamp of a read-only or failed transaction was asked for. */
  NO_VERSIONSTAMP: 'ERR_NO_VERSIONSTAMP',
  /** A key, value, range or offset of the wrong type or shape. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** Malformed tuple bytes or a value the tuple encoding does not accept. */
  TUPLE_INVALID: 'ERR_TUPLE_INVALID',
  /** A backend that cannot run here (e.g. fdb without libfdb_c). */
  BACKEND_UNAVAILABLE: 'ERR_KV_BACKEND_UNAVAILABLE',
  /** Stored data that does not decode: a corrupt or foreign environment. */
  CORRUPT: 'ERR_KV_CORRUPT',
} as const

export type KvErrorCodeValue = (typeof KvErrorCode)[keyof typeof KvErrorCode]

const retryableCodes: ReadonlySet<string> = new Set([
  KvErrorCode.NOT_COMMITTED,
  KvErrorCode.TXN_TOO_OLD,
  KvErrorCode.COMMIT_UNKNOWN_RESULT,
  KvErrorCode.TRANSIENT,
])

export function kvError(code: KvErrorCodeValue, message: string, details: ErrorDetails = {}, cause?: unknown): T3fsError {
  return new T3fsError(code, message, { ...details, retryable: retryableCodes.has(code) }, cause === undefined ? undefined : { cause })
}

/** True for the errors `transact` retries: conflicts, too-old read versions, unknown commit results. */
export function isRetryableKvError(error: unknown): boolean {
  return error instanceof T3fsError && retryableCodes.has(error.code)
}
