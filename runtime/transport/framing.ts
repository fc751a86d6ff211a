/**
 * Wire framing of the TCP transport.
 *
 *   u32 bodyBytes      bytes after this field
 *   u8  type           FrameType
 *   u8  payloadCount   n ≤ MAX_PAYLOADS
 *   u16 reserved       0
 *   u32 headerBytes
 *   u32 payloadBytes × n
 *   header             (router envelope, or a fixed control header)
 *   payload 0 … n-1    out of band: written straight from the caller's buffers
 *
 * All integers little-endian. The decoder is a push parser that never keeps a reference to a
 * chunk after `push` returns (so the socket may reuse its receive buffer): a frame contained in
 * one chunk is delivered as views into it; one that spans chunks is assembled in a buffer the
 * decoder owns and reuses; or its payloads stream straight into destinations a sink picks once
 * the head is in: one buffer for all of them (the one-sided path: a registered region, or the
 * reader's target buffer), or one target per payload (the router: a pool slot for a pooled
 * payload, a buffer of its own for a plain one, nothing for one it refuses).
 *
 * The header has no bound of its own: only the whole frame is bounded (max_frame_size), since
 * chunk data travels as payloads and a header is whatever the router's envelopes need.
 */
import { T3fsError } from '../errors.ts'

export const FrameType = {
  hello: 1,
  heartbeat: 2,
  data: 3,
  readRequest: 4,
  readResponse: 5,
  writeRequest: 6,
  writeAck: 7,
  opError: 8,
  /** Same machine: a read request answered with where the region is (same-host.ts), not its bytes. */
  readAddress: 9,
  /** Same machine: a write request carrying where the bytes are in the writer, not the bytes. */
  writeDirect: 10,
} as const
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType]
const MAX_TYPE = 10

export const FIXED_HEAD_BYTES = 12
/** The head's payload count is a u8. */
export const MAX_PAYLOADS = 255
export const EMPTY_PAYLOADS: readonly Uint8Array[] = Object.freeze([])

export interface FrameLimits {
  /** Largest frame, head and payloads together (transport.max_frame_size); the header has no lower bound of its own. */
  readonly maxFrameBytes: number
}

export function headBytes(headerBytes: number, payloadCount: number): number {
  return FIXED_HEAD_BYTES + 4 * payloadCount + headerBytes
}

/** Writes the preamble and header of a frame at `at`; returns the offset after the header. */
export function writeHead(
  target: Uint8Array,
  view: DataView,
  at: number,
  type: number,
  header: Uint8Array,
  payloads: readonly Uint8Array[],
  payloadTotal: number,
): number {
  const n = payloads.length
  const body = 8 + 4 * n + header.length + payloadTotal
  view.setUint32(at, body, true)
  target[at + 4] = type
  target[at + 5] = n
  target[at + 6] = 0
  target[at + 7] = 0
  view.setUint32(at + 8, header.length, true)
  let p = at + FIXED_HEAD_BYTES
  for (let i = 0; i < n; i++, p += 4) view.setUint32(p, payloads[i].length, true)
  target.set(header, p)
  return p + header.length
}

