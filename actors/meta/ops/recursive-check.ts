/**
 * Before a recursive remove (or a move to trash) hands a whole tree to GC, a non-root caller must
 * be able to remove everything in it: read, write and search permission on every directory, the
 * sticky rule on every entry. Checked breadth first on a snapshot for up to
 * `recursiveRemoveCheckLimit` entries (3FS: 1024); beyond that GC checks the rest as the user the
 * GC entry records, and moves what that user may not remove aside.
 */
import type { Acl, DirectoryInode } from '../inode.ts'
import type { OpContext } from '../op-context.ts'
import { checkAccess, checkSticky, isRoot, R_OK, W_OK, X_OK } from '../permissions.ts'
import { listEntries } from '../store.ts'

export async function checkRemovableTree(ctx: OpContext, root: DirectoryInode, path: string): Promise<void> {
  if (isRoot(ctx.user)) return
  let budget = ctx.server.config.recursiveRemoveCheckLimit
  const queue: { id: number; acl: Acl; path: string }[] = [{ id: root.id, acl: root.acl, path }]
  while (queue.length > 0 && budget > 0) {
    const dir = queue.shift() as (typeof queue)[number]
    checkAccess(dir.acl, ctx.user, R_OK | W_OK | X_OK, dir.path)
    const entries = await listEntries(ctx.tx.snapshot, dir.id, undefined, budget)
    budget -= entries.length
    for (const e of entries) {
      const childPath = `${dir.path}/${e.name}`
      if (e.type === 'directory' && e.dirAcl !== null) {
        checkSticky(dir.acl, e.dirAcl.uid, ctx.user, childPath)
        queue.push({ id: e.id, acl: e.dirAcl, path: childPath })
      }
    }
  }
}
