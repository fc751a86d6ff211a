/**
 * SimDisk: the Disk every simulated node gets, seeded, adversarial and faithful. Whatever a real
 * disk and kernel may do after a power loss, it may do; what they never do, it never does.
 *
 * - Two images. Reads see the volatile image (the page cache); a crash starts from the durable one
 *   (the media). `sync()` (fsync) and `sync({ dataOnly })` (fdatasync) make one file's data and size
 *   durable; a file opened `dsync` makes each write's sectors and the size durable as it completes.
 * - Names (create, rename, unlink, mkdir, rmdir) become durable only when a directory they touch is
 *   synced (`syncDir`, or `sync()` on an open directory), strictly as POSIX says: a fsynced file
 *   whose directory was never synced may vanish. See sim-disk-namespace.ts for the exact rule.
 * - `crash()`: every open file of the old life is dead (EBADF); unsynced names survive as a prefix
 *   of the order they happened in; unsynced writes are lost or torn at sector granularity (each
 *   sector its old content or one of its new ones); see sim-disk-file.ts.
 * - Operations in flight at a crash never settle: their promises stay pending for ever. A power
 *   loss ends the process, so none of the old life's code runs again; rejecting them instead would
 *   run the dead node's error handlers after the crash, where they could act on the new life's disk
 *   (a thing no real crash does). Each of them reached the image before the crash, or not (seeded).
 * - Faults (seeded rates and one-shot calls): EIO on read, write and sync (per path prefix too),
 *   ENOSPC, latency (effects apply at completion, so concurrent operations complete out of order
 *   as on io_uring), a flipped bit on read, decay of a durable sector at rest.
 * - Direct I/O: the same checks as O_DIRECT (checkIoRange with `alignment`). Memory addresses are
 *   checked as far as JavaScript can see them: a PooledBuffer's slot is aligned to
 *   `slotAlignmentBytes` (alignments above that are refused); a Uint8Array must have an aligned
 *   `byteOffset`. SimDisk cannot see where V8 put the ArrayBuffer itself, so a fresh Uint8Array
 *   passes here even though its real address may be unaligned (UringDisk then refuses or bounces it):
 *   use pool slots for direct I/O.
 *
 * Deterministic: every choice comes from the given Random, in the order of calls and completions,
 * so the same seed and the same calls give the same images and counters, byte for byte. With no
 * latency in the plan every operation settles at once (a settled promise), so tests on a
 * VirtualClock need not step time for each disk operation.
 */
import { slotAlignmentBytes } from '../buffer-pool.ts'
import type { Clock, TimerHandle } from '../clock.ts'
import { checkDiskPath, checkIoRange, diskError } from '../disk/disk-path.ts'
import type { Disk, DiskBuffer, DiskCapacity, DiskDirEntry, DiskFile, DiskOpenOptions, DiskStat } from '../disk/disk.ts'
import { invalidOption } from '../errors.ts'
import type { Random } from '../random.ts'
import { SimDiskFaultState, type SimDiskFaultCode, type SimDiskFaultOp, type SimDiskFaults } from './sim-disk-faults.ts'
import { SimFileNode } from './sim-disk-file.ts'
import { compareNames, SimDirNode, SimNamespace, type NamespaceEffect, type SimInode } from './sim-disk-namespace.ts'

export type { SimDiskFaults, SimDiskPathFaults, SimDiskFaultOp, SimDiskFaultCode } from './sim-disk-faults.ts'

export interface SimDiskOptions {
  /** The simulated node's name, for errors and logs. */
  readonly name: string
  readonly clock: Clock
  readonly random: Random
  /** Default 1 GiB. Writes and fallocate that would allocate past it fail with ENOSPC. */
  readonly capacityBytes?: number
  /** What direct I/O must be aligned to (the logical block size). Default 4096. */
  readonly alignment?: number
  /** The unit a crash tears writes at. Default 512. */
  readonly sectorBytes?: number
  /** The allocation unit (statx blocks, fallocate, punch hole). Default 4096. */
  readonly blockBytes?: number
  readonly faults?: SimDiskFaults
}

/** What the last crash did, for tests and simulation output. */
export interface SimDiskCrashReport {
  /** Operations in flight when the power went, and how many of them reached the image anyway. */
  readonly opsInFlight: number
  readonly opsInFlightApplied: number
  /** Unsynced name operations that survived (a prefix of the journal) and that were lost. */
  readonly namespaceOpsKept: number
  readonly namespaceOpsLost: number
  /** Unsynced writes that landed whole, in part (torn), or not at all (or whose file vanished). */
  readonly writesKept: number
  readonly writesTorn: number
  readonly writesLost: number
  /** Unsynced sectors that came back with their old content. */
  readonly sectorsReverted: number
  /** Sectors that decayed at this crash (bitRotAtCrashRate). */
  readonly sectorsRotted: number
}

