import { T3fsError, describe } from '../errors.ts'

/**
 * A profile error names the file, the key (dotted, with array indices), the value and what is
 * accepted, in the message and in `details` (so a caller can show them its own way).
 */
export function profileError(file: string, key: string, value: unknown, accepted: string, problem?: string): T3fsError {
  const shown = problem ?? `is ${describe(value)}`
  return new T3fsError('ERR_PROFILE', `${file}: ${key} ${shown}; accepted: ${accepted}`, {
    file,
    key,
    value: describe(value),
    accepted,
  })
}
