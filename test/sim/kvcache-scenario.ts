/**
 * One seed of the KVCache simulation: a simulated file system (buildSimFs: mgmtd, three storage
 * nodes on SimDisks, chains of three, a meta server) and two or three client nodes, each with a
 * KvCache on one shared root whose clock is the simulation's. Rounds of a busy phase (writers put
 * blocks of shared keys — content from key and version, kvcache-blocks.ts — while readers get,
 * batchGet, check exists and delete, and GC passes run with and without rescan) and a quiet phase
 * (no puts: blocks reach their TTL while readers and GC go on). Faults: message delays and
 * reordering (drops in some seeds), a storage node that crashes and restarts, and in half the
 * seeds a writer's node that crashes in the middle of a put (its temporary files become orphans)
 * and comes back with the same writerId.
 *
 * Every answer is checked as it arrives against the model (kvcache-model.ts); at the end, with
 * everything quiet: every block file in the tree is whole, a version that may be current, with
 * its put's time as mtime; then rescanning GC passes past orphanTempAgeMs leave no temporary file
 * and no (by then expired) block.
 */
import type { FileClient, FileClientOptions } from '../../actors/client/file-client.ts'
import { startFileClient } from '../../actors/client/file-client-actor.ts'
import { openKvCache, type KvCache } from '../../actors/kvcache/index.ts'
import { blockPath } from '../../actors/kvcache/kv-layout.ts'
import { listTree } from '../../actors/kvcache/kv-listing.ts'
import type { KvCacheMutant } from '../../actors/kvcache/kv-options.ts'
import { sleep } from '../../runtime/clock.ts'
import { SeededRandom } from '../../runtime/random.ts'
import type { FaultPlan, SimNode } from '../../runtime/testkit/simulation.ts'
import { buildSimFs, type SimFs } from '../actors/client/sim-client-cluster.ts'
import { makeBlock, minBlockBytes, readBlock } from './kvcache-blocks.ts'
import { KvModel, Violation, type ReadSpan } from './kvcache-model.ts'
import { recordingClient, type InstanceActivity } from './kvcache-recorder.ts'

const KiB = 1024
const ROOT = '/kv'
const ROUNDS = 3
/** Far above a put's longest retries (a storage request gives up after the client's 5 s budget). */
const ORPHAN_TEMP_AGE_MS = 10_000
const MAX_BLOCK_BYTES = 150 * KiB
/** Virtual time a seed may take before it counts as stuck. */
const RUN_LIMIT_MS = 120_000

export interface KvTotals {
  puts: number
  putsAcked: number
  putErrors: number
  gets: number
  hits: number
  nulls: number
  batchGets: number
  existsChecks: number
  deletes: number
  opErrors: number
  gcPasses: number
  rescans: number
  gcChecked: number
  orphansDeleted: number
  tempCleanups: number
  storageCrashes: number
  writerCrashes: number
  writerCuts: number
  finalBlocks: number
  virtualMs: number
}

export const emptyTotals = (): KvTotals => ({ puts: 0, putsAcked: 0, putErrors: 0, gets: 0, hits: 0, nulls: 0, batchGets: 0, existsChecks: 0, deletes: 0, opErrors: 0, gcPasses: 0, rescans: 0, gcChecked: 0, orphansDeleted: 0, tempCleanups: 0, storageCrashes: 0, writerCrashes: 0, writerCuts: 0, finalBlocks: 0, virtualMs: 0 })

interface Config {
  readonly ttlMs: number
  readonly capacityBytes: number
  /** The capacity is never reached: the GC may only take expired blocks. */
  readonly strict: boolean
  readonly keys: readonly string[]
  readonly crashWriter: boolean
  /** A writer is cut off from storage for longer than its retry budget (its puts fail and clean up). */
  readonly cutWriter: boolean
}

interface Instance extends InstanceActivity {
  readonly slot: number
  readonly node: SimNode
  readonly raw: FileClient
  readonly cache: KvCache
  inflight: number
}

interface Run {
  readonly c: SimFs
  readonly rnd: SeededRandom
  readonly cfg: Config
  readonly model: KvModel
  readonly totals: KvTotals
  readonly mutants: readonly KvCacheMutant[]
  readonly versions: Map<string, number>
  readonly live: Instance[]
  phase: 'busy' | 'quiet' | 'done'
  failure: Error | null
}

const trace = process.env.T3FS_SIM_TRACE !== undefined