export interface SimDiskCounters {
  bytesRead: number
  bytesWritten: number
  /** Bytes made durable by sync, fdatasync and O_DSYNC writes (whole sectors). */
  bytesSynced: number
  /** Successful file and directory syncs. */
  syncs: number
  readonly faults: {
    readErrors: number
    writeErrors: number
    syncErrors: number
    /** Every ENOSPC returned, injected or from a full disk. */
    noSpace: number
    readBitFlips: number
    sectorsCorrupted: number
  }
  crashes: number
  lastCrash: SimDiskCrashReport | null
}

/** One entry of an image (see `image()`): what the volatile or the durable namespace holds. */
export interface SimDiskImageEntry {
  readonly path: string
  readonly kind: 'file' | 'directory'
  readonly sizeBytes: number
  readonly allocatedBytes: number
  /** A file's content up to its size; empty for a directory. */
  readonly bytes: Uint8Array
}

/** The largest file a SimDisk holds (ext4's limit with 4 KiB blocks); past it EFBIG. */
export const simFileBytesMax = 2 ** 44
const defaultCapacityBytes = 1024 ** 3

interface Inflight {
  readonly effect: () => unknown
  timer: TimerHandle | null
}

interface FileOps {
  read(h: SimDiskFile, into: DiskBuffer, position: number, length?: number, bufferOffset?: number): Promise<number>
  write(h: SimDiskFile, from: DiskBuffer, position: number, length?: number, bufferOffset?: number): Promise<number>
  sync(h: SimDiskFile, options?: { readonly dataOnly?: boolean }): Promise<void>
  allocate(h: SimDiskFile, position: number, length: number, options?: { readonly keepSize?: boolean }): Promise<void>
  punchHole(h: SimDiskFile, position: number, length: number): Promise<void>
  truncate(h: SimDiskFile, lengthBytes: number): Promise<void>
  stat(h: SimDiskFile): Promise<DiskStat>
  close(h: SimDiskFile): Promise<void>
}

export class SimDisk implements Disk {
  readonly name: string
  readonly alignment: number
  readonly sectorBytes: number
  readonly blockBytes: number
  readonly capacityBytes: number
  readonly counters: SimDiskCounters = {
    bytesRead: 0, bytesWritten: 0, bytesSynced: 0, syncs: 0,
    faults: { readErrors: 0, writeErrors: 0, syncErrors: 0, noSpace: 0, readBitFlips: 0, sectorsCorrupted: 0 },
    crashes: 0, lastCrash: null,
  }
  private readonly clock: Clock
  private readonly random: Random
  private readonly faults: SimDiskFaultState
  private readonly ns: SimNamespace
  private readonly inflight = new Set<Inflight>()
  /** Bumped by each crash: handles of an earlier life are dead. */
  private life = 1
  /** Orders every data and metadata change (the crash's choices depend on it). */
  private seq = 0
  private usedBlocks = 0
  private readonly fileOps: FileOps

  constructor(options: SimDiskOptions) {
    const o = checkOptions(options)
    this.name = o.name
    this.clock = o.clock
    this.random = o.random
    this.alignment = o.alignment
    this.sectorBytes = o.sectorBytes
    this.blockBytes = o.blockBytes
    this.capacityBytes = o.capacityBytes
    this.faults = new SimDiskFaultState(options.faults ?? {})
    this.ns = new SimNamespace(this.clock.now())
    this.fileOps = this.makeFileOps()
  }

  // ---- Disk ----------------------------------------------------------------------------------

  open(path: string, options: DiskOpenOptions = {}): Promise<DiskFile> {
    return guard(() => {
      const segments = checkDiskPath(path)
      const o = checkOpenOptions(options)
      return this.submit(() => this.openNow(path, segments, o))
    })
  }

  mkdir(path: string, options: { readonly recursive?: boolean } = {}): Promise<void> {
    return guard(() => {
      const segments = checkDiskPath(path)
      const recursive = checkFlag(options, 'recursive')
      return this.submit(() => (recursive ? this.mkdirRecursive(path, segments) : this.mkdirOne(path, segments)))
    })
  }

  list(path: string): Promise<DiskDirEntry[]> {
    return guard(() => {
      const segments = checkDiskPath(path)
      return this.submit(() => {
        const dir = this.ns.resolve(segments, path)
        if (dir.kind !== 'directory') throw diskError('ENOTDIR', `${JSON.stringify(path)} is not a directory`, { path })
        return [...dir.entries.keys()].sort(compareNames).map((name) => ({ name, kind: this.ns.nodes.get(dir.entries.get(name)!)!.kind }))
      })
    })
  }

  stat(path: string): Promise<DiskStat> {
    return guard(() => {
      const segments = checkDiskPath(path)
      return this.submit(() => this.statOf(this.ns.resolve(segments, path)))
    })
  }

