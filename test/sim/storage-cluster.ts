/**
 * A simulated storage cluster: one or two mgmtd nodes sharing a memory KV (the "FoundationDB"
 * outside the simulated network), storage nodes each running the real storage service on its own
 * SimDisk and buffer pool, chains of `replicas` targets (target `node*100 + chain`), and optional
 * spare targets. Node crashes go through `sim.crashNode`/`restartNode`: a new incarnation, memory
 * lost, the disk as the crash left it.
 */
import { openKv, type Kv } from '../../actors/kv/index.ts'
import { mgmtdActor } from '../../actors/mgmtd/mgmtd-actor.ts'
import type { MgmtdMsg, RoutingInfo } from '../../actors/mgmtd/protocol.ts'
import type { StorageNodeMsg } from '../../actors/storage/protocol.ts'
import { storageNode } from '../../actors/storage/storage-node.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import type { Logger } from '../../runtime/logger.ts'
import { sleep } from '../../runtime/clock.ts'
import { Simulation, type FaultPlan, type SimNode } from '../../runtime/testkit/simulation.ts'
import type { SimDiskFaults } from '../../runtime/testkit/sim-disk.ts'

export const simMgmtdConfig = {
  leaseLengthMs: 1_000,
  extendLeaseIntervalMs: 250,
  heartbeatFailIntervalMs: 400,
  checkStatusIntervalMs: 50,
  updateChainsIntervalMs: 25,
  newChainBootstrapIntervalMs: 0,
  autoReplaceOfflineAfterMs: 0,
}

export const simStorageConfig = {
  heartbeatIntervalMs: 50,
  serveLeaseMs: 180,
  mgmtdTimeoutMs: 100,
  forwardTimeoutMs: 100,
  forwardBackoffMinMs: 5,
  forwardBackoffMaxMs: 50,
  forwardBudgetMs: 400,
  syncRetryMs: 50,
}

export interface StorageClusterOptions {
  storageNodes: number
  chains: number
  replicas: number
  /** Spare targets per storage node (target id node*100 + 90 + i). */
  spares?: number
  mgmtds?: number
  mgmtdConfig?: Readonly<Record<string, unknown>>
  storageConfig?: Readonly<Record<string, unknown>>
  mutants?: readonly string[]
  diskFaults?: SimDiskFaults
  /** Pool slots per storage node. */
  pool?: { slotBytes: number; slots: number }[]
  log?: Logger
  /** Chunk-engine options of every target (default: small groups, so SimDisk images stay small). */
  engine?: Readonly<Record<string, unknown>>
}

/** Groups of 4 blocks and 2 files per class: fallocate reserves little, SimDisk clones little at a crash. */
export const simEngineOptions = { format: { groupBytesMax: 256 * 1024, filesPerClass: 2 } }

export interface StorageCluster {
  sim: Simulation
  kv: Kv
  mgmtds: ActorRef<MgmtdMsg>[]
  mgmtdNodes: SimNode[]
  storage: SimNode[]
  chains: { chainId: number; targets: number[] }[]
  /** The storage service of a storage node (changes at every restart). */
  service(node: SimNode): ActorRef<StorageNodeMsg>
  /** The primary's routing info as the KV and primary see it (asks through the simulation). */
  routing(): Promise<RoutingInfo | null>
  /** Runs the simulation until `untilMs` or until `done` holds. */
  runUntil(done: () => boolean, untilMs: number): Promise<boolean>
  settle<T>(p: Promise<T>, untilMs: number): Promise<T>
  /** A component's own invariant check that failed (set by the suite's log sink), or null. */
  violation(): string | null
  /** Why targets failed lately (set by the suite's log sink). */
  lastFailures(): string[]
}

export const storageNodeId = (index: number): number => index + 1

export async function buildStorageCluster(seed: number, faults: FaultPlan, options: StorageClusterOptions): Promise<StorageCluster> {
  const sim = new Simulation(seed, faults, options.log)
  const kv = await openKv({ backend: 'memory', clock: sim.clock, random: sim.random.fork() })
  const mgmtdCount = options.mgmtds ?? 1
  const mgmtds: ActorRef<MgmtdMsg>[] = []
  const mgmtdNodes: SimNode[] = []
  for (let i = 0; i < mgmtdCount; i++) {
    const node = sim.addNode(`mgmtd${i + 1}`)
    mgmtdNodes.push(node)
    mgmtds.push(node.system.spawn(mgmtdActor, { nodeId: node.id, kv, config: { ...simMgmtdConfig, ...options.mgmtdConfig } }))
  }
  const chains = Array.from({ length: options.chains }, (_, c) => ({
    chainId: c + 1,
    targets: Array.from({ length: options.replicas }, (_, r) => ((c + r) % options.storageNodes + 1) * 100 + c + 1),
  }))
  const services = new Map<SimNode, ActorRef<StorageNodeMsg>>()
  const storage: SimNode[] = []
  for (let i = 0; i < options.storageNodes; i++) {
    const index = i + 1
    const targets = [...chains.flatMap((c) => c.targets).filter((t) => Math.floor(t / 100) === index), ...Array.from({ length: options.spares ?? 0 }, (_, s) => index * 100 + 90 + s)]
    const disk = sim.newDisk(`storage${index}`, { faults: options.diskFaults })
    const node = sim.addNode(`storage${index}`, {
      disk,
      bufferPool: { classes: options.pool ?? [{ slotBytes: 64 * 1024, slots: 256 }] },
      boot: (n) => {
        services.set(n, n.system.spawn(storageNode, { mgmtds, targets, ...simStorageConfig, ...options.storageConfig, mutants: options.mutants ?? [], engine: options.engine ?? simEngineOptions, hostname: `storage${index}` }, { name: 'storage' }) as ActorRef<StorageNodeMsg>)
      },
    })
    storage.push(node)
  }
  const runUntil = async (done: () => boolean, untilMs: number): Promise<boolean> => {
    while (sim.clock.now() < untilMs) {
      if (done()) return true
      await sim.run({ untilMs: Math.min(untilMs, sim.clock.now() + 10), maxEvents: 500_000 })
    }
    return done()
  }
  const settle = async <T>(p: Promise<T>, untilMs: number): Promise<T> => {
    let out: { ok: true; v: T } | { ok: false; e: unknown } | null = null
    p.then((v) => { out = { ok: true, v } }, (e: unknown) => { out = { ok: false, e } })
    await runUntil(() => out !== null, untilMs)
    const o = out as { ok: true; v: T } | { ok: false; e: unknown } | null
    if (o === null) throw new Error(`not settled by ${untilMs} ms`)
    if (!o.ok) throw o.e
    return o.v
  }
  const routing = async (): Promise<RoutingInfo | null> => {
    for (const m of mgmtds) {
      const info = await settle(m.ask({ type: 'get-routing-info' }, { timeoutMs: 200 }), sim.clock.now() + 300).catch(() => null)
      if (info !== null) return info
    }
    return null
  }
  // An admin uploads the chains once a primary exists.
  void (async () => {
    for (let round = 0; round < 1_000; round++) {
      for (const m of mgmtds) {
        if (await m.ask({ type: 'set-chains', chains }, { timeoutMs: 300 }).then(() => true, () => false)) return
      }
      await sleep(sim.clock, 50)
    }
  })()
  return { sim, kv, mgmtds, mgmtdNodes, storage, chains, service: (n) => services.get(n)!, routing, runUntil, settle, violation: () => null, lastFailures: () => [] }
}
