/**
 * A simulated process's NodeTransport (see sim-network.ts for what the links do): frames and
 * one-sided operations cross the SimNetwork; peer states are reported as the TCP transport
 * reports them; received payloads are placed where the router asks, as TCP reads them into place.
 */
import { T3fsError } from '../errors.ts'
import { RegionTable } from '../transport/one-sided.ts'
import { DEFAULT_MAX_FRAME_BYTES, type Frame, type NodeTransport, type PayloadPlacement, type PeerState, type PlacePayloads, type RegionHandle } from '../transport/transport.ts'
import type { SimNetwork } from './sim-network.ts'

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
      network.after(network.faults.opTimeoutMs, () => {
        finish(new T3fsError('ERR_TIMEOUT', `one-sided op to node ${node} got no answer in ${network.faults.opTimeoutMs}ms`, { node }), () => {})
      })
    })
  }
}
