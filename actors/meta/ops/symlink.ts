/** symlink (reference/3fs.md §2.4): a symlink inode (mode 0777) holding its target, and its entry. */
import { MAX_PATH_BYTES } from '../dir-entry.ts'
import { metaError } from '../errors.ts'
import type { SymlinkInode } from '../inode.ts'
import type { OpContext } from '../op-context.ts'
import { checkName, displayPath, resolvePath } from '../path-resolve.ts'
import { newEntryAcl } from '../permissions.ts'
import type { PathAt } from '../protocol.ts'
import { putEntry, putInode } from '../store.ts'
import { times, writableDirectory } from './checks.ts'

export async function symlinkOp(ctx: OpContext, req: { readonly path: PathAt; readonly target: string }): Promise<SymlinkInode> {
  if (typeof req.target !== 'string' || req.target.length === 0 || req.target.includes('\0')) throw metaError('EINVAL', 'a symlink target must be a non-empty string without NUL')
  if (Buffer.byteLength(req.target, 'utf8') > MAX_PATH_BYTES) throw metaError('ENAMETOOLONG', `a symlink target is at most ${MAX_PATH_BYTES} bytes`)
  const resolved = await resolvePath(ctx, req.path, false)
  const what = displayPath(resolved)
  if (resolved.name === '' || resolved.entry !== null) throw metaError('EEXIST', `${what} exists`, { path: what })
  checkName(resolved.name)
  const parent = await writableDirectory(ctx, resolved.parent)
  const inode: SymlinkInode = {
    id: ctx.server.allocateInodeId(),
    type: 'symlink',
    acl: { ...newEntryAcl(ctx.user, 0o777, parent.acl, false, 0), perm: 0o777 },
    nlink: 1,
    ...times(ctx.nowMs),
    symlink: { target: req.target },
  }
  putInode(ctx.tx, inode)
  putEntry(ctx.tx, { parent: parent.id, name: resolved.name, id: inode.id, type: 'symlink', dirAcl: null, uuid: ctx.requestId, gcInfo: null })
  return inode
}
