/**
 * A lender of write bytes for the client suite, as the FUSE mount lends its request slots
 * (actors/client/lent-bytes.ts): a few pool slots, each registered once as a region by an actor on
 * the writer's node. A slot is taken, filled (the kernel would copy a WRITE into it), lent to one
 * FileClient write and given back; when its last holder lets go it is scribbled over at once, as
 * the mount reuses a slot for the next request, so a write that did not keep its bytes stores
 * scribbles.
 */
import { defineActor, type ActorRef, type Returns } from '../../../runtime/actor.ts'
import type { ActorSystem } from '../../../runtime/actor-system.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { RegionHandle } from '../../../runtime/regions-actor.ts'
import type { LentBytes } from '../../../actors/client/lent-bytes.ts'

type LenderMsg = { type: 'slots'; count: number; bytes: number } & Returns<{ buffer: PooledBuffer; region: RegionHandle }[]>

const slotLender = defineActor<null, LenderMsg, void>({
  kind: 'test-slot-lender',
  init: () => null,
  async handle(_state, msg, ctx) {
    const out: { buffer: PooledBuffer; region: RegionHandle }[] = []
    for (let i = 0; i < msg.count; i++) {
      const buffer = ctx.buffers!.tryAllocate(msg.bytes)!
      out.push({ buffer, region: await ctx.regions!.register(buffer) })
    }
    ctx.reply(out)
  },
})

const SCRIBBLE = 0xee

interface Slot {
  readonly buffer: PooledBuffer
  readonly region: RegionHandle
  refs: number
}

export class LentSlots {
  lends = 0
  private constructor(private readonly slots: Slot[]) {}

  static async create(system: ActorSystem, count: number, bytes: number): Promise<LentSlots> {
    const lender = system.spawn(slotLender, undefined, { name: 'test-slot-lender' }) as unknown as ActorRef<LenderMsg>
    const got = await lender.ask({ type: 'slots', count, bytes })
    return new LentSlots(got.map((s) => ({ ...s, refs: 0 })))
  }

  /** A free slot holding `data` (the request as read), or null when every slot is still held. */
  take(data: Uint8Array): { bytes: Uint8Array; lent: LentBytes; giveBack(): void } | null {
    const slot = this.slots.find((s) => s.refs === 0)
    if (slot === undefined) return null
    slot.refs = 1
    this.lends++
    const offset = 80 // where a WRITE's data sits after its headers
    slot.buffer.bytes.set(data, offset)
    const drop = (): void => {
      if (--slot.refs === 0) slot.buffer.bytes.fill(SCRIBBLE)
    }
    const lent: LentBytes = {
      source: { buffer: slot.buffer, region: slot.region },
      offset,
      retain: () => {
        slot.refs++
        let held = true
        return () => { if (held) { held = false; drop() } }
      },
    }
    return { bytes: slot.buffer.bytes.subarray(offset, offset + data.length), lent, giveBack: drop }
  }
}
