/**
 * mkdirs (reference/3fs.md §2.4): create a directory, or with `recursive` every missing one on the
 * path (mkdir -p: an existing directory is then not an error). A new directory inherits its
 * parent's layout unless given one, records its parent and name (for rename's loop check and
 * getRealPath), and its entry carries its ACL so path walks need not load it.
 */
import { metaError, isErrno } from '../errors.ts'
import { INHERITED_IFLAGS, type DirectoryInode, type Inode } from '../inode.ts'
import { checkLayout, type Layout } from '../layout.ts'
import type { OpContext } from '../op-context.ts'
import { checkName, displayPath, resolvePath } from '../path-resolve.ts'
import { newEntryAcl } from '../permissions.ts'
import type { PathAt } from '../protocol.ts'
import { mustGetInode, putEntry, putInode } from '../store.ts'
import { times, writableDirectory } from './checks.ts'

export interface MkdirsRequest {
  readonly path: PathAt
  readonly perm: number
  readonly recursive: boolean
  readonly layout?: Layout
}

/** Components created at most by one mkdir -p (a path has at most 4096 bytes). */
const MAX_LEVELS = 2048

export async function mkdirsOp(ctx: OpContext, req: MkdirsRequest): Promise<Inode> {
  const layout = req.layout === undefined ? undefined : checkLayout(req.layout)
  return mkdirAt(ctx, req.path, req.perm, req.recursive, layout, 0)
}

async function mkdirAt(ctx: OpContext, path: PathAt, perm: number, recursive: boolean, layout: Layout | undefined, level: number): Promise<Inode> {
  let resolved
  try {
    resolved = await resolvePath(ctx, path, false)
  } catch (error) {
    const parentPath = dirname(path.path)
    if (!recursive || !isErrno(error, 'ENOENT') || parentPath === null || level >= MAX_LEVELS) throw error
    await mkdirAt(ctx, { ...path, path: parentPath }, perm, true, layout, level + 1)
    resolved = await resolvePath(ctx, path, false)
  }
  const what = displayPath(resolved)
  if (resolved.name === '' || resolved.entry !== null) {
    // mkdir -p accepts an existing directory, or a symlink to one; plain mkdir accepts neither.
    if (!recursive) throw metaError('EEXIST', `${what} exists`, { path: what })
    const target = resolved.entry?.type === 'symlink' ? await resolvePath(ctx, path, true) : resolved
    const id = target.name === '' ? target.parent.id : target.entry?.id
    const existing = id === undefined ? null : await mustGetInode(ctx.reads, id, what)
    if (existing !== null && existing.type === 'directory') return existing
    throw metaError('EEXIST', `${what} exists and is not a directory`, { path: what })
  }
  checkName(resolved.name)
  const parent = await writableDirectory(ctx, resolved.parent)
  const inode: DirectoryInode = {
    id: ctx.server.allocateInodeId(),
    type: 'directory',
    acl: newEntryAcl(ctx.user, perm, parent.acl, true, INHERITED_IFLAGS),
    nlink: 1,
    ...times(ctx.nowMs),
    dir: { parent: parent.id, name: resolved.name, layout: layout ?? parent.dir.layout, chainAllocCounter: 0, lock: null },
  }
  putInode(ctx.tx, inode)
  putEntry(ctx.tx, { parent: parent.id, name: resolved.name, id: inode.id, type: 'directory', dirAcl: inode.acl, uuid: ctx.requestId, gcInfo: null })
  return inode
}

/** The path without its last component; null when there is none to create. */
function dirname(path: string): string | null {
  const trimmed = path.replace(/\/+$/, '')
  const cut = trimmed.lastIndexOf('/')
  if (cut < 0) return null
  return cut === 0 ? null : trimmed.slice(0, cut)
}
