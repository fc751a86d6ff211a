/**
 * The FileClient (file-client.ts says what it promises): handles and their files, the data path
 * (write-behind, read-ahead, chunk I/O through the storage client) and the meta calls that go
 * with them (sessions, lengths, truncate). It works through the context of the client's actor
 * (file-client-actor.ts), which also drives its timers: routing refresh, mgmtd registration and
 * the periodic length sync of dirty files.
 */
import type { ActorContext, ActorRef, Message } from '../../runtime/actor.ts'
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import type { MgmtdMsg } from '../mgmtd/protocol.ts'
import { isErrno, MetaClient, type FileInode, type Inode, type InodeId, type OpenResult } from '../meta/index.ts'
import { StorageClient } from '../storage/client/storage-client.ts'
import { ChunkIo, type ChunkIoCounters } from './chunk-io.ts'
import { badArgument, checkOffset, checkPerm, clientClosed, errnoError } from './client-errors.ts'
import { resolveClientOptions, type ResolvedClientOptions } from './client-options.ts'
import type { DirEntry, FileClient, FileClientOptions, FileClientStats, FileHandle, FilePath, FileStat, FileTarget, MkdirOptions, OpenOptions, ReadOptions, ReaddirOptions, ReaddirResult, RenameOptions, SetAttrOptions } from './file-client.ts'
import { toFileStat } from './file-stat.ts'
import { IoBuffers } from './io-buffers.ts'
import { Limiter } from './limiter.ts'
import * as ns from './namespace.ts'
import { OpenFile } from './open-file.ts'
import { ReadAhead } from './read-ahead.ts'
import type { LentBytes } from './lent-bytes.ts'

/** Open handles of one client, at most. */
export const openHandlesMax = 1 << 20
/** Chunk I/Os waiting for a slot, at most. */
const ioWaitersMax = 1 << 20

interface OpenHandle {
  readonly handle: FileHandle
  readonly file: OpenFile
  /** The meta write session (write opens). */
  readonly session: string | null
  readonly readAhead: ReadAhead | null
}

export class FileClientImpl implements FileClient {
  readonly meta: MetaClient
  readonly storage: StorageClient
  private readonly io: ChunkIo
  private readonly files = new Map<InodeId, OpenFile>()
  private readonly handles = new Map<number, OpenHandle>()
  private readonly counters: ChunkIoCounters & { readAheadHits: number } = { chunkWrites: 0, chunkReads: 0, bytesWritten: 0, lentBytesWritten: 0, bytesRead: 0, readAheadHits: 0 }
  private nextHandle = 1
  private closed = false
  private syncing = false

  private constructor(
    readonly clientId: string,
    private readonly ctx: ActorContext<Message>,
    private readonly config: ResolvedClientOptions,
    private readonly options: FileClientOptions,
    private readonly buffers: IoBuffers,
    storage: StorageClient,
    private readonly stopActor: () => Promise<void>,
  ) {
    this.storage = storage
    this.meta = new MetaClient({ servers: options.meta, clientId, user: config.user, clock: ctx.clock, random: ctx.random, timeoutMs: Math.min(config.requestTimeoutMs, 5_000) })
    this.io = new ChunkIo(storage, buffers, new Limiter(config.maxInFlightIos, ioWaitersMax, 'chunk I/Os'), this.counters)
  }

  /** Builds the client on its actor's context: I/O buffers, storage client, first routing and registration. */
  static async start(ctx: ActorContext<Message>, options: FileClientOptions, stopActor: () => Promise<void>): Promise<FileClientImpl> {
    const config = resolveClientOptions(options)
    const clientId = options.clientId ?? `client-${ctx.self.address.node}-${ctx.random.int(0x7fffffff).toString(36)}${ctx.random.int(0x7fffffff).toString(36)}`
    const largest = ctx.buffers?.largestBytes ?? 0
    if (config.writeBufferBytes > largest) throw badArgument('writeBufferBytes', config.writeBufferBytes, `at most the largest pool slot of the client's node (${largest} bytes)`)
    const ioBytes = Math.max(config.writeBufferBytes, Math.min(largest, 1024 * 1024))
    let client: FileClientImpl | null = null
    const buffers = await IoBuffers.create(ctx, config.ioBuffers, ioBytes, config.dataMode === 'inline', () => client?.relievePressure())
    const storage = new StorageClient(ctx, { clientId, mgmtds: [...options.mgmtd], requestTimeoutMs: config.requestTimeoutMs, retryBudgetMs: config.retryBudgetMs, dataMode: config.dataMode })
    client = new FileClientImpl(clientId, ctx, config, options, buffers, storage, stopActor)
    try {
      await storage.refreshRouting()
      await client.extendSession(true)
    } catch (error) {
      await buffers.close(ctx)
      const e = toT3fsError(error)
      throw new T3fsError('ERR_CLIENT_CONNECT', `the FileClient could not reach mgmtd: ${e.message}`, { cause: e.code })
    }
    return client
  }

