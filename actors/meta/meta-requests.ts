/**
 * How a meta server handles a request: identify the caller (tokens, when asked for), then either
 * run it here as one transaction, or — for create of a new entry and for close, sync, truncate and
 * setAttr by inode — send it to the owner of the directory / inode (rendezvous over the live
 * servers), which merges the concurrent requests for one inode into one transaction. A request
 * that arrives forwarded runs where it arrived; a forward that fails to reach the owner runs here
 * (ownership only orders work, the KV keeps it correct). At most `maxInFlight` transactions run at
 * once; more wait in a queue of `maxQueued`, beyond which the answer is ERR_META_BUSY.
 */
import { meterRequest, meteredReply } from './metrics.ts'
import type { ActorContext, DeferredReply } from '../../runtime/actor.ts'
import { isT3fsError, T3fsError, toT3fsError } from '../../runtime/errors.ts'
import type { Kv } from '../kv/index.ts'
import { directOp, type DirectRequest } from './dispatch.ts'
import { adminWork } from './meta-admin-requests.ts'
import { runInodeBatch, type InodeBatchMsg } from './inode-batch.ts'
import type { InodeId } from './inode.ts'
import { versionInTx } from './membership.ts'
import { busy, type BatchEntry, type MetaSelfMsg, type MetaState } from './meta-state.ts'
import { opContext } from './op-context.ts'
import { runBatch, runOne, type Answer, type OpBase, type RunOptions, type RunResult } from './op-runner.ts'
import { createOp } from './ops/create.ts'
import { statReading } from './ops/stat.ts'
import { runSync } from './reading.ts'
import { isErrno } from './errors.ts'
import { resolvePath, resolveReading } from './path-resolve.ts'
import { ADMIN_TYPES, type MetaRequest } from './protocol.ts'
import { ownerOf } from './rendezvous.ts'

type Ctx = ActorContext<MetaSelfMsg>

export const OWNER_MOVED = 'ERR_META_OWNER_MOVED'

/** Errors of the way to the owner (not answers of the file system): the forwarder runs the request itself. */
const UNREACHABLE = new Set(['ERR_HOST_DIED', 'ERR_ASK_TIMEOUT', 'ERR_STALE_INCARNATION', 'ERR_UNKNOWN_ADDRESS', 'ERR_ACTOR_FAILED', 'ERR_ACTOR_STOPPED', 'ERR_ACTOR_FENCED', 'ERR_MAILBOX_FULL', 'ERR_PEER_DOWN', 'ERR_META_BUSY', OWNER_MOVED])

export function runOptions(state: MetaState): RunOptions {
  return { timeoutMs: state.config.operationTimeoutMs, wantReadVersion: state.probe !== null }
}

export function baseOf(state: MetaState, ctx: Ctx, msg: MetaRequest): OpBase {
  return { user: msg.user, clientId: msg.clientId, requestId: msg.requestId, nowMs: ctx.clock.now(), server: state.services }
}

/** Takes a new request: its reply is deferred under a token until the work settles. */
export function admit(state: MetaState, ctx: Ctx, msg: MetaRequest): void {
  // A stat on a local KV is answered right here: no deferred reply, token or pending entry.
  if (msg.type === 'stat' && !state.config.authenticate && state.kv.readSnapshot !== undefined) {
    const metered = meterRequest(ctx.metrics, ctx.clock, msg.type)
    const done = statNow(state, state.kv as LocalReads, msg)
    if (done instanceof T3fsError) {
      metered(done.code)
      return ctx.fail(done)
    }
    probeAnswer(state, msg, done.answer, done.readVersion)
    metered(done.answer.ok ? 'ok' : toT3fsError(done.answer.error).code)
    return done.answer.ok ? ctx.reply(done.answer.value) : ctx.fail(done.answer.error)
  }
  const token = state.nextToken++
  state.pending.set(token, meteredReply(ctx.deferReply(), ctx.metrics, ctx.clock, msg.type))
  const needAdmin = ADMIN_TYPES.has(msg.type)
  if (!needAdmin && !state.config.authenticate) return route(state, ctx, msg, token)
  const identified = state.users.identify(msg.user, needAdmin, state.config.authenticate, ctx.clock.now()).then((id) => ({ ...msg, user: id.user }) as MetaRequest)
  ctx.pipeToSelf(identified, (outcome) => ({ type: 'authorized', token, msg, outcome }))
}

export function settle(state: MetaState, token: number, ok: boolean, value: unknown): void {
  const reply: DeferredReply | undefined = state.pending.get(token)
  if (reply === undefined) return
  state.pending.delete(token)
  if (ok) reply.resolve(value)
  else reply.reject(value)
}

