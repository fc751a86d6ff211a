/**
 * One simulated file's bytes: what reads see now (the volatile image, the page cache) and what
 * survives a power loss (the durable image, the media), plus everything needed to choose, at a
 * crash, an outcome a real kernel and disk could have produced.
 *
 * Since the last sync every touched sector keeps its versions (oldest first, each tagged with the
 * operation's sequence number). Data reaches the media in no particular order and sector by sector,
 * so at a crash each dirty sector shows its durable content or any of its versions: a torn write.
 * Independent choices would almost never lose or keep a many-sector write whole, so each file first
 * draws a pattern: every dirty sector as old as allowed, every one as new as allowed, or each on its
 * own (all three are outcomes of independent choices; the first two just come up often enough). Metadata (size, freed blocks) is journaled in order, so the crash picks one
 * point in the file's metadata history; blocks that a truncate or punch freed at or before that
 * point can no longer show their old data (ext4 and XFS never expose freed blocks' stale bytes).
 */
import type { Random } from '../random.ts'

export interface SimDiskGeometry {
  /** The unit a crash tears writes at: each sector lands whole or not at all. */
  readonly sectorBytes: number
  /** The allocation unit (statx blocks, fallocate, punch hole). */
  readonly blockBytes: number
}

/** Charges or refunds allocated blocks against the disk's capacity. */
export type ChargeBlocks = (file: SimFileNode, deltaBlocks: number) => void

interface SectorVersion {
  readonly seq: number
  /** The sector's whole content after the operation; null once its block was freed. */
  readonly bytes: Uint8Array | null
  /** Set by truncate and punch hole: bound to the metadata journal (see recover). */
  readonly meta: boolean
}

interface FileImage {
  size: number
  readonly blocks: Map<number, Uint8Array>
}

interface WriteRecord {
  readonly seq: number
  readonly firstSector: number
  readonly lastSector: number
}

export interface FileRecovery {
  readonly writesKept: number
  readonly writesTorn: number
  readonly writesLost: number
  readonly sectorsReverted: number
}

/** Versions kept per dirty sector; beyond it the oldest data version goes (fewer crash choices). */
export const sectorVersionsMax = 16
/** Metadata states kept since the last sync; beyond it the oldest goes (fewer crash choices). */
export const metaHistoryMax = 64
/** Unsynced writes remembered per file for the lost/torn counters; beyond it the oldest goes. */
export const writeRecordsMax = 4096

export class SimFileNode {
  readonly kind = 'file' as const
  /** Whether the volatile namespace names this file (an unlinked file lives on while open). */
  linked = false
  openCount = 0
  volatile: FileImage = { size: 0, blocks: new Map() }
  durable: FileImage = { size: 0, blocks: new Map() }
  private dirty = new Map<number, SectorVersion[]>()
  /** Sectors whose sync failed: Linux drops them from the page cache's dirty set (fsyncgate). */
  private lost = new Set<number>()
  private allocDirty = new Set<number>()
  private metaHistory: { seq: number; size: number }[] = []
  private metaFloorSeq = 0
  private writes: WriteRecord[] = []

  constructor(
    readonly id: number,
    private readonly geometry: SimDiskGeometry,
    private readonly charge: ChargeBlocks,
    public mtimeMs: number,
  ) {}

  get size(): number {
    return this.volatile.size
  }

  get allocatedBlocks(): number {
    return this.volatile.blocks.size
  }

  get unsyncedWrites(): number {
    return this.writes.length
  }

  /** Blocks a write or fallocate of [position, position + length) would newly allocate. */
  blocksNeeded(position: number, length: number): number {
    if (length === 0) return 0
    const b = this.geometry.blockBytes
    let needed = 0
    for (let block = Math.floor(position / b); block * b < position + length; block++) {
      if (!this.volatile.blocks.has(block)) needed++
    }
    return needed
  }

  read(position: number, into: Uint8Array, intoOffset: number, length: number): number {
    const n = Math.max(0, Math.min(length, this.volatile.size - position))
    copyOut(this.volatile, this.geometry.blockBytes, position, into.subarray(intoOffset, intoOffset + n))
    return n
  }

