/**
 * A storage node's service actor (3FS storage_main's Components, reference/3fs.md §1.4, §3.2,
 * §3.6): it owns the node's targets on ctx.disk, runs one chain-replica actor per target (each with
 * its chunk engine), heartbeats every target's local state and replica address to mgmtd, follows
 * the routing info (pushed by mgmtd and fetched when a heartbeat shows it newer), decides each
 * target's local state (local-state.ts) and tells each replica its place in its chain.
 *
 * A target serves only within its lease: until `serveLeaseMs` after the send time of the last
 * heartbeat mgmtd accepted. mgmtd declares a node failed only after its heartbeat_fail_interval,
 * longer than the lease, so a target cut off from mgmtd has stopped serving before its chain moves
 * on without it (3FS's design-notes lease rule).
 *
 * Admin requests (create/remove/list targets, space) come here; `t3fs admin` finds this actor in
 * mgmtd's routing info (`NodeInfo.services.storage`) and the node's endpoint.
 */
import { defineActor, type ActorContext, type ActorDefinition, type ActorRef } from '../../runtime/actor.ts'
import type { Disk } from '../../runtime/disk/disk.ts'
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import type { HeartbeatInfo, LocalTargetInfo, MgmtdMsg, RoutingInfo } from '../mgmtd/protocol.ts'
import { resolveStorageConfig, type StorageConfig } from './config.ts'
import { heartbeatRound, type HeartbeatRound } from './heartbeat.ts'
import { BOOTING, failed, nextLocal, type TargetLocal } from './local-state.ts'
import { StorageErrorCode, type BatchReadReply, type ReadIO, type ReadResult, type ReplicaMsg, type StorageNodeMsg, type TargetReport, type TargetSummary, type TargetView } from './protocol.ts'
import { chainReplica } from './chain-replica.ts'
import { ReadGate, type ReadInto } from './replica/read-gate.ts'
import { BatchReplyWriter } from './batch-reply.ts'
import { unpackBatchRead } from './batch-request.ts'
import type { PooledBuffer } from '../../runtime/buffer-pool.ts'
import { chainViewOf } from './chain-view.ts'
import { createTarget, listTargets, removeTarget, type TargetRecord } from './target-dir.ts'
import { validateStorageNodeMsg } from './validate.ts'
import type { Outcome } from '../../runtime/actor.ts'

/** Args of a replica the node spawns (the replica module declares the same shape). */
export interface ReplicaArgs {
  targetId: number
  node: ActorRef<StorageNodeMsg>
  root: string
  config: StorageConfig
  /** Simulation only: deliberate bugs the simulation suite must catch. */
  mutants: readonly string[]
  /** Chunk-engine options, passed through. */
  engine: Readonly<Record<string, unknown>>
  /** The node's way to this target's reads without a message (replica/read-gate.ts); the replica opens it. */
  readGate?: ReadGate
}

export interface StorageNodeArgs {
  /** In-process (tests, the simulator): the mgmtd actors; otherwise they are looked up by name on config.mgmtdNodes. */
  mgmtds?: ActorRef<MgmtdMsg>[]
  /** The node's TCP listen address, handed by `t3fs launch` (needs: ['listen']). */
  nodeListen?: string
  hostname?: string
  mutants?: readonly string[]
  engine?: Readonly<Record<string, unknown>>
  /** The replica definition (default: the CRAQ chain replica). */
  replica?: ActorDefinition<unknown, ReplicaMsg, ReplicaArgs>
  /** Any other key: a storage knob (config.ts), snake_case or camelCase. */
  [knob: string]: unknown
}

interface NodeTarget {
  record: TargetRecord
  replica: ActorRef<ReplicaMsg>
  /** The replica's reads without a message, once it opened the gate. */
  gate: ReadGate
  local: TargetLocal
  /** Chain version at which the replica last finished receiving a sync. */
  syncedAtVersion: number | null
  report: TargetReport
}

type InternalMsg =
  | { type: 'heartbeat-done'; outcome: Outcome<HeartbeatRound> }
  /** A batch read's copies are all done (its buffer was only kept counted until then). */
  | { type: 'batch-read-done' }

type NodeMsg = StorageNodeMsg | InternalMsg

