/**
 * A NodeTransport that counts the router's traffic per peer node: frames and bytes each way
 * (header and out-of-band payloads), one-sided reads and writes (and how many were direct copies
 * with a peer on this machine), and whether the peer is up.
 * NodeRuntime hands it to the router and the regions actor in place of the transport itself.
 */
import type { Frame, NodeTransport, SameHostStats } from '../transport/transport.ts'
import { CounterCells, type CounterCell } from './cells.ts'
import type { MetricsRegistry } from './registry.ts'

const frameBytes = (frame: Frame): number => {
  let bytes = frame.header.length
  for (const p of frame.payloads) bytes += p.length
  return bytes
}

interface PeerCells { readonly frames: CounterCell; readonly bytes: CounterCell }

export function meteredTransport(inner: NodeTransport, metrics: MetricsRegistry): NodeTransport {
  const frames = new CounterCells(metrics, 't3fs_transport_frames_total', 'frames the router sent to and received from a peer node', ['peer', 'direction'])
  const bytes = new CounterCells(metrics, 't3fs_transport_bytes_total', 'bytes (headers and payloads) the router sent to and received from a peer node', ['peer', 'direction'])
  const oneSided = new CounterCells(metrics, 't3fs_transport_one_sided_bytes_total', 'bytes moved by one-sided reads and writes of peer regions', ['peer', 'op'])
  const oneSidedCells = { read: new Map<number, CounterCell>(), write: new Map<number, CounterCell>() }
  const countOneSided = (peer: number, op: 'read' | 'write', n: number): void => {
    let cell = oneSidedCells[op].get(peer)
    if (cell === undefined) oneSidedCells[op].set(peer, (cell = oneSided.cell({ peer, op })))
    cell.value += n
  }
  if (inner.sameHostStats !== undefined) registerSameHost(metrics, () => inner.sameHostStats!())
  const up = metrics.gauge('t3fs_transport_peer_up', { help: '1 while the connection to a peer node is up, 0 once it is down', labels: ['peer'] })
  // Per peer and direction, found once: a frame then costs two additions.
  const peers = { sent: new Map<number, PeerCells>(), received: new Map<number, PeerCells>() }
  const count = (peer: number, direction: 'sent' | 'received', n: number): void => {
    let cells = peers[direction].get(peer)
    if (cells === undefined) {
      const labels = { peer, direction }
      peers[direction].set(peer, (cells = { frames: frames.cell(labels), bytes: bytes.cell(labels) }))
    }
    cells.frames.value++
    cells.bytes.value += n
  }
  const metered: NodeTransport = {
    get kind() { return inner.kind },
    get nodeId() { return inner.nodeId },
    get maxFrameBytes() { return inner.maxFrameBytes },
    start: (options) => inner.start(options),
    send(toNode, frame) {
      const n = frameBytes(frame)
      const writable = inner.send(toNode, frame)
      count(toNode, 'sent', n)
      return writable
    },
    whenWritable: (toNode) => inner.whenWritable(toNode),
    onFrame(handler, place) {
      inner.onFrame((fromNode, frame, placement) => {
        count(fromNode, 'received', frameBytes(frame))
        handler(fromNode, frame, placement)
      }, place)
    },
    onPeerState(handler) {
      inner.onPeerState((node, state, reason) => {
        up.set({ peer: node }, state === 'up' ? 1 : 0)
        handler(node, state, reason)
      })
    },
    registerRegion: (buffer) => inner.registerRegion(buffer),
    unregisterRegion: (regionId) => inner.unregisterRegion(regionId),
    async readRemote(node, regionId, offset, length, into, direct) {
      await inner.readRemote(node, regionId, offset, length, into, direct)
      countOneSided(node, 'read', length)
    },
    async writeRemote(node, regionId, offset, data) {
      await inner.writeRemote(node, regionId, offset, data)
      countOneSided(node, 'write', data.length)
    },
    close: () => inner.close(),
  }
  if (inner.maxFrameBytesTo !== undefined) metered.maxFrameBytesTo = (node) => inner.maxFrameBytesTo!(node)
  if (inner.peerIncarnation !== undefined) metered.peerIncarnation = (node) => inner.peerIncarnation!(node)
  if (inner.sameHostStats !== undefined) metered.sameHostStats = () => inner.sameHostStats!()
  return metered
}

/** The transport's own counts of same-host copies, read when a scrape comes. */
function registerSameHost(metrics: MetricsRegistry, stats: () => SameHostStats): void {
  const family = (name: string, help: string, values: (s: SameHostStats) => Array<{ labels: Record<string, string>; value: number }>) =>
    metrics.prom.registerMetric({ name, help, type: 'counter', aggregator: 'sum', get: async () => ({ name, help, type: 'counter', aggregator: 'sum', values: values(stats()) }) } as never)
  family('t3fs_transport_same_host_copies_total', 'one-sided transfers this node made as one direct copy with a peer on its machine (read: out of a peer\'s region; write: a peer\'s write, out of the writer)', (s) => [
    { labels: { op: 'read' }, value: s.reads }, { labels: { op: 'write' }, value: s.writes },
  ])
  family('t3fs_transport_same_host_bytes_total', 'bytes those direct copies moved', (s) => [{ labels: {}, value: s.bytes }])
  family('t3fs_transport_same_host_fallbacks_total', 'one-sided transfers sent back through the socket because a direct copy failed', (s) => [{ labels: {}, value: s.fallbacks }])
}
