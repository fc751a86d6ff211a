/**
 * One FUSE session: the state of a mount (its FileClient, the kernel's inode table, open handles,
 * lock waiters) and the dispatch of each request to its operation (ops-*.ts). `serve(bytes, dev)`
 * decodes one request as read from a queue and answers it on that queue (the kernel matches a
 * reply to the fd that read the request), asynchronously: many requests are in flight at once,
 * each answered when its FileClient call settles.
 *
 * Replies are encoded into one shared buffer and written at once (encode and write are one
 * synchronous step, so nothing else can use the buffer in between); a READ encodes into a
 * buffer of its own, held while the data comes in (READ_BUFFERS_MAX of them, made once and
 * reused: fresh memory is slow on these machines).
 */
import type { Clock } from '../../../runtime/clock.ts'
import type { FuseDevice } from '../../../runtime/fuse-device.ts'
import type { Logger } from '../../../runtime/logger.ts'
import type { Metrics } from '../../../runtime/index.ts'
import { fuseRequestStarted } from './request-metrics.ts'
import type { FileClient, FileStat } from '../file-client.ts'
import { attrOf, errnoOf, inodeOf, isErrnoAnswer } from './attrs.ts'
import type { FuseConfig } from './config.ts'
import { Handles } from './handles.ts'
import { InodeTable, type AttrSnapshot } from './inode-table.ts'
import {
  FuseProtocolError, IN_HEADER_BYTES, InitFlag, OUT_HEADER_BYTES, decodeInHeader, decodeRequest, encodeAttr, encodeEmpty, encodeError, encodeInit,
  expectsReply, type Request,
} from './kernel-protocol.ts'
import { isDirOp, serveDirOp } from './ops-dirs.ts'
import { isEntryOp, serveEntryOp } from './ops-entries.ts'
import { isFileOp, serveFileOp } from './ops-files.ts'
import { isLockOp, LockWaiters, serveLockOp } from './ops-locks.ts'
import { isXattrOp, serveXattrOp } from './ops-xattr.ts'
import type { LentBytes } from '../lent-bytes.ts'

/** READ replies being filled at once; one more READ waits for a buffer. */
export const READ_BUFFERS_MAX = 64

/**
 * What the kernel may use, of what it offers in INIT. HANDLE_KILLPRIV_V2: the mount clears
 * S_ISUID/S_ISGID on write, truncate and chown (kill-privs.ts), which spares a GETXATTR per write.
 */
const WANTED_FLAGS = InitFlag.ASYNC_READ | InitFlag.POSIX_LOCKS | InitFlag.FLOCK_LOCKS | InitFlag.ATOMIC_O_TRUNC | InitFlag.BIG_WRITES |
  InitFlag.MAX_PAGES | InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO | InitFlag.PARALLEL_DIROPS | InitFlag.AUTO_INVAL_DATA |
  InitFlag.ASYNC_DIO | InitFlag.CACHE_SYMLINKS | InitFlag.HANDLE_KILLPRIV_V2

export interface SessionCounters {
  requests: number
  errors: number
  /** Failures that were not the file system's answer (answered EIO). */
  ioErrors: number
  bytesRead: number
  bytesWritten: number
  notifications: number
  pageCacheDrops: number
  revalidations: number
  byKind: Record<string, number>
}

export interface SessionOptions {
  readonly client: FileClient
  readonly config: FuseConfig
  readonly clock: Clock
  readonly log: Logger
  /** Where requests are counted and timed per opcode (the mount actor's ctx.metrics). */
  readonly metrics?: Metrics
}

export class FuseSession {
  readonly client: FileClient
  readonly config: FuseConfig
  readonly clock: Clock
  readonly log: Logger
  readonly table: InodeTable
  readonly handles = new Handles()
  readonly locks: LockWaiters
  readonly counters: SessionCounters = { requests: 0, errors: 0, ioErrors: 0, bytesRead: 0, bytesWritten: 0, notifications: 0, pageCacheDrops: 0, revalidations: 0, byKind: {} }
  /** Set by INIT: the kernel's protocol minor and the flags both sides use. */
  kernel: { minor: number; flags: bigint } | null = null
  destroyed = false
  readonly #out: Uint8Array
  readonly #metrics: Metrics | null
  readonly #readBuffers: Uint8Array[] = []
  #readBuffersMade = 0
  readonly #readWaiters: Array<(buffer: Uint8Array) => void> = []

