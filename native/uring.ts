/**
 * Asynchronous file I/O on the calling thread's io_uring (one ring per thread, created on first
 * use; native/src/uring.rs and uring_fs.rs). Every operation writes one submission entry and
 * returns a Promise; those started in the same JS turn are submitted together with one
 * io_uring_enter at the end of the turn, and completions settle on this thread's event loop.
 */
import { native, type Addon, type UringStats } from './addon.ts'
import {
  AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, O_CREAT, O_DIRECT, O_DIRECTORY,
  O_DSYNC, O_EXCL, O_NOFOLLOW, O_PATH, O_RDWR, O_TMPFILE, O_TRUNC, RESOLVE_BENEATH, STATX_BLOCKS, STATX_BUFFER_BYTES,
  STATX_DIOALIGN, STATX_MODE, STATX_MTIME, STATX_SIZE, STATX_TYPE, decodeStatx, type Statx,
} from './statx.ts'

export { AT_FDCWD, type Statx, type StatxKind } from './statx.ts'

export interface OpenOptions {
  /** open for writing too (default read-only) */
  write?: boolean
  create?: boolean
  truncate?: boolean
  exclusive?: boolean
  /** O_DIRECT: buffers, offsets and lengths must be aligned to the device's logical block size */
  direct?: boolean
  /** O_DSYNC: a write completes once its data is durable */
  dsync?: boolean
  /** O_DIRECTORY: fail with ENOTDIR unless the path is a directory (open one to fsync it) */
  directory?: boolean
  /** O_PATH: a handle for *at() calls only (no reads, writes or fsync) */
  pathOnly?: boolean
  /** O_TMPFILE: an unnamed file in the directory `path` (gone when closed); implies write */
  tmpfile?: boolean
  /** O_NOFOLLOW: fail with ELOOP when the last component is a symlink */
  noFollow?: boolean
  /** file mode when creating (default 0o644) */
  mode?: number
  /** resolve a relative `path` against this directory fd (default: the working directory) */
  dirFd?: number
  /** openat2 RESOLVE_BENEATH: refuse any resolution that leaves `dirFd` (EXDEV) */
  beneath?: boolean
}

/** Linux open(2) flags for `options` (exposed for tests and callers with their own flag sets). */
export function openFlags(options: OpenOptions = {}): number {
  let flags = options.write || options.tmpfile ? O_RDWR : 0
  if (options.create) flags |= O_CREAT
  if (options.truncate) flags |= O_TRUNC
  if (options.exclusive) flags |= O_EXCL
  if (options.direct) flags |= O_DIRECT
  if (options.dsync) flags |= O_DSYNC
  if (options.directory) flags |= O_DIRECTORY
  if (options.pathOnly) flags |= O_PATH
  if (options.tmpfile) flags |= O_TMPFILE
  if (options.noFollow) flags |= O_NOFOLLOW
  return flags
}

export interface StatxOptions {
  /** resolve a relative `path` against this directory fd (default: the working directory) */
  dirFd?: number
  /** do not follow a symlink in the last component (report the link itself) */
  noFollow?: boolean
  /** ask for the direct-I/O alignment too (STATX_DIOALIGN) */
  dioAlign?: boolean
}

const statMask = STATX_TYPE | STATX_MODE | STATX_MTIME | STATX_SIZE | STATX_BLOCKS

