/**
 * Reads (3FS batchRead, reference/3fs.md §3.4): any UPTODATE SERVING replica answers, from the
 * chunk's committed version — a pending version is never read, so a replica with a write in
 * flight answers with the version before it. The bytes are pushed into the reader's registered
 * buffer (one-sided write, 3FS's RDMA WRITE) or carried back in the answer. Each read is checked
 * against its CRC32C by the chunk engine; a chunk that fails (or EIO) is never returned, and the
 * target reports itself failed so that it rejoins through a sync.
 *
 * Two ways in: the replica's own `batch-read` (answers carry their bytes), and its node's batch
 * reads through the read gate (read-gate.ts: the bytes are copied into the node's reply buffer).
 */
import { sleep } from '../../../runtime/clock.ts'
import { toT3fsError } from '../../../runtime/errors.ts'
import { ChunkEngineErrorCode, isTargetFault, type ChunkId, type ReadResult as EngineRead } from '../chunk-engine/index.ts'
import { StorageErrorCode, type ReadIO, type ReadResult } from '../protocol.ts'
import type { ReadInto } from './read-gate.ts'
import { checkServing, type ReplicaCtx, type ReplicaState } from './replica-state.ts'
import { reportFailed } from './report.ts'

/**
 * The replica's `batch-read` (every answer with its bytes in it), or the node's through the gate
 * (`into`). Resolves once every read has its result (none rejects); `settled` runs just before.
 * The reads are answered through one object per batch and a counter, without a promise per read
 * of their own (an async function and a catch per read, and Promise.all, were each a measurable
 * part of a 4 KiB read).
 */
export function batchRead(rs: ReplicaState, ctx: ReplicaCtx, ios: readonly ReadIO[], into?: ReadInto, settled?: () => void): Promise<ReadResult[]> {
  return new Promise((resolve) => new BatchReads(rs, ctx, ios, into, settled, resolve).start())
}

class BatchReads {
  private readonly results: ReadResult[]
  private left: number

  constructor(private readonly rs: ReplicaState, private readonly ctx: ReplicaCtx, private readonly ios: readonly ReadIO[], private readonly into: ReadInto | undefined,
    private readonly settled: (() => void) | undefined, private readonly resolve: (results: ReadResult[]) => void) {
    this.results = new Array<ReadResult>(ios.length)
    this.left = ios.length
  }

  start(): void {
    if (this.left === 0) return this.finish()
    const { rs, ios } = this
    const nowMs = this.ctx.clock.now()
    for (let i = 0; i < ios.length; i++) {
      const io = ios[i]
      let reading: Promise<EngineRead>
      try {
        checkServing(rs, io.key.chainId, io.key.chainVersion, nowMs)
        reading = rs.engine.read({ chainId: io.key.chainId, chunkId: io.key.chunkId as ChunkId, offset: io.offset, length: io.length })
      } catch (error) {
        this.fail(i, error)
        continue
      }
      reading.then((r) => this.landed(i, r), (error: unknown) => this.fail(i, error))
    }
  }

  /** Read `i` came back from the engine: its bytes go where they were asked for, and its slot back to the pool. */
  private landed(i: number, r: EngineRead): void {
    const io = this.ios[i]
    if (r.buffer === null || r.lengthBytes === 0) {
      r.buffer?.release()
      return this.done(i, { ok: true, lengthBytes: r.lengthBytes, commitVersion: r.version, chunkChecksum: r.crc32c })
    }
    if (io.into.kind === 'region') return this.push(i, io.into, r, { ok: true, lengthBytes: r.lengthBytes, commitVersion: r.version, chunkChecksum: r.crc32c })
    let result: ReadResult
    try {
      result = this.into === undefined
        ? { ok: true, lengthBytes: r.lengthBytes, commitVersion: r.version, chunkChecksum: r.crc32c, data: r.buffer.bytes.slice(r.dataOffset, r.dataOffset + r.lengthBytes) }
        : { ok: true, lengthBytes: r.lengthBytes, commitVersion: r.version, chunkChecksum: r.crc32c, at: copyInto(r, this.into, i, io.length) }
    } catch (error) {
      return this.fail(i, error)
    } finally {
      r.buffer.release()
    }
    this.done(i, result)
  }

  /** Read `i`'s bytes pushed into the reader's region (one-sided write); the slot goes back once it is done. */
  private push(i: number, to: Extract<ReadIO['into'], { kind: 'region' }>, r: EngineRead, base: ReadResult): void {
    // A replica slow to push (past its reader's timeout): the reader retries elsewhere and is answered first, and this push comes late.
    if (this.ctx.buggify('replica:slow-push')) {
      void sleep(this.ctx.clock, 100 + this.ctx.random.int(900)).then(() => this.pushNow(i, to, r, base))
      return
    }
    this.pushNow(i, to, r, base)
  }

  private pushNow(i: number, to: Extract<ReadIO['into'], { kind: 'region' }>, r: EngineRead, base: ReadResult): void {
    const buffer = r.buffer!
    let writing: Promise<void>
    try {
      writing = this.ctx.regions!.write(to.region, to.offset, buffer, r.lengthBytes, r.dataOffset)
    } catch (error) {
      buffer.release()
      return this.fail(i, error)
    }
    writing.finally(() => buffer.release()).then(() => this.done(i, base), (error: unknown) => this.fail(i, error))
  }

  private fail(i: number, error: unknown): void {
    const e = toT3fsError(error)
    try {
      if (isTargetFault(e)) reportFailed(this.rs, this.ctx, `read of chunk ${this.ios[i].key.chunkId} failed: ${e.message}`)
    } catch {
      // A life fenced by its crash reports nothing; the read still answers with its error.
    }
    // A life fenced by its crash (its node still holds its read gate) no longer serves: a state the client retries elsewhere.
    const code = e.code === ChunkEngineErrorCode.chunkNotFound ? StorageErrorCode.CHUNK_NOT_FOUND : e.code === 'ERR_ACTOR_FENCED' ? StorageErrorCode.TARGET_STATE : e.code
    this.done(i, { ok: false, code, message: e.message })
  }

  private done(i: number, result: ReadResult): void {
    this.results[i] = result
    if (--this.left === 0) this.finish()
  }

  private finish(): void {
    this.settled?.()
    this.resolve(this.results)
  }
}

/** Copies a read's bytes to their place in the node's buffer (never past the room it left for them). */
function copyInto(r: EngineRead, into: ReadInto, index: number, roomBytes: number): number {
  const at = into.at[index]
  if (r.lengthBytes > roomBytes || at + r.lengthBytes > into.bytes.length) throw new Error(`read ${index}: ${r.lengthBytes} bytes do not fit the ${roomBytes} left for it at ${at}`)
  const bytes = r.buffer!.bytes
  // A 4 KiB read fills its slot exactly: copied whole, without a view of it made per read.
  into.bytes.set(r.dataOffset === 0 && r.lengthBytes === bytes.length ? bytes : bytes.subarray(r.dataOffset, r.dataOffset + r.lengthBytes), at)
  return at
}
