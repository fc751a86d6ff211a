import { invalidOption, T3fsError } from './errors.ts'
import { adviseHugePages as adviseNative, nativeAvailable, native } from '../native/index.ts'

/**
 * Shared buffers for bulk payloads (chunk data) inside one node. The main thread allocates the
 * pool's SharedArrayBuffers once; every host maps the same memory, so a PooledBuffer sent to an
 * actor on another thread travels as (class, slot, length) and is read in place: no copy. Slots
 * start on 4 KiB boundaries, so O_DIRECT reads and writes can use them, and each host registers
 * them with its io_uring.
 *
 * Each size class is a run of equal slots with a bitmap of taken slots; allocation claims a bit
 * with compare-and-swap and release clears it, from any thread. Whoever holds a PooledBuffer owns
 * it: after sending it, the sender must not touch it; the final receiver releases it.
 *
 * Every taken slot records its holder (host, actor, epoch) in shared memory, so that the runtime
 * can take back what a holder can no longer release: the slots of an actor that crashed (its
 * epoch) or stopped, of a host that died, and of a message that could not be delivered. Holder
 * actor 0 is the host itself (code outside any actor); epoch 0 means "queued for that actor".
 */
export interface BufferPoolMemory {
  readonly classes: readonly PoolClassMemory[]
  /** Int32 [0]: bumped on every release, so allocate-or-wait callers know to look again. */
  readonly releases: SharedArrayBuffer
}

export interface PoolClassMemory {
  readonly slotBytes: number
  readonly slots: number
  readonly data: SharedArrayBuffer
  /** Where slot 0 starts in `data`: the first 4 KiB boundary (O_DIRECT needs aligned memory). */
  readonly offset: number
  readonly bitmap: SharedArrayBuffer
  /** Int32 × 3 per slot: holder host, actor id, epoch. */
  readonly owners: SharedArrayBuffer
}

export interface BufferPoolOptions {
  /** Slot sizes and counts per class, smallest first. Default 64 × 64 KiB and 32 × 1 MiB. */
  readonly classes?: readonly { readonly slotBytes: number; readonly slots: number }[]
}

/** Who holds a slot: an actor's epoch on a host (actor 0: the host's own code; epoch 0: queued). */
export interface SlotHolder {
  readonly host: number
  readonly actor: number
  readonly epoch: number
}

/** Slots start on this boundary, the largest logical block size O_DIRECT asks for. */
export const slotAlignmentBytes = 4096
/** The whole pool of one node, every class together. */
export const poolBytesMax = 64 * 1024 ** 3
export const poolSlotsMax = 1 << 20
export const defaultPoolClasses = [{ slotBytes: 64 * 1024, slots: 64 }, { slotBytes: 1024 * 1024, slots: 32 }] as const

export function allocateBufferPool(options: BufferPoolOptions = {}): BufferPoolMemory {
  const classes = options.classes ?? defaultPoolClasses
  checkPoolClasses(classes, 'bufferPool.classes')
  return {
    releases: new SharedArrayBuffer(4),
    classes: classes.map((c) => {
      const data = new SharedArrayBuffer(c.slotBytes * c.slots + slotAlignmentBytes)
      adviseHugePages(data)
      return {
        slotBytes: c.slotBytes, slots: c.slots, data, offset: alignedOffset(data),
        bitmap: new SharedArrayBuffer(Math.ceil(c.slots / 32) * 4), owners: new SharedArrayBuffer(c.slots * 12),
      }
    }),
  }
}

