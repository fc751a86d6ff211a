/**
 * The typed face of the native addon (native/t3fs_native.node, built from native/ by
 * `npm install` or `npm run build:native`).
 *
 * Errors are T3fsError: OS failures carry the errno name as `code` ('EINVAL', 'ENOSPC', 'EIO', ...)
 * with `details.errno` / `details.syscall` (and `details.path` when one applies); bad arguments are
 * ERR_INVALID_ARG; a missing build is ERR_NATIVE_UNAVAILABLE.
 */
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { fileURLToPath } from 'node:url'
import { T3fsError } from '../runtime/errors.ts'

/** The raw addon surface (what Rust exports). Kept internal; use the wrappers below. */
interface Addon {
  setErrorFactory(f: (code: string, message: string, errno: number, syscall: string, path?: string) => Error): void
  crc32c(data: ArrayBufferView, initial?: number): number
  crc32cSoftware(data: ArrayBufferView, initial?: number): number
  crc32cCombine(crcA: number, crcB: number, lengthB: number | bigint): number
  crc32cHardware(): boolean
  numaTopology(): NumaNode[]
  pinThread(cpus: readonly number[]): void
  threadAffinity(): number[]
  threadId(): number
  currentCpu(): number
  addressModulo(buf: Uint8Array, align: number): number
  uringRead(fd: number, buf: Uint8Array, bufOff: number, len: number, pos: number | bigint): Promise<number>
  uringWrite(fd: number, buf: Uint8Array, bufOff: number, len: number, pos: number | bigint): Promise<number>
  uringReadFixed(fd: number, index: number, bufOff: number, len: number, pos: number | bigint): Promise<number>
  uringWriteFixed(fd: number, index: number, bufOff: number, len: number, pos: number | bigint): Promise<number>
  uringRegisterBuffers(buffers: readonly Uint8Array[]): void
  uringFsync(fd: number, datasync: boolean): Promise<number>
  uringOpen(path: string, flags: number, mode?: number): Promise<number>
  uringClose(fd: number): Promise<number>
  uringNop(): Promise<number>
  uringSubmit(): number
  uringStats(): UringStats
  fuseOpen(): number
  fuseMount(options: NativeMountOptions): Promise<void>
  fuseUnmount(target: string, flags: number): Promise<void>
  verbsProbe(): VerbsProbe
  verbsOpen(device: string, port?: number): number
  verbsRegisterMr(endpoint: number, buffer: Uint8Array): MemoryRegion
  verbsCreateQp(endpoint: number): QueuePairInfo & { index: number }
  verbsConnect(endpoint: number, qp: number, localPsn: number, remote: QueuePairInfo): void
  verbsPost(endpoint: number, qp: number, op: 'read' | 'write', mr: number, localOffset: number, length: number,
    remoteAddr: string | bigint, rkey: number, wrId: number): void
  verbsPoll(endpoint: number, max: number): WorkCompletion[]
  verbsClose(endpoint: number): void
}

/** What native fuseMount takes (see mountFuse for the validated public form). */
interface NativeMountOptions {
  source: string; target: string; type: string; fd: number; rootMode?: number; userId?: number; groupId?: number
  maxRead?: number; allowOther?: boolean; defaultPermissions?: boolean; readOnly?: boolean; noSuid?: boolean
  noDev?: boolean; noExec?: boolean
}

export interface NumaNode { node: number; cpus: number[] }
export interface UringStats {
  inFlight: number; queued: number; registeredBuffers: number; ringFd: number; sqEntries: number; cqEntries: number
  /** IORING_SETUP_DEFER_TASKRUN in use (kernel ≥ 6.1) */
  deferTaskrun: boolean
}

/**
 * The built addon; T3FS_NATIVE_ADDON overrides the path (tests use it to check the not-built error).
 * cargo builds it into native/ at install time, which compiled code (dist/native/index.js) reaches from dist/.
 */
