/**
 * The simulator's network: a NodeTransport per simulated process, so each node runs the real
 * router (NetworkRoute: envelopes encoded with the wire codec into frames, stale incarnations
 * refused, peers that go down failing their asks) over links the seed controls.
 *
 * What the links do, as TCP connections between our nodes do:
 * - a frame is delivered after a delay in [minDelayMs, maxDelayMs], in order per connection
 *   (unless `reorder`), and only while its connection lives: a connection that died (a crashed
 *   peer, a partition noticed) takes its frames in flight with it;
 * - a crashed process's peers see its connection reset after `resetDelayMs` and report it down;
 * - a partition (per direction: asymmetric ones too) silently loses what crosses it; once a
 *   connection has been cut for `heartbeatTimeoutMs`, both ends report each other down, as the
 *   heartbeats would; after a heal (or a restart) the connection comes back up after
 *   `reconnectDelayMs`;
 * - optionally, adversarial faults real TCP does not have: random frame drops and duplicates.
 * One-sided reads and writes of registered regions cross the same links.
 */
import { T3fsError } from '../errors.ts'
import { invalidOption } from '../errors.ts'
import type { SeededRandom } from '../random.ts'
import { RegionTable } from '../transport/one-sided.ts'
import { DEFAULT_MAX_FRAME_BYTES, type Frame, type NodeTransport, type PayloadPlacement, type PeerState, type PlacePayloads, type RegionHandle } from '../transport/transport.ts'
import type { VirtualClock } from './virtual-clock.ts'

export interface NetworkFaults {
  /** Probability that a frame is lost without its connection dying (real TCP never does this). */
  readonly dropRate?: number
  /** Probability that a frame is delivered twice (real TCP never does this). */
  readonly duplicateRate?: number
  readonly minDelayMs?: number
  readonly maxDelayMs?: number
  /** Let frames of one connection overtake each other (real TCP keeps them in order). */
  readonly reorder?: boolean
  /** A connection cut this long is declared down at both ends. Default 500. */
  readonly heartbeatTimeoutMs?: number
  /** How long a crashed process's peers take to see its connection reset. Default 1–3 ms. */
  readonly resetDelayMs?: readonly [number, number]
  /** How long a connection takes to come back after a heal or a restart. Default 20. */
  readonly reconnectDelayMs?: number
  /** A one-sided read or write without an answer fails after this long. Default 5000. */
  readonly opTimeoutMs?: number
}

type ResolvedNetworkFaults = Required<Omit<NetworkFaults, 'resetDelayMs'>> & { resetDelayMs: readonly [number, number] }

export function resolveNetworkFaults(faults: NetworkFaults): ResolvedNetworkFaults {
  const resolved: ResolvedNetworkFaults = {
    dropRate: faults.dropRate ?? 0,
    duplicateRate: faults.duplicateRate ?? 0,
    minDelayMs: faults.minDelayMs ?? 1,
    maxDelayMs: faults.maxDelayMs ?? 10,
    reorder: faults.reorder ?? false,
    heartbeatTimeoutMs: faults.heartbeatTimeoutMs ?? 500,
    resetDelayMs: faults.resetDelayMs ?? [1, 3],
    reconnectDelayMs: faults.reconnectDelayMs ?? 20,
    opTimeoutMs: faults.opTimeoutMs ?? 5_000,
  }
  for (const key of ['dropRate', 'duplicateRate'] as const) {
    if (!(resolved[key] >= 0 && resolved[key] < 1)) throw invalidOption(key, resolved[key], 'a probability in [0, 1)')
  }
  if (!(resolved.minDelayMs >= 0 && resolved.maxDelayMs >= resolved.minDelayMs)) {
    throw invalidOption('maxDelayMs', resolved.maxDelayMs, `a delay >= minDelayMs (${resolved.minDelayMs})`)
  }
  for (const key of ['heartbeatTimeoutMs', 'reconnectDelayMs', 'opTimeoutMs'] as const) {
    if (!(resolved[key] > 0)) throw invalidOption(key, resolved[key], 'a positive number of ms')
  }
  const [low, high] = resolved.resetDelayMs
  if (!(low >= 0 && high >= low)) throw invalidOption('resetDelayMs', resolved.resetDelayMs, '[min, max] with 0 <= min <= max')
  return resolved
}

