/**
 * The storage simulation (issue 10, Proof): mgmtd, four storage nodes with chains of three on
 * their SimDisks, two clients writing and reading block-tagged chunk ranges, under message loss,
 * duplication, reordering, partitions (storage↔mgmtd and storage↔storage), node crashes and
 * restarts (unsynced disk writes lost or torn), crashes of the storage service actor, disk faults,
 * and the components' buggify sites. Checked continuously: every read returns the last
 * acknowledged value of each block or a later one (storage-history.ts), never corrupt bytes; chain
 * invariants after every step. After the faults heal: every chain's replicas converge to the same
 * chunks, versions and bytes, with no pending version left, and every block holds an acknowledged
 * write's value or a later one.
 */
import { chainInvariantError } from '../../actors/mgmtd/chain-state-machine.ts'
import type { ChainInfo, RoutingInfo } from '../../actors/mgmtd/protocol.ts'
import { loadSnapshot } from '../../actors/mgmtd/store.ts'
import { makeChunkId, type ChunkId } from '../../actors/storage/chunk-id.ts'
import { storageClientActor, type ClientActorMsg } from '../../actors/storage/client/client-actor.ts'
import type { ChunkMeta, ReplicaMsg } from '../../actors/storage/protocol.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import type { SeededRandom } from '../../runtime/random.ts'
import { createLogger } from '../../runtime/logger.ts'
import { exploreSeeds, type SimNode } from '../../runtime/testkit/simulation.ts'
import { buildStorageCluster, type StorageCluster } from './storage-cluster.ts'
import { blockBytes, StorageHistory } from './storage-history.ts'

export const STORAGE_MUTANTS = ['ack-before-commit', 'skip-chain-version-check', 'sync-skips-uncommitted', 'reuse-block-in-place'] as const

const chunkSizeBytes = 64 * 1024
const blocksPerChunk = chunkSizeBytes / blockBytes
const chunksPerChain = 3
const phase = { workloadFromMs: 400, faultsFromMs: 700, faultsUntilMs: 3_500, workloadUntilMs: 4_300, convergeUntilMs: 14_000 }

export interface ScenarioStats {
  writes: number
  acked: number
  indeterminate: number
  reads: number
  readBlocks: number
  finalBlocks: number
  nodeCrashes: number
  partitions: number
  serviceCrashes: number
  syncedChunks: number
  syncs: number
  steps: number
}

interface Workload {
  history: StorageHistory
  clients: ActorRef<ClientActorMsg>[]
  chunks: { chainId: number; chunkId: ChunkId }[]
  running: boolean
  inFlight: number
  /** The first violation a worker found (the checker throws inside the workers' loops). */
  error: Error | null
}

