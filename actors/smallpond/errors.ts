/**
 * smallpond's operating errors. Every code is stable; every message names what was wrong and what
 * is accepted, so a user can fix the call without reading the source.
 */
import { T3fsError, describe, type ErrorDetails } from '../../runtime/errors.ts'

export const SmallpondErrorCode = {
  invalidArgument: 'ERR_SMALLPOND_INVALID_ARGUMENT',
  plan: 'ERR_SMALLPOND_PLAN',
  sql: 'ERR_SMALLPOND_SQL',
  /** DuckDB ran out of memory: retried with a doubled memory limit. */
  outOfMemory: 'ERR_SMALLPOND_OUT_OF_MEMORY',
  partitionKeyOutOfRange: 'ERR_SMALLPOND_PARTITION_KEY_OUT_OF_RANGE',
  fileNotFound: 'ERR_SMALLPOND_FILE_NOT_FOUND',
  unshippableFunction: 'ERR_SMALLPOND_UNSHIPPABLE_FUNCTION',
  userFunction: 'ERR_SMALLPOND_USER_FUNCTION',
  taskFailed: 'ERR_SMALLPOND_TASK_FAILED',
  injectedFault: 'ERR_SMALLPOND_INJECTED_FAULT',
  sessionClosed: 'ERR_SMALLPOND_SESSION_CLOSED',
  unsupportedType: 'ERR_SMALLPOND_UNSUPPORTED_TYPE',
} as const

export function invalidArgument(name: string, value: unknown, accepted: string): T3fsError {
  return new T3fsError(
    SmallpondErrorCode.invalidArgument,
    `smallpond: ${name} is ${describe(value)}; accepted: ${accepted}`,
    { argument: name, value: describe(value), accepted },
  )
}

export function smallpondError(code: string, message: string, details: ErrorDetails = {}, cause?: unknown): T3fsError {
  return new T3fsError(code, message, details, cause === undefined ? undefined : { cause })
}

export { T3fsError }