  rename(from: string, to: string): Promise<void> {
    return guard(() => {
      const fromSegments = checkDiskPath(from, 'from')
      const toSegments = checkDiskPath(to, 'to')
      return this.submit(() => this.renameNow(from, fromSegments, to, toSegments))
    })
  }

  unlink(path: string): Promise<void> {
    return guard(() => {
      const segments = checkDiskPath(path)
      return this.submit(() => {
        if (segments.length === 0) throw diskError('EISDIR', 'the root is a directory', { path })
        const { parent, name, id } = this.ns.lookupParent(segments, path)
        if (id === undefined) throw diskError('ENOENT', `no such file: ${JSON.stringify(path)}`, { path })
        if (this.ns.nodes.get(id)!.kind === 'directory') throw diskError('EISDIR', `${JSON.stringify(path)} is a directory (use rmdir)`, { path })
        this.applyNames([{ dir: parent.id, name, inode: null }])
      })
    })
  }

  rmdir(path: string): Promise<void> {
    return guard(() => {
      const segments = checkDiskPath(path)
      return this.submit(() => {
        if (segments.length === 0) throw diskError('EBUSY', 'the root cannot be removed', { path })
        const { parent, name, id } = this.ns.lookupParent(segments, path)
        if (id === undefined) throw diskError('ENOENT', `no such directory: ${JSON.stringify(path)}`, { path })
        const node = this.ns.nodes.get(id)!
        if (node.kind !== 'directory') throw diskError('ENOTDIR', `${JSON.stringify(path)} is not a directory`, { path })
        if (node.entries.size > 0) throw diskError('ENOTEMPTY', `directory ${JSON.stringify(path)} is not empty`, { path })
        this.applyNames([{ dir: parent.id, name, inode: null }])
      })
    })
  }

  syncDir(path: string): Promise<void> {
    return guard(() => {
      const segments = checkDiskPath(path)
      const fault = this.faults.errorFor('sync', segments, this.random)
      return this.submit(() => {
        const dir = this.ns.resolve(segments, path)
        if (dir.kind !== 'directory') throw diskError('ENOTDIR', `${JSON.stringify(path)} is not a directory`, { path })
        this.syncDirNow(dir, path, fault)
      })
    })
  }

  capacity(): Promise<DiskCapacity> {
    return this.submit(() => ({ totalBytes: this.capacityBytes, freeBytes: Math.max(0, this.capacityBytes - this.usedBlocks * this.blockBytes) }))
  }

  // ---- the simulator's controls ---------------------------------------------------------------

  /**
   * The power goes out (the lead's simulator calls it when the node dies). Returns what happened;
   * the disk is then the new life's: the durable image as the crash left it, no file open.
   */
  crash(): SimDiskCrashReport {
    const inflight = [...this.inflight]
    this.inflight.clear()
    let opsInFlightApplied = 0
    for (const op of inflight) {
      op.timer?.cancel()
      if (this.random.next() < 0.5) {
        opsInFlightApplied++
        try {
          op.effect()
        } catch {
          // It failed before the crash (a coded error nobody will see): it changed what it changed.
        }
      }
    }
    this.life++
    for (const node of this.ns.nodes.values()) node.openCount = 0
    const names = this.ns.crash(this.random)
    let writesLost = 0
    for (const node of this.ns.collect()) if (node.kind === 'file') writesLost += node.unsyncedWrites
    const totals = { writesKept: 0, writesTorn: 0, writesLost, sectorsReverted: 0 }
    this.usedBlocks = 0
    for (const file of this.files()) {
      const r = file.recover(this.random)
      file.linked = true
      this.usedBlocks += file.allocatedBlocks
      totals.writesKept += r.writesKept
      totals.writesTorn += r.writesTorn
      totals.writesLost += r.writesLost
      totals.sectorsReverted += r.sectorsReverted
    }
    const report: SimDiskCrashReport = {
      opsInFlight: inflight.length, opsInFlightApplied,
      namespaceOpsKept: names.kept, namespaceOpsLost: names.lost,
      ...totals, sectorsRotted: this.rotAtCrash(),
    }
    this.counters.crashes++
    this.counters.lastCrash = report
    return report
  }

  /** Replaces the fault plan (rates and latencies) from now on. */
  setFaults(plan: SimDiskFaults): void {
    this.faults.setPlan(plan)
  }

