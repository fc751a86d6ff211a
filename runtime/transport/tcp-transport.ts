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
 * new connection is up.
 */
import { Socket, createServer, connect, type Server } from 'node:net'
import { pack, unpack } from 'msgpackr'
import { T3fsError, fromWire, invalidOption, toT3fsError, type WireError } from '../errors.ts'
import type { Address, PeerEntry, TransportSettings } from '../profile/profile.ts'
import { EMPTY_PAYLOADS, DISCARD, FrameDecoder, FrameType, MAX_PAYLOADS, encodeFrame, type FrameSink, type PayloadDestination } from './framing.ts'
import { OP_HEADER_BYTES, RegionTable, decodeOpHeader, encodeOpHeader, opIdOf, remoteRegionError } from './one-sided.ts'
import { Peer, nextBackoffMs, type Connection } from './peer.ts'
import { decodeHello, encodeHello, helloRefusal } from './hello.ts'
import type { Frame, NodeTransport, PeerState, RegionHandle } from './transport.ts'

export interface TransportLog {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
}

const SILENT: TransportLog = { info() {}, warn() {}, debug() {} }

export interface TcpTransportOptions extends Partial<Omit<TransportSettings, 'kind'>> {
  readonly nodeId: number
  readonly clusterId?: string
  readonly listen: Address
  readonly peers?: Iterable<PeerEntry>
  readonly log?: TransportLog
}

/** Defaults: 3FS-like shapes, scaled so a dev cluster notices a dead node within seconds. */
export const TCP_DEFAULTS: Omit<TransportSettings, 'kind'> = {
  heartbeatIntervalMs: 1000,
  heartbeatTimeoutMs: 5000,
  reconnectMinMs: 50,
  reconnectMaxMs: 2000,
  maxFrameBytes: 64 * 1024 * 1024,
  maxHeaderBytes: 1024 * 1024,
  highWaterBytes: 16 * 1024 * 1024,
  maxPendingOps: 1024,
  opTimeoutMs: 30_000,
  maxRegions: 4096,
}

/** A caller that ignores send() === false may queue this many high-water marks before ERR_OVERLOADED. */
export const HARD_QUEUE_FACTOR = 4
const RECEIVE_BUFFER_BYTES = 64 * 1024
/** A payload with at least this much left is read straight into its destination. */
const DIRECT_READ_MIN_BYTES = 16 * 1024
/** Read size right after a large frame: the next frame's head, and little more. */
const HEAD_READ_BYTES = 256
/** Nodes one transport keeps state for (the profile's peer table has the same bound). */
const MAX_PEERS = 4096
/** Accepted connections that have not said HELLO yet; more are refused. */
const MAX_UNIDENTIFIED_INBOUND = 256

