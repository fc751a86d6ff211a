/**
 * Read-ahead for one sequential reader (one handle): once two reads in a row continue each other,
 * the blocks after the read are fetched ahead, up to `windowBytes`, each into an I/O buffer of its
 * own (the replica pushes it there), and later reads are served from them. Blocks are aligned to
 * `blockBytes`; none is fetched past the file's known length (a reader beyond it goes to storage
 * itself). A read that does not continue the last one drops every block (a random reader pays
 * nothing), and so does any write or truncate of the file through this client.
 *
 * Read-ahead only takes free I/O buffers (it never waits for one, so it cannot starve writers);
 * a block whose fetch failed is dropped and the read goes to storage, which reports the error.
 */
import type { ChunkIo, FileGeometry } from './chunk-io.ts'
import type { IoBuffer, IoBuffers } from './io-buffers.ts'

export interface ReadAheadEnv {
  readonly io: ChunkIo
  readonly buffers: IoBuffers
  readonly windowBytes: number
  readonly blockBytes: number
  readonly onHit: (bytes: number) => void
}

interface Block {
  readonly start: number
  readonly io: IoBuffer
  /** Resolves with the valid bytes of the block (fewer than blockBytes: the data ends there), or -1 when the fetch failed. */
  readonly valid: Promise<number>
  /** Reads copying out of it right now: its buffer goes back only when none is left. */
  readers: number
  dropped: boolean
  released: boolean
}

/** What a read got from read-ahead: `bytes` from the read's position on; `ended`: the data ends within them. */
export interface ReadAheadResult {
  readonly bytes: number
  readonly ended: boolean
}

export class ReadAhead {
  private blocks: Block[] = []
  private nextExpected = -1

  constructor(private readonly env: ReadAheadEnv, private readonly geometry: () => FileGeometry) {}

  /**
   * Serves what it can of [position, position + length) into `into` (at `intoOffset`), after
   * fetching ahead for a sequential reader; `knownLength` is the file's length as the client knows it.
   */
  async read(position: number, length: number, into: Uint8Array, intoOffset: number, knownLength: number): Promise<ReadAheadResult> {
    const sequential = position === this.nextExpected
    this.nextExpected = position + length
    if (!sequential) {
      this.drop()
      return { bytes: 0, ended: false }
    }
    this.dropBefore(position)
    this.fetch(position, position + length + this.env.windowBytes, knownLength)
    let done = 0
    for (const block of [...this.blocks]) {
      const at = position + done
      if (done >= length || block.start > at || block.dropped) break
      if (block.start + this.env.blockBytes <= at) continue
      block.readers++
      let valid: number
      let n = 0
      const from = at - block.start
      try {
        valid = await block.valid
        if (valid >= 0) {
          n = Math.max(0, Math.min(valid - from, length - done))
          into.set(block.io.buffer.bytes.subarray(from, from + n), intoOffset + done)
        }
      } finally {
        block.readers--
        this.releaseIfDone(block)
      }
      if (valid < 0) {
        this.drop()
        break
      }
      done += n
      if (valid < this.env.blockBytes && from + n >= valid) {
        this.env.onHit(done)
        return { bytes: done, ended: true }
      }
    }
    if (done > 0) this.env.onHit(done)
    return { bytes: done, ended: false }
  }

  /** Forgets every block (a write or truncate of the file, or the handle closing). */
  drop(): void {
    for (const b of this.blocks) this.releaseWhenSettled(b)
    this.blocks = []
  }

  get blockCount(): number {
    return this.blocks.length
  }

  /** Starts fetching the blocks of [from, to) not yet held, stopping at the known length or when no buffer is free. */
  private fetch(from: number, to: number, knownLength: number): void {
    const size = this.env.blockBytes
    const maxBlocks = Math.max(1, Math.ceil(this.env.windowBytes / size)) + 1
    let start = Math.floor(from / size) * size
    const last = this.blocks[this.blocks.length - 1]
    if (last !== undefined) start = Math.max(start, last.start + size)
    for (; start < Math.min(to, knownLength) && this.blocks.length < maxBlocks; start += size) {
      const io = this.env.buffers.tryAcquire()
      if (io === null) return
      const geometry = this.geometry()
      const floor = Math.max(0, Math.min(size, knownLength - start))
      const valid = this.env.io.readIntoBuffer(geometry, start, size, io).then((end) => Math.max(end, floor), () => -1)
      this.blocks.push({ start, io, valid, readers: 0, dropped: false, released: false })
    }
  }

  private dropBefore(position: number): void {
    while (this.blocks.length > 0 && this.blocks[0].start + this.env.blockBytes <= position) this.releaseWhenSettled(this.blocks.shift()!)
  }

  private releaseWhenSettled(b: Block): void {
    if (b.dropped) return
    b.dropped = true
    void b.valid.then(() => this.releaseIfDone(b))
  }

  /** A dropped block's buffer goes back once its fetch settled and no read copies from it (exactly once). */
  private releaseIfDone(b: Block): void {
    if (!b.dropped || b.readers > 0 || b.released) return
    b.released = true
    this.env.buffers.release(b.io)
  }
}
