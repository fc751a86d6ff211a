/**
 * The typed face of the native addon (native/t3fs_native.node, built from native/ by
 * `npm install` or `npm run build:native`): CRC32C, affinity, FUSE mount and verbs here; the
 * thread's io_uring in uring.ts; the loader in addon.ts. Everything is re-exported from here.
 *
 * Errors are T3fsError: OS failures carry the errno name as `code` ('EINVAL', 'ENOSPC', 'EIO', ...)
 * with `details.errno` / `details.syscall` (and `details.path` when one applies); bad arguments are
 * ERR_INVALID_ARG; a missing build is ERR_NATIVE_UNAVAILABLE.
 */
import { T3fsError } from './errors.ts'
import { native, type MemoryRegion, type NumaNode, type QueuePairInfo, type VerbsProbe, type WorkCompletion, type Addon } from './addon.ts'

export { native, nativeAvailable } from './addon.ts'
export type { MemoryRegion, NumaNode, QueuePairInfo, UringStats, VerbsDevice, VerbsProbe, WorkCompletion } from './addon.ts'
export * from './uring.ts'
import { uring } from './uring.ts'

// ---- memory advice -----------------------------------------------------------------------------

/**
 * Asks for transparent huge pages under the 2 MiB-aligned part of `view` (madvise MADV_HUGEPAGE);
 * returns the bytes advised: 0 when no whole aligned 2 MiB lies inside it, or when the addon was
 * built before this call existed. Advice only: memory already touched keeps its pages.
 */
export function adviseHugePages(view: Uint8Array): number {
  return native().adviseHugePages?.(view) ?? 0
}

// ---- crc32c -----------------------------------------------------------------------------------

/** CRC32C of `data`, continuing from `initial` (a finished CRC; 0 to start). SSE4.2 when present. */
export function crc32c(data: ArrayBufferView, initial = 0): number { return native().crc32c(data, initial) }
/** The portable (table) implementation, for cross-checks. */
export function crc32cSoftware(data: ArrayBufferView, initial = 0): number { return native().crc32cSoftware(data, initial) }
/** CRC32C of A‖B from crc(A), crc(B) and the length of B in bytes. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number | bigint): number {
  return native().crc32cCombine(crcA, crcB, lengthB)
}
export function crc32cHardware(): boolean { return native().crc32cHardware() }
/**
 * CRC32C of each `segmentBytes` piece of `data` (the last may be shorter) into `out` from
 * `outIndex`, in one call (three segments interleaved on SSE4.2); returns the CRC of all of `data`.
 */
export function crc32cSegments(data: ArrayBufferView, segmentBytes: number, out: Uint32Array, outIndex = 0): number {
  const addon = native()
  if (addon.crc32cSegments !== undefined) return addon.crc32cSegments(data, segmentBytes, out, outIndex)
  // An addon built before crc32cSegments existed: the same result, one call per segment.
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  let whole = 0
  for (let s = 0, at = 0; at < bytes.length; s++, at += segmentBytes) {
    const piece = bytes.subarray(at, Math.min(at + segmentBytes, bytes.length))
    out[outIndex + s] = addon.crc32c(piece, 0)
    whole = s === 0 ? out[outIndex] : addon.crc32cCombine(whole, out[outIndex + s], piece.length)
  }
  return whole
}

// ---- affinity ---------------------------------------------------------------------------------

/** NUMA nodes and their CPUs (one node with every online CPU when the machine reports none). */
export function numaTopology(): NumaNode[] { return native().numaTopology() }
/** Pins the calling OS thread (main thread or a worker_thread) to `cpus`; other threads keep theirs. */
export function pinThread(cpus: readonly number[]): void { native().pinThread(cpus) }
/** Pins the calling thread to every CPU of NUMA node `node` (ERR_INVALID_OPTION for an unknown node). */
export function pinThreadToNode(node: number): number[] {
  const found = numaTopology().find((n) => n.node === node)
  if (!found || found.cpus.length === 0) {
    const nodes = numaTopology().map((n) => n.node).join(', ')
    throw new T3fsError('ERR_INVALID_OPTION', `option node is ${node}; accepted: one of the NUMA nodes ${nodes}`, { option: 'node', value: node })
  }
  pinThread(found.cpus)
  return found.cpus
}
/** CPUs the calling thread may run on. */
export function threadAffinity(): number[] { return native().threadAffinity() }
/** The calling thread's OS tid (see /proc/self/task/<tid>/status). */
export function threadId(): number { return native().threadId() }
export function currentCpu(): number { return native().currentCpu() }

// ---- fuse -------------------------------------------------------------------------------------

/**
 * Opens /dev/fuse (O_RDWR|O_CLOEXEC); the fd is what mountFuse passes as `fd=` and what the server
 * reads. `nonblocking` (O_NONBLOCK): a read finding no request fails with EAGAIN instead of waiting;
 * io_uring then waits for the device to be readable without blocking the thread. Servers that read
 * one connection from several threads need it: two readers may both see one request pending, and
 * the one that loses would block inside its read.
 */
export function openFuseDevice(options: { nonblocking?: boolean } = {}): number { return native().fuseOpen(options.nonblocking ?? false) }

/**
 * A second queue of the FUSE connection served over `fd` (FUSE_DEV_IOC_CLONE on a fresh
 * /dev/fuse fd). The kernel hands each request to whichever queue reads first; the reply must go
 * back on the fd that read the request.
 */
