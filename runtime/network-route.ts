import type { Message, ActorRef } from './actor.ts'
import { anyIncarnation, type ActorAddress } from './address.ts'
import type { ActorSystem, ControlMessage, RemoteRoute } from './actor-system.ts'
import { Kind, readEnvelopeAfterKind, writeEnvelope, type Envelope } from './envelope.ts'
import { T3fsError, toT3fsError } from './errors.ts'
import type { HostMesh } from './host-mesh.ts'
import type { MailItem, ReplyTarget } from './mail.ts'
import { ReceivedPayloads, poolExhausted, withoutPooled } from './network-payloads.ts'
import { nodeDown, staleIncarnation } from './runtime-errors.ts'
import { FIXED_HEAD_BYTES, MAX_PAYLOADS } from './transport/framing.ts'
import { DEFAULT_MAX_FRAME_BYTES, type Frame, type NodeTransport, type PayloadPlacement } from './transport/transport.ts'
import { PayloadLimitError, WireReader, WireWriter } from './wire-codec.ts'

/** A frame is sent after this many envelopes or header bytes (or at the end of the current turn). */
const frameEnvelopesMax = 256
const frameBytesMax = 256 * 1024
/**
 * A frame is sent once its payloads reach this many bytes: the receiver delivers a frame's
 * envelopes only when all its payloads are in, so a bound here bounds that delay (≈ 1.5 ms at
 * loopback speed) and the pool slots a frame holds before anyone can use them.
 */
export const framePayloadBytesMax = 4 * 1024 * 1024
/**
 * A Uint8Array of at least this many bytes travels as a frame payload instead of inside the header.
 * Inside the header it is copied twice on each side (into the encoder's buffer and the socket's
 * batch; out of the receive buffer and into a buffer of its own); as a payload it is written from
 * the sender's memory and read straight into the receiver's buffer, for the price of one more
 * iovec and, on the receiver, reads of its own. At 64 KiB the copies saved (≈ 4 µs each here)
 * outweigh that; it is also the receive buffer's size, so a smaller array would mostly arrive
 * inside the receive buffer anyway. Chunk data should travel as a PooledBuffer, which always goes
 * out of band and lands in a pool slot; a plain payload lands in fresh memory, which is slow here.
 */
export const outOfBandMinBytes = 64 * 1024

/** A message that cannot fit one frame the peer accepts. */
export function messageTooLarge(node: number, bytes: number, limitBytes: number, ownLimitBytes: number): T3fsError {
  const whose = limitBytes < ownLimitBytes ? `of node ${node}` : 'of this node'
  return new T3fsError('ERR_MESSAGE_TOO_LARGE', `a message to node ${node} needs a frame of ${bytes} bytes; accepted: at most ${limitBytes} bytes (transport.max_frame_size ${whose}); send bulk data in parts`, {
    node, bytes, limitBytes,
  })
}

/**
 * One peer node's outgoing stream. Each frame stands alone (its shapes are defined inside it), so a
 * reconnect or a lost frame never leaves the peer unable to decode the next one. The header ends
 * with a manifest, one byte per payload (PayloadKind), so the receiver can pick every payload's
 * destination (a pool slot, or a buffer of its own) as soon as the head is in.
 */
class PeerStream {
  private readonly writer = new WireWriter({ outOfBand: { minBytes: outOfBandMinBytes, maxPayloads: MAX_PAYLOADS } })
  private envelopes = 0
  /** The mail items in the current frame (null for replies and controls): told if the transport refuses it. */
  private items: (MailItem | null)[] = []
  private addresses: (ActorAddress | null)[] = []
  /** Per envelope, where its pooled buffers end in the writer's `pooled`. */
  private pooledEnds: number[] = []
  private flushQueued = false
  private congested: Promise<void> | null = null
  down: T3fsError | null = null

  constructor(
    readonly node: number,
    private readonly transport: NodeTransport,
    private readonly system: ActorSystem,
  ) {}

