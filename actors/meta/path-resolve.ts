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
import { MAX_NAME_BYTES, MAX_PATH_BYTES, type DirEntry } from './dir-entry.ts'
import { metaError } from './errors.ts'
import { ROOT_INODE, type Acl, type InodeId } from './inode.ts'
import type { OpContext } from './op-context.ts'
import { checkAccess, X_OK } from './permissions.ts'
import type { PathAt } from './protocol.ts'
import { dentryKey, inodeKey } from './keys.ts'
import { readKeys, runAsync, type Reading } from './reading.ts'
import { directoryFrom, innerEntryFrom, readDirectory, readEntry, readInnerEntry, readInode } from './store.ts'
import type { WalksAtVersion } from './walk-cache.ts'

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

/**
 * What a path walk needs of an operation's context: the caller (search permission) and the symlink
 * bounds; and, for a read-only walk on a local snapshot, the walks recorded at the snapshot's
 * version (walk-cache.ts).
 */
export type ResolveContext = Pick<OpContext, 'user' | 'server'> & { readonly walks?: WalksAtVersion }

interface Budget {
  total: number
}

export function checkName(name: string, what = 'name'): void {
  if (name.length === 0 || name === '.' || name === '..') throw metaError('EINVAL', `${what} ${JSON.stringify(name)} is not a valid entry name`)
  if (name.includes('/') || name.includes('\0')) throw metaError('EINVAL', `${what} ${JSON.stringify(name)} contains "/" or NUL`)
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw metaError('ENAMETOOLONG', `${what} is longer than ${MAX_NAME_BYTES} bytes`)
}

/** `lastStart`: where the last part begins in `path` (what precedes it names the walk to the last directory). */
function split(path: string): { absolute: boolean; parts: string[]; trailingSlash: boolean; lastStart: number } {
  if (typeof path !== 'string') throw metaError('EINVAL', 'a path must be a string')
  if (path.includes('\0')) throw metaError('EINVAL', `path ${JSON.stringify(path)} contains NUL`)
  // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only for strings that may be too long.
  if (path.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) throw metaError('ENAMETOOLONG', `path is longer than ${MAX_PATH_BYTES} bytes`)
  const parts: string[] = []
  let lastStart = 0
  for (let at = 0; at <= path.length; ) {
    let end = path.indexOf('/', at)
    if (end < 0) end = path.length
    if (end > at && !(end === at + 1 && path.charCodeAt(at) === 0x2e)) {
      const p = path.slice(at, end)
      if (p.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(p, 'utf8') > MAX_NAME_BYTES) throw metaError('ENAMETOOLONG', `path component ${JSON.stringify(p.slice(0, 32))}… is longer than ${MAX_NAME_BYTES} bytes`, { path })
      parts.push(p)
      lastStart = at
    }
    at = end + 1
  }
  return { absolute: path.startsWith('/'), parts, trailingSlash: path.length > 1 && path.endsWith('/'), lastStart }
}

function startDir(id: InodeId, bytes: Buffer | undefined, path: string): DirRef {
  const dir = directoryFrom(id, bytes, () => (id === ROOT_INODE ? 'the root directory' : `directory inode ${id}`))
  if (dir.nlink === 0 && id !== ROOT_INODE) throw metaError('ENOENT', `directory inode ${id} was removed`, { inode: id })
  return { id, acl: dir.acl, path }
}

/** `..` of a directory: its parent (the root's is the root). */
function* parentOf(dir: DirRef): Reading<DirRef> {
  if (dir.id === ROOT_INODE) return dir
  const inode = yield* readDirectory(dir.id)
  const up = inode.dir.parent
  const parent = yield* readDirectory(up)
  const cut = dir.path.lastIndexOf('/')
  return { id: up, acl: parent.acl, path: cut > 0 ? dir.path.slice(0, cut) : up === ROOT_INODE ? '' : `<inode ${up}>` }
}

function* symlinkTarget(ctx: ResolveContext, entry: DirEntry, budget: Budget, depth: number): Reading<string> {
  if (depth >= ctx.server.config.symlinkDepthMax || budget.total >= ctx.server.config.symlinkTotalMax) {
    throw metaError('ELOOP', `too many symlinks (at most ${ctx.server.config.symlinkDepthMax} nested, ${ctx.server.config.symlinkTotalMax} in all) at ${entry.name}`, { inode: entry.id })
  }
  budget.total++
  const inode = yield* readInode(entry.id)
  if (inode === null || inode.type !== 'symlink') throw metaError('ENOENT', `symlink ${entry.name} vanished`, { inode: entry.id })
  return inode.symlink.target
}

/**
 * Walks every component but the last; returns the directory reached and the last component (null
 * when the path names a directory itself).
 */