/** One TCP connection between two nodes, as both ends see it. */
interface Connection {
  /** Bumped each time the connection dies: frames of an older life are lost. */
  life: number
  up: boolean
  /** When frames last went out in each direction (delivery order without `reorder`). */
  readonly lastDeliveryMs: Map<number, number>
  /** Pending "declare down" timer after a cut, and its reconnect timer. */
  cutTimer: { cancel(): void } | null
  reconnectTimer: { cancel(): void } | null
}

export interface NetworkCounters {
  frames: number
  dropped: number
  duplicated: number
  cut: number
  lostInFlight: number
}

export class SimNetwork {
  readonly faults: ResolvedNetworkFaults
  readonly counters: NetworkCounters = { frames: 0, dropped: 0, duplicated: 0, cut: 0, lostInFlight: 0 }
  private readonly transports = new Map<number, SimTransport>()
  private readonly connections = new Map<string, Connection>()
  /** Directed cuts: `${from}>${to}`. */
  private readonly blocked = new Set<string>()

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: SeededRandom,
    faults: NetworkFaults = {},
  ) {
    this.faults = resolveNetworkFaults(faults)
  }

  /** A new process's transport (a restart replaces the node's previous one). */
  attach(node: number, incarnation: number): SimTransport {
    const transport = new SimTransport(this, node, incarnation)
    this.transports.set(node, transport)
    return transport
  }

  /** The process died: its peers see the connection reset shortly after. */
  detach(node: number): void {
    const transport = this.transports.get(node)
    if (transport === undefined) return
    transport.dead = true
    this.transports.delete(node)
    for (const other of this.transports.keys()) {
      const connection = this.connection(node, other)
      this.kill(connection)
      const [low, high] = this.faults.resetDelayMs
      this.clock.setTimer(low + this.random.next() * (high - low), () => {
        this.transports.get(other)?.report(node, 'down', 'connection reset (the process died)')
      })
    }
  }

  /** Cuts `from → to` (and `to → from` unless `oneWay`). */
  partition(from: number, to: number, oneWay = false): void {
    this.blocked.add(`${from}>${to}`)
    if (!oneWay) this.blocked.add(`${to}>${from}`)
    const connection = this.connection(from, to)
    connection.reconnectTimer?.cancel()
    connection.reconnectTimer = null
    if (connection.cutTimer !== null || !connection.up) return
    // Heartbeats stop getting through: after the timeout, both ends give the connection up.
    connection.cutTimer = this.clock.setTimer(this.faults.heartbeatTimeoutMs, () => {
      connection.cutTimer = null
      if (!this.isCut(from, to)) return
      this.counters.cut++
      this.kill(connection)
      const silence = `no heartbeat for ${this.faults.heartbeatTimeoutMs}ms`
      this.transports.get(from)?.report(to, 'down', silence)
      this.transports.get(to)?.report(from, 'down', silence)
    })
  }

  heal(from: number, to: number): void {
    this.blocked.delete(`${from}>${to}`)
    this.blocked.delete(`${to}>${from}`)
    const connection = this.connection(from, to)
    connection.cutTimer?.cancel()
    connection.cutTimer = null
    if (!connection.up) this.reconnect(from, to)
  }

  isCut(a: number, b: number): boolean {
    return this.blocked.has(`${a}>${b}`) || this.blocked.has(`${b}>${a}`)
  }

  /** A node came (back) up: its connections to every live node come up after a moment. */
  connectAll(node: number): void {
    for (const other of this.transports.keys()) {
      if (other !== node && !this.isCut(node, other)) this.reconnect(node, other)
    }
  }

  send(from: number, to: number, frame: Frame): void {
    const connection = this.connection(from, to)
    if (!connection.up) throw new T3fsError('ERR_PEER_DOWN', `node ${to} is down (connection lost)`, { node: to })
    const copy: Frame = { header: frame.header.slice(), payloads: frame.payloads.map((p) => p.slice()) }
    // The bytes are on the wire: the sender's memory (pool slots of its payloads) is free again.
    frame.release?.()
    this.counters.frames++
    if (this.random.next() < this.faults.dropRate) {
      this.counters.dropped++
      return
    }
    this.carry(from, to, connection, (target) => target.deliverFrame(from, copy))
    if (this.random.next() < this.faults.duplicateRate) {
      this.counters.duplicated++
      this.carry(from, to, connection, (target) => target.deliverFrame(from, copy))
    }
  }

  /** Carries `arrive` from → to on the connection's current life; lost if it dies or the link is cut. */
  carry(from: number, to: number, connection: Connection, arrive: (target: SimTransport) => void): void {
    const life = connection.life
    const delayMs = this.deliveryDelay(connection, from)
    this.clock.setTimer(delayMs, () => {
      const target = this.transports.get(to)
      if (connection.life !== life || target === undefined || this.blocked.has(`${from}>${to}`)) {
        this.counters.lostInFlight++
        return
      }
      arrive(target)
    })
  }

  connection(a: number, b: number): Connection {
    const key = a < b ? `${a}-${b}` : `${b}-${a}`
    let connection = this.connections.get(key)
    if (connection === undefined) {
      connection = { life: 0, up: true, lastDeliveryMs: new Map(), cutTimer: null, reconnectTimer: null }
      this.connections.set(key, connection)
    }
    return connection
  }

  transport(node: number): SimTransport | undefined {
    return this.transports.get(node)
  }

  private deliveryDelay(connection: Connection, from: number): number {
    const { minDelayMs, maxDelayMs, reorder } = this.faults
    const delayMs = minDelayMs + this.random.next() * (maxDelayMs - minDelayMs)
    if (reorder) return delayMs
    const at = Math.max(this.clock.now() + delayMs, connection.lastDeliveryMs.get(from) ?? 0)
    connection.lastDeliveryMs.set(from, at)
    return at - this.clock.now()
  }

  private kill(connection: Connection): void {
    connection.life++
    connection.up = false
    connection.lastDeliveryMs.clear()
    connection.cutTimer?.cancel()
    connection.cutTimer = null
  }

  private reconnect(a: number, b: number): void {
    const connection = this.connection(a, b)
    if (connection.reconnectTimer !== null) return
    connection.reconnectTimer = this.clock.setTimer(this.faults.reconnectDelayMs, () => {
      connection.reconnectTimer = null
      const ta = this.transports.get(a)
      const tb = this.transports.get(b)
      if (ta === undefined || tb === undefined || this.isCut(a, b)) return
      connection.up = true
      ta.report(b, 'up', 'connected')
      tb.report(a, 'up', 'connected')
    })
  }
}

