/**
 * FileClient: the library face of t3fs (3FS's client library under the FUSE daemon and USRBIO,
 * reference/3fs.md §5.1–§5.3). One object per client: it resolves paths and keeps write sessions
 * through meta, maps file offsets to (chain, chunk) with the file's layout and mgmtd's chain
 * table (§2.2), and moves the bytes with the storage client (writes to the chain's head, reads
 * from any SERVING replica; one-sided transfers from and into its own registered pool buffers).
 *
 * This file is the stable interface (types and doc comments only): the FUSE mount actor, USRBIO
 * and tools build on it. How to get one:
 * - from a plain Node process: `connectFileClient({ mgmtd: '127.0.0.1:9000' })` (client-node.ts);
 * - from inside an actor: `await createFileClient(ctx, options)` (it spawns a child actor whose
 *   context does the I/O; call the FileClient only from that actor's thread);
 * - on an ActorSystem you hold (tests, in-process clusters): `startFileClient(system, options)`.
 *
 * Semantics in short:
 * - **Errors** are T3fsErrors: POSIX refusals carry the errno name as `code` (`ENOENT`, `EEXIST`,
 *   `EBADF`, `EISDIR`, …, with `details.errno`), so FUSE answers `-errno`; a bad argument is
 *   `EINVAL` naming the field, the value and what is accepted; storage that stays unreachable past
 *   the retry budget is `EIO` with the storage error in `details.cause`.
 * - **Writes** are buffered per file (write-behind, bounded): `write` resolves once the bytes are
 *   in the buffer or, when the buffer is full, once enough of it reached storage. `flush` waits
 *   for every buffered byte to be acknowledged by its chain (all replicas committed); `fsync`
 *   also makes meta record the exact length (asked of storage); `close` does both and ends the
 *   write session. An error of a background flush is reported by the next write, flush, fsync or
 *   close of that file (as POSIX reports deferred write errors), never lost. `direct: true` opens
 *   skip the buffer: each write resolves after storage acknowledged it.
 * - **Reads** see every write of this client (buffered writes of the file are flushed first) and,
 *   without read-ahead, every write any client had acknowledged before the read started (reads go
 *   to a SERVING replica, which serves committed data only). Sequential readers get read-ahead
 *   (bounded): a read served from it may miss writes of *other* clients that completed after the
 *   read-ahead was fetched (as a page cache would); open with `direct: true` or set
 *   `readAheadBytes: 0` for reads that always go to storage. Holes read as zeros; a read past the
 *   end of the file returns fewer bytes (0 at or past the end).
 * - **Length**: the file's length grows with this client's writes at once (stat through this
 *   client shows it); meta learns it from length hints (flush, periodic sync) and records the
 *   exact length on fsync and close.
 * - **Sessions**: each open for writing holds a meta session, closed by `close`. The client
 *   registers itself with mgmtd and keeps its registration fresh; when the process dies, mgmtd
 *   drops it after its client session timeout and meta prunes the sessions it left.
 */
import type { ActorRef } from '../../runtime/actor.ts'
import type { RegionHandle } from '../../runtime/regions-actor.ts'
import type { MgmtdMsg } from '../mgmtd/protocol.ts'
import type { AccessMode, DirLockAction, InodeId, InodeType, Layout, MetaClient, MetaMsg, PathAt, StatFsResult, TimeSpec, UserInfo } from '../meta/index.ts'
import type { LentBytes } from './lent-bytes.ts'

export type { AccessMode, DirLockAction, InodeId, InodeType, Layout, PathAt, StatFsResult, TimeSpec, UserInfo } from '../meta/index.ts'

/**
 * A path as meta resolves it: an absolute path string, or `{ path, at }` relative to the
 * directory inode `at` (what FUSE uses: `{ path: name, at: parentInode }`).
 */
export type FilePath = string | PathAt

/** A file or directory named by path, or by inode id. */
export type FileTarget = FilePath | { readonly inode: InodeId }

export interface ReadOptions {
  /**
   * `into` is this region (registered with ctx.regions on the client's node: into[i] is its byte
   * i): replicas push pieces straight into it instead of through an I/O buffer and a copy.
   */
  readonly region?: RegionHandle
}

export interface OpenOptions {
  /** Default 'read'. */
  readonly access?: AccessMode
  /** O_CREAT: create a regular file when the entry is missing. */
  readonly create?: boolean
  /** Permission bits of a created file (default 0o644; the umask is the caller's business). */
  readonly perm?: number
  /** O_EXCL (with create): EEXIST when the entry exists. */
  readonly excl?: boolean
  /** O_TRUNC: the file is emptied at open (needs write access). */
  readonly trunc?: boolean
  /** O_APPEND: every write goes to the current end of the file; its `position` is ignored. */
  readonly append?: boolean
  /** O_NOFOLLOW: ELOOP when the last component is a symlink. */
  readonly nofollow?: boolean
  /** O_DIRECT-like: no write-behind and no read-ahead for this handle. */
  readonly direct?: boolean
  /** Layout of a created file (default: its directory's). */
  readonly layout?: Layout
}

