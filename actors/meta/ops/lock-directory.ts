/**
 * lockDirectory (reference/3fs.md §1.3 #19): an advisory per-directory creation lock owned by one
 * client (FUSE exposes it as the xattr hf3fs.lock). While another client holds it, creating,
 * removing or renaming entries in the directory is refused with EPERM (ops/checks.ts).
 * try-lock: EBUSY when another client holds it; preempt-lock takes it over; unlock: only the
 * holder (EPERM otherwise); clear: root only.
 */
import { metaError } from '../errors.ts'
import type { DirectoryInode, InodeId } from '../inode.ts'
import type { OpContext } from '../op-context.ts'
import { checkAccess, isRoot, W_OK } from '../permissions.ts'
import type { DirLockAction } from '../protocol.ts'
import { mustGetDirectory, putInode } from '../store.ts'

export async function lockDirectoryOp(ctx: OpContext, req: { readonly inode: InodeId; readonly action: DirLockAction }): Promise<DirectoryInode> {
  const dir = await mustGetDirectory(ctx.tx, req.inode)
  const what = `directory inode ${dir.id}`
  if (dir.nlink === 0) throw metaError('ENOENT', `${what} was removed`, { inode: dir.id })
  checkAccess(dir.acl, ctx.user, W_OK, what)
  const held = dir.dir.lock
  let lock = held
  switch (req.action) {
    case 'try-lock':
      if (held !== null && held.clientId !== ctx.clientId) throw metaError('EBUSY', `${what} is locked by client ${held.clientId}`, { inode: dir.id, lockedBy: held.clientId })
      lock = { clientId: ctx.clientId }
      break
    case 'preempt-lock':
      lock = { clientId: ctx.clientId }
      break
    case 'unlock':
      if (held !== null && held.clientId !== ctx.clientId) throw metaError('EPERM', `${what} is locked by client ${held.clientId}, not by ${ctx.clientId}`, { inode: dir.id, lockedBy: held.clientId })
      lock = null
      break
    case 'clear':
      if (!isRoot(ctx.user)) throw metaError('EPERM', `only root may clear the lock of ${what}`, { inode: dir.id })
      lock = null
      break
  }
  if (lock === held || (lock !== null && held !== null && lock.clientId === held.clientId)) return dir
  const next: DirectoryInode = { ...dir, ctimeMs: ctx.nowMs, dir: { ...dir.dir, lock } }
  putInode(ctx.tx, next)
  return next
}