export async function storageScenario(seed: number, mutant: string | null): Promise<ScenarioStats> {
  const events = new Map<string, number>()
  let violation: string | null = null
  const failures: string[] = []
  const stats: ScenarioStats = { writes: 0, acked: 0, indeterminate: 0, reads: 0, readBlocks: 0, finalBlocks: 0, nodeCrashes: 0, partitions: 0, serviceCrashes: 0, syncedChunks: 0, syncs: 0, steps: 0 }
  const trace = process.env.T3FS_SIM_TRACE ? new RegExp(process.env.T3FS_SIM_TRACE) : null
  let c: StorageCluster | undefined = undefined
  const log = createLogger({
    level: 'debug',
    sink: (r) => {
      const evt = r.fields.evt
      if (typeof evt === 'string') events.set(evt, (events.get(evt) ?? 0) + 1)
      if (trace !== null && trace.test(JSON.stringify(r.fields))) console.log(`${c?.sim.clock.now().toFixed(1)} ${r.message ?? ''} ${JSON.stringify(r.fields)}`)
      // The components' own invariant checks count as the simulation's.
      if (evt === 'InvariantViolated') violation ??= r.message ?? 'an invariant was violated'
      if (evt === 'SyncChunk' && r.fields.action !== 'skip') stats.syncedChunks++
      if (evt === 'SyncDone') stats.syncs++
      if (evt === 'TargetFailed') failures.push(`${String(r.fields.targetId)}: ${String(r.fields.why)}`)
    },
  })
  c = await buildStorageCluster(seed, { dropRate: 0.01, duplicateRate: 0.01, minDelayMs: 0.3, maxDelayMs: 4, reorder: true, buggify: true, heartbeatTimeoutMs: 300 }, {
    storageNodes: 4, chains: 4, replicas: 3, mutants: mutant === null ? [] : [mutant],
    diskFaults: { readBitFlipRate: 0.001 }, log,
  })
  Object.assign(c, { violation: () => violation, lastFailures: () => failures })
  const random = c.sim.forkRandom()

  const history = new StorageHistory(() => c.sim.clock.now())
  const clients = [1, 2].map((i) => {
    const node = c.sim.addNode(`client${i}`, { bufferPool: { classes: [{ slotBytes: chunkSizeBytes, slots: 64 }] } })
    return node.system.spawn(storageClientActor, { clientId: `client-${i}`, mgmtds: c.mgmtds, requestTimeoutMs: 120, retryBudgetMs: 900, backoffMinMs: 5, backoffMaxMs: 60, routingRefreshMs: 200 })
  })
  const chunks = c.chains.flatMap((chain) => Array.from({ length: chunksPerChain }, (_, i) => ({ chainId: chain.chainId, chunkId: makeChunkId(BigInt(1000 + chain.chainId), i) })))
  const w: Workload = { history, clients, chunks, running: false, inFlight: 0, error: null }
  scheduleFaults(c, random, stats)
  c.sim.at(phase.workloadFromMs, () => {
    w.running = true
    for (const client of clients) for (let k = 0; k < 3; k++) {
      workerLoop(c, w, client, random).catch((error: unknown) => {
        w.error ??= error instanceof Error ? error : new Error(String(error))
        w.running = false
      })
    }
  })
  c.sim.at(phase.workloadUntilMs, () => { w.running = false })
  await stepChecked(c, phase.workloadUntilMs, stats, w)
  await c.runUntil(() => w.inFlight === 0, phase.workloadUntilMs + 3_000)
  if (w.error !== null) throw w.error
  if (w.inFlight !== 0) throw new Error(`${w.inFlight} client operations still running 3 s after the workload stopped`)
  const routing = await converge(c, stats)
  await finalCheck(c, w, routing, stats, mutant)
  if (process.env.T3FS_SIM_EVENTS) console.log(JSON.stringify(Object.fromEntries(events)))
  Object.assign(stats, { writes: history.counts.writes, acked: history.counts.acked, indeterminate: history.counts.indeterminate, reads: history.counts.reads, readBlocks: history.counts.readBlocks })
  return stats
}

/** The chains as the KV held them at the last step (the fault scheduler aims at them). */
const lastChains = new WeakMap<StorageCluster, ChainInfo[]>()

async function stepChecked(c: StorageCluster, untilMs: number, stats: ScenarioStats, w?: Workload): Promise<void> {
  while (c.sim.clock.now() < untilMs) {
    await c.sim.run({ untilMs: Math.min(untilMs, c.sim.clock.now() + 25), maxEvents: 1_000_000 })
    stats.steps++
    if (w?.error) throw w.error
    if (c.violation() !== null) throw new Error(c.violation()!)
    const { chains } = await loadSnapshot(c.kv)
    lastChains.set(c, chains)
    for (const chain of chains) {
      const broken = chainInvariantError(chain)
      if (broken !== null) throw new Error(`at ${c.sim.clock.now().toFixed(1)} ms: ${broken}`)
    }
  }
}

