/**
 * A whole file system in the simulator: the simulated storage cluster (mgmtd, storage nodes on
 * SimDisks, chains of three), a meta node (a meta server on a memory KV, its storage calls through
 * the real storage client) and client nodes, each running a FileClient. Test code calls the
 * FileClient and drives virtual time with `settle`.
 */
import { openKv, type Kv } from '../../../actors/kv/index.ts'
import { metaActor } from '../../../actors/meta/meta-actor.ts'
import type { MetaMsg } from '../../../actors/meta/protocol.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import type { FaultPlan, SimNode } from '../../../runtime/testkit/simulation.ts'
import { startFileClient } from '../../../actors/client/file-client-actor.ts'
import type { FileClient, FileClientOptions } from '../../../actors/client/file-client.ts'
import { buildStorageCluster, type StorageCluster } from '../../sim/storage-cluster.ts'
import { metaStorageAdapter } from './meta-storage-adapter.ts'

export const SIM_CHUNK_BYTES = 64 * 1024

export interface SimFsOptions {
  chains?: number
  storageNodes?: number
  chunkSizeBytes?: number
  metaConfig?: Record<string, unknown>
  storageConfig?: Record<string, unknown>
  mgmtdConfig?: Record<string, unknown>
}

export interface SimFs extends StorageCluster {
  metaNode: SimNode
  meta: ActorRef<MetaMsg>
  metaKv: Kv
  /** A new client node with a FileClient (pool slots of 64 KiB). */
  client(options?: Partial<FileClientOptions>, name?: string): Promise<{ node: SimNode; fs: FileClient }>
}

export async function buildSimFs(seed: number, faults: FaultPlan = {}, options: SimFsOptions = {}): Promise<SimFs> {
  const chains = options.chains ?? 3
  const c = await buildStorageCluster(seed, faults, {
    storageNodes: options.storageNodes ?? 3, chains, replicas: 3, pool: [{ slotBytes: 64 * 1024, slots: 512 }],
    ...(options.storageConfig === undefined ? {} : { storageConfig: options.storageConfig }),
    ...(options.mgmtdConfig === undefined ? {} : { mgmtdConfig: options.mgmtdConfig }),
  })
  const mgmtd = c.mgmtds[0]
  // The admin's chain table, once the chains are in.
  await c.settle((async () => {
    for (;;) {
      const info = await mgmtd.ask({ type: 'get-routing-info' }, { timeoutMs: 200 }).catch(() => null)
      if (info != null && info.chains.length === chains) break
      await new Promise<void>((r) => c.sim.clock.setTimer(20, r))
    }
    await mgmtd.ask({ type: 'set-chain-table', tableId: 1, chains: c.chains.map((x) => x.chainId), desc: 'sim' })
  })(), 5_000)
  const metaKv = await openKv({ backend: 'memory', clock: c.sim.clock, random: c.sim.forkRandom() })
  const chunkSizeBytes = options.chunkSizeBytes ?? SIM_CHUNK_BYTES
  let meta!: ActorRef<MetaMsg>
  const metaNode = c.sim.addNode('meta', {
    bufferPool: { classes: [{ slotBytes: 64 * 1024, slots: 64 }] },
    boot: async (n) => {
      const storage = await metaStorageAdapter(n.system, c.mgmtds)
      meta = n.system.spawn(metaActor, {
        serverId: 100, kv: metaKv, mgmtd, storage,
        config: { root_layout: { tableId: 1, tableVersion: 0, chunkSizeBytes, stripeSize: chains, chains: { kind: 'empty' } }, gc_scan_interval: '1h', ...options.metaConfig },
      }, { name: 'meta' }) as unknown as ActorRef<MetaMsg>
    },
  })
  await c.runUntil(() => false, c.sim.clock.now() + 300)
  let clients = 0
  const client = async (extra: Partial<FileClientOptions> = {}, name = `client${++clients}`): Promise<{ node: SimNode; fs: FileClient }> => {
    const node = c.sim.addNode(name, { bufferPool: { classes: [{ slotBytes: 64 * 1024, slots: 256 }] } })
    const fs = await c.settle(startFileClient(node.system, { mgmtd: c.mgmtds, meta: () => [meta], requestTimeoutMs: 300, retryBudgetMs: 5_000, writeBufferBytes: 64 * 1024, readAheadBytes: 256 * 1024, sessionExtendIntervalMs: 100, syncIntervalMs: 200, ...extra }), c.sim.clock.now() + 5_000)
    return { node, fs }
  }
  return { ...c, metaNode, get meta() { return meta }, metaKv, client }
}
