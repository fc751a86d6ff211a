import type { ActorEpoch } from './actor-epoch.ts'
import type { ActorSystem } from './actor-system.ts'
import type { PooledBuffer } from './buffer-pool.ts'
import { invalidOption } from './errors.ts'
import { regionsAddress, type RegionHandle, type RegionsMsg, type SlotRange } from './regions-actor.ts'

/**
 * `ctx.regions`: one-sided transfers (see regions-actor.ts). A region is a pool buffer this actor
 * exposes; peers on any node read or write it by handle while this actor does nothing. Regions of a
 * crashed or stopped actor are unregistered before its slots are reclaimed, so a late remote write
 * never lands in a slot someone else now holds.
 */
export interface Regions {
  /** Exposes `buffer` to peers until `unregister` (or this actor's crash or stop). */
  register(buffer: PooledBuffer): Promise<RegionHandle>
  /**
   * Exposes the whole of a size-sealed shared-memory file at `path` (mapped anew by the node's
   * transport thread; this actor keeps its own mapping of the same pages) until `unregister`.
   */
  registerShared(path: string): Promise<RegionHandle>
  /**
   * Exposes `length` bytes at `offset` of `region` (one this node registered) as a region of its
   * own, until `unregister`: lent to one transfer, so that one that comes late can be refused.
   */
  registerWindow(region: RegionHandle, offset: number, length: number): Promise<RegionHandle>
  unregister(region: RegionHandle): Promise<void>
  /** Copies `length` bytes at `offset` of a peer's region into `into` (at `intoOffset`). */
  read(region: RegionHandle, offset: number, into: PooledBuffer, length?: number, intoOffset?: number): Promise<void>
  /** Copies `length` bytes of `from` (at `fromOffset`) into a peer's region at `offset`. */
  write(region: RegionHandle, offset: number, from: PooledBuffer, length?: number, fromOffset?: number): Promise<void>
}

/** How long a transfer may take before its ask fails (the transport has its own op timeout). */
const transferTimeoutMs = 60_000

export function actorRegions(system: ActorSystem, epoch: ActorEpoch, checkLive: (operation: string) => void): Regions {
  const service = system.refFor<RegionsMsg>(regionsAddress(system.node, system.incarnation))
  const run = <T>(work: () => Promise<T>): Promise<T> => {
    try {
      checkLive('transfer to or from regions')
      return epoch.track(work(), true)
    } catch (error) {
      return Promise.reject(error)
    }
  }
  const registered = async (request: { type: 'register'; range: SlotRange } | { type: 'register-shared'; path: string } | { type: 'register-window'; regionId: number; offset: number; length: number }): Promise<RegionHandle> => {
    const region = await service.ask(request)
    if (epoch.live) epoch.regions.add(region.regionId)
    else await service.ask({ type: 'unregister', regionId: region.regionId }) // crashed meanwhile
    return region
  }
  return {
    register: (buffer) => run(() => registered({ type: 'register', range: rangeOf(buffer, buffer.length, 0) })),
    registerShared: (path) => run(() => registered({ type: 'register-shared', path })),
    registerWindow: (region, offset, length) => run(async () => {
      if (region.node !== system.node) throw invalidOption('region', region.regionId, `a region of this node (${system.node}), not of node ${region.node}`)
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || offset + length > region.length) {
        throw invalidOption('length', length, `offset and length within the region (${region.length} bytes)`)
      }
      return registered({ type: 'register-window', regionId: region.regionId, offset, length })
    }),
    unregister: async (region) => {
      epoch.regions.delete(region.regionId)
      await service.ask({ type: 'unregister', regionId: region.regionId })
    },
    read: (region, offset, into, length, intoOffset = 0) => run(async () => {
      await service.ask({ type: 'read', region, offset, into: rangeOf(into, length ?? into.length - intoOffset, intoOffset) }, { timeoutMs: transferTimeoutMs })
    }),
    write: (region, offset, from, length, fromOffset = 0) => run(async () => {
      await service.ask({ type: 'write', region, offset, from: rangeOf(from, length ?? from.length - fromOffset, fromOffset) }, { timeoutMs: transferTimeoutMs })
    }),
  }
}

function rangeOf(buffer: PooledBuffer, length: number, byteOffset: number): SlotRange {
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || !Number.isSafeInteger(length) || length < 0 || byteOffset + length > buffer.length) {
    throw invalidOption('length', length, `offset and length within the buffer (${buffer.length} bytes)`)
  }
  // A PooledBuffer views its slot from the slot's first byte.
  return { sizeClass: buffer.sizeClass, slot: buffer.slot, byteOffset, length }
}
