/** Builds a node's transport from its profile: the seam the launcher and the router use. */
import type { Profile } from '../profile/profile.ts'
import { selectTransport, type RdmaProbe, type TransportChoice } from './select-transport.ts'
import { TcpTransport, type TransportLog } from './tcp-transport.ts'
import type { NodeTransport } from './transport.ts'

export function createTransport(profile: Profile, options: { log?: TransportLog; probe?: RdmaProbe } = {}): { transport: NodeTransport; choice: TransportChoice } {
  const choice = selectTransport(profile.transport.kind, options.probe)
  // selectTransport only answers rdma when an implementation exists; none does yet.
  const { kind: _kind, ...settings } = profile.transport
  const transport = new TcpTransport({
    ...settings,
    nodeId: profile.node.id,
    clusterId: profile.node.clusterId,
    listen: profile.listen.tcp,
    peers: profile.peers,
    ...(options.log ? { log: options.log } : {}),
  })
  return { transport, choice }
}
