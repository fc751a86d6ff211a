import type { Message, ActorRef } from './actor.ts'
import type { ActorAddress } from './address.ts'
import type { ActorSystem, ControlMessage, RemoteRoute } from './actor-system.ts'
import { invalidOption, T3fsError } from './errors.ts'
import type { MailItem, ReplyTarget } from './mail.ts'
import { hostDied, unknownAddress } from './runtime-errors.ts'
import { IdlePoll } from './idle-poll.ts'
import { allocateRing, Doorbell, MORE, RingConsumer, RingProducer, type RingMemory } from './spsc-ring.ts'
import { WireReader, WireWriter } from './wire-codec.ts'
import { Kind, readEnvelopeAfterKind, writeEnvelope, writeMailHeader, writeReplyHeader, writeRoutedHeader, type Envelope } from './envelope.ts'

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

/** Bytes of sealed batches a link may hold back (ring full) before senders see ERR_MAILBOX_FULL. */
export const linkBacklogBytesMax = 4 << 20
/** A batch is sealed into the ring after this many envelopes or bytes. */
const batchEnvelopesMax = 256
const batchBytesMax = 64 * 1024
/** Records decoded per turn before yielding to the event loop. */
const recordsPerTurn = 32
/**
 * How long an idle host polls its rings before it sleeps on its doorbell (when polling pays lately:
 * idle-poll.ts). T3FS_SPIN_US overrides it (0 = never poll).
 */
const spinMicros = readSpinMicros(process.env.T3FS_SPIN_US)

function readSpinMicros(text: string | undefined): number {
  if (text === undefined) return 50
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0 || value > 10_000) throw invalidOption('T3FS_SPIN_US', text, 'microseconds from 0 to 10000')
  return value
}

/** The sending side of one directed host-to-host link: encodes into a batch, seals batches into the ring. */
class OutLink {
  private readonly writer = new WireWriter()
  private batchEnvelopes = 0
  private flushQueued = false
  /** Sealed batches not yet (fully) in the ring: the ring was full. */
  private backlog: Uint8Array[] = []
  private backlogOffset = 0
  private backlogBytes = 0
  private waitingForRoom = false
  private writableWaiters: (() => void)[] = []
  dead: T3fsError | null = null

  constructor(
    readonly node: number,
    readonly host: number,
    private readonly ring: RingProducer,
    private readonly doorbell: Doorbell,
  ) {}

  get full(): boolean {
    return this.backlogBytes >= linkBacklogBytesMax
  }

  mail(to: number, item: MailItem): void {
    this.admit()
    this.writer.begin()
    writeMailHeader(this.writer, to, item.replyTo, item.sender)
    this.encode(item.message)
  }

  reply(corr: number, ok: boolean, value: unknown): void {
    this.admit()
    this.writer.begin()
    writeReplyHeader(this.writer, corr, ok)
    this.encode(value)
  }

  control(control: ControlMessage): void {
    this.admit()
    this.writer.begin()
    this.writer.u8(Kind.Control)
    this.encode(control)
  }

  /** An envelope for another node, handed to host 0 (which owns the network transport). */
  routed(node: number, host: number, incarnation: number, envelope: Envelope): void {
    this.admit()
    this.writer.begin()
    writeRoutedHeader(this.writer, node, host, incarnation)
    try {
      writeEnvelope(this.writer, envelope)
    } catch (error) {
      this.writer.rollback()
      throw new T3fsError('ERR_INVALID_MESSAGE', `message cannot cross to node ${node}: ${error instanceof Error ? error.message : String(error)}`)
    }
    this.sealIfDue()
  }

  whenWritable(): Promise<void> {
    if (this.dead !== null) return Promise.reject(this.dead)
    if (!this.full) return Promise.resolve()
    return new Promise((resolve) => this.writableWaiters.push(resolve))
  }

  kill(error: T3fsError): void {
    this.dead = error
    this.backlog = []
    this.backlogBytes = 0
    this.writer.reset()
    for (const resolve of this.writableWaiters) resolve()
    this.writableWaiters = []
  }

  private admit(): void {
    if (this.dead !== null) throw this.dead
    if (this.full) {
      throw new T3fsError('ERR_MAILBOX_FULL', `link to host ${this.host} of node ${this.node} is full (${linkBacklogBytesMax} bytes waiting); retry later or use send() to wait`, {
        node: this.node, host: this.host, capacityBytes: linkBacklogBytesMax,
      })
    }
  }

  /** Encodes the envelope's value; an unencodable value unwinds the envelope and throws to the sender. */
  private encode(value: unknown): void {
    try {
      this.writer.value(value)
    } catch (error) {
      this.writer.rollback()
      throw new T3fsError('ERR_INVALID_MESSAGE', `message cannot cross to host ${this.host}: ${error instanceof Error ? error.message : String(error)}`)
    }
    this.sealIfDue()
  }

