/**
 * Requests about names and inode attributes: LOOKUP, GETATTR, SETATTR (chmod, chown, truncate,
 * utimes), READLINK, SYMLINK, MKNOD (regular files), MKDIR, UNLINK, RMDIR, RENAME (and renameat2's
 * NOREPLACE), LINK, STATFS, ACCESS.
 *
 * The mount's FileClient acts as root; the kernel has checked permissions already
 * (default_permissions), and what a caller creates is then given to the caller (uid, and gid
 * unless the directory is setgid: then meta's inherited gid stands).
 */
import type { FuseDevice } from '../../../runtime/fuse-device.ts'
import type { FileStat, SetAttrOptions, TimeSpec } from '../file-client.ts'
import { attrOf, inodeOf, nodeidOf } from './attrs.ts'
import {
  GETATTR_FH, RenameFlag, S_IFMT, S_IFREG, SetattrValid, encodeData, encodeEmpty, encodeEntry, encodeError, encodeStatfs, type InHeader, type Request, type RequestKind,
  type RequestOf,
} from './kernel-protocol.ts'
import { killedPerm } from './kill-privs.ts'
import { snapshotOf, type FuseSession } from './session.ts'

export const ENTRY_OPS: ReadonlySet<RequestKind> = new Set<RequestKind>([
  'LOOKUP', 'GETATTR', 'SETATTR', 'READLINK', 'SYMLINK', 'MKNOD', 'MKDIR', 'UNLINK', 'RMDIR', 'RENAME', 'LINK', 'STATFS', 'ACCESS',
])

export type EntryRequest = RequestOf<'LOOKUP' | 'GETATTR' | 'SETATTR' | 'READLINK' | 'SYMLINK' | 'MKNOD' | 'MKDIR' | 'UNLINK' | 'RMDIR' | 'RENAME' | 'LINK' | 'STATFS' | 'ACCESS'>
export const isEntryOp = (r: Request): r is EntryRequest => ENTRY_OPS.has(r.kind)
const S_ISGID = 0o2000
const errno = (code: string, message: string): Error => Object.assign(new Error(`${code}: ${message}`), { code })

export async function serveEntryOp(s: FuseSession, r: EntryRequest, dev: FuseDevice): Promise<void> {
  const unique = r.header.unique
  const at = (name: string, parent = r.header.nodeid) => ({ path: name, at: inodeOf(parent) })
  switch (r.kind) {
    case 'LOOKUP': return lookup(s, r, dev)
    case 'GETATTR': {
      const fh = (r.getattrFlags & GETATTR_FH) !== 0 ? r.fh : null
      const stat = fh !== null ? await s.client.fstat(s.handles.file(fh).handle) : await s.stat(r.header.nodeid)
      return s.replyAttr(dev, unique, r.header.nodeid, stat)
    }
    case 'SETATTR': return s.replyAttr(dev, unique, r.header.nodeid, await setattr(s, r))
    case 'READLINK': {
      const stat = await s.stat(r.header.nodeid)
      if (stat.symlinkTarget === null) throw errno('EINVAL', `node ${r.header.nodeid} is not a symlink`)
      const bytes = Buffer.from(stat.symlinkTarget, 'utf8')
      return s.reply(dev, (out) => encodeData(out, unique, bytes))
    }
    case 'SYMLINK': return replyEntry(s, dev, r.header, r.name, await ownedByCaller(s, r.header, await s.client.symlink(r.target, at(r.name))))
    case 'MKDIR': return replyEntry(s, dev, r.header, r.name, await ownedByCaller(s, r.header, await s.client.mkdir(at(r.name), { perm: r.mode & 0o7777 })))
    case 'MKNOD': {
      // Regular files only: t3fs stores no FIFOs, sockets or devices (mknod(2) says EPERM for an unsupported type).
      if ((r.mode & S_IFMT) !== S_IFREG) throw errno('EPERM', 'mknod of anything but a regular file')
      const handle = await s.client.create(at(r.name), r.mode & 0o7777, { excl: true })
      await s.client.close(handle)
      return replyEntry(s, dev, r.header, r.name, await ownedByCaller(s, r.header, await s.client.stat({ inode: handle.inode }, { follow: false })))
    }
    case 'UNLINK': await s.client.unlink(at(r.name)); return s.reply(dev, (out) => encodeEmpty(out, unique))
    case 'RMDIR': await s.client.rmdir(at(r.name)); return s.reply(dev, (out) => encodeEmpty(out, unique))
    case 'RENAME': {
      if ((r.flags & ~RenameFlag.NOREPLACE) !== 0) throw errno('EINVAL', `renameat2 flags 0x${r.flags.toString(16)}: only RENAME_NOREPLACE is supported`)
      await s.client.rename(at(r.name), at(r.newName, r.newDir), { noReplace: (r.flags & RenameFlag.NOREPLACE) !== 0 })
      return s.reply(dev, (out) => encodeEmpty(out, unique))
    }
    case 'LINK': return link(s, r, dev)
    case 'STATFS': {
      const fs = await s.client.statfs()
      const block = 4096n
      const blocks = BigInt(Math.floor(fs.capacityBytes / 4096))
      const free = BigInt(Math.floor(fs.freeBytes / 4096))
      return s.reply(dev, (out) => encodeStatfs(out, unique, { blocks, bfree: free, bavail: free, files: 1n << 32n, ffree: 1n << 32n, bsize: Number(block), namelen: 255, frsize: Number(block) }))
    }
    case 'ACCESS': return access(s, r, dev)
  }
}