function configFor(seed: number): { cfg: Config; faults: FaultPlan } {
  const r = new SeededRandom(seed * 2654435761)
  const keys = Array.from({ length: 5 + r.int(5) }, (_, i) => (i % 3 === 2 ? `p${i}.${'ab'.repeat(1 + r.int(6))}` : `k${i}`))
  const strict = seed % 3 !== 0
  const cfg: Config = { ttlMs: 1_500 + r.int(2_500), capacityBytes: strict ? 64 * 1024 * KiB : 200 * KiB + r.int(200 * KiB), strict, keys, crashWriter: seed % 2 === 0, cutWriter: seed % 5 === 3 }
  const faults: FaultPlan = { minDelayMs: 0, maxDelayMs: 2 + r.int(4), reorder: true, ...(seed % 4 === 1 ? { dropRate: 0.002 } : {}) }
  return { cfg, faults }
}

/** One seed: resolves with what it did, rejects (a Violation, or why it got stuck) when a property broke. */
export async function kvcacheScenario(seed: number, mutants: readonly KvCacheMutant[]): Promise<KvTotals> {
  const { cfg, faults } = configFor(seed)
  const c = await buildSimFs(seed, faults)
  const model = new KvModel({ ttlMs: cfg.ttlMs, orphanTempAgeMs: ORPHAN_TEMP_AGE_MS, strictGc: cfg.strict })
  const run: Run = { c, rnd: c.sim.forkRandom(), cfg, model, totals: emptyTotals(), mutants, versions: new Map(), live: [], phase: 'busy', failure: null }
  const started = c.sim.clock.now()
  const writers = 2 + run.rnd.int(2)
  for (let slot = 1; slot <= writers; slot++) {
    const node = c.sim.addNode(`w${slot}`, { bufferPool: { classes: [{ slotBytes: 64 * KiB, slots: 256 }] } })
    run.live.push(await c.settle(startClient(run, node, slot).then((fs) => openInstance(run, slot, node, fs, 1)), c.sim.clock.now() + 10_000))
  }
  for (const inst of run.live) startLoops(run, inst)
  void guarded(run, 'GC loop', gcLoop(run))
  void guarded(run, 'faults', storageFaults(run))
  if (cfg.crashWriter) void guarded(run, 'writer crash', crashWriter(run))
  if (cfg.cutWriter) void guarded(run, 'writer cut', cutWriter(run))
  void guarded(run, 'phases', phases(run))
  await c.runUntil(() => run.failure !== null || (run.phase === 'done' && quiet(run)), started + RUN_LIMIT_MS)
  if (run.failure !== null) throw run.failure
  if (!quiet(run)) throw new Error(`the workload did not finish in ${RUN_LIMIT_MS} ms of virtual time (${run.live.map((i) => `${i.name}: ${i.inflight} in flight`).join(', ')})`)
  await c.settle(finalChecks(run), c.sim.clock.now() + 60_000)
  if (run.failure !== null) throw run.failure
  Object.assign(run.totals, { hits: model.counts.hits, nulls: model.counts.nulls, gcChecked: model.counts.gcChecked, orphansDeleted: model.counts.orphansDeleted, tempCleanups: model.counts.tempCleanups, virtualMs: Math.round(c.sim.clock.now() - started) })
  return run.totals
}

function fail(run: Run, error: unknown): void {
  run.failure ??= error instanceof Error ? error : new Error(String(error))
}

async function guarded(run: Run, what: string, work: Promise<void>): Promise<void> {
  await work.catch((error: unknown) => fail(run, error instanceof Violation ? error : new Error(`${what}: ${(error as Error).stack ?? String(error)}`)))
}

function clientOptions(run: Run, slot: number): Partial<FileClientOptions> {
  // Half the writers tell meta their own length at close (no length query to storage).
  return { readAheadBytes: 0, ...((run.c.sim.seed + slot) % 2 === 0 ? { lengthOnClose: 'hint' as const } : {}) }
}

