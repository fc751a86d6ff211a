/**
 * The send side of one peer connection: frames are encoded into reused batch buffers and written
 * with as few syscalls as the socket allows.
 *
 * Small frames (and payloads up to COPY_MAX_BYTES) are copied into the current batch buffer,
 * which is flushed when full or in the event loop's check phase (setImmediate): a loop of sends,
 * or all the replies produced while handling one poll phase's reads, cost one write. A larger
 * payload is never copied: the batch so far and the payload go to the socket corked together,
 * which Node turns into one writev (scatter/gather). Batch buffers return to a small pool once
 * the socket has written them, because fresh memory is slow on this VM (limits.md).
 *
 * While no socket is attached (connecting), flushed segments wait in `#pending`; the transport's
 * send() bounds them through `queuedBytes`.
 *
 * A frame's `release` callback runs once nothing of it is referenced any more: at once when every
 * payload was copied, else when the socket has written (or dropped) the last payload sent by
 * reference, or when the segments were dropped unsent (detach).
 */
import type { Socket } from 'node:net'
import { headBytes, writeHead } from './framing.ts'

export const BATCH_BYTES = 256 * 1024
export const COPY_MAX_BYTES = 8 * 1024
const POOL_MAX = 32

class Batch {
  readonly buf: Uint8Array
  readonly view: DataView
  refs = 0
  retired = false
  readonly onWritten: () => void

  constructor(size: number, release: (batch: Batch) => void) {
    this.buf = new Uint8Array(size)
    this.view = new DataView(this.buf.buffer)
    this.onWritten = () => {
      this.refs--
      if (this.retired && this.refs === 0) release(this)
    }
  }
}

interface Segment {
  readonly data: Uint8Array
  readonly batch: Batch | null
  /** Runs once the segment was written or dropped (payloads sent by reference). */
  readonly done: (() => void) | null
}

export class Outbox {
  #socket: Socket | null = null
  #batch: Batch
  #start = 0
  #pos = 0
  readonly #pool: Batch[] = []
  #pending: Segment[] = []
  #pendingBytes = 0
  #scheduled = false
  readonly #flushTask = (): void => {
    this.#scheduled = false
    this.flush()
  }
  readonly #release = (batch: Batch): void => {
    if (this.#pool.length < POOL_MAX) {
      batch.retired = false
      this.#pool.push(batch)
    }
  }

  constructor() {
    this.#batch = new Batch(BATCH_BYTES, this.#release)
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get queuedBytes(): number {
    return (this.#socket?.writableLength ?? this.#pendingBytes) + (this.#pos - this.#start)
  }

  get attached(): boolean {
    return this.#socket !== null
  }

  /**
   * Encodes one frame. Payloads above COPY_MAX_BYTES are referenced until written; `release` runs
   * once none is referenced any more (see the file comment).
   */
  enqueue(type: number, header: Uint8Array, payloads: readonly Uint8Array[], release?: () => void): void {
    let total = 0
    let large = false
    for (let i = 0; i < payloads.length; i++) {
      const len = payloads[i].length
      total += len
      if (len > COPY_MAX_BYTES) large = true
    }
    const head = headBytes(header.length, payloads.length)
    const copied = large ? head : head + total
    if (copied > BATCH_BYTES) {
      this.#enqueueOversized(type, header, payloads, total, head, release)
      return
    }
    if (this.#pos + copied > BATCH_BYTES) this.#nextBatch()
    const batch = this.#batch
    this.#pos = writeHead(batch.buf, batch.view, this.#pos, type, header, payloads, total)
    if (!large) {
      for (let i = 0; i < payloads.length; i++) {
        batch.buf.set(payloads[i], this.#pos)
        this.#pos += payloads[i].length
      }
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(this.#flushTask)
      }
      release?.()
      return
    }
    // Scatter/gather: the batch so far, then each payload (small ones copied, large ones by reference).
    const done = release === undefined ? null : countdown(release)
    const socket = this.#socket
    socket?.cork()
    for (let i = 0; i < payloads.length; i++) {
      const p = payloads[i]
      if (p.length <= COPY_MAX_BYTES && this.#pos + p.length <= BATCH_BYTES) {
        batch.buf.set(p, this.#pos)
        this.#pos += p.length
      } else {
        this.flush()
        this.#emit(p, null, done?.hold() ?? null)
      }
    }
    this.flush()
    socket?.uncork()
    done?.settle()
  }

  /** A head too large for a batch buffer (huge headers, many payloads): one fresh buffer. */
  #enqueueOversized(type: number, header: Uint8Array, payloads: readonly Uint8Array[], total: number, head: number, release: (() => void) | undefined): void {
    this.flush()
    const buf = new Uint8Array(head)
    writeHead(buf, new DataView(buf.buffer), 0, type, header, payloads, total)
    const done = release === undefined ? null : countdown(release)
    const socket = this.#socket
    socket?.cork()
    this.#emit(buf, null)
    for (const p of payloads) this.#emit(p, null, done?.hold() ?? null)
    socket?.uncork()
    done?.settle()
  }

  /** Hands everything batched so far to the socket (or to the pending list). */
  flush(): void {
    if (this.#pos === this.#start) return
    const batch = this.#batch
    const data = batch.buf.subarray(this.#start, this.#pos)
    this.#start = this.#pos
    this.#emit(data, batch)
  }

  #emit(data: Uint8Array, batch: Batch | null, done: (() => void) | null = null): void {
    if (batch) batch.refs++
    const socket = this.#socket
    if (socket) write(socket, data, batch, done)
    else {
      this.#pending.push({ data, batch, done })
      this.#pendingBytes += data.length
    }
  }

  #nextBatch(): void {
    this.flush()
    const old = this.#batch
    old.retired = true
    if (old.refs === 0) this.#release(old)
    this.#batch = this.#pool.pop() ?? new Batch(BATCH_BYTES, this.#release)
    this.#start = 0
    this.#pos = 0
  }

  /** Starts writing to `socket`: everything pending goes first, in order. */
  attach(socket: Socket): void {
    this.#socket = socket
    const pending = this.#pending
    this.#pending = []
    this.#pendingBytes = 0
    if (pending.length === 0) return
    socket.cork()
    for (const s of pending) write(socket, s.data, s.batch, s.done)
    socket.uncork()
  }

  /** Stops writing; drops what was not handed to a socket (the connection is gone). */
  detach(): void {
    this.#socket = null
    const dropped = this.#pending
    this.#pending = []
    for (const s of dropped) {
      s.batch?.onWritten()
      s.done?.()
    }
    this.#pendingBytes = 0
    this.#start = this.#pos
  }
}

/** Hands a segment to the socket; its callbacks run once written, or once the socket is destroyed. */
function write(socket: Socket, data: Uint8Array, batch: Batch | null, done: (() => void) | null): void {
  if (batch) socket.write(data, batch.onWritten)
  else if (done) socket.write(data, done)
  else socket.write(data)
}

/**
 * Runs `release` once every held segment is done and the frame is fully enqueued (settle). One
 * per frame with pooled payloads: no named closure in it (under tsx each costs an
 * Object.defineProperty when it is made), a method and a callback made by a call instead.
 */
function countdown(release: () => void): { hold(): () => void; settle(): void } {
  const state = { open: 1 }
  const one = settleOne(state, release)
  return {
    hold() {
      state.open++
      return one
    },
    settle: one,
  }
}

function settleOne(state: { open: number }, release: () => void): () => void {
  return () => {
    if (--state.open === 0) release()
  }
}