/** Crashes and restarts of storage nodes, partitions, service crashes: at most two storage nodes in trouble at once. */
function scheduleFaults(c: StorageCluster, random: SeededRandom, stats: ScenarioStats): void {
  const troubled = new Set<SimNode>()
  const mgmtd = c.mgmtdNodes[0]
  const at = (ms: number, f: () => void): void => c.sim.at(ms, f)
  for (let t = phase.faultsFromMs; t < phase.faultsUntilMs; t += 150 + random.int(250)) {
    at(t, () => {
      const calm = c.storage.filter((n) => !troubled.has(n))
      if (troubled.size >= 2 || calm.length === 0) return
      // Now and then aim at the worst moment: the node feeding a SYNCING target loses mgmtd mid-sync.
      const source = random.next() < 0.3 ? syncSource(c, calm) : null
      const node = source ?? calm[random.int(calm.length)]
      const kind = source !== null ? 0.5 : random.next()
      const lastsMs = 100 + random.int(700)
      troubled.add(node)
      if (kind < 0.4) {
        stats.nodeCrashes++
        c.sim.crashNode(node)
        at(c.sim.clock.now() + lastsMs, () => { c.sim.restartNode(node); troubled.delete(node) })
      } else if (kind < 0.65) {
        stats.partitions++
        c.sim.partition(node, mgmtd, random.next() < 0.3 ? { oneWay: true } : {})
        at(c.sim.clock.now() + lastsMs, () => { c.sim.heal(node, mgmtd); troubled.delete(node) })
      } else if (kind < 0.85) {
        stats.partitions++
        const other = c.storage.filter((n) => n !== node)[random.int(c.storage.length - 1)]
        c.sim.partition(node, other)
        at(c.sim.clock.now() + lastsMs, () => { c.sim.heal(node, other); troubled.delete(node) })
      } else {
        stats.serviceCrashes++
        c.sim.crash(c.service(node))
        at(c.sim.clock.now() + 50, () => troubled.delete(node))
      }
    })
  }
  at(phase.faultsUntilMs + 900, () => {
    c.sim.healAll()
    for (const node of c.storage) if (!node.up) c.sim.restartNode(node)
  })
}

/** A calm node holding the last SERVING target before a SYNCING one, if any. */
function syncSource(c: StorageCluster, calm: SimNode[]): SimNode | null {
  for (const chain of lastChains.get(c) ?? []) {
    const syncing = chain.targets.findIndex((t) => t.publicState === 'SYNCING')
    if (syncing <= 0) continue
    const node = c.storage[Math.floor(chain.targets[syncing - 1].targetId / 100) - 1]
    if (node !== undefined && calm.includes(node)) return node
  }
  return null
}

async function workerLoop(c: StorageCluster, w: Workload, client: ActorRef<ClientActorMsg>, random: SeededRandom): Promise<void> {
  while (w.running) {
    const { chainId, chunkId } = w.chunks[random.int(w.chunks.length)]
    const first = random.int(blocksPerChunk)
    const count = 1 + random.int(Math.min(4, blocksPerChunk - first))
    w.inFlight++
    try {
      if (random.next() < 0.55) {
        const { writeId, data } = w.history.beginWrite(chainId, chunkId, first, count)
        // Some writers are impatient (or die): their write is abandoned after one short try.
        const impatient = random.next() < 0.2 ? { retryBudgetMs: 60 } : {}
        const acked = await client.ask({ type: 'write', chainId, chunkId, offset: first * blockBytes, data, chunkSizeBytes, ...impatient }, { timeoutMs: 60_000 }).then(() => true, () => false)
        w.history.endWrite(chainId, chunkId, first, count, writeId, acked)
      } else {
        const invokeMs = c.sim.clock.now()
        const r = await client.ask({ type: 'read', chainId, chunkId, offset: first * blockBytes, length: count * blockBytes }, { timeoutMs: 60_000 }).catch(() => null)
        if (r !== null) {
          const bytes = new Uint8Array(count * blockBytes)
          bytes.set(r.bytes.subarray(0, Math.min(r.bytes.length, bytes.length)))
          w.history.checkRead(chainId, chunkId, first, bytes, count, invokeMs, `read by ${client.address.node} from target ${r.targetId} at ${c.sim.clock.now().toFixed(1)} ms`)
        }
      }
    } finally {
      w.inFlight--
    }
  }
}

