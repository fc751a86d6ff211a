/**
 * The FileClient's simulation suite: a writer client and a reader client on the simulated cluster
 * while storage nodes crash and restart (a chain's head dies mid-write, a replica mid-read, the
 * routing changes under both) and, in some seeds, the writer is cut off from storage for longer
 * than its retry budget (its writes must then fail, not vanish).
 *
 * What must hold (checked as it runs and at the end):
 * - a log file, appended in random pieces and flushed now and then: every range acknowledged by a
 *   flush before a read started reads back exactly, from another client (no acknowledged write
 *   lost; reads linearizable: they see every write acknowledged before them);
 * - an overwritten file (random writes in a small range, so buffers in flight overlap): after the
 *   final flush it reads exactly as the writer's model, from both clients;
 * - the writer's own sequential reads (read-ahead on) always equal its model (read your writes);
 * - a write or flush that fails reports EIO (then the writer writes the bytes again);
 * - a third file written in whole write-behind buffers from lent slots (lent-slots.ts: scribbled
 *   over as soon as no one holds them) reads exactly as its model, and no write of it is refused
 *   for its checksum (its bytes changed under it).
 *
 * Seeds replay with T3FS_SEED=N; each named mutant (CLIENT_MUTANTS) must be caught.
 */
import type { ClientMutant, FileClient, FileHandle } from '../../../actors/client/file-client.ts'
import { sleep } from '../../../runtime/clock.ts'
import { isT3fsError } from '../../../runtime/errors.ts'
import type { SeededRandom } from '../../../runtime/random.ts'
import { exploreSeeds } from '../../../runtime/testkit/simulation.ts'
import type { ActorSystem } from '../../../runtime/actor-system.ts'
import { LentSlots } from './lent-slots.ts'
import { buildSimFs, type SimFs } from './sim-client-cluster.ts'

export interface ClientTotals {
  appendedBytes: number
  flushes: number
  checkedReads: number
  ownReads: number
  writeErrors: number
  nodeCrashes: number
  cuts: number
  lentWrites: number
}

const OW_BYTES = 160 * 1024
const LOG_PIECES = 90
const OW_WRITES = 70
/** The writer's write-behind buffer; the lent file is written in whole buffers. */
const WRITE_BUFFER_BYTES = 16 * 1024
const LENT_BUFFERS = 12
const LENT_WRITES = 36
/** Slots the lender has: fewer than the buffers the writer keeps in flight, so slots come back and are reused. */
const LENT_SLOTS = 3

const fill = (n: number, salt: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (salt * 97 + i * 13 + (i >> 7)) & 0xff)

class Failure extends Error {}

/** One seed: returns what it did, throws (a Failure) when a property broke. */
export async function runClientScenario(seed: number, mutant: ClientMutant | null): Promise<ClientTotals> {
  const c = await buildSimFs(seed, { minDelayMs: 0, maxDelayMs: 3, reorder: true })
  const rnd = c.sim.forkRandom()
  const totals: ClientTotals = { appendedBytes: 0, flushes: 0, checkedReads: 0, ownReads: 0, writeErrors: 0, nodeCrashes: 0, cuts: 0, lentWrites: 0 }
  const writer = await c.client({ writeBufferBytes: WRITE_BUFFER_BYTES, writeBuffersInFlight: 4, readAheadBytes: 128 * 1024, ...(mutant === null ? {} : { mutants: [mutant] }) }, 'writer')
  const reader = await c.client({ readAheadBytes: 0 }, 'reader')
  const log = { acked: 0, data: new Uint8Array(LOG_PIECES * 40_000) }
  const state = { writerDone: false, failure: null as Error | null }
  const fail = (message: string): void => { state.failure ??= new Failure(message) }
  const faults = injectFaults(c, rnd, totals, writer.node.id, state)
  const owModel = new Uint8Array(OW_BYTES)
  const writing = writerLoop(c, writer.fs, writer.node.system, rnd, log, owModel, totals, fail).catch((e: unknown) => fail(`writer: ${String(e)}`)).finally(() => { state.writerDone = true })
  const reading = readerLoop(c, reader.fs, rnd, log, totals, state, fail).catch((e: unknown) => fail(`reader: ${String(e)}`))
  const done = await c.runUntil(() => state.writerDone || state.failure !== null, c.sim.clock.now() + 120_000)
  await c.runUntil(() => false, c.sim.clock.now() + 50)
  if (state.failure !== null) throw state.failure
  if (!done) throw new Failure('the writer did not finish in 120 s of virtual time')
  await c.settle(checkWhole(reader.fs, '/ow', owModel, 'reader', fail), c.sim.clock.now() + 30_000)
  if (state.failure !== null) throw state.failure
  totals.appendedBytes = log.acked
  void writing
  void reading
  void faults
  return totals
}