  constructor(options: SessionOptions) {
    this.client = options.client
    this.config = options.config
    this.clock = options.clock
    this.log = options.log
    this.#metrics = options.metrics ?? null
    this.table = new InodeTable(options.config.revalidateEntriesMax)
    this.locks = new LockWaiters(options.config.lockWaitersMax)
    this.#out = new Uint8Array(options.config.maxWriteBytes + OUT_HEADER_BYTES)
  }

  /**
   * Decodes one request as read from `dev`; null when it could not be (it was answered with an
   * error already). The request may point into `bytes` (WRITE's data): see `needsBytes`.
   */
  decode(bytes: Uint8Array, dev: FuseDevice): Request | null {
    try {
      const request = decodeRequest(bytes)
      // SETXATTR's value is a view too, and tiny: copy it so the read buffer can go back at once.
      if (request.kind === 'SETXATTR') request.value = request.value.slice()
      return request
    } catch (error) {
      this.#undecodable(bytes, dev, error)
      return null
    }
  }

  /** Whether `request` still reads the buffer it was decoded from (only WRITE: its data). */
  static needsBytes(request: Request): boolean {
    return request.kind === 'WRITE'
  }

  /**
   * Answers one decoded request on `dev` (never rejects: a failure is the request's errno reply).
   * `lent`: a WRITE's data as lent from the slot it was read into (request-slot.ts).
   */
  async handle(request: Request, dev: FuseDevice, lent?: LentBytes): Promise<void> {
    this.counters.requests++
    const kind = request.kind === 'OTHER' ? String(request.name ?? request.header.opcode) : request.kind
    this.counters.byKind[kind] = (this.counters.byKind[kind] ?? 0) + 1
    const metered = this.#metrics === null ? null : fuseRequestStarted(this.#metrics, this.clock, kind)
    try {
      await this.#dispatch(request, dev, lent)
      metered?.('ok')
    } catch (error) {
      if (!expectsReply(request)) return
      const errno = errnoOf(error)
      metered?.(errno)
      this.counters.errors++
      if (!isErrnoAnswer(error)) {
        this.counters.ioErrors++
        this.log.warn({ evt: 'FuseRequestFailed', op: kind, nodeid: String(request.header.nodeid), err: (error as Error).message, code: (error as { code?: string }).code })
      }
      try {
        this.reply(dev, (out) => encodeError(out, request.header.unique, errno))
      } catch (replyError) {
        this.log.warn({ evt: 'FuseReplyFailed', op: kind, err: (replyError as Error).message })
      }
    }
  }

  /** decode + handle, for callers that keep `bytes` until it settles. */
  async serve(bytes: Uint8Array, dev: FuseDevice): Promise<void> {
    const request = this.decode(bytes, dev)
    if (request !== null) await this.handle(request, dev)
  }

