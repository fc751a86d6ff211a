/**
 * open (reference/3fs.md §2.4 Open.cc): resolve a path (following symlinks unless O_NOFOLLOW) or
 * take an inode id, check the access the flags ask for, and for a write open with a session
 * record the session (INOS). O_TRUNC: a file of at least `otruncReplaceFileThreshold` bytes with
 * one link and no session is replaced by a new empty inode (the old one goes to GC); otherwise the
 * reply says needTruncate and the client truncates through storage, then syncs. A write by
 * someone other than the owner clears setuid/setgid.
 */
import type { DirEntry } from '../dir-entry.ts'
import { metaError } from '../errors.ts'
import { isImmutable, S_ISGID, S_ISUID, type FileInode, type Inode } from '../inode.ts'
import { sessionKey, sessionRange } from '../keys.ts'
import type { OpContext } from '../op-context.ts'
import { displayPath, resolvePath, type Resolved } from '../path-resolve.ts'
import { checkAccess, isRoot, R_OK, W_OK } from '../permissions.ts'
import type { OpenFlags, OpenResult, PathAt } from '../protocol.ts'
import { encodeSession } from '../sessions.ts'
import { mustGetInode, putEntry, putInode } from '../store.ts'
import { fileIntoGc } from '../gc-entry.ts'

export interface OpenRequest {
  readonly path?: PathAt
  readonly inode?: number
  readonly flags: OpenFlags
  readonly session?: string
}

const wants = (flags: OpenFlags): number => (flags.access === 'read' ? R_OK : flags.access === 'write' ? W_OK : R_OK | W_OK) | (flags.trunc === true ? W_OK : 0)
export const writes = (flags: OpenFlags): boolean => flags.access !== 'read' || flags.trunc === true

export async function openOp(ctx: OpContext, req: OpenRequest): Promise<OpenResult> {
  if (req.path === undefined) {
    const inode = await mustGetInode(ctx.reads, req.inode as number)
    return openInode(ctx, inode, null, `inode ${inode.id}`, req.flags, req.session)
  }
  const resolved = await resolvePath(ctx, req.path, req.flags.nofollow !== true)
  if (resolved.name === '') {
    const dir = await mustGetInode(ctx.reads, resolved.parent.id)
    return openInode(ctx, dir, null, displayPath(resolved), req.flags, req.session)
  }
  if (resolved.entry === null) throw metaError('ENOENT', `${displayPath(resolved)} does not exist`, { path: req.path.path })
  return openEntry(ctx, resolved, resolved.entry, req.flags, req.session)
}

export async function openEntry(ctx: OpContext, resolved: Resolved, entry: DirEntry, flags: OpenFlags, session: string | undefined): Promise<OpenResult> {
  const what = displayPath(resolved)
  if (entry.type === 'symlink') throw metaError('ELOOP', `${what} is a symlink (O_NOFOLLOW)`, { path: what })
  const inode = await mustGetInode(writes(flags) ? ctx.tx : ctx.reads, entry.id, what)
  return openInode(ctx, inode, entry, what, flags, session)
}

async function openInode(ctx: OpContext, inode: Inode, entry: DirEntry | null, what: string, flags: OpenFlags, session: string | undefined): Promise<OpenResult> {
  if (inode.type === 'directory') {
    if (writes(flags)) throw metaError('EISDIR', `${what} is a directory`, { path: what })
    checkAccess(inode.acl, ctx.user, R_OK, what)
    return { inode, created: false, needTruncate: false }
  }
  if (inode.type === 'symlink') throw metaError('ELOOP', `${what} is a symlink`, { path: what })
  if (flags.directory === true) throw metaError('ENOTDIR', `${what} is not a directory (O_DIRECTORY)`, { path: what })
  checkAccess(inode.acl, ctx.user, wants(flags), what)
  if (!writes(flags)) return { inode, created: false, needTruncate: false }
  if (isImmutable(inode)) throw metaError('EPERM', `${what} is immutable`, { path: what })
  let file: FileInode = inode
  if (!isRoot(ctx.user) && ctx.user.uid !== inode.acl.uid && (inode.acl.perm & (S_ISUID | S_ISGID)) !== 0) {
    file = { ...file, acl: { ...file.acl, perm: file.acl.perm & ~(S_ISUID | S_ISGID) }, ctimeMs: ctx.nowMs }
    putInode(ctx.tx, file)
  }
  if (flags.trunc === true && entry !== null && (await replaceable(ctx, file))) {
    file = replaceInode(ctx, entry, file)
    if (session !== undefined) ctx.tx.set(sessionKey(file.id, session), encodeSession({ clientId: ctx.clientId, createdMs: ctx.nowMs }))
    return { inode: file, created: false, needTruncate: false }
  }
  if (session !== undefined) ctx.tx.set(sessionKey(file.id, session), encodeSession({ clientId: ctx.clientId, createdMs: ctx.nowMs }))
  return { inode: file, created: false, needTruncate: flags.trunc === true && file.file.length > 0 }
}

async function replaceable(ctx: OpContext, inode: FileInode): Promise<boolean> {
  if (inode.file.length < ctx.server.config.otruncReplaceFileThresholdBytes || inode.nlink !== 1) return false
  const range = sessionRange(inode.id)
  return (await ctx.tx.getRange(range.begin, range.end, { limit: 1 })).length === 0
}

/** O_TRUNC of a large file: a new empty inode takes the entry; the old one goes to GC. */
function replaceInode(ctx: OpContext, entry: DirEntry, old: FileInode): FileInode {
  const fresh: FileInode = {
    ...old,
    id: ctx.server.allocateInodeId(),
    nlink: 1,
    ctimeMs: ctx.nowMs,
    mtimeMs: ctx.nowMs,
    file: { ...old.file, length: 0, truncateVer: 0 },
  }
  fileIntoGc(ctx, old, null)
  putInode(ctx.tx, fresh)
  putEntry(ctx.tx, { ...entry, id: fresh.id, uuid: ctx.requestId })
  return fresh
}
