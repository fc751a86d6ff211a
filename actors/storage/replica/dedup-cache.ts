/**
 * Exactly-once updates (3FS ReliableUpdate, reference/3fs.md §3.3 step 2): per (client, chain,
 * channel) the last seqnum seen and, once finished, its result. A client sends one update per
 * channel at a time and retries it with the same tag, so:
 * - seqnum below the channel's → an old duplicate: refused (ERR_STORAGE_DUPLICATE_UPDATE);
 * - the same seqnum, finished → the cached result again (the retry is not applied twice);
 * - the same seqnum, still running → ERR_STORAGE_CHANNEL_LOCKED (the caller retries later);
 * - a higher seqnum → a new update on that channel.
 * A failed update leaves nothing behind, so its retry runs again. Bounded: the least recently
 * used channel is forgotten first.
 */
import { T3fsError } from '../../../runtime/errors.ts'
import { StorageErrorCode, type MessageTag } from '../protocol.ts'

interface Entry<R> {
  seqnum: number
  requestId: number
  running: boolean
  result: R | null
}

export type DedupDecision<R> = { kind: 'run' } | { kind: 'cached'; result: R }

export class DedupCache<R> {
  private readonly entries = new Map<string, Entry<R>>()

  constructor(private readonly entriesMax: number) {}

  static keyOf(tag: MessageTag, chainId: number): string {
    return `${tag.clientId}/${chainId}/${tag.channel.id}`
  }

  /** Decides what to do with an update; on 'run' the channel is marked running until finish or abandon. */
  begin(tag: MessageTag, chainId: number): DedupDecision<R> {
    const key = DedupCache.keyOf(tag, chainId)
    const entry = this.entries.get(key)
    const seqnum = tag.channel.seqnum
    if (entry !== undefined) {
      if (seqnum < entry.seqnum) {
        throw new T3fsError(StorageErrorCode.DUPLICATE_UPDATE, `update ${tag.requestId} of client ${tag.clientId} on channel ${tag.channel.id} has seqnum ${seqnum}, below the channel's ${entry.seqnum}: an old duplicate`, { seqnum, channelSeqnum: entry.seqnum })
      }
      if (seqnum === entry.seqnum) {
        if (entry.running) throw new T3fsError(StorageErrorCode.CHANNEL_LOCKED, `channel ${tag.channel.id} of client ${tag.clientId} has update ${entry.requestId} in flight; retry later`, { channel: tag.channel.id })
        if (entry.result !== null) {
          this.touch(key, entry)
          return { kind: 'cached', result: entry.result }
        }
      }
    }
    this.touch(key, { seqnum, requestId: tag.requestId, running: true, result: null })
    return { kind: 'run' }
  }

  finish(tag: MessageTag, chainId: number, result: R): void {
    const key = DedupCache.keyOf(tag, chainId)
    const entry = this.entries.get(key)
    if (entry === undefined || entry.seqnum !== tag.channel.seqnum) return
    entry.running = false
    entry.result = result
  }

  /** The update failed: forget it, so a retry runs again. */
  abandon(tag: MessageTag, chainId: number): void {
    const key = DedupCache.keyOf(tag, chainId)
    const entry = this.entries.get(key)
    if (entry !== undefined && entry.seqnum === tag.channel.seqnum) this.entries.delete(key)
  }

  clear(): void {
    this.entries.clear()
  }

  get size(): number {
    return this.entries.size
  }

  private touch(key: string, entry: Entry<R>): void {
    this.entries.delete(key)
    this.entries.set(key, entry)
    if (this.entries.size <= this.entriesMax) return
    // Forget the least recently used finished channel; a running one is never forgotten (its finish would be lost).
    for (const [oldest, victim] of this.entries) {
      if (victim.running) continue
      this.entries.delete(oldest)
      return
    }
  }
}