  // ---- the actor's timers --------------------------------------------------------------------

  get mgmtds(): readonly ActorRef<MgmtdMsg>[] {
    return this.options.mgmtd
  }

  get sessionExtendIntervalMs(): number {
    return this.config.sessionExtendIntervalMs
  }

  get syncIntervalMs(): number {
    return this.config.syncIntervalMs
  }

  /** Registers (or renews) this client with mgmtd, so meta keeps its sessions. */
  async extendSession(mustSucceed = false): Promise<void> {
    let last: unknown = null
    for (const m of this.options.mgmtd) {
      try {
        await this.ctx.ask(m, { type: 'extend-client-session', clientId: this.clientId, nodeId: this.ctx.self.address.node, description: this.config.description } as MgmtdMsg, { timeoutMs: this.config.requestTimeoutMs })
        return
      } catch (error) {
        last = error
      }
    }
    if (mustSucceed) throw last
  }

  /** The periodic sync (3FS's periodicSyncScan): flush dirty files and tell meta their length hints. */
  async syncDirty(): Promise<void> {
    if (this.syncing || this.closed) return
    this.syncing = true
    try {
      for (const file of [...this.files.values()]) {
        if (!file.dirty) continue
        await file.exclusive(() => file.writes.flushAll(true)) // an error stays for the next write/flush/fsync/close
        if (file.localEnd > file.reportedEnd && file.writes.idle) {
          const hint = { length: file.localEnd, truncateVer: file.inode.file.truncateVer }
          const inode = await this.meta.request({ type: 'sync', inode: file.inode.id, updateLength: true, lengthHint: hint }).catch(() => null)
          if (inode !== null) file.adopt(inode)
        }
      }
    } finally {
      this.syncing = false
    }
  }

  /** I/O buffers ran out: send every gathering write-behind buffer on its way (they come back when acknowledged). */
  relievePressure(): void {
    for (const file of this.files.values()) file.writes.flushActive()
  }

  // ---- files ---------------------------------------------------------------------------------

  async open(target: FileTarget, options: OpenOptions = {}): Promise<FileHandle> {
    this.checkOpen()
    const access = options.access ?? 'read'
    if (access !== 'read' && access !== 'write' && access !== 'readwrite') throw badArgument('access', access, '"read" | "write" | "readwrite"')
    if (this.handles.size >= openHandlesMax) throw new T3fsError('EMFILE', `EMFILE: ${this.handles.size} handles are open in this client (at most ${openHandlesMax}); close some`, { errno: 24 })
    const session = access === 'read' ? undefined : this.newSessionId()
    const flags = { access, ...(options.excl === true ? { excl: true } : {}), ...(options.trunc === true ? { trunc: true } : {}), ...(options.nofollow === true ? { nofollow: true } : {}) }
    let result: OpenResult
    if (options.create === true) {
      if (typeof target === 'object' && target !== null && 'inode' in target) throw badArgument('target', target, 'a path (create names a new entry)')
      const perm = checkPerm('perm', options.perm ?? 0o644)
      result = await this.meta.request({ type: 'create', path: ns.pathAt(target), flags, perm, ...(session === undefined ? {} : { session }), ...(options.layout === undefined ? {} : { layout: options.layout }) })
    } else {
      result = await this.meta.request({ type: 'open', ...ns.targetFields(target), flags, ...(session === undefined ? {} : { session }) })
    }
    const inode = result.inode
    if (inode.type !== 'file') {
      if (session !== undefined) await this.meta.request({ type: 'close', inode: inode.id, session, updateLength: false }).catch(() => {})
      throw errnoError(inode.type === 'directory' ? 'EISDIR' : 'EINVAL', `inode ${inode.id} is a ${inode.type}, not a file (use readdir / readlink)`, { inode: inode.id })
    }
    return this.addHandle(inode, access, session ?? null, options, result)
  }

