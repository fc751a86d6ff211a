import type { Message } from './actor.ts'
import type { ActorAddress } from './address.ts'
import type { ActorSystem, ControlMessage, RemoteRoute } from './actor-system.ts'
import { createLinkEncoder, EnvelopeKind, LinkDecoder, type Envelope } from './envelope-codec.ts'
import { T3fsError } from './errors.ts'
import type { MailItem, ReplyTarget } from './mail.ts'
import { hostDied, unknownAddress } from './runtime-errors.ts'
import { allocateRing, Doorbell, MORE, RingConsumer, RingProducer, type RingMemory } from './spsc-ring.ts'
import type { Packr } from 'msgpackr'

/**
 * The shared memory that connects the hosts of one node: a ring per ordered pair of hosts and a
 * doorbell per host. Allocated once by the main thread and handed to each worker.
 */
export interface MeshMemory {
  readonly hosts: number
  /** rings[from][to]; null on the diagonal. */
  readonly rings: readonly (readonly (RingMemory | null)[])[]
  readonly doorbells: readonly SharedArrayBuffer[]
}

export const ringBytesDefault = 1 << 20

export function allocateMesh(hosts: number, ringBytes = ringBytesDefault): MeshMemory {
  const rings = Array.from({ length: hosts }, (_, from) =>
    Array.from({ length: hosts }, (_, to) => (from === to ? null : allocateRing(ringBytes))))
  return { hosts, rings, doorbells: Array.from({ length: hosts }, () => Doorbell.allocate()) }
}

/** Envelopes queued on one link before senders see ERR_MAILBOX_FULL. */
export const linkQueueMax = 8192
/** Envelopes encoded into one ring record. */
const batchMax = 128
/** Records decoded per turn before yielding to the event loop. */
const recordsPerTurn = 32

/** The sending side of one directed host-to-host link. */
class OutLink {
  private pending: Envelope[] = []
  private flushQueued = false
  /** Encoded bytes not yet in the ring, and how much of them is. */
  private backlog: Uint8Array | null = null
  private backlogOffset = 0
  private waitingForRoom = false
  private writableWaiters: (() => void)[] = []
  dead: T3fsError | null = null
  private readonly encoder: Packr = createLinkEncoder()

  constructor(
    readonly node: number,
    readonly host: number,
    private readonly ring: RingProducer,
    private readonly doorbell: Doorbell,
  ) {}

  get full(): boolean {
    return this.pending.length >= linkQueueMax
  }

  push(envelope: Envelope): void {
    if (this.dead !== null) throw this.dead
    if (this.pending.length >= linkQueueMax) {
      throw new T3fsError('ERR_MAILBOX_FULL', `link to host ${this.host} of node ${this.node} is full (${linkQueueMax} messages queued); retry later or use send() to wait`, {
        node: this.node, host: this.host, capacity: linkQueueMax,
      })
    }
    this.pending.push(envelope)
    if (this.pending.length >= batchMax) this.flush()
    else if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(this.flush)
    }
  }

  whenWritable(): Promise<void> {
    if (this.dead !== null) return Promise.reject(this.dead)
    if (!this.full) return Promise.resolve()
    return new Promise((resolve) => this.writableWaiters.push(resolve))
  }

  kill(error: T3fsError): void {
    this.dead = error
    this.pending = []
    this.backlog = null
    for (const resolve of this.writableWaiters) resolve()
    this.writableWaiters = []
  }

  readonly flush = (): void => {
    this.flushQueued = false
    if (this.dead !== null) return
    let wrote = false
    if (this.backlog !== null) {
      const done = this.write(this.backlog, this.backlogOffset)
      if (done < this.backlog.length) {
        wrote ||= done > this.backlogOffset
        this.backlogOffset = done
        if (wrote) this.publish()
        return this.waitForRoom()
      }
      this.backlog = null
      wrote = true
    }
    while (this.pending.length > 0) {
      const batch = this.pending.length <= batchMax ? this.pending : this.pending.slice(0, batchMax)
      this.pending = batch === this.pending ? [] : this.pending.slice(batchMax)
      const encoded = this.encoder.pack(batch)
      const done = this.write(encoded, 0)
      if (done > 0) wrote = true
      if (done < encoded.length) {
        // Encoded bytes are part of the link's stream state: keep them, never re-encode.
        this.backlog = Uint8Array.prototype.slice.call(encoded)
        this.backlogOffset = done
        if (wrote) this.publish()
        this.waitForRoom()
        return
      }
    }
    if (wrote) this.publish()
    if (!this.full && this.writableWaiters.length > 0) {
      const waiters = this.writableWaiters
      this.writableWaiters = []
      for (const resolve of waiters) resolve()
    }
  }

  /** Writes `bytes` from `offset` as records (fragments when larger than a record); returns how far it got. */
  private write(bytes: Uint8Array, offset: number): number {
    const maxRecord = this.ring.maxRecordBytes
    while (offset < bytes.length) {
      const length = Math.min(maxRecord, bytes.length - offset)
      const more = offset + length < bytes.length
      const at = this.ring.reserve(length, more)
      if (at < 0) return offset
      this.ring.bytes.set(bytes.subarray(offset, offset + length), at)
      this.ring.commit(length)
      offset += length
    }
    return offset
  }

  private publish(): void {
    this.ring.publish()
    this.doorbell.ring()
  }

  private waitForRoom(): void {
    if (this.waitingForRoom) return
    this.waitingForRoom = true
    void this.ring.waitForRoom().then(() => {
      this.waitingForRoom = false
      this.flush()
    })
  }
}

