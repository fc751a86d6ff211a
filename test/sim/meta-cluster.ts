/**
 * A simulated meta cluster: three meta servers on three nodes over one memory KV (the
 * "FoundationDB" outside the simulated network) whose commits sometimes end with an unknown result
 * (half of those applied), three client nodes each with a MetaClient, a storage double that
 * records what meta asks of it, seeded message drops, duplicates, delays, random crashes of the
 * meta actors and, in some seeds, a whole meta node that dies and comes back.
 *
 * The storage double answers "no chunks" to everything: GC's chunk removal is exercised only up
 * to the call (the order "chunks removed, then inode cleared" is checked), nothing more.
 */
import { openKv, type Kv } from '../../actors/kv/index.ts'
import { metaActor } from '../../actors/meta/meta-actor.ts'
import { MetaClient } from '../../actors/meta/meta-client.ts'
import type { Mutant } from '../../actors/meta/op-context.ts'
import type { MetaAnswerEvent } from '../../actors/meta/probe.ts'
import type { MetaMsg } from '../../actors/meta/protocol.ts'
import { staticRouting } from '../../actors/meta/routing-view.ts'
import type { RemoveChunksOp, StorageService } from '../../actors/meta/storage-protocol.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import type { Logger } from '../../runtime/logger.ts'
import { Simulation, type SimNode } from '../../runtime/testkit/simulation.ts'

export const META_SERVERS = 3
export const CLIENTS = 3

export const simMetaConfig = {
  gc_file_delay: '30ms',
  gc_directory_delay: 0,
  gc_scan_interval: '25ms',
  gc_retry_delay: '40ms',
  membership_heartbeat_interval: '20ms',
  membership_timeout: '150ms',
  session_scan_interval: '100ms',
  session_prune_grace: '50ms',
  idempotent_record_expire: '1h',
  operation_timeout: '20s',
  forward_timeout: '200ms',
  trash_clean_interval: '1h',
}

export const simFaults = { dropRate: 0.01, duplicateRate: 0.02, minDelayMs: 0.2, maxDelayMs: 4, reorder: true, crashEveryMs: 250, heartbeatTimeoutMs: 100, reconnectDelayMs: 5 }

/** Records every removeChunks call; answers as a storage holding no chunks. */
export class RecordingStorage implements StorageService {
  readonly removed = new Map<number, number>()
  readonly calls: { op: string; at: number }[] = []
  constructor(private readonly now: () => number) {}
  async queryLastChunk() {
    this.calls.push({ op: 'queryLastChunk', at: this.now() })
    return []
  }
  async removeChunks(ops: readonly RemoveChunksOp[]) {
    for (const op of ops) {
      const inode = Number(Buffer.from(op.range.begin).readBigUInt64BE(2))
      this.removed.set(inode, (this.removed.get(inode) ?? 0) + 1)
    }
    return ops.map(() => ({ numChunksRemoved: 0, moreChunksInRange: false }))
  }
  async truncateChunks() {
    return []
  }
  async spaceInfo() {
    return { capacityBytes: 1 << 30, freeBytes: 1 << 29 }
  }
}

export interface MetaCluster {
  readonly sim: Simulation
  readonly kv: Kv
  readonly metaNodes: SimNode[]
  /** The current ref of each meta server (a restarted node has a new one). */
  readonly metaRefs: ActorRef<MetaMsg>[]
  readonly clients: MetaClient[]
  readonly answers: MetaAnswerEvent[]
  readonly storage: RecordingStorage
}

export async function buildMetaCluster(seed: number, mutants: readonly Mutant[], options: { commitUnknownResult?: number; log?: Logger } = {}): Promise<MetaCluster> {
  const sim = new Simulation(seed, simFaults, options.log)
  const kv = await openKv({ backend: 'memory', clock: sim.clock, random: sim.forkRandom(), faults: { commitUnknownResult: options.commitUnknownResult ?? 0.03 } })
  const answers: MetaAnswerEvent[] = []
  const storage = new RecordingStorage(() => sim.clock.now())
  const routing = staticRouting([{ tableId: 1, version: 1, chains: [1, 2, 3, 4, 5, 6, 7, 8] }])
  const clientIds = Array.from({ length: CLIENTS }, (_, i) => `client-${i + 1}`)
  const metaRefs: ActorRef<MetaMsg>[] = []
  const metaNodes = Array.from({ length: META_SERVERS }, (_, i) =>
    sim.addNode(`meta${i + 1}`, {
      boot: (node) => {
        const ref = node.system.spawn(metaActor, {
          serverId: i + 1, kv, storage, routing, config: simMetaConfig, mutants,
          liveClients: async () => new Set(clientIds),
          probe: { onAnswer: (e) => answers.push(e) },
        }, { name: 'meta' }) as unknown as ActorRef<MetaMsg>
        metaRefs[i] = ref
        sim.allowCrashes(ref)
      },
    }),
  )
  const clients = clientIds.map((clientId) => {
    const node = sim.addNode(clientId)
    const random = sim.forkRandom()
    return new MetaClient({
      servers: () => metaRefs.filter((_, i) => metaNodes[i].up).map((r) => node.system.refFor<MetaMsg>(r.address)),
      clientId, user: { uid: 0, gid: 0 }, clock: node.clock, random, timeoutMs: 300, maxAttempts: 60, initialBackoffMs: 5, maxBackoffMs: 100,
    })
  })
  return { sim, kv, metaNodes, metaRefs, clients, answers, storage }
}