  write(position: number, from: Uint8Array, seq: number, nowMs: number): void {
    if (from.length === 0) return
    const b = this.geometry.blockBytes
    for (let done = 0; done < from.length; ) {
      const at = position + done
      const n = Math.min(b - (at % b), from.length - done)
      this.ensureBlock(Math.floor(at / b)).set(from.subarray(done, done + n), at % b)
      done += n
    }
    const end = position + from.length
    if (end > this.volatile.size) this.setSize(end, seq)
    const s = this.geometry.sectorBytes
    const record = { seq, firstSector: Math.floor(position / s), lastSector: Math.floor((end - 1) / s) }
    this.recordVersions(record.firstSector, record.lastSector, seq, false)
    this.writes.push(record)
    if (this.writes.length > writeRecordsMax) this.writes.shift()
    this.mtimeMs = nowMs
  }

  /** ftruncate: shrinking frees the blocks past the new end and zeroes the rest of the last one. */
  truncate(size: number, seq: number, nowMs: number): void {
    const old = this.volatile.size
    if (size < old) {
      const b = this.geometry.blockBytes
      const keepBlocks = Math.ceil(size / b)
      for (const block of sortedKeys(this.volatile.blocks)) {
        if (block >= keepBlocks) this.freeBlock(block, seq)
      }
      const tail = this.volatile.blocks.get(Math.floor(size / b))
      if (tail !== undefined && size % b !== 0) {
        tail.fill(0, size % b)
        this.recordVersions(Math.floor(size / this.geometry.sectorBytes), this.lastSectorOfBlock(Math.floor(size / b)), seq, true)
      }
    }
    if (size !== old) this.setSize(size, seq)
    this.mtimeMs = nowMs
  }

  /** fallocate(PUNCH_HOLE | KEEP_SIZE): whole blocks are freed, partial ones zeroed. */
  punchHole(position: number, length: number, seq: number, nowMs: number): void {
    const b = this.geometry.blockBytes
    const s = this.geometry.sectorBytes
    const end = position + length
    for (let block = Math.floor(position / b); block * b < end; block++) {
      const bytes = this.volatile.blocks.get(block)
      if (bytes === undefined) continue
      const from = Math.max(position, block * b)
      const to = Math.min(end, (block + 1) * b)
      if (from === block * b && to === (block + 1) * b) {
        this.freeBlock(block, seq)
      } else {
        bytes.fill(0, from - block * b, to - block * b)
        this.recordVersions(Math.floor(from / s), Math.floor((to - 1) / s), seq, true)
      }
    }
    this.pushMeta(seq, this.volatile.size)
    this.mtimeMs = nowMs
  }

  /** fallocate(0 or KEEP_SIZE): reserves zeroed blocks; a reservation is metadata, lost unless synced. */
  allocate(position: number, length: number, keepSize: boolean, seq: number, nowMs: number): void {
    const b = this.geometry.blockBytes
    for (let block = Math.floor(position / b); block * b < position + length; block++) this.ensureBlock(block)
    if (!keepSize && position + length > this.volatile.size) this.setSize(position + length, seq)
    this.mtimeMs = nowMs
  }

  /** fsync / fdatasync: the whole file's data, allocation and size become durable. Returns bytes made durable. */
  sync(): number {
    for (const block of this.allocDirty) this.syncAllocation(block)
    let bytes = 0
    for (const sector of this.dirty.keys()) bytes += this.syncSector(sector)
    this.durable.size = this.volatile.size
    this.dirty.clear()
    this.allocDirty.clear()
    this.metaHistory = []
    this.writes = []
    return bytes
  }

  /** An O_DSYNC write: its sectors and the file's metadata (size) become durable, nothing else. */
  syncRange(position: number, length: number, seq: number): number {
    if (length === 0) return 0
    const s = this.geometry.sectorBytes
    // Committing the size commits the file's metadata journal up to now: allocations and frees
    // included. Frees stay binding on the sectors they zeroed (metaFloorSeq, see recover).
    for (const block of this.allocDirty) this.syncAllocation(block)
    this.allocDirty.clear()
    let bytes = 0
    for (let sector = Math.floor(position / s); sector * s < position + length; sector++) {
      bytes += this.syncSector(sector)
      this.dirty.delete(sector)
      this.lost.delete(sector)
    }
    this.durable.size = this.volatile.size
    this.metaFloorSeq = seq
    this.metaHistory = []
    return bytes
  }

  /**
   * A failed fsync, as Linux does it: the dirty pages are marked clean without reaching the media,
   * so they read fine until a crash brings back the old content, and a later fsync succeeds
   * without writing them.
   */
  failSync(): void {
    for (const sector of this.dirty.keys()) this.lost.add(sector)
    this.dirty.clear()
  }

