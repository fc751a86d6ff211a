/**
 * Path resolution (reference/3fs.md §2.4, PathResolve): walk DENT keys from the root (or from a
 * directory inode), checking search permission on each directory from the ACL its entry carries
 * (dirAcl), so a walk loads no inodes except the start directory, symlinks and `..`. Symlinks are
 * followed in the middle of a path always and at its end on request, at most `symlinkDepthMax`
 * inside one another and `symlinkTotalMax` in one resolution (ELOOP beyond).
 *
 * The start directory's inode and the first entry are read at once (they do not depend on each
 * other); independent paths (rename's two, batchStatByPath's) are resolved concurrently by the
 * callers. Result: the directory holding the last component, the component and its entry (or
 * null); a path that names a directory itself ("/", "a/..", ".") comes back with name "".
 */
import type { DirEntry } from './dir-entry.ts'
import { MAX_NAME_BYTES, MAX_PATH_BYTES } from './dir-entry.ts'
import { metaError } from './errors.ts'
import { ROOT_INODE, type Acl, type InodeId } from './inode.ts'
import type { OpContext } from './op-context.ts'
import { checkAccess, X_OK } from './permissions.ts'
import type { PathAt } from './protocol.ts'
import { getEntry, getInode, mustGetDirectory } from './store.ts'

export interface DirRef {
  readonly id: InodeId
  readonly acl: Acl
  /** The path walked to it (for messages and GC records). */
  readonly path: string
}

export interface Resolved {
  readonly parent: DirRef
  /** "" when the path names `parent` itself. */
  readonly name: string
  readonly entry: DirEntry | null
  /** The path ended with "/": the entry must be a directory. */
  readonly trailingSlash: boolean
}

interface Budget {
  total: number
}

export function checkName(name: string, what = 'name'): void {
  if (name.length === 0 || name === '.' || name === '..') throw metaError('EINVAL', `${what} ${JSON.stringify(name)} is not a valid entry name`)
  if (name.includes('/') || name.includes('\0')) throw metaError('EINVAL', `${what} ${JSON.stringify(name)} contains "/" or NUL`)
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw metaError('ENAMETOOLONG', `${what} is longer than ${MAX_NAME_BYTES} bytes`)
}

function split(path: string): { absolute: boolean; parts: string[]; trailingSlash: boolean } {
  if (typeof path !== 'string') throw metaError('EINVAL', 'a path must be a string')
  if (path.includes('\0')) throw metaError('EINVAL', `path ${JSON.stringify(path)} contains NUL`)
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) throw metaError('ENAMETOOLONG', `path is longer than ${MAX_PATH_BYTES} bytes`)
  const parts = path.split('/').filter((p) => p.length > 0 && p !== '.')
  for (const p of parts) if (Buffer.byteLength(p, 'utf8') > MAX_NAME_BYTES) throw metaError('ENAMETOOLONG', `path component ${JSON.stringify(p.slice(0, 32))}… is longer than ${MAX_NAME_BYTES} bytes`, { path })
  return { absolute: path.startsWith('/'), parts, trailingSlash: path.length > 1 && path.endsWith('/') }
}

async function startDir(ctx: OpContext, id: InodeId): Promise<DirRef> {
  const dir = await mustGetDirectory(ctx.reads, id, id === ROOT_INODE ? 'the root directory' : `directory inode ${id}`)
  if (dir.nlink === 0 && id !== ROOT_INODE) throw metaError('ENOENT', `directory inode ${id} was removed`, { inode: id })
  return { id, acl: dir.acl, path: '' }
}

/** `..` of a directory: its parent (the root's is the root). */
async function parentOf(ctx: OpContext, dir: DirRef): Promise<DirRef> {
  if (dir.id === ROOT_INODE) return dir
  const inode = await mustGetDirectory(ctx.reads, dir.id)
  const up = inode.dir.parent
  const parent = await mustGetDirectory(ctx.reads, up)
  const cut = dir.path.lastIndexOf('/')
  return { id: up, acl: parent.acl, path: cut > 0 ? dir.path.slice(0, cut) : up === ROOT_INODE ? '' : `<inode ${up}>` }
}

async function symlinkTarget(ctx: OpContext, entry: DirEntry, budget: Budget, depth: number): Promise<string> {
  if (depth >= ctx.server.config.symlinkDepthMax || budget.total >= ctx.server.config.symlinkTotalMax) {
    throw metaError('ELOOP', `too many symlinks (at most ${ctx.server.config.symlinkDepthMax} nested, ${ctx.server.config.symlinkTotalMax} in all) at ${entry.name}`, { inode: entry.id })
  }
  budget.total++
  const inode = await getInode(ctx.reads, entry.id)
  if (inode === null || inode.type !== 'symlink') throw metaError('ENOENT', `symlink ${entry.name} vanished`, { inode: entry.id })
  return inode.symlink.target
}

