/**
 * create (reference/3fs.md §2.4 BatchOperation create): create-or-open. The entry exists → an
 * open (EEXIST with O_EXCL). Otherwise, in the directory's owner's batch: the directory must
 * exist, be writable by the caller and not locked by another client; the layout is the request's
 * or the directory's, made concrete by the chain allocator; a new inode (length 0, the caller's
 * ACL, the directory's group when it is setgid) and its entry are written, with a session for a
 * write open. The directory inode is rewritten only when it keeps its own allocation counter.
 * Every check comes before the first write, so a refused create in a batch leaves nothing behind.
 */
import { metaError } from '../errors.ts'
import { FS_CHAIN_ALLOCATION_FL, INHERITED_IFLAGS, type DirectoryInode, type FileInode } from '../inode.ts'
import { sessionKey } from '../keys.ts'
import { checkLayout, concretize, INITIAL_DYN_STRIPE, type Layout } from '../layout.ts'
import type { OpContext } from '../op-context.ts'
import { checkName, displayPath, resolvePath } from '../path-resolve.ts'
import { newEntryAcl } from '../permissions.ts'
import type { OpenFlags, OpenResult, PathAt } from '../protocol.ts'
import { encodeSession } from '../sessions.ts'
import { putEntry, putInode } from '../store.ts'
import { times, writableDirectory } from './checks.ts'
import { openEntry } from './open.ts'

export interface CreateRequest {
  readonly path: PathAt
  readonly flags: OpenFlags
  readonly perm: number
  readonly session?: string
  readonly layout?: Layout
}

export async function createOp(ctx: OpContext, req: CreateRequest): Promise<OpenResult> {
  const follow = req.flags.excl !== true && req.flags.nofollow !== true
  const resolved = await resolvePath(ctx, req.path, follow)
  const what = displayPath(resolved)
  if (resolved.name === '') throw metaError('EISDIR', `${what} is a directory`, { path: what })
  if (resolved.entry !== null) {
    if (req.flags.excl === true) throw metaError('EEXIST', `${what} exists (O_EXCL)`, { path: what })
    return openEntry(ctx, resolved, resolved.entry, req.flags, req.session)
  }
  if (resolved.trailingSlash) throw metaError('EISDIR', `${what}/ names a directory that does not exist`, { path: what })
  if (req.flags.directory === true) throw metaError('EINVAL', 'O_CREAT with O_DIRECTORY creates nothing', { path: what })
  checkName(resolved.name)
  const dir = await writableDirectory(ctx, resolved.parent)
  const { layout, counter } = await fileLayout(ctx, dir, req.layout)
  const id = ctx.server.allocateInodeId()
  const inode: FileInode = {
    id,
    type: 'file',
    acl: newEntryAcl(ctx.user, req.perm, dir.acl, false, INHERITED_IFLAGS),
    nlink: 1,
    ...times(ctx.nowMs),
    file: { length: 0, truncateVer: 0, layout, dynStripe: ctx.server.config.dynamicStripe ? Math.min(INITIAL_DYN_STRIPE, layout.stripeSize) : 0 },
  }
  putInode(ctx.tx, inode)
  putEntry(ctx.tx, { parent: dir.id, name: resolved.name, id, type: 'file', dirAcl: null, uuid: ctx.requestId, gcInfo: null })
  if (counter !== null) putInode(ctx.tx, { ...dir, dir: { ...dir.dir, chainAllocCounter: counter } })
  if (req.session !== undefined && req.flags.access !== 'read') ctx.tx.set(sessionKey(id, req.session), encodeSession({ clientId: ctx.clientId, createdMs: ctx.nowMs }))
  return { inode, created: true, needTruncate: false }
}

/** The new file's concrete layout, and the directory's next counter when it keeps its own. */
async function fileLayout(ctx: OpContext, dir: DirectoryInode, given: Layout | undefined): Promise<{ layout: Layout; counter: number | null }> {
  const base = given === undefined ? dir.dir.layout : checkLayout(given)
  if (base.chains.kind !== 'empty') return { layout: base, counter: null }
  let table = ctx.server.chainTable(base.tableId)
  if (table === null) {
    // A server that started after the table was uploaded may not have heard of it yet: ask mgmtd once.
    await ctx.server.refreshRouting()
    table = ctx.server.chainTable(base.tableId)
  }
  if (table === null) {
    throw metaError('EIO', `chain table ${base.tableId} is not known to this meta server (mgmtd has none, or it was not reached); upload one with \`t3fs admin upload-chain-table\``, { tableId: base.tableId })
  }
  const own = (dir.acl.iflags & FS_CHAIN_ALLOCATION_FL) !== 0
  const counter = own ? dir.dir.chainAllocCounter : ctx.server.nextChainCounter(base.tableId, base.stripeSize)
  return { layout: concretize(base, table, counter, ctx.server.randomU32()), counter: own ? counter + base.stripeSize : null }
}
