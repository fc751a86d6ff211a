/**
 * rename (reference/3fs.md §2.4 Rename.cc): POSIX rename of files and directories. Both paths are
 * resolved at once (the last components not followed). A file may replace a file or symlink; a
 * directory may replace an empty directory; the replaced inode loses its link (GC). A directory
 * moved to another parent must not land inside itself: the loop check walks the destination's
 * ancestors through Directory.parent, reading each with a read conflict, so two concurrent renames
 * that would together make a cycle cannot both commit. A moved directory's inode records its new
 * parent and name. The destination entry records the request id.
 *
 * Order of refusals: src resolution, dst resolution; EINVAL for "/", "." or ".."; ENOENT (src);
 * renaming onto itself succeeds; EEXIST (noReplace); ENOTDIR / EISDIR / ENOTEMPTY by type;
 * EINVAL (into itself); then the directory checks (src parent, dst parent), sticky, immutable.
 */
import type { DirEntry } from '../dir-entry.ts'
import { metaError } from '../errors.ts'
import { GC_ROOT_INODE, isImmutable, ROOT_INODE, type Inode, type InodeId } from '../inode.ts'
import type { OpContext } from '../op-context.ts'
import { checkName, displayPath, resolvePath, type Resolved } from '../path-resolve.ts'
import { checkSticky } from '../permissions.ts'
import type { PathAt } from '../protocol.ts'
import { clearEntry, isEmptyDirectory, mustGetInode, putEntry, putInode } from '../store.ts'
import { removeEntry } from '../gc-entry.ts'
import { writableDirectory } from './checks.ts'
import { checkRemovableTree } from './recursive-check.ts'
import { settledPair } from './settled.ts'

export interface RenameRequest {
  readonly src: PathAt
  readonly dst: PathAt
  readonly noReplace?: boolean
}

export interface RenameResult {
  readonly inode: InodeId
  readonly replaced: InodeId | null
}

/** Ancestors walked by the loop check before the store is called corrupt. */
const MAX_DEPTH = 4096

export async function renameOp(ctx: OpContext, req: RenameRequest): Promise<RenameResult> {
  const [src, dst] = await settledPair(resolvePath(ctx, req.src, false), resolvePath(ctx, req.dst, false))
  return renameResolved(ctx, src, dst, { noReplace: req.noReplace === true, checkTree: false })
}

export async function renameResolved(ctx: OpContext, src: Resolved, dst: Resolved, opts: { noReplace: boolean; checkTree: boolean }): Promise<RenameResult> {
  const srcWhat = displayPath(src)
  const dstWhat = displayPath(dst)
  if (src.name === '' || dst.name === '') throw metaError('EINVAL', `cannot rename ${src.name === '' ? srcWhat : dstWhat}: it names "/", "." or ".."`, { path: src.name === '' ? srcWhat : dstWhat })
  const from = src.entry
  if (from === null) throw metaError('ENOENT', `${srcWhat} does not exist`, { path: srcWhat })
  const to = dst.entry
  if (src.parent.id === dst.parent.id && src.name === dst.name) return { inode: from.id, replaced: null }
  if (to !== null && to.id === from.id) return { inode: from.id, replaced: null }
  if (opts.noReplace && to !== null) throw metaError('EEXIST', `${dstWhat} exists (RENAME_NOREPLACE)`, { path: dstWhat })
  checkName(dst.name)
  if (to !== null) await checkReplace(ctx, from, to, dstWhat)
  if (from.type === 'directory' && src.parent.id !== dst.parent.id && !ctx.server.mutants.has('rename-no-loop-check')) {
    await checkNoLoop(ctx, from.id, dst.parent.id, srcWhat, dstWhat)
  }
  const [srcDir, dstDir] = await Promise.all([writableDirectory(ctx, src.parent), dst.parent.id === src.parent.id ? null : writableDirectory(ctx, dst.parent)])
  const inode = await mustGetInode(ctx.tx, from.id, srcWhat)
  checkSticky(srcDir.acl, inode.acl.uid, ctx.user, srcWhat)
  if (isImmutable(inode)) throw metaError('EPERM', `${srcWhat} is immutable`, { path: srcWhat })
  if (opts.checkTree && inode.type === 'directory') await checkRemovableTree(ctx, inode, srcWhat)
  const replaced = to === null ? null : await mustGetInode(ctx.tx, to.id, dstWhat)
  if (replaced !== null) {
    checkSticky((dstDir ?? srcDir).acl, replaced.acl.uid, ctx.user, dstWhat)
    if (isImmutable(replaced)) throw metaError('EPERM', `${dstWhat} is immutable`, { path: dstWhat })
    await removeEntry(ctx, to as DirEntry, replaced, { uid: ctx.user.uid, origPath: dstWhat })
  }
  writeMove(ctx, from, inode, dst)
  return { inode: inode.id, replaced: replaced?.id ?? null }
}

async function checkReplace(ctx: OpContext, from: DirEntry, to: DirEntry, dstWhat: string): Promise<void> {
  if (from.type === 'directory') {
    if (to.type !== 'directory') throw metaError('ENOTDIR', `${dstWhat} is not a directory (a directory can only replace one)`, { path: dstWhat })
    if (!(await isEmptyDirectory(ctx.tx, to.id))) throw metaError('ENOTEMPTY', `${dstWhat} is not empty`, { path: dstWhat })
  } else if (to.type === 'directory') {
    throw metaError('EISDIR', `${dstWhat} is a directory`, { path: dstWhat })
  }
}

/** EINVAL when `dir` is `target` or one of its ancestors; ENOENT when an ancestor is being removed. */
async function checkNoLoop(ctx: OpContext, dir: InodeId, target: InodeId, srcWhat: string, dstWhat: string): Promise<void> {
  let at = target
  for (let depth = 0; at !== ROOT_INODE; depth++) {
    if (at === dir) throw metaError('EINVAL', `cannot move ${srcWhat} into itself (${dstWhat})`, { path: dstWhat })
    if (at === GC_ROOT_INODE || depth >= MAX_DEPTH) throw metaError('ENOENT', `${dstWhat} is not under the root`, { path: dstWhat })
    const ancestor = await mustGetInode(ctx.tx, at)
    if (ancestor.type !== 'directory' || ancestor.nlink === 0) throw metaError('ENOENT', `an ancestor of ${dstWhat} was removed`, { path: dstWhat })
    at = ancestor.dir.parent
  }
}

function writeMove(ctx: OpContext, from: DirEntry, inode: Inode, dst: Resolved): void {
  clearEntry(ctx.tx, from.parent, from.name)
  putEntry(ctx.tx, { parent: dst.parent.id, name: dst.name, id: inode.id, type: inode.type, dirAcl: inode.type === 'directory' ? inode.acl : null, uuid: ctx.requestId, gcInfo: null })
  if (inode.type === 'directory') putInode(ctx.tx, { ...inode, ctimeMs: ctx.nowMs, dir: { ...inode.dir, parent: dst.parent.id, name: dst.name } })
  else putInode(ctx.tx, { ...inode, ctimeMs: ctx.nowMs })
}
