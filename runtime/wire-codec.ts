import { addExtension, Packr, Unpackr } from 'msgpackr'
import { ActorRefImpl, type RefRouter } from './actor-ref.ts'
import { PooledBuffer, type BufferPool } from './buffer-pool.ts'
import { T3fsError } from './errors.ts'

/**
 * The value codec of the host-to-host links. Messages are small objects of a few shapes sent
 * millions of times, so each link learns a shape (the `type` value plus the key order) once and
 * then sends only its id and the values; the receiver builds objects with a generated literal of
 * that shape. Anything outside the fast types (Map, Set, Date, class instances, huge integers)
 * falls back to msgpackr inside the same stream.
 *
 * Measured on this 2-core VM (bench:actors), msgpackr alone cost 150–400 ns per small message on
 * the producer, which capped cross-host tells near 1.4 M/s; this codec is what lets the router
 * approach the raw ring.
 *
 * Between hosts of a node a PooledBuffer travels as its slot's coordinates. Between nodes (a
 * writer with `outOfBand`), PooledBuffers and large Uint8Arrays leave the stream: the writer
 * collects them as the frame's payloads, and the stream keeps only their index. The reader gets
 * them back from a PayloadSource: what the receiving node read from the socket straight into a
 * pool slot, or into a buffer of the receiver's own.
 */

const enum Tag {
  Null = 0,
  Undefined = 1,
  False = 2,
  True = 3,
  Int32 = 4,
  Float64 = 5,
  Ascii = 6,
  Utf8 = 7,
  Binary = 8,
  Array = 9,
  Shape = 10,
  ShapeDefinition = 11,
  Ref = 12,
  BigInt64 = 13,
  Msgpack = 14,
  Pooled = 15,
  PooledInline = 16,
  BigIntText = 17,
  /** u8 index of a frame payload: a PooledBuffer between nodes. */
  PayloadPooled = 18,
  /** u8 index of a frame payload: a large Uint8Array between nodes. */
  PayloadBinary = 19,
}

/** What a frame's manifest says of each payload (see network-route.ts). */
export const PayloadKind = { plain: 0, pooled: 1 } as const

/** Out-of-band payloads for a writer between nodes. */
export interface OutOfBandOptions {
  /** A Uint8Array of at least this many bytes leaves the stream (a PooledBuffer always does). */
  readonly minBytes: number
  /** Payloads one stream may collect (a frame's payload count); more throw PayloadLimitError. */
  readonly maxPayloads: number
}

/** A value would add a payload beyond `maxPayloads`: the caller sends what it has and retries, or refuses the message. */
export class PayloadLimitError extends Error {
  constructor(readonly maxPayloads: number) {
    super(`a message may carry at most ${maxPayloads} out-of-band payloads (PooledBuffers, and Uint8Arrays of 64 KiB or more)`)
  }
}

/** The payloads of one received frame, as a reader claims them (each at most once). */
export interface PayloadSource {
  /** The pooled buffer payload `index` was read into, or null when the receiver had no slot for it. */
  claimPooled(index: number): PooledBuffer | null
  /** The buffer of the receiver's own that plain payload `index` was read into. */
  claimPlain(index: number): Uint8Array
}

interface ShapeNode {
  id: number
  /** Next node by key; for a `type` key with a string value, `typed` holds nodes by that value. */
  readonly next: Map<string, ShapeNode>
  readonly typed: Map<string, ShapeNode>
  readonly keys: readonly string[]
  readonly typeValue: string | null
  /** The definition as it is sent (JSON of keys and type), made once. */
  definition: string | null
}

function shapeNode(keys: readonly string[], typeValue: string | null): ShapeNode {
  return { id: -1, next: new Map(), typed: new Map(), keys, typeValue, definition: null }
}

const shapesMax = 65535
/**
 * Shape nodes a writer keeps across resetShapes (a network frame stands alone, but the next frame
 * mostly carries the same shapes: their nodes and definitions are reused, only their ids restart).
 * Past this many the writer forgets them all and starts over.
 */
const shapeNodesKeptMax = 16_384
/**
 * Compiled shape readers by definition, shared by every reader of the thread: each network frame
 * defines its shapes again, and compiling a reader (new Function) per frame would cost more than
 * decoding the frame. Past this many definitions the cache starts over.
 */
const shapeReadersCachedMax = 4096
const shapeReaderCache = new Map<string, ShapeReader>()