interface NodeState {
  readonly config: StorageConfig
  readonly disk: Disk
  readonly nodeId: number
  readonly args: StorageNodeArgs
  readonly incarnation: number
  readonly replicaDef: ActorDefinition<unknown, ReplicaMsg, ReplicaArgs>
  hbVersion: number
  mgmtds: ActorRef<MgmtdMsg>[]
  primary: ActorRef<MgmtdMsg> | null
  routing: RoutingInfo | null
  leaseUntilMs: number
  targets: Map<number, NodeTarget>
  rounds: number
}

const ARG_NAMES = new Set(['mgmtds', 'nodeListen', 'hostname', 'mutants', 'engine', 'replica'])
/** Rounds between re-subscriptions to routing pushes (a new primary starts with no subscribers). */
const resubscribeEveryRounds = 5

export const storageNode = defineActor<NodeState, NodeMsg, StorageNodeArgs>({
  kind: 'storage-node',
  needs: ['listen'],
  mailboxMax: 4096,
  supervision: { strategy: 'restart', maxRestarts: 100, withinMs: 60_000, backoffMinMs: 10, backoffMaxMs: 1_000 },
  validate: validateStorageNodeMsg,
  async init(ctx, args) {
    const knobs = Object.fromEntries(Object.entries(args ?? {}).filter(([k]) => !ARG_NAMES.has(k)))
    const config = resolveStorageConfig(knobs)
    const disk = ctx.disk
    if (disk === null) throw new T3fsError('ERR_INVALID_OPTION', 'the storage node has no disk; accepted: a node profile with [disk] root set (ctx.disk)', { option: 'disk.root' })
    const state: NodeState = {
      config, disk, nodeId: ctx.self.address.node, args,
      // Incarnations must grow across restarts: the clock's ms (the epoch in production, virtual time in the simulator).
      incarnation: ctx.clock.now() + ctx.random.next() * 1e-3,
      replicaDef: args.replica ?? (chainReplica as unknown as ActorDefinition<unknown, ReplicaMsg, ReplicaArgs>),
      hbVersion: 0, mgmtds: args.mgmtds ?? [], primary: null, routing: null, leaseUntilMs: 0, targets: new Map(), rounds: 0,
    }
    const onDisk = await listTargets(disk, config.root)
    for (const targetId of config.targets) {
      if (onDisk.some((r) => r.targetId === targetId)) continue
      const record: TargetRecord = { targetId, chainId: null, createdMs: ctx.clock.now() }
      await createTarget(disk, config.root, record)
      onDisk.push(record)
    }
    for (const record of onDisk) startTarget(state, record, ctx)
    ctx.schedule(0, { type: 'tick-heartbeat' })
    return state
  },
  handle(state, msg, ctx) {
    switch (msg.type) {
      case 'tick-heartbeat':
        return beat(state, ctx)
      case 'heartbeat-done':
        ctx.schedule(state.config.heartbeatIntervalMs, { type: 'tick-heartbeat' })
        return afterBeat(state, msg.outcome, ctx)
      case 'routing-info':
        if (state.routing === null || msg.info.routingInfoVersion > state.routing.routingInfoVersion) state.routing = msg.info
        return refresh(state, ctx)
      case 'replica-started': {
        const target = state.targets.get(msg.targetId)
        if (target === undefined || target.replica.address.id !== msg.address.id) return
        target.local = BOOTING // a replica that restarted lost its memory: it goes through recovery
        target.syncedAtVersion = null
        return refresh(state, ctx)
      }
      case 'target-report':
        return noteReport(state, msg.targetId, msg.report, ctx)
      case 'create-target':
        return createTargetOp(state, msg.targetId, msg.chainId ?? null, ctx)
      case 'remove-target':
        return removeTargetOp(state, msg.targetId, msg.force === true, ctx)
      case 'list-targets':
        return ctx.reply([...state.targets.values()].map((t) => summary(state, t)))
      case 'space-info':
        return spaceInfo(state, ctx)
      case 'batch-read':
        return batchRead(state, msg, ctx)
      case 'batch-read-done':
        return
    }
  },
})

/** How long the node waits for one of its replicas to answer its share of a batch read. */
const localReadTimeoutMs = 60_000

