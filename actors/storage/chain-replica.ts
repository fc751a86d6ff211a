/**
 * A storage target's chain replica (CRAQ as 3FS does it, reference/3fs.md §3.3–§3.6), one actor
 * per target, with the target's chunk engine (a library on ctx.disk) inside. Its node tells it its
 * place in the chain and its local state (`target-view`); it reports its space, sync progress and
 * failures back (`target-report`).
 *
 * - `write` (a client, at the head) and `update` (the predecessor, or the sync) run the update
 *   pipeline (replica/update-pipeline.ts); exactly-once through the dedup cache (§3.3 step 2);
 * - `batch-read` from any UPTODATE SERVING replica, committed versions only (replica/read-path.ts);
 * - `query-last-chunk`, `remove-chunks` (replica/chunk-queries.ts);
 * - as the last SERVING target before a SYNCING one it runs the sync (replica/sync-worker.ts); as
 *   the SYNCING target it answers `sync-start` and `sync-done`.
 *
 * The mailbox is never held by I/O: every operation runs as a promise handed to ctx.pipeToSelf,
 * its reply deferred; per-chunk order comes from the lock table, not from the mailbox. At most
 * config.maxInFlight operations run per target (ERR_STORAGE_BUSY past it).
 */
import { defineActor, type Outcome } from '../../runtime/actor.ts'
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import { openChunkEngine, type ChunkEngineMutant, type ChunkId } from './chunk-engine/index.ts'
import { meteredEngine } from './chunk-engine/metered-engine.ts'
import { StorageErrorCode, type IOResult, type ReadIO, type ReplicaMsg, type TargetView } from './protocol.ts'
import { toWireMeta } from './replica/chunk-meta-wire.ts'
import { queryLastChunk, removeChunks } from './replica/chunk-queries.ts'
import { batchRead } from './replica/read-path.ts'
import type { ReadInto } from './replica/read-gate.ts'
import { checkForwarded, checkServing, newReplicaState, stateError, type ReplicaCtx, type ReplicaState } from './replica/replica-state.ts'
import { reportFailed, reportProgress, reportSpace, reportSynced } from './replica/report.ts'
import { runSync, syncWanted } from './replica/sync-worker.ts'
import { BUGGIFY_CRASH, chunkKey, runUpdate } from './replica/update-pipeline.ts'
import type { ReplicaArgs } from './storage-node.ts'
import { enginePath } from './target-dir.ts'
import { validateReplicaMsg } from './validate.ts'