  private async addHandle(inode: FileInode, access: OpenOptions['access'] & string, session: string | null, options: OpenOptions, result: OpenResult): Promise<FileHandle> {
    let file = this.files.get(inode.id)
    if (file === undefined) {
      file = new OpenFile(inode, { io: this.io, buffers: this.buffers, capacityBytes: this.config.writeBufferBytes, inFlightMax: this.config.writeBuffersInFlight, mutants: this.config.mutants })
      this.files.set(inode.id, file)
    } else {
      file.adopt(inode)
    }
    file.handles++
    const handle: FileHandle = { id: this.nextHandle++, inode: inode.id, access, append: options.append === true, direct: options.direct === true, chunkSizeBytes: inode.file.layout.chunkSizeBytes, created: result.created, sizeBytes: inode.file.length, mtimeMs: inode.mtimeMs }
    const readAhead = handle.direct || this.config.readAheadBytes === 0 || access === 'write' ? null : new ReadAhead({ io: this.io, buffers: this.buffers, windowBytes: this.config.readAheadBytes, blockBytes: this.buffers.sizeBytes, onHit: (n) => { this.counters.readAheadHits++; void n } }, () => file.geometry)
    if (readAhead !== null) file.readAheads.add(readAhead)
    this.handles.set(handle.id, { handle, file, session, readAhead })
    if (result.needTruncate) {
      try {
        await this.truncateOpen(file, 0)
      } catch (error) {
        await this.close(handle).catch(() => {})
        throw error
      }
    }
    return handle
  }

  async create(path: FilePath, perm = 0o644, options: Omit<OpenOptions, 'create' | 'perm'> = {}): Promise<FileHandle> {
    return this.open(path, { access: 'readwrite', ...options, create: true, perm })
  }

  async read(handle: FileHandle, into: Uint8Array, position: number, length?: number, intoOffset = 0, options: ReadOptions = {}): Promise<number> {
    const h = this.handleOf(handle)
    if (h.handle.access === 'write') throw errnoError('EBADF', `handle ${handle.id} is open for writing only`, { handle: handle.id })
    if (!(into instanceof Uint8Array)) throw badArgument('into', into, 'a Uint8Array (or Buffer)')
    checkOffset('position', position)
    checkOffset('intoOffset', intoOffset)
    const n = length ?? into.length - intoOffset
    checkOffset('length', n)
    if (intoOffset + n > into.length) throw badArgument('length', n, `at most into.length - intoOffset = ${into.length - intoOffset}`)
    if (options.region !== undefined && (options.region.node !== this.ctx.self.address.node || options.region.length !== into.length)) {
      throw badArgument('options.region', options.region, `a region of this node (${this.ctx.self.address.node}) of into.length = ${into.length} bytes`)
    }
    if (n === 0) return 0
    const file = h.file
    if (!file.writes.idle) await file.exclusive(() => file.writes.flushAll(true))
    const known = file.length
    let done = 0
    if (h.readAhead !== null) {
      const r = await h.readAhead.read(position, n, into, intoOffset, known)
      if (r.ended || r.bytes === n) return r.bytes
      done = r.bytes
    }
    const end = await this.io.readInto(file.geometry, position + done, n - done, into, intoOffset + done, options.region ?? null)
    return done + Math.max(0, Math.min(n - done, known - position - done), end)
  }

  async write(handle: FileHandle, data: Uint8Array, position: number, lent?: LentBytes): Promise<number> {
    const h = this.handleOf(handle)
    if (h.handle.access === 'read') throw errnoError('EBADF', `handle ${handle.id} is open for reading only`, { handle: handle.id })
    if (!(data instanceof Uint8Array)) throw badArgument('data', data, 'a Uint8Array (or Buffer)')
    if (!h.handle.append) checkOffset('position', position)
    if (data.length === 0) return 0
    const file = h.file
    await file.exclusive(async () => {
      const at = h.handle.append ? file.length : position
      if (!Number.isSafeInteger(at + data.length)) throw errnoError('EFBIG', `a write at ${at} of ${data.length} bytes goes past the largest offset`, { inode: file.inode.id })
      await this.widenStripe(file, at, data.length)
      file.noteWrite(at + data.length)
      await file.writes.write(at, data, h.handle.direct, lent)
    })
    return data.length
  }

  /** Dynamic stripe (reference/3fs.md §2.2): before writing a chunk past the active chains, meta widens them. */
  private async widenStripe(file: OpenFile, position: number, length: number): Promise<void> {
    const { layout, dynStripe } = file.inode.file
    if (dynStripe === 0 || dynStripe >= layout.stripeSize) return
    const first = Math.floor(position / layout.chunkSizeBytes)
    const last = Math.floor((position + length - 1) / layout.chunkSizeBytes)
    const widest = last - first + 1 >= layout.stripeSize ? layout.stripeSize - 1 : Math.max(...Array.from({ length: last - first + 1 }, (_, i) => (first + i) % layout.stripeSize))
    for (let rounds = 0; file.inode.file.dynStripe !== 0 && widest >= file.inode.file.dynStripe && rounds < 32; rounds++) {
      file.adopt(await this.meta.request({ type: 'set-attr', inode: file.inode.id, attrs: { extendStripe: true } }))
    }
  }

