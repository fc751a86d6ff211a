/**
 * Blocks on the disk. Eleven size classes (64 KiB … 64 MiB); each class's blocks live in `groups`
 * of up to 256 blocks, spread round robin over the class's group files:
 *
 *   <root>/blocks/<class>/<file>   group g → file g % filesPerClass, at ⌊g / filesPerClass⌋ × groupBytes
 *
 * A group is reserved with one fallocate when its first block is taken and released with one
 * punch-hole when its last block is freed (3FS's allocator, §4.1). The state lives in memory only:
 * at open it is rebuilt from the blocks the chunk index references, and every other group's range
 * is punched, so space a crash left allocated comes back.
 *
 * Freeing is the caller's decision (BlockRefs): a block is released only when no durable index
 * record and no reader can still reach it.
 */
import type { Clock } from '../../../runtime/clock.ts'
import { sleep } from '../../../runtime/clock.ts'
import type { Disk, DiskFile } from '../../../runtime/disk/disk.ts'
import { isT3fsError } from '../../../runtime/errors.ts'
import type { Logger } from '../../../runtime/logger.ts'
import type { ChunkEngineFormat } from './engine.ts'
import { groupBlocksMax, sizeClassCount } from './limits.ts'
import { blockClass, blockGroup, blockIndex, blockKey, classBytes } from './stored-version.ts'

interface Group {
  readonly id: number
  readonly used: Uint8Array
  usedCount: number
  /** allocating: fallocate under way; broken: it failed (blocks taken from it fail too). */
  state: 'allocating' | 'ready' | 'punching' | 'broken'
  ready: Promise<void>
}

interface SizeClass {
  readonly index: number
  readonly blockBytes: number
  readonly blocksPerGroup: number
  readonly groupBytes: number
  readonly groups: Map<number, Group>
  /** Groups with a free block (allocating or ready). */
  readonly open: Set<number>
  /** Ids below nextId with no group (punched), ascending: the lowest is reused first. */
  freeIds: number[]
  nextId: number
}

export interface AllocatorEnv {
  readonly disk: Disk
  readonly clock: Clock
  buggify(site: string): boolean
  readonly log?: Logger
}

