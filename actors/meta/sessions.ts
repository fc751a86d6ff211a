/**
 * File write sessions (reference/3fs.md §2.3 INOS, §2.6): one record per write-open file handle,
 * keyed by inode and session id, naming the client. A file removed while a session is open stays
 * (nlink 0, in GC) until its last session closes; sessions of clients mgmtd no longer lists are
 * pruned by the session scan, which unblocks GC.
 */
import type { Kv, ReadView } from '../kv/index.ts'
import { keyAfter } from '../kv/bytes.ts'
import type { InodeId } from './inode.ts'
import { allSessions, parseSessionKey, sessionRange } from './keys.ts'
import type { SessionInfo } from './protocol.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

export interface SessionRecord {
  readonly clientId: string
  readonly createdMs: number
}

export const encodeSession = (record: SessionRecord): Buffer => encodeValue(record)

export function sessionInfo(key: Uint8Array, value: Uint8Array): SessionInfo {
  const { inode, sessionId } = parseSessionKey(key)
  const record = decodeValue<SessionRecord>(value, 'file session')
  return { inode, sessionId, clientId: record.clientId, createdMs: record.createdMs }
}

export async function hasSessions(reads: ReadView, inode: InodeId): Promise<boolean> {
  const range = sessionRange(inode)
  return (await reads.getRange(range.begin, range.end, { limit: 1 })).length > 0
}

export async function sessionsOf(reads: ReadView, inode: InodeId, limit: number): Promise<SessionInfo[]> {
  const range = sessionRange(inode)
  return (await reads.getRange(range.begin, range.end, { limit })).map((kv) => sessionInfo(kv.key, kv.value))
}

/** One page of every session, after `afterKey` (a snapshot read: a scan must not conflict). */
export async function scanSessions(kv: Kv, afterKey: Buffer | null, limit: number, timeoutMs: number): Promise<{ sessions: SessionInfo[]; lastKey: Buffer | null }> {
  return kv.transact(
    async (tx) => {
      const rows = await tx.snapshot.getRange(afterKey === null ? allSessions.begin : keyAfter(afterKey), allSessions.end, { limit })
      return { sessions: rows.map((r) => sessionInfo(r.key, r.value)), lastKey: rows.length === limit ? rows[rows.length - 1].key : null }
    },
    { timeoutMs },
  )
}