/** Encodes a whole frame into one new buffer (tests, fuzzing, control frames off the hot path). */
export function encodeFrame(type: number, header: Uint8Array, payloads: readonly Uint8Array[] = EMPTY_PAYLOADS): Uint8Array {
  let total = 0
  for (const p of payloads) total += p.length
  const out = new Uint8Array(headBytes(header.length, payloads.length) + total)
  let at = writeHead(out, new DataView(out.buffer), 0, type, header, payloads, total)
  for (const p of payloads) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** What a sink wants done with a frame's payload bytes. */
export const DISCARD = null
/** One destination per payload: a buffer of exactly that payload's length, or DISCARD to skip its bytes. */
export type PayloadTargets = readonly (Uint8Array | typeof DISCARD)[]
/**
 * A buffer of at least the payloads' total to stream them into back to back, one target per
 * payload, DISCARD for all, or undefined for the decoder's default (views valid during `frame`).
 */
export type PayloadDestination = Uint8Array | PayloadTargets | typeof DISCARD | undefined
/** Stands in, in `frame`'s payload list, for a payload its per-payload target discarded. */
export const SKIPPED_PAYLOAD: Uint8Array = new Uint8Array(0)

export interface FrameSink {
  /** Called once a frame's head is in (the header is whole): where its payloads go. */
  head(type: number, header: Uint8Array, payloadLengths: readonly number[], payloadTotal: number): PayloadDestination
  /**
   * Called when the frame is complete. Payloads are the targets the sink gave (SKIPPED_PAYLOAD
   * for a discarded one), none at all when it discarded every payload, or views valid only
   * during the call.
   */
  frame(type: number, header: Uint8Array, payloads: readonly Uint8Array[]): void
  /** Called when a frame whose head was delivered will never complete (`abandon()`). */
  abandon?(): void
}

function frameError(message: string, details: Record<string, unknown>): T3fsError {
  return new T3fsError('ERR_FRAME', message, details)
}

const enum State {
  Head,
  Payload,
}

const enum Placement {
  /** Targets are views into one buffer (the sink's or the assembly buffer). */
  Views,
  /** The sink gave one target per payload; some may be DISCARD. */
  PerPayload,
  /** Every payload is skipped. */
  DiscardAll,
}

export class FrameDecoder {
  readonly #limits: FrameLimits
  readonly #sink: FrameSink
  #state = State.Head
  // Head accumulation (only used when a head spans chunks).
  #headBuf: Uint8Array = new Uint8Array(256)
  #headView = new DataView(this.#headBuf.buffer)
  #headHave = 0
  #headNeed = FIXED_HEAD_BYTES
  // Current frame.
  #type = 0
  #header: Uint8Array = new Uint8Array(0)
  #lengths: number[] = []
  #payloadTotal = 0
  // Payload streaming: the current payload and the bytes of it already in.
  #targets: (Uint8Array | null)[] = []
  #placement = Placement.Views
  #index = 0
  #have = 0
  #assembly: Uint8Array = new Uint8Array(0)

  constructor(limits: FrameLimits, sink: FrameSink) {
    this.#limits = limits
    this.#sink = sink
  }

  /** True when no frame is partially received. */
  get idle(): boolean {
    return this.#state === State.Head && this.#headHave === 0
  }

  /** Feeds bytes; throws T3fsError ERR_FRAME on a malformed frame (the connection must be closed). */
  push(chunk: Uint8Array): void {
    let at = 0
    const end = chunk.length
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    while (at < end) {
      if (this.#state === State.Payload) {
        at = this.#feedPayload(chunk, at)
        continue
      }
      // Fast path: a whole head is inside this chunk.
      if (this.#headHave === 0 && end - at >= FIXED_HEAD_BYTES) {
        const need = this.#checkFixed(view, at)
        if (end - at >= need) {
          this.#parseHead(chunk, view, at)
          at += need
          at = this.#afterHead(chunk, at, false)
          continue
        }
      }
      at = this.#accumulateHead(chunk, at)
    }
  }

  /**
   * The connection is gone: a frame in progress will never complete. Its sink hears `abandon()`
   * if it had placed the payloads, so it can take back what it handed out (pool slots).
   */
  abandon(): void {
    const placed = this.#state === State.Payload
    this.#state = State.Head
    this.#headHave = 0
    this.#headNeed = FIXED_HEAD_BYTES
    this.#targets.length = 0
    if (placed) this.#sink.abandon?.()
  }

  /** Validates the fixed part at `at` of `view`; returns the full head length. */
  #checkFixed(view: DataView, at: number): number {
    const body = view.getUint32(at, true)
    const type = view.getUint8(at + 4)
    const n = view.getUint8(at + 5)
    const headerBytes = view.getUint32(at + 8, true)
    if (type < 1 || type > MAX_TYPE) throw frameError(`frame type ${type} is unknown; accepted: 1 to ${MAX_TYPE}`, { type })
    if (n > MAX_PAYLOADS) throw frameError(`frame has ${n} payloads; accepted: at most ${MAX_PAYLOADS}`, { payloadCount: n })
    if (body + 4 > this.#limits.maxFrameBytes) {
      throw frameError(`frame of ${body + 4} bytes; accepted: at most ${this.#limits.maxFrameBytes} (transport.max_frame_size)`, { frameBytes: body + 4 })
    }
    if (body < 8 + 4 * n + headerBytes) throw frameError(`frame body of ${body} bytes is shorter than its head`, { body })
    return headBytes(headerBytes, n)
  }

  #accumulateHead(chunk: Uint8Array, at: number): number {
    const take = Math.min(this.#headNeed - this.#headHave, chunk.length - at)
    this.#ensureHeadBuf(this.#headHave + take)
    this.#headBuf.set(chunk.subarray(at, at + take), this.#headHave)
    this.#headHave += take
    at += take
    if (this.#headHave === FIXED_HEAD_BYTES && this.#headNeed === FIXED_HEAD_BYTES) {
      this.#headNeed = this.#checkFixed(this.#headView, 0)
      if (this.#headNeed > FIXED_HEAD_BYTES) return at
    }
    if (this.#headHave === this.#headNeed) {
      this.#parseHead(this.#headBuf, this.#headView, 0)
      this.#headHave = 0
      this.#headNeed = FIXED_HEAD_BYTES
      return this.#afterHead(chunk, at, true)
    }
    return at
  }

  /** Bytes still missing from a head that spans reads (0 when none is in progress or its size is not known yet). */
  get headBytesMissing(): number {
    return this.#state === State.Head && this.#headHave > 0 ? this.#headNeed - this.#headHave : 0
  }

  #ensureHeadBuf(size: number): void {
    if (this.#headBuf.length >= size) return
    const grown = new Uint8Array(Math.max(size, this.#headBuf.length * 2))
    grown.set(this.#headBuf.subarray(0, this.#headHave))
    this.#headBuf = grown
    this.#headView = new DataView(grown.buffer)
  }

  #parseHead(source: Uint8Array, view: DataView, at: number): void {
    const body = view.getUint32(at, true)
    this.#type = source[at + 4]
    const n = source[at + 5]
    const headerBytes = view.getUint32(at + 8, true)
    let p = at + FIXED_HEAD_BYTES
    let total = 0
    this.#lengths.length = n
    for (let i = 0; i < n; i++, p += 4) {
      const len = view.getUint32(p, true)
      this.#lengths[i] = len
      total += len
    }
    if (body !== 8 + 4 * n + headerBytes + total) {
      throw frameError(`frame body of ${body} bytes does not match its parts (${8 + 4 * n + headerBytes + total})`, { body })
    }
    this.#header = source.subarray(p, p + headerBytes)
    this.#payloadTotal = total
  }

  /** After a head: deliver at once if possible, else set up payload streaming. */
  #afterHead(chunk: Uint8Array, at: number, headCopied: boolean): number {
    const total = this.#payloadTotal
    const dest = this.#sink.head(this.#type, this.#header, this.#lengths, total)
    if (total === 0) {
      this.#sink.frame(this.#type, this.#header, this.#lengths.length === 0 || dest === DISCARD ? EMPTY_PAYLOADS : this.#zeroLengthPayloads(dest))
      return at
    }
    if (dest === undefined && chunk.length - at >= total) {
      this.#sink.frame(this.#type, this.#header, this.#views(chunk, at))
      return at + total
    }
    // The payload spans chunks: keep the header (the chunk may be reused after push returns).
    if (!headCopied) {
      const hb = this.#header.length
      this.#ensureHeadBuf(hb)
      this.#headBuf.set(this.#header)
      this.#header = this.#headBuf.subarray(0, hb)
    } // else the header already lives in #headBuf, untouched until this frame is delivered
    this.#place(dest, total)
    this.#index = 0
    this.#have = 0
    this.#state = State.Payload
    this.#skipEmpty()
    return at
  }

  /** Sets one target per payload from what the sink asked for. */
  #place(dest: PayloadDestination, total: number): void {
    const n = this.#lengths.length
    if (dest === DISCARD) {
      this.#placement = Placement.DiscardAll
      this.#targets = new Array<null>(n).fill(null)
      return
    }
    if (dest === undefined || dest instanceof Uint8Array) {
      let buffer = dest
      if (buffer === undefined) {
        if (this.#assembly.length < total) this.#assembly = new Uint8Array(Math.max(total, Math.min(this.#assembly.length * 2, this.#limits.maxFrameBytes)))
        buffer = this.#assembly
      }
      if (buffer.length < total) throw new Error(`a frame sink gave ${buffer.length} bytes for ${total} bytes of payloads`)
      this.#placement = Placement.Views
      this.#targets = this.#views(buffer, 0)
      return
    }
    if (dest.length !== n) throw new Error(`a frame sink gave ${dest.length} payload targets for ${n} payloads`)
    for (let i = 0; i < n; i++) {
      const target = dest[i]
      if (target !== null && target.length !== this.#lengths[i]) throw new Error(`a frame sink gave ${target.length} bytes for payload ${i} of ${this.#lengths[i]} bytes`)
    }
    this.#placement = Placement.PerPayload
    this.#targets = dest.slice()
  }

  /** Moves past zero-length payloads; completes the frame after the last payload. */
  #skipEmpty(): void {
    const n = this.#lengths.length
    while (this.#index < n && this.#have === this.#lengths[this.#index]) {
      this.#index++
      this.#have = 0
    }
    if (this.#index === n) this.#complete()
  }

  #complete(): void {
    this.#state = State.Head
    const targets = this.#targets
    this.#targets = []
    let payloads: readonly Uint8Array[]
    if (this.#placement === Placement.DiscardAll) payloads = EMPTY_PAYLOADS
    else if (this.#placement === Placement.Views) payloads = targets as Uint8Array[]
    else payloads = targets.map((target) => target ?? SKIPPED_PAYLOAD)
    this.#sink.frame(this.#type, this.#header, payloads)
  }

  /**
   * Where the next socket read may land directly, skipping the receive buffer: the unfilled rest
   * of the current payload's target (a pool slot, a region, a reader's buffer, or the assembly
   * buffer), sized exactly so a read can never spill into the next payload or frame. Null when
   * the decoder is between frames, the payload is discarded, or fewer than `minBytes` remain.
   */
  directTarget(minBytes: number): Uint8Array | null {
    if (this.#state !== State.Payload) return null
    const target = this.#targets[this.#index]
    if (target === null || target.length - this.#have < minBytes) return null
    return target.subarray(this.#have)
  }

  /** Accounts `n` bytes a read placed into the last `directTarget()`. */
  advanceDirect(n: number): void {
    this.#have += n
    this.#skipEmpty()
  }

  #feedPayload(chunk: Uint8Array, at: number): number {
    const length = this.#lengths[this.#index]
    const take = Math.min(length - this.#have, chunk.length - at)
    const target = this.#targets[this.#index]
    if (target !== null) target.set(chunk.subarray(at, at + take), this.#have)
    this.#have += take
    this.#skipEmpty()
    return at + take
  }

  /** Payload list of a frame whose payloads are all empty. */
  #zeroLengthPayloads(dest: PayloadDestination): readonly Uint8Array[] {
    if (Array.isArray(dest)) return dest.map((target: Uint8Array | null) => target ?? SKIPPED_PAYLOAD)
    return this.#lengths.map(() => SKIPPED_PAYLOAD)
  }

  #views(source: Uint8Array, at: number): Uint8Array[] {
    const out: Uint8Array[] = new Array(this.#lengths.length)
    for (let i = 0; i < this.#lengths.length; i++) {
      out[i] = source.subarray(at, at + this.#lengths[i])
      at += this.#lengths[i]
    }
    return out
  }
}
