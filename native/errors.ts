/**
 * Operating errors: coded classes that cross threads and processes intact. A leaf module (imports
 * nothing) so that native/ can throw them without importing runtime/; runtime/errors.ts re-exports
 * everything here unchanged.
 *
 * Programmer errors are plain assertions (node:assert) that crash the actor; everything a caller
 * can cause or must handle (bad input, a timeout, a dead peer, a full mailbox) is a T3fsError with
 * a stable `code`. `toWire`/`fromWire` carry it through the router, so a remote caller sees the
 * same class and code it would see locally.
 */

export type ErrorDetails = Readonly<Record<string, unknown>>

export class T3fsError extends Error {
  readonly code: string
  readonly details: ErrorDetails

  constructor(code: string, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'T3fsError'
    this.code = code
    this.details = details
  }

  toWire(): WireError {
    return { code: this.code, message: this.message, details: this.details }
  }
}

export interface WireError {
  code: string
  message: string
  details: ErrorDetails
}

export function fromWire(wire: WireError): T3fsError {
  return new T3fsError(wire.code, wire.message, wire.details)
}

/** Wraps any thrown value as a T3fsError, keeping codes that are already there. */
export function toT3fsError(error: unknown, fallbackCode = 'ERR_INTERNAL'): T3fsError {
  if (error instanceof T3fsError) return error
  if (error instanceof Error) {
    const errno = (error as { code?: unknown }).code
    const code = typeof errno === 'string' ? errno : fallbackCode
    return new T3fsError(code, error.message, {}, { cause: error })
  }
  return new T3fsError(fallbackCode, String(error))
}

export function isT3fsError(error: unknown, code?: string): error is T3fsError {
  return error instanceof T3fsError && (code === undefined || error.code === code)
}

/** Builds the "what was wrong, what is accepted" message every validation error carries. */
export function invalidOption(name: string, value: unknown, accepted: string): T3fsError {
  return new T3fsError(
    'ERR_INVALID_OPTION',
    `option ${name} is ${describe(value)}; accepted: ${accepted}`,
    { option: name, value: describe(value), accepted },
  )
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  if (value === undefined || value === null || typeof value !== 'object') return String(value)
  try {
    const text = JSON.stringify(value)
    return text.length > 80 ? `${text.slice(0, 77)}...` : text
  } catch {
    return Object.prototype.toString.call(value)
  }
}
