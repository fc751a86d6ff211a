/**
 * Helpers for SimDisk's tests: a seed loop that prints `seed=N` (T3FS_SEED=N replays one), and a
 * model of one file that knows every content a crash may legally leave in each sector.
 */
import type { Test } from 'tap'
import { T3fsError } from '../../../runtime/errors.ts'
import { SeededRandom } from '../../../runtime/random.ts'
import { SimDisk, type SimDiskOptions } from '../../../runtime/testkit/sim-disk.ts'
import { VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'

export function makeDisk(seed: number, options: Partial<Omit<SimDiskOptions, 'clock'>> = {}): { disk: SimDisk; clock: VirtualClock } {
  const clock = new VirtualClock()
  const disk = new SimDisk({ name: `node-${seed}`, random: new SeededRandom(seed), capacityBytes: 64 * 1024 * 1024, ...options, clock })
  return { disk, clock }
}

/** Runs `body` for each seed (only T3FS_SEED's when set); the first failure fails `t` naming the seed. */
export async function forSeeds(t: Test, count: number, body: (seed: number) => Promise<void>): Promise<number[]> {
  const replay = process.env.T3FS_SEED
  const seeds = replay !== undefined ? [Number(replay)] : Array.from({ length: count }, (_, i) => i + 1)
  for (const seed of seeds) {
    try {
      await body(seed)
    } catch (error) {
      t.fail(`seed=${seed} (replay with T3FS_SEED=${seed}): ${error instanceof Error ? error.message : String(error)}`)
      return seeds
    }
  }
  t.pass(`${seeds.length} seeds`)
  return seeds
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message)
}

/** The file's bytes, or null when it does not exist. */
export async function readFileOrNull(disk: SimDisk, path: string): Promise<Uint8Array | null> {
  try {
    const f = await disk.open(path)
    const { sizeBytes } = await f.stat()
    const out = new Uint8Array(sizeBytes)
    await f.read(out, 0)
    await f.close()
    return out
  } catch (error) {
    if (error instanceof T3fsError && error.code === 'ENOENT') return null
    throw error
  }
}

/**
 * One file as the test drove it: its volatile content, its content at the last successful sync,
 * and since then every size it had and every content each touched sector had.
 */
export class FileModel {
  content = new Uint8Array(0)
  synced = new Uint8Array(0)
  sizesSince: number[] = []
  sectorsSince = new Map<number, Uint8Array[]>()

  constructor(readonly path: string, private readonly sectorBytes: number) {}

  get clean(): boolean {
    return this.sizesSince.length === 0 && this.sectorsSince.size === 0
  }

  write(position: number, bytes: Uint8Array): void {
    if (position + bytes.length > this.content.length) this.resize(position + bytes.length)
    this.content.set(bytes, position)
    this.snapshot(position, position + bytes.length)
  }

  truncate(size: number): void {
    const old = this.content.length
    this.resize(size)
    if (size < old) this.snapshot(size, old)
  }

  sync(): void {
    this.synced = this.content.slice()
    this.sizesSince = []
    this.sectorsSince.clear()
  }

  /** Why `actual` is not a content a crash may leave, or null when it is. */
  explainIllegal(actual: Uint8Array): string | null {
    const sizes = [this.synced.length, ...this.sizesSince]
    if (!sizes.includes(actual.length)) return `size ${actual.length} is none of ${JSON.stringify(sizes)}`
    if (this.clean) return sameBytes(actual, this.synced) ? null : 'a clean synced file changed'
    const s = this.sectorBytes
    for (let sector = 0; sector * s < actual.length; sector++) {
      const got = padded(actual, sector * s, s, actual.length)
      const candidates = [padded(this.synced, sector * s, s, actual.length), ...(this.sectorsSince.get(sector) ?? []).map((c) => mask(c, sector * s, actual.length))]
      if (!candidates.some((c) => sameBytes(c, got))) return `sector ${sector} holds bytes that were never written there`
    }
    return null
  }

  private resize(size: number): void {
    const next = new Uint8Array(size)
    next.set(this.content.subarray(0, Math.min(size, this.content.length)))
    this.content = next
    this.sizesSince.push(size)
  }

  private snapshot(from: number, to: number): void {
    const s = this.sectorBytes
    for (let sector = Math.floor(from / s); sector * s < to; sector++) {
      const list = this.sectorsSince.get(sector) ?? []
      list.push(padded(this.content, sector * s, s, this.content.length))
      this.sectorsSince.set(sector, list)
    }
  }
}

/** `length` bytes of `bytes` from `at`, zeros past `end`. */
function padded(bytes: Uint8Array, at: number, length: number, end: number): Uint8Array {
  const out = new Uint8Array(length)
  out.set(bytes.subarray(at, Math.min(at + length, end, bytes.length)))
  return out
}

/** A sector snapshot with the bytes past the file's end (`end`) zeroed. */
function mask(sector: Uint8Array, at: number, end: number): Uint8Array {
  const out = sector.slice()
  if (end - at < out.length) out.fill(0, Math.max(0, end - at))
  return out
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function randomBytes(random: SeededRandom, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = random.int(256)
  return out
}
