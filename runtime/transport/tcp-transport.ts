/**
 * NodeTransport over TCP: one connection per node pair, length-prefixed frames with out-of-band
 * payloads, heartbeats, reconnect with backoff, and one-sided region reads/writes.
 *
 * Connection rule: both sides may dial (eagerly at start, then with backoff after a loss). When
 * two connections race, the one dialed by the lower node id wins, decided the same way on both
 * ends during the HELLO exchange, so exactly one survives.
 *
 * Peer-down rule: a peer is declared down when its connection closes or errors, when it stays
 * silent for heartbeat_timeout (both ends send a heartbeat every heartbeat_interval), or when it
 * cannot be reached within heartbeat_timeout. Down fails its pending one-sided ops and whenWritable
 * waiters with ERR_PEER_DOWN, drops its queued frames, and send() throws ERR_PEER_DOWN until a
 * new connection is up. A peer whose HELLO carries a new incarnation restarted: if its old
 * connection still looked up (a crash whose close never reached us), that one is declared down
 * first ("restarted"), so whatever waited on the old incarnation fails at once.
 *
 * Time and randomness come from the injected Clock and Random (defaults: the system's), so the
 * simulator can drive heartbeats, deadlines and backoff.
 */
import { Socket, createServer, connect, type Server } from 'node:net'
import { pack, unpack } from 'msgpackr'
import { newIncarnation } from '../address.ts'
import { systemClock, type Clock, type TimerHandle } from '../clock.ts'
import { T3fsError, fromWire, invalidOption, toT3fsError, type WireError } from '../errors.ts'
import type { Address, PeerEntry, TransportSettings } from '../profile/profile.ts'
import { systemRandom, type Random } from '../random.ts'
import { EMPTY_PAYLOADS, DISCARD, FIXED_HEAD_BYTES, FrameDecoder, FrameType, MAX_PAYLOADS, encodeFrame, type FrameSink, type PayloadDestination } from './framing.ts'
import { OP_HEADER_BYTES, RegionTable, decodeOpHeader, encodeOpHeader, opIdOf, remoteRegionError } from './one-sided.ts'
import { Peer, nextBackoffMs, type Connection } from './peer.ts'
import { decodeHello, encodeHello, helloRefusal, MIN_FRAME_BYTES, type Hello } from './hello.ts'
import { READ_FLAG_ADDRESS, SAME_HOST_MIN_BYTES, SameHost, WRITE_DIRECT_BYTES, decodeReadAddress, encodeReadAddress, writeDirectSource } from './same-host.ts'
import { DEFAULT_MAX_FRAME_BYTES, type SameHostStats, type Frame, type NodeTransport, type PayloadPlacement, type PeerState, type PlacePayloads, type RegionHandle, type DirectAddress, type TransportStartOptions } from './transport.ts'

export interface TransportLog {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
}

const SILENT: TransportLog = { info() {}, warn() {}, debug() {} }

/** The transport's numeric settings (each checked as an integer). */
type NumericSettings = Omit<TransportSettings, 'kind' | 'sameHostCopy'>

export interface TcpTransportOptions extends Partial<NumericSettings> {
  readonly nodeId: number
  readonly clusterId?: string
  readonly listen: Address
  readonly peers?: Iterable<PeerEntry>
  readonly log?: TransportLog
  /** Time for heartbeats, deadlines and backoff. Default: the system clock. */
  readonly clock?: Clock
  /** Jitter of the reconnect backoff. Default: Math.random. */
  readonly random?: Random
  /** This node's incarnation, announced in HELLO; start({ incarnation }) may set it. Default: a fresh one. */
  readonly incarnation?: number
  /** One-sided transfers with nodes on this machine by a direct copy (same-host.ts). Default: true. */
  readonly sameHostCopy?: boolean
}

/** Defaults: 3FS-like shapes, scaled so a dev cluster notices a dead node within seconds. */
export const TCP_DEFAULTS: NumericSettings = {
  heartbeatIntervalMs: 1000,
  heartbeatTimeoutMs: 5000,
  reconnectMinMs: 50,
  reconnectMaxMs: 2000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  highWaterBytes: 16 * 1024 * 1024,
  maxPendingOps: 1024,
  opTimeoutMs: 30_000,
  maxRegions: 4096,
}

/** A caller that ignores send() === false may queue this many high-water marks (plus one frame) before ERR_OVERLOADED. */
export const HARD_QUEUE_FACTOR = 4
const RECEIVE_BUFFER_BYTES = 64 * 1024
/** A payload with at least this much left is read straight into its destination. */
const DIRECT_READ_MIN_BYTES = 16 * 1024
/** Read size right after a large frame: the next frame's head, and little more. */
const HEAD_READ_BYTES = 256
/** Where the next socket read lands: a payload's destination, a head's worth, or the receive buffer. */
const enum ReadMode {
  Direct,
  Head,
  Bulk,
}
/** Nodes one transport keeps state for (the profile's peer table has the same bound). */
const MAX_PEERS = 4096
/** Accepted connections that have not said HELLO yet; more are refused. */
const MAX_UNIDENTIFIED_INBOUND = 256
/** close() lets queued bytes go out for at most this long per connection. */
const CLOSE_GRACE_MS = 1000

interface PendingOp {
  readonly id: number
  readonly node: number
  readonly regionId: number
  readonly offset: number
  readonly length: number
  readonly into: Uint8Array | null
  /** A write's bytes: kept until the ack (a same-host peer copies them then, or they go by TCP after all). */
  readonly data: Uint8Array | null
  readonly deadlineMs: number
  resolve(): void
  reject(error: Error): void
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw invalidOption(name, value, `an integer from ${min} to ${max}`)
  return value
}