  /**
   * Adds an envelope to the current frame; throws to the sender when its peer is down or congested,
   * when it cannot be encoded (ERR_INVALID_MESSAGE), or when it cannot fit a frame (ERR_MESSAGE_TOO_LARGE).
   */
  push(host: number, incarnation: number, envelope: Envelope, to: ActorAddress | null = null): void {
    if (this.down !== null) throw this.down
    if (this.congested !== null) {
      throw new T3fsError('ERR_MAILBOX_FULL', `the connection to node ${this.node} is above its high-water mark; retry later or use send() to wait`, { node: this.node })
    }
    if (!this.encode(host, incarnation, envelope)) {
      if (this.envelopes === 0) this.refuseTooLarge()
      // It does not fit beside what is already in the frame: send that, then try alone.
      this.flush()
      if (!this.encode(host, incarnation, envelope)) this.refuseTooLarge()
    }
    this.envelopes++
    this.items.push(envelope.kind === 'mail' ? envelope.item : null)
    this.addresses.push(to)
    this.pooledEnds.push(this.writer.pooled.length)
    const writer = this.writer
    if (this.envelopes >= frameEnvelopesMax || writer.position >= frameBytesMax || writer.payloadBytes >= framePayloadBytesMax) this.flush()
    else if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(this.flush)
    }
  }

  /**
   * Encodes one envelope; false when the frame would exceed what the peer accepts: undone when
   * other envelopes are in the frame (send them first), kept when it is alone (too large by itself).
   */
  private encode(host: number, incarnation: number, envelope: Envelope): boolean {
    const writer = this.writer
    writer.begin()
    writer.u16(host)
    writer.u32(incarnation)
    try {
      writeEnvelope(writer, envelope)
    } catch (error) {
      writer.rollback()
      if (error instanceof PayloadLimitError && this.envelopes > 0) return false
      throw new T3fsError('ERR_INVALID_MESSAGE', `message cannot cross to node ${this.node}: ${error instanceof Error ? error.message : String(error)}`)
    }
    if (this.frameBytes() <= this.limitBytes()) return true
    if (this.envelopes > 0) writer.rollback()
    return false
  }

  /** The envelope just encoded is too large by itself: undo it and tell its sender. */
  private refuseTooLarge(): never {
    const bytes = this.frameBytes()
    this.writer.rollback()
    throw messageTooLarge(this.node, bytes, this.limitBytes(), this.transport.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES)
  }

  /** The largest frame the peer accepts (a transport that does not say: the default). */
  private limitBytes(): number {
    return this.transport.maxFrameBytesTo?.(this.node) ?? this.transport.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  }

  /** The frame's size on the wire if it were sent now: head, header with manifest, payloads. */
  private frameBytes(): number {
    const writer = this.writer
    const n = writer.payloads.length
    return FIXED_HEAD_BYTES + 4 * n + writer.position + n + writer.payloadBytes
  }

  whenWritable(): Promise<void> {
    if (this.down !== null) return Promise.reject(this.down)
    return this.congested ?? Promise.resolve()
  }

  readonly flush = (): void => {
    this.flushQueued = false
    const writer = this.writer
    if (this.envelopes === 0) return
    for (const kind of writer.payloadKinds) writer.u8(kind)
    const pooled = writer.pooled
    // The transport copies the header during send(); payloads it writes from their memory, and
    // releases them (pool slots, on this host) once the socket has them.
    const frame: Frame = {
      header: writer.bytes,
      payloads: writer.payloads,
      ...(pooled.length > 0 ? { release: releaseAll(pooled) } : {}),
    }
    const items = this.items
    const addresses = this.addresses
    const pooledEnds = this.pooledEnds
    try {
      if (!this.transport.send(this.node, frame)) {
        this.congested = this.transport.whenWritable(this.node).then(
          () => { this.congested = null },
          () => { this.congested = null },
        )
      }
    } catch (error) {
      // Only this frame's messages fail; a peer known down refuses the next ones at once.
      const e = toT3fsError(error)
      if (e.code === 'ERR_PEER_DOWN') this.down = nodeDown(this.node, e.message)
      this.clear()
      for (let i = 0; i < items.length; i++) {
        const item = items[i]
        // A message goes to reportUndeliverable, which frees an ask's buffers and gives a tell's
        // back to its sender; a reply or a control is dropped here, its buffers with it.
        if (item !== null) this.system.reportUndeliverable(addresses[i]!, item, e)
        else for (let k = i === 0 ? 0 : pooledEnds[i - 1]; k < pooledEnds[i]; k++) pooled[k].release()
      }
      return
    }
    this.clear()
  }

  private clear(): void {
    this.writer.reset()
    this.writer.resetShapes()
    this.writer.clearPayloads()
    this.envelopes = 0
    this.items = []
    this.addresses = []
    this.pooledEnds = []
  }

  /** The peer went down: the frame being built is dropped (its asks fail with the peer), its slots released. */
  reset(): void {
    for (const buffer of this.writer.pooled) buffer.release()
    this.clear()
    this.congested = null
  }
}

