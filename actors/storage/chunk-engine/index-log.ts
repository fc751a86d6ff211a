/**
 * The chunk index's log: an append-only file of framed records (record-codec.ts) on ctx.disk, with
 * group commit. Records wait in a queue (at most one per chunk: a newer record of a chunk replaces
 * its queued one); a flush takes up to `batchMax` of them, syncs the group files their blocks were
 * written to, appends the records in one write, syncs the log once, then applies their effects and
 * resolves everyone waiting. Commits arriving meanwhile form the next batch: under load one fsync
 * serves many commits.
 *
 * The order "data synced, then records written" is what lets recovery trust every whole record:
 * a record never reaches the disk before the bytes it points at. Records of one batch may land torn
 * (each sector old or new), but a batch is only acknowledged after its sync, so a torn record is
 * always in the unacknowledged tail, and replay stops at the first bad record.
 *
 * The queue needs no limit of its own: it holds at most one record per chunk with an operation
 * under way or a pending version, and each waiting commit is an operation its caller bounds.
 *
 * The segment is zero-filled ahead of its records (`reserveStepBytes` at a time, synced with the
 * batch that needs it): a batch then overwrites bytes the file already has, so its sync is a flush
 * of the data alone, with no file-size change for the filesystem's journal to commit — on ext4 an
 * append's fdatasync is a journal commit, serialized with every other target's, and the slowest
 * step of a commit. Replay reads the zeros after the last record as the segment's end.
 *
 * Segments are written with O_DIRECT where the disk allows it (as the group files are): a batch
 * rewrites the segment's last partial block (the durable records in it, byte for byte the same,
 * so a torn write cannot damage them) followed by its records, from an aligned pool slot. Its sync
 * is then a cache flush only: no page-cache copy to write back, and no worker thread of the ring
 * busy with a buffered write and its writeback.
 *
 * A failed write or sync leaves the log's durable end unknown (and Linux forgets the dirty pages of
 * a failed fsync), so the log fails for good: every queued and later record is refused with
 * ERR_CHUNK_ENGINE_FAILED until the engine is reopened and recovers from what is durable.
 */
import type { ActorBuffers } from '../../../runtime/actor-buffers.ts'
import type { Clock } from '../../../runtime/clock.ts'
import { sleep } from '../../../runtime/clock.ts'
import type { Disk, DiskFile } from '../../../runtime/disk/disk.ts'
import { isT3fsError } from '../../../runtime/errors.ts'
import { chunkEngineError, ChunkEngineErrorCode } from './errors.ts'
import { encodedSize, encodeRecord, type IndexRecord } from './record-codec.ts'

export interface IndexLogHooks {
  readonly disk: Disk
  /** Aligned pool slots for O_DIRECT writes of the segments. */
  readonly buffers: ActorBuffers
  readonly bufferWaitMs: number
  readonly clock: Clock
  buggify(site: string): boolean
  /** Called when a batch is taken (synchronously): the data syncs that must precede its records. */
  takeDataSyncs(): () => Promise<void>
  /** Between batches (no record in flight): the engine may seal the segment here. */
  afterBatch(): Promise<void>
  onFailure(error: Error): void
}

interface Queued {
  readonly record: IndexRecord | null
  readonly onDurable: (() => void) | null
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

/** How far ahead of its records a segment is zero-filled, each time it runs out. */
export const reserveStepBytes = 1024 * 1024
let zeros: Uint8Array | null = null

export function segmentName(seq: number): string {
  return `log-${seq.toString(16).padStart(12, '0')}`
}

export class IndexLog {
  private queue = new Map<string, Queued>()
  private running: Promise<void> | null = null
  private barriers = 0
  private failure: Error | null = null
  private endBytes = 0
  /** Bytes of the segment zero-filled so far (records overwrite them). */
  private reservedBytes = 0
  /** The segment's bytes from its last block boundary to endBytes (a direct write starts at that boundary). */
  private tail = new Uint8Array(0)
  /** Index syncs done (each a group commit). */
  syncs = 0

  private constructor(
    private readonly hooks: IndexLogHooks,
    private readonly dir: string,
    private file: DiskFile,
    private seqNow: number,
    private readonly batchMax: number,
    /** False once the disk refused O_DIRECT (tmpfs): segments are then written buffered. */
    private direct: boolean,
  ) {}

