/**
 * A ChunkEngine that reports its work through ctx.metrics: operations per kind (update by its
 * kind, commit, read, …), bytes written and read, failures by code, and a latency histogram per
 * operation on the actor's clock. The chain replica opens its engine through it.
 */
import type { Clock, Metrics } from '../../../runtime/index.ts'
import { toT3fsError } from '../../../runtime/errors.ts'
import type { DiskBuffer } from '../../../runtime/disk/disk.ts'
import type { ChunkEngine, ChunkUpdate } from './engine.ts'

function bufferBytes(data: DiskBuffer | readonly DiskBuffer[] | undefined): number {
  if (data === undefined) return 0
  if (Array.isArray(data)) return (data as readonly DiskBuffer[]).reduce((n, d) => n + d.length, 0)
  return (data as DiskBuffer).length
}

export function meteredEngine(engine: ChunkEngine, metrics: Metrics, clock: Clock): ChunkEngine {
  const ops = metrics.counter('t3fs_storage_chunk_ops_total', { help: 'chunk engine operations (update by kind, commit, read, …)', labels: ['op'] })
  const failed = metrics.counter('t3fs_storage_chunk_errors_total', { help: 'chunk engine operations that failed, per operation and error code', labels: ['op', 'code'] })
  const bytes = metrics.counter('t3fs_storage_chunk_bytes_total', { help: 'chunk bytes written by updates and returned by reads', labels: ['op'] })
  const latency = metrics.histogram('t3fs_storage_chunk_op_duration_seconds', { help: 'time a chunk engine operation takes, seconds', labels: ['op'] })
  const timed = <T>(op: string, work: () => Promise<T>, onDone?: (value: T) => void): Promise<T> => {
    const startMs = clock.now()
    const labels = { op }
    return work().then(
      (value) => {
        ops.inc(labels)
        latency.observe(labels, (clock.now() - startMs) / 1000)
        onDone?.(value)
        return value
      },
      (error: unknown) => {
        failed.inc({ op, code: toT3fsError(error).code })
        throw error
      },
    )
  }
  const wrapped: Partial<ChunkEngine> = {
    update: (u: ChunkUpdate) => timed(`update_${u.kind}`, () => engine.update(u), () => {
      if (u.kind === 'write') bytes.inc({ op: 'write' }, bufferBytes(u.data))
    }),
    commit: (request) => timed('commit', () => engine.commit(request)),
    commitBatch: (requests) => timed('commit_batch', () => engine.commitBatch(requests)),
    read: (request) => timed('read', () => engine.read(request), (r) => bytes.inc({ op: 'read' }, r.lengthBytes)),
    dropPending: (chainId, chunkId) => timed('drop_pending', () => engine.dropPending(chainId, chunkId)),
    commitAllPending: (chainId, chainVersion) => timed('commit_all_pending', () => engine.commitAllPending(chainId, chainVersion)),
    removeChain: (chainId) => timed('remove_chain', () => engine.removeChain(chainId)),
    sync: () => timed('sync', () => engine.sync()),
  }
  // Everything else (queries, state, close) goes to the engine itself, methods bound to it once.
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(engine, {
    get(target, property) {
      if (Object.hasOwn(wrapped, property)) return wrapped[property as keyof ChunkEngine]
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      let method = bound.get(property)
      if (method === undefined) bound.set(property, (method = value.bind(target)))
      return method
    },
  })
}
