/**
 * Moving chunk bytes between nodes the way 3FS does over RDMA: the write path *pulls* (a replica
 * reads its sender's registered buffer one-sidedly into a pool slot of its own), the read path
 * *pushes* (a replica writes into the reader's registered buffer). Or the bytes ride in the
 * message itself (`inline`), which the router carries out of band as a payload.
 */
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { T3fsError } from '../../../runtime/errors.ts'
import { StorageErrorCode, type DataRef } from '../protocol.ts'
import type { ReplicaCtx } from './replica-state.ts'

/** How long a transfer waits for a free pool slot. */
export const slotWaitMs = 5_000

/** The bytes of an update in a pool slot of this actor (the caller releases it); null for no bytes. */
export async function pullData(ctx: ReplicaCtx, data: DataRef, length: number): Promise<PooledBuffer | null> {
  if (data.kind === 'none' || length === 0) return null
  const buffers = ctx.buffers!
  if (length > buffers.largestBytes) {
    throw new T3fsError(StorageErrorCode.BAD_REQUEST, `an update of ${length} bytes is larger than this node's largest pool slot (${buffers.largestBytes} bytes); split it or raise [[buffer_pool]] slot_size`, { length })
  }
  if (data.kind === 'inline') {
    const bytes = data.bytes instanceof Uint8Array ? data.bytes : data.bytes.bytes
    if (bytes.length < length) throw new T3fsError(StorageErrorCode.BAD_REQUEST, `inline data holds ${bytes.length} bytes, the update says ${length}`, { length })
    const slot = await buffers.allocate(length, { timeoutMs: slotWaitMs })
    slot.bytes.set(bytes.subarray(0, length))
    if (!(data.bytes instanceof Uint8Array)) data.bytes.release() // an inline pooled payload is now ours
    return slot
  }
  const slot = await buffers.allocate(length, { timeoutMs: slotWaitMs })
  try {
    await ctx.regions!.read(data.region, data.offset, slot, length)
    return slot
  } catch (error) {
    slot.release()
    throw error
  }
}

/** Bytes offered to a successor until the forward is done: a registered region, or a copy carried inline. */
export interface Staged {
  ref: DataRef
  done(): Promise<void>
}

export async function stage(ctx: ReplicaCtx, buffer: PooledBuffer | null, offset: number, length: number, mode: 'region' | 'inline'): Promise<Staged> {
  if (buffer === null || length === 0) return { ref: { kind: 'none' }, done: async () => {} }
  if (mode === 'inline') {
    // The forward may be retried, so the message carries a copy and the slot stays ours.
    return { ref: { kind: 'inline', bytes: buffer.bytes.slice(offset, offset + length) }, done: async () => {} }
  }
  const region = await ctx.regions!.register(buffer)
  return { ref: { kind: 'region', region, offset }, done: () => ctx.regions!.unregister(region).catch(() => {}) }
}