/** Waits until every chain has all its targets SERVING and UPTODATE; the routing then. */
async function converge(c: StorageCluster, stats: ScenarioStats): Promise<RoutingInfo> {
  let routing: RoutingInfo | null = null
  const done = (): boolean => routing !== null && routing.chains.every((ch) => ch.targets.every((t) => t.publicState === 'SERVING')) && routing.targets.every((t) => t.localState === 'UPTODATE')
  while (c.sim.clock.now() < phase.convergeUntilMs) {
    await stepChecked(c, c.sim.clock.now() + 200, stats)
    routing = await c.routing()
    if (done()) break
  }
  if (!done()) {
    const failures = c.lastFailures().slice(-3).join(' | ')
    throw new Error(`chains did not converge to all SERVING by ${phase.convergeUntilMs} ms: ${routing?.chains.map((ch) => `${ch.chainId}v${ch.chainVersion}[${ch.targets.map((t) => `${t.targetId}:${t.publicState}`).join(' ')}]`).join(' ') ?? 'no routing'}${failures === '' ? '' : `; last target failures: ${failures}`}`)
  }
  // Stable for a while: every node has this routing (the views replicas check requests against).
  for (;;) {
    const version = routing!.routingInfoVersion
    await stepChecked(c, c.sim.clock.now() + 150, stats)
    routing = await c.routing()
    if (done() && routing!.routingInfoVersion === version) return routing!
    if (c.sim.clock.now() >= phase.convergeUntilMs) throw new Error(`the chains kept changing after they converged (routing v${version} → v${routing?.routingInfoVersion})`)
  }
}

/** Every replica of every chain: same chunks, versions and bytes, nothing pending, no block older than an acknowledged write. */
async function finalCheck(c: StorageCluster, w: Workload, routing: RoutingInfo, stats: ScenarioStats, mutant: string | null): Promise<void> {
  void mutant
  const probe = c.sim.addNode('checker')
  await c.sim.run({ untilMs: c.sim.clock.now() + 50 }) // connected to everyone
  for (const chain of routing.chains) {
    const metas: Map<string, ChunkMeta>[] = []
    for (const target of chain.targets) {
      const address = routing.targets.find((t) => t.targetId === target.targetId)!.address!
      const list = await askWithRetry(c, () => probe.system.refFor<ReplicaMsg>(address).ask({ type: 'list-chunks' }, { timeoutMs: 300 }), `final list of target ${target.targetId}`)
      const mine = list.filter((m) => w.chunks.some((k) => k.chunkId === m.chunkId && k.chainId === chain.chainId))
      for (const m of mine) if (m.pending !== null) throw new Error(`after convergence target ${target.targetId} still holds a pending version of chunk ${m.chunkId} (committed v${m.commitVersion}, pending v${m.updateVersion})`)
      metas.push(new Map(mine.map((m) => [m.chunkId, m])))
    }
    const describe = (m: ChunkMeta | undefined): string => (m === undefined ? 'absent' : `v${m.commitVersion} ${m.lengthBytes} B crc ${m.checksum}`)
    for (const chunk of w.chunks.filter((k) => k.chainId === chain.chainId)) {
      const seen = metas.map((m) => describe(m.get(chunk.chunkId)))
      if (new Set(seen).size > 1) throw new Error(`chain ${chain.chainId} replicas disagree on chunk ${chunk.chunkId}: ${chain.targets.map((t, i) => `${t.targetId}: ${seen[i]}`).join('; ')}`)
      let reference: Uint8Array | null = null
      for (const target of chain.targets) {
        const invokeMs = c.sim.clock.now()
        const bytes = await readReplica(c, probe, routing, chain.chainId, chain.chainVersion, target.targetId, chunk.chunkId)
        if (reference !== null && Buffer.compare(reference, bytes) !== 0) throw new Error(`chain ${chain.chainId} replicas hold different bytes for chunk ${chunk.chunkId} at the same version`)
        reference = bytes
        w.history.checkRead(chain.chainId, chunk.chunkId, 0, bytes, blocksPerChunk, invokeMs, `final read of target ${target.targetId}`)
        stats.finalBlocks += blocksPerChunk
      }
    }
  }
}