/** A simulated process's NodeTransport: what NetworkRoute sends frames through. */
export class SimTransport implements NodeTransport {
  readonly kind = 'tcp' as const
  dead = false
  private frameHandler: (fromNode: number, frame: Frame, placement?: PayloadPlacement) => void = () => {}
  private place: PlacePayloads | undefined
  private readonly stateHandlers: ((node: number, state: PeerState, reason?: string) => void)[] = []
  readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES
  private readonly regions: RegionTable
  /** The last state reported per peer, so a report is made once per change. */
  private readonly states = new Map<number, PeerState>()
  private readonly ops = new Map<number, { node: number; reject(error: Error): void }>()
  private nextOpId = 1

  constructor(
    private readonly network: SimNetwork,
    readonly nodeId: number,
    readonly incarnation: number,
  ) {
    this.regions = new RegionTable(nodeId, 4096)
  }

  async start(): Promise<void> {}

  send(toNode: number, frame: Frame): boolean {
    this.checkPeer(toNode)
    this.network.send(this.nodeId, toNode, frame)
    return true
  }

  whenWritable(toNode: number): Promise<void> {
    try {
      this.checkPeer(toNode)
    } catch (error) {
      return Promise.reject(error)
    }
    return Promise.resolve()
  }

  onFrame(handler: (fromNode: number, frame: Frame, placement?: PayloadPlacement) => void, place?: PlacePayloads): void {
    this.frameHandler = handler
    this.place = place
  }