  private sealIfDue(): void {
    this.batchEnvelopes++
    if (this.batchEnvelopes >= batchEnvelopesMax || this.writer.position >= batchBytesMax) this.flush()
    else if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(this.flush)
    }
  }

  /** Seals the current batch and moves whatever fits into the ring, then wakes the consumer. */
  readonly flush = (): void => {
    this.flushQueued = false
    if (this.dead !== null) return
    let wrote = this.drainBacklog()
    if (this.writer.position > 0) {
      const batch = this.writer.bytes
      if (this.backlog.length === 0) {
        const done = this.write(batch, 0)
        wrote ||= done > 0
        if (done < batch.length) this.keep(batch.subarray(done))
      } else {
        this.keep(batch)
      }
      this.writer.reset()
      this.batchEnvelopes = 0
    }
    if (wrote) {
      this.ring.publish()
      this.doorbell.ring()
    }
    if (this.backlog.length > 0) this.waitForRoom()
    if (!this.full && this.writableWaiters.length > 0) {
      const waiters = this.writableWaiters
      this.writableWaiters = []
      for (const resolve of waiters) resolve()
    }
  }

  private keep(bytes: Uint8Array): void {
    this.backlog.push(Uint8Array.prototype.slice.call(bytes))
    this.backlogBytes += bytes.length
  }

  private drainBacklog(): boolean {
    let wrote = false
    while (this.backlog.length > 0) {
      const head = this.backlog[0]
      const done = this.write(head, this.backlogOffset)
      wrote ||= done > this.backlogOffset
      this.backlogBytes -= done - this.backlogOffset
      if (done < head.length) {
        this.backlogOffset = done
        return wrote
      }
      this.backlog.shift()
      this.backlogOffset = 0
    }
    return wrote
  }

  /** Writes `bytes` from `offset` as records (fragments beyond a record's size); returns how far it got. */
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

  private waitForRoom(): void {
    if (this.waitingForRoom) return
    this.waitingForRoom = true
    void this.ring.waitForRoom().then(() => {
      this.waitingForRoom = false
      this.flush()
    })
  }
}

/**
 * The receiving side of one link. A record is decoded where it lies in the ring and released only
 * once every envelope in it was delivered, so a stalled mailbox holds the ring (backpressure)
 * without a copy; only a record that arrived in fragments is assembled in a private buffer.
 */
class InLink {
  private assembly: Uint8Array
  private assembled = 0
  private holdingRecord = false
  readonly reader: WireReader
  stalled = false

  constructor(
    readonly fromHost: number,
    readonly ring: RingConsumer,
    system: ActorSystem,
  ) {
    this.assembly = new Uint8Array(0)
    this.reader = new WireReader(system, system.bufferPool)
  }

  get hasWork(): boolean {
    return !this.stalled && (!this.reader.done || this.ring.hasData)
  }

  /** Makes the next whole record current; false when none is complete yet. */
  load(lengthOut: Uint32Array): boolean {
    for (;;) {
      const offset = this.ring.next(lengthOut)
      if (offset < 0) return false
      const word = lengthOut[0]
      const length = (word & ~MORE) >>> 0
      if ((word & MORE) === 0 && this.assembled === 0) {
        this.reader.load(this.ring.bytes, offset, offset + length)
        this.holdingRecord = true
        return true
      }
      this.ensure(this.assembled + length)
      this.assembly.set(this.ring.bytes.subarray(offset, offset + length), this.assembled)
      this.assembled += length
      this.ring.release()
      if ((word & MORE) !== 0) continue
      this.reader.load(this.assembly, 0, this.assembled)
      this.assembled = 0
      return true
    }
  }

  /** The sender of a TellFrom; a stream of tells from one actor reuses one ref object. */
  readSender(reader: WireReader, system: ActorSystem): ActorRef<Message> {
    const node = reader.u16()
    const host = reader.u16()
    const id = reader.u32()
    const incarnation = reader.u32()
    const last = this.lastSender
    if (last !== null && last.address.id === id && last.address.host === host && last.address.node === node && last.address.incarnation === incarnation) return last
    return (this.lastSender = system.refFor({ node, host, id, incarnation }))
  }

  private lastSender: ActorRef<Message> | null = null

  /** Hands the current record's ring space back once it is fully delivered. */
  finishRecord(): void {
    if (this.holdingRecord && this.reader.done) {
      this.holdingRecord = false
      this.ring.release()
    }
  }