function cachedShapeReader(definition: string): ShapeReader {
  let reader = shapeReaderCache.get(definition)
  if (reader === undefined) {
    const { keys, type } = JSON.parse(definition) as { keys: string[]; type: string | null }
    reader = compileShape(keys, type)
    if (shapeReaderCache.size >= shapeReadersCachedMax) shapeReaderCache.clear()
    shapeReaderCache.set(definition, reader)
  }
  return reader
}


/**
 * ActorRefs nested inside a msgpackr-encoded fallback value travel as their address and come back
 * bound to the decoding thread's router (set around each fallback decode).
 */
let fallbackRouter: RefRouter | null = null
addExtension({
  Class: ActorRefImpl,
  type: 0x54,
  write: (ref: ActorRefImpl) => [ref.address.node, ref.address.host, ref.address.id, ref.address.incarnation],
  read: ([node, host, id, incarnation]: [number, number, number, number]) => {
    if (fallbackRouter === null) throw new Error('an ActorRef was decoded outside a link')
    return new ActorRefImpl({ node, host, id, incarnation }, fallbackRouter)
  },
})
const textEncoder = new TextEncoder()

/** Encodes values into a growable buffer; one writer per directed link (it remembers the shapes sent). */
export class WireWriter {
  buffer: Uint8Array
  private view: DataView
  position = 0
  private readonly root = shapeNode([], null)
  /** Shapes whose first key is `type`, by its value: the common case, found with one lookup. */
  private readonly byType = new Map<string, ShapeNode>()
  private readonly defined: ShapeNode[] = []
  private markPosition = 0
  private markShapeCount = 0
  private shapeCount = 0
  /** Shape nodes in the trie (kept across resetShapes up to shapeNodesKeptMax). */
  private shapeNodes = 0
  private readonly fallback = new Packr({ useRecords: false })
  /** Where a pool slot means nothing (another node, the simulator), pooled buffers may be sent as their bytes. */
  private readonly inlinePooled: boolean
  private readonly outOfBand: OutOfBandOptions | null
  /** Out-of-band payloads collected so far (outOfBand writers), their kinds, and the pooled buffers among them. */
  readonly payloads: Uint8Array[] = []
  readonly payloadKinds: number[] = []
  pooled: PooledBuffer[] = []
  payloadBytes = 0
  private markPayloads = 0
  private markPooled = 0
  private markPayloadBytes = 0

  constructor(options: { initialBytes?: number; inlinePooled?: boolean; outOfBand?: OutOfBandOptions } = {}) {
    this.buffer = new Uint8Array(options.initialBytes ?? 64 * 1024)
    this.view = new DataView(this.buffer.buffer)
    this.inlinePooled = options.inlinePooled ?? false
    this.outOfBand = options.outOfBand ?? null
  }

  /** Forgets the collected payloads (their frame was handed over); `pooled` starts as a new array. */
  clearPayloads(): void {
    this.payloads.length = 0
    this.payloadKinds.length = 0
    if (this.pooled.length > 0) this.pooled = []
    this.payloadBytes = 0
  }

  /**
   * Forgets every shape sent, for a stream that restarts (each network frame stands alone): the next
   * use of a shape defines it again. The trie of shapes seen stays (bounded), so that costs no
   * allocation.
   */
  resetShapes(): void {
    if (this.shapeNodes > shapeNodesKeptMax) {
      this.root.next.clear()
      this.root.typed.clear()
      this.shapeNodes = 0
    }
    this.byType.clear()
    for (const shape of this.defined) shape.id = -1
    this.defined.length = 0
    this.shapeCount = 0
  }

  reset(): void {
    this.position = 0
  }

  get bytes(): Uint8Array {
    return this.buffer.subarray(0, this.position)
  }

  u8(value: number): void {
    this.ensure(1)
    this.buffer[this.position++] = value
  }

  u16(value: number): void {
    this.ensure(2)
    this.view.setUint16(this.position, value, true)
    this.position += 2
  }

  u32(value: number): void {
    this.ensure(4)
    this.view.setUint32(this.position, value, true)
    this.position += 4
  }