  /**
   * Arms a one-shot fault: the next `times` (default 1) operations of kind `op` on a path under
   * `pathPrefix` (default: any) fail with `code` (EIO; ENOSPC for writes). 'write' covers write and
   * fallocate, 'sync' covers sync, fdatasync and syncDir.
   */
  failNext(op: SimDiskFaultOp, options: { readonly pathPrefix?: string; readonly code?: SimDiskFaultCode; readonly times?: number } = {}): void {
    if (op !== 'read' && op !== 'write' && op !== 'sync') throw invalidOption('op', op, "'read', 'write' or 'sync'")
    this.faults.arm(op, options.pathPrefix ?? '', options.code ?? 'EIO', options.times ?? 1)
  }

  /** Arms a one-shot bit flip: the next read under `pathPrefix` returns one flipped bit. */
  flipNextRead(options: { readonly pathPrefix?: string; readonly times?: number } = {}): void {
    this.faults.arm('flip', options.pathPrefix ?? '', 'EIO', options.times ?? 1)
  }

  /**
   * Media decay at rest: flips one (seeded) bit of the durable sector that holds `position` in the
   * file at `path`. Reads see it unless the sector has unsynced data over it; it survives crashes.
   * Returns the sector and bit, or null when nothing durable lies there.
   */
  corruptSector(path: string, position: number): { readonly sector: number; readonly bit: number } | null {
    const segments = checkDiskPath(path)
    if (!Number.isSafeInteger(position) || position < 0) throw invalidOption('position', position, 'an integer ≥ 0')
    const node = this.ns.resolve(segments, path)
    if (node.kind !== 'file') throw diskError('EISDIR', `${JSON.stringify(path)} is a directory`, { path })
    const bit = this.random.int(this.sectorBytes * 8)
    if (!node.corrupt(position, bit)) return null
    this.counters.faults.sectorsCorrupted++
    return { sector: Math.floor(position / this.sectorBytes), bit }
  }

  /** Every entry of the volatile namespace (what reads see) or the durable one (what a crash starts from). */
  image(view: 'volatile' | 'durable' = 'volatile'): SimDiskImageEntry[] {
    return this.ns.walk(view).map(({ path, node }) => {
      if (node.kind === 'directory') return { path, kind: 'directory', sizeBytes: 0, allocatedBytes: 0, bytes: new Uint8Array(0) }
      const bytes = node.contents(view)
      const blocks = view === 'volatile' ? node.allocatedBlocks : node.durableAllocatedBlocks()
      return { path, kind: 'file', sizeBytes: bytes.length, allocatedBytes: blocks * this.blockBytes, bytes }
    })
  }

  /** Operations issued and not yet completed. */
  get opsInFlight(): number {
    return this.inflight.size
  }

  /** Name operations not yet durable. */
  get unsyncedNameOps(): number {
    return this.ns.journalLength
  }

  /** Bytes allocated to live files (what `capacity()` subtracts). */
  get usedBytes(): number {
    return this.usedBlocks * this.blockBytes
  }

  // ---- scheduling ------------------------------------------------------------------------------

  /** Runs `effect` now (no latency) or when its drawn latency has passed on the clock. */
  private submit<T>(effect: () => T): Promise<T> {
    const delayMs = this.faults.latencyMs(this.random)
    if (delayMs === 0) return guard(() => Promise.resolve(effect()))
    return new Promise<T>((resolve, reject) => {
      const op: Inflight = { effect, timer: null }
      this.inflight.add(op)
      op.timer = this.clock.setTimer(delayMs, () => {
        this.inflight.delete(op)
        try {
          resolve(effect())
        } catch (error) {
          reject(error)
        }
      })
    })
  }

  private files(): SimFileNode[] {
    const files: SimFileNode[] = []
    for (const node of this.ns.nodes.values()) if (node.kind === 'file') files.push(node)
    return files.sort((a, b) => a.id - b.id)
  }

  private rotAtCrash(): number {
    const rate = this.faults.bitRotAtCrashRate
    if (rate === 0) return 0
    let rotted = 0
    for (const file of this.files()) {
      const blocks = file.durableBlocks()
      if (blocks.length === 0 || this.random.next() >= rate) continue
      const block = blocks[this.random.int(blocks.length)]
      const position = block * this.blockBytes + this.random.int(this.blockBytes / this.sectorBytes) * this.sectorBytes
      if (file.corrupt(position, this.random.int(this.sectorBytes * 8))) rotted++
    }
    this.counters.faults.sectorsCorrupted += rotted
    return rotted
  }

  // ---- namespace operations, at completion ----------------------------------------------------