export function cloneFuseDevice(fd: number, options: { nonblocking?: boolean } = {}): number { return native().fuseClone(fd, options.nonblocking ?? false) }

/**
 * Writes `buffer[offset, offset+length)` to `fd` on this thread's io_uring, always in the
 * kernel's io-wq workers (never inline in the calling thread): for FUSE notifications, in which
 * the kernel may wait for a lock that a request this thread has not yet answered holds.
 */
export function writeFuseDeviceAsync(fd: number, buffer: Uint8Array, offset = 0, length = buffer.byteLength - offset): Promise<number> {
  const p = native().fuseWriteAsync(fd, buffer, offset, length)
  uring().submit()
  return p
}

export interface FuseMountOptions {
  /** mount point (an existing directory) */
  target: string
  /** fd from openFuseDevice() */
  fd: number
  /** file system name shown in /proc/mounts (default 't3fs') */
  source?: string
  /** subtype: mounted as `fuse.<subtype>` (default 't3fs') */
  subtype?: string
  /** root inode's file mode (type bits), default 0o40000 (directory) */
  rootMode?: number
  userId?: number
  groupId?: number
  maxRead?: number
  allowOther?: boolean
  defaultPermissions?: boolean
  readOnly?: boolean
  /** MS_NOSUID|MS_NODEV (default true) */
  noSuidNoDev?: boolean
}

const unsignedInt = (name: string, v: number | undefined): void => {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
    throw new T3fsError('ERR_INVALID_OPTION', `option ${name} is ${String(v)}; accepted: a non-negative integer`, { option: name })
  }
}

/**
 * mount(2) of a FUSE file system served over `fd`. Runs on the libuv thread pool (the calling
 * thread may be the one serving the mount). Needs CAP_SYS_ADMIN (root): otherwise EPERM.
 */
export async function mountFuse(options: FuseMountOptions): Promise<void> {
  for (const k of ['fd', 'rootMode', 'userId', 'groupId', 'maxRead'] as const) unsignedInt(k, options[k])
  const subtype = options.subtype ?? 't3fs'
  if (!/^[A-Za-z0-9_.-]+$/.test(subtype)) {
    throw new T3fsError('ERR_INVALID_OPTION', `option subtype is ${JSON.stringify(subtype)}; accepted: letters, digits, _ . -`, { option: 'subtype' })
  }
  const plain = options.noSuidNoDev ?? true
  try {
    await native().fuseMount({
      source: options.source ?? 't3fs', target: options.target, type: `fuse.${subtype}`, fd: options.fd,
      rootMode: options.rootMode, userId: options.userId, groupId: options.groupId, maxRead: options.maxRead,
      allowOther: options.allowOther, defaultPermissions: options.defaultPermissions, readOnly: options.readOnly,
      noSuid: plain, noDev: plain,
    })
  } catch (error) {
    if (error instanceof T3fsError && error.code === 'EPERM') {
      throw new T3fsError('EPERM', `${error.message}: mounting FUSE with mount(2) needs CAP_SYS_ADMIN (run as root)`, error.details, { cause: error })
    }
    throw error
  }
}

/** umount2(2) on the thread pool. `lazy` = MNT_DETACH, `force` = MNT_FORCE. */
export function unmountFuse(target: string, options: { lazy?: boolean; force?: boolean } = {}): Promise<void> {
  return native().fuseUnmount(target, (options.force ? 1 : 0) | (options.lazy ? 2 : 0))
}

// ---- verbs ------------------------------------------------------------------------------------


/** libibverbs via dlopen: the RDMA devices, or why there are none (a normal condition). */
export function verbsProbe(): VerbsProbe { return native().verbsProbe() }


/**
 * One RDMA device port: protection domain, one completion queue, RC queue pairs and registered
 * memory regions. Needs a device (verbsProbe().available); otherwise the constructor throws
 * ERR_RDMA_UNAVAILABLE with the probe's reason. Completions are polled (no blocking wait).
 */
export class VerbsEndpoint {
  readonly #addon: Addon
  readonly #id: number
  #closed = false

  constructor(device: string, port = 1) {
    this.#addon = native()
    this.#id = this.#addon.verbsOpen(device, port)
  }

  /** Registers `buffer` (kept alive until close) for local and remote read/write. */
  registerMemory(buffer: Uint8Array): MemoryRegion { return this.#addon.verbsRegisterMr(this.#id, buffer) }

  /** Creates an RC queue pair; send the returned info to the peer. */
  createQueuePair(): QueuePairInfo & { index: number } { return this.#addon.verbsCreateQp(this.#id) }

  /** Brings queue pair `qp` to RTS against the peer's exchanged info. */
  connect(qp: number, localPsn: number, remote: QueuePairInfo): void { this.#addon.verbsConnect(this.#id, qp, localPsn, remote) }

  /** Posts a signaled RDMA READ or WRITE between local region `mr` and the remote address/rkey. */
  post(qp: number, op: 'read' | 'write', mr: number, localOffset: number, length: number,
    remoteAddr: string | bigint, rkey: number, wrId: number): void {
    this.#addon.verbsPost(this.#id, qp, op, mr, localOffset, length, remoteAddr, rkey, wrId)
  }

  /** Up to `max` completions, without waiting. status 0 = success (IBV_WC_SUCCESS). */
  poll(max = 32): WorkCompletion[] { return this.#addon.verbsPoll(this.#id, max) }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#addon.verbsClose(this.#id)
  }
}
