/**
 * One truncate at a time per file, across the meta servers. A truncate changes storage before its
 * transaction (chunks past the end removed, the last one cut), and those changes are range
 * operations evaluated when storage runs them: two runners of truncates of one file — a batch
 * re-run after the ownership moved, a client's retry on another server — could interleave so that
 * one runner's removal lands after the other answered and the client wrote past the cut (the
 * meta+storage simulation found it: seed 334). So a runner first takes the file's lease in the KV
 * (TRNC + inode: holder, expiry), does its storage work, and commits its answers only while it
 * still holds the lease, clearing it in the same transaction.
 *
 * The lease outlives anything its holder can still make storage do: storage work stops issuing
 * calls at `storageTimeoutMs` after it began, and a call in flight retries for at most
 * `storageTimeoutMs` more (plus one request), so `LEASE_FACTOR`·storageTimeoutMs is enough. A
 * runner whose storage work did not settle in time leaves the lease to expire rather than clear it.
 * GC postpones a file under a live lease (a truncate may be re-creating its last chunk).
 */
import type { ReadView, Transaction } from '../kv/index.ts'
import type { InodeId } from './inode.ts'
import { truncateLeaseKey } from './keys.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

export const LEASE_FACTOR = 3

export interface TruncateLease {
  /** Who runs the truncate: server id, and a nonce of the batch. */
  readonly holder: string
  readonly untilMs: number
}

export async function readLease(reads: ReadView, inode: InodeId): Promise<TruncateLease | null> {
  const bytes = await reads.get(truncateLeaseKey(inode))
  return bytes === undefined ? null : decodeValue<TruncateLease>(bytes, 'truncate lease')
}

export function isLive(lease: TruncateLease | null, nowMs: number): lease is TruncateLease {
  return lease !== null && lease.untilMs > nowMs
}

export function writeLease(tx: Transaction, inode: InodeId, lease: TruncateLease): void {
  tx.set(truncateLeaseKey(inode), encodeValue(lease))
}

export function clearLease(tx: Transaction, inode: InodeId): void {
  tx.clear(truncateLeaseKey(inode))
}
