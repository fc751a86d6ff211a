/**
 * A test hook (in-process only, like mgmtd's MgmtdProbe): told of every answer a meta server gives
 * to a request it executed, with the read version at which the answer was decided. The
 * simulation's reference model orders the answers that changed nothing (reads, refusals) by it;
 * the ones that changed something it orders by their idempotency records' versionstamps.
 */
import type { HeartbeatOutcome } from './mgmtd-heartbeat.ts'

export interface MetaAnswerEvent {
  readonly serverId: number
  readonly type: string
  readonly clientId: string
  readonly requestId: string
  readonly ok: boolean
  readonly value?: unknown
  readonly errno?: string
  /** The answer came from an idempotency record (a retry of an applied request). */
  readonly replayed: boolean
  readonly readVersion: bigint | null
  /** For an answer from an owner's batch that wrote: the batch's versionstamp and this request's place in it. */
  readonly versionstamp: Buffer | null
  readonly sub: number
}

export interface MetaProbe {
  onAnswer(event: MetaAnswerEvent): void
  /** Told of every round of the META heartbeat (mgmtd-heartbeat.ts): watched, accepted or refused. */
  onHeartbeat?(outcome: HeartbeatOutcome): void
}