export class TcpTransport implements NodeTransport {
  readonly kind = 'tcp' as const
  readonly nodeId: number
  readonly #clusterId: string
  readonly #listen: Address
  readonly #s: NumericSettings
  readonly #log: TransportLog
  readonly #peers = new Map<number, Peer>()
  readonly #regions: RegionTable
  readonly #ops = new Map<number, PendingOp>()
  readonly #inbound = new Set<Connection>()
  readonly #opScratch = new Uint8Array(WRITE_DIRECT_BYTES)
  readonly #sameHost: SameHost
  /** Address of the region table's liveness words (same-host reads), found on first use. */
  #liveBase = 0
  readonly #sameHostCounts = { reads: 0, writes: 0, bytes: 0, fallbacks: 0 }
  readonly #clock: Clock
  readonly #random: Random
  #incarnation: number
  #nextOpId = 1
  #server: Server | null = null
  #tick: TimerHandle | null = null
  #closed = false
  #started = false
  #boundPort = 0
  #frameHandler: (fromNode: number, frame: Frame, placement?: PayloadPlacement) => void = () => {}
  #place: PlacePayloads | null = null
  #stateHandlers: Array<(node: number, state: PeerState, reason?: string) => void> = []

  constructor(options: TcpTransportOptions) {
    this.nodeId = checkInt('nodeId', options.nodeId, 1, 0xffff)
    this.#clusterId = options.clusterId ?? 't3fs'
    this.#listen = options.listen
    checkInt('listen.port', options.listen.port, 0, 65_535)
    const s = { ...TCP_DEFAULTS }
    for (const key of Object.keys(TCP_DEFAULTS) as Array<keyof typeof TCP_DEFAULTS>) {
      const value = options[key]
      if (value !== undefined) s[key] = checkInt(key, value, 1, 2 ** 40)
    }
    if (s.heartbeatTimeoutMs < 2 * s.heartbeatIntervalMs) {
      throw invalidOption('heartbeatTimeoutMs', s.heartbeatTimeoutMs, `at least twice heartbeatIntervalMs (${s.heartbeatIntervalMs})`)
    }
    checkInt('maxFrameBytes', s.maxFrameBytes, MIN_FRAME_BYTES, 2 ** 30)
    this.#s = s
    this.#log = options.log ?? SILENT
    this.#clock = options.clock ?? systemClock
    this.#random = options.random ?? systemRandom
    this.#incarnation = checkInt('incarnation', options.incarnation ?? newIncarnation(), 1, 0xffff_ffff)
    this.#regions = new RegionTable(this.nodeId, s.maxRegions)
    this.#sameHost = new SameHost(options.sameHostCopy ?? true)
    for (const p of options.peers ?? []) if (p.node !== this.nodeId) this.#peers.set(p.node, new Peer(p.node, p.address))
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.#boundPort
  }

  get maxFrameBytes(): number {
    return this.#s.maxFrameBytes
  }

  /** This node's incarnation, as its HELLO announces it. */
  get incarnation(): number {
    return this.#incarnation
  }

