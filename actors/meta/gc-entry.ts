/**
 * Removing a link and filing what is left for GC, inside the caller's transaction (reference/3fs.md
 * §2.6, GcManager::removeEntry): nlink goes down, the entry goes; an inode whose last link went is
 * kept with nlink 0 under a GC entry `<t>-<20-digit µs>-<inode hex>` in this server's GC
 * directory (t: d directory, S small file < 32 chunks, f medium, L large ≥ 128 chunks), so open
 * files keep working and stat of a deleted inode still answers. Symlinks and empty directories go
 * at once. The background GC (gc.ts) finishes the job.
 */
import type { DirEntry, GcInfo } from './dir-entry.ts'
import { GC_ROOT_INODE, type Inode, type InodeId } from './inode.ts'
import type { OpContext } from './op-context.ts'
import { clearEntry, clearInode, isEmptyDirectory, putEntry, putInode } from './store.ts'

export type GcKind = 'd' | 'S' | 'f' | 'L'

export function gcKindOf(inode: Inode): GcKind {
  if (inode.type === 'directory') return 'd'
  if (inode.type !== 'file') return 'S'
  const chunks = Math.ceil(inode.file.length / inode.file.layout.chunkSizeBytes)
  return chunks < 32 ? 'S' : chunks >= 128 ? 'L' : 'f'
}

export function gcEntryName(kind: GcKind, nowMs: number, inode: InodeId): string {
  const micros = BigInt(Math.max(0, Math.floor(nowMs * 1000)))
  return `${kind}-${micros.toString().padStart(20, '0')}-${inode.toString(16).padStart(16, '0')}`
}

export function parseGcEntryName(name: string): { kind: GcKind; atMs: number; inode: InodeId } | null {
  const m = /^([dSfL])-(\d{20})-([0-9a-f]{16})$/.exec(name)
  if (m === null) return null
  return { kind: m[1] as GcKind, atMs: Number(BigInt(m[2]) / 1000n), inode: Number.parseInt(m[3], 16) }
}

export const gcDirectoryName = (serverId: number): string => `GC-Node-${serverId}`

/** Files an unlinked inode (nlink now 0) under this server's GC directory. */
export function fileIntoGc(ctx: OpContext, inode: Inode, gcInfo: GcInfo | null): Inode {
  const name = gcEntryName(gcKindOf(inode), ctx.nowMs, inode.id)
  const parent = ctx.server.gcDirectory
  const filed: Inode = inode.type === 'directory' ? { ...inode, nlink: 0, ctimeMs: ctx.nowMs, dir: { ...inode.dir, parent, name } } : { ...inode, nlink: 0, ctimeMs: ctx.nowMs }
  putEntry(ctx.tx, { parent, name, id: inode.id, type: inode.type, dirAcl: inode.type === 'directory' ? inode.acl : null, uuid: ctx.requestId, gcInfo })
  putInode(ctx.tx, filed)
  return filed
}

/**
 * Removes the link `entry` to `inode` (already loaded, with a read conflict): clears the entry,
 * then drops nlink; a file at nlink 0 goes to GC, a symlink or an empty directory is deleted, a
 * non-empty directory (a recursive remove) goes to GC whole, recording who removed it and from where.
 */
export async function removeEntry(ctx: OpContext, entry: DirEntry, inode: Inode, gcInfo: GcInfo | null): Promise<void> {
  clearEntry(ctx.tx, entry.parent, entry.name)
  if (inode.type === 'directory') {
    if (await isEmptyDirectory(ctx.tx, inode.id)) clearInode(ctx.tx, inode.id)
    else fileIntoGc(ctx, inode, gcInfo)
    return
  }
  const nlink = inode.nlink - 1
  if (nlink > 0) {
    putInode(ctx.tx, { ...inode, nlink, ctimeMs: ctx.nowMs })
    return
  }
  if (inode.type === 'symlink') clearInode(ctx.tx, inode.id)
  else fileIntoGc(ctx, inode, gcInfo)
}

export const isGcTree = (id: InodeId, gcDirs: ReadonlySet<InodeId>): boolean => id === GC_ROOT_INODE || gcDirs.has(id)