/** The receiving side of one link: decoded batches, delivered in order, pausing when a mailbox is full. */
class InLink {
  private batch: Envelope[] = []
  private index = 0
  /** Bytes of a fragmented message gathered so far. */
  private assembled = 0
  stalled = false

  constructor(
    readonly fromHost: number,
    readonly ring: RingConsumer,
    readonly decoder: LinkDecoder,
  ) {}

  get hasWork(): boolean {
    return !this.stalled && (this.index < this.batch.length || this.ring.hasData)
  }

  /**
   * Decodes the next whole message (gathering its fragments) into the current batch; false when it
   * has not fully arrived yet.
   */
  load(scratch: Scratch, lengthOut: Uint32Array): boolean {
    for (;;) {
      const offset = this.ring.next(lengthOut)
      if (offset < 0) return false
      const word = lengthOut[0]
      const length = (word & ~MORE) >>> 0
      const buffer = scratch.ensure(this.assembled + length, this.assembled)
      // Decoding straight from shared memory is slow for strings in msgpackr: copy out first.
      buffer.set(this.ring.bytes.subarray(offset, offset + length), this.assembled)
      this.assembled += length
      this.ring.release()
      if ((word & MORE) !== 0) continue
      const total = this.assembled
      this.assembled = 0
      this.batch = this.decoder.decode(buffer.subarray(0, total))
      this.index = 0
      return true
    }
  }

  take(): Envelope | undefined {
    return this.index < this.batch.length ? this.batch[this.index++] : undefined
  }

  putBack(): void {
    this.index--
  }
}

/** The copy-out buffer of a receiving host, grown (rarely) for messages larger than a ring. */
class Scratch {
  private buffer: Uint8Array

  constructor(initialBytes: number) {
    this.buffer = new Uint8Array(initialBytes)
  }

  ensure(bytes: number, keep: number): Uint8Array {
    if (bytes > messageBytesMax) throw new Error(`a message of more than ${messageBytesMax} bytes crossed a link`)
    if (bytes <= this.buffer.length) return this.buffer
    const grown = new Uint8Array(Math.min(messageBytesMax, Math.max(bytes, this.buffer.length * 2)))
    grown.set(this.buffer.subarray(0, keep))
    this.buffer = grown
    return grown
  }
}

/** The largest encoded batch a link carries; payloads beyond that belong in a shared buffer pool. */
export const messageBytesMax = 256 << 20

/**
 * Routes messages between the hosts of one node over the shared-memory rings. Messages for
 * other nodes go to the network seam (`setNetwork`), which the transports implement.
 */
export class HostMesh implements RemoteRoute {
  private readonly out: (OutLink | null)[]
  private readonly inLinks: InLink[]
  private readonly doorbell: Doorbell
  private readonly scratch: Scratch
  private readonly lengthOut = new Uint32Array(1)
  private network: RemoteRoute | null = null
  private running = false
  private drainQueued = false
  private waiting = false

  constructor(
    private readonly system: ActorSystem,
    memory: MeshMemory,
  ) {
    const me = system.host
    this.out = memory.rings[me].map((ring, to) =>
      ring === null ? null : new OutLink(system.node, to, new RingProducer(ring), new Doorbell(memory.doorbells[to])))
    this.inLinks = []
    let largestRing = 0
    for (let from = 0; from < memory.hosts; from++) {
      const ring = memory.rings[from][me]
      if (ring === null) continue
      largestRing = Math.max(largestRing, ring.data.byteLength)
      this.inLinks.push(new InLink(from, new RingConsumer(ring), new LinkDecoder(system)))
    }
    this.doorbell = new Doorbell(memory.doorbells[me])
    this.scratch = new Scratch(largestRing)
    system.setRemote(this)
  }