async function lookup(s: FuseSession, r: RequestOf<'LOOKUP'>, dev: FuseDevice): Promise<void> {
  let stat: FileStat
  try {
    stat = await s.client.stat({ path: r.name, at: inodeOf(r.header.nodeid) }, { follow: false })
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT' || s.config.negativeTimeoutMs === 0) throw error
    // A negative entry: the kernel remembers the name is missing for negative_timeout.
    const negative = s.config.negativeTimeoutMs / 1000
    return s.reply(dev, (out) => encodeEntry(out, r.header.unique, { nodeid: 0n, entryValidSec: negative, attrValidSec: 0, attr: { ino: 0n, size: 0, mode: 0, nlink: 0, uid: 0, gid: 0 } }))
  }
  replyEntry(s, dev, r.header, r.name, stat)
}

/** An entry reply: the kernel now holds one more lookup of the node, under (parent, name). */
export function replyEntry(s: FuseSession, dev: FuseDevice, header: InHeader, name: string, stat: FileStat): void {
  const nodeid = nodeidOf(stat.inode)
  s.table.lookedUp(nodeid, { parent: header.nodeid, name }, snapshotOf(stat))
  s.reply(dev, (out) => encodeEntry(out, header.unique, {
    nodeid, entryValidSec: s.config.entryTimeoutMs / 1000, attrValidSec: s.attrTimeoutSec(stat), attr: attrOf(stat),
  }))
}

/** What a caller other than root creates becomes the caller's (the FileClient created it as root). */
export async function ownedByCaller(s: FuseSession, header: InHeader, stat: FileStat): Promise<FileStat> {
  if (header.uid === stat.uid && header.gid === stat.gid) return stat
  const parent = s.table.attrsOf(header.nodeid) ?? snapshotOf(await s.stat(header.nodeid))
  const gidInherited = (parent.perm & S_ISGID) !== 0
  const attrs = { uid: header.uid, ...(gidInherited ? {} : { gid: header.gid }) }
  if (attrs.uid === stat.uid && (gidInherited || header.gid === stat.gid)) return stat
  return s.client.setattr({ inode: stat.inode }, attrs)
}

