/**
 * User trash (reference/3fs.md §2.6): `move-to-trash` renames a tree to
 * /trash/<uid>/<expiresAtMs>-<name> after the recursive permission check (3FS's rename with
 * moveToTrash; `t3fs admin rm-rf`, hf3fs_cli rmtree), creating /trash (root, 0755) and the user's
 * directory (the user's, 0700) as needed. The trash cleaner (trash-cleaner.ts) removes entries
 * whose expiry has passed.
 */
import { metaError } from '../errors.ts'
import { ROOT_INODE, type DirectoryInode } from '../inode.ts'
import type { OpContext } from '../op-context.ts'
import { displayPath, resolvePath } from '../path-resolve.ts'
import type { PathAt, TrashResult } from '../protocol.ts'
import { getEntry, mustGetDirectory, putEntry, putInode } from '../store.ts'
import { times } from './checks.ts'
import { renameResolved } from './rename.ts'

export const TRASH_NAME = 'trash'
/** Longest expiry a move to trash may ask (3FS's choices go up to 7 days). */
export const MAX_TRASH_EXPIRE_MS = 30 * 86_400_000

export async function moveToTrashOp(ctx: OpContext, req: { readonly path: PathAt; readonly expireMs: number }): Promise<TrashResult> {
  if (!Number.isSafeInteger(req.expireMs) || req.expireMs < 0 || req.expireMs > MAX_TRASH_EXPIRE_MS) {
    throw metaError('EINVAL', `expireMs ${req.expireMs} is not accepted; accepted: 0 to ${MAX_TRASH_EXPIRE_MS} ms`)
  }
  const src = await resolvePath(ctx, req.path, false)
  if (src.name === '' || src.entry === null) throw metaError(src.name === '' ? 'EINVAL' : 'ENOENT', `${displayPath(src)} ${src.name === '' ? 'names "/", "." or ".."' : 'does not exist'}`, { path: req.path.path })
  if (src.parent.path === `/${TRASH_NAME}` || src.parent.path.startsWith(`/${TRASH_NAME}/`)) throw metaError('EINVAL', `${displayPath(src)} is in the trash already`, { path: req.path.path })
  const trash = await ensureDirectory(ctx, ROOT_INODE, TRASH_NAME, 0, 0o755)
  await ensureDirectory(ctx, trash.id, String(ctx.user.uid), ctx.user.uid, 0o700)
  const expiresAtMs = Math.floor(ctx.nowMs + req.expireMs)
  const name = `${expiresAtMs}-${src.name}`.slice(0, 255)
  const dstPath = `/${TRASH_NAME}/${ctx.user.uid}/${name}`
  const dst = await resolvePath(ctx, { path: dstPath }, false)
  await renameResolved(ctx, src, dst, { noReplace: true, checkTree: true })
  return { path: dstPath, expiresAtMs }
}

/** The directory `name` under `parent`, created (owned by uid, mode perm) when missing. */
async function ensureDirectory(ctx: OpContext, parent: number, name: string, uid: number, perm: number): Promise<DirectoryInode> {
  const entry = await getEntry(ctx.tx, parent, name)
  if (entry !== null) return mustGetDirectory(ctx.tx, entry.id, name)
  const dir = await mustGetDirectory(ctx.tx, parent)
  const acl = { uid, gid: uid === 0 ? 0 : ctx.user.gid, perm, iflags: 0 }
  const inode: DirectoryInode = { id: ctx.server.allocateInodeId(), type: 'directory', acl, nlink: 1, ...times(ctx.nowMs), dir: { parent, name, layout: dir.dir.layout, chainAllocCounter: 0, lock: null } }
  putInode(ctx.tx, inode)
  putEntry(ctx.tx, { parent, name, id: inode.id, type: 'directory', dirAcl: acl, uuid: ctx.requestId, gcInfo: null })
  return inode
}

/** Parses a trash entry name: its expiry, or null for a name the cleaner leaves alone. */
export function trashExpiry(name: string): number | null {
  const m = /^(\d{1,16})-/.exec(name)
  return m === null ? null : Number(m[1])
}