export class Uring {
  readonly #addon: Addon
  #flushScheduled = false
  readonly #flush = (): void => {
    this.#flushScheduled = false
    this.#addon.uringSubmit()
  }

  constructor() { this.#addon = native() }

  /** Every queued operation goes through here: the batch is submitted once, at the end of the turn. */
  #queued<T>(p: Promise<T>): Promise<T> {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      queueMicrotask(this.#flush)
    }
    return p
  }

  open(path: string, options: OpenOptions = {}): Promise<number> {
    return this.#queued(this.#addon.uringOpen(path, openFlags(options), options.mode ?? 0o644, options.dirFd ?? AT_FDCWD,
      options.beneath ? RESOLVE_BENEATH : 0))
  }

  /** Reads `length` bytes at file `position` into `buffer[bufferOffset..]`; resolves to bytes read. */
  read(fd: number, buffer: Uint8Array, position: number | bigint, length = buffer.byteLength, bufferOffset = 0): Promise<number> {
    return this.#queued(this.#addon.uringRead(fd, buffer, bufferOffset, length, position))
  }

  /** Writes `buffer[bufferOffset..bufferOffset+length]` at file `position`; resolves to bytes written. */
  write(fd: number, buffer: Uint8Array, position: number | bigint, length = buffer.byteLength, bufferOffset = 0): Promise<number> {
    return this.#queued(this.#addon.uringWrite(fd, buffer, bufferOffset, length, position))
  }

  /**
   * Registers `buffer` with the ring (pinned until unregistered; at most 1 GiB) and returns its
   * index for readFixed/writeFixed. Entries are independent: registering one leaves the others.
   */
  registerBuffer(buffer: Uint8Array): number { return this.#addon.uringRegisterBuffer(buffer) }

  /** Empties entry `index`; ERR_URING_BUSY while a fixed read or write on it is in flight. */
  unregisterBuffer(index: number): void { this.#addon.uringUnregisterBuffer(index) }

  /** Like read, into registered buffer `bufferIndex` at `bufferOffset`. */
  readFixed(fd: number, bufferIndex: number, position: number | bigint, length: number, bufferOffset = 0): Promise<number> {
    return this.#queued(this.#addon.uringReadFixed(fd, bufferIndex, bufferOffset, length, position))
  }

  writeFixed(fd: number, bufferIndex: number, position: number | bigint, length: number, bufferOffset = 0): Promise<number> {
    return this.#queued(this.#addon.uringWriteFixed(fd, bufferIndex, bufferOffset, length, position))
  }

  async fsync(fd: number, options: { datasync?: boolean } = {}): Promise<void> {
    await this.#queued(this.#addon.uringFsync(fd, options.datasync ?? false))
  }

  /**
   * fallocate(2): reserves [position, position + length), growing the file unless `keepSize`;
   * `punchHole` frees the range instead (the kernel requires keepSize with it, so it is implied).
   */
  async fallocate(fd: number, position: number, length: number, options: { keepSize?: boolean; punchHole?: boolean } = {}): Promise<void> {
    const mode = options.punchHole ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : options.keepSize ? FALLOC_FL_KEEP_SIZE : 0
    await this.#queued(this.#addon.uringFallocate(fd, mode, position, length))
  }

  /** ftruncate(2) (IORING_OP_FTRUNCATE, Linux 6.9+). */
  async truncate(fd: number, lengthBytes: number): Promise<void> {
    await this.#queued(this.#addon.uringFtruncate(fd, lengthBytes))
  }

  /** renameat(2): `from` (under dirFd) replaces `to` (under toDirFd, default dirFd) atomically. */
  async rename(from: string, to: string, options: { dirFd?: number; toDirFd?: number } = {}): Promise<void> {
    const dirFd = options.dirFd ?? AT_FDCWD
    await this.#queued(this.#addon.uringRenameat(dirFd, from, options.toDirFd ?? dirFd, to, 0))
  }

  /** unlinkat(2); with `directory`, rmdir (AT_REMOVEDIR: ENOTEMPTY unless empty). */
  async unlink(path: string, options: { dirFd?: number; directory?: boolean } = {}): Promise<void> {
    await this.#queued(this.#addon.uringUnlinkat(options.dirFd ?? AT_FDCWD, path, options.directory ?? false))
  }

  async mkdir(path: string, options: { dirFd?: number; mode?: number } = {}): Promise<void> {
    await this.#queued(this.#addon.uringMkdirat(options.dirFd ?? AT_FDCWD, path, options.mode ?? 0o755))
  }

  /** statx(2) of `path`: size, allocation, kind, mtime and, with `dioAlign`, O_DIRECT's alignment. */
  async statx(path: string, options: StatxOptions = {}): Promise<Statx> {
    const flags = options.noFollow ? AT_SYMLINK_NOFOLLOW : 0
    return this.#statx(options.dirFd ?? AT_FDCWD, path, flags, options.dioAlign ?? false)
  }

  /** statx(2) of an open fd (AT_EMPTY_PATH). */
  fstat(fd: number, options: { dioAlign?: boolean } = {}): Promise<Statx> {
    return this.#statx(fd, '', AT_EMPTY_PATH, options.dioAlign ?? false)
  }

  async #statx(dirFd: number, path: string, flags: number, dioAlign: boolean): Promise<Statx> {
    const buffer = new Uint8Array(STATX_BUFFER_BYTES)
    await this.#queued(this.#addon.uringStatx(dirFd, path, flags, statMask | (dioAlign ? STATX_DIOALIGN : 0), buffer))
    return decodeStatx(buffer)
  }

  async close(fd: number): Promise<void> {
    await this.#queued(this.#addon.uringClose(fd))
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

/** The kernel refuses to register a buffer larger than this (1 GiB). */
export const registeredBufferBytesMax = 1024 ** 3
