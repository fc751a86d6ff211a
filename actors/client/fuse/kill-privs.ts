/**
 * Clearing set-user-ID and set-group-ID when a file changes, done by the mount
 * (FUSE_HANDLE_KILLPRIV_V2), as the kernel's VFS does for local files.
 *
 * Why the mount takes it over: without it the kernel asks GETXATTR security.capability before
 * every write(2) to see whether there is a capability to drop (FUSE turns off the kernel's
 * "no security attributes here" shortcut unless the server kills privileges itself), so a
 * sequential writer costs two requests per write instead of one. With it the kernel flags the
 * requests where bits must go (a WRITE or truncate by a caller without CAP_FSETID, an open with
 * O_TRUNC by one) and leaves chown's to the server; t3fs keeps no security.capability attribute
 * (SETXATTR of it is refused), so only the mode bits are concerned.
 */
import type { FuseDevice } from '../../../runtime/fuse-device.ts'
import { inodeOf } from './attrs.ts'
import { encodeInvalInode } from './kernel-protocol.ts'
import { snapshotOf, type FuseSession } from './session.ts'

export const S_ISUID = 0o4000
export const S_ISGID = 0o2000
const S_IXGRP = 0o010
/** fuse_open_in.open_flags and fuse_create_in.open_flags: O_TRUNC by a caller without CAP_FSETID. */
export const OPEN_KILL_SUIDGID = 1
/** A notification's buffer (INVAL_INODE is 40 bytes). */
const NOTE_BYTES = 64

/**
 * `perm` without what a change of the file drops: S_ISUID, and S_ISGID when the group may execute
 * (without group execute, S_ISGID marks mandatory locking and stays). null when nothing drops.
 */
export function killedPerm(perm: number): number | null {
  let next = perm & ~S_ISUID
  if ((perm & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) next &= ~S_ISGID
  return next === perm ? null : next
}

/**
 * Drops S_ISUID/S_ISGID of regular file `nodeid` when it has them: judged on the mode the kernel
 * was last told (the kernel judges on its cached mode too), else on meta's. The kernel's cached
 * attributes are then invalidated, off this thread and not awaited: the kernel may hold the
 * inode's lock for the very request being served.
 */
export async function killSuidSgid(s: FuseSession, nodeid: bigint, dev: FuseDevice): Promise<void> {
  const attrs = s.table.attrsOf(nodeid) ?? snapshotOf(await s.stat(nodeid))
  if (attrs.type !== 'file') return
  const perm = killedPerm(attrs.perm)
  if (perm === null) return
  const stat = await s.client.setattr({ inode: inodeOf(nodeid) }, { perm })
  s.table.sawAttrs(nodeid, snapshotOf(stat))
  const note = new Uint8Array(NOTE_BYTES)
  const length = encodeInvalInode(note, nodeid, -1n, 0n)
  dev.notify(note, length).then((sent) => { if (sent) s.counters.notifications++ }, (error: unknown) => {
    s.log.debug({ evt: 'FuseNotifyFailed', nodeid: String(nodeid), err: (error as Error).message })
  })
}