  private ensure(bytes: number): void {
    if (bytes <= this.assembly.length) return
    if (bytes > messageBytesMax) throw new Error(`a batch of more than ${messageBytesMax} bytes crossed a link`)
    const grown = new Uint8Array(Math.min(messageBytesMax, Math.max(bytes, this.assembly.length * 2, this.ring.bytes.length)))
    grown.set(this.assembly.subarray(0, this.assembled))
    this.assembly = grown
  }
}

/** The largest batch a link carries; bulk data belongs in a shared buffer pool instead. */
export const messageBytesMax = 256 << 20

/**
 * Routes messages between the hosts of one node over the shared-memory rings. Messages for
 * other nodes go to the network seam (`setNetwork`), which the transports implement.
 */
export class HostMesh implements RemoteRoute {
  private readonly out: (OutLink | null)[]
  private readonly inLinks: InLink[]
  private readonly doorbell: Doorbell
  private readonly lengthOut = new Uint32Array(1)
  private network: RemoteRoute | null = null
  private running = false
  private drainQueued = false
  private waiting = false
  private polling = false
  /** Whether to poll before sleeping, from how long idle spells lasted lately (idle-poll.ts). */
  private readonly idlePoll = new IdlePoll(spinMicros)
  /** When the current idle spell began (performance.now() ms), or -1 while busy. */
  private idleSinceMs = -1

  constructor(
    private readonly system: ActorSystem,
    memory: MeshMemory,
  ) {
    const me = system.host
    this.out = memory.rings[me].map((ring, to) =>
      ring === null ? null : new OutLink(system.node, to, new RingProducer(ring), new Doorbell(memory.doorbells[to])))
    this.inLinks = []
    for (let from = 0; from < memory.hosts; from++) {
      const ring = memory.rings[from][me]
      if (ring !== null) this.inLinks.push(new InLink(from, new RingConsumer(ring), system))
    }
    this.doorbell = new Doorbell(memory.doorbells[me])
    system.setRemote(this)
  }

  /** Host 0 only: where traffic for other nodes goes. Worker hosts hand such traffic to host 0. */
  setNetwork(network: RemoteRoute): void {
    this.network = network
  }

  get hostCount(): number {
    return this.out.length
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
    this.out[host]?.kill(hostDied(this.system.node, host, reason))
    this.system.hostDown(this.system.node, host, reason)
  }

  // ---- RemoteRoute ---------------------------------------------------------------------------

  deliver(to: ActorAddress, item: MailItem): void {
    if (to.node !== this.system.node) return this.offNode(to.node, to.host, to.incarnation, { kind: 'mail', to: to.id, item }, (n) => n.deliver(to, item))
    this.link(to.node, to.host, to.id).mail(to.id, item)
  }

  whenWritable(to: ActorAddress): Promise<void> {
    if (to.node !== this.system.node) return this.network?.whenWritable(to) ?? this.link(to.node, 0, 0).whenWritable()
    return this.link(to.node, to.host, to.id).whenWritable()
  }

  reply(target: ReplyTarget, ok: boolean, value: unknown): void {
    if (target.node !== this.system.node) {
      return this.offNode(target.node, target.host, target.incarnation, { kind: 'reply', corr: target.corr, ok, value }, (n) => n.reply(target, ok, value))
    }
    this.link(target.node, target.host, 0).reply(target.corr, ok, value)
  }

  control(node: number, host: number, incarnation: number, control: ControlMessage): void {
    if (node !== this.system.node) return this.offNode(node, host, incarnation, { kind: 'control', control }, (n) => n.control(node, host, incarnation, control))
    this.link(node, host, 0).control(control)
  }

  /** Traffic for another node: host 0 sends it on the network; a worker host hands it to host 0. */
  private offNode(node: number, host: number, incarnation: number, envelope: Envelope, send: (network: RemoteRoute) => void): void {
    if (this.network !== null) return send(this.network)
    if (this.system.host === 0) throw new T3fsError('ERR_UNKNOWN_ADDRESS', `no network transport: node ${this.system.node} cannot reach node ${node}`, { node })
    this.link(this.system.node, 0, 0).routed(node, host, incarnation, envelope)
  }

  private link(node: number, host: number, id: number): OutLink {
    const link = this.out[host]
    if (link === undefined || link === null) throw unknownAddress({ node, host, id, incarnation: this.system.incarnation })
    return link
  }

  // ---- inbound ---------------------------------------------------------------------------------