  private openNow(path: string, segments: string[], o: Required<DiskOpenOptions>): SimDiskFile {
    const writable = o.write || o.create || o.truncate
    let node: SimInode
    if (segments.length === 0) {
      if (o.create && o.exclusive) throw diskError('EEXIST', 'the root exists', { path })
      node = this.ns.root
    } else {
      const { parent, name, id } = this.ns.lookupParent(segments, path)
      if (id === undefined) {
        if (!o.create) throw diskError('ENOENT', `no such file: ${JSON.stringify(path)}`, { path })
        node = new SimFileNode(this.ns.allocateId(), this, (file, delta) => this.charge(file, delta), this.clock.now())
        this.ns.add(node)
        this.applyNames([{ dir: parent.id, name, inode: node.id }])
      } else {
        if (o.create && o.exclusive) throw diskError('EEXIST', `${JSON.stringify(path)} exists`, { path })
        node = this.ns.nodes.get(id)!
      }
    }
    if (node.kind === 'directory' && writable) throw diskError('EISDIR', `${JSON.stringify(path)} is a directory`, { path })
    if (o.truncate && node.kind === 'file' && node.size > 0) node.truncate(0, ++this.seq, this.clock.now())
    node.openCount++
    return new SimDiskFile(this.fileOps, path, segments, node, this.life, writable, o.direct, o.dsync)
  }

  private mkdirOne(path: string, segments: string[]): void {
    if (segments.length === 0) throw diskError('EEXIST', 'the root exists', { path })
    const { parent, name, id } = this.ns.lookupParent(segments, path)
    if (id !== undefined) throw diskError('EEXIST', `${JSON.stringify(path)} exists`, { path })
    this.createDir(parent, name)
  }

  private mkdirRecursive(path: string, segments: string[]): void {
    let dir = this.ns.root
    segments.forEach((segment, i) => {
      const id = dir.entries.get(segment)
      if (id === undefined) {
        dir = this.createDir(dir, segment)
        return
      }
      const node = this.ns.nodes.get(id)!
      if (node.kind === 'directory') dir = node
      else if (i === segments.length - 1) throw diskError('EEXIST', `${JSON.stringify(path)} exists and is not a directory`, { path })
      else throw diskError('ENOTDIR', `${JSON.stringify(segments.slice(0, i + 1).join('/'))} is not a directory (on the way to ${JSON.stringify(path)})`, { path })
    })
  }

  private createDir(parent: SimDirNode, name: string): SimDirNode {
    const dir = new SimDirNode(this.ns.allocateId(), this.clock.now())
    this.ns.add(dir)
    this.applyNames([{ dir: parent.id, name, inode: dir.id }])
    return dir
  }

  private renameNow(from: string, fromSegments: string[], to: string, toSegments: string[]): void {
    if (fromSegments.length === 0 || toSegments.length === 0) throw diskError('EBUSY', 'the root cannot be renamed or replaced', { from, to })
    const src = this.ns.lookupParent(fromSegments, from)
    if (src.id === undefined) throw diskError('ENOENT', `no such file or directory: ${JSON.stringify(from)}`, { from, to })
    const dst = this.ns.lookupParent(toSegments, to)
    if (dst.id === src.id) return // the same inode: rename(2) succeeds and does nothing
    const node = this.ns.nodes.get(src.id)!
    if (node.kind === 'directory' && toSegments.length > fromSegments.length && fromSegments.every((s, i) => toSegments[i] === s)) {
      throw diskError('EINVAL', `cannot move directory ${JSON.stringify(from)} into itself (${JSON.stringify(to)})`, { from, to })
    }
    if (dst.id !== undefined) {
      const target = this.ns.nodes.get(dst.id)!
      if (node.kind === 'file' && target.kind === 'directory') throw diskError('EISDIR', `${JSON.stringify(to)} is a directory`, { from, to })
      if (node.kind === 'directory' && target.kind === 'file') throw diskError('ENOTDIR', `${JSON.stringify(to)} is not a directory`, { from, to })
      if (target.kind === 'directory' && target.entries.size > 0) throw diskError('ENOTEMPTY', `directory ${JSON.stringify(to)} is not empty`, { from, to })
    }
    // A directory moved to another parent changes too (its '..'): syncing it commits the move.
    const alsoTouches = node.kind === 'directory' && src.parent !== dst.parent ? [node.id] : []
    this.applyNames([{ dir: src.parent.id, name: src.name, inode: null }, { dir: dst.parent.id, name: dst.name, inode: node.id }], alsoTouches)
  }

  private applyNames(effects: readonly NamespaceEffect[], alsoTouches: readonly number[] = []): void {
    for (const effect of effects) {
      const node = effect.inode === null ? undefined : this.ns.nodes.get(effect.inode)
      if (node?.kind === 'file') this.recount(node, () => { node.linked = true })
    }
    for (const node of this.ns.apply(effects, this.clock.now(), alsoTouches)) {
      if (node.kind === 'file') this.recount(node, () => { node.linked = false })
    }
  }

  private syncDirNow(dir: SimDirNode, path: string, fault: SimDiskFaultCode | null): void {
    if (fault !== null) {
      this.counters.faults.syncErrors++
      throw diskError('EIO', `sync of directory ${JSON.stringify(path)} on ${this.name} failed (injected)`, { path, disk: this.name })
    }
    this.ns.commit(dir.id)
    this.ns.collect()
    this.counters.syncs++
  }