/** An open file. Plain data: keep it, pass it back; it is valid until `close`. */
export interface FileHandle {
  /** Unique among this client's open handles. */
  readonly id: number
  readonly inode: InodeId
  readonly access: AccessMode
  readonly append: boolean
  readonly direct: boolean
  /** The file's chunk size: the natural unit of I/O (stat's blksize). */
  readonly chunkSizeBytes: number
  /** True when this open created the file. */
  readonly created: boolean
  /** The file's length as meta answered this open (later writes are not reflected; fstat for those). */
  readonly sizeBytes: number
  /** The file's mtime as meta answered this open (later writes and setattrs are not reflected). */
  readonly mtimeMs: number
}

/** What `stat` says of a file, directory or symlink (the fields `struct stat` needs). */
export interface FileStat {
  readonly inode: InodeId
  readonly type: InodeType
  /** st_mode: the type bits (S_IFREG, S_IFDIR, S_IFLNK) with the permission bits. */
  readonly mode: number
  /** Permission bits only (0o7777: rwx for all, setuid, setgid, sticky). */
  readonly perm: number
  readonly uid: number
  readonly gid: number
  readonly nlink: number
  /** Files: the length (including this client's unflushed writes); symlinks: the target's length; directories: 0. */
  readonly sizeBytes: number
  /** Files: the chunk size; others: 4096. */
  readonly blockSizeBytes: number
  readonly atimeMs: number
  readonly mtimeMs: number
  readonly ctimeMs: number
  /** Symlinks only. */
  readonly symlinkTarget: string | null
  /** FS_IOC_GETFLAGS bits (immutable, chain allocation). */
  readonly iflags: number
  /** Files and directories. */
  readonly layout: Layout | null
}

export interface DirEntry {
  readonly name: string
  readonly inode: InodeId
  readonly type: InodeType
  /** With `withStat` (readdirplus): the entry's attributes (null if it was removed meanwhile). */
  readonly stat?: FileStat | null
}

export interface ReaddirOptions {
  /** Entries after this name (the last name of the previous page). */
  readonly after?: string
  /** Entries per page (default 128, at most 4096). */
  readonly limit?: number
  /** Load each entry's inode as well (readdirplus). */
  readonly withStat?: boolean
}

export interface ReaddirResult {
  readonly entries: DirEntry[]
  /** More entries follow the last one: ask again with `after` = its name. */
  readonly more: boolean
}

/** What setattr can change (chmod, chown, utimes, truncate). */
export interface SetAttrOptions {
  readonly perm?: number
  readonly uid?: number
  readonly gid?: number
  readonly atimeMs?: TimeSpec
  readonly mtimeMs?: TimeSpec
  /** Truncate (or extend with zeros) a file to this length. */
  readonly sizeBytes?: number
}

export interface MkdirOptions {
  /** Default 0o755. */
  readonly perm?: number
  /** mkdir -p: create missing parents; an existing directory is no error. */
  readonly recursive?: boolean
  readonly layout?: Layout
}

export interface RenameOptions {
  /** RENAME_NOREPLACE: EEXIST when the destination exists. */
  readonly noReplace?: boolean
}

/** Counters for tests, benchmarks and `t3fs status`. */
export interface FileClientStats {
  readonly openHandles: number
  readonly openFiles: number
  /** Bytes sitting in write-behind buffers, not yet acknowledged by storage. */
  readonly bufferedBytes: number
  readonly chunkWrites: number
  readonly chunkReads: number
  /** Reads (or parts) answered from read-ahead. */
  readonly readAheadHits: number
  readonly storageRetries: number
  readonly metaRetries: number
  readonly bytesWritten: number
  /** Of bytesWritten, those sent to storage from where the caller lent them (a FUSE WRITE's request slot), uncopied. */
  readonly lentBytesWritten: number
  readonly bytesRead: number
}

/**
 * How the client reaches the cluster. In-process users give refs; `connectFileClient` fills them
 * from a TCP address.
 */
