/**
 * remove (reference/3fs.md §2.4 Remove.cc): unlink a file or symlink, rmdir an empty directory,
 * or with `recursive` hand a whole tree to GC in one transaction (after the permission walk of
 * recursive-check.ts). The entry is not followed when it is a symlink. Refusals: ENOENT, EISDIR /
 * ENOTDIR against `checkType`, ENOTEMPTY, EACCES on the directory, EPERM for the sticky rule, an
 * immutable inode or directory, or another client's directory lock; EBUSY for the root.
 */
import { metaError } from '../errors.ts'
import { isImmutable } from '../inode.ts'
import type { OpContext } from '../op-context.ts'
import { displayPath, resolvePath } from '../path-resolve.ts'
import { checkSticky } from '../permissions.ts'
import type { PathAt } from '../protocol.ts'
import { clearEntry, clearInode, isEmptyDirectory, mustGetInode } from '../store.ts'
import { removeEntry } from '../gc-entry.ts'
import { writableDirectory } from './checks.ts'
import { checkRemovableTree } from './recursive-check.ts'

export interface RemoveRequest {
  readonly path: PathAt
  readonly recursive: boolean
  readonly checkType?: 'file' | 'directory'
}

export async function removeOp(ctx: OpContext, req: RemoveRequest): Promise<{ removed: number }> {
  const resolved = await resolvePath(ctx, req.path, false)
  const what = displayPath(resolved)
  if (resolved.name === '') {
    throw resolved.parent.id === 0 ? metaError('EBUSY', 'the root directory cannot be removed', { path: '/' }) : metaError('EINVAL', `${what}: cannot remove "." or ".."`, { path: what })
  }
  const entry = resolved.entry
  if (entry === null) throw metaError('ENOENT', `${what} does not exist`, { path: what })
  if (req.checkType === 'file' && entry.type === 'directory') throw metaError('EISDIR', `${what} is a directory`, { path: what })
  if (req.checkType === 'directory' && entry.type !== 'directory') throw metaError('ENOTDIR', `${what} is not a directory`, { path: what })
  const parent = await writableDirectory(ctx, resolved.parent)
  const inode = await mustGetInode(ctx.tx, entry.id, what)
  checkSticky(parent.acl, inode.acl.uid, ctx.user, what)
  if (isImmutable(inode)) throw metaError('EPERM', `${what} is immutable`, { path: what })
  if (inode.type === 'directory' && !(await isEmptyDirectory(ctx.tx, inode.id))) {
    if (ctx.server.mutants.has('remove-nonempty-dir') && !req.recursive) {
      // Deliberate bug for the simulation suite: the entries of the directory are orphaned.
      clearEntry(ctx.tx, entry.parent, entry.name)
      clearInode(ctx.tx, inode.id)
      return { removed: inode.id }
    }
    if (!req.recursive) throw metaError('ENOTEMPTY', `${what} is not empty`, { path: what })
    await checkRemovableTree(ctx, inode, what)
  }
  await removeEntry(ctx, entry, inode, { uid: ctx.user.uid, origPath: what })
  return { removed: inode.id }
}
