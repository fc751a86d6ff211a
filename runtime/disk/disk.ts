/**
 * A disk as an actor sees it: `ctx.disk`. Storage code is written once against this interface and
 * runs on the host thread's io_uring in production (UringDisk) and on a seeded SimDisk inside the
 * simulator, which keeps a durable and a volatile image so that a node crash loses exactly what was
 * not synced.
 *
 * Paths are relative to the disk's root: '/'-separated names, no '.', '..' or empty segments, no
 * NUL, at most `diskPathBytesMax` bytes (see checkDiskPath). An actor cannot reach outside its disk.
 *
 * Errors are T3fsErrors coded with the errno name the kernel would give ('ENOENT', 'EEXIST', 'EIO',
 * 'ENOSPC', 'EINVAL' for misaligned direct I/O, 'EBADF' for a closed file, 'ENOTDIR', 'EISDIR',
 * 'ENOTEMPTY'); a malformed path is ERR_INVALID_PATH and a bad argument ERR_INVALID_OPTION.
 */
import type { PooledBuffer } from '../buffer-pool.ts'

/** Memory a read lands in or a write comes from: a pool slot (registered with the ring) or any bytes. */
export type DiskBuffer = PooledBuffer | Uint8Array

export interface DiskOpenOptions {
  /** Open for writing too. Default false (read-only). */
  readonly write?: boolean
  /** Create the file when it does not exist (O_CREAT). Implies write. */
  readonly create?: boolean
  /** With create: fail with EEXIST when the file exists (O_EXCL). */
  readonly exclusive?: boolean
  /** Cut the file to 0 bytes (O_TRUNC). Implies write. */
  readonly truncate?: boolean
  /**
   * O_DIRECT: bypass the page cache. Every read and write must then have its file position, its
   * length and its buffer address aligned to `disk.alignment` (EINVAL otherwise); pool slots are
   * aligned, so a PooledBuffer with an aligned `bufferOffset` always qualifies.
   */
  readonly direct?: boolean
  /** O_DSYNC: each write returns only once its data is durable (no separate sync needed). */
  readonly dsync?: boolean
}

export type DiskEntryKind = 'file' | 'directory' | 'other'

export interface DiskStat {
  readonly kind: DiskEntryKind
  /** Logical size (st_size). */
  readonly sizeBytes: number
  /** Bytes actually allocated on the device (st_blocks × 512): less than size for sparse files. */
  readonly allocatedBytes: number
  readonly mtimeMs: number
}

export interface DiskDirEntry {
  readonly name: string
  readonly kind: DiskEntryKind
}

export interface DiskCapacity {
  readonly totalBytes: number
  readonly freeBytes: number
}

/** An open file. Operations may run concurrently; each settles on its own. */
export interface DiskFile {
  readonly path: string
  readonly direct: boolean
  /**
   * Reads up to `length` bytes (default: the buffer's length from `bufferOffset`) at file
   * `position` into the buffer at `bufferOffset`; resolves to the bytes read (fewer only at the end
   * of the file).
   */
  read(into: DiskBuffer, position: number, length?: number, bufferOffset?: number): Promise<number>
  /** Writes all `length` bytes or fails (short writes are retried inside); resolves to `length`. */
  write(from: DiskBuffer, position: number, length?: number, bufferOffset?: number): Promise<number>
  /** fsync, or fdatasync with `dataOnly`: what was written before becomes durable. */
  sync(options?: { readonly dataOnly?: boolean }): Promise<void>
  /** fallocate: reserves [position, position + length); grows the file unless `keepSize`. */
  allocate(position: number, length: number, options?: { readonly keepSize?: boolean }): Promise<void>
  /** fallocate(PUNCH_HOLE | KEEP_SIZE): frees the range's blocks; it then reads as zeros. */
  punchHole(position: number, length: number): Promise<void>
  truncate(lengthBytes: number): Promise<void>
  stat(): Promise<DiskStat>
  /** Closing twice is harmless; any other operation after close fails with EBADF. */
  close(): Promise<void>
}

export interface Disk {
  /** What O_DIRECT requires of positions, lengths and buffer addresses (the logical block size). */
  readonly alignment: number
  /** Where this disk lives (its root directory, or the simulated node's name), for logs and errors. */
  readonly name: string
  open(path: string, options?: DiskOpenOptions): Promise<DiskFile>
  /** Creates a directory; `recursive` creates missing parents and accepts an existing directory. */
  mkdir(path: string, options?: { readonly recursive?: boolean }): Promise<void>
  /** The entries of a directory, sorted by name. */
  list(path: string): Promise<DiskDirEntry[]>
  stat(path: string): Promise<DiskStat>
  /** Atomically replaces `to` with `from` (rename(2)); durable once the directory is synced. */
  rename(from: string, to: string): Promise<void>
  unlink(path: string): Promise<void>
  rmdir(path: string): Promise<void>
  /** fsync of a directory: its creates, renames and unlinks become durable. '' is the root. */
  syncDir(path: string): Promise<void>
  capacity(): Promise<DiskCapacity>
}

export const diskPathBytesMax = 4096
