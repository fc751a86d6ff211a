/**
 * Path walks a meta server made lately, valid for one KV version. Every commit to the KV bumps its
 * version (lmdb writes the version record in the same write transaction as the data; the memory
 * backend counts commits), so a snapshot that reads the version a walk was recorded at sees the
 * very store that walk read: the walk would read the same entries, pass the same directories and
 * end in the same one. A stat then reads the version (one small read in its own snapshot) instead
 * of the root inode and every directory entry on its path; any commit, by any server, thread or
 * process, changes the version and empties the cache at the next snapshot. The caller's search
 * permission is still checked on every directory, from the ACLs recorded with the walk.
 *
 * Read-only snapshots only: a transaction reads through its own view and keeps its read conflicts.
 * One per meta server life (a version number means nothing across KV instances). Bounded: full, it
 * is emptied and fills again with what is walked next.
 */
import type { DirRef } from './path-resolve.ts'

/** Walks kept per version before the cache is emptied. */
export const WALK_CACHE_ENTRIES_MAX = 4096

/** A walk of every component of a path but the last, from the root. */
export interface CachedWalk {
  /** The directory reached. */
  readonly dir: DirRef
  /** The directories whose search permission the walk checked, in order. */
  readonly searched: readonly DirRef[]
}

/** The walks valid at one version (what a path walk consults). */
export interface WalksAtVersion {
  get(prefix: string): CachedWalk | undefined
  set(prefix: string, walk: CachedWalk): void
}

export class WalkCache implements WalksAtVersion {
  private version = -1n
  private readonly walks = new Map<string, CachedWalk>()

  /** `ignoreVersion`: the mutant walk-cache-ignores-version (simulations only): walks outlive the commits after them. */
  constructor(
    private readonly entriesMax = WALK_CACHE_ENTRIES_MAX,
    private readonly ignoreVersion = false,
  ) {}

  get size(): number {
    return this.walks.size
  }

  /** The walks valid in a snapshot at `version` (the cache is emptied when the version moved). */
  at(version: bigint): WalksAtVersion {
    if (version !== this.version && !(this.ignoreVersion && this.version >= 0n)) {
      this.walks.clear()
      this.version = version
    }
    return this
  }

  get(prefix: string): CachedWalk | undefined {
    return this.walks.get(prefix)
  }

  set(prefix: string, walk: CachedWalk): void {
    if (this.walks.size >= this.entriesMax) this.walks.clear()
    for (const searched of walk.searched) Object.freeze(searched)
    this.walks.set(prefix, Object.freeze({ dir: Object.freeze(walk.dir), searched: Object.freeze(walk.searched) }))
  }
}
