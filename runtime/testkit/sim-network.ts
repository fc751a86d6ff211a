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
import type { Frame } from '../transport/transport.ts'
import { SimTransport } from './sim-transport.ts'
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

  /** Runs `callback` after `delayMs` of simulated time (a transport's operation deadlines). */
  after(delayMs: number, callback: () => void): void {
    this.clock.setTimer(delayMs, callback)
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