/**
 * A batch of reads for several of this node's targets: each target's share goes to its replica
 * through the target's read gate (a call on this thread, replica/read-gate.ts), or as a batch-read
 * ask when the gate is closed. Every read has its place in one reply buffer (its length, in
 * order), where its bytes are copied as it completes: a pool slot when the asker accepts one that
 * large and one is free (then no memory is allocated per batch on either side), else a plain
 * buffer. The batch counts as this actor's work in flight until every copy is done (pipeToSelf),
 * so a slot of a crashed life is not reclaimed under them. A target that is not here, or whose
 * replica fails, answers its reads with the error (the client retries them on another replica),
 * never the whole batch. The mailbox is not held.
 */
function batchRead(state: NodeState, msg: Extract<StorageNodeMsg, { type: 'batch-read' }>, ctx: ActorContext<NodeMsg>): void {
  const { targetIds, ios } = unpackBatchRead(msg)
  if (ios.length === 0) throw new T3fsError(StorageErrorCode.BAD_REQUEST, 'batch-read has no reads; accepted: at least one', {})
  const reply = ctx.deferReply()
  const shares = new Map<number, number[]>()
  const at = new Array<number>(ios.length)
  let total = 0
  for (let i = 0; i < ios.length; i++) {
    const share = shares.get(targetIds[i])
    if (share === undefined) shares.set(targetIds[i], [i])
    else share.push(i)
    at[i] = total
    if (ios[i].into.kind !== 'region') total += ios[i].length
  }
  const slot = total > 0 && total <= (msg.slotReplyBytesMax ?? 0) ? tryAllocate(ctx, total) : null
  const into = { bytes: slot?.bytes ?? new Uint8Array(total), at }
  const results = new Array<ReadResult>(ios.length)
  let finish!: () => void
  const batch = new Promise<void>((resolve) => { finish = resolve })
  const shareDone = countdownTo(shares.size, finish)
  for (const [targetId, indices] of shares) readShare(state, ctx, targetId, indices, ios, into, results, shareDone)
  ctx.pipeToSelf(batch, () => ({ type: 'batch-read-done' }))
  void batch.then(() => reply.resolve(gather(results, ios, into, slot)))
}

/** One target's share of a batch: its results in place (its error for each of its reads when it fails whole), then `done`. */
function readShare(state: NodeState, ctx: ActorContext<NodeMsg>, targetId: number, indices: number[], all: ReadIO[], into: ReadInto, results: ReadResult[], done: () => void): void {
  let reading: Promise<ReadResult[]>
  try {
    const target = state.targets.get(targetId)
    if (target === undefined) throw new T3fsError(StorageErrorCode.TARGET_NOT_FOUND, `node ${state.nodeId} has no target ${targetId}`, { targetId })
    const ios = indices.map((i) => all[i])
    const shareInto = { bytes: into.bytes, at: indices.map((i) => into.at[i]) }
    reading = target.gate.read(ios, shareInto) ?? askReplica(ctx, target.replica, ios, shareInto)
  } catch (error) {
    return shareFailed(indices, results, error, done)
  }
  reading.then((got) => {
    for (let k = 0; k < indices.length; k++) results[indices[k]] = got[k]
    done()
  }, (error: unknown) => shareFailed(indices, results, error, done))
}

/** A share that failed whole: its error for each of its reads. */
function shareFailed(indices: readonly number[], results: ReadResult[], error: unknown, done: () => void): void {
  const e = toT3fsError(error)
  for (const i of indices) results[i] = { ok: false, code: e.code, message: e.message }
  done()
}

/**
 * A callback that runs `then` on its `n`th call. Made by a call rather than written as a named
 * closure in batchRead: under tsx each named closure costs an Object.defineProperty when it is
 * made, and batchRead runs once per batch.
 */
function countdownTo(n: number, then: () => void): () => void {
  let left = n
  return () => {
    if (--left === 0) then()
  }
}

/** A share through the replica's own batch-read (its gate is closed): its answers' bytes copied into place here. */
async function askReplica(ctx: ActorContext<NodeMsg>, replica: ActorRef<ReplicaMsg>, ios: ReadIO[], into: ReadInto): Promise<ReadResult[]> {
  const got = await ctx.ask(replica, { type: 'batch-read', ios }, { timeoutMs: localReadTimeoutMs }) as ReadResult[]
  return got.map((result, k) => {
    if (!result.ok || result.data === undefined) return result
    const { data, ...rest } = result
    const bytes = data instanceof Uint8Array ? data : data.bytes
    const length = Math.min(result.lengthBytes, ios[k].length)
    into.bytes.set(bytes.subarray(0, length), into.at[k])
    if (!(data instanceof Uint8Array)) data.release()
    return { ...rest, lengthBytes: length, at: into.at[k] }
  })
}

