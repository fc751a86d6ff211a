/**
 * What a SimDisk does wrong on purpose: a plan of rates (each operation draws from the disk's seeded
 * Random) and one-shot faults a test arms explicitly. Failing operations are decided when they are
 * issued, so a seed replays the same faults whatever the latencies.
 */
import { checkDiskPath } from '../disk/disk-path.ts'
import { invalidOption } from '../errors.ts'
import type { Random } from '../random.ts'

/** Rates that apply only under one path prefix (whole segments: 'targets/1' is not 'targets/10'). */
export interface SimDiskPathFaults {
  readonly prefix: string
  readonly readErrorRate?: number
  readonly writeErrorRate?: number
  readonly syncErrorRate?: number
}

export interface SimDiskFaults {
  /** Probability that a read fails with EIO. */
  readonly readErrorRate?: number
  /** Probability that a write or fallocate fails with EIO (a write may have landed a prefix of its sectors). */
  readonly writeErrorRate?: number
  /** Probability that an fsync, fdatasync or directory sync fails with EIO (what it should have made durable is not). */
  readonly syncErrorRate?: number
  /** Probability that a write or fallocate fails with ENOSPC although space is left (nothing written). */
  readonly noSpaceRate?: number
  /** Probability that a read returns its bytes with one bit flipped (the stored bytes stay intact). */
  readonly readBitFlipRate?: number
  /** At each crash, the probability per file with durable data that one bit of it decays on the media. */
  readonly bitRotAtCrashRate?: number
  /**
   * Each operation completes after a delay drawn from [minLatencyMs, maxLatencyMs] on the disk's
   * Clock, so concurrent operations complete out of order. Both 0 (the default): every operation
   * settles at once, without the clock having to move.
   */
  readonly minLatencyMs?: number
  readonly maxLatencyMs?: number
  /** Rates for the files under one path prefix; the highest matching rate applies. */
  readonly paths?: readonly SimDiskPathFaults[]
}

export type SimDiskFaultOp = 'read' | 'write' | 'sync'
export type SimDiskFaultCode = 'EIO' | 'ENOSPC'

interface ResolvedPathFaults {
  readonly prefix: readonly string[]
  readonly read: number
  readonly write: number
  readonly sync: number
}

interface ResolvedFaults {
  readonly read: number
  readonly write: number
  readonly sync: number
  readonly noSpace: number
  readonly readBitFlip: number
  readonly bitRotAtCrash: number
  readonly minLatencyMs: number
  readonly maxLatencyMs: number
  readonly paths: readonly ResolvedPathFaults[]
}

interface OneShot {
  readonly op: SimDiskFaultOp | 'flip'
  readonly prefix: readonly string[]
  readonly code: SimDiskFaultCode
  left: number
}

export const latencyMsMax = 60_000
export const pathFaultsMax = 1024
/** Armed one-shot faults at most (a test arming more is a bug in the test). */
export const oneShotsMax = 1024

export class SimDiskFaultState {
  private plan: ResolvedFaults
  private readonly oneShots: OneShot[] = []

  constructor(plan: SimDiskFaults) {
    this.plan = resolveFaults(plan)
  }

  get bitRotAtCrashRate(): number {
    return this.plan.bitRotAtCrash
  }

  setPlan(plan: SimDiskFaults): void {
    this.plan = resolveFaults(plan)
  }

  arm(op: SimDiskFaultOp | 'flip', pathPrefix: string, code: SimDiskFaultCode, times: number): void {
    const prefix = checkDiskPath(pathPrefix, 'pathPrefix')
    if (!Number.isSafeInteger(times) || times < 1 || times > 1_000_000) throw invalidOption('times', times, 'an integer from 1 to 1000000')
    if (code !== 'EIO' && code !== 'ENOSPC') throw invalidOption('code', code, "'EIO' or 'ENOSPC'")
    if (code === 'ENOSPC' && op !== 'write') throw invalidOption('code', code, `'EIO' for ${op} faults ('ENOSPC' only for write)`)
    if (this.oneShots.length >= oneShotsMax) throw invalidOption('one-shot faults', this.oneShots.length + 1, `at most ${oneShotsMax} armed at once`)
    this.oneShots.push({ op, prefix, code, left: times })
  }

