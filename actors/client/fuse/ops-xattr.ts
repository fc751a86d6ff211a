/**
 * Extended attributes: only `t3fs.lock`, 3FS's directory creation lock (`hf3fs.lock` there).
 * `setfattr -n t3fs.lock -v try_lock dir` takes it (also preempt_lock, unlock, clear; dashes
 * accepted for underscores); `getfattr -n t3fs.lock dir` names the holding client; listxattr shows
 * it on a locked directory. Any other name: no such attribute (ENODATA), and setting one is not
 * supported (EOPNOTSUPP), so `cp -a` and friends carry on without them.
 */
import type { FuseDevice } from '../../../runtime/fuse-device.ts'
import type { DirLockAction } from '../file-client.ts'
import { inodeOf } from './attrs.ts'
import { encodeData, encodeEmpty, encodeXattrSize, type Request, type RequestKind, type RequestOf } from './kernel-protocol.ts'
import type { FuseSession } from './session.ts'

export const XATTR_OPS: ReadonlySet<RequestKind> = new Set<RequestKind>(['SETXATTR', 'GETXATTR', 'LISTXATTR', 'REMOVEXATTR'])
export const LOCK_XATTR = 't3fs.lock'

export type XattrRequest = RequestOf<'SETXATTR' | 'GETXATTR' | 'LISTXATTR' | 'REMOVEXATTR'>
export const isXattrOp = (r: Request): r is XattrRequest => XATTR_OPS.has(r.kind)
const ACTIONS: Readonly<Record<string, DirLockAction>> = {
  try_lock: 'try-lock', 'try-lock': 'try-lock', preempt_lock: 'preempt-lock', 'preempt-lock': 'preempt-lock', unlock: 'unlock', clear: 'clear',
}
const errno = (code: string, message: string): Error => Object.assign(new Error(`${code}: ${message}`), { code })

export async function serveXattrOp(s: FuseSession, r: XattrRequest, dev: FuseDevice): Promise<void> {
  const unique = r.header.unique
  switch (r.kind) {
    case 'SETXATTR': {
      if (r.name !== LOCK_XATTR) throw errno('EOPNOTSUPP', `extended attribute ${r.name}: only ${LOCK_XATTR} is supported`)
      const value = Buffer.from(r.value).toString('utf8').replace(/\0+$/, '').trim()
      const action = ACTIONS[value]
      if (action === undefined) throw errno('EINVAL', `${LOCK_XATTR} value ${JSON.stringify(value)}; accepted: ${Object.keys(ACTIONS).join(', ')}`)
      await s.client.lockDirectory({ inode: inodeOf(r.header.nodeid) }, action)
      return s.reply(dev, (out) => encodeEmpty(out, unique))
    }
    case 'REMOVEXATTR': {
      if (r.name !== LOCK_XATTR) throw errno('ENODATA', `no extended attribute ${r.name}`)
      await s.client.lockDirectory({ inode: inodeOf(r.header.nodeid) }, 'unlock')
      return s.reply(dev, (out) => encodeEmpty(out, unique))
    }
    case 'GETXATTR': {
      const holder = r.name === LOCK_XATTR ? await lockHolder(s, r.header.nodeid) : null
      if (holder === null) throw errno('ENODATA', `no extended attribute ${r.name}`)
      return replyValue(s, dev, unique, Buffer.from(holder, 'utf8'), r.size)
    }
    case 'LISTXATTR': {
      const names = (await lockHolder(s, r.header.nodeid)) === null ? '' : `${LOCK_XATTR}\0`
      return replyValue(s, dev, unique, Buffer.from(names, 'utf8'), r.size)
    }
  }
}

/** The client holding a directory's lock (null: none, or not a directory). */
async function lockHolder(s: FuseSession, nodeid: bigint): Promise<string | null> {
  const inode = await s.client.meta.request({ type: 'stat', inode: inodeOf(nodeid), follow: false })
  return inode.type === 'directory' ? inode.dir.lock?.clientId ?? null : null
}

/** size 0 asks how large the value is; a smaller buffer than the value is ERANGE. */
function replyValue(s: FuseSession, dev: FuseDevice, unique: bigint, value: Buffer, size: number): void {
  if (size === 0) return s.reply(dev, (out) => encodeXattrSize(out, unique, value.length))
  if (value.length > size) throw errno('ERANGE', `the value is ${value.length} bytes, the buffer ${size}`)
  s.reply(dev, (out) => encodeData(out, unique, value))
}
