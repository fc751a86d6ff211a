/**
 * One-sided transfers for actors on any host (3FS's RDMA pattern: the storage write path pulls the
 * client's buffer, the read path pushes into it). An actor registers a pool buffer as a region and
 * carries the handle in a message; a peer actor on any node reads or writes that region without the
 * owner's actor taking part.
 *
 * The node's transport lives on host 0, so every host's requests go to this actor there (well
 * known: id 2 on host 0, spawned right after the registry). Pool slots are shared memory, so
 * requests name a slot by its coordinates and the transport reads from or writes into the slot
 * itself: the bytes cross the network once and are never copied between threads. A region of
 * this node is served from the same table, as a memory copy.
 */
import { defineActor, type Returns } from './actor.ts'
import { anyIncarnation, type ActorAddress } from './address.ts'
import type { BufferPool } from './buffer-pool.ts'
import { invalidOption, T3fsError } from './errors.ts'
import { mapSharedFile } from './shared-memory.ts'
import { RegionTable, remoteRegionError } from './transport/one-sided.ts'
import type { DirectAddress, NodeTransport, RegionHandle as TransportRegion } from './transport/transport.ts'

/** A registered region as peers name it; it travels in messages. */
export interface RegionHandle {
  readonly node: number
  /** The owning node's incarnation: a handle from before its restart is refused. */
  readonly incarnation: number
  readonly regionId: number
  readonly length: number
  /** Its address in the owner's memory, for a peer on the same machine to copy it by itself (transport/same-host.ts). */
  readonly direct?: DirectAddress
}

/** A place in the node's buffer pool (what a PooledBuffer is, as plain numbers that cross hosts). */
export interface SlotRange {
  readonly sizeClass: number
  readonly slot: number
  readonly byteOffset: number
  readonly length: number
}

export type RegionsMsg =
  | ({ type: 'register'; range: SlotRange } & Returns<RegionHandle>)
  /** A shared-memory file (a USRBIO region a client process maps too), mapped here whole and exposed as a region. */
  | ({ type: 'register-shared'; path: string } & Returns<RegionHandle>)
  /**
   * A window: `length` bytes at `offset` of one of this node's regions, registered as a region of
   * its own. A reader lends the window for one attempt and unregisters it before it retries or
   * returns, so a push of that attempt that comes later (a slow replica past the timeout) finds no
   * region and is refused: the owner checks and copies in one turn, never after the unregister.
   */
  | ({ type: 'register-window'; regionId: number; offset: number; length: number } & Returns<RegionHandle>)
  | ({ type: 'unregister'; regionId: number } & Returns<null>)
  | ({ type: 'read'; region: RegionHandle; offset: number; into: SlotRange } & Returns<null>)
  | ({ type: 'write'; region: RegionHandle; offset: number; from: SlotRange } & Returns<null>)

export interface RegionsArgs {
  readonly pool: BufferPool | null
  readonly transport: NodeTransport | null
  /** Peers' current incarnations, as the transport learned them in their handshakes. */
  readonly peerIncarnation: (node: number) => number | undefined
}

export const regionsActorId = 2
/** Regions one node keeps registered at once (each is a slot's range). */
export const regionsMax = 65_536

export function regionsAddress(node: number, incarnation: number = anyIncarnation): ActorAddress {
  return { node, host: 0, id: regionsActorId, incarnation }
}

interface RegionsState {
  readonly args: RegionsArgs
  /** This node's regions by id, for requests from its own actors. */
  readonly local: Map<number, Uint8Array>
  /** Hands out ids when there is no transport (which otherwise does, for its peers). */
  readonly ids: RegionTable
}

