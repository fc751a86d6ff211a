/**
 * Rebuilding the chunk index at open: the newest snapshot, then every log segment after it, in
 * order. The last segment may end in a torn or half-written batch (never acknowledged: a batch is
 * acknowledged only after its sync): replay stops at its first bad record and the segment is cut
 * there, durably, before anything new is written, so no later open mistakes that tail for damage.
 * A bad record anywhere else is ERR_CHUNK_INDEX_CORRUPT. A last segment read whole is synced (an
 * actor that crashed without a power loss may have left records in the page cache only). Files the
 * snapshot covers and leftover temp files are deleted.
 *
 * (A decayed record in the last segment looks like a torn tail; what follows it is then lost.
 * The data's own CRCs still keep wrong bytes from ever being served.)
 */
import type { Disk } from '../../../runtime/disk/disk.ts'
import { isT3fsError } from '../../../runtime/errors.ts'
import type { Logger } from '../../../runtime/logger.ts'
import type { ChunkId } from '../chunk-id.ts'
import { chunkEngineError, ChunkEngineErrorCode } from './errors.ts'
import { decodeRecord, type IndexRecord } from './record-codec.ts'
import { readSnapshot, readWhole } from './snapshot.ts'
import type { StoredVersion } from './stored-version.ts'

export interface RecoveredChunk {
  readonly chainId: number
  readonly chunkId: ChunkId
  committed: StoredVersion | null
  pending: StoredVersion | null
}

export interface Recovered {
  readonly chunks: Map<string, RecoveredChunk>
  /** The seq the next log segment gets. */
  readonly nextSeq: number
  /** Records replayed from log segments, and where a torn tail was cut (null when none). */
  readonly replayedRecords: number
  readonly cutTail: { readonly segment: string; readonly atBytes: number; readonly reason: string } | null
}

const fileName = /^(log|snapshot)-([0-9a-f]{12})(\.tmp)?$/
/** Reads of a file that failed its checks, again, before it counts as damaged. */
export const rereadsMax = 2

export function chunkKey(chainId: number, chunkId: ChunkId): string {
  return `${chainId}/${chunkId}`
}

export async function recoverIndex(disk: Disk, dir: string, log: Logger | undefined): Promise<Recovered> {
  const logs: Array<{ seq: number; name: string }> = []
  const snapshots: Array<{ seq: number; name: string }> = []
  for (const entry of await disk.list(dir)) {
    const match = fileName.exec(entry.name)
    if (match === null || entry.kind !== 'file') continue
    if (match[3] !== undefined) await disk.unlink(`${dir}/${entry.name}`)
    else (match[1] === 'log' ? logs : snapshots).push({ seq: parseInt(match[2], 16), name: entry.name })
  }
  const chunks = new Map<string, RecoveredChunk>()
  let covers = -1
  const newest = snapshots.at(-1)
  if (newest !== undefined) {
    const snapshot = await again(() => readSnapshot(disk, `${dir}/${newest.name}`))
    if (snapshot.coversSeq !== newest.seq) throw chunkEngineError(ChunkEngineErrorCode.indexCorrupt, `snapshot ${newest.name} says it covers segment ${snapshot.coversSeq}`, { dir })
    for (const record of snapshot.records) apply(chunks, record)
    covers = newest.seq
  }
  const replay = logs.filter((l) => l.seq > covers)
  let replayedRecords = 0
  let cutTail: Recovered['cutTail'] = null
  for (const [i, segment] of replay.entries()) {
    const replayed = await replaySegment(disk, `${dir}/${segment.name}`, i === replay.length - 1, chunks, log)
    replayedRecords += replayed.records
    if (replayed.cut !== null) cutTail = { segment: segment.name, ...replayed.cut }
  }
  for (const old of [...logs.filter((l) => l.seq <= covers), ...snapshots.slice(0, -1)]) await disk.unlink(`${dir}/${old.name}`)
  const seqs = [...logs, ...snapshots].map((f) => f.seq)
  return { chunks, nextSeq: seqs.length === 0 ? 1 : Math.max(...seqs) + 1, replayedRecords, cutTail }
}

