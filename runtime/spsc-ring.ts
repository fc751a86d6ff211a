import assert from 'node:assert/strict'

/**
 * A single-producer/single-consumer byte ring in a SharedArrayBuffer: variable-length records,
 * batched publishing (the producer writes many records, then publishes its tail once), and
 * futex wake-ups only when a side sleeps. The two sides live on different threads; each side's
 * object is built from the same `RingMemory`.
 *
 * Positions are byte counters that wrap at 2^32; a record is `[u32 length][bytes][pad to 8]`, and a
 * length of WRAP marks the unused end of the region before the next record starts at offset 0.
 * Bit 31 of the length (MORE) says the record is a fragment continued by the next record, so a
 * message larger than the ring crosses it in pieces.
 */

const HEAD = 0 // consumer position (bytes released)
const TAIL = 1 // producer position (bytes published)
const PRODUCER_WAITING = 2 // 1 while the producer waits for room
const controlInts = 16 // one cache line
const WRAP = 0xffffffff
export const MORE = 0x80000000
const LENGTH_MASK = 0x7fffffff

export interface RingMemory {
  readonly control: SharedArrayBuffer
  readonly data: SharedArrayBuffer
}

export const ringBytesMin = 4096
export const ringBytesMax = 1 << 30

export function allocateRing(capacityBytes: number): RingMemory {
  assert.ok(Number.isInteger(capacityBytes) && capacityBytes >= ringBytesMin && capacityBytes <= ringBytesMax, 'ring capacity out of range')
  assert.ok((capacityBytes & (capacityBytes - 1)) === 0, 'ring capacity must be a power of two')
  return {
    control: new SharedArrayBuffer(controlInts * 4),
    data: new SharedArrayBuffer(capacityBytes),
  }
}

function recordBytes(length: number): number {
  return (4 + length + 7) & ~7
}

/** The views both sides of a ring keep over its memory. */
abstract class RingSide {
  readonly bytes: Uint8Array
  protected readonly words: Uint32Array
  protected readonly control: Int32Array
  protected readonly capacity: number
  protected readonly mask: number

  constructor(memory: RingMemory) {
    this.control = new Int32Array(memory.control)
    this.bytes = new Uint8Array(memory.data)
    this.words = new Uint32Array(memory.data)
    this.capacity = memory.data.byteLength
    this.mask = this.capacity - 1
  }
}

export class RingProducer extends RingSide {
  private tail: number
  private headSeen: number

  constructor(memory: RingMemory) {
    super(memory)
    this.tail = Atomics.load(this.control, TAIL) >>> 0
    this.headSeen = Atomics.load(this.control, HEAD) >>> 0
  }

  /** The largest record this ring can ever take. */
  get maxRecordBytes(): number {
    return this.capacity / 2 - 8
  }

  /**
   * Reserves room for a record of `length` bytes and returns the offset in `bytes` to write it at,
   * or -1 when the ring is too full right now. Call `commit(length)` after writing.
   */
  reserve(length: number, more = false): number {
    assert.ok(length <= this.maxRecordBytes, 'record larger than the ring allows')
    const need = recordBytes(length)
    let index = this.tail & this.mask
    const contiguous = this.capacity - index
    const skip = need > contiguous ? contiguous : 0
    if (!this.hasRoom(skip + need)) return -1
    if (skip > 0) {
      this.words[index >>> 2] = WRAP
      this.tail = (this.tail + skip) >>> 0
      index = 0
    }
    this.words[index >>> 2] = more ? (length | MORE) >>> 0 : length
    return index + 4
  }

  commit(length: number): void {
    this.tail = (this.tail + recordBytes(length)) >>> 0
  }

  /** Makes every committed record visible to the consumer. */
  publish(): void {
    Atomics.store(this.control, TAIL, this.tail | 0)
  }

  /** Resolves when the consumer has released bytes since `reserve` last failed. */
  waitForRoom(timeoutMs = 50): Promise<unknown> {
    const head = Atomics.load(this.control, HEAD)
    Atomics.store(this.control, PRODUCER_WAITING, 1)
    if ((head >>> 0) !== this.headSeen) return Promise.resolve()
    const result = Atomics.waitAsync(this.control, HEAD, head, timeoutMs)
    return result.async ? result.value : Promise.resolve()
  }

  private hasRoom(bytes: number): boolean {
    if (this.capacity - ((this.tail - this.headSeen) >>> 0) >= bytes) return true
    this.headSeen = Atomics.load(this.control, HEAD) >>> 0
    return this.capacity - ((this.tail - this.headSeen) >>> 0) >= bytes
  }
}

export class RingConsumer extends RingSide {
  private head: number
  private tailSeen: number

  constructor(memory: RingMemory) {
    super(memory)
    this.head = Atomics.load(this.control, HEAD) >>> 0
    this.tailSeen = this.head
  }

  /** True when a published record waits. */
  get hasData(): boolean {
    if (this.head !== this.tailSeen) return true
    this.tailSeen = Atomics.load(this.control, TAIL) >>> 0
    return this.head !== this.tailSeen
  }

  /**
   * Returns the offset in `bytes` of the next record and its length word via `lengthOut[0]` (length
   * in the low 31 bits, MORE in bit 31), or -1 when none is published. The record stays valid until
   * `release()`.
   */
  next(lengthOut: Uint32Array): number {
    for (;;) {
      if (!this.hasData) return -1
      const index = this.head & this.mask
      const length = this.words[index >>> 2]
      if (length === WRAP) {
        this.head = (this.head + this.capacity - index) >>> 0
        continue
      }
      lengthOut[0] = length
      this.head = (this.head + recordBytes(length & LENGTH_MASK)) >>> 0
      return index + 4
    }
  }

  /** Hands every record returned by `next` back to the producer. */
  release(): void {
    Atomics.store(this.control, HEAD, this.head | 0)
    if (Atomics.load(this.control, PRODUCER_WAITING) === 1) {
      Atomics.store(this.control, PRODUCER_WAITING, 0)
      Atomics.notify(this.control, HEAD)
    }
  }
}

/**
 * One per consuming thread: producers bump `seq` after publishing and wake the consumer only when
 * it said it sleeps, so a busy consumer costs the producer no syscall.
 */
const SEQ = 0
const STATE = 1
const AWAKE = 0
const SLEEPING = 1

export class Doorbell {
  private readonly cells: Int32Array

  constructor(readonly memory: SharedArrayBuffer) {
    this.cells = new Int32Array(memory)
  }

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(64)
  }

  /**
   * After publishing; true when it woke the consumer. Only the first producer to find the consumer
   * asleep wakes it (the state goes back to awake with that wake-up): a consumer on its way up
   * costs no second syscall.
   */
  ring(): boolean {
    Atomics.add(this.cells, SEQ, 1)
    if (Atomics.load(this.cells, STATE) !== SLEEPING || Atomics.compareExchange(this.cells, STATE, SLEEPING, AWAKE) !== SLEEPING) return false
    Atomics.notify(this.cells, SEQ)
    return true
  }

  /** Step 1 of sleeping: announce it and read the sequence the wait will be made on. */
  prepareSleep(): number {
    Atomics.store(this.cells, STATE, SLEEPING)
    return Atomics.load(this.cells, SEQ)
  }

  /** Step 2, after re-checking every ring: wait unless a producer rang since `seq`. */
  sleep(seq: number): Promise<unknown> {
    const result = Atomics.waitAsync(this.cells, SEQ, seq)
    return result.async ? result.value : Promise.resolve()
  }

  awake(): void {
    Atomics.store(this.cells, STATE, AWAKE)
  }
}