export interface FileClientOptions {
  /** The mgmtd actor(s): routing info (chains, targets) and the client's registration. */
  readonly mgmtd: readonly ActorRef<MgmtdMsg>[]
  /** The meta servers (a function when the set changes; any of them serves any request). */
  readonly meta: readonly ActorRef<MetaMsg>[] | (() => readonly ActorRef<MetaMsg>[])
  /** Who acts (default uid 0, gid 0: root). */
  readonly user?: UserInfo
  /** This client's id as mgmtd and meta know it (default: generated, unique per life). */
  readonly clientId?: string
  /** What mgmtd shows for this client (hostname, pid, purpose). */
  readonly description?: string
  /** Write-behind buffer per file (default 1 MiB, 3FS's; at most the largest pool slot). 0 turns it off. */
  readonly writeBufferBytes?: number
  /**
   * Write-behind buffers of one file being flushed at once (default 16). A chain write acknowledges
   * after three durable commits one after another (tail, middle, head), tens of milliseconds on a
   * loaded machine: with 4 buffers of 1 MiB on their way, four sequential writers left a fifth of
   * this 2-core machine idle (bench:fuse, four writers: 0.44–0.45 GiB/s with 4, 0.47–0.49 with 8).
   * More on their way also means more commits per group commit on each target, so fewer syncs and
   * log writes per chunk (bench:fuse, five runs each on a slower machine: 0.25–0.28 GiB/s at 5.0–5.4
   * CPU s/GiB with 8, 0.28–0.36 at 3.8–4.9 with 16; 32 was no better than 16).
   */
  readonly writeBuffersInFlight?: number
  /** Read-ahead window per sequential reader (default 4 MiB; 0 turns it off). */
  readonly readAheadBytes?: number
  /** Chunk reads and writes in flight at once over the whole client (default 64). */
  readonly maxInFlightIos?: number
  /** Registered pool buffers the client keeps for its I/O (default 32; each as large as the largest pool slot it needs). */
  readonly ioBuffers?: number
  /** Per storage request (default 10 s) and per meta attempt (default 5 s). */
  readonly requestTimeoutMs?: number
  /** A storage request that keeps failing this long fails with EIO (default 60 s, 3FS's). */
  readonly retryBudgetMs?: number
  /** How often the client renews its mgmtd registration (default 10 s). */
  readonly sessionExtendIntervalMs?: number
  /** How often dirty files send meta a length hint (default 5 s; 3FS's periodic sync). */
  readonly syncIntervalMs?: number
  /** What close and fsync tell meta: 'exact' (meta asks storage; 3FS's default) or 'hint' (this client's known length). Default 'exact'. */
  readonly lengthOnClose?: 'exact' | 'hint'
  /** How chunk data travels: one-sided region transfers (default) or inline in the messages. */
  readonly dataMode?: 'region' | 'inline'
  /** Deliberate bugs, for the client's simulation suite only (it must catch each). */
  readonly mutants?: readonly ClientMutant[]
}

/**
 * The client's named mutants: `flush-skips-inflight` (flush returns before buffers in flight are
 * acknowledged), `no-overlap-order` (overlapping flushes are not ordered), `stale-readahead`
 * (a write does not drop read-ahead blocks), `swallow-flush-error` (a failed background flush is
 * not reported), `lent-unretained` (a write sent from lent bytes does not keep them: the lender may
 * reuse them before storage pulled them).
 */
export const CLIENT_MUTANTS = ['flush-skips-inflight', 'no-overlap-order', 'stale-readahead', 'swallow-flush-error', 'lent-unretained'] as const
export type ClientMutant = (typeof CLIENT_MUTANTS)[number]

/** The FileClient API. Every method is async and rejects with a coded T3fsError. */
export interface FileClient {
  /** This client's id, as mgmtd and meta know it. */
  readonly clientId: string
  /** The meta client underneath, for requests this API does not wrap (locks, users, trash). */
  readonly meta: MetaClient

  // ---- files ---------------------------------------------------------------------------------
  open(target: FileTarget, options?: OpenOptions): Promise<FileHandle>
  /** open with { create: true, access: 'readwrite' } and the given permission bits (creat(2) with O_RDWR). */
  create(path: FilePath, perm?: number, options?: Omit<OpenOptions, 'create' | 'perm'>): Promise<FileHandle>
  /**
   * Reads up to `length` bytes (default `into.length - intoOffset`) at `position` into `into`
   * (at `intoOffset`); resolves with the number read: fewer at the end of the file, 0 past it.
   */
  read(handle: FileHandle, into: Uint8Array, position: number, length?: number, intoOffset?: number, options?: ReadOptions): Promise<number>
  /**
   * Writes `data` at `position` (ignored with append); resolves with data.length (see the buffering
   * rules above). With `lent` (data already in a registered region, see lent-bytes.ts) a write of a
   * whole write-behind buffer goes on its way from there, uncopied; other writes copy as always.
   */
  write(handle: FileHandle, data: Uint8Array, position: number, lent?: LentBytes): Promise<number>
  /** Every buffered byte of the file acknowledged by storage (no meta call). */
  flush(handle: FileHandle): Promise<void>
  /** flush, then meta records the file's length (exact, from storage). */
  fsync(handle: FileHandle): Promise<void>
  /** flush, end the write session (meta records the length), free the handle. Idempotent per handle. */
  close(handle: FileHandle): Promise<void>
  /** The attributes of an open file, with this client's unflushed length. */
  fstat(handle: FileHandle): Promise<FileStat>
  /** Truncates or extends (zero-filled) a file to `sizeBytes`; buffered writes of the file are flushed first. */
  truncate(target: FileTarget | FileHandle, sizeBytes: number): Promise<FileStat>