  value(value: unknown): void {
    switch (typeof value) {
      case 'number':
        if ((value | 0) === value && !Object.is(value, -0)) {
          this.ensure(5)
          this.buffer[this.position] = Tag.Int32
          this.view.setInt32(this.position + 1, value, true)
          this.position += 5
        } else {
          this.ensure(9)
          this.buffer[this.position] = Tag.Float64
          this.view.setFloat64(this.position + 1, value, true)
          this.position += 9
        }
        return
      case 'string':
        return this.string(value)
      case 'boolean':
        return this.u8(value ? Tag.True : Tag.False)
      case 'undefined':
        return this.u8(Tag.Undefined)
      case 'bigint':
        if (value >= -(2n ** 63n) && value < 2n ** 63n) {
          this.ensure(9)
          this.buffer[this.position] = Tag.BigInt64
          this.view.setBigInt64(this.position + 1, value, true)
          this.position += 9
          return
        }
        this.u8(Tag.BigIntText)
        return this.string(value.toString())
      case 'object':
        return this.object(value)
      default:
        throw new TypeError(`a ${typeof value} cannot cross a host link; send data, or a module reference for code`)
    }
  }

  private object(value: object | null): void {
    if (value === null) return this.u8(Tag.Null)
    const prototype = Object.getPrototypeOf(value)
    if (prototype === Object.prototype || prototype === null) return this.plainObject(value as Record<string, unknown>)
    if (Array.isArray(value)) {
      this.u8(Tag.Array)
      this.u32(value.length)
      for (let i = 0; i < value.length; i++) this.value(value[i])
      return
    }
    if (value instanceof Uint8Array) {
      if (this.outOfBand !== null && value.length >= this.outOfBand.minBytes) return this.payload(Tag.PayloadBinary, value, PayloadKind.plain)
      this.ensure(5 + value.length)
      this.buffer[this.position] = Tag.Binary
      this.view.setUint32(this.position + 1, value.length, true)
      this.buffer.set(value, this.position + 5)
      this.position += 5 + value.length
      return
    }
    if (value instanceof PooledBuffer) {
      if (this.outOfBand !== null) {
        this.payload(Tag.PayloadPooled, value.bytes, PayloadKind.pooled)
        this.pooled.push(value)
        return
      }
      if (this.inlinePooled) {
        this.ensure(5 + value.length)
        this.buffer[this.position] = Tag.PooledInline
        this.view.setUint32(this.position + 1, value.length, true)
        this.buffer.set(value.bytes, this.position + 5)
        this.position += 5 + value.length
        return
      }
      // Zero copy: only the slot's coordinates cross; the receiver maps the same shared memory.
      this.u8(Tag.Pooled)
      this.u8(value.sizeClass)
      this.u32(value.slot)
      this.u32(value.length)
      return
    }
    if (value instanceof ActorRefImpl) {
      this.u8(Tag.Ref)
      this.u16(value.address.node)
      this.u16(value.address.host)
      this.u32(value.address.id)
      this.u32(value.address.incarnation)
      return
    }
    this.msgpack(value)
  }

  private plainObject(value: Record<string, unknown>): void {
    // Fast path: a message whose `type` was seen before, with the same keys in the same order,
    // is checked and written in one pass.
    const type = value.type
    if (typeof type === 'string') {
      const known = this.byType.get(type)
      if (known !== undefined && this.writeKnownShape(value, known)) return
    }
    let node = this.root
    for (const key in value) {
      const item = value[key]
      if (key === 'type' && typeof item === 'string') {
        let next = node.typed.get(item)
        if (next === undefined) {
          node.typed.set(item, (next = shapeNode([...node.keys, key], item)))
          this.shapeNodes++
        }
        node = next
      } else {
        let next = node.next.get(key)
        if (next === undefined) {
          node.next.set(key, (next = shapeNode([...node.keys, key], node.typeValue)))
          this.shapeNodes++
        }
        node = next
      }
    }
    if (node.id < 0) {
      // A key that a generated object literal would treat as the prototype goes the generic way.
      if (this.shapeCount >= shapesMax || node.keys.includes('__proto__')) return this.msgpack(value)
      node.id = this.shapeCount++
      this.defined.push(node)
      if (node.typeValue !== null && node.keys[0] === 'type') this.byType.set(node.typeValue, node)
      this.u8(Tag.ShapeDefinition)
      this.u16(node.id)
      this.string(node.definition ??= JSON.stringify({ keys: node.keys, type: node.typeValue }))
    } else {
      this.ensure(3)
      this.buffer[this.position] = Tag.Shape
      this.view.setUint16(this.position + 1, node.id, true)
      this.position += 3
    }
    for (const key in value) {
      if (key === 'type' && node.typeValue !== null) continue
      this.value(value[key])
    }
  }

  /** A payload leaves the stream; the stream keeps its index. */
  private payload(tag: Tag, bytes: Uint8Array, kind: number): void {
    const index = this.payloads.length
    if (index >= this.outOfBand!.maxPayloads) throw new PayloadLimitError(this.outOfBand!.maxPayloads)
    this.ensure(2)
    this.buffer[this.position] = tag
    this.buffer[this.position + 1] = index
    this.position += 2
    this.payloads.push(bytes)
    this.payloadKinds.push(kind)
    this.payloadBytes += bytes.length
  }

