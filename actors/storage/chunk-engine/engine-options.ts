/** The engine's options, checked where they enter (each bad one names itself and what is accepted). */
import { checkDiskPath } from '../../../runtime/disk/disk-path.ts'
import { invalidOption } from '../../../runtime/errors.ts'
import { chunkEngineMutants, type ChunkEngineEnv, type ChunkEngineMutant, type ChunkEngineOptions } from './engine.ts'
import {
  bufferWaitMsDefault, commitBatchMaxDefault, commitBatchMaxLimit, lockWaitersMaxDefault, lockWaitersMaxLimit,
  logSegmentBytesDefault, logSegmentBytesLimit, logSegmentBytesMin, pieceBytesMax,
} from './limits.ts'

export interface ResolvedOptions {
  readonly root: string
  readonly create: boolean
  readonly commitBatchMax: number
  readonly logSegmentBytes: number
  readonly lockWaitersMax: number
  readonly bufferWaitMs: number
  readonly mutant: ChunkEngineMutant | undefined
}

const bufferWaitMsMax = 60_000

export function checkEnv(env: ChunkEngineEnv): void {
  if (env === null || typeof env !== 'object') throw invalidOption('env', env, 'an object { disk, buffers, clock, buggify } (an actor context with a disk and a pool)')
  if (env.disk === null || typeof env.disk !== 'object') throw invalidOption('env.disk', env.disk, 'a Disk (ctx.disk; the node was started without a disk?)')
  if (env.buffers === null || typeof env.buffers !== 'object') throw invalidOption('env.buffers', env.buffers, 'ActorBuffers (ctx.buffers; the node was started without a buffer pool?)')
  if (env.clock === null || typeof env.clock !== 'object') throw invalidOption('env.clock', env.clock, 'a Clock (ctx.clock)')
  if (typeof env.buggify !== 'function') throw invalidOption('env.buggify', env.buggify, 'a function (ctx.buggify)')
}

export function checkOptions(options: ChunkEngineOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw invalidOption('options', options, 'an object { root, create?, format?, ... }')
  if (typeof options.root !== 'string') throw invalidOption('root', options.root, "a disk path ('' for the disk's root)")
  checkDiskPath(options.root, 'root')
  if (options.create !== undefined && typeof options.create !== 'boolean') throw invalidOption('create', options.create, 'true or false')
  if (options.mutant !== undefined && !chunkEngineMutants.includes(options.mutant)) throw invalidOption('mutant', options.mutant, chunkEngineMutants.join(', '))
  return {
    root: options.root,
    create: options.create ?? false,
    commitBatchMax: integer('commitBatchMax', options.commitBatchMax, commitBatchMaxDefault, 1, commitBatchMaxLimit),
    logSegmentBytes: integer('logSegmentBytes', options.logSegmentBytes, logSegmentBytesDefault, logSegmentBytesMin, logSegmentBytesLimit),
    lockWaitersMax: integer('lockWaitersMax', options.lockWaitersMax, lockWaitersMaxDefault, 1, lockWaitersMaxLimit),
    bufferWaitMs: integer('bufferWaitMs', options.bufferWaitMs, bufferWaitMsDefault, 0, bufferWaitMsMax),
    mutant: options.mutant,
  }
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < min || value > max) throw invalidOption(name, value, `an integer from ${min} to ${max}`)
  return value
}

/** Bytes per write piece: the largest power of two one pool slot holds, at most pieceBytesMax, at least a segment. */
export function pieceBytesFor(largestSlotBytes: number, segmentBytes: number): number {
  let piece = segmentBytes
  while (piece * 2 <= Math.min(largestSlotBytes, pieceBytesMax)) piece *= 2
  if (piece > largestSlotBytes) {
    throw invalidOption('env.buffers', `largest slot ${largestSlotBytes} bytes`, `a pool whose largest slot holds at least one checksum segment (${segmentBytes} bytes); add a larger [[buffer_pool]] class`)
  }
  return piece
}
