/**
 * Meta over real storage in the simulator: the storage cluster of storage-cluster.ts (mgmtd and
 * storage nodes on SimDisks, chains of three), chain table 1 over every chain, meta servers on
 * their own nodes over a memory KV of their own (they find storage through mgmtd's routing, as a
 * launched meta does), and client nodes, each with a storage client actor (the data path) and a
 * MetaClient. Helpers write a file's bytes through the storage client with the layout math a
 * FileClient uses, and read back what every replica holds of a file.
 */
import { openKv, type Kv } from '../../actors/kv/index.ts'
import { metaActor } from '../../actors/meta/meta-actor.ts'
import { MetaClient } from '../../actors/meta/meta-client.ts'
import type { Mutant } from '../../actors/meta/op-context.ts'
import type { MetaAnswerEvent } from '../../actors/meta/probe.ts'
import type { FileInode, MetaMsg } from '../../actors/meta/protocol.ts'
import type { RoutingInfo } from '../../actors/mgmtd/protocol.ts'
import { chunkIdParts } from '../../actors/storage/chunk-id.ts'
import { storageClientActor, type ClientActorMsg } from '../../actors/storage/client/client-actor.ts'
import { piecesOf, type FileLayout } from '../../actors/storage/client/layout.ts'
import type { ChunkMeta, ReplicaMsg } from '../../actors/storage/protocol.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import { sleep } from '../../runtime/clock.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { FaultPlan, SimNode } from '../../runtime/testkit/simulation.ts'
import { buildStorageCluster, type StorageCluster } from './storage-cluster.ts'

export const CHUNK_SIZE_BYTES = 64 * 1024
export const TABLE_ID = 1

export interface MetaStorageOptions {
  storageNodes?: number
  chains?: number
  metaServers?: number
  clients?: number
  stripeSize?: number
  /** Meta knobs over the defaults below. */
  metaConfig?: Readonly<Record<string, unknown>>
  mutants?: readonly Mutant[]
  /** Unknown commit results of the meta KV (a fraction of commits; half of those applied). */
  commitUnknownResult?: number
  /** Storage client knobs of the client nodes. */
  clientArgs?: Readonly<Record<string, unknown>>
  log?: Logger
}

export const simMetaStorageConfig = {
  gc_file_delay: '0ms',
  gc_directory_delay: 0,
  gc_scan_interval: '20ms',
  gc_retry_delay: '50ms',
  membership_heartbeat_interval: '20ms',
  membership_timeout: '150ms',
  session_scan_interval: '1h',
  idempotent_record_expire: '1h',
  operation_timeout: '20s',
  forward_timeout: '200ms',
  storage_timeout: '3s',
  routing_refresh_interval: '100ms',
  trash_clean_interval: '1h',
}

export interface FileClientish {
  readonly meta: MetaClient
  readonly storage: ActorRef<ClientActorMsg>
  readonly node: SimNode
}

export interface MetaStorageCluster {
  readonly c: StorageCluster
  readonly kv: Kv
  readonly metaNodes: SimNode[]
  readonly metaRefs: ActorRef<MetaMsg>[]
  readonly clients: FileClientish[]
  readonly answers: MetaAnswerEvent[]
  /** Runs until the chain table is known to mgmtd and every chain is SERVING. */
  ready(untilMs: number): Promise<RoutingInfo>
  /** Writes `data` at `offset` of the file through the storage client (chunk by chunk, in order). */
  write(client: FileClientish, inode: FileInode, offset: number, data: Uint8Array, retryBudgetMs?: number): Promise<void>
  /** What every replica holds of the inode: its chunks (index, committed length) per target. */
  stored(inodeId: number): Promise<Map<number, { index: number; lengthBytes: number; pending: boolean }[]>>
}

const layoutOf = (inode: FileInode): FileLayout => inode.file.layout as unknown as FileLayout