/**
 * Host 0's route to other nodes over a NodeTransport: envelopes prefixed with the destination host
 * and the incarnation of the destination node the sender believes in, batched into frames whose
 * bulk values (PooledBuffers, large Uint8Arrays) travel as payloads; an envelope for an earlier
 * incarnation is refused (ERR_STALE_INCARNATION to whoever waits on it); arriving frames are
 * delivered to the right host of this node, their pooled payloads read straight into pool slots.
 * A receiver out of slots refuses only the envelopes whose payloads it could not place
 * (ERR_POOL_EXHAUSTED to the asker, or an `undelivered` signal to the sending actor). A peer that
 * goes down fails every ask waiting on it at once and tells the watchers of its actors, on every
 * host of this node.
 */
export class NetworkRoute implements RemoteRoute {
  private readonly streams = new Map<number, PeerStream>()
  private readonly reader: WireReader

  constructor(
    private readonly system: ActorSystem,
    private readonly mesh: HostMesh,
    private readonly transport: NodeTransport,
  ) {
    this.reader = new WireReader(system, system.bufferPool)
    transport.onFrame((from, frame, placement) => this.receive(from, frame, placement), (from, header, lengths) => this.place(from, header, lengths))
    transport.onPeerState((node, state, reason) => (state === 'down' ? this.peerDown(node, reason ?? 'connection lost') : this.peerUp(node)))
    mesh.setNetwork(this)
  }

  deliver(to: ActorAddress, item: MailItem): void {
    this.stream(to.node).push(to.host, to.incarnation, { kind: 'mail', to: to.id, item }, to)
  }

  whenWritable(to: ActorAddress): Promise<void> {
    return this.stream(to.node).whenWritable()
  }

  /** A reply that cannot cross (too large, not encodable) becomes that error, so the asker hears why. */
  reply(target: ReplyTarget, ok: boolean, value: unknown): void {
    const stream = this.stream(target.node)
    try {
      stream.push(target.host, target.incarnation, { kind: 'reply', corr: target.corr, ok, value })
    } catch (error) {
      const e = toT3fsError(error)
      if (!ok || (e.code !== 'ERR_MESSAGE_TOO_LARGE' && e.code !== 'ERR_INVALID_MESSAGE')) throw error
      stream.push(target.host, target.incarnation, { kind: 'reply', corr: target.corr, ok: false, value: e.toWire() })
    }
  }

  control(node: number, host: number, incarnation: number, control: ControlMessage): void {
    this.stream(node).push(host, incarnation, { kind: 'control', control })
  }

  private stream(node: number): PeerStream {
    let stream = this.streams.get(node)
    if (stream === undefined) this.streams.set(node, (stream = new PeerStream(node, this.transport, this.system)))
    return stream
  }

  /** A frame's head is in: a pool slot for each pooled payload, a buffer of its own for each plain one. */
  private place(from: number, header: Uint8Array, lengths: readonly number[]): PayloadPlacement | undefined {
    if (header.length < lengths.length) {
      this.system.log.error({ evt: 'NetworkFrameCorrupt', from, err: `a header of ${header.length} bytes cannot hold the manifest of ${lengths.length} payloads` })
      return { targets: lengths.map(() => null), abandon() {} }
    }
    return new ReceivedPayloads(this.system.bufferPool, header.subarray(header.length - lengths.length), lengths)
  }

  private receive(from: number, frame: Frame, placement: PayloadPlacement | undefined): void {
    const payloads = placement instanceof ReceivedPayloads ? placement : frame.payloads.length > 0 ? this.placeNow(from, frame) : null
    const end = frame.header.length - frame.payloads.length
    if (frame.payloads.length > 0 && payloads === null) return // the manifest was unreadable (logged)
    const reader = this.reader
    reader.resetShapes()
    reader.load(frame.header, 0, end)
    reader.setPayloads(payloads)
    try {
      while (!reader.done) {
        const host = reader.u16()
        const incarnation = reader.u32()
        const kind = reader.u8()
        if (kind === Kind.Routed) throw new Error('a routed envelope arrived from the network')
        const claimed = payloads?.claimedCount ?? 0
        reader.missingPayloads = 0
        const envelope = readEnvelopeAfterKind(kind, reader, this.refFor)
        if (incarnation !== anyIncarnation && incarnation !== this.system.incarnation) this.refuseStale(host, incarnation, envelope, payloads, claimed)
        else if (reader.missingPayloads > 0) this.refuseUnplaced(host, envelope, payloads!, claimed)
        else this.dispatch(host, envelope)
      }
    } catch (error) {
      this.system.log.error({ evt: 'NetworkFrameCorrupt', from, err: String(error) })
    } finally {
      reader.setPayloads(null)
      payloads?.releaseUnclaimed()
    }
  }

