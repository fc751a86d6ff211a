/**
 * stat, batchStat, batchStatByPath, getRealPath (reference/3fs.md §2.4): read-only. A deleted
 * inode that is still open (nlink 0, in GC) answers stat by id; a path that names a directory
 * itself ("/", "a/..") gives that directory.
 */
import { isErrno, metaError } from '../errors.ts'
import { GC_ROOT_INODE, ROOT_INODE, type Inode, type InodeId } from '../inode.ts'
import type { OpContext } from '../op-context.ts'
import { displayPath, resolvePath, resolveReading, type ResolveContext } from '../path-resolve.ts'
import { runAsync, type Reading } from '../reading.ts'
import type { PathAt } from '../protocol.ts'
import { getInode, mustGetInode, readExistingInode } from '../store.ts'

export function statOp(ctx: OpContext, req: StatRequest): Promise<Inode> {
  return runAsync(statReading(ctx, req), ctx.reads)
}

export interface StatRequest {
  readonly path?: PathAt
  readonly inode?: InodeId
  readonly follow?: boolean
}

/** stat as a Reading (reading.ts): the meta actor runs it synchronously on a local KV's snapshot. */
export function* statReading(ctx: ResolveContext, req: StatRequest): Reading<Inode> {
  if (req.path === undefined) return yield* readExistingInode(req.inode as InodeId)
  const resolved = yield* resolveReading(ctx, req.path, req.follow !== false)
  if (resolved.name === '') return yield* readExistingInode(resolved.parent.id)
  if (resolved.entry === null) throw metaError('ENOENT', `${displayPath(resolved)} does not exist`, { path: req.path.path })
  return yield* readExistingInode(resolved.entry.id, () => displayPath(resolved))
}

export async function batchStatOp(ctx: OpContext, inodes: readonly InodeId[]): Promise<(Inode | null)[]> {
  return Promise.all(inodes.map((id) => getInode(ctx.reads, id)))
}

export async function batchStatByPathOp(ctx: OpContext, paths: readonly PathAt[], follow: boolean): Promise<(Inode | { errno: string })[]> {
  return Promise.all(
    paths.map((path) =>
      statOp(ctx, { path, follow }).catch((error: unknown) => {
        if (isErrno(error)) return { errno: error.code }
        throw error
      }),
    ),
  )
}

/** Directory levels walked up before the store is called corrupt. */
const MAX_DEPTH = 4096

/** The canonical absolute path: a directory's by walking up its parents, another entry's by its resolved directory. */
export async function realPathOp(ctx: OpContext, req: { readonly path?: PathAt; readonly inode?: InodeId }): Promise<string> {
  if (req.path === undefined) {
    const inode = await mustGetInode(ctx.reads, req.inode as InodeId)
    if (inode.type !== 'directory') throw metaError('ENOTDIR', `inode ${inode.id} is not a directory: give a path for files`, { inode: inode.id })
    return pathOfDirectory(ctx, inode.id)
  }
  const resolved = await resolvePath(ctx, req.path, true)
  const dir = await pathOfDirectory(ctx, resolved.parent.id)
  if (resolved.name === '') return dir
  if (resolved.entry === null) throw metaError('ENOENT', `${displayPath(resolved)} does not exist`, { path: req.path.path })
  return dir === '/' ? `/${resolved.name}` : `${dir}/${resolved.name}`
}

export async function pathOfDirectory(ctx: OpContext, id: InodeId): Promise<string> {
  const names: string[] = []
  for (let at = id, depth = 0; at !== ROOT_INODE; depth++) {
    if (at === GC_ROOT_INODE || depth >= MAX_DEPTH) throw metaError('ENOENT', `directory inode ${id} is not under the root (removed)`, { inode: id })
    const inode = await mustGetInode(ctx.reads, at)
    if (inode.type !== 'directory' || inode.nlink === 0) throw metaError('ENOENT', `directory inode ${id} was removed`, { inode: id })
    names.push(inode.dir.name)
    at = inode.dir.parent
  }
  return `/${names.reverse().join('/')}`
}