  /** The error an operation on `path` fails with, if any: an armed one-shot first, then the rates. */
  errorFor(op: SimDiskFaultOp, path: readonly string[], random: Random): SimDiskFaultCode | null {
    const shot = this.takeOneShot(op, path)
    if (shot !== null) return shot
    const rate = Math.max(this.plan[op], ...this.plan.paths.filter((p) => isUnder(path, p.prefix)).map((p) => p[op]))
    if (rate > 0 && random.next() < rate) return 'EIO'
    if (op === 'write' && this.plan.noSpace > 0 && random.next() < this.plan.noSpace) return 'ENOSPC'
    return null
  }

  /** Whether a read of `path` returns one flipped bit. */
  flipFor(path: readonly string[], random: Random): boolean {
    if (this.takeOneShot('flip', path) !== null) return true
    return this.plan.readBitFlip > 0 && random.next() < this.plan.readBitFlip
  }

  /** The delay of one operation, or 0 when the plan has none (it then settles at once). */
  latencyMs(random: Random): number {
    const { minLatencyMs, maxLatencyMs } = this.plan
    if (maxLatencyMs === 0) return 0
    return minLatencyMs + random.next() * (maxLatencyMs - minLatencyMs)
  }

  private takeOneShot(op: SimDiskFaultOp | 'flip', path: readonly string[]): SimDiskFaultCode | null {
    const index = this.oneShots.findIndex((s) => s.op === op && isUnder(path, s.prefix))
    if (index === -1) return null
    const shot = this.oneShots[index]
    if (--shot.left === 0) this.oneShots.splice(index, 1)
    return shot.code
  }
}

function isUnder(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => path[i] === segment)
}

function resolveFaults(plan: SimDiskFaults): ResolvedFaults {
  if (plan === null || typeof plan !== 'object') throw invalidOption('faults', plan, 'an object of rates and latencies')
  const rate = (name: string, value: number | undefined): number => {
    if (value === undefined) return 0
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw invalidOption(`faults.${name}`, value, 'a probability from 0 to 1')
    return value
  }
  const minLatencyMs = plan.minLatencyMs ?? 0
  const maxLatencyMs = plan.maxLatencyMs ?? minLatencyMs
  if (typeof minLatencyMs !== 'number' || !(minLatencyMs >= 0 && minLatencyMs <= latencyMsMax)) {
    throw invalidOption('faults.minLatencyMs', minLatencyMs, `a number of ms from 0 to ${latencyMsMax}`)
  }
  if (typeof maxLatencyMs !== 'number' || !(maxLatencyMs >= minLatencyMs && maxLatencyMs <= latencyMsMax)) {
    throw invalidOption('faults.maxLatencyMs', maxLatencyMs, `a number of ms from minLatencyMs (${minLatencyMs}) to ${latencyMsMax}`)
  }
  const paths = plan.paths ?? []
  if (!Array.isArray(paths) || paths.length > pathFaultsMax) throw invalidOption('faults.paths', paths, `an array of at most ${pathFaultsMax} { prefix, ...rates }`)
  return {
    read: rate('readErrorRate', plan.readErrorRate),
    write: rate('writeErrorRate', plan.writeErrorRate),
    sync: rate('syncErrorRate', plan.syncErrorRate),
    noSpace: rate('noSpaceRate', plan.noSpaceRate),
    readBitFlip: rate('readBitFlipRate', plan.readBitFlipRate),
    bitRotAtCrash: rate('bitRotAtCrashRate', plan.bitRotAtCrashRate),
    minLatencyMs,
    maxLatencyMs,
    paths: paths.map((p: SimDiskPathFaults, i: number) => {
      if (p === null || typeof p !== 'object') throw invalidOption(`faults.paths[${i}]`, p, '{ prefix, readErrorRate?, writeErrorRate?, syncErrorRate? }')
      return {
        prefix: checkDiskPath(p.prefix, `faults.paths[${i}].prefix`),
        read: rate(`paths[${i}].readErrorRate`, p.readErrorRate),
        write: rate(`paths[${i}].writeErrorRate`, p.writeErrorRate),
        sync: rate(`paths[${i}].syncErrorRate`, p.syncErrorRate),
      }
    }),
  }
}