export async function buildMetaStorageCluster(seed: number, faults: FaultPlan, options: MetaStorageOptions = {}): Promise<MetaStorageCluster> {
  const chains = options.chains ?? 3
  const c = await buildStorageCluster(seed, faults, { storageNodes: options.storageNodes ?? 3, chains, replicas: 3, ...(options.log === undefined ? {} : { log: options.log }) })
  const kv = await openKv({ backend: 'memory', clock: c.sim.clock, random: c.sim.forkRandom(), faults: { commitUnknownResult: options.commitUnknownResult ?? 0 } })
  const answers: MetaAnswerEvent[] = []
  const clientIds = Array.from({ length: options.clients ?? 1 }, (_, i) => `client-${i + 1}`)
  const rootLayout = { tableId: TABLE_ID, tableVersion: 0, chunkSizeBytes: CHUNK_SIZE_BYTES, stripeSize: options.stripeSize ?? chains, chains: { kind: 'empty' } }
  const metaRefs: ActorRef<MetaMsg>[] = []
  const metaNodes = Array.from({ length: options.metaServers ?? 1 }, (_, i) =>
    c.sim.addNode(`meta${i + 1}`, {
      boot: (node) => {
        const ref = node.system.spawn(metaActor, {
          serverId: i + 1, kv, mgmtd: c.mgmtds[0], mutants: options.mutants ?? [],
          config: { ...simMetaStorageConfig, root_layout: rootLayout, ...options.metaConfig },
          liveClients: async () => new Set(clientIds),
          probe: { onAnswer: (e) => answers.push(e) },
        }, { name: 'meta' }) as unknown as ActorRef<MetaMsg>
        metaRefs[i] = ref
      },
    }),
  )
  const clients = clientIds.map((clientId) => {
    const node = c.sim.addNode(clientId, { bufferPool: { classes: [{ slotBytes: CHUNK_SIZE_BYTES, slots: 32 }] } })
    const storage = node.system.spawn(storageClientActor, { clientId, mgmtds: c.mgmtds, requestTimeoutMs: 200, retryBudgetMs: 30_000, backoffMinMs: 5, backoffMaxMs: 100, routingRefreshMs: 200, ...options.clientArgs })
    const meta = new MetaClient({
      servers: () => metaRefs.filter((_, i) => metaNodes[i].up).map((r) => node.system.refFor<MetaMsg>(r.address)),
      // Longer than meta's storage_timeout: a close waiting for storage is answered (EIO at worst), not retried.
      clientId, user: { uid: 0, gid: 0 }, clock: node.clock, random: c.sim.forkRandom(), timeoutMs: 4_000, maxAttempts: 60, initialBackoffMs: 5, maxBackoffMs: 200,
    })
    return { meta, storage, node }
  })
  // The admin uploads chain table 1 once mgmtd knows the chains.
  void (async () => {
    const all = Array.from({ length: chains }, (_, i) => i + 1)
    for (let round = 0; round < 1_000; round++) {
      if (await c.mgmtds[0].ask({ type: 'set-chain-table', tableId: TABLE_ID, chains: all }, { timeoutMs: 300 }).then(() => true, () => false)) return
      await sleep(c.sim.clock, 50)
    }
  })()

  const isReady = (info: RoutingInfo | null): info is RoutingInfo =>
    info !== null && info.chainTables.some((t) => t.tableId === TABLE_ID) && info.chains.length === chains && info.chains.every((x) => x.targets.every((t) => t.publicState === 'SERVING'))
  const ready = async (untilMs: number): Promise<RoutingInfo> => {
    let info: RoutingInfo | null = null
    while (c.sim.clock.now() < untilMs) {
      await c.runUntil(() => false, c.sim.clock.now() + 50)
      info = await c.routing()
      if (isReady(info)) return info
    }
    throw new Error(`the cluster was not ready by ${untilMs} ms: ${JSON.stringify((info as RoutingInfo | null)?.chains ?? null)}`)
  }

  const write = async (client: FileClientish, inode: FileInode, offset: number, data: Uint8Array, retryBudgetMs?: number): Promise<void> => {
    const routing = await client.storage.ask({ type: 'routing' }, { timeoutMs: 1_000 })
    if (routing === null) throw new Error('the storage client has no routing yet')
    for (const piece of piecesOf(routing, layoutOf(inode), BigInt(inode.id), offset, data.length)) {
      await client.storage.ask({
        type: 'write', chainId: piece.chainId, chunkId: piece.chunkId, offset: piece.chunkOffset, data: data.subarray(piece.bufferOffset, piece.bufferOffset + piece.length),
        chunkSizeBytes: inode.file.layout.chunkSizeBytes, ...(retryBudgetMs === undefined ? {} : { retryBudgetMs }),
      }, { timeoutMs: 120_000 })
    }
  }

  const stored = async (inodeId: number): Promise<Map<number, { index: number; lengthBytes: number; pending: boolean }[]>> => {
    const routing = await c.routing()
    if (routing === null) throw new Error('no routing info from mgmtd')
    const node = clients[0].node
    const out = new Map<number, { index: number; lengthBytes: number; pending: boolean }[]>()
    for (const target of routing.targets) {
      if (target.address === null) continue
      const list = await c.settle(node.system.refFor<ReplicaMsg>(target.address).ask({ type: 'list-chunks' }, { timeoutMs: 500 }), c.sim.clock.now() + 600) as ChunkMeta[]
      out.set(target.targetId, list.filter((m) => chunkIdParts(m.chunkId).inodeId === BigInt(inodeId)).map((m) => ({ index: chunkIdParts(m.chunkId).chunkIndex, lengthBytes: m.lengthBytes, pending: m.pending !== null })))
    }
    return out
  }

  return { c, kv, metaNodes, metaRefs, clients, answers, ready, write, stored }
}

/** The length a file's chunks give: max over its chunks of index·chunkSize + length (0: none). */
export function lengthOfChunks(chunks: Iterable<{ index: number; lengthBytes: number }>, chunkSizeBytes = CHUNK_SIZE_BYTES): number {
  let length = 0
  for (const ch of chunks) length = Math.max(length, ch.index * chunkSizeBytes + ch.lengthBytes)
  return length
}
