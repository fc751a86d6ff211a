/**
 * The KVCache's coded errors and the checks of what a caller passes in: every refusal names the
 * field, the value and what is accepted, and nothing is written when a check fails.
 */
import { T3fsError } from '../../runtime/errors.ts'

export const KvCacheErrorCode = {
  /** A key that is not a string of 1 to 200 characters [A-Za-z0-9_.-] not starting with ".". */
  BAD_KEY: 'ERR_KVCACHE_BAD_KEY',
  /** A block that is not a non-empty Uint8Array of at most maxBlockBytes. */
  BAD_BLOCK: 'ERR_KVCACHE_BAD_BLOCK',
  /** A caller's buffer smaller than the stored block. */
  BUFFER_TOO_SMALL: 'ERR_KVCACHE_BUFFER_TOO_SMALL',
  /** The cache was closed. */
  CLOSED: 'ERR_KVCACHE_CLOSED',
} as const

/** Keys become file names: no "/", no leading "." (temporary files start with one), bounded length. */
export const keyPattern = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$/
const keyAccepted = 'a string of 1 to 200 characters from A-Z a-z 0-9 _ . - not starting with "." (e.g. the hex of a token-prefix hash)'

export function checkKey(field: string, key: unknown): string {
  if (typeof key !== 'string' || !keyPattern.test(key)) {
    const shown = typeof key === 'string' ? JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key) : String(key)
    throw new T3fsError(KvCacheErrorCode.BAD_KEY, `${field} ${shown} is not a valid KVCache key; accepted: ${keyAccepted}`, { field })
  }
  return key
}

export function checkBlock(block: unknown, maxBlockBytes: number): Uint8Array {
  if (!(block instanceof Uint8Array)) {
    throw new T3fsError(KvCacheErrorCode.BAD_BLOCK, `block is a ${typeof block}; accepted: a Uint8Array (or Buffer) of 1 to ${maxBlockBytes} bytes`, { field: 'block' })
  }
  if (block.length === 0 || block.length > maxBlockBytes) {
    throw new T3fsError(KvCacheErrorCode.BAD_BLOCK, `block has ${block.length} bytes; accepted: 1 to ${maxBlockBytes} bytes (maxBlockBytes, at most the capacity)`, { field: 'block', sizeBytes: block.length })
  }
  return block
}

export function closedError(): T3fsError {
  return new T3fsError(KvCacheErrorCode.CLOSED, 'the KVCache was closed; open a new one with openKvCache')
}

/** True for the FileClient's "the name exists" refusal. */
export function isExists(error: unknown): boolean {
  return error instanceof T3fsError && error.code === 'EEXIST'
}

/** True for the FileClient's "no such entry" refusal. */
export function isNotFound(error: unknown): boolean {
  return error instanceof T3fsError && error.code === 'ENOENT'
}
