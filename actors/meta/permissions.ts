/**
 * POSIX permission checks against an inode's ACL, for the user a request carries (uid, gid,
 * supplementary groups): owner, then group, then other bits; root (uid 0) passes read/write/search
 * checks. Also the sticky-bit rule for removing and renaming, setgid inheritance, and the rules of
 * chmod/chown/utimes. Refusals are EACCES (no permission bit) or EPERM (not the owner, immutable).
 */
import { metaError } from './errors.ts'
import { FS_IMMUTABLE_FL, S_ISGID, S_ISVTX, type Acl, type Inode } from './inode.ts'
import type { UserInfo } from './protocol.ts'

export const R_OK = 4
export const W_OK = 2
export const X_OK = 1

export const isRoot = (user: UserInfo): boolean => user.uid === 0

export function inGroup(user: UserInfo, gid: number): boolean {
  return user.gid === gid || (user.groups?.includes(gid) ?? false)
}

/** The rwx bits that apply to `user` on `acl`. */
export function bitsFor(acl: Acl, user: UserInfo): number {
  if (user.uid === acl.uid) return (acl.perm >> 6) & 7
  if (inGroup(user, acl.gid)) return (acl.perm >> 3) & 7
  return acl.perm & 7
}

export function canAccess(acl: Acl, user: UserInfo, mask: number): boolean {
  if (isRoot(user)) return true
  return (bitsFor(acl, user) & mask) === mask
}

const maskName = (mask: number): string => `${mask & R_OK ? 'r' : ''}${mask & W_OK ? 'w' : ''}${mask & X_OK ? 'x' : ''}`

export function checkAccess(acl: Acl, user: UserInfo, mask: number, what: string): void {
  if (!canAccess(acl, user, mask)) {
    throw metaError('EACCES', `uid ${user.uid} lacks ${maskName(mask)} permission on ${what} (mode ${acl.perm.toString(8)}, owner ${acl.uid}:${acl.gid})`, { path: what })
  }
}

export function checkNotImmutable(acl: Acl, what: string): void {
  if ((acl.iflags & FS_IMMUTABLE_FL) !== 0) throw metaError('EPERM', `${what} is immutable`, { path: what })
}

/** Sticky directory: only root, the directory's owner or the entry's owner may remove or rename the entry. */
export function checkSticky(dirAcl: Acl, entryOwnerUid: number, user: UserInfo, what: string): void {
  if ((dirAcl.perm & S_ISVTX) === 0 || isRoot(user) || user.uid === dirAcl.uid || user.uid === entryOwnerUid) return
  throw metaError('EPERM', `${what} is in a sticky directory and uid ${user.uid} owns neither it nor the directory`, { path: what })
}

/**
 * The ACL of a new entry: owner from the request, group from the directory when it is setgid
 * (a new subdirectory also inherits setgid), inheritable iflags from the directory.
 */
export function newEntryAcl(user: UserInfo, perm: number, dirAcl: Acl, isDirectory: boolean, inheritedIflags: number): Acl {
  const setgidDir = (dirAcl.perm & S_ISGID) !== 0
  let mode = perm & 0o7777
  if (setgidDir && isDirectory) mode |= S_ISGID
  if (setgidDir && !isDirectory && !inGroup(user, dirAcl.gid) && !isRoot(user)) mode &= ~S_ISGID
  return { uid: user.uid, gid: setgidDir ? dirAcl.gid : user.gid, perm: mode, iflags: dirAcl.iflags & inheritedIflags }
}

/** chmod: owner or root; a non-root caller outside the file's group loses setgid (POSIX). */
export function chmodAcl(acl: Acl, user: UserInfo, perm: number, what: string): Acl {
  if (!isRoot(user) && user.uid !== acl.uid) throw metaError('EPERM', `uid ${user.uid} may not chmod ${what} (owner ${acl.uid})`, { path: what })
  let mode = perm & 0o7777
  if (!isRoot(user) && !inGroup(user, acl.gid)) mode &= ~S_ISGID
  return { ...acl, perm: mode }
}

/**
 * chown: root may set any owner; the owner may only change the group to one it belongs to.
 * A change by a non-root caller clears setuid/setgid, as Linux does for regular files.
 */
export function chownAcl(acl: Acl, user: UserInfo, uid: number | undefined, gid: number | undefined, what: string, isDirectory: boolean): Acl {
  const newUid = uid ?? acl.uid
  const newGid = gid ?? acl.gid
  if (!isRoot(user)) {
    if (newUid !== acl.uid) throw metaError('EPERM', `only root may change the owner of ${what}`, { path: what })
    if (user.uid !== acl.uid) throw metaError('EPERM', `uid ${user.uid} may not chown ${what} (owner ${acl.uid})`, { path: what })
    if (newGid !== acl.gid && !inGroup(user, newGid)) throw metaError('EPERM', `uid ${user.uid} is not in group ${newGid}`, { path: what })
  }
  const changed = newUid !== acl.uid || newGid !== acl.gid
  const clearIds = changed && !isDirectory ? ~(0o4000 | S_ISGID) : ~0
  return { ...acl, uid: newUid, gid: newGid, perm: acl.perm & clearIds }
}

/** utimes: explicit times need ownership (or root); setting both to now needs write permission. */
export function checkUtimes(inode: Inode, user: UserInfo, explicit: boolean, what: string): void {
  if (isRoot(user) || user.uid === inode.acl.uid) return
  if (explicit) throw metaError('EPERM', `uid ${user.uid} may not set explicit times on ${what} (owner ${inode.acl.uid})`, { path: what })
  checkAccess(inode.acl, user, W_OK, what)
}