  async flush(handle: FileHandle): Promise<void> {
    const file = this.handleOf(handle).file
    await file.exclusive(() => file.writes.flushAll())
  }

  async fsync(handle: FileHandle): Promise<void> {
    const file = this.handleOf(handle).file
    await file.exclusive(() => file.writes.flushAll())
    const inode = await this.withLength(file, (hint) => this.meta.request({ type: 'sync', inode: file.inode.id, updateLength: true, ...(hint === null ? {} : { lengthHint: hint }) }))
    file.adopt(inode)
  }

  async close(handle: FileHandle): Promise<void> {
    const h = this.handles.get(handle?.id)
    if (h === undefined) return
    this.handles.delete(handle.id)
    const file = h.file
    let failure: unknown = null
    await file.exclusive(() => file.writes.flushAll()).catch((e: unknown) => { failure = e })
    try {
      if (h.session !== null) {
        const updateLength = file.written
        const inode = await this.withLength(file, (hint) => this.meta.request({ type: 'close', inode: file.inode.id, session: h.session!, updateLength, ...(hint === null || !updateLength ? {} : { lengthHint: hint }) }))
        file.adopt(inode)
      }
    } finally {
      h.readAhead?.drop()
      if (h.readAhead !== null) file.readAheads.delete(h.readAhead)
      if (--file.handles === 0 && this.files.get(file.inode.id) === file) this.files.delete(file.inode.id)
    }
    if (failure !== null) throw failure
  }

  /**
   * A close or sync: exact length first (meta asks storage) unless configured for hints; when meta
   * cannot get the exact length (its storage unreachable: EIO), this client's hint instead — every
   * byte it wrote is acknowledged by then, so the hint is a true lower bound.
   */
  private async withLength(file: OpenFile, send: (hint: { length: number; truncateVer: number } | null) => Promise<Inode>): Promise<Inode> {
    const hint = { length: file.localEnd, truncateVer: file.inode.file.truncateVer }
    if (this.config.lengthOnClose === 'hint') return send(hint)
    try {
      return await send(null)
    } catch (error) {
      if (!isErrno(error, 'EIO')) throw error
      this.ctx.log.warn({ evt: 'ClientExactLengthFailed', inode: file.inode.id, err: (error as Error).message }, 'exact length unavailable; sent the length hint')
      return send(hint)
    }
  }

  async fstat(handle: FileHandle): Promise<FileStat> {
    const h = this.handleOf(handle)
    return ns.statOf(this.nsEnv, await this.meta.request({ type: 'stat', inode: h.file.inode.id }))
  }

  async truncate(target: FileTarget | FileHandle, sizeBytes: number): Promise<FileStat> {
    this.checkOpen()
    checkOffset('sizeBytes', sizeBytes)
    const inodeId = isHandle(target) ? this.handleOf(target).file.inode.id : (await this.meta.request({ type: 'stat', ...ns.targetFields(target as FileTarget), follow: true })).id
    const file = this.files.get(inodeId)
    if (file !== undefined) return toFileStat(await file.exclusive(() => this.truncateOpen(file, sizeBytes)), file.length)
    return ns.statOf(this.nsEnv, await this.meta.request({ type: 'truncate', inode: inodeId, length: sizeBytes }))
  }

  /** Truncate of a file this client has open: its buffered bytes go first, its read-aheads are dropped. Call inside `exclusive`. */
  private async truncateOpen(file: OpenFile, sizeBytes: number): Promise<Inode> {
    await file.writes.flushAll().catch((e: unknown) => { if (sizeBytes > 0) throw e })
    file.dropReadAheads()
    // Meta decides between cutting and extending the last chunk from the length it knows: tell it ours first.
    if (file.localEnd > file.reportedEnd) {
      file.adopt(await this.meta.request({ type: 'sync', inode: file.inode.id, updateLength: true, lengthHint: { length: file.localEnd, truncateVer: file.inode.file.truncateVer } }))
    }
    const inode = await this.meta.request({ type: 'truncate', inode: file.inode.id, length: sizeBytes })
    file.adopt(inode)
    file.localEnd = sizeBytes
    file.reportedEnd = sizeBytes
    return inode
  }

  // ---- namespace -----------------------------------------------------------------------------

  private get nsEnv(): ns.NamespaceEnv {
    this.checkOpen()
    return { meta: this.meta, files: this.files }
  }

  async stat(target: FileTarget, options: { readonly follow?: boolean } = {}): Promise<FileStat> {
    return ns.stat(this.nsEnv, target, options.follow ?? true)
  }