function* walk(ctx: ResolveContext, at: InodeId, atPath: string, path: string, budget: Budget, depth: number): Reading<{ dir: DirRef; last: string | null; trailingSlash: boolean; lastIsDotDot: boolean }> {
  const { absolute, parts, trailingSlash, lastStart } = split(path)
  // A walk from the root made at this snapshot's version is made already (walk-cache.ts); not one
  // inside a symlink's resolution (its symlink budget is the outer walk's).
  const walks = absolute && depth === 0 && parts.length > 1 ? ctx.walks : undefined
  const prefix = walks === undefined ? '' : path.slice(0, lastStart)
  const cached = walks?.get(prefix)
  let dir: DirRef
  if (cached !== undefined) {
    for (const searched of cached.searched) checkAccess(searched.acl, ctx.user, X_OK, searched.path || '/')
    dir = cached.dir
  } else {
    dir = yield* walkDirectories(ctx, absolute ? ROOT_INODE : at, absolute ? '' : atPath, parts, budget, depth, walks, prefix)
  }
  const last = parts.length === 0 ? null : parts[parts.length - 1]
  if (last === '..') return { dir: yield* parentOf(dir), last: null, trailingSlash, lastIsDotDot: true }
  return { dir, last, trailingSlash, lastIsDotDot: false }
}

/** Walks `parts` but the last from `startId`; records the walk in `walks` when it passed directories only. */
function* walkDirectories(ctx: ResolveContext, startId: InodeId, startPath: string, parts: readonly string[], budget: Budget, depth: number, walks: WalksAtVersion | undefined, prefix: string): Reading<DirRef> {
  // The start directory and the first entry do not depend on each other: read them together.
  const firstName = parts.length > 1 && parts[0] !== '..' ? parts[0] : null
  const got = yield* readKeys(firstName === null ? [inodeKey(startId)] : [inodeKey(startId), dentryKey(startId, firstName)])
  const firstBytes = got[1]
  const start = startDir(startId, got[0], startPath)
  const firstEntry = firstName === null || firstBytes === undefined ? null : innerEntryFrom(startId, firstName, firstBytes)
  let dir: DirRef = start
  const searched: DirRef[] | null = walks === undefined ? null : []
  let plain = true
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]
    if (part === '..') {
      plain = false
      dir = yield* parentOf(dir)
      continue
    }
    checkAccess(dir.acl, ctx.user, X_OK, dir.path || '/')
    searched?.push(dir)
    const entry = i === 0 && firstName !== null ? firstEntry : yield* readInnerEntry(dir.id, part)
    if (entry !== null && entry.type !== 'directory') plain = false
    dir = yield* enterDirectory(ctx, dir, part, entry, budget, depth)
  }
  if (walks !== undefined && plain && searched !== null) walks.set(prefix, { dir, searched })
  return dir
}

function* enterDirectory(ctx: ResolveContext, dir: DirRef, part: string, entry: DirEntry | null, budget: Budget, depth: number): Reading<DirRef> {
  const path = `${dir.path}/${part}`
  if (entry === null) throw metaError('ENOENT', `${path} does not exist`, { path })
  if (entry.type === 'directory') return { id: entry.id, acl: entry.dirAcl as Acl, path }
  if (entry.type === 'file') throw metaError('ENOTDIR', `${path} is not a directory`, { path })
  const target = yield* symlinkTarget(ctx, entry, budget, depth)
  const resolved = yield* resolveIn(ctx, dir.id, dir.path, target, true, budget, depth + 1)
  if (resolved.entry === null && resolved.name !== '') throw metaError('ENOENT', `${path} points to ${target}, which does not exist`, { path })
  if (resolved.name === '') return resolved.parent
  const e = resolved.entry as DirEntry
  if (e.type !== 'directory') throw metaError('ENOTDIR', `${path} points to ${target}, which is not a directory`, { path })
  return { id: e.id, acl: e.dirAcl as Acl, path }
}

function* resolveIn(ctx: ResolveContext, at: InodeId, atPath: string, path: string, follow: boolean, budget: Budget, depth: number): Reading<Resolved> {
  const walked = yield* walk(ctx, at, atPath, path, budget, depth)
  const dir = walked.dir
  if (walked.last === null) return { parent: dir, name: '', entry: null, trailingSlash: walked.trailingSlash }
  checkAccess(dir.acl, ctx.user, X_OK, dir.path || '/')
  const entry = yield* readEntry(dir.id, walked.last)
  if (follow && entry !== null && entry.type === 'symlink') {
    const target = yield* symlinkTarget(ctx, entry, budget, depth)
    return yield* resolveIn(ctx, dir.id, dir.path, target, true, budget, depth + 1)
  }
  return { parent: dir, name: walked.last, entry, trailingSlash: walked.trailingSlash }
}

/** resolvePath as a Reading (reading.ts): run synchronously on a snapshot, or awaited. */
export function* resolveReading(ctx: ResolveContext, pathAt: PathAt, follow: boolean): Reading<Resolved> {
  const resolved = yield* resolveIn(ctx, pathAt.at ?? ROOT_INODE, pathAt.at === undefined ? '' : `<inode ${pathAt.at}>`, pathAt.path, follow, { total: 0 }, 0)
  if (resolved.trailingSlash && resolved.entry !== null && resolved.entry.type !== 'directory') {
    throw metaError('ENOTDIR', `${displayPath(resolved)} is not a directory (the path ends with "/")`, { path: pathAt.path })
  }
  return resolved
}

/** Resolves a path to its directory, last component and entry (following a last symlink when `follow`), reading through `ctx.reads`. */
export function resolvePath(ctx: OpContext, pathAt: PathAt, follow: boolean): Promise<Resolved> {
  return runAsync(resolveReading(ctx, pathAt, follow), ctx.reads)
}

export function displayPath(r: Resolved): string {
  return r.name === '' ? r.parent.path || '/' : `${r.parent.path}/${r.name}`
}
