/**
 * The client's own refusals, coded like meta's (the errno name as `code`, `details.errno`), so a
 * FUSE reply or a CLI treats them alike.
 */
import { T3fsError } from '../../runtime/errors.ts'
import { ERRNO, type Errno } from '../meta/index.ts'

export function errnoError(code: Errno, message: string, details: Record<string, unknown> = {}): T3fsError {
  return new T3fsError(code, `${code}: ${message}`, { ...details, errno: ERRNO[code] })
}

/** EINVAL naming the field, the value and what is accepted. */
export function badArgument(field: string, value: unknown, accepted: string): T3fsError {
  const shown = typeof value === 'bigint' ? `${value}n` : value instanceof Uint8Array ? `a ${value.constructor.name} of ${value.length} bytes` : JSON.stringify(value) ?? String(value)
  return errnoError('EINVAL', `${field} is ${shown}; accepted: ${accepted}`, { field, accepted })
}

export function clientClosed(): T3fsError {
  return new T3fsError('ERR_CLIENT_CLOSED', 'the FileClient was shut down; start a new one', {})
}

export function checkOffset(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw badArgument(field, value, 'a non-negative safe integer (bytes)')
  return value
}

export function checkPerm(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0o7777) throw badArgument(field, value, 'permission bits, an integer from 0 to 0o7777')
  return value
}