export const regionsActor = defineActor<RegionsState, RegionsMsg, RegionsArgs>({
  kind: 'regions',
  mailboxMax: 65_536,
  init: (ctx, args) => ({ args, local: new Map(), ids: new RegionTable(ctx.self.address.node, regionsMax) }),
  handle(state, msg, ctx) {
    const { pool, transport } = state.args
    const node = ctx.self.address.node
    switch (msg.type) {
      case 'register':
      case 'register-shared':
      case 'register-window': {
        // A shared file is mapped by this thread (the transport's), so pushed bytes land in its pages
        // with no copy between threads; only size-sealed memory belongs here (a file another process
        // could shrink would fault this thread on a write past its new end).
        const view = msg.type === 'register' ? slotView(pool, msg.range)
          : msg.type === 'register-shared' ? new Uint8Array(mapSharedFile(msg.path))
          : resolveLocal(state.local, node, msg.regionId, msg.offset, msg.length)
        if (state.local.size >= regionsMax) throw new T3fsError('ERR_OVERLOADED', `node ${node} has ${regionsMax} regions registered; unregister some first`, { regionsMax })
        const handle: TransportRegion = transport === null ? state.ids.register(view) : transport.registerRegion(view)
        state.local.set(handle.regionId, view)
        const reply: RegionHandle = { node, incarnation: ctx.self.address.incarnation, regionId: handle.regionId, length: handle.length }
        ctx.reply(handle.direct === undefined ? reply : { ...reply, direct: handle.direct })
        return
      }
      case 'unregister':
        state.local.delete(msg.regionId)
        if (transport === null) state.ids.unregister(msg.regionId)
        else transport.unregisterRegion(msg.regionId)
        ctx.reply(null)
        return
      case 'read':
      case 'write': {
        const mine = slotView(pool, msg.type === 'read' ? msg.into : msg.from)
        const { region, offset } = msg
        if (region.node === node) {
          checkIncarnation(region, ctx.self.address.incarnation)
          const theirs = resolveLocal(state.local, node, region.regionId, offset, mine.length)
          if (msg.type === 'read') mine.set(theirs)
          else theirs.set(mine)
          ctx.reply(null)
          return
        }
        if (transport === null) throw new T3fsError('ERR_UNKNOWN_ADDRESS', `node ${node} has no network transport: it cannot reach region ${region.regionId} of node ${region.node}`, { node: region.node })
        const current = state.args.peerIncarnation(region.node)
        if (current !== undefined) checkIncarnation(region, current)
        const reply = ctx.deferReply()
        // The owner checks the range of a request; a copy by address is checked here against the handle.
        const direct = usableDirect(region, offset, mine.length)
        const transfer = msg.type === 'read'
          ? transport.readRemote(region.node, region.regionId, offset, mine.length, mine, direct)
          : transport.writeRemote(region.node, region.regionId, offset, mine)
        transfer.then(() => reply.resolve(null), (error: unknown) => reply.reject(error))
      }
    }
  },
})

function slotView(pool: BufferPool | null, range: SlotRange): Uint8Array {
  if (pool === null) throw new T3fsError('ERR_NO_BUFFER_POOL', 'this node has no buffer pool: regions are pool buffers')
  const sizeClass = pool.memory.classes[range.sizeClass]
  if (sizeClass === undefined || !(range.slot >= 0 && range.slot < sizeClass.slots)) throw invalidOption('range', range, 'a slot of this node\'s buffer pool')
  if (!(range.byteOffset >= 0 && range.length >= 0 && range.byteOffset + range.length <= sizeClass.slotBytes)) {
    throw invalidOption('range', range, `byteOffset + length within the slot (${sizeClass.slotBytes} bytes)`)
  }
  return new Uint8Array(sizeClass.data, sizeClass.offset + range.slot * sizeClass.slotBytes + range.byteOffset, range.length)
}

function resolveLocal(local: Map<number, Uint8Array>, node: number, regionId: number, offset: number, length: number): Uint8Array {
  const region = local.get(regionId)
  if (region === undefined) throw remoteRegionError(node, regionId, offset, length, 'names no registered region', `a region id registered on node ${node}`)
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > region.length) {
    throw remoteRegionError(node, regionId, offset, length, `is outside the region (${region.length} bytes)`, `offset ≥ 0 and offset + length ≤ ${region.length}`)
  }
  return region.subarray(offset, offset + length)
}

/** The handle's address, when it is well formed and the range lies within the region. */
function usableDirect(region: RegionHandle, offset: number, length: number): DirectAddress | undefined {
  const d = region.direct
  if (d === undefined || d === null || !Number.isSafeInteger(d.address) || !Number.isSafeInteger(d.liveAddress) || d.address <= 0 || d.liveAddress <= 0) return undefined
  return Number.isSafeInteger(offset) && offset >= 0 && offset + length <= region.length ? d : undefined
}

function checkIncarnation(region: RegionHandle, current: number): void {
  if (region.incarnation === current) return
  throw new T3fsError('ERR_STALE_INCARNATION', `region ${region.regionId} belonged to node ${region.node} before it restarted (incarnation ${region.incarnation}, now ${current}); ask its owner for a new handle`, {
    node: region.node, regionId: region.regionId, incarnation: region.incarnation, current,
  })
}