export const chainReplica = defineActor<ReplicaState, ReplicaMsg, ReplicaArgs>({
  kind: 'chain-replica',
  mailboxMax: 16_384,
  supervision: { strategy: 'restart', maxRestarts: 1000, withinMs: 60_000, backoffMinMs: 10, backoffMaxMs: 1_000 },
  validate: validateReplicaMsg,
  async init(ctx, args) {
    if (ctx.disk === null || ctx.buffers === null || ctx.regions === null) {
      throw new T3fsError('ERR_INVALID_OPTION', `storage target ${args.targetId} needs a disk and a buffer pool; accepted: a node profile with [disk] root and [[buffer_pool]]`, { targetId: args.targetId })
    }
    const mutant = args.mutants.find((m) => m === 'reuse-block-in-place') as ChunkEngineMutant | undefined
    const engine = meteredEngine(await openChunkEngine(
      { disk: ctx.disk, buffers: ctx.buffers, clock: ctx.clock, buggify: (site) => ctx.buggify(site), log: ctx.log },
      { ...args.engine, root: enginePath(args.root, args.targetId), create: true, ...(mutant === undefined ? {} : { mutant }) },
    ), ctx.metrics, ctx.clock)
    const lifeId = Math.floor(ctx.random.next() * 2 ** 48).toString(36)
    const rs = newReplicaState({ targetId: args.targetId, node: args.node, config: args.config, engine, mutants: new Set(args.mutants) }, lifeId)
    // A restarted replica lost its memory: the node boots it through recovery.
    ctx.tell(args.node, { type: 'replica-started', targetId: args.targetId, address: ctx.self.address })
    ctx.schedule(args.config.heartbeatIntervalMs, { type: 'tick' })
    const gate = args.readGate
    if (gate !== undefined) rs.gate = { gate, token: gate.open((ios: readonly ReadIO[], into: ReadInto) => {
      // One operation in flight per batch, as for a batch-read message.
      if (rs.inFlight >= rs.config.maxInFlight) return Promise.reject(busy(rs))
      rs.inFlight++
      return batchRead(rs, ctx, ios, into, () => { rs.inFlight-- })
    }) }
    return rs
  },
  handle(rs, msg, ctx) {
    switch (msg.type) {
      case 'target-view':
        return applyView(rs, msg.view, ctx)
      case 'tick':
        ctx.schedule(rs.config.heartbeatIntervalMs, { type: 'tick' })
        void reportSpace(rs, ctx).catch(() => {})
        return maybeSync(rs, ctx)
      case 'sync-retry':
        return maybeSync(rs, ctx)
      case 'op-done':
        return opDone(rs, msg.opId, msg.outcome as Outcome<unknown>)
      case 'write':
        return write(rs, msg, ctx)
      case 'update':
        return update(rs, msg, ctx)
      case 'batch-read':
        return run(rs, ctx, batchRead(rs, ctx, msg.ios))
      case 'query-last-chunk':
        return ctx.reply(queryLastChunk(rs, ctx, msg.chainId, msg.chainVersion, msg.range, msg.maxChunks))
      case 'remove-chunks':
        return removeRange(rs, msg, ctx)
      case 'sync-start':
        return syncStart(rs, msg.chainId, msg.chainVersion, ctx)
      case 'sync-done':
        return syncDone(rs, msg.chainId, msg.chainVersion, ctx)
      case 'query-chunk': {
        const meta = rs.engine.getChunk(msg.chainId, msg.chunkId as ChunkId)
        return ctx.reply({ view: rs.view, meta: meta === null ? null : toWireMeta(meta) })
      }
      case 'list-chunks':
        return ctx.reply(rs.engine.chainIds().flatMap((c) => rs.engine.queryChunks(c)).map(toWireMeta))
    }
  },
  async onStop(rs) {
    rs.gate?.gate.close(rs.gate.token)
    await rs.engine.close().catch(() => {})
  },
})

type Finish = (outcome: Outcome<unknown>) => void

/** Runs `work` outside the mailbox; its outcome answers the current ask (through `finish` when given). */
function run(rs: ReplicaState, ctx: ReplicaCtx, work: Promise<unknown>, finish?: (outcome: Outcome<unknown>, reply: (o: Outcome<unknown>) => void) => void): void {
  if (rs.inFlight >= rs.config.maxInFlight) {
    work.catch(() => {})
    throw busy(rs)
  }
  const reply = ctx.deferReply()
  const answer = (o: Outcome<unknown>): void => (o.ok ? reply.resolve(o.value) : reply.reject(o.error))
  const id = rs.nextOpId++
  rs.inFlight++
  rs.replies.set(id, { reply, finish: (o) => (finish === undefined ? answer(o) : finish(o, answer)) })
  ctx.pipeToSelf(work, (outcome) => ({ type: 'op-done', opId: id, outcome }))
}

function busy(rs: ReplicaState): T3fsError {
  return new T3fsError(StorageErrorCode.BUSY, `target ${rs.targetId} has ${rs.inFlight} operations in flight (at most ${rs.config.maxInFlight}); retry later`, { targetId: rs.targetId })
}

function opDone(rs: ReplicaState, opId: number, outcome: Outcome<unknown>): void {
  if (!outcome.ok && outcome.error.code === BUGGIFY_CRASH) throw new Error(outcome.error.message) // a programmer error: the actor crashes
  const op = rs.replies.get(opId)
  if (op === undefined) return
  rs.replies.delete(opId)
  rs.inFlight--
  op.finish(outcome)
}

