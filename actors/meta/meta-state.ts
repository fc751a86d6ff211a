/**
 * A meta server's in-memory state: nothing the file system depends on (that is all in the KV),
 * only what makes it fast and orderly — its inode id range, its chain allocation counters, its
 * view of the live servers and of mgmtd's routing, the owner batches waiting or running, the
 * requests in flight and the bounded queue behind them, and the caches. Lost on a crash, rebuilt
 * from the KV and mgmtd at the next start.
 */
import type { DeferredReply } from '../../runtime/actor.ts'
import { T3fsError } from '../../runtime/errors.ts'
import type { Outcome } from '../../runtime/actor.ts'
import type { Kv } from '../kv/index.ts'
import type { MetaConfig } from './config.ts'
import type { InodeId } from './inode.ts'
import { InodeIdPool } from './inode-alloc.ts'
import type { MembershipSnapshot, MemberRecord } from './membership.ts'
import { LivenessTracker } from './membership.ts'
import type { MetaHeartbeat } from './mgmtd-heartbeat.ts'
import type { MgmtdLink } from './mgmtd-link.ts'
import type { Mutant, ServerServices } from './op-context.ts'
import type { Answer, RunResult } from './op-runner.ts'
import { MetaErrorCode, type MetaMsg, type MetaRequest, type StatFsResult } from './protocol.ts'
import type { RoutingSource, RoutingView } from './routing-view.ts'
import type { StorageService } from './storage-protocol.ts'
import type { UserStore } from './users.ts'
import type { MetaProbe } from './probe.ts'
import type { WalkCache } from './walk-cache.ts'

/** A request waiting for or in an owner batch. */
export interface BatchEntry {
  readonly msg: MetaRequest
  readonly token: number
}

export interface BatchQueue {
  readonly kind: 'create' | 'inode'
  readonly id: InodeId
  entries: BatchEntry[]
  running: boolean
}

export type BackgroundTask = 'membership' | 'gc' | 'sessions' | 'idem' | 'trash' | 'routing' | 'ids' | 'leave' | 'heartbeat'

export type MetaInternal =
  | { type: 'authorized'; token: number; msg: MetaRequest; outcome: Outcome<MetaRequest> }
  | { type: 'create-resolved'; token: number; msg: Extract<MetaRequest, { type: 'create' }>; outcome: Outcome<{ exists: boolean; parent: InodeId }> }
  | { type: 'op-done'; token: number; msg: MetaRequest; outcome: Outcome<RunResult> }
  | { type: 'batch-done'; key: string; entries: BatchEntry[]; outcome: Outcome<RunResult<Answer[]>> }
  | { type: 'forward-done'; token: number; msg: MetaRequest; owner: number; outcome: Outcome<unknown> }
  | { type: 'value-done'; token: number; outcome: Outcome<unknown> }
  | { type: 'task-done'; task: BackgroundTask; outcome: Outcome<unknown> }
  | { type: 'membership-read'; outcome: Outcome<MembershipSnapshot> }
  | { type: 'tick'; task: BackgroundTask }
  | { type: 'batch-kick'; key: string }

export type MetaSelfMsg = MetaMsg | MetaInternal

export interface MetaState {
  readonly serverId: number
  readonly config: MetaConfig
  readonly kv: Kv
  readonly ownsKv: boolean
  readonly storage: StorageService
  readonly users: UserStore
  readonly mgmtd: MgmtdLink | null
  /** The META node's heartbeat to mgmtd (null: mgmtd is on this node, or there is none). */
  readonly heartbeat: MetaHeartbeat | null
  readonly liveClientsOverride: (() => Promise<ReadonlySet<string> | null>) | null
  readonly probe: MetaProbe | null
  readonly mutants: ReadonlySet<Mutant>
  readonly services: ServerServices
  readonly pool: InodeIdPool
  routing: RoutingView
  routingVersion: number | null
  /** `routing`, and a fetch from mgmtd on demand (storage calls on a layout whose table is missing). */
  readonly routingSource: RoutingSource
  readonly chainCounters: Map<string, number>
  gcDirectory: InodeId
  readonly tracker: LivenessTracker
  membershipVersion: string
  members: Map<number, MemberRecord>
  live: number[]
  nextToken: number
  readonly pending: Map<number, DeferredReply>
  inFlight: number
  /** Direct operations waiting for a slot (bounded by maxQueued). */
  readonly waiting: (() => void)[]
  readonly batches: Map<string, BatchQueue>
  /** Batches with entries that wait for a slot. */
  readonly readyBatches: Set<string>
  /** Batches parked until the membership view is fresh again (their owner check failed). */
  parked: BatchEntry[]
  readonly running: Set<BackgroundTask>
  readonly gcPostponed: Map<InodeId, number>
  statFs: { value: StatFsResult; atMs: number } | null
  /** Path walks of stats, valid for one KV version (walk-cache.ts). */
  readonly walks: WalkCache
  readonly stats: { batches: number; batchedOps: number; forwarded: number }
}

export function busy(serverId: number, why: string): T3fsError {
  return new T3fsError(MetaErrorCode.BUSY, `meta server ${serverId} is busy (${why}); retry, on this or another meta server`, { serverId })
}

/** The services operations use, over the state (ids, chain counters, routing). */
export function serverServices(state: () => MetaState, config: MetaConfig, serverId: number, mutants: ReadonlySet<Mutant>, randomU32: () => number): ServerServices {
  return {
    serverId,
    config,
    mutants,
    get gcDirectory() {
      return state().gcDirectory
    },
    allocateInodeId() {
      const id = state().pool.take()
      if (id === null) throw busy(serverId, 'its inode id range ran out; a new one is being fetched')
      return id
    },
    chainTable: (tableId) => state().routing.chainTable(tableId),
    async refreshRouting() {
      await state().routingSource.refresh()
    },
    nextChainCounter(tableId, stripeSize) {
      const counters = state().chainCounters
      const key = `${tableId}/${stripeSize}`
      // Starts at a random multiple of the stripe, as 3FS's ChainAllocator.
      const counter = counters.get(key) ?? (randomU32() % 1024) * stripeSize
      counters.set(key, counter + stripeSize)
      return counter
    },
    randomU32,
  }
}
