/**
 * Snapshots of the chunk index: the durable state after every log segment ≤ `coversSeq`, as framed
 * records between a begin and an end record. Written atomically (a temp file, fsync, rename, sync
 * of the directory), so a snapshot file either is whole or does not exist; only then are the
 * segments it covers deleted. This keeps the log short and the replay at open bounded.
 */
import type { Disk } from '../../../runtime/disk/disk.ts'
import { chunkEngineError, ChunkEngineErrorCode } from './errors.ts'
import { decodeRecord, encodedSize, encodeRecord, type IndexRecord } from './record-codec.ts'

export function snapshotName(seq: number): string {
  return `snapshot-${seq.toString(16).padStart(12, '0')}`
}

/** Bytes per write while a snapshot is written. */
const writeBytes = 1024 * 1024

export async function writeSnapshot(disk: Disk, dir: string, coversSeq: number, records: readonly IndexRecord[]): Promise<void> {
  const name = snapshotName(coversSeq)
  const tmp = `${dir}/${name}.tmp`
  const file = await disk.open(tmp, { create: true, truncate: true })
  try {
    const all: IndexRecord[] = [{ type: 'snapshot-begin', coversSeq }, ...records, { type: 'snapshot-end', records: records.length }]
    let position = 0
    let buffer = new Uint8Array(writeBytes)
    let used = 0
    for (const record of all) {
      const size = encodedSize(record)
      if (used + size > buffer.length) {
        await file.write(buffer, position, used)
        position += used
        used = 0
        if (size > buffer.length) buffer = new Uint8Array(size)
      }
      used = encodeRecord(record, buffer, used)
    }
    await file.write(buffer, position, used)
    await file.sync()
  } finally {
    await file.close()
  }
  await disk.rename(tmp, `${dir}/${name}`)
  await disk.syncDir(dir)
}

/** The chunk records of a snapshot; ERR_CHUNK_INDEX_CORRUPT unless it is whole. */
export async function readSnapshot(disk: Disk, path: string): Promise<{ readonly coversSeq: number; readonly records: IndexRecord[] }> {
  const bytes = await readWhole(disk, path)
  const records: IndexRecord[] = []
  let coversSeq = -1
  for (let at = 0; ;) {
    const result = decodeRecord(bytes, at)
    if (result.kind !== 'record') throw damaged(path, result.kind === 'end' ? 'it ends without its end record' : `${result.reason} at byte ${at}`)
    const record = result.record
    at = result.next
    if (coversSeq < 0) {
      if (record.type !== 'snapshot-begin') throw damaged(path, 'it does not start with a begin record')
      coversSeq = record.coversSeq
      continue
    }
    if (record.type === 'snapshot-end') {
      if (record.records !== records.length || at !== bytes.length) throw damaged(path, `its end record counts ${record.records} records, ${records.length} were read`)
      return { coversSeq, records }
    }
    if (record.type !== 'commit' && record.type !== 'pending') throw damaged(path, `it holds a ${record.type} record`)
    records.push(record)
  }
}

export async function readWhole(disk: Disk, path: string): Promise<Uint8Array> {
  const file = await disk.open(path)
  try {
    const { sizeBytes } = await file.stat()
    const bytes = new Uint8Array(sizeBytes)
    let at = 0
    while (at < sizeBytes) {
      const got = await file.read(bytes, at, sizeBytes - at, at)
      if (got === 0) break
      at += got
    }
    return at === sizeBytes ? bytes : bytes.subarray(0, at)
  } finally {
    await file.close()
  }
}

function damaged(path: string, why: string): Error {
  return chunkEngineError(ChunkEngineErrorCode.indexCorrupt, `snapshot ${path} is damaged: ${why}`, { path })
}