/**
 * Walks every component but the last; returns the directory reached and the last component (null
 * when the path names a directory itself).
 */
async function walk(ctx: OpContext, at: InodeId, atPath: string, path: string, budget: Budget, depth: number): Promise<{ dir: DirRef; last: string | null; trailingSlash: boolean; lastIsDotDot: boolean }> {
  const { absolute, parts, trailingSlash } = split(path)
  const startId = absolute ? ROOT_INODE : at
  // The start directory and the first entry do not depend on each other: read them together.
  const firstName = parts.length > 1 && parts[0] !== '..' ? parts[0] : null
  const [start, firstEntry] = await Promise.all([startDir(ctx, startId), firstName === null ? null : getEntry(ctx.reads, startId, firstName)])
  let dir: DirRef = { ...start, path: absolute ? '' : atPath }
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]
    if (part === '..') {
      dir = await parentOf(ctx, dir)
      continue
    }
    checkAccess(dir.acl, ctx.user, X_OK, dir.path || '/')
    const entry = i === 0 && firstName !== null ? firstEntry : await getEntry(ctx.reads, dir.id, part)
    dir = await enterDirectory(ctx, dir, part, entry, budget, depth)
  }
  const last = parts.length === 0 ? null : parts[parts.length - 1]
  if (last === '..') return { dir: await parentOf(ctx, dir), last: null, trailingSlash, lastIsDotDot: true }
  return { dir, last, trailingSlash, lastIsDotDot: false }
}

async function enterDirectory(ctx: OpContext, dir: DirRef, part: string, entry: DirEntry | null, budget: Budget, depth: number): Promise<DirRef> {
  const path = `${dir.path}/${part}`
  if (entry === null) throw metaError('ENOENT', `${path} does not exist`, { path })
  if (entry.type === 'directory') return { id: entry.id, acl: entry.dirAcl as Acl, path }
  if (entry.type === 'file') throw metaError('ENOTDIR', `${path} is not a directory`, { path })
  const target = await symlinkTarget(ctx, entry, budget, depth)
  const resolved = await resolveIn(ctx, dir.id, dir.path, target, true, budget, depth + 1)
  if (resolved.entry === null && resolved.name !== '') throw metaError('ENOENT', `${path} points to ${target}, which does not exist`, { path })
  if (resolved.name === '') return resolved.parent
  const e = resolved.entry as DirEntry
  if (e.type !== 'directory') throw metaError('ENOTDIR', `${path} points to ${target}, which is not a directory`, { path })
  return { id: e.id, acl: e.dirAcl as Acl, path }
}

async function resolveIn(ctx: OpContext, at: InodeId, atPath: string, path: string, follow: boolean, budget: Budget, depth: number): Promise<Resolved> {
  const walked = await walk(ctx, at, atPath, path, budget, depth)
  const dir = walked.dir
  if (walked.last === null) return { parent: dir, name: '', entry: null, trailingSlash: walked.trailingSlash }
  checkAccess(dir.acl, ctx.user, X_OK, dir.path || '/')
  const entry = await getEntry(ctx.reads, dir.id, walked.last)
  if (follow && entry !== null && entry.type === 'symlink') {
    const target = await symlinkTarget(ctx, entry, budget, depth)
    return resolveIn(ctx, dir.id, dir.path, target, true, budget, depth + 1)
  }
  return { parent: dir, name: walked.last, entry, trailingSlash: walked.trailingSlash }
}

/** Resolves a path to its directory, last component and entry (following a last symlink when `follow`). */
export async function resolvePath(ctx: OpContext, pathAt: PathAt, follow: boolean): Promise<Resolved> {
  const resolved = await resolveIn(ctx, pathAt.at ?? ROOT_INODE, pathAt.at === undefined ? '' : `<inode ${pathAt.at}>`, pathAt.path, follow, { total: 0 }, 0)
  if (resolved.trailingSlash && resolved.entry !== null && resolved.entry.type !== 'directory') {
    throw metaError('ENOTDIR', `${displayPath(resolved)} is not a directory (the path ends with "/")`, { path: pathAt.path })
  }
  return resolved
}

export function displayPath(r: Resolved): string {
  return r.name === '' ? r.parent.path || '/' : `${r.parent.path}/${r.name}`
}
