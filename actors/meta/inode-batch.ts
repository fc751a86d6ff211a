/**
 * The owner's batch of requests for one inode (reference/3fs.md §2.4–2.5, BatchOperation): close,
 * sync, truncate and setAttr by inode, merged into one transaction. Storage is asked first, once,
 * when a request needs the exact length (no usable hint, or a truncate) — truncates under the
 * file's truncate lease (truncate-lease.ts); then one transaction loads the inode with a read
 * conflict, applies the requests in order (each answered on its own, each recorded for
 * idempotency), writes the inode once and gives the lease back.
 */
import type { Clock } from '../../runtime/clock.ts'
import { isT3fsError, T3fsError } from '../../runtime/errors.ts'
import type { Kv, Transaction } from '../kv/index.ts'
import { metaError } from './errors.ts'
import { idemKey } from './keys.ts'
import type { Inode, InodeId } from './inode.ts'
import type { Mutant, OpContext } from './op-context.ts'
import { runBatch, type Answer, type BatchItem, type OpBase, type RunOptions, type RunResult } from './op-runner.ts'
import { applyLengthUpdate, needsExactLength, type LengthUpdate } from './ops/file-length.ts'
import { applySetAttr, writeSetAttr } from './ops/set-attr.ts'
import { checkAccess, W_OK } from './permissions.ts'
import { MetaErrorCode, type MetaRequest } from './protocol.ts'
import type { RoutingSource } from './routing-view.ts'
import { queryFileLength, truncateFileChunks } from './storage-calls.ts'
import type { StorageService } from './storage-protocol.ts'
import { getInode, mustGetInode } from './store.ts'
import { clearLease, isLive, LEASE_FACTOR, readLease, writeLease } from './truncate-lease.ts'

export type InodeBatchMsg = Extract<MetaRequest, { type: 'close' | 'sync' | 'truncate' | 'set-attr' }>

export interface InodeBatchEnv {
  readonly kv: Kv
  readonly storage: StorageService
  readonly routing: RoutingSource
  readonly storageTimeoutMs: number
  readonly mutants: ReadonlySet<Mutant>
  /** Runs in each attempt before the requests (the owner's membership check). */
  readonly prepare?: (tx: Transaction) => Promise<void>
}

const lengthUpdate = (m: InodeBatchMsg): LengthUpdate | null => {
  switch (m.type) {
    case 'close':
      return { close: true, session: m.session, updateLength: m.updateLength, lengthHint: m.lengthHint, atimeMs: m.atimeMs, mtimeMs: m.mtimeMs }
    case 'sync':
      return { close: false, updateLength: m.updateLength, truncated: m.truncated, lengthHint: m.lengthHint, atimeMs: m.atimeMs, mtimeMs: m.mtimeMs }
    case 'truncate':
      return { close: false, updateLength: true, truncated: true }
    case 'set-attr':
      return null
  }
}

/** Waits at most `ms` for `work`; `settled` says whether the work itself finished (it is not cancelled). */
function bounded<T>(work: Promise<T>, ms: number, clock: Clock, what: string): { result: Promise<T>; settled: () => boolean } {
  let done = false
  const result = new Promise<T>((resolve, reject) => {
    const timer = clock.setTimer(ms, () => reject(new Error(`${what} did not answer within ${ms} ms`)))
    work.then((v) => { done = true; timer.cancel(); resolve(v) }, (e: unknown) => { done = true; timer.cancel(); reject(e) })
  })
  return { result, settled: () => done }
}

/**
 * A storage call that failed because this server's life ended (the actor crashed and was
 * restarted: its context is fenced) is no answer about the file: the batch is abandoned unrecorded
 * and the clients retry on a live server, rather than get an EIO recorded for their request ids.
 */
function failure(error: unknown): Error {
  if (isT3fsError(error, 'ERR_ACTOR_FENCED')) throw error
  return error as Error
}

interface StorageOutcome {
  readonly exact: number | Error | null
  readonly truncated: Map<InodeBatchMsg, Error | null>
  /** Every storage call this batch made has finished (none can land later). */
  readonly settled: boolean
}

/**
 * Storage's part, before the transaction: truncates, then the exact length if any request needs
 * it. A truncate already applied (its idempotency record exists: this is a late duplicate or a
 * retry of a request that was answered) does nothing to storage again — the file may have been
 * written past the cut since. Truncates stop issuing storage calls at storageTimeoutMs.
 */
async function storageFirst(env: InodeBatchEnv, inode: Inode | null, msgs: readonly InodeBatchMsg[], applied: ReadonlySet<InodeBatchMsg>, clock: Clock): Promise<StorageOutcome> {
  const truncated = new Map<InodeBatchMsg, Error | null>()
  if (inode === null || inode.type !== 'file') return { exact: null, truncated, settled: true }
  const deadline = { clock, atMs: clock.now() + env.storageTimeoutMs }
  let settled = true
  for (const m of msgs) {
    if (m.type !== 'truncate' || applied.has(m)) continue
    if (env.mutants.has('truncate-skips-chunks')) continue
    const call = bounded(truncateFileChunks(env.storage, env.routing, inode, m.length, deadline), env.storageTimeoutMs, clock, 'storage truncate')
    truncated.set(m, await call.result.then(() => null, failure))
    settled &&= call.settled()
  }
  const needs = msgs.some((m) => m.type !== 'truncate' && lengthUpdate(m) !== null && needsExactLength(inode, lengthUpdate(m) as LengthUpdate))
  if (!needs) return { exact: null, truncated, settled }
  const exact = await bounded(queryFileLength(env.storage, env.routing, inode, env.mutants), env.storageTimeoutMs, clock, 'storage queryLastChunk').result.catch(failure)
  return { exact, truncated, settled }
}