const addonPath = process.env.T3FS_NATIVE_ADDON ??
  fileURLToPath(new URL(import.meta.url.endsWith('.js') ? '../../native/t3fs_native.node' : './t3fs_native.node', import.meta.url))
const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]))

function makeError(code: string, message: string, errno: number, syscall: string, path?: string): Error {
  if (code === 'ERRNO') {
    const name = errnoNames.get(errno) ?? `ERRNO_${errno}`
    return new T3fsError(name, `${name}: ${message}`, path === undefined ? { errno, syscall } : { errno, syscall, path })
  }
  return new T3fsError(code, message)
}

let loaded: Addon | undefined
let loadError: T3fsError | undefined

/** The addon, loaded once per thread; throws ERR_NATIVE_UNAVAILABLE when it was not built. */
export function native(): Addon {
  if (loaded) return loaded
  if (loadError) throw loadError
  if (!existsSync(addonPath)) {
    loadError = new T3fsError(
      'ERR_NATIVE_UNAVAILABLE',
      `the native addon ${addonPath} was not built (io_uring, CRC32C, affinity, FUSE and verbs need it); ` +
        'install Rust (`apt-get install cargo` or rustup) and run `npm run build:native` (in a project that installed t3fs: `npm rebuild t3fs`)',
      { path: addonPath },
    )
    throw loadError
  }
  try {
    const addon = createRequire(import.meta.url)(addonPath) as Addon
    addon.setErrorFactory(makeError)
    loaded = addon
    return addon
  } catch (error) {
    loadError = new T3fsError('ERR_NATIVE_UNAVAILABLE', `loading ${addonPath} failed: ${String(error)}; rebuild with \`npm run build:native\``,
      { path: addonPath }, { cause: error })
    throw loadError
  }
}