async function openInstance(run: Run, slot: number, node: SimNode, raw: FileClient, life: number): Promise<Instance> {
  const act: InstanceActivity = { name: life === 1 ? `w${slot}` : `w${slot}#${life}`, alive: true, deleting: new Map(), gcInvs: [], putting: new Map() }
  const fs = recordingClient(raw, act, run.model, run.c.sim.clock, (e) => fail(run, e))
  const cache = await openKvCache(fs, {
    root: ROOT, clock: run.c.sim.clock, gcIntervalMs: 0, ttlMs: run.cfg.ttlMs, capacityBytes: run.cfg.capacityBytes, maxBlockBytes: MAX_BLOCK_BYTES,
    orphanTempAgeMs: ORPHAN_TEMP_AGE_MS, accessPersistIntervalMs: [0, 300, 60_000][run.rnd.int(3)], writerId: `w${slot}`, mutants: run.mutants,
  })
  // The same object the recorder holds: `alive` turns false for both.
  return Object.assign(act, { slot, node, raw, cache, inflight: 0 })
}

function quiet(run: Run): boolean {
  return run.live.every((i) => i.inflight === 0)
}

async function phases(run: Run): Promise<void> {
  const clock = run.c.sim.clock
  for (let round = 0; round < ROUNDS; round++) {
    run.phase = 'busy'
    await sleep(clock, 700 + run.rnd.int(900))
    run.phase = 'quiet'
    await sleep(clock, Math.round(run.cfg.ttlMs * (0.6 + run.rnd.next() * 0.8)))
  }
  run.phase = 'done'
}

function startLoops(run: Run, inst: Instance): void {
  void guarded(run, `${inst.name} writer`, writerLoop(run, inst))
  void guarded(run, `${inst.name} reader`, readerLoop(run, inst))
}

const active = (run: Run, inst: Instance): boolean => run.phase !== 'done' && inst.alive && run.failure === null

/** Runs one operation of `inst`, counted in flight (a crashed instance's never end). */
async function op<T>(inst: Instance, work: () => Promise<T>): Promise<T> {
  inst.inflight++
  try {
    return await work()
  } finally {
    inst.inflight--
  }
}

function blockSize(run: Run, key: string): number {
  const x = run.rnd.next()
  const bytes = x < 0.8 ? 1 + run.rnd.int(6 * KiB) : x < 0.95 ? 6 * KiB + run.rnd.int(34 * KiB) : 64 * KiB + run.rnd.int(76 * KiB)
  return Math.max(minBlockBytes(key), bytes)
}

async function writerLoop(run: Run, inst: Instance): Promise<void> {
  const clock = run.c.sim.clock
  while (active(run, inst)) {
    if (run.phase !== 'busy') {
      await sleep(clock, 50)
      continue
    }
    const free = run.cfg.keys.filter((k) => !inst.putting.has(k))
    const first = free[run.rnd.int(free.length)]
    const second = run.rnd.next() < 0.3 ? free.filter((k) => k !== first)[run.rnd.int(free.length - 1)] : undefined
    await Promise.all([first, second].flatMap((k) => (k === undefined ? [] : [put(run, inst, k)])))
    await sleep(clock, 10 + run.rnd.int(90))
  }
}

async function put(run: Run, inst: Instance, key: string): Promise<void> {
  const version = (run.versions.get(key) ?? 0) + 1
  run.versions.set(key, version)
  const block = makeBlock(key, version, blockSize(run, key))
  const rec = run.model.putStarted(inst.name, key, version, Math.floor(run.c.sim.clock.now()))
  inst.putting.set(key, rec)
  run.totals.puts++
  try {
    await op(inst, () => inst.cache.put(key, block))
    run.model.putEnded(rec, true)
    run.totals.putsAcked++
  } catch (error) {
    run.model.putEnded(rec, false)
    run.totals.putErrors++
    expectedError(run, inst, `put ${key} v${version}`, error)
  } finally {
    inst.putting.delete(key)
  }
  if (trace) console.log(`${run.c.sim.clock.now().toFixed(1)} ${inst.name} put ${key} v${version} ${rec.state}`)
}

/** A failure the faults explain (storage or meta out of reach past the retries); anything else breaks the run. */
function expectedError(run: Run, inst: Instance, what: string, error: unknown): void {
  if (!inst.alive) return
  const code = (error as { code?: string }).code ?? 'no code'
  run.totals.opErrors++
  if (!['EIO', 'ETIMEDOUT', 'ERR_TIMEOUT', 'ERR_ASK_TIMEOUT'].includes(code)) throw new Violation(`${inst.name}: ${what} failed with ${code}: ${(error as Error).message}`)
}