/** The network still drops a frame now and then: the checker asks again. */
async function askWithRetry<T>(c: StorageCluster, ask: () => Promise<T>, what: string): Promise<T> {
  let last: unknown
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      return await c.settle(ask(), c.sim.clock.now() + 400)
    } catch (error) {
      last = error
    }
  }
  throw new Error(`${what} kept failing: ${last instanceof Error ? last.message : String(last)}`)
}

/** The whole chunk as one replica holds it (its committed version), asked of that replica directly. */
async function readReplica(c: StorageCluster, probe: SimNode, routing: RoutingInfo, chainId: number, chainVersion: number, targetId: number, chunkId: ChunkId): Promise<Uint8Array> {
  const address = routing.targets.find((t) => t.targetId === targetId)!.address!
  let last = ''
  for (let attempt = 0; attempt < 20; attempt++) {
    const ask = probe.system.refFor<ReplicaMsg>(address).ask({ type: 'batch-read', ios: [{ key: { chainId, chainVersion, chunkId }, offset: 0, length: chunkSizeBytes, into: { kind: 'none' } }] }, { timeoutMs: 500 })
    const [r] = await c.settle(ask, c.sim.clock.now() + 600).catch((e: Error) => [{ ok: false as const, code: 'ask', message: e.message }])
    const bytes = new Uint8Array(chunkSizeBytes)
    if (r.ok) {
      const data = r.data === undefined ? new Uint8Array(0) : r.data instanceof Uint8Array ? r.data : r.data.bytes
      bytes.set(data.subarray(0, r.lengthBytes))
      return bytes
    }
    if (r.code === 'ERR_STORAGE_CHUNK_NOT_FOUND') return bytes
    last = `${r.code}: ${r.message}`
    await c.sim.run({ untilMs: c.sim.clock.now() + 50 })
  }
  throw new Error(`final read of chunk ${chunkId} from target ${targetId} kept failing: ${last}`)
}

export interface SuiteResult {
  sim: 'storage'
  seeds: number
  failed: number
  failingSeed: number | null
  mutant: string | null
  error?: string
  totals: Omit<ScenarioStats, 'steps'>
  seconds: number
}

export async function runStorageSuite(options: { seeds: number; firstSeed?: number; mutant: string | null; log: (line: string) => void }): Promise<SuiteResult> {
  const started = Date.now()
  const totals = { writes: 0, acked: 0, indeterminate: 0, reads: 0, readBlocks: 0, finalBlocks: 0, nodeCrashes: 0, partitions: 0, serviceCrashes: 0, syncedChunks: 0, syncs: 0 }
  let ran = 0
  const failure = await exploreSeeds({ seeds: options.seeds, firstSeed: options.firstSeed ?? 1, log: options.log }, async (seed) => {
    const s = await storageScenario(seed, options.mutant)
    ran++
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += s[k]
  })
  return {
    sim: 'storage', seeds: failure === null ? ran : ran + 1, failed: failure === null ? 0 : 1, failingSeed: failure?.seed ?? null, mutant: options.mutant,
    ...(failure === null ? {} : { error: failure.error instanceof Error ? failure.error.message : String(failure.error) }),
    totals, seconds: (Date.now() - started) / 1000,
  }
}
