/**
 * A file's write-behind buffer (3FS's per-inode write buffer, reference/3fs.md §5.1): small
 * contiguous writes gather in one registered I/O buffer; a full buffer, a write that does not
 * continue it, flush, fsync, close, a read of the file and the periodic sync send it to storage
 * (the chain heads pull it one-sidedly). A write of a whole buffer or more is copied into buffers
 * sent at once, or, when its bytes are lent (a FUSE WRITE of exactly one buffer, lent-bytes.ts),
 * sent from where they are, uncopied. Up to `inFlightMax` buffers of one file are on their way at
 * once, so a sequential writer keeps filling the next while the last ones travel. Only `direct`
 * writes go through.
 *
 * Ordering: a buffer or a write-through that overlaps one still in flight waits for it, so bytes
 * written later never reach storage before bytes written earlier at the same place. Errors of a
 * background flush are kept and thrown by the next write or flush of the file (once).
 *
 * The caller serializes write/flushAll per file (the file's lock); `flushActive` is synchronous
 * and may be called at any time (the client calls it when I/O buffers run short).
 */
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import type { ChunkIo, FileGeometry } from './chunk-io.ts'
import type { ClientMutant } from './file-client.ts'
import type { IoBuffer, IoBuffers } from './io-buffers.ts'
import type { LentBytes } from './lent-bytes.ts'
import type { ClientBuffer } from '../storage/client/storage-client.ts'

export interface WriteBehindEnv {
  readonly io: ChunkIo
  readonly buffers: IoBuffers
  /** Bytes one buffer gathers (0: every write goes straight through). */
  readonly capacityBytes: number
  /** Buffers of one file in flight at once. */
  readonly inFlightMax: number
  readonly mutants: ReadonlySet<ClientMutant>
}

interface Flight {
  readonly start: number
  readonly end: number
  /** Settles (never rejects) when the bytes were acknowledged or failed. */
  done: Promise<void>
}

export class WriteBehind {
  private active: { io: IoBuffer; start: number; length: number } | null = null
  private readonly flights = new Set<Flight>()
  private error: T3fsError | null = null

  constructor(private readonly env: WriteBehindEnv, private readonly geometry: () => FileGeometry) {}

  /** Bytes buffered or in flight, not yet acknowledged. */
  get pendingBytes(): number {
    let n = this.active?.length ?? 0
    for (const f of this.flights) n += f.end - f.start
    return n
  }

  get idle(): boolean {
    return this.active === null && this.flights.size === 0
  }

  /** Takes `data` for [position, position + length): buffered, or written through when `direct` or too big to buffer. */
  async write(position: number, data: Uint8Array, direct: boolean, lent?: LentBytes): Promise<void> {
    this.throwError()
    const cap = this.env.capacityBytes
    if (direct || cap === 0) {
      this.flushActive()
      await this.writeThrough(position, data)
      return
    }
    if (data.length === cap && lent !== undefined) return this.sendLent(position, data.length, lent)
    if (data.length >= cap) return this.writeWhole(position, data)
    const a = this.active
    if (a !== null) {
      const at = position - a.start
      // Overwrites and appends inside the buffer's window stay in it (no gap may open).
      if (at >= 0 && at <= a.length && at + data.length <= cap) {
        a.io.buffer.bytes.set(data, at)
        a.length = Math.max(a.length, at + data.length)
        if (a.length === cap) this.flushActive()
        return
      }
      this.flushActive()
    }
    while (this.flights.size >= this.env.inFlightMax) await Promise.race([...this.flights].map((f) => f.done))
    const io = await this.env.buffers.acquire()
    io.buffer.bytes.set(data, 0)
    this.active = { io, start: position, length: data.length }
    if (data.length === cap) this.flushActive()
  }

