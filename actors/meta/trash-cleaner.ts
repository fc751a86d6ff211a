/**
 * The trash cleaner (reference/3fs.md §2.6; 3FS's trash_cleaner): every entry under
 * /trash/<uid>/ whose name starts with an expiry that has passed is removed recursively (as
 * root) into GC. Entries without an expiry prefix are left alone.
 */
import type { Kv } from '../kv/index.ts'
import { removeEntry } from './gc-entry.ts'
import { ROOT_INODE } from './inode.ts'
import { opContext, type ServerServices } from './op-context.ts'
import { TRASH_NAME, trashExpiry } from './ops/trash.ts'
import { getEntry, getInode, listEntries } from './store.ts'

/** Entries looked at per user directory per round. */
export const TRASH_PAGE = 1024

export async function cleanTrash(kv: Kv, services: ServerServices, nowMs: number, timeoutMs: number): Promise<number> {
  const users = await kv.transact(async (tx) => {
    const trash = await getEntry(tx.snapshot, ROOT_INODE, TRASH_NAME)
    return trash === null || trash.type !== 'directory' ? [] : listEntries(tx.snapshot, trash.id, undefined, TRASH_PAGE)
  }, { timeoutMs })
  let removed = 0
  for (const user of users.filter((u) => u.type === 'directory')) {
    const entries = await kv.transact((tx) => listEntries(tx.snapshot, user.id, undefined, TRASH_PAGE), { timeoutMs })
    for (const entry of entries) {
      const expiry = trashExpiry(entry.name)
      if (expiry === null || expiry > nowMs) continue
      const gone = await kv.transact(async (tx) => {
        const current = await getEntry(tx, entry.parent, entry.name)
        const inode = current === null ? null : await getInode(tx, current.id)
        if (current === null || inode === null) return false
        const ctx = opContext(tx, true, { user: { uid: 0, gid: 0 }, clientId: `meta-trash-${services.serverId}`, requestId: `trash-${entry.id}`, nowMs, server: services })
        await removeEntry(ctx, current, inode, { uid: 0, origPath: `/${TRASH_NAME}/${user.name}/${entry.name}` })
        return true
      }, { timeoutMs })
      if (gone) removed++
    }
  }
  return removed
}
