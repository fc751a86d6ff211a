/** Kernel errors from the ring (or from node:fs), restated as disk errors that name the disk path. */
import { T3fsError } from '../errors.ts'
import { diskError } from './disk-path.ts'

/**
 * An errno failure of `op` on disk path `path` becomes `diskError(code, ...)` (same code, a message
 * naming the operation, the disk-relative path and the disk); anything else (ERR_INVALID_ARG,
 * ERR_URING_BUSY, ...) passes unchanged.
 */
export function kernelError(error: unknown, op: string, path: string, disk: string): unknown {
  const code = errnoCode(error)
  if (code === null) return error
  const message = error instanceof Error ? error.message : String(error)
  // The native message reads "ENOENT: open a/b: No such file or directory"; keep the last part.
  const text = message.slice(message.lastIndexOf(': ') + 2)
  const errno = error instanceof T3fsError ? error.details.errno : (error as { errno?: unknown }).errno
  const wrapped = diskError(code, `${op} ${JSON.stringify(path)} on disk ${disk}: ${text}`, { op, path, disk, errno })
  Object.defineProperty(wrapped, 'cause', { value: error, enumerable: false, writable: true, configurable: true })
  return wrapped
}

/** 'ENOENT' and friends, from a native T3fsError (details.errno) or a node:fs error (code + errno). */
function errnoCode(error: unknown): string | null {
  if (error instanceof T3fsError) return typeof error.details.errno === 'number' ? error.code : null
  if (error instanceof Error) {
    const { code, errno } = error as { code?: unknown; errno?: unknown }
    if (typeof code === 'string' && typeof errno === 'number') return code
  }
  return null
}