  private statOf(node: SimInode): DiskStat {
    if (node.kind === 'directory') return { kind: 'directory', sizeBytes: 0, allocatedBytes: 0, mtimeMs: node.mtimeMs }
    return { kind: 'file', sizeBytes: node.size, allocatedBytes: node.allocatedBlocks * this.blockBytes, mtimeMs: node.mtimeMs }
  }

  // ---- space -----------------------------------------------------------------------------------

  /** A file's blocks count against capacity while it is named or open. */
  private charge(file: SimFileNode, deltaBlocks: number): void {
    if (file.linked || file.openCount > 0) this.usedBlocks += deltaBlocks
  }

  private recount(file: SimFileNode, change: () => void): void {
    const before = file.linked || file.openCount > 0
    change()
    const after = file.linked || file.openCount > 0
    if (before && !after) this.usedBlocks -= file.allocatedBlocks
    if (!before && after) this.usedBlocks += file.allocatedBlocks
  }

  /** ENOSPC before anything changes when [position, position + length) needs more than is free. */
  private reserve(file: SimFileNode, position: number, length: number, path: string): void {
    const needed = file.blocksNeeded(position, length)
    if ((this.usedBlocks + needed) * this.blockBytes <= this.capacityBytes) return
    this.counters.faults.noSpace++
    throw diskError('ENOSPC', `${this.name} is full: ${needed * this.blockBytes} more bytes needed for ${JSON.stringify(path)}, ${this.capacityBytes - this.usedBlocks * this.blockBytes} free`, {
      path, disk: this.name, neededBytes: needed * this.blockBytes,
    })
  }

  // ---- file operations -------------------------------------------------------------------------

  private makeFileOps(): FileOps {
    return {
      read: (h, into, position, length, bufferOffset) => guard(() => this.issueRead(h, into, position, length, bufferOffset)),
      write: (h, from, position, length, bufferOffset) => guard(() => this.issueWrite(h, from, position, length, bufferOffset)),
      sync: (h, options) => guard(() => this.issueSync(h, options)),
      allocate: (h, position, length, options) => guard(() => this.issueAllocate(h, position, length, options)),
      punchHole: (h, position, length) => guard(() => {
        const file = this.writableFile(h, 'punchHole')
        checkRange(position, length)
        return this.submit(() => file.punchHole(position, length, ++this.seq, this.clock.now()))
      }),
      truncate: (h, lengthBytes) => guard(() => {
        this.checkLive(h)
        if (!h.writable) throw diskError('EINVAL', `${JSON.stringify(h.path)} is not open for writing (truncate)`, { path: h.path })
        if (!Number.isSafeInteger(lengthBytes) || lengthBytes < 0 || lengthBytes > simFileBytesMax) {
          throw invalidOption('lengthBytes', lengthBytes, `an integer from 0 to ${simFileBytesMax}`)
        }
        const file = h.node as SimFileNode
        return this.submit(() => file.truncate(lengthBytes, ++this.seq, this.clock.now()))
      }),
      stat: (h) => guard(() => {
        this.checkLive(h)
        return this.submit(() => this.statOf(h.node))
      }),
      close: (h) => {
        if (h.closed || h.life !== this.life) return Promise.resolve()
        h.closed = true
        const node = h.node
        if (node.kind === 'file') this.recount(node, () => { node.openCount-- })
        else node.openCount--
        return Promise.resolve()
      },
    }
  }

  private checkLive(h: SimDiskFile): void {
    if (h.life !== this.life) throw diskError('EBADF', `${JSON.stringify(h.path)} was open before ${this.name} crashed`, { path: h.path })
    if (h.closed) throw diskError('EBADF', `${JSON.stringify(h.path)} is closed`, { path: h.path })
  }

  private writableFile(h: SimDiskFile, op: string): SimFileNode {
    this.checkLive(h)
    if (!h.writable) throw diskError('EBADF', `${JSON.stringify(h.path)} is not open for writing (${op})`, { path: h.path })
    return h.node as SimFileNode
  }

  private checkBuffer(h: SimDiskFile, op: 'read' | 'write', buffer: DiskBuffer, position: number, length?: number, bufferOffset?: number) {
    const bytes = bufferBytes(buffer)
    const offset = bufferOffset ?? 0
    const n = length ?? Math.max(0, bytes.length - offset)
    checkIoRange(op, position, n, offset, bytes.length, h.direct ? this : null)
    // Past the largest file a write fails (EFBIG); a read there just finds the end of the file.
    if (op === 'write' && position + n > simFileBytesMax) throw diskError('EFBIG', `write past ${simFileBytesMax} bytes (the largest file)`, { path: h.path, position, length: n })
    if (h.direct && (buffer instanceof Uint8Array ? bytes.byteOffset % this.alignment !== 0 : this.alignment > slotAlignmentBytes)) {
      throw diskError('EINVAL', `direct ${op}: the buffer's address (byteOffset ${bytes.byteOffset}) is not aligned to ${this.alignment} bytes`, {
        path: h.path, byteOffset: bytes.byteOffset, alignment: this.alignment,
      })
    }
    return { bytes, offset, n }
  }

