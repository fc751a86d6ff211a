/**
 * close and sync of a file, applied by the inode's owner (reference/3fs.md §2.5): close removes
 * the write session; with updateLength both set the length — from the client's hint when it was
 * taken at the current truncateVer (the length only grows that way), else from the exact length
 * storage reports (queried before the transaction: storage-calls.ts), bumping truncateVer when the
 * file shrank or was truncated. mtime/atime come from the request (the time of the last write),
 * else mtime moves to now when the length changed.
 */
import { metaError } from '../errors.ts'
import type { Inode } from '../inode.ts'
import { sessionKey } from '../keys.ts'
import type { OpContext } from '../op-context.ts'
import type { LengthHint } from '../protocol.ts'

export interface LengthUpdate {
  readonly close: boolean
  readonly session?: string
  readonly updateLength: boolean
  readonly truncated?: boolean
  readonly lengthHint?: LengthHint
  readonly atimeMs?: number
  readonly mtimeMs?: number
}

/** True when the update cannot be decided from the hint: storage must say the exact length. */
export function needsExactLength(inode: Inode, u: LengthUpdate): boolean {
  if (!u.updateLength || inode.type !== 'file') return false
  return u.truncated === true || u.lengthHint === undefined || u.lengthHint.truncateVer !== inode.file.truncateVer
}

/**
 * The inode after the update; `exact` is storage's answer (null when not needed, or an error when
 * storage failed, which fails this request only). Clears the session key.
 */
export function applyLengthUpdate(ctx: OpContext, inode: Inode, u: LengthUpdate, exact: number | Error | null): Inode {
  if (u.updateLength && inode.type !== 'file') throw metaError('EISDIR', `inode ${inode.id} is not a file: it has no length`, { inode: inode.id })
  if (exact instanceof Error && needsExactLength(inode, u)) {
    throw metaError('EIO', `the exact length of inode ${inode.id} needs storage, which failed: ${exact.message}`, { inode: inode.id })
  }
  if (u.close && u.session !== undefined) ctx.tx.clear(sessionKey(inode.id, u.session))
  if (inode.type !== 'file') return inode
  let { length, truncateVer } = inode.file
  if (u.updateLength) {
    if (!needsExactLength(inode, u)) length = Math.max(length, (u.lengthHint as LengthHint).length)
    else if (typeof exact === 'number') {
      if (u.truncated === true || exact < length) truncateVer++
      length = exact
    }
  }
  const lengthChanged = length !== inode.file.length || truncateVer !== inode.file.truncateVer
  const mtimeMs = u.mtimeMs ?? (lengthChanged ? ctx.nowMs : inode.mtimeMs)
  const atimeMs = u.atimeMs ?? inode.atimeMs
  if (!lengthChanged && mtimeMs === inode.mtimeMs && atimeMs === inode.atimeMs) return inode
  return { ...inode, atimeMs, mtimeMs, ctimeMs: ctx.nowMs, file: { ...inode.file, length, truncateVer } }
}
