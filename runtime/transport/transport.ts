/**
 * The seam between the router and the network: one NodeTransport per node process.
 *
 * Two-sided: `send` carries a frame (a msgpackr header the router owns, plus payloads that travel
 * out of band) to another node; `onFrame` receives them. One-sided: a node registers buffer regions,
 * and a peer reads or writes them by (region, offset, length), as RDMA verbs do; storage code is
 * written once against this and runs over TCP here and RDMA where a device exists.
 *
 * Received headers, and payloads the handler did not place, are views into receive buffers the
 * transport reuses: a handler that keeps them beyond its own call must copy them. Placed payloads
 * (see PayloadPlacement) are read straight into the receiver's own buffers.
 */

export interface Frame {
  /** The router's envelopes, opaque to the transport; copied during send(), so the caller may reuse it at once. */
  readonly header: Uint8Array
  /**
   * Out-of-band payloads (chunk data), written with scatter/gather, never re-encoded. Payloads
   * above 8 KiB are written from the caller's memory, not copied: once sent, treat them as handed
   * over (as RDMA send buffers are) and do not modify them until `release` is called.
   */
  readonly payloads: readonly Uint8Array[]
  /**
   * Called exactly once after send() accepted the frame, when the transport no longer needs the
   * payloads' memory: the socket has taken them, or the frame was dropped (connection lost,
   * transport closed). Not called when send() throws: the caller still has everything.
   */
  readonly release?: () => void
}

/**
 * Where a received data frame's payloads go, decided once its head (the whole header) is in:
 * one target per payload, a buffer of exactly its length that the socket reads straight into,
 * or null to skip that payload's bytes. The frame then arrives with these targets as its
 * payloads (a skipped one as an empty array), and they belong to the handler.
 */
export interface PayloadPlacement {
  readonly targets: readonly (Uint8Array | null)[]
  /** The frame will never arrive (its connection was lost mid-frame): give back what the targets hold. */
  abandon(): void
}

/** Picks the destinations of a data frame's payloads; undefined: the default (views valid during the handler). */
export type PlacePayloads = (fromNode: number, header: Uint8Array, payloadLengths: readonly number[]) => PayloadPlacement | undefined

export interface TransportStartOptions {
  /** This node's incarnation (address.ts), announced in the handshake; default: the one the transport was made with. */
  readonly incarnation?: number
}

export type PeerState = 'up' | 'down'

export interface RegionHandle {
  readonly regionId: number
  readonly length: number
  /** Where a peer on this machine copies the region from by itself (same-host.ts); absent when copies are off. */
  readonly direct?: DirectAddress
}

/** A region's address in its owner's memory and the address of its liveness word there (same-host.ts). */
export interface DirectAddress {
  readonly address: number
  readonly liveAddress: number
}

export interface NodeTransport {
  readonly kind: 'tcp' | 'rdma'
  readonly nodeId: number
  /** This node's max_frame_size: the largest frame it sends or accepts (absent: DEFAULT_MAX_FRAME_BYTES). */
  readonly maxFrameBytes?: number
  /** Listens on the profile address and starts connecting to the peer table. */
  start(options?: TransportStartOptions): Promise<void>
  /** The largest frame `node` accepts: the smaller of both ends' max_frame_size once the handshake told it. */
  maxFrameBytesTo?(node: number): number
  /**
   * Queues a frame for `toNode`. Returns false when the peer's queue is above the high-water mark
   * (the frame is queued; wait for `whenWritable` before sending more). Throws T3fsError
   * ERR_PEER_DOWN when the peer is known down, ERR_PEER_UNKNOWN for a node without an address,
   * ERR_OVERLOADED (frame not queued) when a caller ignored `false` up to the hard queue limit, and
   * ERR_INVALID_OPTION for a frame above maxFrameBytesTo(toNode) or with too many payloads.
   */
  send(toNode: number, frame: Frame): boolean
  /** Resolves when `toNode`'s queue is below the high-water mark; rejects ERR_PEER_DOWN. */
  whenWritable(toNode: number): Promise<void>
  /**
   * Data frames from peers. With `place`, each frame with payloads first asks it where they go
   * (see PayloadPlacement) and the handler gets that placement back; without, payloads are views
   * valid only during the handler.
   */
  onFrame(handler: (fromNode: number, frame: Frame, placement?: PayloadPlacement) => void, place?: PlacePayloads): void
  /** Peers going up or down; a down says why (closed, silent, unreachable, restarted with a new incarnation). */
  onPeerState(handler: (node: number, state: PeerState, reason?: string) => void): void
  /** Makes `buffer` readable and writable by peers until unregistered. */
  registerRegion(buffer: Uint8Array): RegionHandle
  unregisterRegion(regionId: number): void
  /**
   * Copies `length` bytes of a peer's region into `into`. Rejects ERR_REMOTE_REGION, ERR_PEER_DOWN,
   * ERR_TIMEOUT. With the region's `direct` address (from its handle, checked against its length by
   * the caller), a peer on this machine is copied from at once, with no request to it.
   */
  readRemote(node: number, regionId: number, offset: number, length: number, into: Uint8Array, direct?: DirectAddress): Promise<void>
  /** Copies `data` into a peer's region at `offset`. Resolves once the peer has it in the region. */
  writeRemote(node: number, regionId: number, offset: number, data: Uint8Array): Promise<void>
  close(): Promise<void>
  /** The incarnation a peer announced in its handshake (undefined before one). */
  peerIncarnation?(node: number): number | undefined
  /** Direct copies this process made with peers on its machine (TCP: same-host.ts); absent where there are none. */
  sameHostStats?(): SameHostStats
}

export interface SameHostStats {
  /** Region reads this node copied out of a peer's memory. */
  readonly reads: number
  /** Peers' region writes this node copied out of the writer's memory. */
  readonly writes: number
  readonly bytes: number
  /** Ops sent back through the socket because a direct copy could not be made. */
  readonly fallbacks: number
}

/** The default max_frame_size: a 64 MiB chunk (3FS's largest) and 1 MiB for its head and envelopes. */
export const DEFAULT_MAX_FRAME_BYTES = 65 * 1024 * 1024

/** Codes of the operating errors transports raise (T3fsError.code). */
export const TransportErrorCode = {
  peerDown: 'ERR_PEER_DOWN',
  peerUnknown: 'ERR_PEER_UNKNOWN',
  remoteRegion: 'ERR_REMOTE_REGION',
  overloaded: 'ERR_OVERLOADED',
  timeout: 'ERR_TIMEOUT',
  closed: 'ERR_TRANSPORT_CLOSED',
  frame: 'ERR_FRAME',
  unavailable: 'ERR_TRANSPORT_UNAVAILABLE',
} as const