  // ---- namespace -----------------------------------------------------------------------------
  /** Attributes; `follow` (default true) resolves a final symlink. */
  stat(target: FileTarget, options?: { readonly follow?: boolean }): Promise<FileStat>
  /** One page of a directory's entries, in name order. */
  readdir(dir: FileTarget, options?: ReaddirOptions): Promise<ReaddirResult>
  /** Every entry of a directory (all pages; more than `maxEntries`, default 1,000,000, fails with EINVAL). */
  readdirAll(dir: FileTarget, options?: { readonly withStat?: boolean; readonly maxEntries?: number }): Promise<DirEntry[]>
  mkdir(path: FilePath, options?: MkdirOptions): Promise<FileStat>
  /** Removes an empty directory (ENOTEMPTY otherwise, ENOTDIR for a non-directory). */
  rmdir(path: FilePath): Promise<void>
  /** Removes a file or symlink (EISDIR for a directory). An open file keeps working until closed. */
  unlink(path: FilePath): Promise<void>
  /** Removes a directory tree (rm -r). */
  removeRecursive(path: FilePath): Promise<void>
  rename(from: FilePath, to: FilePath, options?: RenameOptions): Promise<void>
  /** Creates a symlink at `path` pointing to `target`. */
  symlink(target: string, path: FilePath): Promise<FileStat>
  readlink(path: FilePath): Promise<string>
  /** A hard link `newPath` to the file `existing`. */
  link(existing: FilePath, newPath: FilePath): Promise<FileStat>
  setattr(target: FileTarget, attrs: SetAttrOptions): Promise<FileStat>
  /** The canonical absolute path of a file or directory. */
  realpath(target: FileTarget): Promise<string>
  statfs(): Promise<StatFsResult>
  /** 3FS's directory creation lock (the `t3fs.lock` xattr of the FUSE mount). */
  lockDirectory(dir: FileTarget, action: DirLockAction): Promise<void>

  // ---- the client ----------------------------------------------------------------------------
  stats(): FileClientStats
  /**
   * Flushes and closes every open handle, ends the mgmtd registration and stops the client's
   * actor (and, for `connectFileClient`, its node). Further calls fail with ERR_CLIENT_CLOSED.
   */
  shutdown(): Promise<void>
}

/**
 * `connectFileClient` (a plain Node process joining a running cluster as a client node): the
 * FileClientOptions that are not refs, plus where mgmtd listens.
 */
export interface ConnectFileClientOptions extends Omit<FileClientOptions, 'mgmtd' | 'meta'> {
  /** mgmtd's TCP address `host:port` (default $T3FS_MGMTD, else 127.0.0.1:9000). */
  readonly mgmtd?: string
  /** mgmtd's node id (default $T3FS_MGMTD_NODE, else 1). */
  readonly mgmtdNode?: number
  /** The cluster id the nodes were launched with (default "t3fs", as configs/base.toml). */
  readonly clusterId?: string
  /**
   * Where the meta servers are: actors named `meta`, `meta2`, … (every name matching /^meta\d*$/)
   * on these nodes, found through each node's registry once at connect. A node must be in mgmtd's
   * routing info (its endpoint) unless it is the mgmtd node. Default: those on mgmtd's node plus
   * those every META node of mgmtd's routing info reports (meta nodes heartbeat to mgmtd), kept
   * up to date as meta nodes come, fail and return.
   */
  readonly metaNodes?: readonly number[]
  /** This process's node id (default 60000 + pid mod 5000). */
  readonly clientNode?: number
  /** Pool slots of this client node (default 64 × 64 KiB and 48 × 1 MiB: room for ioBuffers). */
  readonly bufferPool?: { readonly classes: readonly { readonly slotBytes: number; readonly slots: number }[] }
  readonly connectTimeoutMs?: number
}

/** Stable error codes of the client itself (everything else is an errno or passes through). */
export const FileClientErrorCode = {
  /** The client was shut down (or its actor stopped). */
  CLOSED: 'ERR_CLIENT_CLOSED',
  /** connectFileClient could not reach mgmtd or find a meta server. */
  CONNECT: 'ERR_CLIENT_CONNECT',
} as const
