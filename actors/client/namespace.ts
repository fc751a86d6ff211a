/**
 * The FileClient's namespace operations: each one meta request (through the MetaClient: request
 * ids kept across retries, failover between servers), with paths and targets checked here first
 * and attributes shown with the length this client knows of files it has open.
 */
import type { Inode, InodeId, MetaClient, PathAt } from '../meta/index.ts'
import { badArgument, checkPerm, errnoError } from './client-errors.ts'
import type { DirEntry, FilePath, FileStat, FileTarget, MkdirOptions, ReaddirOptions, ReaddirResult, RenameOptions, SetAttrOptions } from './file-client.ts'
import { toFileStat } from './file-stat.ts'
import type { OpenFile } from './open-file.ts'

/** Entries per page of a list request, at most (meta's own bound). */
export const readdirLimitMax = 4096
export const readdirAllDefaultMax = 1_000_000

export interface NamespaceEnv {
  readonly meta: MetaClient
  readonly files: ReadonlyMap<InodeId, OpenFile>
}

export function pathAt(path: FilePath, field = 'path'): PathAt {
  if (typeof path === 'string') {
    if (path.length === 0) throw badArgument(field, path, 'a non-empty path (absolute, or { path, at } relative to a directory inode)')
    return { path }
  }
  if (typeof path !== 'object' || path === null || typeof path.path !== 'string' || (path.at !== undefined && !isInodeId(path.at))) {
    throw badArgument(field, path, 'a path string or { path: string, at?: directory inode id }')
  }
  return path.at === undefined ? { path: path.path } : { path: path.path, at: path.at }
}

function isInodeId(v: unknown): v is InodeId {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** A target as meta's request fields: `{ path }` or `{ inode }`. */
export function targetFields(target: FileTarget, field = 'target'): { path: PathAt } | { inode: InodeId } {
  if (typeof target === 'object' && target !== null && 'inode' in target) {
    if (!isInodeId(target.inode)) throw badArgument(`${field}.inode`, target.inode, 'an inode id (a non-negative safe integer)')
    return { inode: target.inode }
  }
  return { path: pathAt(target as FilePath, field) }
}

/** A target as a path meta can list or resolve: an inode becomes "." relative to itself. */
function asPath(target: FileTarget, field: string): PathAt {
  const t = targetFields(target, field)
  return 'inode' in t ? { path: '.', at: t.inode } : t.path
}

export function statOf(env: NamespaceEnv, inode: Inode): FileStat {
  const open = env.files.get(inode.id)
  if (open !== undefined && inode.type === 'file') {
    open.adopt(inode)
    return toFileStat(inode, open.length)
  }
  return toFileStat(inode)
}

export async function stat(env: NamespaceEnv, target: FileTarget, follow = true): Promise<FileStat> {
  const inode = await env.meta.request({ type: 'stat', ...targetFields(target), follow })
  return statOf(env, inode)
}

export async function readdir(env: NamespaceEnv, dir: FileTarget, options: ReaddirOptions = {}): Promise<ReaddirResult> {
  const limit = options.limit ?? 128
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > readdirLimitMax) throw badArgument('limit', limit, `an integer from 1 to ${readdirLimitMax}`)
  if (options.after !== undefined && typeof options.after !== 'string') throw badArgument('after', options.after, 'an entry name (string)')
  const withStat = options.withStat === true
  const r = await env.meta.request({ type: 'list', path: asPath(dir, 'dir'), limit, status: withStat, ...(options.after === undefined ? {} : { prev: options.after }) })
  const entries: DirEntry[] = r.entries.map((e, i) => {
    const base = { name: e.name, inode: e.id, type: e.type }
    if (!withStat) return base
    const inode = r.inodes?.[i] ?? null
    return { ...base, stat: inode === null ? null : statOf(env, inode) }
  })
  return { entries, more: r.more }
}

