/**
 * setAttr (reference/3fs.md §2.4): chmod, chown, utimes, iflags (chattr; root only), the layout
 * new files of a directory inherit, and extendStripe for files with a dynamic stripe. Any change
 * bumps ctime. A directory's ACL lives in its entry too (dirAcl, for path walks), so changing it
 * rewrites the entry. An immutable inode refuses every change but its iflags. By path it runs on
 * the server that got it; by inode it is batched on the inode's owner (owner-batch.ts).
 */
import type { Transaction } from '../../kv/index.ts'
import { metaError } from '../errors.ts'
import { FS_IMMUTABLE_FL, ROOT_INODE, SETTABLE_IFLAGS, type Inode } from '../inode.ts'
import { checkLayout } from '../layout.ts'
import type { OpContext } from '../op-context.ts'
import { chmodAcl, chownAcl, checkAccess, checkUtimes, isRoot, W_OK } from '../permissions.ts'
import type { SetAttrFields } from '../protocol.ts'
import { getEntry, putEntry, putInode } from '../store.ts'

/** The inode after the change (not yet written). Every refusal comes before anything is written. */
export function applySetAttr(ctx: OpContext, inode: Inode, attrs: SetAttrFields, what: string): Inode {
  const immutable = (inode.acl.iflags & FS_IMMUTABLE_FL) !== 0
  const onlyIflags = Object.keys(attrs).every((k) => k === 'iflags')
  if (immutable && !onlyIflags) throw metaError('EPERM', `${what} is immutable`, { path: what })
  let next: Inode = inode
  if (attrs.iflags !== undefined) {
    if (!isRoot(ctx.user)) throw metaError('EPERM', `only root may change the flags of ${what}`, { path: what })
    if ((attrs.iflags & ~SETTABLE_IFLAGS) !== 0) throw metaError('ENOTSUP', `iflags 0x${attrs.iflags.toString(16)} include unsupported flags; supported: 0x${SETTABLE_IFLAGS.toString(16)}`, { path: what })
    next = { ...next, acl: { ...next.acl, iflags: attrs.iflags } }
  }
  if (attrs.perm !== undefined) next = { ...next, acl: chmodAcl(next.acl, ctx.user, attrs.perm, what) }
  if (attrs.uid !== undefined || attrs.gid !== undefined) next = { ...next, acl: chownAcl(next.acl, ctx.user, attrs.uid, attrs.gid, what, next.type === 'directory') }
  if (attrs.atimeMs !== undefined || attrs.mtimeMs !== undefined) {
    checkUtimes(inode, ctx.user, attrs.atimeMs !== 'now' && attrs.mtimeMs !== 'now', what)
    const at = (t: number | 'now' | undefined, old: number) => (t === undefined ? old : t === 'now' ? ctx.nowMs : t)
    next = { ...next, atimeMs: at(attrs.atimeMs, next.atimeMs), mtimeMs: at(attrs.mtimeMs, next.mtimeMs) }
  }
  if (attrs.layout !== undefined) {
    if (next.type !== 'directory') throw metaError('ENOTDIR', `${what}: only a directory holds a layout for new files`, { path: what })
    if (!isRoot(ctx.user) && ctx.user.uid !== next.acl.uid) throw metaError('EPERM', `uid ${ctx.user.uid} may not set the layout of ${what} (owner ${next.acl.uid})`, { path: what })
    next = { ...next, dir: { ...next.dir, layout: checkLayout(attrs.layout) } }
  }
  if (attrs.extendStripe === true) {
    if (next.type !== 'file') throw metaError('EISDIR', `${what}: only a file has a stripe to extend`, { path: what })
    checkAccess(next.acl, ctx.user, W_OK, what)
    const dyn = next.file.dynStripe
    if (dyn > 0) next = { ...next, file: { ...next.file, dynStripe: Math.min(dyn * 2, next.file.layout.stripeSize) } }
  }
  return next === inode ? inode : { ...next, ctimeMs: ctx.nowMs }
}

/** Writes the changed inode, and a directory's entry when its ACL changed. */
export async function writeSetAttr(tx: Transaction, before: Inode, after: Inode): Promise<void> {
  if (after === before) return
  putInode(tx, after)
  if (after.type !== 'directory' || after.id === ROOT_INODE || after.nlink === 0) return
  if (JSON.stringify(after.acl) === JSON.stringify(before.acl)) return
  const entry = await getEntry(tx, after.dir.parent, after.dir.name)
  if (entry !== null && entry.id === after.id) putEntry(tx, { ...entry, dirAcl: after.acl })
}
