/**
 * list (reference/3fs.md §2.4 List.cc): one page of a directory's entries after `prev`, by name,
 * with their inodes when `status` (loaded at once). Needs read permission on the directory.
 */
import { metaError } from '../errors.ts'
import type { OpContext } from '../op-context.ts'
import { displayPath, resolvePath } from '../path-resolve.ts'
import { checkAccess, R_OK } from '../permissions.ts'
import type { ListResult, PathAt } from '../protocol.ts'
import { getInode, listEntries, mustGetInode } from '../store.ts'

export async function listOp(ctx: OpContext, req: { readonly path: PathAt; readonly prev?: string; readonly limit?: number; readonly status?: boolean }): Promise<ListResult> {
  const config = ctx.server.config
  const limit = req.limit ?? config.listDefaultLimit
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > config.listMaxLimit) throw metaError('EINVAL', `list limit ${limit} is not accepted; accepted: 1 to ${config.listMaxLimit}`)
  const resolved = await resolvePath(ctx, req.path, true)
  const what = displayPath(resolved)
  if (resolved.name !== '' && resolved.entry === null) throw metaError('ENOENT', `${what} does not exist`, { path: what })
  const id = resolved.name === '' ? resolved.parent.id : (resolved.entry?.id as number)
  const dir = await mustGetInode(ctx.reads, id, what)
  if (dir.type !== 'directory') throw metaError('ENOTDIR', `${what} is not a directory`, { path: what })
  checkAccess(dir.acl, ctx.user, R_OK, what)
  const rows = await listEntries(ctx.reads, id, req.prev, limit + 1)
  const page = rows.slice(0, limit)
  const entries = page.map((e) => ({ name: e.name, id: e.id, type: e.type }))
  const inodes = req.status === true ? await Promise.all(page.map((e) => getInode(ctx.reads, e.id))) : null
  return { entries, inodes, more: rows.length > limit }
}
