import { invalidOption, T3fsError } from './errors.ts'
import { nativeAvailable, native } from '../native/index.ts'

/**
 * Shared buffers for bulk payloads (chunk data) inside one node. The main thread allocates the
 * pool's SharedArrayBuffers once; every host maps the same memory, so a PooledBuffer sent to an
 * actor on another thread travels as (class, slot, length) and is read in place: no copy.
 *
 * Each size class is a run of equal slots with a bitmap of taken slots; allocation claims a bit
 * with compare-and-swap and release clears it, from any thread. Whoever holds a PooledBuffer owns
 * it: after sending it, the sender must not touch it; the final receiver releases it.
 */
export interface BufferPoolMemory {
  readonly classes: readonly PoolClassMemory[]
}

export interface PoolClassMemory {
  readonly slotBytes: number
  readonly slots: number
  readonly data: SharedArrayBuffer
  /** Where slot 0 starts in `data`: the first 4 KiB boundary (O_DIRECT needs aligned memory). */
  readonly offset: number
  readonly bitmap: SharedArrayBuffer
}

/** Slots start on this boundary, the largest logical block size O_DIRECT asks for. */
export const slotAlignmentBytes = 4096

export interface BufferPoolOptions {
  /** Slot sizes and counts per class, smallest first. Default 64 × 64 KiB and 32 × 1 MiB. */
  readonly classes?: readonly { readonly slotBytes: number; readonly slots: number }[]
}

const poolBytesMax = 8 * 1024 ** 3

export function allocateBufferPool(options: BufferPoolOptions = {}): BufferPoolMemory {
  const classes = options.classes ?? [{ slotBytes: 64 * 1024, slots: 64 }, { slotBytes: 1024 * 1024, slots: 32 }]
  let total = 0
  let previous = 0
  for (const [index, sizeClass] of classes.entries()) {
    if (!Number.isInteger(sizeClass.slotBytes) || sizeClass.slotBytes <= previous || sizeClass.slotBytes % 4096 !== 0) {
      throw invalidOption(`bufferPool.classes[${index}].slotBytes`, sizeClass.slotBytes, 'a multiple of 4096, larger than the class before it')
    }
    if (!Number.isInteger(sizeClass.slots) || sizeClass.slots < 1 || sizeClass.slots > 1 << 20) {
      throw invalidOption(`bufferPool.classes[${index}].slots`, sizeClass.slots, 'an integer from 1 to 1048576')
    }
    previous = sizeClass.slotBytes
    total += sizeClass.slotBytes * sizeClass.slots
  }
  if (total > poolBytesMax) throw invalidOption('bufferPool', `${total} bytes`, `at most ${poolBytesMax} bytes in all`)
  return {
    classes: classes.map((c) => {
      const data = new SharedArrayBuffer(c.slotBytes * c.slots + slotAlignmentBytes)
      return { slotBytes: c.slotBytes, slots: c.slots, data, offset: alignedOffset(data), bitmap: new SharedArrayBuffer(Math.ceil(c.slots / 32) * 4) }
    }),
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

  release(): void {
    if (this.released) throw new T3fsError('ERR_BUFFER_RELEASED', `pooled buffer (class ${this.sizeClass}, slot ${this.slot}) released twice`)
    this.released = true
    this.pool.free(this.sizeClass, this.slot)
  }
}

export class BufferPool {
  private readonly bitmaps: Int32Array[]
  private readonly hints: number[]

  constructor(readonly memory: BufferPoolMemory) {
    this.bitmaps = memory.classes.map((c) => new Int32Array(c.bitmap))
    this.hints = memory.classes.map(() => 0)
  }

  get largestBytes(): number {
    return this.memory.classes.at(-1)?.slotBytes ?? 0
  }

  /** A buffer of exactly `length` bytes, or null when every fitting slot is taken (back off and retry). */
  tryAllocate(length: number): PooledBuffer | null {
    if (!Number.isInteger(length) || length < 0 || length > this.largestBytes) {
      throw invalidOption('length', length, `an integer from 0 to ${this.largestBytes}`)
    }
    for (let sizeClass = 0; sizeClass < this.memory.classes.length; sizeClass++) {
      if (this.memory.classes[sizeClass].slotBytes < length) continue
      const slot = this.claim(sizeClass)
      if (slot >= 0) return this.view(sizeClass, slot, length)
    }
    return null
  }

  /** Rebuilds the handle of a buffer that crossed from another host. */
  view(sizeClass: number, slot: number, length: number): PooledBuffer {
    const { slotBytes, data, offset } = this.memory.classes[sizeClass]
    return new PooledBuffer(this, sizeClass, slot, new Uint8Array(data, offset + slot * slotBytes, length))
  }

  free(sizeClass: number, slot: number): void {
    Atomics.and(this.bitmaps[sizeClass], slot >>> 5, ~(1 << (slot & 31)))
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