  #undecodable(bytes: Uint8Array, dev: FuseDevice, error: unknown): void {
    this.counters.errors++
    const errno = error instanceof FuseProtocolError ? error.errno : 'EIO'
    this.log.warn({ evt: 'FuseBadRequest', err: (error as Error).message })
    if (bytes.byteLength < IN_HEADER_BYTES) return
    const header = decodeInHeader(bytes)
    this.reply(dev, (out) => encodeError(out, header.unique, errno))
  }

  async #dispatch(r: Request, dev: FuseDevice, lent: LentBytes | undefined): Promise<void> {
    if (r.kind === 'INIT') return this.#init(r, dev)
    if (this.kernel === null) throw Object.assign(new Error(`${r.kind} before INIT`), { code: 'EIO' })
    if (isEntryOp(r)) return serveEntryOp(this, r, dev)
    if (isFileOp(r)) return serveFileOp(this, r, dev, lent)
    if (isDirOp(r)) return serveDirOp(this, r, dev)
    if (isXattrOp(r)) return serveXattrOp(this, r, dev)
    if (isLockOp(r)) return serveLockOp(this, r, dev)
    switch (r.kind) {
      case 'FORGET': return this.table.forget(r.header.nodeid, r.nlookup)
      case 'BATCH_FORGET': for (const item of r.items) this.table.forget(item.nodeid, item.nlookup); return
      case 'INTERRUPT': this.locks.interrupt(r.interruptedUnique); return
      case 'DESTROY': this.destroyed = true; return this.reply(dev, (out) => encodeEmpty(out, r.header.unique))
      case 'SYNCFS': await Promise.all(this.handles.files().filter((f) => f.dirty).map((f) => this.client.flush(f.handle))); return this.reply(dev, (out) => encodeEmpty(out, r.header.unique))
      case 'OTHER': {
        // ioctl: no t3fs ioctls yet (ENOTTY, as for any unknown ioctl); O_TMPFILE: not supported;
        // the rest (BMAP, POLL, COPY_FILE_RANGE, STATX, ...): ENOSYS makes the kernel fall back.
        const errno = r.name === 'IOCTL' ? 'ENOTTY' : r.name === 'TMPFILE' ? 'EOPNOTSUPP' : 'ENOSYS'
        return this.reply(dev, (out) => encodeError(out, r.header.unique, errno))
      }
    }
  }

  #init(r: Extract<Request, { kind: 'INIT' }>, dev: FuseDevice): void {
    if (r.major !== 7) {
      // A kernel speaking another major: reply with ours, it decides (it will send INIT again or give up).
      this.log.warn({ evt: 'FuseInitMajor', major: r.major, minor: r.minor })
    }
    const flags = r.flags & WANTED_FLAGS
    this.kernel = { minor: r.minor, flags }
    const maxWrite = this.config.maxWriteBytes
    this.reply(dev, (out) => encodeInit(out, r.header.unique, {
      kernelMinor: r.minor, maxReadahead: Math.max(r.maxReadahead, 0), flags, maxWrite, maxPages: Math.ceil(maxWrite / 4096),
      maxBackground: 64, congestionThreshold: 48, timeGranNs: 1_000_000,
    }))
    this.log.info({ evt: 'FuseInit', kernel: `${r.major}.${r.minor}`, flags: `0x${flags.toString(16)}`, maxWrite })
  }

  /** Encodes into the shared buffer and writes to `dev` in one synchronous step. */
  reply(dev: FuseDevice, encode: (out: Uint8Array) => number): void {
    const length = encode(this.#out)
    dev.reply(this.#out, length)
  }

  /** The attribute reply of a stat; records what the kernel was told. */
  replyAttr(dev: FuseDevice, unique: bigint, nodeid: bigint, stat: FileStat): void {
    this.table.sawAttrs(nodeid, snapshotOf(stat))
    this.reply(dev, (out) => encodeAttr(out, unique, { attrValidSec: this.attrTimeoutSec(stat), attr: attrOf(stat) }))
  }

  attrTimeoutSec(stat: FileStat): number {
    return (stat.type === 'symlink' ? this.config.symlinkTimeoutMs : this.config.attrTimeoutMs) / 1000
  }

  /** The current attributes of a node: through the FileClient, so this mount's unflushed writes count. */
  stat(nodeid: bigint): Promise<FileStat> {
    return this.client.stat({ inode: inodeOf(nodeid) }, { follow: false })
  }

  /** A READ reply buffer (max_read + header), made once and reused; waits while all are in use. */
  async readBuffer(): Promise<Uint8Array> {
    const free = this.#readBuffers.pop()
    if (free !== undefined) return free
    if (this.#readBuffersMade < READ_BUFFERS_MAX) {
      this.#readBuffersMade++
      return new Uint8Array(this.config.maxWriteBytes + OUT_HEADER_BYTES)
    }
    return new Promise((resolve) => this.#readWaiters.push(resolve))
  }

  releaseReadBuffer(buffer: Uint8Array): void {
    const waiter = this.#readWaiters.shift()
    if (waiter !== undefined) waiter(buffer)
    else this.#readBuffers.push(buffer)
  }
}

export function snapshotOf(stat: FileStat): AttrSnapshot {
  return { type: stat.type, sizeBytes: stat.sizeBytes, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, perm: stat.perm, uid: stat.uid, gid: stat.gid, nlink: stat.nlink }
}