  maxFrameBytesTo(node: number): number {
    const theirs = this.#peers.get(node)?.maxFrameBytes ?? 0
    return theirs > 0 ? Math.min(theirs, this.#s.maxFrameBytes) : this.#s.maxFrameBytes
  }

  peerIncarnation(node: number): number | undefined {
    const incarnation = this.#peers.get(node)?.incarnation ?? 0
    return incarnation === 0 ? undefined : incarnation
  }

  /** Adds or changes a peer's address; dials it when started. */
  addPeer(node: number, address: Address): void {
    if (node === this.nodeId) return
    const peer = this.#peers.get(node)
    if (peer) peer.address = address
    else this.#peers.set(node, new Peer(node, address))
    if (this.#started) this.#dial(this.#peers.get(node)!)
  }

  /** Whether one-sided transfers with `node` are direct copies now (same machine, see same-host.ts). */
  peerSameHost(node: number): boolean {
    return (this.#peers.get(node)?.directPid ?? 0) !== 0
  }

  /** Copies this process made from same-host peers' memory: region reads, region writes served, and ops sent back to TCP. */
  sameHostStats(): SameHostStats {
    return { ...this.#sameHostCounts }
  }

  /** 'up' | 'down' | 'idle' | 'connecting' (diagnostics and tests). */
  peerPhase(node: number): string | undefined {
    return this.#peers.get(node)?.phase
  }

  queuedBytes(node: number): number {
    return this.#peers.get(node)?.outbox.queuedBytes ?? 0
  }

  async start(options: TransportStartOptions = {}): Promise<void> {
    if (options.incarnation !== undefined && options.incarnation !== this.#incarnation) {
      if (this.#started) throw invalidOption('incarnation', options.incarnation, `the one this started transport announces (${this.#incarnation})`)
      this.#incarnation = checkInt('incarnation', options.incarnation, 1, 0xffff_ffff)
    }
    if (this.#started) return
    const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.#accept(socket))
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#listen.port, this.#listen.host, () => {
        server.off('error', reject)
        resolve()
      })
    }).catch((error: unknown) => {
      const e = toT3fsError(error)
      throw new T3fsError(e.code, `node ${this.nodeId} cannot listen on ${this.#listen.host}:${this.#listen.port}: ${e.message}`, { host: this.#listen.host, port: this.#listen.port })
    })
    server.on('error', (error) => this.#log.warn({ evt: 'TransportServerError', err: error }))
    const address = server.address()
    this.#boundPort = typeof address === 'object' && address ? address.port : this.#listen.port
    this.#started = true
    this.#armTick()
    for (const peer of this.#peers.values()) this.#dial(peer)
    this.#log.info({ evt: 'TransportListening', node: this.nodeId, host: this.#listen.host, port: this.#boundPort })
  }

  onFrame(handler: (fromNode: number, frame: Frame, placement?: PayloadPlacement) => void, place?: PlacePayloads): void {
    this.#frameHandler = handler
    this.#place = place ?? null
  }

  onPeerState(handler: (node: number, state: PeerState, reason?: string) => void): void {
    this.#stateHandlers.push(handler)
  }

  send(toNode: number, frame: Frame): boolean {
    const peer = this.#usablePeer(toNode)
    let bytes = frame.header.length
    for (const p of frame.payloads) bytes += p.length
    const queued = peer.outbox.queuedBytes
    // A caller that waits for whenWritable() after `false` never gets here with more than one
    // frame beyond the high-water mark, whatever the frame's size.
    if (queued > HARD_QUEUE_FACTOR * this.#s.highWaterBytes) {
      throw new T3fsError('ERR_OVERLOADED', `queue to node ${toNode} holds ${queued} bytes; accepted: wait for whenWritable() after send() returns false (limit ${HARD_QUEUE_FACTOR} × high_water = ${HARD_QUEUE_FACTOR * this.#s.highWaterBytes} bytes)`, { node: toNode, queuedBytes: queued })
    }
    const limit = this.maxFrameBytesTo(toNode)
    if (bytes + FIXED_HEAD_BYTES + 4 * frame.payloads.length > limit) {
      throw invalidOption('frame', `${bytes} bytes`, `at most ${limit} bytes including the head (transport.max_frame_size of node ${this.nodeId}${limit < this.#s.maxFrameBytes ? ` and of node ${toNode}` : ''})`)
    }
    if (frame.payloads.length > MAX_PAYLOADS) throw invalidOption('frame.payloads', `${frame.payloads.length} payloads`, `at most ${MAX_PAYLOADS}`)
    peer.outbox.enqueue(FrameType.data, frame.header, frame.payloads, frame.release)
    return queued + bytes < this.#s.highWaterBytes
  }

  whenWritable(toNode: number): Promise<void> {
    let peer: Peer
    try {
      peer = this.#usablePeer(toNode)
    } catch (error) {
      return Promise.reject(error)
    }
    if (peer.outbox.queuedBytes < this.#s.highWaterBytes) return Promise.resolve()
    return new Promise((resolve, reject) => peer.waiters.push({ resolve, reject }))
  }

  registerRegion(buffer: Uint8Array): RegionHandle {
    const handle = this.#regions.register(buffer)
    if (!this.#sameHost.enabled || buffer.length < SAME_HOST_MIN_BYTES) return handle
    return { ...handle, direct: { address: this.#sameHost.address(buffer), liveAddress: this.#liveWordAddress(handle.regionId) } }
  }

  unregisterRegion(regionId: number): void {
    this.#regions.unregister(regionId)
  }

  readRemote(node: number, regionId: number, offset: number, length: number, into: Uint8Array, direct?: DirectAddress): Promise<void> {
    if (!Number.isSafeInteger(length) || length < 0 || length > into.length) {
      return Promise.reject(invalidOption('length', length, `an integer from 0 to into.length (${into.length})`))
    }
    if (direct !== undefined && length >= SAME_HOST_MIN_BYTES) {
      const peer = this.#peers.get(node)
      if (peer !== undefined && peer.phase === 'up' && peer.directPid !== 0 && !this.#closed) return this.#copyReadEager(peer, regionId, offset, into.subarray(0, length), direct)
    }
    return this.#startOp(node, regionId, offset, into.subarray(0, length), null, (op) => this.#issueRead(op, true))
  }

  #issueRead(op: PendingOp, direct: boolean): void {
    const peer = this.#peers.get(op.node)!
    const flags = direct && peer.directPid !== 0 && op.length >= SAME_HOST_MIN_BYTES ? READ_FLAG_ADDRESS : 0
    const header = encodeOpHeader(this.#opScratch, { opId: op.id, regionId: op.regionId, offset: op.offset, length: op.length, flags })
    peer.outbox.enqueue(FrameType.readRequest, header, EMPTY_PAYLOADS)
  }

  #issueWrite(op: PendingOp, direct: boolean): void {
    const peer = this.#peers.get(op.node)!
    const data = op.data!
    const header = encodeOpHeader(this.#opScratch, { opId: op.id, regionId: op.regionId, offset: op.offset, length: data.length })
    if (direct && peer.directPid !== 0 && data.length >= SAME_HOST_MIN_BYTES) {
      new DataView(this.#opScratch.buffer, this.#opScratch.byteOffset + OP_HEADER_BYTES, 8).setFloat64(0, this.#sameHost.address(data), true)
      peer.outbox.enqueue(FrameType.writeDirect, this.#opScratch.subarray(0, WRITE_DIRECT_BYTES), EMPTY_PAYLOADS)
    } else {
      peer.outbox.enqueue(FrameType.writeRequest, header, [data])
    }
  }

  async writeRemote(node: number, regionId: number, offset: number, data: Uint8Array): Promise<void> {
    const peer = this.#usablePeer(node)
    if (peer.outbox.queuedBytes >= this.#s.highWaterBytes) await this.whenWritable(node)
    return this.#startOp(node, regionId, offset, null, data, (op) => this.#issueWrite(op, true))
  }

  #startOp(node: number, regionId: number, offset: number, into: Uint8Array | null, data: Uint8Array | null, issue: (op: PendingOp) => void): Promise<void> {
    const length = into?.length ?? data?.length ?? 0
    let peer: Peer
    try {
      peer = this.#usablePeer(node)
    } catch (error) {
      return Promise.reject(error)
    }
    const limit = this.maxFrameBytesTo(node)
    if (length + 64 > limit) {
      return Promise.reject(invalidOption('length', length, `at most max_frame_size − 64 (${limit - 64} bytes); split larger transfers`))
    }
    if (this.#ops.size >= this.#s.maxPendingOps) {
      return Promise.reject(new T3fsError('ERR_OVERLOADED', `${this.#ops.size} one-sided ops in flight; accepted: at most ${this.#s.maxPendingOps} (transport.max_pending_ops)`, { maxPendingOps: this.#s.maxPendingOps }))
    }
    let id = this.#nextOpId
    while (this.#ops.has(id)) id = id >= 0xffff_fffe ? 1 : id + 1
    this.#nextOpId = id >= 0xffff_fffe ? 1 : id + 1
    return new Promise<void>((resolve, reject) => {
      const op: PendingOp = { id, node: peer.node, regionId, offset, length, into, data, deadlineMs: this.#clock.now() + this.#s.opTimeoutMs, resolve, reject }
      this.#ops.set(id, op)
      issue(op)
    })
  }

  #usablePeer(node: number): Peer {
    if (this.#closed) throw new T3fsError('ERR_TRANSPORT_CLOSED', `transport of node ${this.nodeId} is closed`, { node })
    const peer = this.#peers.get(node)
    if (!peer) {
      throw new T3fsError('ERR_PEER_UNKNOWN', `node ${node} is not in the peer table of node ${this.nodeId}; accepted: one of ${[...this.#peers.keys()].join(', ') || '(no peers)'}`, { node })
    }
    if (peer.phase === 'down') {
      throw new T3fsError('ERR_PEER_DOWN', `node ${node} is down (${peer.downReason})`, { node, reason: peer.downReason })
    }
    if (peer.phase === 'idle' && this.#started) this.#dial(peer)
    return peer
  }

  // ---- connections -------------------------------------------------------------------------

  #dial(peer: Peer): void {
    if (this.#closed || !this.#started || peer.conn || peer.dialing || !peer.address) return
    if (peer.redialTimer) {
      peer.redialTimer.cancel()
      peer.redialTimer = null
    }
    if (peer.phase === 'idle') this.#setPhase(peer, 'connecting')
    let conn: Connection | null = null
    const socket = connect({
      host: peer.address.host,
      port: peer.address.port,
      noDelay: true,
      onread: this.#reader(() => conn),
    })
    conn = { socket, dialed: true, decoder: null, peer: null, heard: true, closed: false, openedMs: this.#clock.now(), placement: null }
    const c = conn
    c.decoder = new FrameDecoder(this.#s, this.#sinkFor(c))
    peer.dialing = c
    socket.on('connect', () => socket.write(this.#hello()))
    socket.on('error', (error) => this.#log.debug({ evt: 'TransportSocketError', node: peer.node, err: error.message }))
    socket.on('close', () => this.#onClose(c, peer, 'connection closed'))
  }

  #accept(accepted: Socket): void {
    if (this.#closed || this.#inbound.size >= MAX_UNIDENTIFIED_INBOUND) {
      accepted.destroy()
      return
    }
    let conn: Connection | null = null
    const socket = this.#adoptWithReader(accepted, () => conn)
    conn = { socket, dialed: false, decoder: null, peer: null, heard: true, closed: false, openedMs: this.#clock.now(), placement: null }
    const c = conn
    c.decoder = new FrameDecoder(this.#s, this.#sinkFor(c))
    this.#inbound.add(c)
    if (socket === accepted) socket.on('data', (chunk: Buffer) => this.#receive(c, chunk))
    socket.on('error', (error) => this.#log.debug({ evt: 'TransportSocketError', err: error.message }))
    socket.on('close', () => {
      this.#inbound.delete(c)
      if (c.peer) this.#onClose(c, c.peer, 'connection closed')
    })
  }

  /**
   * Node offers `onread` (reads into a buffer we choose) only to sockets it creates from options,
   * not to accepted ones. The server pauses new connections; we move the native handle into a
   * socket built with `onread`, and destroy the handle-less original (which only decrements the
   * server's connection count). If the internals ever change, fall back to 'data' events.
   */
  #adoptWithReader(accepted: Socket, conn: () => Connection | null): Socket {
    const internal = accepted as unknown as { _handle: unknown }
    const handle = internal._handle
    if (!handle) {
      accepted.resume()
      return accepted
    }
    internal._handle = null
    accepted.destroy()
    const socket = new Socket({ handle, readable: true, writable: true, onread: this.#reader(conn) } as unknown as ConstructorParameters<typeof Socket>[0])
    socket.setNoDelay(true)
    socket.resume()
    return socket
  }

  /**
   * Receive path: one reused buffer per connection, and while a large payload streams (a region
   * write, a remote read's result, a big frame), reads land straight in its destination.
   */
  #reader(conn: () => Connection | null): { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean } {
    const receive = new Uint8Array(RECEIVE_BUFFER_BYTES)
    // After a large frame, the next read takes only a head's worth of bytes (or exactly the rest
    // of a head that spans reads), so the payload that follows lands in its destination instead of
    // being copied out of the receive buffer.
    const headOnly = new Uint8Array(HEAD_READ_BYTES)
    let mode = ReadMode.Bulk
    let expectLarge = false
    return {
      buffer: () => {
        const decoder = conn()?.decoder
        const target = decoder?.directTarget(DIRECT_READ_MIN_BYTES) ?? null
        if (target !== null) {
          mode = ReadMode.Direct
          return target
        }
        if (!expectLarge) {
          mode = ReadMode.Bulk
          return receive
        }
        mode = ReadMode.Head
        const missing = decoder?.headBytesMissing ?? 0
        return missing > HEAD_READ_BYTES && missing <= receive.length ? receive.subarray(0, missing) : headOnly
      },
      callback: (n, buf) => {
        const c = conn()
        if (!c || c.closed) return true
        const decoder = c.decoder!
        if (mode === ReadMode.Direct) {
          c.heard = true
          decoder.advanceDirect(n)
          expectLarge = decoder.idle
        } else {
          this.#receive(c, buf.subarray(0, n))
          if (mode === ReadMode.Head) expectLarge = decoder.directTarget(DIRECT_READ_MIN_BYTES) !== null || decoder.headBytesMissing > 0
        }
        return true
      },
    }
  }

  #receive(conn: Connection, chunk: Uint8Array): void {
    if (conn.closed) return
    conn.heard = true
    try {
      conn.decoder!.push(chunk)
    } catch (error) {
      this.#log.warn({ evt: 'TransportFrameError', node: conn.peer?.node, err: (error as Error).message })
      this.#drop(conn, `bad frame: ${(error as Error).message}`)
    }
  }

  #onHello(conn: Connection, header: Uint8Array): void {
    const hello = decodeHello(header)
    const node = hello.node
    const why = helloRefusal(hello, this.nodeId, this.#clusterId)
    if (why !== null) {
      this.#log.warn({ evt: 'TransportHelloRejected', node, reason: why })
      // Tell the other end why, so its operator sees more than a closed connection.
      if (!conn.dialed) this.#replyErrorOn(conn.socket, 0, new T3fsError('ERR_HELLO_REJECTED', `node ${this.nodeId} refused the connection: ${why}`, { node: this.nodeId }))
      this.#drop(conn, 'hello rejected')
      return
    }
    if (conn.peer) {
      this.#drop(conn, 'second hello on one connection')
      return
    }
    if (conn.dialed) {
      const peer = this.#findDialing(conn)
      if (!peer || peer.node !== node) {
        this.#drop(conn, `dialed node ${peer?.node} but node ${node} answered`)
        return
      }
      this.#establish(peer, conn, hello)
      return
    }
    let peer = this.#peers.get(node)
    if (!peer) {
      if (this.#peers.size >= MAX_PEERS) {
        this.#log.warn({ evt: 'TransportTooManyPeers', node, maxPeers: MAX_PEERS })
        this.#drop(conn, 'too many peers')
        return
      }
      peer = new Peer(node, undefined)
      this.#peers.set(node, peer)
    }
    // A new incarnation on a connection that still looks up: the old process is gone.
    if (peer.conn && peer.incarnation !== 0 && hello.incarnation !== peer.incarnation) {
      this.#lose(peer, peer.conn, `node ${node} restarted (incarnation ${peer.incarnation} → ${hello.incarnation})`)
    }
    // Races: the connection dialed by the lower id wins, on both ends alike.
    const theyPreferred = node < this.nodeId
    if ((peer.conn && !theyPreferred) || (peer.dialing && !theyPreferred)) {
      this.#drop(conn, 'duplicate connection')
      return
    }
    if (peer.dialing) {
      const d = peer.dialing
      peer.dialing = null
      this.#drop(d, 'lost the connection race')
    }
    if (peer.conn) this.#lose(peer, peer.conn, 'replaced by a new connection from the peer')
    conn.socket.write(this.#hello())
    this.#establish(peer, conn, hello)
  }

  #hello(): Uint8Array {
    const probe = this.#sameHost.probe
    return encodeHello({ node: this.nodeId, incarnation: this.#incarnation, maxFrameBytes: this.#s.maxFrameBytes, clusterId: this.#clusterId, ...(probe ? { probe } : {}) })
  }

  /** The node we dialed refused us (wrong cluster, …): keep its reason for the down report. */
  #onRefused(conn: Connection, header: Uint8Array): void {
    const peer = this.#findDialing(conn)
    if (!peer) return
    let message = 'refused'
    try {
      message = (unpack(header.subarray(4)) as WireError).message
    } catch {
      // keep the generic reason
    }
    peer.refusal = message
    this.#log.warn({ evt: 'TransportRefused', node: peer.node, reason: message })
  }

  #findDialing(conn: Connection): Peer | undefined {
    for (const peer of this.#peers.values()) if (peer.dialing === conn) return peer
    return undefined
  }

  #establish(peer: Peer, conn: Connection, hello: Hello): void {
    if (peer.dialing === conn) peer.dialing = null
    this.#inbound.delete(conn)
    if (peer.incarnation !== 0 && peer.incarnation !== hello.incarnation) {
      // Its old connection was already seen down; say why it comes back as another process.
      this.#log.info({ evt: 'PeerRestarted', node: peer.node, was: peer.incarnation, now: hello.incarnation })
    }
    peer.incarnation = hello.incarnation
    peer.maxFrameBytes = hello.maxFrameBytes
    peer.directPid = this.#sameHost.canRead(hello.probe) ? hello.probe!.pid : 0
    conn.peer = peer
    peer.conn = conn
    peer.backoffMs = 0
    peer.refusal = ''
    peer.lastHeardMs = this.#clock.now()
    if (peer.redialTimer) {
      peer.redialTimer.cancel()
      peer.redialTimer = null
    }
    peer.outbox.attach(conn.socket)
    conn.socket.on('drain', () => this.#wakeWriters(peer))
    this.#setPhase(peer, 'up')
    // What queued while connecting may have gone out at once, without a 'drain' to say so.
    this.#wakeWriters(peer)
    this.#log.info({ evt: 'PeerUp', node: peer.node, dialed: conn.dialed, sameHost: peer.directPid !== 0 })
  }

  #onClose(conn: Connection, peer: Peer, reason: string): void {
    if (conn.closed) return
    this.#markClosed(conn)
    if (peer.dialing === conn) {
      peer.dialing = null
      this.#scheduleRedial(peer)
    } else if (peer.conn === conn) {
      this.#lose(peer, conn, reason)
    }
  }

  /** Closes a connection that is not (or no longer) wanted. */
  #drop(conn: Connection, reason: string): void {
    const peer = conn.peer
    if (peer && peer.conn === conn) this.#lose(peer, conn, reason)
    this.#markClosed(conn)
    conn.socket.destroy()
  }

  /** A connection is done: a frame it was receiving never completes, so its payload targets go back. */
  #markClosed(conn: Connection): void {
    if (conn.closed) return
    conn.closed = true
    conn.decoder?.abandon()
  }

  #lose(peer: Peer, conn: Connection, reason: string): void {
    this.#markClosed(conn)
    peer.conn = null
    peer.outbox.detach()
    conn.socket.destroy()
    this.#markDown(peer, reason)
    this.#scheduleRedial(peer)
  }

  #scheduleRedial(peer: Peer): void {
    if (this.#closed || !peer.address || peer.conn || peer.dialing || peer.redialTimer) return
    peer.backoffMs = nextBackoffMs(peer.backoffMs, this.#s.reconnectMinMs, this.#s.reconnectMaxMs, this.#random)
    peer.redialTimer = this.#clock.setTimer(peer.backoffMs, () => {
      peer.redialTimer = null
      this.#dial(peer)
    })
  }

  #markDown(peer: Peer, reason: string): void {
    if (peer.phase === 'down') return
    peer.downReason = reason
    this.#setPhase(peer, 'down')
    peer.outbox.detach()
    const error = new T3fsError('ERR_PEER_DOWN', `node ${peer.node} is down (${reason})`, { node: peer.node, reason })
    for (const op of [...this.#ops.values()]) {
      if (op.node !== peer.node) continue
      this.#ops.delete(op.id)
      op.reject(error)
    }
    const waiters = peer.waiters
    peer.waiters = []
    for (const w of waiters) w.reject(error)
    // A client that dialled in (the admin CLI, a tool) leaving is routine; a peer of the table is not.
    if (peer.address === undefined) this.#log.info({ evt: 'PeerDown', node: peer.node, reason })
    else this.#log.warn({ evt: 'PeerDown', node: peer.node, reason })
  }

  #setPhase(peer: Peer, phase: Peer['phase']): void {
    const was = peer.phase
    peer.phase = phase
    peer.phaseSinceMs = this.#clock.now()
    const visible = phase === 'up' ? 'up' : phase === 'down' ? 'down' : null
    // A transport closing itself does not report its peers down: they are not.
    if (visible && was !== phase && !this.#closed) {
      for (const h of this.#stateHandlers) {
        if (visible === 'down') h(peer.node, visible, peer.downReason)
        else h(peer.node, visible)
      }
    }
  }

  #wakeWriters(peer: Peer): void {
    if (peer.waiters.length === 0 || peer.outbox.queuedBytes >= this.#s.highWaterBytes) return
    const waiters = peer.waiters
    peer.waiters = []
    for (const w of waiters) w.resolve()
  }

  // ---- heartbeats and deadlines ------------------------------------------------------------

  #armTick(): void {
    this.#tick = this.#clock.setTimer(this.#s.heartbeatIntervalMs, () => {
      this.#tick = null
      if (this.#closed) return
      this.#onTick()
      this.#armTick()
    })
  }

  #onTick(): void {
    const now = this.#clock.now()
    const heartbeat = new Uint8Array(0)
    // Handshakes are bounded too: a dial to a black hole, or an inbound socket that never says HELLO.
    for (const conn of this.#inbound) if (now - conn.openedMs > this.#s.heartbeatTimeoutMs) this.#drop(conn, 'no hello')
    for (const peer of this.#peers.values()) {
      if (peer.dialing && now - peer.dialing.openedMs > this.#s.heartbeatTimeoutMs) peer.dialing.socket.destroy()
      const conn = peer.conn
      if (peer.phase === 'up' && conn) {
        if (conn.heard) {
          conn.heard = false
          peer.lastHeardMs = now
        } else if (now - peer.lastHeardMs > this.#s.heartbeatTimeoutMs) {
          this.#lose(peer, conn, `no heartbeat for ${now - peer.lastHeardMs}ms`)
          continue
        }
        peer.outbox.enqueue(FrameType.heartbeat, heartbeat, EMPTY_PAYLOADS)
        this.#wakeWriters(peer) // safety net: a missed 'drain' costs at most one interval
      } else if (peer.phase === 'connecting' && now - peer.phaseSinceMs > this.#s.heartbeatTimeoutMs) {
        this.#markDown(peer, `unreachable for ${now - peer.phaseSinceMs}ms${peer.refusal ? `: ${peer.refusal}` : ''}`)
      }
    }
    for (const op of this.#ops.values()) {
      if (now < op.deadlineMs) continue
      this.#ops.delete(op.id)
      op.reject(new T3fsError('ERR_TIMEOUT', `one-sided op to node ${op.node} got no answer in ${this.#s.opTimeoutMs}ms`, { node: op.node }))
    }
  }

  // ---- receiving ---------------------------------------------------------------------------

  #sinkFor(conn: Connection): FrameSink {
    return {
      head: (type, header, lengths, total): PayloadDestination => {
        if (type === FrameType.data) return this.#placeData(conn, header, lengths)
        if (type === FrameType.readResponse) {
          const op = this.#ops.get(opIdOf(header))
          if (!op || !op.into || !conn.peer || op.node !== conn.peer.node || op.length !== total) return DISCARD
          return op.into
        }
        if (type === FrameType.writeRequest) {
          const h = decodeOpHeader(header)
          if (!h || h.length !== total) return DISCARD
          try {
            return this.#regions.resolve(h.regionId, h.offset, h.length)
          } catch {
            return DISCARD
          }
        }
        return undefined
      },
      frame: (type, header, payloads) => {
        const placement = conn.placement
        conn.placement = null
        this.#onFrame(conn, type, header, payloads, placement)
      },
      abandon: () => {
        const placement = conn.placement
        conn.placement = null
        placement?.abandon()
      },
    }
  }

  /** A data frame's head is in: the handler's `place` picks its payloads' targets (only on a live, identified connection). */
  #placeData(conn: Connection, header: Uint8Array, lengths: readonly number[]): PayloadDestination {
    const peer = conn.peer
    if (this.#place === null || lengths.length === 0) return undefined
    if (conn.closed || peer === null || peer.conn !== conn) return DISCARD
    let placement: PayloadPlacement | undefined
    try {
      placement = this.#place(peer.node, header, lengths)
    } catch (error) {
      this.#log.warn({ evt: 'PayloadPlacementThrew', node: peer.node, err: (error as Error).message })
      return DISCARD
    }
    if (placement === undefined) return undefined
    conn.placement = placement
    return placement.targets
  }

  #onFrame(conn: Connection, type: number, header: Uint8Array, payloads: readonly Uint8Array[], placement: PayloadPlacement | null): void {
    if (type === FrameType.hello) {
      this.#onHello(conn, header)
      return
    }
    const peer = conn.peer
    if (!peer || peer.conn !== conn) {
      placement?.abandon()
      if (type === FrameType.opError && conn.dialed) this.#onRefused(conn, header)
      if (!conn.closed) this.#drop(conn, 'frame before hello')
      return
    }
    switch (type) {
      case FrameType.data:
        try {
          if (placement === null) this.#frameHandler(peer.node, { header, payloads })
          else this.#frameHandler(peer.node, { header, payloads }, placement)
        } catch (error) {
          this.#log.warn({ evt: 'FrameHandlerThrew', node: peer.node, err: (error as Error).message })
        }
        return
      case FrameType.heartbeat:
        return
      case FrameType.readRequest:
        return this.#serveRead(peer, header)
      case FrameType.writeRequest:
        return this.#serveWrite(peer, header, payloads)
      case FrameType.readAddress:
        return this.#copyRead(peer, header)
      case FrameType.writeDirect:
        return this.#serveWriteDirect(peer, header)
      case FrameType.readResponse: {
        const op = this.#ops.get(opIdOf(header))
        const short = op !== undefined && op.length > 0 && payloads.length === 0
        const error = short ? new T3fsError('ERR_FRAME', `read response from node ${peer.node} does not carry the ${op.length} bytes asked for`, { node: peer.node }) : null
        return this.#completeOp(peer, opIdOf(header), error)
      }
      case FrameType.writeAck:
        return this.#completeOp(peer, opIdOf(header), null)
      case FrameType.opError: {
        const wire = unpack(header.subarray(4)) as WireError
        const op = this.#ops.get(opIdOf(header))
        if (wire.code === 'ERR_DIRECT_REFUSED' && op !== undefined && op.node === peer.node && op.data !== null) return this.#directFailed(peer, op, fromWire(wire))
        return this.#completeOp(peer, opIdOf(header), fromWire(wire))
      }
    }
  }

  #serveRead(peer: Peer, header: Uint8Array): void {
    const h = decodeOpHeader(header)
    if (!h) return
    let view: Uint8Array
    try {
      view = this.#regions.resolve(h.regionId, h.offset, h.length)
    } catch (error) {
      return this.#replyError(peer, h.opId, error)
    }
    if (((h.flags ?? 0) & READ_FLAG_ADDRESS) !== 0 && this.#sameHost.enabled && view.length > 0) {
      const live = this.#liveWordAddress(h.regionId)
      const reply = encodeReadAddress(this.#opScratch, { opId: h.opId, regionId: h.regionId, address: this.#sameHost.address(view), liveAddress: live })
      peer.outbox.enqueue(FrameType.readAddress, reply, EMPTY_PAYLOADS)
      return
    }
    const reply = encodeOpHeader(this.#opScratch, { opId: h.opId, regionId: 0, offset: 0, length: 0 })
    peer.outbox.enqueue(FrameType.readResponse, reply, [view])
  }

  #liveWordAddress(regionId: number): number {
    if (this.#liveBase === 0) this.#liveBase = this.#sameHost.address(new Uint8Array(this.#regions.liveWords().buffer))
    return this.#liveBase + 4 * this.#regions.slotOf(regionId)
  }

  /** A same-host peer said where the region we asked for is: copy it, then check it was still registered. */
  #copyRead(peer: Peer, header: Uint8Array): void {
    const a = decodeReadAddress(header)
    const op = a === undefined ? undefined : this.#ops.get(a.opId)
    if (a === undefined || op === undefined || op.node !== peer.node || op.into === null) return
    try {
      if (this.#sameHost.readChecked(peer.directPid, op.into, a.address, a.liveAddress) !== a.regionId) {
        const e = remoteRegionError(peer.node, op.regionId, op.offset, op.length, 'was unregistered while it was being read', 'a region that stays registered until the read completes')
        return this.#completeOp(peer, a.opId, e)
      }
    } catch (error) {
      return this.#directFailed(peer, op, error)
    }
    this.#sameHostCounts.reads++
    this.#sameHostCounts.bytes += op.length
    this.#completeOp(peer, a.opId, null)
  }

  /**
   * A read of a same-host peer's region whose handle carried its address: copied now, with no
   * request (the read path's round trip of #copyRead saved). The liveness word is checked as there.
   */
  #copyReadEager(peer: Peer, regionId: number, offset: number, into: Uint8Array, direct: DirectAddress): Promise<void> {
    let word: number
    try {
      word = this.#sameHost.readChecked(peer.directPid, into, direct.address + offset, direct.liveAddress)
    } catch (error) {
      this.#stopDirect(peer, error)
      return this.#startOp(peer.node, regionId, offset, into, null, (op) => this.#issueRead(op, false))
    }
    if (word !== regionId) {
      return Promise.reject(remoteRegionError(peer.node, regionId, offset, into.length, 'was unregistered while it was being read', 'a region that stays registered until the read completes'))
    }
    this.#sameHostCounts.reads++
    this.#sameHostCounts.bytes += into.length
    return Promise.resolve()
  }

  #serveWriteDirect(peer: Peer, header: Uint8Array): void {
    const h = decodeOpHeader(header)
    const source = writeDirectSource(header)
    if (!h) return
    let view: Uint8Array
    try {
      view = this.#regions.resolve(h.regionId, h.offset, h.length)
      if (peer.directPid === 0 || !(source > 0)) throw new T3fsError('ERR_DIRECT_REFUSED', `node ${this.nodeId} cannot read the memory of node ${peer.node}; send the bytes`, { node: peer.node })
    } catch (error) {
      return this.#replyError(peer, h.opId, error)
    }
    try {
      this.#sameHost.read(peer.directPid, view, source)
    } catch (error) {
      return this.#replyError(peer, h.opId, new T3fsError('ERR_DIRECT_REFUSED', `node ${this.nodeId} could not copy from node ${peer.node}: ${(error as Error).message}; send the bytes`, { node: peer.node }))
    }
    this.#sameHostCounts.writes++
    this.#sameHostCounts.bytes += h.length
    const reply = encodeOpHeader(this.#opScratch, { opId: h.opId, regionId: 0, offset: 0, length: 0 })
    peer.outbox.enqueue(FrameType.writeAck, reply, EMPTY_PAYLOADS)
  }

  /** A direct copy failed: this peer goes back to TCP until it reconnects, and the op is sent again through the socket. */
  #directFailed(peer: Peer, op: PendingOp, error: unknown): void {
    this.#stopDirect(peer, error)
    if (op.into !== null) this.#issueRead(op, false)
    else this.#issueWrite(op, false)
  }

  /** No more direct copies with this peer until it reconnects (the op that failed is the caller's to resend). */
  #stopDirect(peer: Peer, error: unknown): void {
    this.#log.warn({ evt: 'SameHostCopyFailed', node: peer.node, err: (error as Error).message })
    peer.directPid = 0
    this.#sameHostCounts.fallbacks++
  }

  #serveWrite(peer: Peer, header: Uint8Array, payloads: readonly Uint8Array[]): void {
    const h = decodeOpHeader(header)
    if (!h) return
    try {
      this.#regions.resolve(h.regionId, h.offset, h.length)
    } catch (error) {
      return this.#replyError(peer, h.opId, error)
    }
    if (h.length > 0 && payloads.length === 0) {
      // The head sink discarded a payload whose size did not match the header.
      const e = remoteRegionError(this.nodeId, h.regionId, h.offset, h.length, 'does not match the payload length', 'length equal to the bytes sent')
      return this.#replyError(peer, h.opId, e)
    }
    const reply = encodeOpHeader(this.#opScratch, { opId: h.opId, regionId: 0, offset: 0, length: 0 })
    peer.outbox.enqueue(FrameType.writeAck, reply, EMPTY_PAYLOADS)
  }

  /** An error frame written straight to a socket that has no outbox yet (handshake refusals). */
  #replyErrorOn(socket: Socket, opId: number, error: T3fsError): void {
    const body = pack(error.toWire())
    const header = new Uint8Array(4 + body.length)
    new DataView(header.buffer).setUint32(0, opId, true)
    header.set(body, 4)
    socket.write(encodeFrame(FrameType.opError, header))
  }

  #replyError(peer: Peer, opId: number, error: unknown): void {
    const body = pack(toT3fsError(error).toWire())
    const header = new Uint8Array(4 + body.length)
    new DataView(header.buffer).setUint32(0, opId, true)
    header.set(body, 4)
    peer.outbox.enqueue(FrameType.opError, header, EMPTY_PAYLOADS)
  }

  #completeOp(peer: Peer, opId: number, error: T3fsError | null): void {
    const op = this.#ops.get(opId)
    if (!op || op.node !== peer.node) return
    this.#ops.delete(opId)
    if (error) op.reject(error)
    else op.resolve()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#tick?.cancel()
    const error = new T3fsError('ERR_TRANSPORT_CLOSED', `transport of node ${this.nodeId} is closed`, { node: this.nodeId })
    for (const op of this.#ops.values()) op.reject(error)
    this.#ops.clear()
    const sockets: Socket[] = []
    for (const peer of this.#peers.values()) {
      peer.redialTimer?.cancel()
      for (const w of peer.waiters) w.reject(error)
      peer.waiters = []
      if (peer.conn) {
        peer.outbox.flush()
        sockets.push(peer.conn.socket)
        this.#markClosed(peer.conn)
      } else {
        peer.outbox.detach() // frames queued while connecting go nowhere: release them
      }
      if (peer.dialing) {
        this.#markClosed(peer.dialing)
        peer.dialing.socket.destroy()
      }
    }
    for (const conn of this.#inbound) {
      this.#markClosed(conn)
      conn.socket.destroy()
    }
    // Graceful: let queued bytes go out, but never wait long for a peer that does not read.
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            const timer = this.#clock.setTimer(CLOSE_GRACE_MS, () => {
              socket.destroy()
              resolve()
            })
            socket.once('close', () => {
              timer.cancel()
              resolve()
            })
            socket.end()
          }),
      ),
    )
    const server = this.#server
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