/** The packed reply; room a read left unused (an error, a short read) is zeroed, never sent as it was. */
function gather(results: ReadResult[], ios: ReadIO[], into: ReadInto, slot: PooledBuffer | null): BatchReadReply {
  const reply = new BatchReplyWriter(results.length)
  for (let i = 0; i < results.length; i++) {
    const result = results[i]
    const room = ios[i].into.kind === 'region' ? 0 : ios[i].length
    const used = result.ok && result.at !== undefined ? result.lengthBytes : 0
    if (used < room) into.bytes.fill(0, into.at[i] + used, into.at[i] + room)
    if (!result.ok) reply.fail(i, result.code, result.message)
    else reply.ok(i, result.lengthBytes, result.commitVersion, result.chunkChecksum, result.at ?? null)
  }
  return reply.finish(into.bytes.length === 0 ? null : slot ?? into.bytes)
}

function tryAllocate(ctx: ActorContext<NodeMsg>, bytes: number): PooledBuffer | null {
  try {
    return ctx.buffers?.tryAllocate(bytes) ?? null
  } catch {
    return null // larger than any slot here
  }
}

function startTarget(state: NodeState, record: TargetRecord, ctx: ActorContext<NodeMsg>): void {
  const gate = new ReadGate()
  const replica = ctx.spawn(state.replicaDef, {
    targetId: record.targetId, node: ctx.self as ActorRef<StorageNodeMsg>, root: state.config.root, config: state.config,
    mutants: state.args.mutants ?? [], engine: state.args.engine ?? {}, readGate: gate,
  }, { name: `target-${record.targetId}` })
  state.targets.set(record.targetId, { record, replica, gate, local: BOOTING, syncedAtVersion: null, report: { usedSizeBytes: 0, chunkCount: 0 } })
}

function beat(state: NodeState, ctx: ActorContext<NodeMsg>): void {
  refresh(state, ctx) // a booting target may be done before this report
  state.rounds++
  const info: HeartbeatInfo = {
    nodeId: state.nodeId, type: 'STORAGE', incarnation: state.incarnation, hbVersion: ++state.hbVersion, timestampMs: ctx.clock.now(),
    ...(state.args.hostname === undefined ? {} : { hostname: state.args.hostname }),
    ...(state.args.nodeListen === undefined ? {} : { endpoint: state.args.nodeListen }),
    services: { storage: ctx.self.address },
    targets: [...state.targets.values()].map((t) => localInfo(state, t)),
  }
  const lookup = state.args.mgmtds === undefined ? { nodes: state.config.mgmtdNodes, name: state.config.mgmtdName } : null
  const subscribe = state.rounds === 1 || state.rounds % resubscribeEveryRounds === 0
  const round = heartbeatRound(ctx, { info, mgmtds: state.mgmtds, lookup, knownRoutingVersion: state.routing?.routingInfoVersion ?? -1, timeoutMs: state.config.mgmtdTimeoutMs, subscriber: ctx.self, subscribe })
  ctx.pipeToSelf(round, (outcome) => ({ type: 'heartbeat-done', outcome }))
}

function localInfo(state: NodeState, t: NodeTarget): LocalTargetInfo {
  const chain = state.routing === null ? null : chainViewOf(state.routing, t.record.targetId)
  return {
    targetId: t.record.targetId, localState: t.local.localState, diskIndex: 0, usedSizeBytes: t.report.usedSizeBytes, address: t.replica.address,
    ...(chain === null ? {} : { chainVersion: chain.chainVersion }),
    ...(t.report.syncing ? { sync: t.report.syncing } : {}),
  }
}

function afterBeat(state: NodeState, outcome: Outcome<HeartbeatRound>, ctx: ActorContext<NodeMsg>): void {
  if (!outcome.ok) return
  const round = outcome.value
  if (state.args.mgmtds === undefined) state.mgmtds = round.primary === null ? [] : round.mgmtds // look up again after a silent round
  if (round.primary === null) return
  state.primary = round.primary
  state.leaseUntilMs = Math.max(state.leaseUntilMs, round.sentAtMs + state.config.serveLeaseMs)
  if (round.routing !== null && (state.routing === null || round.routing.routingInfoVersion > state.routing.routingInfoVersion)) state.routing = round.routing
  refresh(state, ctx)
}

