/**
 * Checks shared by the operations that change a directory's entries (create, mkdir, symlink,
 * link, remove, rename): the directory still exists (nlink > 0), the caller may write and search
 * it, it is not immutable, and no other client holds its creation lock (lockDirectory).
 */
import { metaError } from '../errors.ts'
import type { DirectoryInode } from '../inode.ts'
import type { OpContext } from '../op-context.ts'
import type { DirRef } from '../path-resolve.ts'
import { checkAccess, checkNotImmutable, W_OK, X_OK } from '../permissions.ts'
import { inodeKey } from '../keys.ts'
import { directoryFrom } from '../store.ts'

/** Loads the directory with a read conflict (a concurrent removal makes this transaction retry) and checks it. */
export async function writableDirectory(ctx: OpContext, dir: DirRef): Promise<DirectoryInode> {
  const what = dir.path || '/'
  // Decoded through the directories' cache (the same bytes as the path walk just read, in the
  // common case): a create's batch decoded its directory's inode once per request.
  const inode = directoryFrom(dir.id, await ctx.tx.get(inodeKey(dir.id)), what)
  if (inode.nlink === 0) throw metaError('ENOENT', `directory ${what} was removed`, { path: what })
  checkAccess(inode.acl, ctx.user, W_OK | X_OK, what)
  checkNotImmutable(inode.acl, what)
  const lock = inode.dir.lock
  if (lock !== null && lock.clientId !== ctx.clientId) {
    throw metaError('EPERM', `directory ${what} is locked by client ${lock.clientId}`, { path: what, lockedBy: lock.clientId })
  }
  return inode
}

export function times(nowMs: number): { atimeMs: number; ctimeMs: number; mtimeMs: number } {
  return { atimeMs: nowMs, ctimeMs: nowMs, mtimeMs: nowMs }
}