/** Where a request runs, once its caller is known. */
export function route(state: MetaState, ctx: Ctx, msg: MetaRequest, token: number): void {
  switch (msg.type) {
    case 'close':
    case 'sync':
    case 'truncate':
      return toOwner(state, ctx, msg, token, 'inode', msg.inode)
    case 'set-attr':
      if (msg.inode !== undefined) return toOwner(state, ctx, msg, token, 'inode', msg.inode)
      return runDirect(state, ctx, msg, token)
    case 'create':
      if (msg.forwarded === true && msg.parentHint !== undefined) return enqueue(state, ctx, 'create', msg.parentHint, { msg, token })
      return tryOpen(state, ctx, msg, token)
    case 'stat-fs':
    case 'authenticate':
    case 'drop-user-cache':
    case 'set-user':
    case 'prune-session':
    case 'list-sessions':
      return ctx.pipeToSelf(adminWork(state, ctx, msg), (outcome) => ({ type: 'value-done', token, outcome }))
    default:
      return runDirect(state, ctx, msg, token)
  }
}

/** create: resolve first; an existing entry is opened here, a new one is made by the directory's owner. */
function tryOpen(state: MetaState, ctx: Ctx, msg: Extract<MetaRequest, { type: 'create' }>, token: number): void {
  const follow = msg.flags.excl !== true && msg.flags.nofollow !== true
  if (state.kv.readSnapshot !== undefined) {
    // A local KV: the walk reads one snapshot here and now (as statNow), no transaction or message.
    let outcome: { exists: boolean; parent: InodeId } | T3fsError
    try {
      const r = state.kv.readSnapshot((reader) => runSync(resolveReading({ user: msg.user, server: state.services }, msg.path, follow), reader))
      outcome = { exists: r.entry !== null || r.name === '', parent: r.parent.id }
    } catch (error) {
      outcome = toT3fsError(error)
    }
    return onCreateResolved(state, ctx, msg, token, outcome)
  }
  const base = baseOf(state, ctx, msg)
  const resolved = state.kv.transact(async (tx) => {
    const r = await resolvePath(opContext(tx, false, base), msg.path, follow)
    return { exists: r.entry !== null || r.name === '', parent: r.parent.id }
  }, { timeoutMs: state.config.operationTimeoutMs })
  ctx.pipeToSelf(resolved, (outcome) => ({ type: 'create-resolved', token, msg, outcome }))
}

export function onCreateResolved(state: MetaState, ctx: Ctx, msg: Extract<MetaRequest, { type: 'create' }>, token: number, outcome: { exists: boolean; parent: InodeId } | T3fsError): void {
  // Refusals and existing entries are answered by the create transaction itself, here.
  if (outcome instanceof T3fsError || outcome.exists) return runDirect(state, ctx, msg, token)
  toOwner(state, ctx, withField(msg, 'parentHint', outcome.parent), token, 'create', outcome.parent)
}

/**
 * A copy of a request with one field set. Not `{ ...msg, field }`: on Node 20 (V8 11.3) a spread
 * followed by more properties is a slow generic copy whose results tend to survive scavenges (see
 * meta-client.ts); half of all creates are copied twice on their way to the owner.
 */
function withField<M extends MetaRequest, K extends string, V>(msg: M, field: K, value: V): M & Record<K, V> {
  const copy = Object.assign({}, msg) as Record<string, unknown>
  copy[field] = value
  return copy as M & Record<K, V>
}

function toOwner(state: MetaState, ctx: Ctx, msg: MetaRequest, token: number, kind: 'create' | 'inode', id: InodeId): void {
  const owner = ownerOf(state.live, id) ?? state.serverId
  const member = state.members.get(owner)
  if (msg.forwarded === true || owner === state.serverId || member === undefined) return enqueue(state, ctx, kind, id, { msg, token })
  state.stats.forwarded++
  const forwarded = ctx.ask(ctx.refFor<MetaSelfMsg>(member.address), withField(msg, 'forwarded', true), { timeoutMs: state.config.forwardTimeoutMs })
  ctx.pipeToSelf(forwarded as Promise<unknown>, (outcome) => ({ type: 'forward-done', token, msg, owner, outcome }))
}

export function onForwardDone(state: MetaState, ctx: Ctx, msg: MetaRequest, token: number, outcome: { ok: true; value: unknown } | { ok: false; error: T3fsError }): void {
  if (outcome.ok) return settle(state, token, true, outcome.value)
  if (!UNREACHABLE.has(outcome.error.code)) return settle(state, token, false, outcome.error)
  // The owner could not be reached: run it here, as a forwarded request.
  const local = { ...msg, forwarded: true } as MetaRequest
  if (local.type === 'create') return local.parentHint === undefined ? runDirect(state, ctx, local, token) : enqueue(state, ctx, 'create', local.parentHint, { msg: local, token })
  const id = (local as { inode?: InodeId }).inode
  if (id === undefined) return runDirect(state, ctx, local, token)
  enqueue(state, ctx, 'inode', id, { msg: local, token })
}

