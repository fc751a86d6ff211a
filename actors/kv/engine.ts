/**
 * What a local backend (memory, lmdb) provides under the shared transaction code: consistent
 * snapshots at a read version, and a group commit (group-commit.ts) that checks each transaction's
 * read conflicts against writes committed after its read version (FDB's resolver), including those
 * of earlier members of its batch, and applies the mutations at a new version.
 */
import type { BackendName } from './kv.ts'
import type { KeyRange } from './key-ranges.ts'
import type { KvLimits } from './limits.ts'
import type { Mutation } from './mutation.ts'

export interface EngineSnapshot {
  readonly readVersion: bigint
  /** The stored value, as a Buffer the caller may keep and modify. */
  get(key: Buffer): Buffer | undefined
  /** Visits pairs in [begin, end) in order (or reverse) until `visit` returns false. */
  scan(begin: Buffer, end: Buffer, reverse: boolean, visit: (key: Buffer, value: Buffer) => boolean): void
  /** Ends the snapshot (releases an LMDB reader slot). Idempotent. */
  release(): void
}

export interface CommitRequest {
  readonly readVersion: bigint
  /** Normalised (sorted, merged). */
  readonly readConflicts: readonly KeyRange[]
  /** Normalised; ranges of versionstamped keys are added by the engine once the stamp is known. */
  readonly writeConflicts: readonly KeyRange[]
  readonly mutations: readonly Mutation[]
  /** Size as charged against maxTxnBytes (mutations + conflict ranges): bounds a batch. */
  readonly sizeBytes: number
}

export interface LocalEngine {
  readonly backend: BackendName
  readonly limits: KvLimits
  openSnapshot(): EngineSnapshot
  /**
   * Joins the next group commit. Atomically with the rest of its batch: fails with ERR_TXN_TOO_OLD
   * if the conflict history no longer reaches back to readVersion, with ERR_NOT_COMMITTED if a
   * write committed after readVersion (by an earlier batch or an earlier member of this one)
   * intersects readConflicts; else applies the mutations at a new version and resolves to it once
   * the batch is durable.
   */
  commit(request: CommitRequest): Promise<bigint>
  /** Batches written so far by this engine. */
  readonly batches: number
  /** Waits for queued commits, then closes. */
  close(): Promise<void>
}