export async function readdirAll(env: NamespaceEnv, dir: FileTarget, options: { readonly withStat?: boolean; readonly maxEntries?: number } = {}): Promise<DirEntry[]> {
  const max = options.maxEntries ?? readdirAllDefaultMax
  if (!Number.isSafeInteger(max) || max < 1) throw badArgument('maxEntries', max, 'a positive integer')
  const out: DirEntry[] = []
  let after: string | undefined
  for (;;) {
    const page = await readdir(env, dir, { limit: readdirLimitMax, ...(options.withStat === undefined ? {} : { withStat: options.withStat }), ...(after === undefined ? {} : { after }) })
    out.push(...page.entries)
    if (out.length > max) throw errnoError('EINVAL', `the directory has more than maxEntries = ${max} entries; page through it with readdir`, { maxEntries: max })
    if (!page.more || page.entries.length === 0) return out
    after = page.entries[page.entries.length - 1].name
  }
}

export async function mkdir(env: NamespaceEnv, path: FilePath, options: MkdirOptions = {}): Promise<FileStat> {
  const perm = checkPerm('perm', options.perm ?? 0o755)
  const inode = await env.meta.request({ type: 'mkdirs', path: pathAt(path), perm, recursive: options.recursive === true, ...(options.layout === undefined ? {} : { layout: options.layout }) })
  return statOf(env, inode)
}

export async function remove(env: NamespaceEnv, path: FilePath, kind: 'file' | 'directory' | 'tree'): Promise<void> {
  await env.meta.request({ type: 'remove', path: pathAt(path), recursive: kind === 'tree', ...(kind === 'tree' ? {} : { checkType: kind }) })
}

export async function rename(env: NamespaceEnv, from: FilePath, to: FilePath, options: RenameOptions = {}): Promise<void> {
  await env.meta.request({ type: 'rename', src: pathAt(from, 'from'), dst: pathAt(to, 'to'), ...(options.noReplace === true ? { noReplace: true } : {}) })
}

export async function symlink(env: NamespaceEnv, target: string, path: FilePath): Promise<FileStat> {
  if (typeof target !== 'string' || target.length === 0) throw badArgument('target', target, 'a non-empty string (what the symlink points to)')
  return statOf(env, await env.meta.request({ type: 'symlink', path: pathAt(path), target }))
}

export async function readlink(env: NamespaceEnv, path: FilePath): Promise<string> {
  const inode = await env.meta.request({ type: 'stat', path: pathAt(path), follow: false })
  if (inode.type !== 'symlink') throw errnoError('EINVAL', `${typeof path === 'string' ? path : path.path} is not a symlink`, { inode: inode.id })
  return inode.symlink.target
}

export async function link(env: NamespaceEnv, existing: FilePath, newPath: FilePath): Promise<FileStat> {
  return statOf(env, await env.meta.request({ type: 'hard-link', oldPath: pathAt(existing, 'existing'), newPath: pathAt(newPath, 'newPath') }))
}

/** chmod/chown/utimes (not the size: the client truncates first). */
export async function setAttrFields(env: NamespaceEnv, target: FileTarget, attrs: SetAttrOptions): Promise<FileStat | null> {
  const fields = {
    ...(attrs.perm === undefined ? {} : { perm: checkPerm('perm', attrs.perm) }),
    ...(attrs.uid === undefined ? {} : { uid: checkId('uid', attrs.uid) }),
    ...(attrs.gid === undefined ? {} : { gid: checkId('gid', attrs.gid) }),
    ...(attrs.atimeMs === undefined ? {} : { atimeMs: checkTime('atimeMs', attrs.atimeMs) }),
    ...(attrs.mtimeMs === undefined ? {} : { mtimeMs: checkTime('mtimeMs', attrs.mtimeMs) }),
  }
  if (Object.keys(fields).length === 0) return null
  return statOf(env, await env.meta.request({ type: 'set-attr', ...targetFields(target), follow: true, attrs: fields }))
}

function checkId(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw badArgument(field, v, 'an id from 0 to 4294967295')
  return v
}

function checkTime(field: string, v: unknown): number | 'now' {
  if (v === 'now') return v
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw badArgument(field, v, '"now" or milliseconds since the epoch (an integer)')
  return v
}