/** Runs now if a slot is free, else waits in the bounded queue. */
function withSlot(state: MetaState, token: number, start: () => void): void {
  if (state.inFlight < state.config.maxInFlight) {
    state.inFlight++
    return start()
  }
  if (state.waiting.length >= state.config.maxQueued) return settle(state, token, false, busy(state.serverId, `${state.inFlight} transactions in flight and ${state.waiting.length} queued`))
  state.waiting.push(() => {
    state.inFlight++
    start()
  })
}

export function runDirect(state: MetaState, ctx: Ctx, msg: MetaRequest, token: number): void {
  if (msg.type === 'stat' && state.kv.readSnapshot !== undefined) {
    const done = statNow(state, state.kv as LocalReads, msg)
    if (done instanceof T3fsError) return settle(state, token, false, done)
    return answer(state, msg, token, done.answer, done.readVersion)
  }
  const op = directOp(msg as DirectRequest)
  withSlot(state, token, () => {
    const work = runOne(state.kv, baseOf(state, ctx, msg), { ...op, type: msg.type }, runOptions(state))
    ctx.pipeToSelf(work, (outcome) => ({ type: 'op-done', token, msg, outcome }))
  })
}

/**
 * A stat on a local KV (memory, lmdb), answered before the handler returns: its path walk reads one
 * snapshot synchronously (what a read-only transaction's snapshot reads see, without the attempt,
 * the retry loop, a slot or an op-done message). Other backends run it as a transaction.
 */
/** A KV with synchronous snapshot reads (memory, lmdb). */
type LocalReads = Kv & Required<Pick<Kv, 'readSnapshot'>>

function statNow(state: MetaState, kv: LocalReads, msg: Extract<MetaRequest, { type: 'stat' }>): { answer: Answer; readVersion: bigint | null } | T3fsError {
  let readVersion = null as bigint | null
  try {
    const value = kv.readSnapshot((reader) => {
      readVersion = reader.readVersion
      return runSync(statReading({ user: msg.user, server: state.services, walks: state.walks.at(readVersion) }, msg), reader)
    })
    return { answer: { ok: true, value, replayed: null }, readVersion }
  } catch (error) {
    if (!isErrno(error)) return toT3fsError(error)
    return { answer: { ok: false, error, replayed: null }, readVersion }
  }
}

export function onOpDone(state: MetaState, ctx: Ctx, msg: MetaRequest, token: number, outcome: { ok: true; value: RunResult } | { ok: false; error: T3fsError }): void {
  state.inFlight--
  if (!outcome.ok) settle(state, token, false, outcome.error)
  else answer(state, msg, token, outcome.value.answer, outcome.value.readVersion)
  pumpWith(state, ctx)
}

function answer(state: MetaState, msg: MetaRequest, token: number, a: Answer, readVersion: bigint | null, versionstamp: Buffer | null = null, sub = 0): void {
  probeAnswer(state, msg, a, readVersion, versionstamp, sub)
  settle(state, token, a.ok, a.ok ? a.value : a.error)
}

function probeAnswer(state: MetaState, msg: MetaRequest, a: Answer, readVersion: bigint | null, versionstamp: Buffer | null = null, sub = 0): void {
  state.probe?.onAnswer({
    serverId: state.serverId, type: msg.type, clientId: msg.clientId, requestId: msg.requestId, ok: a.ok,
    ...(a.ok ? { value: a.value } : { errno: a.error.code }), replayed: a.replayed !== null, readVersion, versionstamp, sub,
  })
}

/**
 * Creates are routed by directory but merged on the owner across directories: the KV commits one
 * transaction at a time on a node, so one commit for every create waiting here is what pays (the
 * requests still run one after another in it, each checked on its own). Requests by inode batch
 * per inode, as each batch loads, changes and writes that one inode.
 */
function enqueue(state: MetaState, ctx: Ctx, kind: 'create' | 'inode', id: InodeId, entry: BatchEntry): void {
  const key = kind === 'create' ? 'create' : `${kind}:${id}`
  let queue = state.batches.get(key)
  if (queue === undefined) {
    queue = { kind, id, entries: [], running: false }
    state.batches.set(key, queue)
  }
  queue.entries.push(entry)
  startBatch(state, ctx, key)
}