  setNetwork(network: RemoteRoute): void {
    this.network = network
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.drain()
  }

  stop(): void {
    this.running = false
  }

  /** The main thread saw a host die: fail whatever waits on it here. */
  hostDown(host: number, reason: string): void {
    const error = hostDied(this.system.node, host, reason)
    this.out[host]?.kill(error)
    this.system.hostDown(this.system.node, host, reason)
  }

  // ---- RemoteRoute ---------------------------------------------------------------------------

  deliver(to: ActorAddress, item: MailItem): void {
    if (to.node !== this.system.node) return this.viaNetwork().deliver(to, item)
    const reply = item.replyTo
    this.link(to).push([
      EnvelopeKind.Mail, to.id, reply === null ? 0 : reply.corr, reply === null ? 0 : reply.node, reply === null ? 0 : reply.host,
      item.sender, item.message,
    ])
  }

  whenWritable(to: ActorAddress): Promise<void> {
    if (to.node !== this.system.node) return this.viaNetwork().whenWritable(to)
    return this.link(to).whenWritable()
  }

  reply(target: ReplyTarget, ok: boolean, value: unknown): void {
    if (target.node !== this.system.node) return this.viaNetwork().reply(target, ok, value)
    this.link({ node: target.node, host: target.host, id: 0 }).push([EnvelopeKind.Reply, target.corr, ok ? 1 : 0, value])
  }

  control(node: number, host: number, control: ControlMessage): void {
    if (node !== this.system.node) return this.viaNetwork().control(node, host, control)
    this.link({ node, host, id: 0 }).push([EnvelopeKind.Control, control])
  }

  private link(to: { node: number; host: number; id: number }): OutLink {
    const link = this.out[to.host]
    if (link === undefined || link === null) throw unknownAddress({ node: to.node, host: to.host, id: to.id })
    return link
  }

  private viaNetwork(): RemoteRoute {
    if (this.network === null) throw new T3fsError('ERR_UNKNOWN_ADDRESS', 'no network transport: this node cannot reach other nodes')
    return this.network
  }

  // ---- inbound ---------------------------------------------------------------------------------

  private readonly drain = (): void => {
    this.drainQueued = false
    if (!this.running) return
    this.doorbell.awake()
    let records = 0
    for (let progress = true; progress && records < recordsPerTurn; ) {
      progress = false
      for (const link of this.inLinks) {
        if (link.stalled) continue
        if (this.deliverBatch(link)) progress = true
        else if (link.load(this.scratch, this.lengthOut)) {
          records++
          progress = true
          this.deliverBatch(link)
        }
      }
    }
    if (this.inLinks.some((link) => link.hasWork)) {
      this.drainQueued = true
      setImmediate(this.drain)
      return
    }
    this.sleep()
  }

  private sleep(): void {
    const seq = this.doorbell.prepareSleep()
    if (this.inLinks.some((link) => link.hasWork)) {
      this.doorbell.awake()
      this.queueDrain()
      return
    }
    if (this.waiting) return
    this.waiting = true
    void this.doorbell.sleep(seq).then(() => {
      this.waiting = false
      this.queueDrain()
    })
  }

  private queueDrain(): void {
    if (this.drainQueued) return
    this.drainQueued = true
    queueMicrotask(this.drain)
  }

  /** Delivers what is left of the link's current batch; true if it delivered anything. */
  private deliverBatch(link: InLink): boolean {
    let delivered = false
    for (let envelope = link.take(); envelope !== undefined; envelope = link.take()) {
      delivered = true
      switch (envelope[0]) {
        case EnvelopeKind.Mail: {
          const [, id, corr, replyNode, replyHost, sender, message] = envelope
          const item: MailItem = { message: message as Message, replyTo: corr === 0 ? null : { node: replyNode, host: replyHost, corr }, sender }
          const blocked = this.system.receiveRemote(id, item)
          if (blocked !== null) {
            // Backpressure: leave the rest of this link's stream in place until the mailbox has room.
            link.putBack()
            link.stalled = true
            void blocked.then(() => {
              link.stalled = false
              this.queueDrain()
            })
            return delivered
          }
          break
        }
        case EnvelopeKind.Reply:
          this.system.settleAsk(envelope[1], envelope[2] === 1, envelope[3])
          break
        case EnvelopeKind.Control:
          this.system.receiveControl(envelope[1])
          break
      }
    }
    return delivered
  }
}
