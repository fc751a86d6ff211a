/**
 * Loads the native addon (native/t3fs_native.node, built from native/ by `npm install` or
 * `npm run build:native`), once per thread, and declares the raw surface Rust exports. Callers use
 * the typed wrappers in index.ts (crc32c, affinity, FUSE, verbs) and uring.ts.
 *
 * Errors are T3fsError: OS failures carry the errno name as `code` ('EINVAL', 'ENOSPC', 'EIO', ...)
 * with `details.errno` / `details.syscall` (and `details.path` when one applies); bad arguments are
 * ERR_INVALID_ARG; a missing build is ERR_NATIVE_UNAVAILABLE.
 */
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { fileURLToPath } from 'node:url'
import { T3fsError } from './errors.ts'

/** The raw addon surface (what Rust exports). Use the wrappers in index.ts and uring.ts. */
export interface Addon {
  setErrorFactory(f: (code: string, message: string, errno: number, syscall: string, path?: string) => Error): void
  crc32c(data: ArrayBufferView, initial?: number): number
  crc32cSoftware(data: ArrayBufferView, initial?: number): number
  crc32cCombine(crcA: number, crcB: number, lengthB: number | bigint): number
  crc32cHardware(): boolean
  /** Absent from an addon built before it was added (callers fall back). */
  crc32cSegments?(data: ArrayBufferView, segmentBytes: number, out: Uint32Array, outIndex: number): number
  numaTopology(): NumaNode[]
  pinThread(cpus: readonly number[]): void
  threadAffinity(): number[]
  threadId(): number
  currentCpu(): number
  addressModulo(buf: Uint8Array, align: number): number
  /** Absent from an addon built before it was added (callers skip the advice). */
  adviseHugePages?(view: Uint8Array): number
  uringRead(fd: number, buf: Uint8Array, bufOff: number, len: number, pos: number | bigint): Promise<number>
  uringWrite(fd: number, buf: Uint8Array, bufOff: number, len: number, pos: number | bigint): Promise<number>
  uringReadFixed(fd: number, index: number, bufOff: number, len: number, pos: number | bigint): Promise<number>
  uringWriteFixed(fd: number, index: number, bufOff: number, len: number, pos: number | bigint): Promise<number>
  uringRegisterBuffer(buffer: Uint8Array): number
  uringUnregisterBuffer(index: number): void
  uringFsync(fd: number, datasync: boolean): Promise<number>
  uringOpen(path: string, flags: number, mode?: number, dirFd?: number, resolve?: number): Promise<number>
  uringFallocate(fd: number, mode: number, offset: number, length: number): Promise<number>
  uringFtruncate(fd: number, length: number): Promise<number>
  uringRenameat(oldDirFd: number, oldPath: string, newDirFd: number, newPath: string, flags: number): Promise<number>
  uringUnlinkat(dirFd: number, path: string, removeDir: boolean): Promise<number>
  uringMkdirat(dirFd: number, path: string, mode: number): Promise<number>
  uringStatx(dirFd: number, path: string, flags: number, mask: number, buffer: Uint8Array): Promise<number>
  uringClose(fd: number): Promise<number>
  uringNop(): Promise<number>
  uringSubmit(): number
  uringStats(): UringStats
  fuseOpen(nonblocking?: boolean): number
  fuseClone(fd: number, nonblocking?: boolean): number
  fuseWriteAsync(fd: number, buf: Uint8Array, bufOff: number, len: number): Promise<number>
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
export interface NativeMountOptions {
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

export interface VerbsDevice { name: string; guid: string }
export type VerbsProbe =
  | { available: true; library: true; devices: VerbsDevice[] }
  | { available: false; library: boolean; reason: string; devices: [] }
/** What a peer needs to reach a local memory region with RDMA READ/WRITE. */
export interface MemoryRegion { index: number; addr: string; lkey: number; rkey: number }
/** What two sides exchange (over TCP) to connect an RC queue pair. */
export interface QueuePairInfo { qpNum: number; lid: number; gid: string; psn: number }
export interface WorkCompletion { wrId: number; status: number; opcode: number; byteLength: number }

/** The built addon; T3FS_NATIVE_ADDON overrides the path (tests use it to check the not-built error). */
// cargo builds it into native/ at install time; compiled code (dist/native/addon.js) reaches it from dist/.
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