function startBatch(state: MetaState, ctx: Ctx, key: string): void {
  const queue = state.batches.get(key)
  if (queue === undefined || queue.running || queue.entries.length === 0) return
  if (state.inFlight >= state.config.maxInFlight) {
    state.readyBatches.add(key)
    return
  }
  state.readyBatches.delete(key)
  state.inFlight++
  queue.running = true
  const entries = queue.entries.splice(0, state.config.maxBatchOperations)
  const unique = dedupe(entries)
  const version = state.membershipVersion
  const prepare = async (tx: Parameters<typeof versionInTx>[0]) => {
    if ((await versionInTx(tx)) !== version) throw new T3fsError(OWNER_MOVED, 'the meta membership changed: ownership is decided again', {})
  }
  const options = runOptions(state)
  const work =
    queue.kind === 'create'
      ? runBatch(state.kv, unique.map((e) => ({ base: baseOf(state, ctx, e.msg), type: e.msg.type, run: (c) => createOp(c, e.msg as Extract<MetaRequest, { type: 'create' }>) })), { prepare }, options)
      : runInodeBatch({ kv: state.kv, storage: state.storage, routing: state.routingSource, storageTimeoutMs: state.config.storageTimeoutMs, mutants: state.mutants, prepare }, queue.id, unique.map((e) => ({ msg: e.msg as InodeBatchMsg, base: baseOf(state, ctx, e.msg) })), ctx.clock, options)
  ctx.pipeToSelf(work, (outcome) => ({ type: 'batch-done', key, entries, outcome }))
}

/** Two copies of one request (a client's retry) in one batch: the first runs, both get its answer. */
function dedupe(entries: readonly BatchEntry[]): BatchEntry[] {
  const seen = new Set<string>()
  return entries.filter((e) => {
    const id = `${e.msg.clientId}\u0000${e.msg.requestId}`
    if (seen.has(id)) return false
    seen.add(id)
    return true
  })
}

export function onBatchDone(state: MetaState, ctx: Ctx, key: string, entries: BatchEntry[], outcome: { ok: true; value: RunResult<Answer[]> } | { ok: false; error: T3fsError }): boolean {
  state.inFlight--
  const queue = state.batches.get(key)
  if (queue !== undefined) queue.running = false
  let ownerMoved = false
  if (!outcome.ok && isT3fsError(outcome.error, OWNER_MOVED)) {
    state.parked.push(...entries)
    ownerMoved = true
  } else {
    if (outcome.ok) {
      state.stats.batches++
      state.stats.batchedOps += entries.length
    }
    const unique = dedupe(entries)
    const byRequest = new Map<string, { a: Answer | T3fsError; sub: number }>()
    unique.forEach((e, i) => byRequest.set(`${e.msg.clientId}\u0000${e.msg.requestId}`, { a: outcome.ok ? outcome.value.answer[i] : outcome.error, sub: i }))
    for (const e of entries) {
      const { a, sub } = byRequest.get(`${e.msg.clientId}\u0000${e.msg.requestId}`) as { a: Answer | T3fsError; sub: number }
      if (a instanceof T3fsError) settle(state, e.token, false, a)
      else if (outcome.ok) answer(state, e.msg, e.token, a, outcome.value.readVersion, outcome.value.versionstamp ?? null, sub)
    }
  }
  if (queue !== undefined && queue.entries.length === 0 && !queue.running) state.batches.delete(key)
  else if (queue !== undefined) {
    // Start the next batch behind the messages already in the mailbox: requests for this inode
    // that arrived during the last commit join it, instead of the first of them going alone.
    queue.running = true
    ctx.pipeToSelf(Promise.resolve(), () => ({ type: 'batch-kick', key }))
  }
  pumpWith(state, ctx)
  return ownerMoved
}

export function onBatchKick(state: MetaState, ctx: Ctx, key: string): void {
  const queue = state.batches.get(key)
  if (queue === undefined) return
  queue.running = false
  if (queue.entries.length === 0) state.batches.delete(key)
  else startBatch(state, ctx, key)
}

/** After the membership view was refreshed: the parked requests are routed again. */
export function reroute(state: MetaState, ctx: Ctx): void {
  const parked = state.parked
  state.parked = []
  for (const e of parked) route(state, ctx, e.msg, e.token)
}

function pump(state: MetaState): void {
  while (state.inFlight < state.config.maxInFlight && state.waiting.length > 0) (state.waiting.shift() as () => void)()
}

export function pumpWith(state: MetaState, ctx: Ctx): void {
  pump(state)
  for (const key of [...state.readyBatches]) {
    if (state.inFlight >= state.config.maxInFlight) return
    startBatch(state, ctx, key)
  }
}

export function refuseAll(state: MetaState, why: string): void {
  for (const [token] of state.pending) settle(state, token, false, busy(state.serverId, why))
}