  private readonly drain = (): void => {
    this.drainQueued = false
    if (!this.running) return
    this.doorbell.awake()
    if (this.idleSinceMs >= 0) {
      this.idlePoll.noteIdle((performance.now() - this.idleSinceMs) * 1000)
      this.idleSinceMs = -1
    }
    let records = 0
    for (let progress = true; progress && records < recordsPerTurn; ) {
      progress = false
      for (const link of this.inLinks) {
        if (link.stalled) continue
        if (link.reader.done) {
          if (!link.load(this.lengthOut)) continue
          records++
        }
        progress = true
        this.deliverRecord(link)
        link.finishRecord()
        // Handle what was just delivered while it is hot, and keep mailboxes (and the heap) small.
        this.system.drain()
      }
    }
    if (this.inLinks.some((link) => link.hasWork)) {
      this.drainQueued = true
      setImmediate(this.drain)
      return
    }
    this.idle()
  }

  /**
   * Before sleeping, poll the rings for a moment (see spinMicros) when answers came that fast
   * lately. The poll runs after the current turn's microtasks, so the replies and tells they
   * produce are already on their way.
   */
  private idle(): void {
    if (this.idleSinceMs < 0) this.idleSinceMs = performance.now()
    if (!this.idlePoll.shouldPoll()) return this.sleep()
    if (this.polling) return
    this.polling = true
    setImmediate(this.poll)
  }

  private readonly poll = (): void => {
    this.polling = false
    if (!this.running || this.drainQueued) return
    const deadline = performance.now() + spinMicros / 1000
    do {
      for (const link of this.inLinks) {
        if (link.hasWork) return this.queueDrain()
      }
    } while (performance.now() < deadline)
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

  /** Delivers the rest of the link's current record; stops (stalled) at a full mailbox. */
  private deliverRecord(link: InLink): void {
    const reader = link.reader
    const system = this.system
    while (!reader.done) {
      const start = reader.position
      const kind = reader.u8()
      if (kind === Kind.Routed) {
        const node = reader.u16()
        const host = reader.u16()
        const incarnation = reader.u32()
        const congested = this.forwardFromWorker(node, host, incarnation, readEnvelopeAfterKind(reader.u8(), reader, this.refFor))
        if (congested !== null) return this.stall(link, start, congested)
        continue
      }
      if (kind === Kind.Tell || kind === Kind.TellFrom) {
        // The hot path: a tell, decoded without an intermediate envelope object.
        const to = reader.u32()
        const sender = kind === Kind.TellFrom ? link.readSender(reader, system) : null
        const blocked = system.receiveRemote(to, reader.value() as Message, null, sender)
        if (blocked !== null) return this.stall(link, start, blocked)
        continue
      }
      const envelope = readEnvelopeAfterKind(kind, reader, this.refFor)
      switch (envelope.kind) {
        case 'mail': {
          const { message, replyTo, sender } = envelope.item
          const blocked = system.receiveRemote(envelope.to, message, replyTo, sender)
          if (blocked !== null) return this.stall(link, start, blocked)
          break
        }
        case 'reply':
          system.settleAsk(envelope.corr, envelope.ok, envelope.value)
          break
        case 'control':
          system.receiveControl(envelope.control)
          break
      }
    }
  }

  /** Backpressure: keep the rest of this link's stream in place until the mailbox has room. */
  private stall(link: InLink, envelopeStart: number, room: Promise<void>): void {
    link.reader.position = envelopeStart
    link.stalled = true
    void room.then(() => {
      link.stalled = false
      this.queueDrain()
    })
  }

  private readonly refFor = (address: ActorAddress): ActorRef<Message> => this.system.refFor(address)

  /**
   * Host 0: a worker's envelope for another node goes out on the network, or fails back to its
   * sender. When the connection to that node is above its high-water mark, the envelope waits
   * (the returned promise) and the worker's link stalls behind it, so backpressure reaches the
   * worker (its send() waits) instead of failing its message with ERR_MAILBOX_FULL.
   */
  private forwardFromWorker(node: number, host: number, incarnation: number, envelope: Envelope): Promise<void> | null {
    try {
      const network = this.network
      if (network === null) throw new T3fsError('ERR_UNKNOWN_ADDRESS', `no network transport: node ${this.system.node} cannot reach node ${node}`, { node })
      switch (envelope.kind) {
        case 'mail':
          network.deliver({ node, host, id: envelope.to, incarnation }, envelope.item)
          break
        case 'reply':
          network.reply({ node, host, corr: envelope.corr, incarnation }, envelope.ok, envelope.value)
          break
        case 'control':
          network.control(node, host, incarnation, envelope.control)
      }
    } catch (error) {
      const to: ActorAddress = { node, host, id: envelope.kind === 'mail' ? envelope.to : 0, incarnation }
      if (error instanceof T3fsError && error.code === 'ERR_MAILBOX_FULL' && this.network !== null) {
        // Resumes either way: writable, or down (then the retry fails back to the sender).
        return this.network.whenWritable(to).catch(() => {})
      }
      if (envelope.kind === 'mail') this.system.reportUndeliverable(to, envelope.item, error)
    }
    return null
  }

}
