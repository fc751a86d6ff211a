/**
 * Helpers for the chunk engine's tests: an engine on a seeded SimDisk with a virtual clock, where a
 * "life" (one open engine) can be ended by a power loss and a new one opened on what the disk kept;
 * the harness's drive (testkit's, on its clock); a seed loop printing `seed=N`
 * (T3FS_SEED=N replays one).
 */
import type { Test } from 'tap'
import { actorBuffers } from '../../../runtime/actor-buffers.ts'
import { allocateBufferPool, BufferPool, type PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { neverBuggify, SeededBuggify, type Buggify } from '../../../runtime/buggify.ts'
import type { Clock } from '../../../runtime/clock.ts'
import type { Disk } from '../../../runtime/disk/disk.ts'
import { SeededRandom } from '../../../runtime/random.ts'
import { SimDisk, type SimDiskFaults } from '../../../runtime/testkit/sim-disk.ts'
import { drive, flushMicrotasks, VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'
import { openChunkEngine, type ChunkEngine, type ChunkEngineEnv, type ChunkEngineOptions } from '../../../actors/storage/chunk-engine/index.ts'
import type { Engine } from '../../../actors/storage/chunk-engine/chunk-engine.ts'
import type { Backend } from './chunk-engine-model.ts'

export const KiB = 1024
/** Small groups and segments so that a few chunks exercise many groups, punches and segments. */
export const testFormat = { checksumSegmentBytes: 4 * KiB, groupBytesMax: 256 * KiB, filesPerClass: 2 } as const
export const testPoolClasses = [{ slotBytes: 64 * KiB, slots: 48 }, { slotBytes: 256 * KiB, slots: 24 }]

let sharedPool: BufferPool | null = null
/** One pool for the whole test file (fresh memory is slow on these VMs); reset between lives. */
export function testPool(): BufferPool {
  sharedPool ??= new BufferPool(allocateBufferPool({ classes: testPoolClasses }))
  return sharedPool
}

/** A clock whose timers stop firing once its life ends (a crashed process runs no more code). */
export class LifeClock implements Clock {
  alive = true
  constructor(private readonly clock: Clock) {}
  now(): number {
    return this.clock.now()
  }
  setTimer(delayMs: number, callback: () => void) {
    return this.clock.setTimer(delayMs, () => { if (this.alive) callback() })
  }
}

export interface HarnessOptions {
  readonly faults?: SimDiskFaults
  readonly buggify?: boolean
  readonly capacityBytes?: number
}

/** A SimDisk and the engines opened on it, one life at a time. */
export class Harness {
  readonly clock = new VirtualClock()
  readonly disk: SimDisk
  readonly pool = testPool()
  private life: LifeClock | null = null
  private readonly buggify: Buggify
  private readonly faults: SimDiskFaults

  constructor(readonly seed: number, options: HarnessOptions = {}) {
    this.faults = options.faults ?? {}
    this.disk = new SimDisk({ name: `storage-${seed}`, clock: this.clock, random: new SeededRandom(seed), capacityBytes: options.capacityBytes ?? 256 * 1024 * 1024, faults: options.faults })
    this.buggify = options.buggify === true ? new SeededBuggify(new SeededRandom(seed * 31 + 7), 0.3, 0.1) : neverBuggify
    this.pool.reset()
  }

  env(disk: Disk = this.disk): ChunkEngineEnv {
    this.life = new LifeClock(this.clock)
    const life = this.life
    return {
      disk, clock: life, buggify: (site) => life.alive && this.buggify.fire(site),
      buffers: actorBuffers(this.pool, { host: 0, actor: 1, epoch: 1 }, life, () => {}),
    }
  }

  async open(options: Partial<ChunkEngineOptions> = {}): Promise<Engine> {
    const engine = await this.drive(openChunkEngine(this.env(), { root: 'targets/1', create: true, format: testFormat, logSegmentBytes: 8 * KiB, ...options }))
    return engine as Engine
  }

  /** Power loss: the current life stops (its timers never fire, its disk operations never settle). */
  async crash(): Promise<void> {
    await flushMicrotasks()
    if (this.life !== null) this.life.alive = false
    this.disk.crash()
    this.pool.reset()
  }

  /** Runs `work` with the injected faults off (latency stays). */
  async quiet<T>(work: () => Promise<T>): Promise<T> {
    this.disk.setFaults({ minLatencyMs: this.faults.minLatencyMs, maxLatencyMs: this.faults.maxLatencyMs })
    try {
      return await work()
    } finally {
      this.disk.setFaults(this.faults)
    }
  }

  /** Runs virtual time until `promise` settles; fails if nothing is left to run and it never does. */
  drive<T>(promise: Promise<T>): Promise<T> {
    return drive(this.clock, promise)
  }

  /** A pool slot holding `bytes` (the caller releases it). */
  pooled(bytes: Uint8Array): PooledBuffer {
    const buffer = this.pool.tryAllocate(bytes.length)
    if (buffer === null) throw new Error(`no pool slot for ${bytes.length} bytes`)
    buffer.bytes.set(bytes)
    return buffer
  }
}

/** Runs virtual time until `work` settles (rethrowing its failure) or `stop()` holds. */
export async function runUntil(clock: VirtualClock, work: Promise<unknown>, stop: () => boolean): Promise<void> {
  let settled = false
  let failed = false
  let failure: unknown = null
  work.then(() => { settled = true }, (error: unknown) => { settled = true; failed = true; failure = error })
  for (;;) {
    await flushMicrotasks()
    if (failed) throw failure
    if (settled || stop()) return
    if (!clock.fireNext()) {
      await flushMicrotasks()
      if (failed) throw failure
      if (settled || stop()) return
      throw new Error('stuck: no timer left, the work never settled')
    }
  }
}

/** Runs `body` for each seed (only T3FS_SEED's when set); the first failure fails `t` naming the seed. */
export async function forSeeds(t: Test, count: number, body: (seed: number) => Promise<void>, first = 1): Promise<void> {
  const replay = process.env.T3FS_SEED
  const seeds = replay !== undefined ? [Number(replay)] : Array.from({ length: count }, (_, i) => i + first)
  for (const seed of seeds) {
    try {
      await body(seed)
    } catch (error) {
      t.fail(`seed=${seed} (replay with T3FS_SEED=${seed}): ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
      return
    }
  }
  t.pass(`${seeds.length} seeds`)
}

/** The first seed in [1, maxSeeds] at which `body` throws (a mutant caught), or null. */
export async function firstFailingSeed(maxSeeds: number, body: (seed: number) => Promise<void>): Promise<{ seed: number; message: string } | null> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    try {
      await body(seed)
    } catch (error) {
      return { seed, message: error instanceof Error ? error.message : String(error) }
    }
  }
  return null
}

export function randomBytes(random: SeededRandom, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i += 4) {
    const word = (random.next() * 0x1_0000_0000) >>> 0
    bytes[i] = word
    if (i + 1 < length) bytes[i + 1] = word >>> 8
    if (i + 2 < length) bytes[i + 2] = word >>> 16
    if (i + 3 < length) bytes[i + 3] = word >>> 24
  }
  return bytes
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The bytes of a read, copied out of its pool slot (which is released). */
export function takeBytes(result: { buffer: PooledBuffer | null; dataOffset: number; lengthBytes: number }): Uint8Array {
  if (result.buffer === null) return new Uint8Array(0)
  const bytes = result.buffer.bytes.slice(result.dataOffset, result.dataOffset + result.lengthBytes)
  result.buffer.release()
  return bytes
}

/** The crash suite's backend: engines on the harness's SimDisk, lives ended by power losses. */
export function simBackend(h: Harness): Backend {
  return {
    open: (options) => h.open(options),
    crash: () => h.crash(),
    run: (work, stop) => runUntil(h.clock, work, stop),
    drive: (promise) => h.drive(promise),
    quiet: (work) => h.quiet(work),
    pooled: (bytes) => h.pooled(bytes),
    blockFileBytes: () => h.disk.image('volatile')
      .filter((entry) => entry.kind === 'file' && entry.path.startsWith('targets/1/blocks/'))
      .reduce((sum, entry) => sum + entry.allocatedBytes, 0),
  }
}

export type { ChunkEngine }

