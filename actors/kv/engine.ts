/**
 * What a local backend (memory, lmdb) provides under the shared transaction code: consistent
 * snapshots at a read version, and an atomic commit that checks read conflicts against writes
 * committed after that version (FDB's resolver) and applies the mutations at a new version.
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
}

export interface LocalEngine {
  readonly backend: BackendName
  readonly limits: KvLimits
  openSnapshot(): EngineSnapshot
  /**
   * Atomically: fail with ERR_TXN_TOO_OLD if the conflict history no longer reaches back to
   * readVersion, with ERR_NOT_COMMITTED if a write committed after readVersion intersects
   * readConflicts; else apply the mutations at a new version and return it.
   */
  commit(request: CommitRequest): bigint
  close(): Promise<void>
}
