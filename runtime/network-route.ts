import type { Message, ActorRef } from './actor.ts'
import { anyIncarnation, type ActorAddress } from './address.ts'
import type { ActorSystem, ControlMessage, RemoteRoute } from './actor-system.ts'
import { Kind, readEnvelopeAfterKind, writeEnvelope, type Envelope } from './envelope.ts'
import { T3fsError } from './errors.ts'
import type { HostMesh } from './host-mesh.ts'
import type { MailItem, ReplyTarget } from './mail.ts'
import { nodeDown, staleIncarnation } from './runtime-errors.ts'
import type { Frame, NodeTransport } from './transport/transport.ts'
import { WireReader, WireWriter } from './wire-codec.ts'

/** A frame is sent after this many envelopes or bytes (or at the end of the current turn). */
const frameEnvelopesMax = 256
const frameBytesMax = 256 * 1024

/**
 * One peer node's outgoing stream. Each frame stands alone (its shapes are defined inside it), so a
 * reconnect or a lost frame never leaves the peer unable to decode the next one.
 */
class PeerStream {
  private readonly writer = new WireWriter({ inlinePooled: true })
  private envelopes = 0
  private flushQueued = false
  private congested: Promise<void> | null = null
  down: T3fsError | null = null

  constructor(
    readonly node: number,
    private readonly transport: NodeTransport,
  ) {}

  push(host: number, incarnation: number, envelope: Envelope): void {
    if (this.down !== null) throw this.down
    if (this.congested !== null) {
      throw new T3fsError('ERR_MAILBOX_FULL', `the connection to node ${this.node} is above its high-water mark; retry later or use send() to wait`, { node: this.node })
    }
    this.writer.begin()
    this.writer.u16(host)
    this.writer.u32(incarnation)
    try {
      writeEnvelope(this.writer, envelope)
    } catch (error) {
      this.writer.rollback()
      throw new T3fsError('ERR_INVALID_MESSAGE', `message cannot cross to node ${this.node}: ${error instanceof Error ? error.message : String(error)}`)
    }
    this.envelopes++
    if (this.envelopes >= frameEnvelopesMax || this.writer.position >= frameBytesMax) this.flush()
    else if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(this.flush)
    }
  }

  whenWritable(): Promise<void> {
    if (this.down !== null) return Promise.reject(this.down)
    return this.congested ?? Promise.resolve()
  }

  readonly flush = (): void => {
    this.flushQueued = false
    if (this.writer.position === 0) return
    // The transport may queue the frame: it gets its own copy of the bytes.
    const frame: Frame = { header: this.writer.bytes.slice(), payloads: [] }
    this.writer.reset()
    this.writer.resetShapes()
    this.envelopes = 0
    if (this.down !== null) return
    try {
      if (!this.transport.send(this.node, frame)) {
        this.congested = this.transport.whenWritable(this.node).then(
          () => { this.congested = null },
          () => { this.congested = null },
        )
      }
    } catch (error) {
      // Known down: the asks in this frame fail when the peer-down event reaches the system.
      this.down = error instanceof T3fsError ? error : nodeDown(this.node, String(error))
    }
  }

  reset(): void {
    this.writer.reset()
    this.writer.resetShapes()
    this.envelopes = 0
    this.congested = null
  }
}

/**
 * Host 0's route to other nodes over a NodeTransport: envelopes prefixed with the destination host
 * and the incarnation of the destination node the sender believes in, batched into frames; an
 * envelope for an earlier incarnation is refused (ERR_STALE_INCARNATION to whoever waits on it); arriving frames are delivered to the right host of this node. A peer that
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
    transport.onFrame((from, frame) => this.receive(from, frame))
    transport.onPeerState((node, state) => (state === 'down' ? this.peerDown(node, 'connection lost') : this.peerUp(node)))
    mesh.setNetwork(this)
  }

  deliver(to: ActorAddress, item: MailItem): void {
    this.stream(to.node).push(to.host, to.incarnation, { kind: 'mail', to: to.id, item })
  }

  whenWritable(to: ActorAddress): Promise<void> {
    return this.stream(to.node).whenWritable()
  }

  reply(target: ReplyTarget, ok: boolean, value: unknown): void {
    this.stream(target.node).push(target.host, target.incarnation, { kind: 'reply', corr: target.corr, ok, value })
  }

  control(node: number, host: number, incarnation: number, control: ControlMessage): void {
    this.stream(node).push(host, incarnation, { kind: 'control', control })
  }

  private stream(node: number): PeerStream {
    let stream = this.streams.get(node)
    if (stream === undefined) this.streams.set(node, (stream = new PeerStream(node, this.transport)))
    return stream
  }

  private receive(from: number, frame: Frame): void {
    const reader = this.reader
    reader.resetShapes()
    reader.load(frame.header, 0, frame.header.length)
    try {
      while (!reader.done) {
        const host = reader.u16()
        const incarnation = reader.u32()
        const kind = reader.u8()
        if (kind === Kind.Routed) throw new Error('a routed envelope arrived from the network')
        const envelope = readEnvelopeAfterKind(kind, reader, this.refFor)
        if (incarnation === anyIncarnation || incarnation === this.system.incarnation) this.dispatch(host, envelope)
        else this.refuseStale(host, incarnation, envelope)
      }
    } catch (error) {
      this.system.log.error({ evt: 'NetworkFrameCorrupt', from, err: String(error) })
    }
  }

  private readonly refFor = (address: ActorAddress): ActorRef<Message> => this.system.refFor(address)

  private dispatch(host: number, envelope: Envelope): void {
    const node = this.system.node
    switch (envelope.kind) {
      case 'mail':
        this.system.deliverOrReport({ node, host, id: envelope.to, incarnation: this.system.incarnation }, envelope.item)
        return
      case 'reply':
        if (host === this.system.host) this.system.settleAsk(envelope.corr, envelope.ok, envelope.value)
        else this.tryMesh(() => this.mesh.reply({ node, host, corr: envelope.corr, incarnation: this.system.incarnation }, envelope.ok, envelope.value))
        return
      case 'control':
        if (host === this.system.host) this.system.receiveControl(envelope.control)
        else this.tryMesh(() => this.mesh.control(node, host, this.system.incarnation, envelope.control))
    }
  }

  /** An envelope for an earlier incarnation of this node: it must not reach whoever has that id now. */
  private refuseStale(host: number, incarnation: number, envelope: Envelope): void {
    const system = this.system
    switch (envelope.kind) {
      case 'mail': {
        const to: ActorAddress = { node: system.node, host, id: envelope.to, incarnation }
        system.reportUndeliverable(to, envelope.item, staleIncarnation(to, system.incarnation))
        return
      }
      case 'reply':
        return // its ask died with the earlier incarnation
      case 'control': {
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

  private peerUp(node: number): void {
    const stream = this.stream(node)
    stream.reset()
    stream.down = null
  }
}
