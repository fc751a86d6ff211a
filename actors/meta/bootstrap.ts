/**
 * What a meta server makes sure of when it starts, in one transaction: the root directory (inode
 * 0, root's, 0755, with the configured layout), the hidden GC root (inode 1, 0700) and this
 * server's GC directory `GC-Node-<serverId>` under it. Idempotent: servers start concurrently.
 */
import type { Kv } from '../kv/index.ts'
import type { DirectoryInode, InodeId } from './inode.ts'
import { GC_ROOT_INODE, ROOT_INODE } from './inode.ts'
import type { Layout } from './layout.ts'
import { gcDirectoryName } from './gc-entry.ts'
import { getEntry, getInode, putEntry, putInode } from './store.ts'

function directory(id: InodeId, parent: InodeId, name: string, perm: number, layout: Layout, nowMs: number): DirectoryInode {
  return {
    id,
    type: 'directory',
    acl: { uid: 0, gid: 0, perm, iflags: 0 },
    nlink: 1,
    atimeMs: nowMs,
    ctimeMs: nowMs,
    mtimeMs: nowMs,
    dir: { parent, name, layout, chainAllocCounter: 0, lock: null },
  }
}

/** Returns the id of this server's GC directory. */
export async function bootstrap(kv: Kv, serverId: number, rootLayout: Layout, nowMs: number, newId: () => InodeId, timeoutMs: number): Promise<InodeId> {
  const gcName = gcDirectoryName(serverId)
  return kv.transact(
    async (tx) => {
      const [root, gcRoot, gcEntry] = await Promise.all([getInode(tx, ROOT_INODE), getInode(tx, GC_ROOT_INODE), getEntry(tx, GC_ROOT_INODE, gcName)])
      if (root === null) putInode(tx, directory(ROOT_INODE, ROOT_INODE, '', 0o755, rootLayout, nowMs))
      if (gcRoot === null) putInode(tx, directory(GC_ROOT_INODE, GC_ROOT_INODE, '', 0o700, rootLayout, nowMs))
      if (gcEntry !== null) return gcEntry.id
      const gc = directory(newId(), GC_ROOT_INODE, gcName, 0o700, rootLayout, nowMs)
      putInode(tx, gc)
      putEntry(tx, { parent: GC_ROOT_INODE, name: gcName, id: gc.id, type: 'directory', dirAcl: gc.acl, uuid: `bootstrap-${serverId}`, gcInfo: null })
      return gc.id
    },
    { timeoutMs },
  )
}
