/**
 * hardLink (reference/3fs.md §2.4): a new entry for an existing non-directory inode, nlink + 1.
 * The two paths are resolved at once; the old path's refusal is reported first.
 */
import { metaError } from '../errors.ts'
import { isImmutable, type Inode } from '../inode.ts'
import type { OpContext } from '../op-context.ts'
import { checkName, displayPath, resolvePath } from '../path-resolve.ts'
import type { PathAt } from '../protocol.ts'
import { mustGetInode, putEntry, putInode } from '../store.ts'
import { writableDirectory } from './checks.ts'
import { settledPair } from './settled.ts'

/** Links per inode (3FS stores nlink as u16). */
export const MAX_LINKS = 65_535

export async function hardLinkOp(ctx: OpContext, req: { readonly oldPath: PathAt; readonly newPath: PathAt; readonly follow?: boolean }): Promise<Inode> {
  const [from, to] = await settledPair(resolvePath(ctx, req.oldPath, req.follow === true), resolvePath(ctx, req.newPath, false))
  const fromWhat = displayPath(from)
  if (from.name === '' || from.entry?.type === 'directory') throw metaError('EPERM', `${fromWhat} is a directory: directories cannot be hard-linked`, { path: fromWhat })
  if (from.entry === null) throw metaError('ENOENT', `${fromWhat} does not exist`, { path: fromWhat })
  const toWhat = displayPath(to)
  if (to.name === '' || to.entry !== null) throw metaError('EEXIST', `${toWhat} exists`, { path: toWhat })
  checkName(to.name)
  const parent = await writableDirectory(ctx, to.parent)
  const inode = await mustGetInode(ctx.tx, from.entry.id, fromWhat)
  if (inode.nlink === 0) throw metaError('ENOENT', `${fromWhat} was removed`, { path: fromWhat })
  if (isImmutable(inode)) throw metaError('EPERM', `${fromWhat} is immutable`, { path: fromWhat })
  if (inode.nlink >= MAX_LINKS) throw metaError('EMLINK', `${fromWhat} has ${inode.nlink} links already (at most ${MAX_LINKS})`, { path: fromWhat })
  const linked = { ...inode, nlink: inode.nlink + 1, ctimeMs: ctx.nowMs }
  putInode(ctx.tx, linked)
  putEntry(ctx.tx, { parent: parent.id, name: to.name, id: inode.id, type: inode.type, dirAcl: null, uuid: ctx.requestId, gcInfo: null })
  return linked
}