export function nativeAvailable(): boolean {
  try { native(); return true } catch { return false }
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

// ---- uring ------------------------------------------------------------------------------------

export interface OpenOptions {
  /** open for writing too (default read-only) */
  write?: boolean
  create?: boolean
  truncate?: boolean
  exclusive?: boolean
  /** O_DIRECT: buffers, offsets and lengths must be aligned to the device's logical block size */
  direct?: boolean
  /** file mode when creating (default 0o644) */
  mode?: number
}

const O_WRONLY = 0o1, O_RDWR = 0o2, O_CREAT = 0o100, O_EXCL = 0o200, O_TRUNC = 0o1000, O_DIRECT = 0o40000

/** Linux open(2) flags for `options` (exposed for tests and callers with their own flag sets). */
export function openFlags(options: OpenOptions = {}): number {
  let flags = options.write ? O_RDWR : 0
  if (options.create) flags |= O_CREAT
  if (options.truncate) flags |= O_TRUNC
  if (options.exclusive) flags |= O_EXCL
  if (options.direct) flags |= O_DIRECT
  return flags
}
void O_WRONLY

/**
 * Asynchronous file I/O on this thread's io_uring (one ring per thread, created on first use).
 * Operations started in the same JS turn are submitted together with one io_uring_enter (at the
 * end of the turn); each returns a Promise settled from the ring's completion thread. Buffers are
 * Buffers or Uint8Arrays (also over a SharedArrayBuffer); they are kept alive until completion,
 * but must not be reused by the caller before the promise settles.
 */
export class Uring {
  readonly #addon: Addon
  #flushScheduled = false
  readonly #flush = (): void => {
    this.#flushScheduled = false
    this.#addon.uringSubmit()
  }

  constructor() { this.#addon = native() }

  #schedule(): void {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      queueMicrotask(this.#flush)
    }
  }

  open(path: string, options: OpenOptions = {}): Promise<number> {
    const p = this.#addon.uringOpen(path, openFlags(options), options.mode ?? 0o644)
    this.#schedule()
    return p
  }

  /** Reads `length` bytes at file `position` into `buffer[bufferOffset..]`; resolves to bytes read. */
  read(fd: number, buffer: Uint8Array, position: number | bigint, length = buffer.byteLength, bufferOffset = 0): Promise<number> {
    const p = this.#addon.uringRead(fd, buffer, bufferOffset, length, position)
    this.#schedule()
    return p
  }

  /** Writes `buffer[bufferOffset..bufferOffset+length]` at file `position`; resolves to bytes written. */
  write(fd: number, buffer: Uint8Array, position: number | bigint, length = buffer.byteLength, bufferOffset = 0): Promise<number> {
    const p = this.#addon.uringWrite(fd, buffer, bufferOffset, length, position)
    this.#schedule()
    return p
  }

  /** Registers buffers with the ring (pinned once, then used by index in readFixed/writeFixed). */
  registerBuffers(buffers: readonly Uint8Array[]): void { this.#addon.uringRegisterBuffers(buffers) }

  readFixed(fd: number, bufferIndex: number, position: number | bigint, length: number, bufferOffset = 0): Promise<number> {
    const p = this.#addon.uringReadFixed(fd, bufferIndex, bufferOffset, length, position)
    this.#schedule()
    return p
  }

  writeFixed(fd: number, bufferIndex: number, position: number | bigint, length: number, bufferOffset = 0): Promise<number> {
    const p = this.#addon.uringWriteFixed(fd, bufferIndex, bufferOffset, length, position)
    this.#schedule()
    return p
  }

  async fsync(fd: number, options: { datasync?: boolean } = {}): Promise<void> {
    const p = this.#addon.uringFsync(fd, options.datasync ?? false)
    this.#schedule()
    await p
  }

  async close(fd: number): Promise<void> {
    const p = this.#addon.uringClose(fd)
    this.#schedule()
    await p
  }

  /** Submits everything queued so far now (otherwise it happens at the end of the JS turn). */
  submit(): number { return this.#addon.uringSubmit() }

  stats(): UringStats { return this.#addon.uringStats() }
}

/**
 * A buffer whose first byte sits at a multiple of `align` bytes (O_DIRECT needs the logical block
 * size, 512 or 4096). Allocate once and reuse: fresh memory is slow on these VMs.
 */
export function alignedBuffer(sizeBytes: number, options: { align?: number; shared?: boolean } = {}): Uint8Array {
  const align = options.align ?? 4096
  const backing = options.shared ? new SharedArrayBuffer(sizeBytes + align) : new ArrayBuffer(sizeBytes + align)
  const whole = new Uint8Array(backing)
  const skip = (align - native().addressModulo(whole, align)) % align
  return whole.subarray(skip, skip + sizeBytes)
}

let threadRing: Uring | undefined
/** This thread's ring. */
export function uring(): Uring {
  threadRing ??= new Uring()
  return threadRing
}

// ---- fuse -------------------------------------------------------------------------------------

/** Opens /dev/fuse (O_RDWR|O_CLOEXEC); the fd is what mountFuse passes as `fd=` and what the server reads. */
export function openFuseDevice(): number { return native().fuseOpen() }

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

export interface VerbsDevice { name: string; guid: string }
export type VerbsProbe =
  | { available: true; library: true; devices: VerbsDevice[] }
  | { available: false; library: boolean; reason: string; devices: [] }

/** libibverbs via dlopen: the RDMA devices, or why there are none (a normal condition). */
export function verbsProbe(): VerbsProbe { return native().verbsProbe() }

/** What a peer needs to reach a local memory region with RDMA READ/WRITE. */
export interface MemoryRegion { index: number; addr: string; lkey: number; rkey: number }
/** What two sides exchange (over TCP) to connect an RC queue pair. */
export interface QueuePairInfo { qpNum: number; lid: number; gid: string; psn: number }
export interface WorkCompletion { wrId: number; status: number; opcode: number; byteLength: number }

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
