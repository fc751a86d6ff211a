/**
 * POSIX (fcntl) and BSD (flock) locks, kept by meta per client and owner (3FS has none): GETLK,
 * SETLK and SETLKW. A conflict is refused by meta at once (EAGAIN); SETLKW asks again with a
 * backoff from lock_retry up to 1 s until it gets the lock or the caller is interrupted (a signal:
 * INTERRUPT, answered EINTR). Locks go with their owner: a process's POSIX locks on a file at any
 * close of it (FLUSH), a flock at the last close of its open file (RELEASE with FLOCK_UNLOCK).
 */
import { T3fsError } from '../../../runtime/errors.ts'
import type { FuseDevice } from '../../../runtime/fuse-device.ts'
import type { TimerHandle } from '../../../runtime/clock.ts'
import { inodeOf } from './attrs.ts'
import { LockType, encodeEmpty, encodeLock, type Request, type RequestKind, type RequestOf } from './kernel-protocol.ts'
import type { FuseSession } from './session.ts'

export const LOCK_OPS: ReadonlySet<RequestKind> = new Set<RequestKind>(['GETLK', 'SETLK', 'SETLKW'])
const TO_END = Number.MAX_SAFE_INTEGER
const OFFSET_MAX = 0x7fff_ffff_ffff_ffffn
const RETRY_MAX_MS = 1_000

export type LockRequest = RequestOf<'GETLK' | 'SETLK' | 'SETLKW'>
export const isLockOp = (r: Request): r is LockRequest => LOCK_OPS.has(r.kind)
type Kind = 'posix' | 'flock'

interface Waiter {
  cancel(): void
}

/** Blocked SETLKW requests by their unique, so INTERRUPT can end them; at most `max` at once. */
export class LockWaiters {
  readonly #waiting = new Map<bigint, Waiter>()
  /** (node, kind, owner) that took a lock through this mount: what FLUSH and RELEASE give back. */
  readonly holders = new Set<string>()

  constructor(private readonly max: number) {}

  add(unique: bigint, waiter: Waiter): void {
    if (this.#waiting.size >= this.max) throw new T3fsError('ENOLCK', `ENOLCK: ${this.max} lock requests are already waiting`, { errno: 37 })
    this.#waiting.set(unique, waiter)
  }

  done(unique: bigint): void {
    this.#waiting.delete(unique)
  }

  interrupt(unique: bigint): void {
    this.#waiting.get(unique)?.cancel()
  }

  get waiting(): number {
    return this.#waiting.size
  }
}

const ownerOf = (kind: Kind, owner: bigint): string => `${kind}:${owner}`
const holderKey = (nodeid: bigint, kind: Kind, owner: bigint): string => `${nodeid}/${kind}/${owner}`

/** fuse_file_lock's inclusive [start, end] (end OFFSET_MAX: to the end) as meta's [start, end). */
function rangeOf(r: LockRequest): { start: number; end: number } {
  const start = Number(r.start)
  const end = r.end >= BigInt(TO_END - 1) ? TO_END : Number(r.end) + 1
  return { start, end }
}

export async function serveLockOp(s: FuseSession, r: LockRequest, dev: FuseDevice): Promise<void> {
  const kind: Kind = r.flock ? 'flock' : 'posix'
  const inode = inodeOf(r.header.nodeid)
  const { start, end } = rangeOf(r)
  const owner = ownerOf(kind, r.owner)
  if (r.kind === 'GETLK') {
    if (r.lockType === LockType.UNLCK) throw Object.assign(new Error('EINVAL: F_GETLK of F_UNLCK'), { code: 'EINVAL' })
    const held = await s.client.meta.request({ type: 'get-lock', inode, kind, owner, lock: r.lockType === LockType.WRLCK ? 'write' : 'read', start, end })
    const lk = held === null
      ? { start: r.start, end: r.end, type: LockType.UNLCK, pid: 0 }
      : { start: BigInt(held.start), end: held.end >= TO_END ? OFFSET_MAX : BigInt(held.end - 1), type: held.type === 'write' ? LockType.WRLCK : LockType.RDLCK, pid: 0 }
    return s.reply(dev, (out) => encodeLock(out, r.header.unique, lk))
  }
  const lock = r.lockType === LockType.UNLCK ? 'unlock' : r.lockType === LockType.WRLCK ? 'write' : 'read'
  const take = () => s.client.meta.request({ type: 'lock', inode, kind, owner, lock, start, end })
  if (r.kind === 'SETLK' || lock === 'unlock') await take()
  else await waitFor(s, r.header.unique, take)
  if (lock !== 'unlock') s.locks.holders.add(holderKey(r.header.nodeid, kind, r.owner))
  s.reply(dev, (out) => encodeEmpty(out, r.header.unique))
}

/** Asks until meta grants the lock; EINTR when the kernel interrupts the request. */
async function waitFor(s: FuseSession, unique: bigint, take: () => Promise<unknown>): Promise<void> {
  let timer: TimerHandle | null = null
  let wake: (() => void) | null = null
  let interrupted = false
  s.locks.add(unique, {
    cancel() {
      interrupted = true
      timer?.cancel()
      wake?.()
    },
  })
  try {
    for (let delayMs = s.config.lockRetryMs; ; delayMs = Math.min(delayMs * 2, RETRY_MAX_MS)) {
      if (interrupted) throw Object.assign(new Error('EINTR: the lock wait was interrupted'), { code: 'EINTR' })
      try {
        await take()
        return
      } catch (error) {
        if ((error as { code?: string }).code !== 'EAGAIN') throw error
      }
      await new Promise<void>((resolve) => {
        wake = resolve
        timer = s.clock.setTimer(delayMs, resolve)
      })
    }
  } finally {
    s.locks.done(unique)
  }
}

/** Gives back the locks `owner` of `kind` took on the node through this mount (none taken: no meta call). */
export async function releaseLocksOf(s: FuseSession, nodeid: bigint, kind: Kind, owner: bigint): Promise<void> {
  const key = holderKey(nodeid, kind, owner)
  if (!s.locks.holders.has(key)) return
  s.locks.holders.delete(key)
  await s.client.meta.request({ type: 'release-locks', inode: inodeOf(nodeid), owner: ownerOf(kind, owner) })
}