async function readerLoop(run: Run, inst: Instance): Promise<void> {
  const clock = run.c.sim.clock
  while (active(run, inst)) {
    await sleep(clock, run.phase === 'busy' ? 10 + run.rnd.int(60) : 40 + run.rnd.int(120))
    if (!active(run, inst)) return
    const key = run.cfg.keys[run.rnd.int(run.cfg.keys.length)]
    const x = run.rnd.next()
    try {
      if (x < 0.6) await get(run, inst, key)
      else if (x < 0.75) await batchGet(run, inst)
      else if (x < 0.9) await exists(run, inst, key)
      else if (x < 0.95) await del(run, inst, key)
      else await gc(run, inst, run.rnd.next() < 0.5)
    } catch (error) {
      if (error instanceof Violation) throw error
      expectedError(run, inst, `an operation on ${key}`, error)
    }
  }
}

function spanFrom(run: Run, inv: number, startMs: number): ReadSpan {
  return { inv, startMs, res: run.model.seq(), endMs: run.c.sim.clock.now() }
}

async function get(run: Run, inst: Instance, key: string): Promise<void> {
  const into = run.rnd.next() < 0.3 ? Buffer.alloc(MAX_BLOCK_BYTES) : undefined
  const inv = run.model.seq()
  const startMs = run.c.sim.clock.now()
  const got = await op(inst, () => inst.cache.get(key, into))
  if (!inst.alive) return
  run.totals.gets++
  if (into !== undefined && got !== null && got.buffer !== into.buffer) throw new Violation(`${inst.name}: get ${key} into a buffer answered another buffer`)
  run.model.checkGet(inst.name, key, got, spanFrom(run, inv, startMs))
}

async function batchGet(run: Run, inst: Instance): Promise<void> {
  const keys = run.cfg.keys.filter(() => run.rnd.next() < 0.4)
  const inv = run.model.seq()
  const startMs = run.c.sim.clock.now()
  const got = await op(inst, () => inst.cache.batchGet(keys))
  if (!inst.alive) return
  run.totals.batchGets++
  const span = spanFrom(run, inv, startMs)
  if (got.length !== keys.length) throw new Violation(`${inst.name}: batchGet of ${keys.length} keys answered ${got.length}`)
  keys.forEach((k, i) => run.model.checkGet(inst.name, k, got[i], span))
}

async function exists(run: Run, inst: Instance, key: string): Promise<void> {
  const inv = run.model.seq()
  const startMs = run.c.sim.clock.now()
  const present = await op(inst, () => inst.cache.exists(key))
  if (!inst.alive) return
  run.totals.existsChecks++
  run.model.checkExists(inst.name, key, present, spanFrom(run, inv, startMs))
}

async function del(run: Run, inst: Instance, key: string): Promise<void> {
  inst.deleting.set(key, (inst.deleting.get(key) ?? 0) + 1)
  run.totals.deletes++
  try {
    await op(inst, () => inst.cache.delete(key))
  } finally {
    const n = (inst.deleting.get(key) ?? 1) - 1
    if (n === 0) inst.deleting.delete(key)
    else inst.deleting.set(key, n)
  }
}

async function gc(run: Run, inst: Instance, rescan: boolean): Promise<void> {
  const inv = run.model.seq()
  inst.gcInvs.push(inv)
  run.totals.gcPasses++
  if (rescan) run.totals.rescans++
  try {
    await op(inst, () => inst.cache.gc({ rescan }))
  } finally {
    inst.gcInvs.splice(inst.gcInvs.indexOf(inv), 1)
  }
}

/** A GC pass every few hundred ms on a random live instance (not awaited: its node may crash). */
async function gcLoop(run: Run): Promise<void> {
  for (;;) {
    await sleep(run.c.sim.clock, 100 + run.rnd.int(500))
    if (run.phase === 'done' || run.failure !== null) return
    const alive = run.live.filter((i) => i.alive)
    const inst = alive[run.rnd.int(alive.length)]
    if (inst === undefined) continue
    void gc(run, inst, run.rnd.next() < 0.5).catch((error: unknown) => {
      if (error instanceof Violation) fail(run, error)
      else expectedError(run, inst, 'gc', error)
    })
  }
}

/** A storage node dies in a busy phase of the first two rounds and comes back. */
async function storageFaults(run: Run): Promise<void> {
  const clock = run.c.sim.clock
  await sleep(clock, 100 + run.rnd.int(2_000))
  const victim = run.c.storage[run.rnd.int(run.c.storage.length)]
  run.c.sim.crashNode(victim)
  run.totals.storageCrashes++
  await sleep(clock, 300 + run.rnd.int(1_200))
  run.c.sim.restartNode(victim)
}

