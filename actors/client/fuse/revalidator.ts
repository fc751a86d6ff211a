/**
 * Tells the kernel about changes other clients made. Meta pushes no change events, so the mount
 * checks what the kernel holds: each round takes the next `revalidate_batch` nodes of the inode
 * table (round robin), stats them and the names they were looked up by in two meta batches, and
 * notifies the kernel of every difference: INVAL_INODE for changed attributes (and its page cache,
 * when the length or mtime moved), INVAL_ENTRY for a name that now leads elsewhere or nowhere.
 * Files this mount has open for writing are its own business and skipped. Once closed, what this
 * mount wrote through the kernel moves the length and mtime, but the kernel's pages of it are the
 * written bytes: only its attributes are invalidated then (dropping up to a whole checkpoint's
 * pages per file cost the mount ~11% of its CPU while writing files one after another).
 *
 * So a change by another client shows within one pass over the table (one round when the kernel
 * holds at most a batch of nodes), and never later than the attribute and entry timeouts.
 */
import type { FuseDevice } from '../../../runtime/fuse-device.ts'
import type { Inode } from '../../meta/index.ts'
import { inodeOf } from './attrs.ts'
import { sameAttrs, type AttrSnapshot, type NameRef } from './inode-table.ts'
import { encodeInvalEntry, encodeInvalInode } from './kernel-protocol.ts'
import type { FuseSession } from './session.ts'

export interface RevalidateRound {
  checked: number
  invalidatedInodes: number
  invalidatedEntries: number
}

function snapshotOfInode(inode: Inode): AttrSnapshot {
  const sizeBytes = inode.type === 'file' ? inode.file.length : inode.type === 'symlink' ? Buffer.byteLength(inode.symlink.target) : 0
  return { type: inode.type, sizeBytes, mtimeMs: inode.mtimeMs, ctimeMs: inode.ctimeMs, perm: inode.acl.perm, uid: inode.acl.uid, gid: inode.acl.gid, nlink: inode.nlink }
}

/** One round; `revalidations` counts the rounds that checked their batch (a failed one did not). */
export async function revalidate(s: FuseSession, dev: FuseDevice): Promise<RevalidateRound> {
  const round = await revalidateBatch(s, dev)
  s.counters.revalidations++
  return round
}

async function revalidateBatch(s: FuseSession, dev: FuseDevice): Promise<RevalidateRound> {
  const batch = s.table.nextBatch(s.config.revalidateBatch).filter((b) => !s.handles.isWritten(b.nodeid))
  const round: RevalidateRound = { checked: batch.length, invalidatedInodes: 0, invalidatedEntries: 0 }
  if (batch.length === 0) return round
  const names: Array<{ nodeid: bigint } & NameRef> = batch.flatMap((b) => b.names.map((n) => ({ nodeid: b.nodeid, ...n })))
  const [inodes, found] = await Promise.all([
    s.client.meta.request({ type: 'batch-stat', inodes: batch.map((b) => inodeOf(b.nodeid)) }),
    names.length === 0 ? Promise.resolve([]) : s.client.meta.request({ type: 'batch-stat-by-path', paths: names.map((n) => ({ path: n.name, at: inodeOf(n.parent) })), follow: false }),
  ])
  const notes: Array<{ bytes: Uint8Array; dropsPages: boolean }> = []
  batch.forEach((b, i) => {
    const inode = inodes[i]
    if (inode === null || inode === undefined) return
    const now = snapshotOfInode(inode)
    s.table.revalidated(b.nodeid, now)
    if (sameAttrs(now, b.attrs)) return
    // Only files have pages to drop: directories are not cached (no FOPEN_CACHE_DIR).
    const dataMoved = now.type === 'file' && !b.ownData && (now.sizeBytes !== b.attrs.sizeBytes || now.mtimeMs !== b.attrs.mtimeMs)
    notes.push({ bytes: note((out) => encodeInvalInode(out, b.nodeid, dataMoved ? 0n : -1n, 0n)), dropsPages: dataMoved })
    round.invalidatedInodes++
  })
  names.forEach((n, i) => {
    const result = found[i]
    if (result !== undefined && !('errno' in result) && inodeOf(n.nodeid) === result.id) return
    s.table.dropName(n.nodeid, n.parent, n.name)
    notes.push({ bytes: note((out) => encodeInvalEntry(out, n.parent, n.name)), dropsPages: false })
    round.invalidatedEntries++
  })
  for (const { bytes, dropsPages } of notes) {
    if (!(await dev.notify(bytes, bytes.byteLength))) continue
    s.counters.notifications++
    if (dropsPages) s.counters.pageCacheDrops++
  }
  return round
}

/** A notification in a buffer of its own (it is written off this thread, after this call returns). */
function note(encode: (out: Uint8Array) => number): Uint8Array {
  const scratch = new Uint8Array(4096 + 64)
  return scratch.slice(0, encode(scratch))
}