  maxFrameBytesTo(node: number): number {
    return Math.min(this.maxFrameBytes, this.network.transport(node)?.maxFrameBytes ?? this.maxFrameBytes)
  }

  onPeerState(handler: (node: number, state: PeerState, reason?: string) => void): void {
    this.stateHandlers.push(handler)
  }

  registerRegion(buffer: Uint8Array): RegionHandle {
    return this.regions.register(buffer)
  }

  unregisterRegion(regionId: number): void {
    this.regions.unregister(regionId)
  }

  readRemote(node: number, regionId: number, offset: number, length: number, into: Uint8Array): Promise<void> {
    return this.oneSided(node, (peer) => {
      const view = peer.regions.resolve(regionId, offset, length)
      return () => into.set(view)
    })
  }

  writeRemote(node: number, regionId: number, offset: number, data: Uint8Array): Promise<void> {
    const copy = data.slice()
    return this.oneSided(node, (peer) => {
      const view = peer.regions.resolve(regionId, offset, copy.length)
      view.set(copy)
      return () => {}
    })
  }

  async close(): Promise<void> {}

  peerIncarnation(node: number): number | undefined {
    return this.network.transport(node)?.incarnation
  }

  /**
   * From the network: a frame arrived. Its payloads go where the router places them (pool slots),
   * as the TCP transport reads them straight into place, so the same refusals happen here.
   */
  deliverFrame(from: number, frame: Frame): void {
    if (this.dead) return
    const placement = frame.payloads.length === 0 ? undefined : this.place?.(from, frame.header, frame.payloads.map((p) => p.length))
    if (placement === undefined) return this.frameHandler(from, frame)
    const payloads = placement.targets.map((target, i) => {
      if (target === null) return new Uint8Array(0)
      target.set(frame.payloads[i])
      return target
    })
    this.frameHandler(from, { header: frame.header, payloads }, placement)
  }

  /** From the network: the connection to `node` changed. */
  report(node: number, state: PeerState, reason: string): void {
    if (this.dead || this.states.get(node) === state) return
    this.states.set(node, state)
    if (state === 'down') {
      const error = new T3fsError('ERR_PEER_DOWN', `node ${node} is down (${reason})`, { node, reason })
      for (const [id, op] of this.ops) if (op.node === node) { this.ops.delete(id); op.reject(error) }
    }
    for (const handler of this.stateHandlers) handler(node, state, reason)
  }

  private checkPeer(node: number): void {
    if (this.dead) throw new T3fsError('ERR_TRANSPORT_CLOSED', `transport of node ${this.nodeId} is closed`, { node })
    if (this.states.get(node) === 'down' || !this.network.connection(this.nodeId, node).up) {
      throw new T3fsError('ERR_PEER_DOWN', `node ${node} is down (connection lost)`, { node })
    }
  }

  /**
   * A request to `node` and its answer, each crossing the link; `serve` runs at the peer (throwing
   * ERR_REMOTE_REGION for a bad region) and returns what to do here once the answer arrives.
   */
  private oneSided(node: number, serve: (peer: SimTransport) => () => void): Promise<void> {
    try {
      this.checkPeer(node)
    } catch (error) {
      return Promise.reject(error)
    }
    const id = this.nextOpId++
    const network = this.network
    return new Promise<void>((resolve, reject) => {
      this.ops.set(id, { node, reject })
      const finish = (error: Error | null, apply: () => void): void => {
        if (!this.ops.delete(id)) return
        if (error !== null) return reject(error)
        apply()
        resolve()
      }
      const connection = network.connection(this.nodeId, node)
      network.carry(this.nodeId, node, connection, (peer) => {
        let apply: () => void = () => {}
        let failure: Error | null = null
        try {
          apply = serve(peer)
        } catch (error) {
          failure = error as Error
        }
        network.carry(node, this.nodeId, connection, () => finish(failure, apply))
      })
      network['clock'].setTimer(network.faults.opTimeoutMs, () => {
        finish(new T3fsError('ERR_TIMEOUT', `one-sided op to node ${node} got no answer in ${network.faults.opTimeoutMs}ms`, { node }), () => {})
      })
    })
  }
}
