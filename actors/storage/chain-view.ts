/**
 * A target's place in its chain, from mgmtd's routing info (3FS TargetMap::updateRouting,
 * reference/3fs.md §3.2): the head is the first target when it is SERVING or SYNCING; the
 * successor is the next target when it is SERVING or SYNCING (a SYNCING one receives writes as
 * full-chunk replaces); a target with no successor is the tail.
 */
import type { PublicState, RoutingInfo } from '../mgmtd/protocol.ts'
import type { ChainView } from './protocol.ts'

const FORWARDABLE: ReadonlySet<PublicState> = new Set(['SERVING', 'SYNCING'])

/** The view of `targetId`, or null when no chain holds it. */
export function chainViewOf(routing: RoutingInfo, targetId: number): ChainView | null {
  const chain = routing.chains.find((c) => c.targets.some((t) => t.targetId === targetId))
  if (chain === undefined) return null
  const addressOf = (id: number) => routing.targets.find((t) => t.targetId === id)?.address ?? null
  const index = chain.targets.findIndex((t) => t.targetId === targetId)
  const self = chain.targets[index]
  const next = chain.targets[index + 1]
  return {
    chainId: chain.chainId,
    chainVersion: chain.chainVersion,
    publicState: self.publicState,
    isHead: index === 0 && FORWARDABLE.has(self.publicState),
    successor: next !== undefined && FORWARDABLE.has(next.publicState) ? { targetId: next.targetId, address: addressOf(next.targetId), publicState: next.publicState } : null,
    targets: chain.targets.map((t) => ({ targetId: t.targetId, publicState: t.publicState, address: addressOf(t.targetId) })),
  }
}