  /**
   * The file after a power loss: one point of its metadata history, each dirty sector its durable
   * content or one of its versions (never older than a free the chosen metadata includes), bytes
   * past the chosen size cut. The result is both images: what is read after the restart is on media.
   */
  recover(random: Random): FileRecovery {
    const h = random.int(this.metaHistory.length + 1)
    const tMeta = h === 0 ? this.metaFloorSeq : this.metaHistory[h - 1].seq
    const size = h === 0 ? this.durable.size : this.metaHistory[h - 1].size
    const image = cloneImage(this.durable)
    const chosen = new Map<number, number>()
    const pattern = random.int(3) // 0: all old, 1: all new, 2: each sector on its own
    let sectorsReverted = this.lost.size
    for (const sector of sortedKeys(this.dirty)) {
      const versions = this.dirty.get(sector)!
      let lower = 0
      versions.forEach((v, i) => { if (v.meta && v.seq <= tMeta) lower = i + 1 })
      const j = pattern === 0 ? lower : pattern === 1 ? versions.length : lower + random.int(versions.length + 1 - lower)
      if (j === 0) {
        sectorsReverted++
        chosen.set(sector, 0)
        continue
      }
      chosen.set(sector, versions[j - 1].seq)
      this.applyVersion(image, sector, versions[j - 1].bytes)
    }
    this.cutToSize(image, size)
    const recovery = { ...this.countWrites(chosen), sectorsReverted }
    this.volatile = image
    this.durable = cloneImage(image)
    this.dirty.clear()
    this.lost.clear()
    this.allocDirty.clear()
    this.metaHistory = []
    this.metaFloorSeq = 0
    this.writes = []
    return recovery
  }

  /** Media decay: flips one bit of the durable sector holding `position`; reads see it unless the sector is dirty. */
  corrupt(position: number, bit: number): boolean {
    const b = this.geometry.blockBytes
    const s = this.geometry.sectorBytes
    const block = Math.floor(position / b)
    const media = this.durable.blocks.get(block)
    if (media === undefined) return false
    const sector = Math.floor(position / s)
    const byteInBlock = (sector * s) % b + (bit >>> 3)
    media[byteInBlock] ^= 1 << (bit & 7)
    const cached = this.volatile.blocks.get(block)
    if (cached !== undefined && !this.dirty.has(sector) && !this.lost.has(sector)) cached[byteInBlock] ^= 1 << (bit & 7)
    return true
  }

  /** Durable block indexes, sorted (for choosing where media decays). */
  durableBlocks(): number[] {
    return sortedKeys(this.durable.blocks)
  }

  /** The file's content as one view sees it (for images and tests). */
  contents(view: 'volatile' | 'durable'): Uint8Array {
    const image = view === 'volatile' ? this.volatile : this.durable
    const out = new Uint8Array(image.size)
    copyOut(image, this.geometry.blockBytes, 0, out)
    return out
  }

  durableAllocatedBlocks(): number {
    return this.durable.blocks.size
  }

  private ensureBlock(block: number): Uint8Array {
    let bytes = this.volatile.blocks.get(block)
    if (bytes === undefined) {
      bytes = new Uint8Array(this.geometry.blockBytes)
      this.volatile.blocks.set(block, bytes)
      this.allocDirty.add(block)
      this.charge(this, 1)
    }
    return bytes
  }

  private freeBlock(block: number, seq: number): void {
    this.volatile.blocks.delete(block)
    this.allocDirty.add(block)
    this.charge(this, -1)
    const s = this.geometry.sectorBytes
    this.recordVersions((block * this.geometry.blockBytes) / s, this.lastSectorOfBlock(block), seq, true)
  }

  private lastSectorOfBlock(block: number): number {
    return ((block + 1) * this.geometry.blockBytes) / this.geometry.sectorBytes - 1
  }

  private setSize(size: number, seq: number): void {
    this.volatile.size = size
    this.pushMeta(seq, size)
  }

  private pushMeta(seq: number, size: number): void {
    this.metaHistory.push({ seq, size })
    if (this.metaHistory.length > metaHistoryMax) this.metaHistory.shift()
  }

  /** Snapshots sectors [first, last] of the volatile image as new versions. */
  private recordVersions(first: number, last: number, seq: number, meta: boolean): void {
    const s = this.geometry.sectorBytes
    const b = this.geometry.blockBytes
    const snapshot = new Uint8Array((last - first + 1) * s)
    for (let sector = first; sector <= last; sector++) {
      const block = this.volatile.blocks.get(Math.floor((sector * s) / b))
      const at = (sector - first) * s
      let bytes: Uint8Array | null = null
      if (block !== undefined) {
        const inBlock = (sector * s) % b
        snapshot.set(block.subarray(inBlock, inBlock + s), at)
        bytes = snapshot.subarray(at, at + s)
      }
      this.pushVersion(sector, { seq, bytes, meta })
    }
  }

