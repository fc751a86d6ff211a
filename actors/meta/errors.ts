/**
 * Every refusal of meta is a POSIX errno: a T3fsError whose `code` is the errno name (ENOENT,
 * EEXIST, ...) and whose details carry the number, the operation and the path or inode concerned,
 * so the FUSE actor can answer the kernel with `-errno` and a CLI can print a readable message.
 * (The native addon codes OS errors the same way.)
 */
import { T3fsError } from '../../runtime/errors.ts'

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EMLINK: 31,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOTSUP: 95,
  ESTALE: 116,
} as const

export type Errno = keyof typeof ERRNO

export interface MetaErrorDetails {
  readonly op?: string
  readonly path?: string
  readonly inode?: number
  readonly [key: string]: unknown
}

export function metaError(code: Errno, message: string, details: MetaErrorDetails = {}): T3fsError {
  return new T3fsError(code, `${code}: ${message}`, { ...details, errno: ERRNO[code] })
}

/** True for an errno refusal of meta (final: a client must not retry it). */
export function isErrno(error: unknown, code?: Errno): error is T3fsError {
  return error instanceof T3fsError && error.code in ERRNO && (code === undefined || error.code === code)
}