/** Re-decides every target's local state and tells every replica its view. */
function refresh(state: NodeState, ctx: ActorContext<NodeMsg>): void {
  if (state.routing === null) return
  for (const t of state.targets.values()) {
    const chain = chainViewOf(state.routing, t.record.targetId)
    const synced = chain !== null && t.syncedAtVersion === chain.chainVersion
    t.local = nextLocal(t.local, chain?.publicState ?? null, synced)
    const view: TargetView = { targetId: t.record.targetId, localState: t.local.localState, chain, leaseUntilMs: state.leaseUntilMs, routingInfoVersion: state.routing.routingInfoVersion }
    try {
      ctx.tell(t.replica, { type: 'target-view', view })
    } catch {
      // The replica is restarting; it asks for nothing, the next refresh reaches it.
    }
  }
}

function noteReport(state: NodeState, targetId: number, report: TargetReport, ctx: ActorContext<NodeMsg>): void {
  const target = state.targets.get(targetId)
  if (target === undefined) return
  target.report = { ...target.report, ...report }
  if (report.failed !== undefined) {
    ctx.log.warn({ targetId, err: report.failed }, 'storage target failed; it goes OFFLINE and rejoins through a sync')
    target.local = failed()
    target.syncedAtVersion = null
  }
  if (report.synced !== undefined) target.syncedAtVersion = report.synced.chainVersion
  if (report.failed !== undefined || report.synced !== undefined) refresh(state, ctx)
}

function summary(state: NodeState, t: NodeTarget): TargetSummary {
  const chain = state.routing === null ? null : chainViewOf(state.routing, t.record.targetId)
  return {
    targetId: t.record.targetId, chainId: chain?.chainId ?? t.record.chainId, nodeId: state.nodeId, localState: t.local.localState,
    publicState: chain?.publicState ?? null, chainVersion: chain?.chainVersion ?? null, usedSizeBytes: t.report.usedSizeBytes ?? 0, chunkCount: t.report.chunkCount ?? 0,
    address: t.replica.address,
  }
}

async function createTargetOp(state: NodeState, targetId: number, chainId: number | null, ctx: ActorContext<NodeMsg>): Promise<void> {
  if (state.targets.has(targetId)) throw new T3fsError(StorageErrorCode.TARGET_EXISTS, `target ${targetId} already exists on node ${state.nodeId}`, { targetId })
  const record: TargetRecord = { targetId, chainId, createdMs: ctx.clock.now() }
  await createTarget(state.disk, state.config.root, record)
  startTarget(state, record, ctx)
  refresh(state, ctx)
  ctx.reply(summary(state, state.targets.get(targetId)!))
}

async function removeTargetOp(state: NodeState, targetId: number, force: boolean, ctx: ActorContext<NodeMsg>): Promise<void> {
  const target = state.targets.get(targetId)
  if (target === undefined) throw new T3fsError(StorageErrorCode.TARGET_NOT_FOUND, `target ${targetId} is not on node ${state.nodeId} (its targets: ${[...state.targets.keys()].join(', ') || 'none'})`, { targetId })
  const before = summary(state, target)
  const publicState = before.publicState
  if (!force && publicState !== null && publicState !== 'OFFLINE') {
    throw new T3fsError(StorageErrorCode.TARGET_STATE, `target ${targetId} is ${publicState} in chain ${before.chainId}; only a target that is OFFLINE or in no chain can be removed (update-chain --mode remove first, or --force)`, { targetId })
  }
  ctx.stop(target.replica)
  state.targets.delete(targetId)
  await removeTarget(state.disk, state.config.root, targetId)
  ctx.reply(before)
}

async function spaceInfo(state: NodeState, ctx: ActorContext<NodeMsg>): Promise<void> {
  const capacity = await state.disk.capacity()
  ctx.reply({ totalBytes: capacity.totalBytes, freeBytes: capacity.freeBytes, targets: [...state.targets.values()].map((t) => ({ targetId: t.record.targetId, usedSizeBytes: t.report.usedSizeBytes ?? 0 })) })
}