function write(rs: ReplicaState, msg: Extract<ReplicaMsg, { type: 'write' }>, ctx: ReplicaCtx): void {
  const { io, tag } = msg
  const chain = checkServing(rs, io.key.chainId, io.key.chainVersion, ctx.clock.now())
  if (!chain.isHead) throw new T3fsError(StorageErrorCode.NOT_HEAD, `target ${rs.targetId} is not the head of chain ${io.key.chainId} (v${chain.chainVersion}); writes go to the head`, { chainId: io.key.chainId })
  if (rs.inFlight >= rs.config.maxInFlight) throw new T3fsError(StorageErrorCode.BUSY, `target ${rs.targetId} has ${rs.inFlight} operations in flight; retry later`, {})
  const decision = rs.dedup.begin(tag, io.key.chainId)
  if (decision.kind === 'cached') return ctx.reply(decision.result)
  let early: ((r: IOResult) => void) | undefined
  const work = runUpdate(rs, ctx, {
    io, options: { fromClient: true, isSyncing: false, commitChainVersion: 0 }, tag, engineTag: { clientId: tag.clientId, requestId: tag.requestId }, atHead: true,
    // The mutant answers the client once the head's pending version exists, before the tail committed.
    ...(rs.mutants.has('ack-before-commit') ? { early: (r: IOResult) => early?.(r) } : {}),
  })
  run(rs, ctx, work, (outcome, answer) => {
    if (outcome.ok) rs.dedup.finish(tag, io.key.chainId, outcome.value as IOResult)
    else rs.dedup.abandon(tag, io.key.chainId)
    answer(outcome)
  })
  if (rs.mutants.has('ack-before-commit')) {
    const op = rs.replies.get(rs.nextOpId - 1)!
    early = (r) => op.reply.resolve(r)
  }
}

function update(rs: ReplicaState, msg: Extract<ReplicaMsg, { type: 'update' }>, ctx: ReplicaCtx): void {
  const { io, options, tag } = msg
  checkForwarded(rs, io.key.chainId, io.key.chainVersion, options.isSyncing)
  if (options.fromClient) throw new T3fsError(StorageErrorCode.BAD_REQUEST, 'an update from a predecessor must have fromClient false; clients send write', {})
  if (tag !== undefined) {
    const decision = rs.dedup.begin(tag, io.key.chainId)
    if (decision.kind === 'cached') return ctx.reply(decision.result)
  }
  const engineTag = tag === undefined ? { clientId: `sync:${rs.targetId}`, requestId: 0 } : { clientId: tag.clientId, requestId: tag.requestId }
  const work = runUpdate(rs, ctx, { io, options, tag, engineTag, atHead: false })
  run(rs, ctx, work, (outcome, answer) => {
    if (tag !== undefined) {
      if (outcome.ok) rs.dedup.finish(tag, io.key.chainId, outcome.value as IOResult)
      else rs.dedup.abandon(tag, io.key.chainId)
    }
    answer(outcome)
  })
}

function removeRange(rs: ReplicaState, msg: Extract<ReplicaMsg, { type: 'remove-chunks' }>, ctx: ReplicaCtx): void {
  checkServing(rs, msg.chainId, msg.chainVersion, ctx.clock.now())
  run(rs, ctx, removeChunks(rs, ctx, msg.chainId, msg.chainVersion, msg.range, msg.maxChunks, msg.tag))
}

/** The SYNCING target hands its chunk list to its predecessor (after dropping chunks of chains it no longer belongs to). */
function syncStart(rs: ReplicaState, chainId: number, chainVersion: number, ctx: ReplicaCtx): void {
  const chain = checkForwarded(rs, chainId, chainVersion, true)
  if (chain.publicState !== 'SYNCING' || rs.view!.localState !== 'ONLINE') throw stateError(rs, `is ${chain.publicState} and ${rs.view!.localState}; sync-start goes to a SYNCING ONLINE target`)
  // Results remembered from before this sync may describe chunks it is about to replace (roll back):
  // a retry answered from them would not be applied. Within the sync, the dedup cache orders a late
  // attempt behind its retry (every update carries a tag), so a syncing write never overtakes a newer one.
  rs.dedup.clear()
  const work = (async () => {
    for (const other of rs.engine.chainIds()) if (other !== chainId) await rs.engine.removeChain(other)
    return rs.engine.queryChunks(chainId).map(toWireMeta)
  })()
  run(rs, ctx, work)
}