/**
 * Reads the inode and which truncates were applied already; when truncates remain, takes the
 * file's truncate lease (ERR_META_BUSY while another runner holds a live one: the clients retry).
 */
async function claim(env: InodeBatchEnv, id: InodeId, truncates: readonly { msg: InodeBatchMsg; base: OpBase }[], holder: string, nowMs: number, timeoutMs: number): Promise<{ snapshot: Inode | null; applied: Set<InodeBatchMsg>; leased: boolean }> {
  return env.kv.transact(async (tx) => {
    const [snapshot, records] = await Promise.all([getInode(tx.snapshot, id), Promise.all(truncates.map((r) => tx.snapshot.get(idemKey(r.base.clientId, r.base.requestId))))])
    const applied = new Set(truncates.filter((_, i) => records[i] !== undefined).map((r) => r.msg))
    if (applied.size === truncates.length || snapshot?.type !== 'file') return { snapshot, applied, leased: false }
    const lease = await readLease(tx, id)
    if (isLive(lease, nowMs) && lease.holder !== holder) {
      throw new T3fsError(MetaErrorCode.BUSY, `inode ${id} is being truncated by another request (lease of ${lease.holder} until ${Math.round(lease.untilMs)} ms); retry`, { inode: id })
    }
    writeLease(tx, id, { holder, untilMs: nowMs + LEASE_FACTOR * env.storageTimeoutMs })
    return { snapshot, applied, leased: true }
  }, { timeoutMs })
}

export async function runInodeBatch(
  env: InodeBatchEnv,
  id: InodeId,
  requests: readonly { msg: InodeBatchMsg; base: OpBase }[],
  clock: Clock,
  options: RunOptions,
): Promise<RunResult<Answer[]>> {
  const server = requests[0].base.server
  const holder = `${server.serverId}:${server.randomU32().toString(36)}`
  const truncates = requests.filter((r) => r.msg.type === 'truncate')
  const { snapshot, applied, leased } = await claim(env, id, truncates, holder, clock.now(), options.timeoutMs)
  const { exact, truncated, settled } = await storageFirst(env, snapshot, requests.map((r) => r.msg), applied, clock)
  let before: Inode | null = null
  let current: Inode | null = null
  const load = async (ctx: OpContext): Promise<Inode> => {
    if (current === null) {
      before = await mustGetInode(ctx.tx, id)
      current = before
    }
    return current
  }
  const items: BatchItem[] = requests.map(({ msg, base }) => ({
    base,
    type: msg.type,
    async run(ctx) {
      const inode = await load(ctx)
      const what = `inode ${id}`
      if (msg.type === 'set-attr') {
        current = applySetAttr(ctx, inode, msg.attrs, what)
        return current
      }
      if (msg.type === 'truncate') {
        if (inode.type !== 'file') throw metaError(inode.type === 'directory' ? 'EISDIR' : 'EINVAL', `${what} is not a file`, { inode: id })
        checkAccess(inode.acl, ctx.user, W_OK, what)
        const failed = truncated.get(msg)
        if (failed != null) throw metaError('EIO', `truncating ${what} through storage failed: ${failed.message}`, { inode: id })
        current = applyLengthUpdate(ctx, inode, lengthUpdate(msg) as LengthUpdate, msg.length)
        return current
      }
      current = applyLengthUpdate(ctx, inode, lengthUpdate(msg) as LengthUpdate, exact)
      return current
    },
  }))
  const release = leased && settled ? () => releaseLease(env.kv, id, holder, options.timeoutMs) : async () => undefined
  return runBatch(
    env.kv,
    items,
    {
      prepare: async (tx) => {
        before = null
        current = null
        await env.prepare?.(tx)
        if (leased && (await readLease(tx, id))?.holder !== holder) {
          throw new T3fsError(MetaErrorCode.BUSY, `the truncate lease of inode ${id} ran out and passed to another request; retry`, { inode: id })
        }
      },
      finish: async (tx) => {
        // A lease whose storage work may still land somewhere is left to expire.
        if (leased && settled) clearLease(tx, id)
        if (before === null || current === null || current === before) return
        await writeSetAttr(tx, before, current)
      },
    },
    options,
  ).catch(async (error: unknown) => {
    await release() // the batch did not commit (ownership moved, KV trouble): the next runner need not wait
    throw error
  })
}

/** Gives the lease back if this runner still holds it. */
async function releaseLease(kv: Kv, id: InodeId, holder: string, timeoutMs: number): Promise<void> {
  await kv.transact(async (tx) => {
    if ((await readLease(tx, id))?.holder === holder) clearLease(tx, id)
  }, { timeoutMs }).catch(() => undefined)
}
