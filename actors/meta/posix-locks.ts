/**
 * POSIX advisory locks (beyond 3FS, which has none): fcntl byte-range locks and flock whole-file
 * locks, held per client (its mgmtd session id) and lock owner, stored in the KV so any meta
 * server serves them, and released with the client's sessions when mgmtd no longer lists it
 * (session-scan.ts). The two kinds do not interact (as on Linux). A conflicting request is refused
 * at once with EAGAIN: a waiting lock (F_SETLKW, LOCK_EX without LOCK_NB) retries from the client.
 * A new lock of an owner replaces that owner's locks over its range, splitting and merging ranges
 * as fcntl does.
 */
import type { Transaction } from '../kv/index.ts'
import { metaError } from './errors.ts'
import type { InodeId } from './inode.ts'
import { lockKey, lockRange, parseLockKey } from './keys.ts'
import type { OpContext } from './op-context.ts'
import type { HeldLock, LockKind, LockRange, LockType } from './protocol.ts'
import { mustGetInode } from './store.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

/** Ranges one owner may hold on one inode. */
export const MAX_RANGES_PER_OWNER = 1024
export const TO_END = Number.MAX_SAFE_INTEGER

interface Stored {
  clientId: string
  owner: string
  kind: LockKind
  ranges: LockRange[]
}

export interface LockRequest {
  readonly inode: InodeId
  readonly kind: LockKind
  readonly owner: string
  readonly lock: LockType
  readonly start: number
  readonly end: number
}

function checkRange(start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start) {
    throw metaError('EINVAL', `lock range [${start}, ${end}) is not accepted; accepted: 0 <= start < end <= ${TO_END}`)
  }
}

async function loadLocks(tx: Transaction, inode: InodeId): Promise<Stored[]> {
  const range = lockRange(inode)
  return (await tx.getRange(range.begin, range.end)).map((kv) => {
    const { clientId, owner } = parseLockKey(kv.key)
    const value = decodeValue<{ kind: LockKind; ranges: LockRange[] }>(kv.value, 'lock')
    return { clientId, owner: owner.slice(owner.indexOf(':') + 1), kind: value.kind, ranges: value.ranges }
  })
}

const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }): boolean => a.start < b.end && b.start < a.end

function firstConflict(all: Stored[], ctx: OpContext, req: { kind: LockKind; owner: string; start: number; end: number }, type: 'read' | 'write'): HeldLock | null {
  for (const s of all) {
    if (s.kind !== req.kind || (s.clientId === ctx.clientId && s.owner === req.owner)) continue
    const hit = s.ranges.find((r) => overlaps(r, req) && (type === 'write' || r.type === 'write'))
    if (hit !== undefined) return { ...hit, clientId: s.clientId, owner: s.owner, kind: s.kind }
  }
  return null
}

/** The owner's ranges with [start, end) cut out. */
function cut(ranges: LockRange[], start: number, end: number): LockRange[] {
  const out: LockRange[] = []
  for (const r of ranges) {
    if (!overlaps(r, { start, end })) out.push(r)
    else {
      if (r.start < start) out.push({ ...r, end: start })
      if (r.end > end) out.push({ ...r, start: end })
    }
  }
  return out
}

function merge(ranges: LockRange[]): LockRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start)
  const out: LockRange[] = []
  for (const r of sorted) {
    const last = out[out.length - 1]
    if (last !== undefined && last.type === r.type && last.end >= r.start) out[out.length - 1] = { ...last, end: Math.max(last.end, r.end) }
    else out.push(r)
  }
  return out
}

export async function lockOp(ctx: OpContext, req: LockRequest): Promise<null> {
  const [start, end] = req.kind === 'flock' ? [0, TO_END] : [req.start, req.end]
  checkRange(start, end)
  await mustGetInode(ctx.tx, req.inode)
  const all = await loadLocks(ctx.tx, req.inode)
  const key = lockKey(req.inode, ctx.clientId, `${req.kind}:${req.owner}`)
  const mine = all.find((s) => s.kind === req.kind && s.clientId === ctx.clientId && s.owner === req.owner)
  let ranges = cut(mine?.ranges ?? [], start, end)
  if (req.lock !== 'unlock') {
    const conflict = firstConflict(all, ctx, { kind: req.kind, owner: req.owner, start, end }, req.lock)
    if (conflict !== null) throw metaError('EAGAIN', `inode ${req.inode} [${conflict.start}, ${conflict.end}) is ${conflict.type}-locked by client ${conflict.clientId} owner ${conflict.owner}`, { inode: req.inode, holder: conflict.clientId })
    ranges = merge([...ranges, { type: req.lock, start, end }])
  }
  if (ranges.length > MAX_RANGES_PER_OWNER) throw metaError('ENOLCK', `an owner holds at most ${MAX_RANGES_PER_OWNER} lock ranges on one file`, { inode: req.inode })
  if (ranges.length === 0) ctx.tx.clear(key)
  else ctx.tx.set(key, encodeValue({ kind: req.kind, ranges }))
  return null
}

export async function getLockOp(ctx: OpContext, req: Omit<LockRequest, 'lock'> & { readonly lock: 'read' | 'write' }): Promise<HeldLock | null> {
  const [start, end] = req.kind === 'flock' ? [0, TO_END] : [req.start, req.end]
  checkRange(start, end)
  return firstConflict(await loadLocks(ctx.tx, req.inode), ctx, { kind: req.kind, owner: req.owner, start, end }, req.lock)
}

/** Drops this client's locks on an inode (all, or one owner's: a close of its last descriptor). */
export async function releaseLocksOp(ctx: OpContext, req: { readonly inode: InodeId; readonly owner?: string }): Promise<{ released: number }> {
  const all = await loadLocks(ctx.tx, req.inode)
  let released = 0
  for (const s of all) {
    if (s.clientId !== ctx.clientId || (req.owner !== undefined && s.owner !== req.owner)) continue
    ctx.tx.clear(lockKey(req.inode, s.clientId, `${s.kind}:${s.owner}`))
    released++
  }
  return { released }
}