  /** Writes `value` as `shape` if its keys match exactly; otherwise rewinds and returns false. */
  private writeKnownShape(value: Record<string, unknown>, shape: ShapeNode): boolean {
    const keys = shape.keys
    let index = 0
    for (const key in value) if (keys[index++] !== key) return false
    if (index !== keys.length) return false
    this.ensure(3)
    this.buffer[this.position] = Tag.Shape
    this.view.setUint16(this.position + 1, shape.id, true)
    this.position += 3
    index = 0
    for (const key in value) if (index++ > 0) this.value(value[key])
    return true
  }

  /** Marks where an envelope starts, to undo it (bytes and the shapes it defined) if it cannot be encoded. */
  begin(): void {
    this.markPosition = this.position
    this.markShapeCount = this.shapeCount
    this.markPayloads = this.payloads.length
    this.markPooled = this.pooled.length
    this.markPayloadBytes = this.payloadBytes
  }

  /** Undoes everything written since `begin()`. */
  rollback(): void {
    this.position = this.markPosition
    for (let id = this.markShapeCount; id < this.shapeCount; id++) {
      const shape = this.defined[id]
      shape.id = -1
      if (shape.typeValue !== null && this.byType.get(shape.typeValue) === shape) this.byType.delete(shape.typeValue)
    }
    this.defined.length = this.markShapeCount
    this.shapeCount = this.markShapeCount
    this.payloads.length = this.markPayloads
    this.payloadKinds.length = this.markPayloads
    this.pooled.length = this.markPooled
    this.payloadBytes = this.markPayloadBytes
  }

  private string(value: string): void {
    const length = value.length
    if (length <= 64) {
      this.ensure(5 + length)
      const start = this.position + 5
      let i = 0
      for (; i < length; i++) {
        const code = value.charCodeAt(i)
        if (code > 0x7f) break
        this.buffer[start + i] = code
      }
      if (i === length) {
        this.buffer[this.position] = Tag.Ascii
        this.view.setUint32(this.position + 1, length, true)
        this.position = start + length
        return
      }
    }
    this.ensure(5 + length * 3)
    const { written } = textEncoder.encodeInto(value, this.buffer.subarray(this.position + 5))
    this.buffer[this.position] = Tag.Utf8
    this.view.setUint32(this.position + 1, written, true)
    this.position += 5 + written
  }

  private msgpack(value: unknown): void {
    const encoded = this.fallback.pack(value)
    this.ensure(5 + encoded.length)
    this.buffer[this.position] = Tag.Msgpack
    this.view.setUint32(this.position + 1, encoded.length, true)
    this.buffer.set(encoded, this.position + 5)
    this.position += 5 + encoded.length
  }

  private ensure(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.position + bytes))
    grown.set(this.buffer.subarray(0, this.position))
    this.buffer = grown
    this.view = new DataView(grown.buffer)
  }
}

type ShapeReader = (reader: WireReader) => Record<string, unknown>

/** Decodes what one WireWriter wrote, in order; it learns the writer's shapes as they arrive. */
export class WireReader {
  buffer: Uint8Array = new Uint8Array(0)
  private view = new DataView(this.buffer.buffer)
  position = 0
  end = 0
  private readonly shapes: ShapeReader[] = []
  private readonly fallback = new Unpackr({ useRecords: false })
  /** The payloads of the frame being read (between nodes). */
  private payloadSource: PayloadSource | null = null
  /** Pooled payloads read as null because the receiver had no slot for them (see PayloadSource). */
  missingPayloads = 0

  constructor(
    private readonly router: RefRouter,
    private readonly pool: BufferPool | null = null,
  ) {}

  resetShapes(): void {
    this.shapes.length = 0
  }

  /** The payloads the stream's indices refer to, until the next call. */
  setPayloads(source: PayloadSource | null): void {
    this.payloadSource = source
    this.missingPayloads = 0
  }

  load(buffer: Uint8Array, start: number, end: number): void {
    if (buffer !== this.buffer) {
      this.buffer = buffer
      this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    }
    this.position = start
    this.end = end
  }

  get done(): boolean {
    return this.position >= this.end
  }

  u8(): number {
    return this.buffer[this.position++]
  }

  u16(): number {
    const value = this.view.getUint16(this.position, true)
    this.position += 2
    return value
  }