function syncDone(rs: ReplicaState, chainId: number, chainVersion: number, ctx: ReplicaCtx): void {
  const chain = checkForwarded(rs, chainId, chainVersion, true)
  if (chain.publicState !== 'SYNCING') throw stateError(rs, `is ${chain.publicState}; sync-done goes to a SYNCING target`)
  // The sync must have replaced every version this target held that the chain does not: a pending
  // version no update in flight owns is one it left behind (it would be committed on a LASTSRV return).
  const orphans = rs.engine.listPending(chainId).filter((m) => !rs.locks.isHeld(chunkKey(chainId, m.chunkId)))
  if (orphans.length > 0) {
    const why = `sync to target ${rs.targetId} (chain ${chainId} v${chainVersion}) left ${orphans.length} pending version(s) no update owns, e.g. chunk ${orphans[0].chunkId} v${orphans[0].pending?.version}`
    ctx.log.error({ evt: 'InvariantViolated', targetId: rs.targetId, chainId }, why)
    reportFailed(rs, ctx, why)
    throw stateError(rs, why)
  }
  rs.syncedAtVersion = chainVersion
  ctx.log.debug({ evt: 'SyncDone', targetId: rs.targetId, chainId, chainVersion })
  reportSynced(rs, ctx, chainVersion)
  ctx.reply(null)
}

function applyView(rs: ReplicaState, view: TargetView, ctx: ReplicaCtx): void {
  const before = rs.view
  rs.view = view
  if (before?.localState !== view.localState || before?.chain?.chainVersion !== view.chain?.chainVersion || before?.chain?.publicState !== view.chain?.publicState) {
    ctx.log.debug({ evt: 'TargetView', targetId: rs.targetId, localState: view.localState, publicState: view.chain?.publicState ?? null, chainVersion: view.chain?.chainVersion ?? null, successor: view.chain?.successor?.targetId ?? null })
  }
  if (view.localState === 'OFFLINE') {
    if (before?.localState !== 'OFFLINE' || rs.failed) {
      // Out of service until it is booted again: everything in flight stops at its next step.
      rs.serviceEpoch++
      rs.failed = false
      rs.dedup.clear()
      rs.syncedAtVersion = null
    }
    return
  }
  if (before?.localState === 'ONLINE' && view.localState === 'UPTODATE' && rs.syncedAtVersion === null && view.chain !== null) {
    // SERVING again without a sync (a returning LASTSRV, or a new chain): its pending versions are
    // the chain's newest writes; commit them before serving (3FS resetUncommitted).
    resetUncommitted(rs, view.chain.chainId, view.chain.chainVersion, ctx)
  }
  maybeSync(rs, ctx)
}

function resetUncommitted(rs: ReplicaState, chainId: number, chainVersion: number, ctx: ReplicaCtx): void {
  rs.resetting = true // serves nothing until done
  rs.engine.commitAllPending(chainId, chainVersion).then(
    () => { rs.resetting = false },
    (error: unknown) => reportFailed(rs, ctx, `committing pending versions at chain version ${chainVersion} failed: ${toT3fsError(error).message}`),
  )
}

function maybeSync(rs: ReplicaState, ctx: ReplicaCtx): void {
  if (rs.sync !== null) return
  const wanted = syncWanted(rs, ctx.clock.now())
  if (wanted === null) return
  rs.sync = wanted
  ctx.log.debug({ evt: 'SyncStart', targetId: rs.targetId, successor: wanted.successorId, chainVersion: wanted.chainVersion })
  const work = runSync(rs, ctx, wanted)
  const id = rs.nextOpId++
  rs.inFlight++
  rs.replies.set(id, {
    reply: { resolve() {}, reject() {} },
    finish: (outcome) => {
      rs.sync = null
      if (!outcome.ok) {
        rs.syncNotBeforeMs = ctx.clock.now() + rs.config.syncRetryMs
        ctx.log.info({ targetId: rs.targetId, successor: wanted.successorId, err: outcome.error.message }, 'sync stopped; it starts again')
        ctx.schedule(rs.config.syncRetryMs, { type: 'sync-retry' })
      }
      reportProgress(rs, ctx)
    },
  })
  ctx.pipeToSelf(work, (outcome) => ({ type: 'op-done', opId: id, outcome }))
}