/** Crashes a random storage node (and restarts it), and in a third of the seeds cuts the writer off from storage for longer than its retry budget. */
async function injectFaults(c: SimFs, rnd: SeededRandom, totals: ClientTotals, writerNode: number, state: { writerDone: boolean }): Promise<void> {
  const cut = c.sim.seed % 3 === 0
  for (let round = 0; round < 2 && !state.writerDone; round++) {
    await sleep(c.sim.clock, 100 + rnd.int(1_200))
    const victim = c.storage[rnd.int(c.storage.length)]
    c.sim.crashNode(victim)
    totals.nodeCrashes++
    await sleep(c.sim.clock, 300 + rnd.int(1_500))
    c.sim.restartNode(victim)
    if (cut && round === 0) {
      await sleep(c.sim.clock, rnd.int(500))
      for (const s of c.storage) c.sim.partition(writerNode, s)
      totals.cuts++
      await sleep(c.sim.clock, 6_000)
      for (const s of c.storage) c.sim.heal(writerNode, s)
    }
  }
}

/** Appends to the log and overwrites the other file; flush acknowledgements move what readers may check. */
async function writerLoop(c: SimFs, fs: FileClient, system: ActorSystem, rnd: SeededRandom, log: { acked: number; data: Uint8Array }, model: Uint8Array, totals: ClientTotals, fail: (m: string) => void): Promise<void> {
  const lh = await fs.create('/log')
  const ow = await fs.create('/ow')
  let written = 0
  let owWrites = 0
  for (let piece = 0; piece < LOG_PIECES || owWrites < OW_WRITES; piece++) {
    if (piece < LOG_PIECES) {
      const n = 1 + rnd.int(rnd.int(4) === 0 ? 40_000 : 3_000)
      log.data.set(fill(n, piece), written)
      written = await retryWrite(fs, lh, log.data, written, written + n, [log.acked, written + n], totals)
      if (rnd.int(5) === 0 || piece === LOG_PIECES - 1) {
        if (await flushed(fs, lh, totals)) log.acked = written
        else written = log.acked // rewrite what was not acknowledged
      }
    }
    for (let k = rnd.int(3); k > 0 && owWrites < OW_WRITES; k--, owWrites++) {
      const at = rnd.int(OW_BYTES - 1)
      const bytes = fill(Math.min(1 + rnd.int(24_000), OW_BYTES - at), 1000 + owWrites)
      model.set(bytes, at)
      await retryWrite(fs, ow, model, at, at + bytes.length, [0, OW_BYTES], totals)
      if (rnd.int(4) === 0) await ownRead(fs, ow, model, rnd, totals, fail)
    }
    await sleep(c.sim.clock, rnd.int(20))
  }
  await settledWrites(fs, ow, model, totals)
  await ownRead(fs, ow, model, rnd, totals, fail)
  await checkWhole(fs, '/ow', model, 'writer', fail)
  await fs.close(lh)
  await fs.close(ow)
  await lentWrites(c, fs, system, rnd, totals, fail)
}

/**
 * Whole-buffer writes from lent slots, in order and then at random buffer-aligned places (so
 * writes in flight overlap and slots are reused while others travel), then the file checked
 * against its model.
 */