async function setattr(s: FuseSession, r: RequestOf<'SETATTR'>): Promise<FileStat> {
  const v = r.valid
  const timeOf = (now: number, sec: bigint, nsec: number, set: number): TimeSpec | undefined =>
    (v & now) !== 0 ? 'now' : (v & set) !== 0 ? Number(sec) * 1000 + Math.floor(nsec / 1e6) : undefined
  const attrs: { -readonly [K in keyof SetAttrOptions]: SetAttrOptions[K] } = {}
  if ((v & SetattrValid.MODE) !== 0) attrs.perm = r.mode & 0o7777
  if ((v & SetattrValid.UID) !== 0) attrs.uid = r.uid
  if ((v & SetattrValid.GID) !== 0) attrs.gid = r.gid
  // HANDLE_KILLPRIV_V2 (kill-privs.ts): a chown, or a truncate by a caller without CAP_FSETID, drops S_ISUID/S_ISGID.
  const kills = (v & SetattrValid.MODE) === 0 && ((v & (SetattrValid.UID | SetattrValid.GID)) !== 0 || ((v & SetattrValid.SIZE) !== 0 && (v & SetattrValid.KILL_SUIDGID) !== 0))
  if (kills) {
    const now = s.table.attrsOf(r.header.nodeid) ?? snapshotOf(await s.stat(r.header.nodeid))
    const perm = now.type === 'file' ? killedPerm(now.perm) : null
    if (perm !== null) attrs.perm = perm
  }
  const atime = timeOf(SetattrValid.ATIME_NOW, r.atimeSec, r.atimeNsec, SetattrValid.ATIME)
  const mtime = timeOf(SetattrValid.MTIME_NOW, r.mtimeSec, r.mtimeNsec, SetattrValid.MTIME)
  if (atime !== undefined) attrs.atimeMs = atime
  if (mtime !== undefined) attrs.mtimeMs = mtime
  const open = (v & SetattrValid.FH) !== 0 ? s.handles.file(r.fh) : s.handles.anyFileOf(r.header.nodeid)
  let stat: FileStat | null = null
  if ((v & SetattrValid.SIZE) !== 0) {
    const size = Number(r.size)
    // Through an open handle when there is one: its buffered writes go first, then the cut.
    stat = open !== undefined ? await s.client.truncate(open.handle, size) : await s.client.truncate({ inode: inodeOf(r.header.nodeid) }, size)
  }
  if (Object.keys(attrs).length > 0) stat = await s.client.setattr({ inode: inodeOf(r.header.nodeid) }, attrs)
  return stat ?? s.stat(r.header.nodeid)
}

async function link(s: FuseSession, r: RequestOf<'LINK'>, dev: FuseDevice): Promise<void> {
  // meta links by path: a name the kernel reached the inode by (it must have looked it up to link it).
  const from = s.table.nameOf(r.oldNodeid)
  if (from === undefined) throw errno('ENOENT', `node ${r.oldNodeid} has no known name to link from`)
  const source = { path: from.name, at: inodeOf(from.parent) }
  const found = await s.client.stat(source, { follow: false })
  if (nodeidOf(found.inode) !== r.oldNodeid) throw errno('ENOENT', `${from.name} no longer names node ${r.oldNodeid}`)
  const stat = await s.client.link(source, { path: r.name, at: inodeOf(r.header.nodeid) })
  replyEntry(s, dev, r.header, r.name, stat)
}

const R_OK = 4
const W_OK = 2
const X_OK = 1

/** ACCESS (sent only without default_permissions): the mode bits against the caller. */
async function access(s: FuseSession, r: RequestOf<'ACCESS'>, dev: FuseDevice): Promise<void> {
  const stat = await s.stat(r.header.nodeid)
  const { uid, gid } = r.header
  const want = r.mask & (R_OK | W_OK | X_OK)
  let ok: boolean
  if (uid === 0) ok = (want & X_OK) === 0 || stat.type === 'directory' || (stat.perm & 0o111) !== 0
  else {
    const bits = uid === stat.uid ? (stat.perm >> 6) & 7 : gid === stat.gid ? (stat.perm >> 3) & 7 : stat.perm & 7
    ok = (bits & want) === want
  }
  s.reply(dev, (out) => (ok ? encodeEmpty(out, r.header.unique) : encodeError(out, r.header.unique, 'EACCES')))
}
