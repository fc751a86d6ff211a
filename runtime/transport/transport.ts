/**
 * The seam between the router and the network: one NodeTransport per node process.
 *
 * Two-sided: `send` carries a frame (a msgpackr header the router owns, plus payloads that travel
 * out of band) to another node; `onFrame` receives them. One-sided: a node registers buffer regions,
 * and a peer reads or writes them by (region, offset, length), as RDMA verbs do; storage code is
 * written once against this and runs over TCP here and RDMA where a device exists.
 *
 * Received frames are views into receive buffers the transport reuses: a handler that keeps a
 * header or payload beyond its own call must copy it.
 */

export interface Frame {
  /** msgpackr-encoded envelope, opaque to the transport. */
  readonly header: Uint8Array
  /**
   * Out-of-band payloads (chunk data), written with scatter/gather, never re-encoded. Payloads
   * above 8 KiB are written from the caller's memory, not copied: once sent, treat them as handed
   * over (as RDMA send buffers are) and do not modify them.
   */
  readonly payloads: readonly Uint8Array[]
}

export type PeerState = 'up' | 'down'

export interface RegionHandle {
  readonly regionId: number
  readonly length: number
}

export interface NodeTransport {
  readonly kind: 'tcp' | 'rdma'
  readonly nodeId: number
  /** Listens on the profile address and starts connecting to the peer table. */
  start(): Promise<void>
  /**
   * Queues a frame for `toNode`. Returns false when the peer's queue is above the high-water mark
   * (the frame is queued; wait for `whenWritable` before sending more). Throws T3fsError
   * ERR_PEER_DOWN when the peer is known down, ERR_PEER_UNKNOWN for a node without an address, and
   * ERR_OVERLOADED (frame not queued) when a caller ignored `false` up to the hard queue limit.
   */
  send(toNode: number, frame: Frame): boolean
  /** Resolves when `toNode`'s queue is below the high-water mark; rejects ERR_PEER_DOWN. */
  whenWritable(toNode: number): Promise<void>
  onFrame(handler: (fromNode: number, frame: Frame) => void): void
  onPeerState(handler: (node: number, state: PeerState) => void): void
  /** Makes `buffer` readable and writable by peers until unregistered. */
  registerRegion(buffer: Uint8Array): RegionHandle
  unregisterRegion(regionId: number): void
  /** Copies `length` bytes of a peer's region into `into`. Rejects ERR_REMOTE_REGION, ERR_PEER_DOWN, ERR_TIMEOUT. */
  readRemote(node: number, regionId: number, offset: number, length: number, into: Uint8Array): Promise<void>
  /** Copies `data` into a peer's region at `offset`. Resolves once the peer has it in the region. */
  writeRemote(node: number, regionId: number, offset: number, data: Uint8Array): Promise<void>
  close(): Promise<void>
  /** The incarnation a peer announced in its handshake (undefined before one). */
  peerIncarnation?(node: number): number | undefined
}

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