  private issueRead(h: SimDiskFile, into: DiskBuffer, position: number, length?: number, bufferOffset?: number): Promise<number> {
    this.checkLive(h)
    const { bytes, offset, n } = this.checkBuffer(h, 'read', into, position, length, bufferOffset)
    const fault = this.faults.errorFor('read', h.segments, this.random)
    const flip = this.faults.flipFor(h.segments, this.random)
    return this.submit(() => {
      if (h.node.kind === 'directory') throw diskError('EISDIR', `${JSON.stringify(h.path)} is a directory`, { path: h.path })
      if (fault !== null) {
        this.counters.faults.readErrors++
        throw diskError('EIO', `read of ${JSON.stringify(h.path)} on ${this.name} failed (injected)`, { path: h.path, disk: this.name, position })
      }
      const read = h.node.read(position, bytes, offset, n)
      if (flip && read > 0) {
        const bit = this.random.int(read * 8)
        bytes[offset + (bit >>> 3)] ^= 1 << (bit & 7)
        this.counters.faults.readBitFlips++
      }
      this.counters.bytesRead += read
      return read
    })
  }

  private issueWrite(h: SimDiskFile, from: DiskBuffer, position: number, length?: number, bufferOffset?: number): Promise<number> {
    const file = this.writableFile(h, 'write')
    const { bytes, offset, n } = this.checkBuffer(h, 'write', from, position, length, bufferOffset)
    const fault = this.faults.errorFor('write', h.segments, this.random)
    return this.submit(() => {
      this.failWrite(h, fault)
      this.reserve(file, position, n, h.path)
      // The source is read at completion, as the kernel reads it: a buffer reused early corrupts.
      const source = bytes.subarray(offset, offset + n)
      if (fault === 'EIO') {
        // The device wrote a prefix of the sectors before failing.
        const s = this.sectorBytes
        const sectors = n === 0 ? 0 : Math.floor((position + n - 1) / s) - Math.floor(position / s) + 1
        const landedEnd = Math.min(position + n, (Math.floor(position / s) + this.random.int(sectors)) * s)
        if (landedEnd > position) file.write(position, source.subarray(0, landedEnd - position), ++this.seq, this.clock.now())
        this.counters.faults.writeErrors++
        throw diskError('EIO', `write to ${JSON.stringify(h.path)} on ${this.name} failed (injected)`, { path: h.path, disk: this.name, position })
      }
      file.write(position, source, ++this.seq, this.clock.now())
      this.counters.bytesWritten += n
      if (h.dsync) this.counters.bytesSynced += file.syncRange(position, n, this.seq)
      return n
    })
  }

  /** An injected ENOSPC fails before anything is written. */
  private failWrite(h: SimDiskFile, fault: SimDiskFaultCode | null): void {
    if (fault !== 'ENOSPC') return
    this.counters.faults.noSpace++
    throw diskError('ENOSPC', `${this.name} is full (injected) writing ${JSON.stringify(h.path)}`, { path: h.path, disk: this.name })
  }

  private issueSync(h: SimDiskFile, options: { readonly dataOnly?: boolean } = {}): Promise<void> {
    this.checkLive(h)
    checkFlag(options, 'dataOnly')
    const fault = this.faults.errorFor('sync', h.segments, this.random)
    return this.submit(() => {
      const node = h.node
      if (node.kind === 'directory') return this.syncDirNow(node, h.path, fault)
      if (fault !== null) {
        node.failSync()
        this.counters.faults.syncErrors++
        throw diskError('EIO', `sync of ${JSON.stringify(h.path)} on ${this.name} failed (injected)`, { path: h.path, disk: this.name })
      }
      this.counters.bytesSynced += node.sync()
      this.counters.syncs++
    })
  }

  private issueAllocate(h: SimDiskFile, position: number, length: number, options: { readonly keepSize?: boolean } = {}): Promise<void> {
    const file = this.writableFile(h, 'allocate')
    checkRange(position, length)
    const keepSize = checkFlag(options, 'keepSize')
    const fault = this.faults.errorFor('write', h.segments, this.random)
    return this.submit(() => {
      this.failWrite(h, fault)
      if (fault === 'EIO') {
        this.counters.faults.writeErrors++
        throw diskError('EIO', `fallocate of ${JSON.stringify(h.path)} on ${this.name} failed (injected)`, { path: h.path, disk: this.name })
      }
      this.reserve(file, position, length, h.path)
      file.allocate(position, length, keepSize, ++this.seq, this.clock.now())
    })
  }
}

