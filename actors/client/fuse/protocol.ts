/**
 * Messages of the FUSE mount actor (`fuseMount`, mount-actor.ts) and its extra queues
 * (`fuseQueue`, queue-actor.ts). Tools (`t3fs status`, the launcher) import only this file.
 */
import type { Returns } from '../../../runtime/actor.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { FileClientStats } from '../file-client.ts'
import type { DeviceReadMsg } from './device-reads.ts'
import type { RequestSlot } from './request-slot.ts'

export interface FuseStatus {
  /** The absolute mount point. */
  readonly mountPoint: string
  /** Mounted and served; false when mount(2) was refused (not root) or after unmount. */
  readonly mounted: boolean
  /** Why it is not mounted (and how to mount), when it is not. */
  readonly reason: string | null
  /** The kernel's FUSE protocol version, once INIT was answered. */
  readonly kernel: string | null
  /** Queues reading /dev/fuse: the mount's own and one per attached fuseQueue. */
  readonly queues: number
  readonly inFlight: number
  readonly requests: number
  readonly errors: number
  readonly ioErrors: number
  readonly bytesRead: number
  readonly bytesWritten: number
  readonly notifications: number
  /** Of the notifications, those that dropped a file's cached pages (another client changed its data). */
  readonly pageCacheDrops: number
  /** Revalidation rounds done (each compared a batch of the kernel's nodes with meta; a round whose meta request failed is not one). */
  readonly revalidations: number
  /** Nodes the kernel holds (looked up and not forgotten, as far as the table bounds go). */
  readonly knownNodes: number
  readonly openHandles: number
  readonly byKind: Readonly<Record<string, number>>
  readonly client: FileClientStats | null
}

/**
 * Codes of a /dev/fuse read that only mean "read again": the kernel dropped the request it was
 * handing over (EINTR, ENOENT), or another queue took it first (EAGAIN, which libuv names
 * EWOULDBLOCK on Linux).
 */
export const RETRYABLE_READ_CODES: ReadonlySet<string> = new Set(['EINTR', 'ENOENT', 'EAGAIN', 'EWOULDBLOCK'])

export interface QueueAttachment {
  /** The mount's /dev/fuse fd, to clone. */
  readonly fd: number
  readonly readBufferBytes: number
  readonly reads: number
}

export type FuseMountMsg =
  /** From a fuseQueue: the fd to clone (answered once mounted; ERR_FUSE_NOT_MOUNTED when not). */
  | ({ type: 'attach'; queue: string } & Returns<QueueAttachment>)
  /** From a fuseQueue: one request read from its clone `fd`; the slot is the mount's now. */
  | { type: 'forward'; fd: number; buffer: PooledBuffer; length: number }
  | ({ type: 'status' } & Returns<FuseStatus>)
  /** Unmount now (lazily if busy), flush and close every open file: the launcher's Ctrl-C path. */
  | ({ type: 'unmount' } & Returns<{ unmounted: boolean }>)
  // to itself
  | DeviceReadMsg
  | { type: 'served'; slot: RequestSlot | null }
  | { type: 'revalidate' }
  | { type: 'revalidated' }
  | { type: 'read-ahead-set'; error: string | null }

export type FuseQueueMsg =
  | DeviceReadMsg