  /** A transport that does not place payloads (the simulator's): copy them into place now. */
  private placeNow(from: number, frame: Frame): ReceivedPayloads | null {
    const placed = this.place(from, frame.header, frame.payloads.map((p) => p.length))
    if (!(placed instanceof ReceivedPayloads)) return null
    placed.targets.forEach((target, i) => target?.set(frame.payloads[i]))
    return placed
  }

  private readonly refFor = (address: ActorAddress): ActorRef<Message> => this.system.refFor(address)

  private dispatch(host: number, envelope: Envelope): void {
    const node = this.system.node
    switch (envelope.kind) {
      case 'mail':
        this.system.deliverOrReport({ node, host, id: envelope.to, incarnation: this.system.incarnation }, envelope.item)
        return
      case 'reply':
        this.settle(host, envelope.corr, envelope.ok, envelope.value)
        return
      case 'control':
        if (host === this.system.host) this.system.receiveControl(envelope.control)
        else this.tryMesh(() => this.mesh.control(node, host, this.system.incarnation, envelope.control))
    }
  }

  private settle(host: number, corr: number, ok: boolean, value: unknown): void {
    if (host === this.system.host) this.system.settleAsk(corr, ok, value)
    else this.tryMesh(() => this.mesh.reply({ node: this.system.node, host, corr, incarnation: this.system.incarnation }, ok, value))
  }

  /**
   * An envelope some of whose pooled payloads found no free slot here: it is refused, alone. Its
   * other payloads go back to the pool; the asker gets ERR_POOL_EXHAUSTED, a tell's sender an
   * `undelivered` signal (its message with null where the buffers were), an ask's reply settles
   * the ask with the error; a control goes on with nulls.
   */
  private refuseUnplaced(host: number, envelope: Envelope, payloads: ReceivedPayloads, claimed: number): void {
    const error = poolExhausted(this.system.node, payloads.missingSince(claimed))
    switch (envelope.kind) {
      case 'mail': {
        payloads.releaseClaimedSince(claimed)
        const to: ActorAddress = { node: this.system.node, host, id: envelope.to, incarnation: this.system.incarnation }
        const item = envelope.item
        this.system.reportUndeliverable(to, { ...item, message: withoutPooled(item.message) as Message }, error)
        return
      }
      case 'reply':
        payloads.releaseClaimedSince(claimed)
        this.settle(host, envelope.corr, false, error.toWire())
        return
      case 'control':
        this.dispatch(host, envelope)
    }
  }

  /** An envelope for an earlier incarnation of this node: it must not reach whoever has that id now. */
  private refuseStale(host: number, incarnation: number, envelope: Envelope, payloads: ReceivedPayloads | null, claimed: number): void {
    const system = this.system
    switch (envelope.kind) {
      case 'mail': {
        const to: ActorAddress = { node: system.node, host, id: envelope.to, incarnation }
        // reportUndeliverable frees an ask's buffers and gives a tell's back to its sender.
        system.reportUndeliverable(to, envelope.item, staleIncarnation(to, system.incarnation))
        return
      }
      case 'reply':
        payloads?.releaseClaimedSince(claimed)
        return // its ask died with the earlier incarnation
      case 'control': {
        payloads?.releaseClaimedSince(claimed)
        const control = envelope.control
        if (control.op !== 'watch') return
        // The watched actor died with its incarnation: say so, as for an unknown actor.
        const ref: ActorAddress = { node: system.node, host, id: control.target, incarnation }
        const watcher = control.watcher
        this.tryMesh(() => this.control(watcher.node, watcher.host, watcher.incarnation, { op: 'terminated', watcher: watcher.id, ref, reason: { kind: 'unknown' } }))
      }
    }
  }

  private tryMesh(send: () => void): void {
    try {
      send()
    } catch (error) {
      this.system.log.warn({ evt: 'NetworkForwardFailed', err: String(error) })
    }
  }

  private peerDown(node: number, reason: string): void {
    const stream = this.stream(node)
    stream.reset()
    stream.down = nodeDown(node, reason)
    this.system.hostDown(node, null, reason)
    for (let host = 1; host < this.mesh.hostCount; host++) {
      this.tryMesh(() => this.mesh.control(this.system.node, host, this.system.incarnation, { op: 'node-down', node, reason }))
    }
  }

  /** Nothing to drop: a down stream refused every message since. */
  private peerUp(node: number): void {
    this.stream(node).down = null
  }
}

/**
 * Releases every buffer of a sent frame. Made by a call, not written inline as a property of the
 * frame: under tsx (esbuild's keepNames) a named closure costs an Object.defineProperty each time
 * it is made, and this is once per frame.
 */
function releaseAll(pooled: readonly { release(): void }[]): () => void {
  return () => {
    for (const buffer of pooled) buffer.release()
  }
}
