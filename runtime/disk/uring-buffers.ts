/**
 * Buffer-pool memory registered with this thread's io_uring, so that reads and writes into pool
 * slots go through READ_FIXED/WRITE_FIXED (the kernel skips pinning the pages on every I/O).
 *
 * Module state is per thread (each worker_thread loads its own copy), as is the ring: a pool that
 * several hosts share is registered once on each host's thread. Each size class's aligned region
 * is one ring entry (or one per GiB: the kernel's limit per registered buffer).
 */
import { registeredBufferBytesMax, uring } from '../../native/index.ts'
import type { BufferPool, BufferPoolMemory } from '../buffer-pool.ts'
import { isT3fsError, T3fsError } from '../errors.ts'

interface Region {
  readonly index: number
  /** Byte offsets of the registered range inside the class's SharedArrayBuffer. */
  readonly start: number
  readonly end: number
}

const registered = new Map<ArrayBufferLike, Region[]>()
/** Classes that did not fit under RLIMIT_MEMLOCK: left unregistered (plain reads and writes into them). */
const unpinnable = new Set<ArrayBufferLike>()

/** Registers every size class of `pool` with this thread's ring (again: no effect). */
export function registerPoolWithRing(pool: BufferPool | BufferPoolMemory): void {
  const memory = 'memory' in pool ? pool.memory : pool
  const ring = uring()
  for (const sizeClass of memory.classes) {
    if (registered.has(sizeClass.data) || unpinnable.has(sizeClass.data) || sizeClass.slotBytes > registeredBufferBytesMax) continue
    const total = sizeClass.slotBytes * sizeClass.slots
    // Whole slots per entry: a slot never straddles two entries.
    const pieceBytes = Math.floor(registeredBufferBytesMax / sizeClass.slotBytes) * sizeClass.slotBytes
    const regions: Region[] = []
    try {
      for (let start = 0; start < total; start += pieceBytes) {
        const length = Math.min(pieceBytes, total - start)
        const index = ring.registerBuffer(new Uint8Array(sizeClass.data, sizeClass.offset + start, length))
        regions.push({ index, start: sizeClass.offset + start, end: sizeClass.offset + start + length })
      }
    } catch (error) {
      for (const region of regions) ring.unregisterBuffer(region.index)
      if (isT3fsError(error, 'ENOMEM')) {
        // Not root (no CAP_IPC_LOCK) and a small `ulimit -l`: the node still runs, its I/O into
        // this class just goes without READ_FIXED/WRITE_FIXED (the kernel pins pages per request).
        unpinnable.add(sizeClass.data)
        process.emitWarning(`registering ${total} bytes of pool memory (slots of ${sizeClass.slotBytes} bytes) with the io_uring failed (ENOMEM): ` +
          'pinned memory counts against RLIMIT_MEMLOCK (ulimit -l) unless the process has CAP_IPC_LOCK; I/O into these slots works unregistered (slower); raise the limit or shrink the pool', { code: 'T3FS_MEMLOCK' })
        continue
      }
      throw error
    }
    registered.set(sizeClass.data, regions)
  }
}

/**
 * Removes `pool`'s entries from this thread's ring. ERR_URING_BUSY while a fixed read or write
 * into an entry is in flight; the entries not yet removed then stay registered (call again later).
 */
export function unregisterPoolFromRing(pool: BufferPool | BufferPoolMemory): void {
  const memory = 'memory' in pool ? pool.memory : pool
  const ring = uring()
  for (const sizeClass of memory.classes) {
    const regions = registered.get(sizeClass.data)
    if (regions === undefined) continue
    for (const [i, region] of regions.entries()) {
      try {
        ring.unregisterBuffer(region.index)
      } catch (error) {
        registered.set(sizeClass.data, regions.slice(i))
        throw error
      }
    }
    registered.delete(sizeClass.data)
  }
}

/** Where `bytes` lies in a registered entry (index, offset of bytes[0]), or null when it does not. */
export function fixedLocation(bytes: Uint8Array): { readonly index: number; readonly offset: number } | null {
  const regions = registered.get(bytes.buffer)
  if (regions === undefined) return null
  for (const region of regions) {
    if (bytes.byteOffset >= region.start && bytes.byteOffset + bytes.byteLength <= region.end) {
      return { index: region.index, offset: bytes.byteOffset - region.start }
    }
  }
  return null
}
