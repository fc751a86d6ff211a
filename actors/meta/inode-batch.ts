/**
 * The owner's batch of requests for one inode (reference/3fs.md §2.4–2.5, BatchOperation): close,
 * sync, truncate and setAttr by inode, merged into one transaction. Storage is asked first, once,
 * when a request needs the exact length (no usable hint, or a truncate); then one transaction
 * loads the inode with a read conflict, applies the requests in order (each answered on its own,
 * each recorded for idempotency) and writes the inode once.
 */
import type { Kv, Transaction } from '../kv/index.ts'
import { metaError } from './errors.ts'
import type { Inode, InodeId } from './inode.ts'
import type { Mutant, OpContext } from './op-context.ts'
import { runBatch, type Answer, type BatchItem, type OpBase, type RunOptions, type RunResult } from './op-runner.ts'
import { applyLengthUpdate, needsExactLength, type LengthUpdate } from './ops/file-length.ts'
import { applySetAttr, writeSetAttr } from './ops/set-attr.ts'
import { checkAccess, W_OK } from './permissions.ts'
import type { MetaRequest } from './protocol.ts'
import type { RoutingView } from './routing-view.ts'
import { queryFileLength, truncateFileChunks } from './storage-calls.ts'
import type { StorageService } from './storage-protocol.ts'
import { getInode, mustGetInode } from './store.ts'

export type InodeBatchMsg = Extract<MetaRequest, { type: 'close' | 'sync' | 'truncate' | 'set-attr' }>

export interface InodeBatchEnv {
  readonly kv: Kv
  readonly storage: StorageService
  readonly routing: RoutingView
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

function withTimeout<T>(work: Promise<T>, ms: number, clock: { setTimer(ms: number, f: () => void): { cancel(): void } }, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimer(ms, () => reject(new Error(`${what} did not answer within ${ms} ms`)))
    work.then((v) => { timer.cancel(); resolve(v) }, (e: unknown) => { timer.cancel(); reject(e) })
  })
}

/** Storage's part, before the transaction: truncates, then the exact length if any request needs it. */
async function storageFirst(env: InodeBatchEnv, inode: Inode | null, msgs: readonly InodeBatchMsg[], clock: Parameters<typeof withTimeout>[2]): Promise<{ exact: number | Error | null; truncated: Map<InodeBatchMsg, Error | null> }> {
  const truncated = new Map<InodeBatchMsg, Error | null>()
  if (inode === null || inode.type !== 'file') return { exact: null, truncated }
  for (const m of msgs) {
    if (m.type !== 'truncate') continue
    if (env.mutants.has('truncate-skips-chunks')) continue
    const done = await withTimeout(truncateFileChunks(env.storage, env.routing, inode, m.length), env.storageTimeoutMs, clock, 'storage truncate').then(() => null, (e: unknown) => e as Error)
    truncated.set(m, done)
  }
  const needs = msgs.some((m) => m.type !== 'truncate' && lengthUpdate(m) !== null && needsExactLength(inode, lengthUpdate(m) as LengthUpdate))
  if (!needs) return { exact: null, truncated }
  const exact = await withTimeout(queryFileLength(env.storage, env.routing, inode, env.mutants), env.storageTimeoutMs, clock, 'storage queryLastChunk').catch((e: unknown) => e as Error)
  return { exact, truncated }
}

export async function runInodeBatch(
  env: InodeBatchEnv,
  id: InodeId,
  requests: readonly { msg: InodeBatchMsg; base: OpBase }[],
  clock: Parameters<typeof withTimeout>[2],
  options: RunOptions,
): Promise<RunResult<Answer[]>> {
  const snapshot = await env.kv.transact((tx) => getInode(tx.snapshot, id), { timeoutMs: options.timeoutMs })
  const { exact, truncated } = await storageFirst(env, snapshot, requests.map((r) => r.msg), clock)
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
  return runBatch(
    env.kv,
    items,
    {
      prepare: async (tx) => {
        before = null
        current = null
        await env.prepare?.(tx)
      },
      finish: async (tx) => {
        if (before === null || current === null || current === before) return
        await writeSetAttr(tx, before, current)
      },
    },
    options,
  )
}