/** A writer loses its links to every storage node for longer than its retry budget, then gets them back. */
async function cutWriter(run: Run): Promise<void> {
  const clock = run.c.sim.clock
  await sleep(clock, 200 + run.rnd.int(2_500))
  const victim = run.live[run.rnd.int(run.live.length)]
  for (const s of run.c.storage) run.c.sim.partition(victim.node, s)
  run.totals.writerCuts++
  await sleep(clock, 6_000)
  for (const s of run.c.storage) run.c.sim.heal(victim.node, s)
}

/** A writer's node dies while one of its puts is in flight; it restarts and opens a KvCache with the same writerId. */
async function crashWriter(run: Run): Promise<void> {
  const clock = run.c.sim.clock
  await sleep(clock, 200 + run.rnd.int(1_500))
  const victim = run.live[run.rnd.int(run.live.length)]
  while (victim.putting.size === 0 && run.phase !== 'done') await sleep(clock, 1)
  if (run.phase === 'done') return
  await sleep(clock, run.rnd.int(15))
  run.c.sim.crashNode(victim.node)
  victim.alive = false
  run.model.lost(victim.name)
  run.totals.writerCrashes++
  if (trace) console.log(`${clock.now().toFixed(1)} crash ${victim.name}`)
  await sleep(clock, 300 + run.rnd.int(1_200))
  run.c.sim.restartNode(victim.node)
  const raw = await startClient(run, victim.node, victim.slot)
  const again = await openInstance(run, victim.slot, victim.node, raw, 2)
  run.live.splice(run.live.indexOf(victim), 1, again)
  startLoops(run, again)
}

/**
 * A FileClient on a writer's node (options as buildSimFs's clients), retried: its first ask of
 * mgmtd may be dropped, or the links of a restarted node not be back yet.
 */
async function startClient(run: Run, node: SimNode, slot: number): Promise<FileClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startFileClient(node.system, { mgmtd: run.c.mgmtds, meta: () => [run.c.meta], requestTimeoutMs: 300, retryBudgetMs: 5_000, writeBufferBytes: 64 * KiB, sessionExtendIntervalMs: 100, syncIntervalMs: 200, ...clientOptions(run, slot) })
    } catch (error) {
      if (attempt >= 20) throw error
      await sleep(run.c.sim.clock, 50)
    }
  }
}

/** The tree after the run: whole blocks of possible versions, then no temporary file and no block after the last GC passes. */
async function finalChecks(run: Run): Promise<void> {
  const inst = run.live.find((i) => i.alive)
  if (inst === undefined) throw new Error('no live instance at the end')
  const before = await listTree(inst.raw, ROOT)
  for (const [key, entry] of before.blocks) {
    const h = await inst.raw.open(blockPath(ROOT, key), { direct: true })
    const bytes = new Uint8Array(h.sizeBytes)
    const n = await inst.raw.read(h, bytes, 0)
    await inst.raw.close(h)
    const span = { inv: run.model.seq(), res: run.model.seq(), startMs: run.c.sim.clock.now(), endMs: run.c.sim.clock.now() }
    const block = readBlock(key, bytes.subarray(0, n))
    if (!block.ok) throw new Violation(`after the run, the block file of ${key} is not whole: ${block.why}`)
    const version = run.model.checkStored(inst.name, key, block.version, span)
    const putAt = run.model.put(key, version)?.putAtMs
    if (entry.putAtMs !== putAt) throw new Violation(`after the run, the block file of ${key} (v${version}) has mtime ${entry.putAtMs}; its put was at ${putAt}`)
    run.totals.finalBlocks++
  }
  await gc(run, inst, true)
  await sleep(run.c.sim.clock, ORPHAN_TEMP_AGE_MS + 100)
  await gc(run, inst, true)
  const after = await listTree(inst.raw, ROOT)
  if (after.temps.length > 0) throw new Violation(`after rescanning GC passes ${ORPHAN_TEMP_AGE_MS + 100} ms apart, temporary files are left: ${after.temps.join(', ')}`)
  if (after.blocks.length > 0) throw new Violation(`after every block's TTL and a rescanning GC pass, blocks are left: ${after.blocks.map(([k, e]) => `${k} (mtime ${e.putAtMs})`).join(', ')}`)
  if (run.cfg.strict) {
    for (const i of run.live) if (i.cache.stats().evictions > 0) throw new Violation(`${i.name} evicted ${i.cache.stats().evictions} blocks under a capacity never reached`)
  }
}