  u32(): number {
    const value = this.view.getUint32(this.position, true)
    this.position += 4
    return value
  }

  value(): unknown {
    const tag = this.buffer[this.position++]
    switch (tag) {
      case Tag.Null: return null
      case Tag.Undefined: return undefined
      case Tag.False: return false
      case Tag.True: return true
      case Tag.Int32: {
        const value = this.view.getInt32(this.position, true)
        this.position += 4
        return value
      }
      case Tag.Float64: {
        const value = this.view.getFloat64(this.position, true)
        this.position += 8
        return value
      }
      case Tag.Ascii: return this.ascii(this.u32())
      case Tag.Utf8: {
        const length = this.u32()
        const text = Buffer.from(this.buffer.buffer, this.buffer.byteOffset + this.position, length).toString('utf8')
        this.position += length
        return text
      }
      case Tag.Binary: {
        const length = this.u32()
        const start = this.position
        this.position += length
        // A copy (the link's buffer is reused for the next record), always a Uint8Array: small
        // ones by slice, which V8 allocates on its heap (half the cost of a Buffer here), larger
        // ones from Node's Buffer pool, which avoids fresh memory.
        if (length <= 64) return this.buffer.slice(start, start + length)
        const bytes = Buffer.allocUnsafe(length)
        bytes.set(this.buffer.subarray(start, start + length))
        return bytes
      }
      case Tag.Array: {
        const length = this.u32()
        const items = new Array<unknown>(length)
        for (let i = 0; i < length; i++) items[i] = this.value()
        return items
      }
      case Tag.Shape: return this.shapes[this.u16()](this)
      case Tag.ShapeDefinition: {
        const id = this.u16()
        this.shapes[id] = cachedShapeReader(this.value() as string)
        return this.shapes[id](this)
      }
      case Tag.Ref: {
        const node = this.u16()
        const host = this.u16()
        const id = this.u32()
        return new ActorRefImpl({ node, host, id, incarnation: this.u32() }, this.router)
      }
      case Tag.BigInt64: {
        const value = this.view.getBigInt64(this.position, true)
        this.position += 8
        return value
      }
      case Tag.Pooled: {
        const sizeClass = this.u8()
        const slot = this.u32()
        const length = this.u32()
        if (this.pool === null) throw new Error('a pooled buffer arrived on a host without a buffer pool')
        return this.pool.view(sizeClass, slot, length)
      }
      case Tag.BigIntText: return BigInt(this.value() as string)
      case Tag.PayloadPooled: {
        const pooled = this.source().claimPooled(this.u8())
        if (pooled === null) this.missingPayloads++
        return pooled
      }
      case Tag.PayloadBinary: return this.source().claimPlain(this.u8())
      case Tag.PooledInline: {
        const length = this.u32()
        if (this.pool === null) throw new Error('a pooled buffer arrived on a host without a buffer pool')
        const pooled = this.pool.tryAllocate(length)
        if (pooled === null) throw new T3fsError('ERR_POOL_EXHAUSTED', `no free pooled buffer of ${length} bytes for an arriving message`)
        pooled.bytes.set(this.buffer.subarray(this.position, this.position + length))
        this.position += length
        return pooled
      }
      case Tag.Msgpack: {
        const length = this.u32()
        const copy = Buffer.from(this.buffer.subarray(this.position, this.position + length))
        this.position += length
        fallbackRouter = this.router
        try {
          return this.fallback.unpack(copy)
        } finally {
          fallbackRouter = null
        }
      }
      default:
        throw new Error(`corrupt link stream: unknown tag ${tag} at ${this.position - 1}`)
    }
  }

  private source(): PayloadSource {
    if (this.payloadSource === null) throw new Error('an out-of-band payload was referenced outside a network frame')
    return this.payloadSource
  }

  private ascii(length: number): string {
    const start = this.position
    this.position += length
    if (length > 24) return Buffer.from(this.buffer.buffer, this.buffer.byteOffset + start, length).toString('latin1')
    let text = ''
    for (let i = start; i < start + length; i++) text += String.fromCharCode(this.buffer[i])
    return text
  }
}

/** A reader that builds the object as one literal, so every message of a shape shares a hidden class. */
function compileShape(keys: readonly string[], typeValue: string | null): ShapeReader {
  const fields = keys.map((key) => `${JSON.stringify(key)}: ${key === 'type' && typeValue !== null ? JSON.stringify(typeValue) : 'r.value()'}`)
  return new Function('r', `return { ${fields.join(', ')} }`) as ShapeReader
}