  /** Starts a new, empty segment `seq` in `dir` (its name made durable before any record goes in). */
  static async start(hooks: IndexLogHooks, dir: string, seq: number, batchMax: number): Promise<IndexLog> {
    const { file, direct } = await createSegment(hooks.disk, dir, seq, true)
    return new IndexLog(hooks, dir, file, seq, batchMax, direct)
  }

  get seq(): number {
    return this.seqNow
  }

  /** Bytes in the current segment. */
  get segmentBytes(): number {
    return this.endBytes
  }

  get failed(): Error | null {
    return this.failure
  }

  /**
   * Queues `record` for chunk `key` (replacing a queued, not yet written record of that chunk,
   * whose effect is then never applied). Resolves once it is durable, after `onDurable` ran. A
   * `lazy` record (a pending version) starts no flush of its own: it rides with the next one.
   */
  enqueue(key: string, record: IndexRecord | null, onDurable: (() => void) | null, lazy = false): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      const replaced = this.queue.get(key)
      // Only a pending record may be replaced (commits and drops hold the chunk's lock until durable);
      // nobody awaits a pending record, and the newer record supersedes what it would have done.
      if (replaced !== undefined && replaced.record?.type !== 'pending') throw new Error(`a queued ${replaced.record?.type ?? 'barrier'} record of ${key} was replaced`)
      this.queue.set(key, { record, onDurable, resolve, reject })
      replaced?.resolve()
      if (!lazy) this.running ??= this.run()
    })
  }

  /** Resolves once every record queued before the call is durable. */
  barrier(): Promise<void> {
    if (this.queue.size === 0 && this.running === null) return this.failure === null ? Promise.resolve() : Promise.reject(this.failure)
    return this.enqueue(`\0barrier ${this.barriers++}`, null, null)
  }

  /** Switches to a new segment; returns the sealed one's seq. Call only from afterBatch. */
  async seal(): Promise<number> {
    const sealed = this.seqNow
    const next = await createSegment(this.hooks.disk, this.dir, sealed + 1, this.direct)
    const old = this.file
    this.file = next.file
    this.direct = next.direct
    this.seqNow = sealed + 1
    this.endBytes = 0
    this.reservedBytes = 0
    this.tail = new Uint8Array(0)
    await old.close()
    return sealed
  }

  /** Makes what is queued durable (unless the log failed), then closes the segment. */
  async close(): Promise<void> {
    if (this.failure === null) await this.barrier().catch(() => {})
    while (this.running !== null) await this.running
    await this.file.close()
  }

  private async run(): Promise<void> {
    await Promise.resolve() // commits issued in the same turn join this batch
    while (this.queue.size > 0 && this.failure === null) {
      const batch = this.take()
      const syncData = this.hooks.takeDataSyncs()
      try {
        await syncData()
        if (this.hooks.buggify('chunk-engine:slow-index-sync')) await sleep(this.hooks.clock, 3)
        await this.append(batch)
      } catch (error) {
        this.fail(error, batch)
        break
      }
      try {
        for (const queued of batch) queued.onDurable?.()
        for (const queued of batch) queued.resolve()
        await this.hooks.afterBatch()
      } catch (error) {
        // A broken invariant in an effect, or a segment that could not be sealed: nothing can be
        // trusted to go on, but nobody is left waiting for ever.
        this.fail(error, batch)
      }
    }
    this.running = null
  }

  /** Up to batchMax queued records, oldest first (the site splits a batch to exercise partial flushes). */
  private take(): Queued[] {
    const max = this.hooks.buggify('chunk-engine:split-batch') ? Math.max(1, this.queue.size >> 1) : this.batchMax
    const batch: Queued[] = []
    for (const [key, queued] of this.queue) {
      if (batch.length >= max) break
      batch.push(queued)
      this.queue.delete(key)
    }
    return batch
  }

  private async append(batch: readonly Queued[]): Promise<void> {
    let size = 0
    for (const queued of batch) if (queued.record !== null) size += encodedSize(queued.record)
    if (size === 0) return
    const bytes = new Uint8Array(size)
    let at = 0
    for (const queued of batch) if (queued.record !== null) at = encodeRecord(queued.record, bytes, at)
    if (this.direct) await this.writeDirect(bytes)
    else {
      await this.reserve(this.endBytes + size)
      await this.file.write(bytes, this.endBytes)
    }
    this.endBytes += size
    await this.file.sync({ dataOnly: true })
    this.syncs++
  }

  /**
   * Writes `bytes` at endBytes with O_DIRECT: from the last block boundary (the tail's durable
   * bytes again, then the records, then the zeros the segment already holds up to the next
   * boundary), in pieces of at most one pool slot.
   */
  private async writeDirect(bytes: Uint8Array): Promise<void> {
    const alignment = this.hooks.disk.alignment
    const from = this.endBytes - this.tail.length
    const end = Math.ceil((this.endBytes + bytes.length) / alignment) * alignment
    await this.reserve(end)
    const pieceMax = Math.floor(this.hooks.buffers.largestBytes / alignment) * alignment
    for (let at = from; at < end; at += pieceMax) {
      const length = Math.min(pieceMax, end - at)
      const slot = await this.hooks.buffers.allocate(length, { timeoutMs: this.hooks.bufferWaitMs })
      try {
        const image = slot.bytes
        image.fill(0)
        // Piece [at, at + length) of: tail at `from`, records at endBytes, zeros after.
        if (at < this.endBytes) image.set(this.tail.subarray(at - from, Math.min(this.tail.length, at - from + length)), 0)
        const recordsFrom = Math.max(at, this.endBytes)
        const recordsTo = Math.min(at + length, this.endBytes + bytes.length)
        if (recordsFrom < recordsTo) image.set(bytes.subarray(recordsFrom - this.endBytes, recordsTo - this.endBytes), recordsFrom - at)
        await this.file.write(slot, at, length)
      } finally {
        slot.release()
      }
    }
    // The new last partial block, for the next batch.
    const newEnd = this.endBytes + bytes.length
    const tailFrom = newEnd - (newEnd % alignment)
    const tail = new Uint8Array(newEnd - tailFrom)
    const fromTail = Math.max(0, Math.min(tail.length, this.endBytes - tailFrom))
    if (fromTail > 0) tail.set(this.tail.subarray(this.tail.length - fromTail))
    tail.set(bytes.subarray(bytes.length - (tail.length - fromTail)), fromTail)
    this.tail = tail
  }

  /** Zero-fills the segment up to at least `endBytes` (made durable by the batch's sync). */
  private async reserve(endBytes: number): Promise<void> {
    while (this.reservedBytes < endBytes) {
      if (this.direct) await this.reserveDirect()
      else {
        zeros ??= new Uint8Array(reserveStepBytes)
        await this.file.write(zeros, this.reservedBytes)
      }
      this.reservedBytes += reserveStepBytes
    }
  }

  /** One reserve step of zeros with O_DIRECT, from a zeroed pool slot (several writes when a slot is smaller). */
  private async reserveDirect(): Promise<void> {
    const alignment = this.hooks.disk.alignment
    const pieceMax = Math.min(reserveStepBytes, Math.floor(this.hooks.buffers.largestBytes / alignment) * alignment)
    const slot = await this.hooks.buffers.allocate(pieceMax, { timeoutMs: this.hooks.bufferWaitMs })
    try {
      slot.bytes.fill(0)
      for (let at = 0; at < reserveStepBytes; at += pieceMax) await this.file.write(slot, this.reservedBytes + at, Math.min(pieceMax, reserveStepBytes - at))
    } finally {
      slot.release()
    }
  }

  private fail(error: unknown, batch: readonly Queued[]): void {
    this.failure = chunkEngineError(ChunkEngineErrorCode.engineFailed,
      `the chunk index could not be made durable (${error instanceof Error ? error.message : String(error)}); the engine refuses updates until it is reopened`,
      { cause: error instanceof Error && 'code' in error ? String((error as { code: unknown }).code) : 'unknown' }, error)
    for (const queued of batch) queued.reject(this.failure)
    for (const queued of this.queue.values()) queued.reject(this.failure)
    this.queue.clear()
    this.hooks.onFailure(this.failure)
  }
}

/** Creates segment `seq` (O_DIRECT when `direct` and the disk allows it) and makes its name durable. */
async function createSegment(disk: Disk, dir: string, seq: number, direct: boolean): Promise<{ file: DiskFile; direct: boolean }> {
  const path = `${dir}/${segmentName(seq)}`
  let file: DiskFile
  try {
    file = await disk.open(path, { create: true, truncate: true, direct })
  } catch (error) {
    if (!direct || !isT3fsError(error, 'EINVAL')) throw error
    direct = false
    file = await disk.open(path, { create: true, truncate: true })
  }
  await disk.syncDir(dir)
  return { file, direct }
}