/**
 * Replays one segment. A bad record is read again (`rereadsMax` times: a bit flipped or an EIO on
 * the way is not damage) before it counts: then the last segment is cut there, an earlier one is
 * ERR_CHUNK_INDEX_CORRUPT.
 */
async function replaySegment(disk: Disk, path: string, last: boolean, chunks: Map<string, RecoveredChunk>, log: Logger | undefined): Promise<{ records: number; cut: { atBytes: number; reason: string } | null }> {
  let bytes = await readWhole(disk, path)
  let records = 0
  let rereads = 0
  for (let at = 0; ;) {
    const decoded = decodeRecord(bytes, at)
    // The zero-filled reserve after the last record (index-log.ts) ends the segment like its end.
    const result = decoded.kind === 'bad' && allZero(bytes, at) ? { kind: 'end' as const } : decoded
    if (result.kind === 'end') {
      // Records a previous life wrote but had not synced yet (an actor crash, not a power loss,
      // leaves them in the page cache) are served from now on: they must not vanish later.
      if (last && bytes.length > 0) await syncSegment(disk, path)
      return { records, cut: null }
    }
    if (result.kind === 'bad') {
      if (rereads++ < rereadsMax) {
        bytes = await readWhole(disk, path)
        continue
      }
      if (!last) throw chunkEngineError(ChunkEngineErrorCode.indexCorrupt, `log segment ${path} is damaged (${result.reason} at byte ${at}) and later segments follow it`, { path, atBytes: at })
      await cutSegment(disk, path, at)
      log?.info({ evt: 'chunk-engine.torn-tail-cut', path, atBytes: at, reason: result.reason })
      return { records, cut: { atBytes: at, reason: result.reason } }
    }
    if (!apply(chunks, result.record)) throw chunkEngineError(ChunkEngineErrorCode.indexCorrupt, `log segment ${path} holds a ${result.record.type} record at byte ${at}`, { path })
    records++
    rereads = 0
    at = result.next
  }
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}

/** Applies one record to the state being rebuilt; false for a record that has no place in a log. */
function apply(chunks: Map<string, RecoveredChunk>, record: IndexRecord): boolean {
  if (record.type === 'snapshot-begin' || record.type === 'snapshot-end') return false
  const key = chunkKey(record.chainId, record.chunkId)
  let chunk = chunks.get(key)
  if (chunk === undefined) {
    if (record.type === 'remove' || record.type === 'drop') return true
    chunk = { chainId: record.chainId, chunkId: record.chunkId, committed: null, pending: null }
    chunks.set(key, chunk)
  }
  switch (record.type) {
    case 'commit': chunk.committed = record.version; chunk.pending = null; break
    case 'pending': chunk.pending = record.version; break
    case 'remove': chunk.committed = null; chunk.pending = null; break
    case 'drop': chunk.pending = null; break
  }
  if (chunk.committed === null && chunk.pending === null) chunks.delete(key)
  return true
}

/** `read`, again up to rereadsMax times while it finds damage (a flipped bit on the way is not damage). */
export async function again<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read()
    } catch (error) {
      if (attempt >= rereadsMax || !isT3fsError(error, ChunkEngineErrorCode.indexCorrupt)) throw error
    }
  }
}

async function syncSegment(disk: Disk, path: string): Promise<void> {
  const file = await disk.open(path, { write: true })
  try {
    await file.sync()
  } finally {
    await file.close()
  }
}

async function cutSegment(disk: Disk, path: string, atBytes: number): Promise<void> {
  const file = await disk.open(path, { write: true })
  try {
    await file.truncate(atBytes)
    await file.sync()
  } finally {
    await file.close()
  }
}