/** Validates a pool's shape; `name` is how the caller calls it (an option or a profile key). */
export function checkPoolClasses(classes: readonly { readonly slotBytes: number; readonly slots: number }[], name: string): void {
  if (!Array.isArray(classes) || classes.length === 0 || classes.length > 16) throw invalidOption(name, classes, '1 to 16 size classes')
  let total = 0
  let previous = 0
  for (const [index, sizeClass] of classes.entries()) {
    if (!Number.isInteger(sizeClass.slotBytes) || sizeClass.slotBytes <= previous || sizeClass.slotBytes % slotAlignmentBytes !== 0) {
      throw invalidOption(`${name}[${index}].slotBytes`, sizeClass.slotBytes, `a multiple of ${slotAlignmentBytes}, larger than the class before it`)
    }
    if (!Number.isInteger(sizeClass.slots) || sizeClass.slots < 1 || sizeClass.slots > poolSlotsMax) {
      throw invalidOption(`${name}[${index}].slots`, sizeClass.slots, `an integer from 1 to ${poolSlotsMax}`)
    }
    previous = sizeClass.slotBytes
    total += sizeClass.slotBytes * sizeClass.slots
  }
  if (total > poolBytesMax) throw invalidOption(name, `${total} bytes`, `at most ${poolBytesMax} bytes in all`)
}

/**
 * Huge pages for the pool, asked for before anything touches it (memory already faulted in keeps
 * its 4 KiB pages). Every chunk crosses a pool slot several times through the kernel — the FUSE
 * request read into it, process_vm_readv out of it on each replica, O_DIRECT to and from it — and
 * each crossing pins the slot's pages one by one: 256 per MiB with 4 KiB pages, 1 with 2 MiB ones.
 * Only the 2 MiB-aligned part of a class is covered, so small pools are left as they are. Advice
 * only: a kernel built without huge pages refuses it (EINVAL), and the pool works as before.
 */
function adviseHugePages(data: SharedArrayBuffer): void {
  if (!nativeAvailable()) return
  try {
    adviseNative(new Uint8Array(data))
  } catch {
    // 4 KiB pages: slower copies, the same bytes.
  }
}

/**
 * A SharedArrayBuffer's memory starts wherever the allocator put it (16 bytes past a page boundary
 * for large ones here), so slot 0 starts at the first aligned address. Without the native addon
 * nothing can do O_DIRECT anyway, and the pool starts at 0.
 */
function alignedOffset(data: SharedArrayBuffer): number {
  if (!nativeAvailable()) return 0
  const modulo = native().addressModulo(new Uint8Array(data, 0, slotAlignmentBytes), slotAlignmentBytes)
  return (slotAlignmentBytes - modulo) % slotAlignmentBytes
}

/** A slice of the pool: `bytes` is a view on shared memory, valid until `release()`. */
export class PooledBuffer {
  private released = false

  constructor(
    private readonly pool: BufferPool,
    readonly sizeClass: number,
    readonly slot: number,
    readonly bytes: Uint8Array,
  ) {}

  get length(): number {
    return this.bytes.length
  }

  /** The slot's capacity (at least `length`). */
  get slotBytes(): number {
    return this.pool.memory.classes[this.sizeClass].slotBytes
  }

  /** Records who holds the slot now (the runtime calls this as messages change hands). */
  handTo(holder: SlotHolder): void {
    this.pool.setHolder(this.sizeClass, this.slot, holder)
  }

  release(): void {
    if (this.released) throw new T3fsError('ERR_BUFFER_RELEASED', `pooled buffer (class ${this.sizeClass}, slot ${this.slot}) released twice`)
    this.released = true
    this.pool.free(this.sizeClass, this.slot)
  }
}

export class BufferPool {
  private readonly bitmaps: Int32Array[]
  private readonly owners: Int32Array[]
  private readonly hints: number[]
  readonly releases: Int32Array
  /** True once this thread met a pooled buffer (allocated or received): ownership is tracked from then on. */
  active = false

  constructor(readonly memory: BufferPoolMemory) {
    this.bitmaps = memory.classes.map((c) => new Int32Array(c.bitmap))
    this.owners = memory.classes.map((c) => new Int32Array(c.owners))
    this.hints = memory.classes.map(() => 0)
    this.releases = new Int32Array(memory.releases)
  }

  get largestBytes(): number {
    return this.memory.classes.at(-1)?.slotBytes ?? 0
  }

