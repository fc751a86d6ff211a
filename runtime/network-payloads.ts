import { PooledBuffer, type BufferPool } from './buffer-pool.ts'
import { T3fsError } from './errors.ts'
import type { PayloadPlacement } from './transport/transport.ts'
import { PayloadKind, type PayloadSource } from './wire-codec.ts'

/** The receiver had no pool slot for a pooled payload: the envelope carrying it is refused, alone. */
export function poolExhausted(node: number, bytes: readonly number[]): T3fsError {
  const sizes = bytes.join(', ')
  return new T3fsError('ERR_POOL_EXHAUSTED', `node ${node} has no free pool slot for a pooled payload of ${sizes} bytes; the message was refused (its receivers hold every slot of that size: release buffers sooner, or give the node more slots)`, {
    node, bytes: [...bytes],
  })
}

/**
 * The payloads of one received data frame, placed when its head arrived (see network-route.ts):
 * a pooled payload is read straight into a slot taken from this node's pool (or skipped when none
 * is free), a plain one into a buffer of the receiver's own. The frame's envelopes then claim them
 * by index as they are decoded; whatever ends up unclaimed (a corrupt frame) or refused goes back
 * to the pool, and so does everything if the frame never completes.
 */
export class ReceivedPayloads implements PayloadPlacement, PayloadSource {
  readonly targets: (Uint8Array | null)[]
  private readonly pooled: (PooledBuffer | null)[]
  private readonly kinds: Uint8Array
  private readonly lengths: readonly number[]
  private readonly claimed: Uint8Array
  /** Indices in the order envelopes claimed them (an envelope's claims are a suffix). */
  private readonly order: number[] = []

  constructor(pool: BufferPool | null, manifest: Uint8Array, lengths: readonly number[]) {
    const n = lengths.length
    this.kinds = manifest.slice(0, n)
    this.lengths = lengths.slice()
    this.claimed = new Uint8Array(n)
    this.targets = new Array<Uint8Array | null>(n)
    this.pooled = new Array<PooledBuffer | null>(n).fill(null)
    for (let i = 0; i < n; i++) {
      const kind = this.kinds[i]
      if (kind === PayloadKind.pooled) {
        const buffer = allocate(pool, lengths[i])
        this.pooled[i] = buffer
        this.targets[i] = buffer?.bytes ?? null
      } else if (kind === PayloadKind.plain) {
        // Not zero-filled: every byte is about to be read from the socket.
        this.targets[i] = Buffer.allocUnsafe(lengths[i])
      } else {
        this.targets[i] = null // an unknown kind: claiming it fails the frame as corrupt
      }
    }
  }

  get claimedCount(): number {
    return this.order.length
  }

  claimPooled(index: number): PooledBuffer | null {
    this.claim(index, PayloadKind.pooled)
    return this.pooled[index]
  }

  claimPlain(index: number): Uint8Array {
    this.claim(index, PayloadKind.plain)
    return this.targets[index]!
  }

  /** Lengths of the pooled payloads claimed since `mark` that found no slot. */
  missingSince(mark: number): number[] {
    return this.order.slice(mark).filter((i) => this.kinds[i] === PayloadKind.pooled && this.pooled[i] === null).map((i) => this.lengths[i])
  }

  /** The envelope that claimed these was refused: its slots go back. */
  releaseClaimedSince(mark: number): void {
    for (let k = mark; k < this.order.length; k++) this.releaseAt(this.order[k])
  }

  /** After the frame: a slot no envelope claimed (a corrupt frame) goes back. */
  releaseUnclaimed(): void {
    for (let i = 0; i < this.pooled.length; i++) if (this.claimed[i] === 0) this.releaseAt(i)
  }

  /** The frame never completed (its connection was lost). */
  abandon(): void {
    for (let i = 0; i < this.pooled.length; i++) this.releaseAt(i)
  }

  private claim(index: number, kind: number): void {
    if (index >= this.kinds.length || this.kinds[index] !== kind || this.claimed[index] !== 0) {
      throw new Error(`corrupt frame: payload ${index} is not an unclaimed ${kind === PayloadKind.pooled ? 'pooled' : 'plain'} payload of the ${this.kinds.length} this frame has`)
    }
    this.claimed[index] = 1
    this.order.push(index)
  }

  private releaseAt(index: number): void {
    const buffer = this.pooled[index]
    if (buffer === null) return
    this.pooled[index] = null
    buffer.release()
  }
}

function allocate(pool: BufferPool | null, length: number): PooledBuffer | null {
  if (pool === null || length > pool.largestBytes) return null
  return pool.tryAllocate(length)
}

/** A decoded message with every PooledBuffer in it (through plain objects and arrays) replaced by null. */
export function withoutPooled(value: unknown): unknown {
  if (value instanceof PooledBuffer) return null
  if (Array.isArray(value)) return value.map(withoutPooled)
  if (value === null || typeof value !== 'object') return value
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return value
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withoutPooled(item)]))
}