  private pushVersion(sector: number, version: SectorVersion): void {
    this.lost.delete(sector)
    let versions = this.dirty.get(sector)
    if (versions === undefined) {
      versions = []
      this.dirty.set(sector, versions)
    }
    versions.push(version)
    if (versions.length > sectorVersionsMax) {
      // Dropping a data version only narrows the crash's choices; a meta one carries a constraint.
      const drop = versions.findIndex((v) => !v.meta)
      versions.splice(drop === -1 ? 0 : drop, 1)
    }
  }

  private syncAllocation(block: number): void {
    const inVolatile = this.volatile.blocks.has(block)
    const inDurable = this.durable.blocks.has(block)
    if (inVolatile && !inDurable) this.durable.blocks.set(block, new Uint8Array(this.geometry.blockBytes))
    if (!inVolatile && inDurable) this.durable.blocks.delete(block)
  }

  /** Copies one sector from the volatile to the durable image; returns the bytes copied. */
  private syncSector(sector: number): number {
    const s = this.geometry.sectorBytes
    const b = this.geometry.blockBytes
    const block = Math.floor((sector * s) / b)
    const from = this.volatile.blocks.get(block)
    const to = this.durable.blocks.get(block)
    if (from === undefined || to === undefined) return 0
    const inBlock = (sector * s) % b
    to.set(from.subarray(inBlock, inBlock + s), inBlock)
    return s
  }

  private applyVersion(image: FileImage, sector: number, bytes: Uint8Array | null): void {
    const s = this.geometry.sectorBytes
    const b = this.geometry.blockBytes
    const block = Math.floor((sector * s) / b)
    const inBlock = (sector * s) % b
    let target = image.blocks.get(block)
    if (bytes === null) {
      target?.fill(0, inBlock, inBlock + s)
      return
    }
    if (target === undefined) {
      target = new Uint8Array(b)
      image.blocks.set(block, target)
    }
    target.set(bytes, inBlock)
  }

  /**
   * Bytes past the size read as zeros after a restart; blocks wholly past it are gone, except a
   * durable reservation past the durable end (fallocate KEEP_SIZE), which survives.
   */
  private cutToSize(image: FileImage, size: number): void {
    const b = this.geometry.blockBytes
    const reservedFrom = Math.ceil(this.durable.size / b)
    for (const block of sortedKeys(image.blocks)) {
      const bytes = image.blocks.get(block)!
      if (block * b >= size && !(block >= reservedFrom && this.durable.blocks.has(block))) {
        image.blocks.delete(block)
      } else if ((block + 1) * b > size) {
        bytes.fill(0, Math.max(0, size - block * b))
      }
    }
    image.size = size
  }

  private countWrites(chosen: Map<number, number>): Omit<FileRecovery, 'sectorsReverted'> {
    let writesKept = 0
    let writesTorn = 0
    let writesLost = 0
    for (const write of this.writes) {
      let landed = 0
      for (let sector = write.firstSector; sector <= write.lastSector; sector++) {
        // A sector no longer dirty was made durable since (a later O_DSYNC write): it landed.
        const seq = chosen.get(sector) ?? (this.lost.has(sector) ? 0 : Infinity)
        if (seq >= write.seq) landed++
      }
      const sectors = write.lastSector - write.firstSector + 1
      if (landed === sectors) writesKept++
      else if (landed === 0) writesLost++
      else writesTorn++
    }
    return { writesKept, writesTorn, writesLost }
  }
}

function cloneImage(image: FileImage): FileImage {
  const blocks = new Map<number, Uint8Array>()
  for (const [index, bytes] of image.blocks) blocks.set(index, bytes.slice())
  return { size: image.size, blocks }
}

function sortedKeys(map: Map<number, unknown>): number[] {
  return [...map.keys()].sort((a, b) => a - b)
}

/** Copies image bytes from `position` into `out` (holes read as zeros). */
function copyOut(image: FileImage, blockBytes: number, position: number, out: Uint8Array): void {
  for (let done = 0; done < out.length; ) {
    const at = position + done
    const inBlock = at % blockBytes
    const n = Math.min(blockBytes - inBlock, out.length - done)
    const block = image.blocks.get(Math.floor(at / blockBytes))
    if (block === undefined) out.fill(0, done, done + n)
    else out.set(block.subarray(inBlock, inBlock + n), done)
    done += n
  }
}