interface PendingOp {
  readonly id: number
  readonly node: number
  readonly length: number
  readonly into: Uint8Array | null
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
  readonly #s: Omit<TransportSettings, 'kind'>
  readonly #log: TransportLog
  readonly #peers = new Map<number, Peer>()
  readonly #regions: RegionTable
  readonly #ops = new Map<number, PendingOp>()
  readonly #inbound = new Set<Connection>()
  readonly #opScratch = new Uint8Array(OP_HEADER_BYTES)
  #nextOpId = 1
  #server: Server | null = null
  #tick: NodeJS.Timeout | null = null
  #closed = false
  #started = false
  #boundPort = 0
  #frameHandler: (fromNode: number, frame: Frame) => void = () => {}
  #stateHandlers: Array<(node: number, state: PeerState) => void> = []

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
    if (s.maxHeaderBytes >= s.maxFrameBytes) throw invalidOption('maxHeaderBytes', s.maxHeaderBytes, `less than maxFrameBytes (${s.maxFrameBytes})`)
    this.#s = s
    this.#log = options.log ?? SILENT
    this.#regions = new RegionTable(this.nodeId, s.maxRegions)
    for (const p of options.peers ?? []) if (p.node !== this.nodeId) this.#peers.set(p.node, new Peer(p.node, p.address))
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.#boundPort
  }

  /** Adds or changes a peer's address; dials it when started. */
  addPeer(node: number, address: Address): void {
    if (node === this.nodeId) return
    const peer = this.#peers.get(node)
    if (peer) peer.address = address
    else this.#peers.set(node, new Peer(node, address))
    if (this.#started) this.#dial(this.#peers.get(node)!)
  }

  /** 'up' | 'down' | 'idle' | 'connecting' (diagnostics and tests). */
  peerPhase(node: number): string | undefined {
    return this.#peers.get(node)?.phase
  }

  queuedBytes(node: number): number {
    return this.#peers.get(node)?.outbox.queuedBytes ?? 0
  }

  async start(): Promise<void> {
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
    this.#tick = setInterval(() => this.#onTick(), this.#s.heartbeatIntervalMs)
    this.#tick.unref()
    for (const peer of this.#peers.values()) this.#dial(peer)
    this.#log.info({ evt: 'TransportListening', node: this.nodeId, host: this.#listen.host, port: this.#boundPort })
  }

  onFrame(handler: (fromNode: number, frame: Frame) => void): void {
    this.#frameHandler = handler
  }

  onPeerState(handler: (node: number, state: PeerState) => void): void {
    this.#stateHandlers.push(handler)
  }

  send(toNode: number, frame: Frame): boolean {
    const peer = this.#usablePeer(toNode)
    let bytes = frame.header.length
    for (const p of frame.payloads) bytes += p.length
    const queued = peer.outbox.queuedBytes
    if (queued + bytes > HARD_QUEUE_FACTOR * this.#s.highWaterBytes && queued > 0) {
      throw new T3fsError('ERR_OVERLOADED', `queue to node ${toNode} holds ${queued} bytes; accepted: wait for whenWritable() after send() returns false (limit ${HARD_QUEUE_FACTOR} × high_water = ${HARD_QUEUE_FACTOR * this.#s.highWaterBytes} bytes)`, { node: toNode, queuedBytes: queued })
    }
    if (bytes + 12 + 4 * frame.payloads.length > this.#s.maxFrameBytes) {
      throw invalidOption('frame', `${bytes} bytes`, `at most max_frame_size (${this.#s.maxFrameBytes} bytes) including the head`)
    }
    if (frame.payloads.length > MAX_PAYLOADS) throw invalidOption('frame.payloads', `${frame.payloads.length} payloads`, `at most ${MAX_PAYLOADS}`)
    if (frame.header.length > this.#s.maxHeaderBytes) {
      throw invalidOption('frame.header', `${frame.header.length} bytes`, `at most max_header_size (${this.#s.maxHeaderBytes} bytes)`)
    }
    peer.outbox.enqueue(FrameType.data, frame.header, frame.payloads)
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
    return this.#regions.register(buffer)
  }

  unregisterRegion(regionId: number): void {
    this.#regions.unregister(regionId)
  }

  readRemote(node: number, regionId: number, offset: number, length: number, into: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(length) || length < 0 || length > into.length) {
      return Promise.reject(invalidOption('length', length, `an integer from 0 to into.length (${into.length})`))
    }
    return this.#startOp(node, into.subarray(0, length), length, (id) => {
      const header = encodeOpHeader(this.#opScratch, { opId: id, regionId, offset, length })
      this.#peers.get(node)!.outbox.enqueue(FrameType.readRequest, header, EMPTY_PAYLOADS)
    })
  }

  async writeRemote(node: number, regionId: number, offset: number, data: Uint8Array): Promise<void> {
    const peer = this.#usablePeer(node)
    if (peer.outbox.queuedBytes >= this.#s.highWaterBytes) await this.whenWritable(node)
    return this.#startOp(node, null, data.length, (id) => {
      const header = encodeOpHeader(this.#opScratch, { opId: id, regionId, offset, length: data.length })
      peer.outbox.enqueue(FrameType.writeRequest, header, [data])
    })
  }

  #startOp(node: number, into: Uint8Array | null, length: number, issue: (id: number) => void): Promise<void> {
    let peer: Peer
    try {
      peer = this.#usablePeer(node)
    } catch (error) {
      return Promise.reject(error)
    }
    if (length + 64 > this.#s.maxFrameBytes) {
      return Promise.reject(invalidOption('length', length, `at most max_frame_size − 64 (${this.#s.maxFrameBytes - 64} bytes); split larger transfers`))
    }
    if (this.#ops.size >= this.#s.maxPendingOps) {
      return Promise.reject(new T3fsError('ERR_OVERLOADED', `${this.#ops.size} one-sided ops in flight; accepted: at most ${this.#s.maxPendingOps} (transport.max_pending_ops)`, { maxPendingOps: this.#s.maxPendingOps }))
    }
    let id = this.#nextOpId
    while (this.#ops.has(id)) id = id >= 0xffff_fffe ? 1 : id + 1
    this.#nextOpId = id >= 0xffff_fffe ? 1 : id + 1
    return new Promise<void>((resolve, reject) => {
      this.#ops.set(id, { id, node: peer.node, length, into, deadlineMs: Date.now() + this.#s.opTimeoutMs, resolve, reject })
      issue(id)
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
      clearTimeout(peer.redialTimer)
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
    conn = { socket, dialed: true, decoder: null, peer: null, heard: true, closed: false, openedMs: Date.now() }
    const c = conn
    c.decoder = new FrameDecoder(this.#s, this.#sinkFor(c))
    peer.dialing = c
    socket.on('connect', () => socket.write(encodeHello(this.nodeId, this.#clusterId)))
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
    conn = { socket, dialed: false, decoder: null, peer: null, heard: true, closed: false, openedMs: Date.now() }
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
    // After a large frame, the next read takes only a head's worth of bytes, so the payload that
    // follows lands in its destination instead of being copied out of the receive buffer.
    const headOnly = new Uint8Array(HEAD_READ_BYTES)
    let direct = false
    let expectLarge = false
    return {
      buffer: () => {
        const target = conn()?.decoder?.directTarget(DIRECT_READ_MIN_BYTES) ?? null
        direct = target !== null
        return target ?? (expectLarge ? headOnly : receive)
      },
      callback: (n, buf) => {
        const c = conn()
        if (!c || c.closed) return true
        if (direct) {
          c.heard = true
          c.decoder!.advanceDirect(n)
          expectLarge = c.decoder!.idle
        } else {
          this.#receive(c, buf.subarray(0, n))
          if (buf === headOnly) expectLarge = c.decoder?.directTarget(DIRECT_READ_MIN_BYTES) != null
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
      this.#establish(peer, conn)
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
    conn.socket.write(encodeHello(this.nodeId, this.#clusterId))
    this.#establish(peer, conn)
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

  #establish(peer: Peer, conn: Connection): void {
    if (peer.dialing === conn) peer.dialing = null
    this.#inbound.delete(conn)
    conn.peer = peer
    peer.conn = conn
    peer.backoffMs = 0
    peer.refusal = ''
    peer.lastHeardMs = Date.now()
    if (peer.redialTimer) {
      clearTimeout(peer.redialTimer)
      peer.redialTimer = null
    }
    peer.outbox.attach(conn.socket)
    conn.socket.on('drain', () => this.#wakeWriters(peer))
    this.#setPhase(peer, 'up')
    // What queued while connecting may have gone out at once, without a 'drain' to say so.
    this.#wakeWriters(peer)
    this.#log.info({ evt: 'PeerUp', node: peer.node, dialed: conn.dialed })
  }

  #onClose(conn: Connection, peer: Peer, reason: string): void {
    if (conn.closed) return
    conn.closed = true
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
    conn.closed = true
    conn.socket.destroy()
  }

  #lose(peer: Peer, conn: Connection, reason: string): void {
    conn.closed = true
    peer.conn = null
    peer.outbox.detach()
    conn.socket.destroy()
    this.#markDown(peer, reason)
    this.#scheduleRedial(peer)
  }

  #scheduleRedial(peer: Peer): void {
    if (this.#closed || !peer.address || peer.conn || peer.dialing || peer.redialTimer) return
    peer.backoffMs = nextBackoffMs(peer.backoffMs, this.#s.reconnectMinMs, this.#s.reconnectMaxMs)
    peer.redialTimer = setTimeout(() => {
      peer.redialTimer = null
      this.#dial(peer)
    }, peer.backoffMs)
    peer.redialTimer.unref()
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
    peer.phaseSinceMs = Date.now()
    const visible = phase === 'up' ? 'up' : phase === 'down' ? 'down' : null
    // A transport closing itself does not report its peers down: they are not.
    if (visible && was !== phase && !this.#closed) for (const h of this.#stateHandlers) h(peer.node, visible)
  }

  #wakeWriters(peer: Peer): void {
    if (peer.waiters.length === 0 || peer.outbox.queuedBytes >= this.#s.highWaterBytes) return
    const waiters = peer.waiters
    peer.waiters = []
    for (const w of waiters) w.resolve()
  }

  // ---- heartbeats and deadlines ------------------------------------------------------------

  #onTick(): void {
    const now = Date.now()
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
      head: (type, header, _lengths, total): PayloadDestination => {
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
      frame: (type, header, payloads) => this.#onFrame(conn, type, header, payloads),
    }
  }

  #onFrame(conn: Connection, type: number, header: Uint8Array, payloads: readonly Uint8Array[]): void {
    if (type === FrameType.hello) {
      this.#onHello(conn, header)
      return
    }
    const peer = conn.peer
    if (!peer || peer.conn !== conn) {
      if (type === FrameType.opError && conn.dialed) this.#onRefused(conn, header)
      if (!conn.closed) this.#drop(conn, 'frame before hello')
      return
    }
    switch (type) {
      case FrameType.data:
        try {
          this.#frameHandler(peer.node, { header, payloads })
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
    const reply = encodeOpHeader(this.#opScratch, { opId: h.opId, regionId: 0, offset: 0, length: 0 })
    peer.outbox.enqueue(FrameType.readResponse, reply, [view])
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
    if (this.#tick) clearInterval(this.#tick)
    const error = new T3fsError('ERR_TRANSPORT_CLOSED', `transport of node ${this.nodeId} is closed`, { node: this.nodeId })
    for (const op of this.#ops.values()) op.reject(error)
    this.#ops.clear()
    const sockets: Socket[] = []
    for (const peer of this.#peers.values()) {
      if (peer.redialTimer) clearTimeout(peer.redialTimer)
      for (const w of peer.waiters) w.reject(error)
      peer.waiters = []
      if (peer.conn) {
        peer.outbox.flush()
        sockets.push(peer.conn.socket)
        peer.conn.closed = true
      }
      if (peer.dialing) peer.dialing.socket.destroy()
    }
    for (const conn of this.#inbound) conn.socket.destroy()
    // Graceful: let queued bytes go out, but never wait long for a peer that does not read.
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              socket.destroy()
              resolve()
            }, 1000)
            timer.unref()
            socket.once('close', () => {
              clearTimeout(timer)
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