async function lentWrites(c: SimFs, fs: FileClient, system: ActorSystem, rnd: SeededRandom, totals: ClientTotals, fail: (m: string) => void): Promise<void> {
  const slots = await LentSlots.create(system, LENT_SLOTS, WRITE_BUFFER_BYTES + 4096)
  const model = new Uint8Array(LENT_BUFFERS * WRITE_BUFFER_BYTES)
  const h = await fs.create('/lent')
  // The chunk engine's refusal (ERR_CHECKSUM_MISMATCH) as the client reports it: EIO with it as the cause.
  const refusedForChecksum = (error: unknown): boolean => isT3fsError(error) && [error.code, error.details?.cause].some((c) => typeof c === 'string' && c.endsWith('CHECKSUM_MISMATCH'))
  for (let i = 0; i < LENT_WRITES; i++) {
    // First the whole file in order (as a sequential writer through the mount), then anywhere.
    const at = (i < LENT_BUFFERS ? i : rnd.int(LENT_BUFFERS)) * WRITE_BUFFER_BYTES
    const data = fill(WRITE_BUFFER_BYTES, 3000 + i)
    let slot = slots.take(data)
    while (slot === null) {
      await sleep(c.sim.clock, 1)
      slot = slots.take(data)
    }
    model.set(data, at)
    try {
      await fs.write(h, slot.bytes, at, slot.lent)
    } catch (error) {
      if (refusedForChecksum(error)) fail(`a lent write was refused for its checksum (its bytes changed before storage pulled them): ${String(error)}`)
      if (!isT3fsError(error, 'EIO')) throw error
      // This write or an earlier one in flight failed: write the whole model again (not lent).
      totals.writeErrors++
      await retryWrite(fs, h, model, 0, model.length, [0, model.length], totals)
    } finally {
      slot.giveBack()
    }
    if (rnd.int(3) === 0) await sleep(c.sim.clock, rnd.int(5))
  }
  try {
    await settledWrites(fs, h, model, totals)
  } catch (error) {
    if (refusedForChecksum(error)) fail(`a lent write was refused for its checksum: ${String(error)}`)
    throw error
  }
  await checkWhole(fs, '/lent', model, 'writer', fail)
  await fs.close(h)
  totals.lentWrites += slots.lends
}

/**
 * Writes model[from, to) at `from` until a write is taken; after a failure (which must be EIO,
 * and may be a deferred one of earlier buffered bytes) it writes model[againFrom, againTo)
 * instead: everything that may not have reached storage. Returns `to`.
 */
async function retryWrite(fs: FileClient, h: FileHandle, model: Uint8Array, from: number, to: number, again: readonly [number, number], totals: ClientTotals): Promise<number> {
  let [start, end] = [from, to]
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await fs.write(h, model.subarray(start, end), start)
      return to
    } catch (error) {
      if (!isT3fsError(error, 'EIO')) throw error
      totals.writeErrors++
      ;[start, end] = again
    }
  }
  throw new Failure('20 writes in a row failed')
}

/**
 * A failed background flush is reported by the next write or flush, not by reads (which then see
 * storage without the failed bytes): flush until it succeeds, writing the whole model again after
 * a failure, before reads are compared with the model.
 */
async function settledWrites(fs: FileClient, h: FileHandle, model: Uint8Array, totals: ClientTotals): Promise<void> {
  while (!(await flushed(fs, h, totals))) await retryWrite(fs, h, model, 0, model.length, [0, model.length], totals)
}

async function flushed(fs: FileClient, h: FileHandle, totals: ClientTotals): Promise<boolean> {
  try {
    await fs.flush(h)
    totals.flushes++
    return true
  } catch (error) {
    if (!isT3fsError(error, 'EIO')) throw error
    totals.writeErrors++
    return false
  }
}

/**
 * The writer reads its own file sequentially (read-ahead on), writing once ahead of the reading
 * (into what read-ahead may hold): it must see exactly its writes.
 */