export function classDirName(classIndex: number): string {
  const bytes = classBytes(classIndex)
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)}MiB` : `${bytes / 1024}KiB`
}

export class BlockAllocator {
  private readonly classes: SizeClass[]
  private readonly files = new Map<string, Promise<DiskFile>>()
  /** The group files already open, by class and file index: a read finds its file without a path or an await. */
  private readonly opened: (DiskFile | undefined)[][] = Array.from({ length: sizeClassCount }, () => [])
  private dirty = new Set<DiskFile>()
  private readonly background = new Set<Promise<void>>()
  /** False once the disk refused O_DIRECT (tmpfs): files are then opened buffered. */
  private direct = true
  groupsPunched = 0

  constructor(private readonly env: AllocatorEnv, private readonly root: string, private readonly format: ChunkEngineFormat) {
    this.classes = Array.from({ length: sizeClassCount }, (_, index) => {
      const blockBytes = classBytes(index)
      const blocksPerGroup = Math.max(1, Math.min(groupBlocksMax, Math.floor(format.groupBytesMax / blockBytes)))
      return { index, blockBytes, blocksPerGroup, groupBytes: blocksPerGroup * blockBytes, groups: new Map(), open: new Set(), freeIds: [], nextId: 0 }
    })
  }

  /** Takes a free block of the class (reserving a new group when none is free); resolves once its group is allocated. */
  async allocate(classIndex: number): Promise<number> {
    const cls = this.classes[classIndex]
    let group: Group | undefined
    for (const id of cls.open) {
      group = cls.groups.get(id)
      break
    }
    group ??= this.newGroup(cls)
    const index = group.used.indexOf(0)
    group.used[index] = 1
    group.usedCount++
    if (group.usedCount === cls.blocksPerGroup) cls.open.delete(group.id)
    const key = blockKey(classIndex, group.id, index)
    try {
      await group.ready
    } catch (error) {
      this.release(key)
      throw error
    }
    return key
  }

  /** Frees a block; its group is punched (in the background) when it was the last one used. */
  release(key: number): void {
    const cls = this.classes[blockClass(key)]
    const group = cls.groups.get(blockGroup(key))
    const index = blockIndex(key)
    if (group === undefined || group.used[index] !== 1) throw new Error(`block ${key} released but not in use`)
    group.used[index] = 0
    group.usedCount--
    if (group.usedCount > 0) {
      if (group.state !== 'broken') cls.open.add(group.id)
      return
    }
    cls.open.delete(group.id)
    // A broken group is punched too: its failed fallocate may have reserved part of the range.
    group.state = 'punching'
    this.track(this.punch(cls, group))
  }

  /** At open: a block the index references is in use (its group is allocated). */
  markUsed(key: number): void {
    const cls = this.classes[blockClass(key)]
    const id = blockGroup(key)
    let group = cls.groups.get(id)
    if (group === undefined) {
      group = { id, used: new Uint8Array(cls.blocksPerGroup), usedCount: 0, state: 'ready', ready: Promise.resolve() }
      cls.groups.set(id, group)
      cls.nextId = Math.max(cls.nextId, id + 1)
    }
    const index = blockIndex(key)
    if (index >= cls.blocksPerGroup) throw new RangeError(`block ${key}: index ${index} past a group of ${cls.blocksPerGroup}`)
    if (group.used[index] === 1) return
    group.used[index] = 1
    group.usedCount++
    if (group.usedCount < cls.blocksPerGroup) cls.open.add(id)
    else cls.open.delete(id)
  }

  /** At open, after markUsed: punches every group range of every group file that no block uses. */
  async punchUnused(): Promise<void> {
    for (const cls of this.classes) {
      const dir = this.classDir(cls.index)
      const entries = await this.env.disk.list(dir)
      for (const entry of entries) {
        const fileIndex = parseInt(entry.name, 16)
        if (entry.kind !== 'file' || !(fileIndex < this.format.filesPerClass)) continue
        const file = await this.file(cls.index, fileIndex)
        const stat = await file.stat()
        if (stat.allocatedBytes === 0) continue
        for (let slot = 0; slot * cls.groupBytes < stat.sizeBytes; slot++) {
          const id = slot * this.format.filesPerClass + fileIndex
          if (!cls.groups.has(id)) await file.punchHole(slot * cls.groupBytes, cls.groupBytes)
        }
      }
      cls.freeIds = []
      for (let id = 0; id < cls.nextId; id++) if (!cls.groups.has(id)) cls.freeIds.push(id)
    }
  }

  /** The open group file holding `key` and the block's byte position in it. */
  async locate(key: number): Promise<{ readonly file: DiskFile; readonly position: number }> {
    const cls = this.classes[blockClass(key)]
    const id = blockGroup(key)
    const file = await this.file(cls.index, id % this.format.filesPerClass)
    return { file, position: Math.floor(id / this.format.filesPerClass) * cls.groupBytes + blockIndex(key) * cls.blockBytes }
  }

  /** locate() without waiting, when the block's group file is open already (every read after the first); else null. */
  locateNow(key: number): { readonly file: DiskFile; readonly position: number } | null {
    const cls = this.classes[blockClass(key)]
    const id = blockGroup(key)
    const file = this.opened[cls.index][id % this.format.filesPerClass]
    if (file === undefined) return null
    return { file, position: Math.floor(id / this.format.filesPerClass) * cls.groupBytes + blockIndex(key) * cls.blockBytes }
  }

  /** A write to `file` completed: the next group commit syncs it before writing records. */
  markDirty(file: DiskFile): void {
    this.dirty.add(file)
  }

  /** The files written since the last call (their data must be synced before records that point at it). */
  takeDirty(): DiskFile[] {
    const files = [...this.dirty]
    this.dirty = new Set()
    return files
  }

  get usedBytes(): number {
    let total = 0
    for (const cls of this.classes) for (const group of cls.groups.values()) total += group.usedCount * cls.blockBytes
    return total
  }

  get reservedBytes(): number {
    let total = 0
    for (const cls of this.classes) for (const group of cls.groups.values()) if (group.state !== 'broken') total += cls.groupBytes
    return total
  }

  /** Background punches finished. */
  async settle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background])
  }

  async close(): Promise<void> {
    await this.settle()
    const files = await Promise.allSettled([...this.files.values()])
    this.files.clear()
    for (const byIndex of this.opened) byIndex.length = 0
    for (const file of files) if (file.status === 'fulfilled') await file.value.close()
  }

  classDir(classIndex: number): string {
    return `${this.root === '' ? '' : `${this.root}/`}blocks/${classDirName(classIndex)}`
  }

  private newGroup(cls: SizeClass): Group {
    const id = cls.freeIds.length > 0 ? cls.freeIds.shift()! : cls.nextId++
    const group: Group = { id, used: new Uint8Array(cls.blocksPerGroup), usedCount: 0, state: 'allocating', ready: Promise.resolve() }
    cls.groups.set(id, group)
    cls.open.add(id)
    group.ready = this.reserve(cls, id).then(
      () => { if (group.state === 'allocating') group.state = 'ready' },
      (error: unknown) => {
        group.state = 'broken'
        cls.open.delete(id)
        throw error
      },
    )
    group.ready.catch(() => {}) // observed by every allocate awaiting it
    return group
  }

  private async reserve(cls: SizeClass, id: number): Promise<void> {
    const file = await this.file(cls.index, id % this.format.filesPerClass)
    if (this.env.buggify('chunk-engine:slow-fallocate')) await sleep(this.env.clock, 5)
    await file.allocate(Math.floor(id / this.format.filesPerClass) * cls.groupBytes, cls.groupBytes)
  }

  private async punch(cls: SizeClass, group: Group): Promise<void> {
    if (this.env.buggify('chunk-engine:slow-punch')) await sleep(this.env.clock, 5)
    try {
      const file = await this.file(cls.index, group.id % this.format.filesPerClass)
      await file.punchHole(Math.floor(group.id / this.format.filesPerClass) * cls.groupBytes, cls.groupBytes)
      this.groupsPunched++
    } catch (error) {
      // The space stays reserved; the group stays usable.
      this.env.log?.warn({ evt: 'chunk-engine.punch-failed', group: group.id, blockBytes: cls.blockBytes, error: String(error) })
    }
    this.forget(cls, group)
  }

  private forget(cls: SizeClass, group: Group): void {
    cls.groups.delete(group.id)
    cls.open.delete(group.id)
    let at = 0
    while (at < cls.freeIds.length && cls.freeIds[at] < group.id) at++
    cls.freeIds.splice(at, 0, group.id)
  }

  private track(work: Promise<void>): void {
    this.background.add(work)
    void work.then(() => this.background.delete(work))
  }

  private file(classIndex: number, fileIndex: number): Promise<DiskFile> {
    const path = `${this.classDir(classIndex)}/${fileIndex.toString(16).padStart(2, '0')}`
    let file = this.files.get(path)
    if (file === undefined) {
      file = this.openFile(classIndex, path)
      this.files.set(path, file)
      file.then((opened) => { if (this.files.has(path)) this.opened[classIndex][fileIndex] = opened }, () => this.files.delete(path))
    }
    return file
  }

  /** Opens (creating) a group file with O_DIRECT where the disk allows, and makes its name durable. */
  private async openFile(classIndex: number, path: string): Promise<DiskFile> {
    let file: DiskFile
    try {
      file = await this.env.disk.open(path, { create: true, direct: this.direct })
    } catch (error) {
      if (!this.direct || !isT3fsError(error, 'EINVAL')) throw error
      this.direct = false
      this.env.log?.warn({ evt: 'chunk-engine.no-direct-io', disk: this.env.disk.name }, 'the disk refuses O_DIRECT: group files are opened buffered')
      file = await this.env.disk.open(path, { create: true })
    }
    await this.env.disk.syncDir(this.classDir(classIndex))
    return file
  }
}