  /**
   * A write of a whole buffer or more (a FUSE WRITE of max_write, a big application write): copied
   * into buffers that go on their way at once, so the caller waits only while `inFlightMax` buffers
   * of the file travel. Written through instead, one such write per file would be on the wire at a
   * time and a sequential writer would pay a whole chain round trip per buffer.
   */
  private async writeWhole(position: number, data: Uint8Array): Promise<void> {
    this.flushActive()
    const cap = this.env.capacityBytes
    for (let at = 0; at < data.length; at += cap) {
      const length = Math.min(cap, data.length - at)
      while (this.flights.size >= this.env.inFlightMax) await Promise.race([...this.flights].map((f) => f.done))
      const io = await this.env.buffers.acquire()
      io.buffer.bytes.set(data.subarray(at, at + length), 0)
      this.active = { io, start: position + at, length }
      this.flushActive()
    }
  }

  /** A write of exactly one buffer whose bytes are lent: on its way from where they are, held until acknowledged. */
  private async sendLent(position: number, length: number, lent: LentBytes): Promise<void> {
    this.flushActive()
    while (this.flights.size >= this.env.inFlightMax) await Promise.race([...this.flights].map((f) => f.done))
    const release = lent.retain()
    if (this.env.mutants.has('lent-unretained')) release() // the bug: the lender may reuse the bytes before storage pulled them
    this.launch(position, length, lent.source, lent.offset, release, () => { this.env.io.counters.lentBytesWritten += length })
  }

  /** Sends the gathering buffer on its way (no wait). */
  flushActive(): void {
    const a = this.active
    if (a === null) return
    this.active = null
    this.launch(a.start, a.length, a.io, 0, () => this.env.buffers.release(a.io), () => {})
  }

  /**
   * Puts [start, start + length) on its way from `from` (at `fromOffset`) once the flights it
   * overlaps are done; `settled` runs when it was acknowledged or failed (its error is kept).
   */
  private launch(start: number, length: number, from: ClientBuffer, fromOffset: number, settled: () => void, acknowledged: () => void): void {
    const flight: Flight = { start, end: start + length, done: Promise.resolve() }
    const before = this.overlapping(flight)
    flight.done = Promise.all(before)
      .then(() => this.env.io.writeFrom(this.geometry(), start, length, from, fromOffset))
      .then(acknowledged, (e: unknown) => { if (!this.env.mutants.has('swallow-flush-error')) this.error ??= toT3fsError(e) })
      .finally(() => {
        settled()
        this.flights.delete(flight)
      })
    this.flights.add(flight)
  }

  /**
   * Every byte taken so far acknowledged by storage (or failed); throws a deferred error once,
   * unless `keepError` (a read waits for the flush but leaves its error to the next write, flush,
   * fsync or close, where the writer learns of it).
   */
  async flushAll(keepError = false): Promise<void> {
    this.flushActive()
    while (this.flights.size > 0 && !this.env.mutants.has('flush-skips-inflight')) await Promise.all([...this.flights].map((f) => f.done))
    if (!keepError) this.throwError()
  }

  /** Drops the error a flush left (after a truncate made the bytes moot). */
  clearError(): void {
    this.error = null
  }

  private async writeThrough(position: number, data: Uint8Array): Promise<void> {
    const flight: Flight = { start: position, end: position + data.length, done: Promise.resolve() }
    const before = this.overlapping(flight)
    let failure: unknown = null
    flight.done = Promise.all(before)
      .then(() => this.env.io.writeBytes(this.geometry(), position, data))
      .then(() => {}, (e: unknown) => { failure = e })
      .finally(() => this.flights.delete(flight))
    this.flights.add(flight)
    await flight.done
    if (failure !== null) throw failure
  }

  private overlapping(range: { start: number; end: number }): Promise<void>[] {
    const out: Promise<void>[] = []
    if (this.env.mutants.has('no-overlap-order')) return out
    for (const f of this.flights) if (f.start < range.end && range.start < f.end) out.push(f.done)
    return out
  }

  private throwError(): void {
    const e = this.error
    if (e === null) return
    this.error = null
    throw e
  }
}
