/**
 * In-memory history of recently committed write ranges, by commit version: FDB's resolver state.
 * A commit whose read version is older than the history's horizon cannot be checked and fails
 * with ERR_TXN_TOO_OLD; one whose read ranges meet a later write fails with ERR_NOT_COMMITTED.
 * Bounded by age (the MVCC window) and by entry count.
 */
import { kvError, KvErrorCode } from './errors.ts'
import { rangesIntersect, type KeyRange } from './key-ranges.ts'

interface Entry {
  readonly version: bigint
  readonly timeMs: number
  readonly ranges: readonly KeyRange[]
}

export class ConflictHistory {
  private entries: Entry[] = []
  private head = 0
  /** Every write committed after this version is still in the history. */
  horizon: bigint

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    startVersion: bigint,
  ) {
    this.horizon = startVersion
  }

  /** Throws TOO_OLD or NOT_COMMITTED; returns when the read set is still valid. */
  check(readVersion: bigint, readConflicts: readonly KeyRange[]): void {
    if (readVersion < this.horizon) throw tooOld(readVersion, this.horizon)
    if (readConflicts.length === 0) return
    for (let i = this.firstAfter(readVersion); i < this.entries.length; i++) {
      const e = this.entries[i]
      if (rangesIntersect(e.ranges, readConflicts)) {
        throw kvError(KvErrorCode.NOT_COMMITTED, `transaction conflicts with the commit at version ${e.version} (read version ${readVersion})`, { readVersion: String(readVersion), conflictVersion: String(e.version) })
      }
    }
  }

  record(version: bigint, timeMs: number, ranges: readonly KeyRange[]): void {
    this.entries.push({ version, timeMs, ranges })
  }

  /** Drops entries older than the window or beyond the count bound; advances the horizon. */
  trim(nowMs: number): void {
    while (this.head < this.entries.length) {
      const e = this.entries[this.head]
      const live = this.entries.length - this.head
      if (e.timeMs >= nowMs - this.windowMs && live <= this.maxEntries) break
      this.horizon = e.version
      this.head++
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
  }

  private firstAfter(version: bigint): number {
    let lo = this.head
    let hi = this.entries.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.entries[mid].version <= version) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

export function tooOld(readVersion: bigint, horizon: bigint) {
  return kvError(KvErrorCode.TXN_TOO_OLD, `read version ${readVersion} is older than the conflict history (horizon ${horizon})`, { readVersion: String(readVersion), horizon: String(horizon) })
}
