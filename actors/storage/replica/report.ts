/** What a replica tells its node: it failed (it must rejoin through a sync), its space, its sync's progress. */
import type { TargetReport } from '../protocol.ts'
import type { ReplicaCtx, ReplicaState } from './replica-state.ts'

function tell(rs: ReplicaState, ctx: ReplicaCtx, report: Partial<TargetReport>): void {
  try {
    ctx.tell(rs.node, { type: 'target-report', targetId: rs.targetId, report: report as TargetReport })
  } catch {
    // The node restarts: it boots every target again anyway.
  }
}

/** Stops serving at once; the node takes the target OFFLINE and boots it again (through a sync). */
export function reportFailed(rs: ReplicaState, ctx: ReplicaCtx, why: string): void {
  if (rs.failed) return
  rs.failed = true
  rs.serviceEpoch++
  ctx.log.warn({ evt: 'TargetFailed', targetId: rs.targetId, why }, 'storage target failed')
  tell(rs, ctx, { failed: why })
}

export function reportSynced(rs: ReplicaState, ctx: ReplicaCtx, chainVersion: number): void {
  tell(rs, ctx, { synced: { chainVersion } })
}

export function reportProgress(rs: ReplicaState, ctx: ReplicaCtx): void {
  const run = rs.sync
  tell(rs, ctx, { syncing: run === null ? null : { targetId: run.successorId, doneChunks: run.doneChunks, totalChunks: run.totalChunks, copiedChunks: run.copiedChunks, copiedBytes: run.copiedBytes } })
}

/** The target's space as its engine counts it (no statfs: the node asks the disk itself when asked for space-info). */
export async function reportSpace(rs: ReplicaState, ctx: ReplicaCtx): Promise<void> {
  const space = rs.engine.usage()
  const chainId = rs.view?.chain?.chainId
  const mine = space.chains.find((c) => c.chainId === chainId)
  tell(rs, ctx, { usedSizeBytes: space.usedBytes, chunkCount: mine?.chunks ?? space.chains.reduce((n, c) => n + c.chunks, 0) })
}
