/**
 * The pool slot a FUSE request was read into, lent to the FileClient when the request is a WRITE
 * (actors/client/lent-bytes.ts): a WRITE of one whole write-behind buffer (a sequential writer's
 * 1 MiB) then goes to storage straight from the slot, and the slot goes back to the pool only when
 * the request was answered and storage has pulled the bytes, whichever comes last.
 *
 * A chain head pulls from a region, so each slot is registered once, the first time a WRITE
 * arrives in it (that WRITE is copied as before, as are those while the registration is on its
 * way), and stays registered for the mount's life: the slot returns to the pool between requests,
 * but the region's handle only ever travels in this mount's writes, each sent while its slot is
 * held. A mount has few request slots (136 in the dev profile), so registrations are few and early.
 */
import type { ActorContext, Message } from '../../../runtime/actor.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { RegionHandle } from '../../../runtime/regions-actor.ts'
import type { LentBytes } from '../lent-bytes.ts'

export class RequestSlot {
  private refs = 1

  constructor(readonly buffer: PooledBuffer) {}

  /** The request's own hold ends (it was answered). */
  drop(): void {
    if (--this.refs === 0) this.buffer.release()
  }

  /** `data` (a view into this slot) lent from `region`, the slot's registration. */
  lend(data: Uint8Array, region: RegionHandle): LentBytes {
    return {
      source: { buffer: this.buffer, region },
      offset: data.byteOffset - this.buffer.bytes.byteOffset,
      retain: () => {
        this.refs++
        let held = true
        return () => {
          if (!held) return
          held = false
          this.drop()
        }
      },
    }
  }
}

/** The mount's slot registrations, by slot: a handle, or null while its registration is on its way. */
export class SlotRegions {
  private readonly bySlot = new Map<number, RegionHandle | null>()

  /**
   * The slot's region when registered; else starts its registration (once) and returns null. A
   * registration that fails is reported to `onError` and not tried again: that slot's WRITEs are copied.
   */
  regionOf(ctx: ActorContext<Message>, buffer: PooledBuffer, onError: (error: unknown) => void): RegionHandle | null {
    const key = buffer.sizeClass * 2 ** 32 + buffer.slot
    const known = this.bySlot.get(key)
    if (known !== undefined) return known
    if (ctx.regions === null) return null
    this.bySlot.set(key, null)
    ctx.regions.register(buffer).then(
      (region) => { this.bySlot.set(key, region) },
      (error: unknown) => onError(error),
    )
    return null
  }
}