/** An open SimDisk file; its operations live in the disk (a handle is only what open returned). */
class SimDiskFile implements DiskFile {
  closed = false

  constructor(
    private readonly ops: FileOps,
    readonly path: string,
    readonly segments: readonly string[],
    readonly node: SimInode,
    readonly life: number,
    readonly writable: boolean,
    readonly direct: boolean,
    readonly dsync: boolean,
  ) {}

  read(into: DiskBuffer, position: number, length?: number, bufferOffset?: number): Promise<number> {
    return this.ops.read(this, into, position, length, bufferOffset)
  }

  write(from: DiskBuffer, position: number, length?: number, bufferOffset?: number): Promise<number> {
    return this.ops.write(this, from, position, length, bufferOffset)
  }

  sync(options?: { readonly dataOnly?: boolean }): Promise<void> {
    return this.ops.sync(this, options)
  }

  allocate(position: number, length: number, options?: { readonly keepSize?: boolean }): Promise<void> {
    return this.ops.allocate(this, position, length, options)
  }

  punchHole(position: number, length: number): Promise<void> {
    return this.ops.punchHole(this, position, length)
  }

  truncate(lengthBytes: number): Promise<void> {
    return this.ops.truncate(this, lengthBytes)
  }

  stat(): Promise<DiskStat> {
    return this.ops.stat(this)
  }

  close(): Promise<void> {
    return this.ops.close(this)
  }
}

/** Turns a synchronous throw (a validation error) into the rejected promise the interface promises. */
function guard<T>(run: () => Promise<T>): Promise<T> {
  try {
    return run()
  } catch (error) {
    return Promise.reject(error)
  }
}

function bufferBytes(buffer: DiskBuffer): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer
  if (buffer !== null && typeof buffer === 'object' && buffer.bytes instanceof Uint8Array) return buffer.bytes
  throw invalidOption('buffer', buffer, 'a PooledBuffer or a Uint8Array')
}

function checkRange(position: number, length: number): void {
  if (!Number.isSafeInteger(position) || position < 0) throw invalidOption('position', position, 'an integer ≥ 0')
  if (!Number.isSafeInteger(length) || length < 1) throw invalidOption('length', length, 'an integer ≥ 1')
  if (position + length > simFileBytesMax) throw diskError('EFBIG', `range ends past ${simFileBytesMax} bytes (the largest file)`, { position, length })
}

function checkFlag(options: unknown, name: string): boolean {
  if (options === null || typeof options !== 'object') throw invalidOption('options', options, 'an object')
  const value = (options as Record<string, unknown>)[name]
  if (value !== undefined && typeof value !== 'boolean') throw invalidOption(name, value, 'true or false')
  return value === true
}

function checkOpenOptions(options: DiskOpenOptions): Required<DiskOpenOptions> {
  return {
    write: checkFlag(options, 'write'),
    create: checkFlag(options, 'create'),
    exclusive: checkFlag(options, 'exclusive'),
    truncate: checkFlag(options, 'truncate'),
    direct: checkFlag(options, 'direct'),
    dsync: checkFlag(options, 'dsync'),
  }
}

function checkOptions(options: SimDiskOptions) {
  if (options === null || typeof options !== 'object') throw invalidOption('options', options, '{ name, clock, random, capacityBytes?, alignment?, sectorBytes?, blockBytes?, faults? }')
  const { name, clock, random } = options
  if (typeof name !== 'string' || name === '') throw invalidOption('name', name, 'a non-empty string (the simulated node)')
  if (clock === null || typeof clock !== 'object' || typeof clock.setTimer !== 'function') throw invalidOption('clock', clock, 'a Clock (now, setTimer)')
  if (random === null || typeof random !== 'object' || typeof random.next !== 'function') throw invalidOption('random', random, 'a Random (next, int), e.g. SeededRandom')
  const blockBytes = powerOfTwo('blockBytes', options.blockBytes ?? 4096, 512, 1024 * 1024)
  const sectorBytes = powerOfTwo('sectorBytes', options.sectorBytes ?? 512, 1, blockBytes)
  const alignment = powerOfTwo('alignment', options.alignment ?? 4096, 1, 1024 * 1024)
  const capacityBytes = options.capacityBytes ?? defaultCapacityBytes
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) throw invalidOption('capacityBytes', capacityBytes, 'an integer number of bytes ≥ 0')
  return { name, clock, random, blockBytes, sectorBytes, alignment, capacityBytes }
}

function powerOfTwo(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max || (value & (value - 1)) !== 0) {
    throw invalidOption(name, value, `a power of two from ${min} to ${max}`)
  }
  return value
}