async function ownRead(fs: FileClient, h: FileHandle, model: Uint8Array, rnd: SeededRandom, totals: ClientTotals, fail: (m: string) => void): Promise<void> {
  const step = 4_096 + rnd.int(20_000)
  const into = new Uint8Array(step)
  const writeAt = rnd.int(OW_BYTES)
  await settledWrites(fs, h, model, totals)
  for (let at = rnd.int(3) * step; at < OW_BYTES; at += step) {
    if (at >= writeAt && at - step < writeAt) {
      const where = Math.min(OW_BYTES - 100, at + step + rnd.int(2 * step))
      const bytes = fill(100, 7_000 + at)
      model.set(bytes, where)
      await retryWrite(fs, h, model, where, where + 100, [0, OW_BYTES], totals)
      await settledWrites(fs, h, model, totals)
    }
    let n: number
    try {
      n = await fs.read(h, into, at, Math.min(step, OW_BYTES - at))
    } catch (error) {
      if (isT3fsError(error, 'EIO')) return
      throw error
    }
    totals.ownReads++
    const want = model.subarray(at, at + n)
    if (!Buffer.from(into.subarray(0, n)).equals(Buffer.from(want))) {
      let i = 0
      while (into[i] === want[i]) i++
      return fail(`the writer's own read at ${at} (+${n}) differs from what it wrote: byte ${at + i} is ${into[i]}, was written as ${want[i]} (step ${step}, wrote ahead at ${writeAt})`)
    }
  }
}

async function checkWhole(fs: FileClient, path: string, model: Uint8Array, who: string, fail: (m: string) => void): Promise<void> {
  const h = await fs.open(path, { direct: true })
  const into = new Uint8Array(model.length + 1)
  const n = await fs.read(h, into, 0)
  await fs.close(h)
  if (n !== model.length || !Buffer.from(into.subarray(0, n)).equals(Buffer.from(model))) fail(`${path} read by the ${who} (${n} bytes) differs from the writer's model (${model.length} bytes)`)
}

/** Another client reads acknowledged log ranges while faults happen; each must read back exactly. */
async function readerLoop(c: SimFs, fs: FileClient, rnd: SeededRandom, log: { acked: number; data: Uint8Array }, totals: ClientTotals, state: { writerDone: boolean }, fail: (m: string) => void): Promise<void> {
  let h: FileHandle | null = null
  while (!state.writerDone) {
    await sleep(c.sim.clock, 5 + rnd.int(40))
    const acked = log.acked
    if (acked === 0) continue
    h ??= await fs.open('/log', { direct: true })
    const at = rnd.int(acked)
    const len = Math.min(acked - at, 1 + rnd.int(100_000))
    const into = new Uint8Array(len)
    let n: number
    try {
      n = await fs.read(h, into, at, len)
    } catch (error) {
      if (isT3fsError(error, 'EIO')) continue // storage unreachable past the budget: an error, not wrong data
      throw error
    }
    totals.checkedReads++
    if (n !== len) return fail(`read of acknowledged log bytes ${at}+${len} returned ${n} bytes`)
    const want = log.data.subarray(at, at + len)
    if (!Buffer.from(into).equals(Buffer.from(want))) {
      let i = 0
      while (into[i] === want[i]) i++
      return fail(`read of acknowledged log bytes ${at}+${len}: byte ${at + i} is ${into[i]}, was written as ${want[i]}`)
    }
  }
  if (h !== null) await fs.close(h)
}

export interface ClientSuiteResult {
  seeds: number
  failed: number
  failingSeed: number | null
  error: string | null
  totals: ClientTotals
}

export async function runClientSuite(options: { seeds: number; firstSeed?: number; mutant: ClientMutant | null; log?: (line: string) => void }): Promise<ClientSuiteResult> {
  const totals: ClientTotals = { appendedBytes: 0, flushes: 0, checkedReads: 0, ownReads: 0, writeErrors: 0, nodeCrashes: 0, cuts: 0, lentWrites: 0 }
  let ran = 0
  const failure = await exploreSeeds({ seeds: options.seeds, firstSeed: options.firstSeed ?? 1, ...(options.log === undefined ? {} : { log: options.log }) }, async (seed) => {
    ran++
    const t = await runClientScenario(seed, options.mutant)
    for (const k of Object.keys(totals) as (keyof ClientTotals)[]) totals[k] += t[k]
  })
  return { seeds: ran, failed: failure === null ? 0 : 1, failingSeed: failure?.seed ?? null, error: failure === null ? null : String((failure.error as Error).message ?? failure.error), totals }
}