  /** A buffer of exactly `length` bytes held by `holder`, or null when every fitting slot is taken. */
  tryAllocate(length: number, holder: SlotHolder = { host: 0, actor: 0, epoch: 0 }): PooledBuffer | null {
    if (!Number.isInteger(length) || length < 0 || length > this.largestBytes) {
      throw invalidOption('length', length, `an integer from 0 to ${this.largestBytes}`)
    }
    this.active = true
    for (let sizeClass = 0; sizeClass < this.memory.classes.length; sizeClass++) {
      if (this.memory.classes[sizeClass].slotBytes < length) continue
      const slot = this.claim(sizeClass)
      if (slot < 0) continue
      this.setHolder(sizeClass, slot, holder)
      return this.view(sizeClass, slot, length)
    }
    return null
  }

  /** Rebuilds the handle of a buffer that crossed from another host. */
  view(sizeClass: number, slot: number, length: number): PooledBuffer {
    const { slotBytes, data, offset, slots } = this.memory.classes[sizeClass] ?? {}
    if (slotBytes === undefined || !(slot >= 0 && slot < slots!) || !(length >= 0 && length <= slotBytes)) {
      throw new T3fsError('ERR_INVALID_MESSAGE', `pooled buffer (class ${sizeClass}, slot ${slot}, ${length} bytes) is outside this pool`)
    }
    this.active = true
    return new PooledBuffer(this, sizeClass, slot, new Uint8Array(data!, offset! + slot * slotBytes, length))
  }

  setHolder(sizeClass: number, slot: number, holder: SlotHolder): void {
    const owners = this.owners[sizeClass]
    owners[slot * 3] = holder.host
    owners[slot * 3 + 1] = holder.actor
    owners[slot * 3 + 2] = holder.epoch
  }

  free(sizeClass: number, slot: number): void {
    Atomics.and(this.bitmaps[sizeClass], slot >>> 5, ~(1 << (slot & 31)))
    Atomics.add(this.releases, 0, 1)
  }

  /**
   * Frees every taken slot whose holder matches (`epoch` undefined: any epoch; `actor` undefined:
   * any actor of the host). Only for holders that can no longer release them: a crashed epoch, a
   * stopped actor, a dead host. Returns how many slots it freed.
   */
  reclaim(host: number, actor?: number, epoch?: number): number {
    let freed = 0
    for (let sizeClass = 0; sizeClass < this.bitmaps.length; sizeClass++) {
      const bitmap = this.bitmaps[sizeClass]
      const owners = this.owners[sizeClass]
      for (let word = 0; word < bitmap.length; word++) {
        for (let bits = Atomics.load(bitmap, word); bits !== 0; bits &= bits - 1) {
          const slot = word * 32 + (31 - Math.clz32(bits & -bits))
          if (owners[slot * 3] !== host) continue
          if (actor !== undefined && owners[slot * 3 + 1] !== (actor | 0)) continue
          if (epoch !== undefined && owners[slot * 3 + 2] !== epoch) continue
          this.free(sizeClass, slot)
          freed++
        }
      }
    }
    return freed
  }

  /**
   * Frees every slot at once: only when no thread uses the pool any more, as when a simulated
   * process restarts on the same memory (its memory is gone, and the next life starts empty).
   */
  reset(): void {
    for (const bitmap of this.bitmaps) bitmap.fill(0)
    this.hints.fill(0)
  }

  /** Slots in use per class (for stats and leak checks). */
  inUse(): number[] {
    return this.bitmaps.map((bitmap) => {
      let count = 0
      for (let i = 0; i < bitmap.length; i++) {
        for (let word = Atomics.load(bitmap, i); word !== 0; word &= word - 1) count++
      }
      return count
    })
  }

  private claim(sizeClass: number): number {
    const bitmap = this.bitmaps[sizeClass]
    const slots = this.memory.classes[sizeClass].slots
    const start = this.hints[sizeClass]
    for (let probe = 0; probe < slots; probe++) {
      const slot = (start + probe) % slots
      const word = slot >>> 5
      const bit = 1 << (slot & 31)
      const old = Atomics.or(bitmap, word, bit)
      if ((old & bit) === 0) {
        this.hints[sizeClass] = (slot + 1) % slots
        return slot
      }
    }
    return -1
  }
}
