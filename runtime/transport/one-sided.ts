/**
 * One-sided transfers: registered regions and the control headers of remote read/write.
 *
 * A region is a buffer a node exposes to its peers by id; a peer names (region, offset, length)
 * and the owner serves it without any actor being involved, like an RDMA memory region. Over TCP
 * the owner's transport copies between the socket and the region; with RDMA the NIC would.
 */
import { T3fsError } from '../errors.ts'

export const OP_HEADER_BYTES = 24

export interface OpHeader {
  opId: number
  regionId: number
  offset: number
  length: number
  /** Bits the request type gives a meaning to (same-host.ts READ_FLAG_ADDRESS); 0 by default. */
  flags?: number
}

export function encodeOpHeader(target: Uint8Array, op: OpHeader): Uint8Array {
  const view = new DataView(target.buffer, target.byteOffset, OP_HEADER_BYTES)
  view.setUint32(0, op.opId, true)
  view.setUint32(4, op.regionId, true)
  view.setFloat64(8, op.offset, true)
  view.setUint32(16, op.length, true)
  view.setUint32(20, op.flags ?? 0, true)
  return target.subarray(0, OP_HEADER_BYTES)
}

export function decodeOpHeader(header: Uint8Array): OpHeader | undefined {
  if (header.length < OP_HEADER_BYTES) return undefined
  const view = new DataView(header.buffer, header.byteOffset, OP_HEADER_BYTES)
  return { opId: view.getUint32(0, true), regionId: view.getUint32(4, true), offset: view.getFloat64(8, true), length: view.getUint32(16, true), flags: view.getUint32(20, true) }
}

export function opIdOf(header: Uint8Array): number {
  return header.length >= 4 ? new DataView(header.buffer, header.byteOffset, 4).getUint32(0, true) : -1
}

export function remoteRegionError(node: number, regionId: number, offset: number, length: number, problem: string, accepted: string): T3fsError {
  return new T3fsError('ERR_REMOTE_REGION', `region ${regionId} on node ${node}: offset ${offset} length ${length} ${problem}; accepted: ${accepted}`, {
    node,
    regionId,
    offset,
    length,
    accepted,
  })
}

interface Registered {
  readonly view: Uint8Array
  /** Its word in the liveness array (see liveWords). */
  readonly slot: number
}

export class RegionTable {
  readonly #regions = new Map<number, Registered>()
  readonly #maxRegions: number
  readonly #nodeId: number
  #nextId = 1
  readonly #freeSlots: number[] = []
  #nextSlot = 0
  #live: Uint32Array | null = null

  constructor(nodeId: number, maxRegions: number) {
    this.#nodeId = nodeId
    this.#maxRegions = maxRegions
  }

  get size(): number {
    return this.#regions.size
  }

  register(buffer: Uint8Array): { regionId: number; length: number } {
    if (this.#regions.size >= this.#maxRegions) {
      throw new T3fsError('ERR_OVERLOADED', `node ${this.#nodeId} has ${this.#regions.size} regions registered; accepted: at most ${this.#maxRegions} (transport.max_regions)`, {
        maxRegions: this.#maxRegions,
      })
    }
    // Ids wrap within u32 and skip ones in use, so a long-lived node never runs out.
    let id = this.#nextId
    while (this.#regions.has(id)) id = id >= 0xffff_fffe ? 1 : id + 1
    this.#nextId = id >= 0xffff_fffe ? 1 : id + 1
    const slot = this.#freeSlots.pop() ?? this.#nextSlot++
    this.#regions.set(id, { view: buffer, slot })
    if (this.#live !== null) this.#live[slot] = id
    return { regionId: id, length: buffer.length }
  }

  unregister(regionId: number): void {
    const r = this.#regions.get(regionId)
    if (r === undefined) return
    this.#regions.delete(regionId)
    if (this.#live !== null) this.#live[r.slot] = 0
    this.#freeSlots.push(r.slot)
  }

  /**
   * One u32 per slot, holding the id of the region registered there and 0 once it is not: a peer
   * on the same machine that copies out of a region directly reads the region's word after the
   * copy, and trusts the bytes only if it still holds the id (unregistering clears it before the
   * memory can be reused). Made on first use, over an ArrayBuffer of its own (its address never
   * moves); each region's word is at `slotOf(id)`.
   */
  liveWords(): Uint32Array {
    if (this.#live === null) {
      this.#live = new Uint32Array(new ArrayBuffer(4 * this.#maxRegions))
      for (const [id, r] of this.#regions) this.#live[r.slot] = id
    }
    return this.#live
  }

  /** The slot of a registered region (its word in liveWords), or -1. */
  slotOf(regionId: number): number {
    return this.#regions.get(regionId)?.slot ?? -1
  }

  /** The view of (region, offset, length), or throws ERR_REMOTE_REGION naming what is accepted. */
  resolve(regionId: number, offset: number, length: number): Uint8Array {
    const region = this.#regions.get(regionId)?.view
    if (region === undefined) {
      throw remoteRegionError(this.#nodeId, regionId, offset, length, 'names no registered region', `a region id registered on node ${this.#nodeId}`)
    }
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > region.length) {
      throw remoteRegionError(this.#nodeId, regionId, offset, length, `is outside the region (${region.length} bytes)`, `offset ≥ 0 and offset + length ≤ ${region.length}`)
    }
    return region.subarray(offset, offset + length)
  }
}