  async readdir(dir: FileTarget, options?: ReaddirOptions): Promise<ReaddirResult> {
    return ns.readdir(this.nsEnv, dir, options)
  }

  async readdirAll(dir: FileTarget, options?: { readonly withStat?: boolean; readonly maxEntries?: number }): Promise<DirEntry[]> {
    return ns.readdirAll(this.nsEnv, dir, options)
  }

  async mkdir(path: FilePath, options?: MkdirOptions): Promise<FileStat> {
    return ns.mkdir(this.nsEnv, path, options)
  }

  async rmdir(path: FilePath): Promise<void> {
    return ns.remove(this.nsEnv, path, 'directory')
  }

  async unlink(path: FilePath): Promise<void> {
    return ns.remove(this.nsEnv, path, 'file')
  }

  async removeRecursive(path: FilePath): Promise<void> {
    return ns.remove(this.nsEnv, path, 'tree')
  }

  async rename(from: FilePath, to: FilePath, options?: RenameOptions): Promise<void> {
    return ns.rename(this.nsEnv, from, to, options)
  }

  async symlink(target: string, path: FilePath): Promise<FileStat> {
    return ns.symlink(this.nsEnv, target, path)
  }

  async readlink(path: FilePath): Promise<string> {
    return ns.readlink(this.nsEnv, path)
  }

  async link(existing: FilePath, newPath: FilePath): Promise<FileStat> {
    return ns.link(this.nsEnv, existing, newPath)
  }

  async setattr(target: FileTarget, attrs: SetAttrOptions): Promise<FileStat> {
    if (typeof attrs !== 'object' || attrs === null) throw badArgument('attrs', attrs, '{ perm?, uid?, gid?, atimeMs?, mtimeMs?, sizeBytes? }')
    let result: FileStat | null = null
    if (attrs.sizeBytes !== undefined) result = await this.truncate(target, attrs.sizeBytes)
    const changed = await ns.setAttrFields(this.nsEnv, result === null ? target : { inode: result.inode }, attrs)
    return changed ?? result ?? this.stat(target)
  }

  async realpath(target: FileTarget): Promise<string> {
    return this.meta.request({ type: 'get-real-path', ...ns.targetFields(target) })
  }

  async statfs(): ReturnType<FileClient['statfs']> {
    this.checkOpen()
    return this.meta.request({ type: 'stat-fs' })
  }

  async lockDirectory(dir: FileTarget, action: Parameters<FileClient['lockDirectory']>[1]): Promise<void> {
    const t = ns.targetFields(dir, 'dir')
    const inode = 'inode' in t ? t.inode : (await this.meta.request({ type: 'stat', path: t.path, follow: true })).id
    await this.meta.request({ type: 'lock-directory', inode, action })
  }

  // ---- the client ----------------------------------------------------------------------------

  stats(): FileClientStats {
    let bufferedBytes = 0
    for (const f of this.files.values()) bufferedBytes += f.writes.pendingBytes
    return { openHandles: this.handles.size, openFiles: this.files.size, bufferedBytes, ...this.counters, storageRetries: this.storage.counters.retries, metaRetries: this.meta.retries }
  }

  async shutdown(): Promise<void> {
    if (this.closed) return
    const failures: unknown[] = []
    for (const h of [...this.handles.values()]) await this.close(h.handle).catch((e: unknown) => failures.push(e))
    this.closed = true
    await this.buffers.close(this.ctx)
    for (const m of this.options.mgmtd) {
      try {
        this.ctx.tell(m, { type: 'unsubscribe', subscriber: this.ctx.self as never })
      } catch {
        // mgmtd unreachable: it forgets dead subscribers on its own.
      }
    }
    await this.stopActor()
    if (failures.length > 0) throw failures[0]
  }

  private checkOpen(): void {
    if (this.closed) throw clientClosed()
  }

  private handleOf(handle: FileHandle): OpenHandle {
    this.checkOpen()
    const h = typeof handle === 'object' && handle !== null ? this.handles.get(handle.id) : undefined
    if (h === undefined) throw errnoError('EBADF', `handle ${JSON.stringify((handle as FileHandle | null)?.id ?? handle)} is not open in this client`, {})
    return h
  }

  private newSessionId(): string {
    let id = ''
    for (let i = 0; i < 4; i++) id += this.ctx.random.int(0x1_0000_0000).toString(16).padStart(8, '0')
    return id
  }
}

function isHandle(t: unknown): t is FileHandle {
  return typeof t === 'object' && t !== null && 'id' in t && 'inode' in t && 'access' in t
}
