/**
 * Reads posted on a /dev/fuse fd (the mount's own, or a cloned queue's), each into a pool slot of
 * the reading actor, on its thread's io_uring. The mount actor and each queue actor keep
 * `reading` reads posted; their handlers get `read-done` with the slot, and `rearm` when no slot
 * was free and nothing was in flight to make progress (a release will free one soon).
 */
import type { ActorContext } from '../../../runtime/actor.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { FuseDevice } from '../../../runtime/fuse-device.ts'

/** A reader that found no free pool slot for its next read looks again after this long. */
const REARM_DELAY_MS = 1

export type DeviceReadMsg =
  | { type: 'read-done'; buffer: PooledBuffer; length: number | null; code: string | null }
  | { type: 'rearm' }

/** What a reader keeps: its reads in flight, and whether a rearm is scheduled. */
export interface DeviceReads {
  reading: number
  rearmScheduled: boolean
}

/** Posts reads of `device` while `more()` allows (checked before each), each into a slot of `slotBytes`. */
export function postDeviceReads(ctx: ActorContext<DeviceReadMsg>, reads: DeviceReads, device: FuseDevice, slotBytes: number, more: () => boolean): void {
  while (more()) {
    const slot = ctx.buffers?.tryAllocate(slotBytes) ?? null
    if (slot === null) {
      if (!reads.rearmScheduled && reads.reading === 0) {
        reads.rearmScheduled = true
        ctx.schedule(REARM_DELAY_MS, { type: 'rearm' })
      }
      return
    }
    reads.reading++
    ctx.pipeToSelf(device.read(slot.bytes), (o) => (o.ok
      ? { type: 'read-done', buffer: slot, length: o.value, code: null }
      : { type: 'read-done', buffer: slot, length: null, code: o.error.code }))
  }
}
