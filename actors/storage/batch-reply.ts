/**
 * A node's batch-read answer, packed (protocol.ts BatchReadReply): one 16-byte record per read
 * instead of one object per read. Each object cost its encoding key by key on the node and its
 * decoding on the client, for every 4 KiB read; the records cross as one byte array.
 *
 *   record i (little-endian u32s): lengthBytes, commitVersion, chunkChecksum, at
 *   at = 0xffffffff: the read brought no bytes back in `data` (none, or pushed to a region)
 *   a failed read: a zero record, and its code and message in `errors`
 */
import { StorageErrorCode, type BatchReadReply, type ReadResult } from './protocol.ts'
import { T3fsError } from '../../runtime/errors.ts'
import type { PooledBuffer } from '../../runtime/buffer-pool.ts'

export const batchReplyRecordBytes = 16
const noBytes = 0xffffffff

export class BatchReplyWriter {
  private readonly records: Uint8Array
  private readonly view: DataView
  private readonly errors: BatchReadReply['errors'] = []

  constructor(count: number) {
    this.records = new Uint8Array(count * batchReplyRecordBytes)
    this.view = new DataView(this.records.buffer)
  }

  /** Read `index` succeeded; its bytes (if any came back) start at `at` in the reply's data. */
  ok(index: number, lengthBytes: number, commitVersion: number, chunkChecksum: number, at: number | null): void {
    const o = index * batchReplyRecordBytes
    this.view.setUint32(o, lengthBytes, true)
    this.view.setUint32(o + 4, commitVersion, true)
    this.view.setUint32(o + 8, chunkChecksum >>> 0, true)
    this.view.setUint32(o + 12, at ?? noBytes, true)
  }

  fail(index: number, code: string, message: string): void {
    this.errors.push({ index, code, message })
  }

  finish(data: PooledBuffer | Uint8Array | null): BatchReadReply {
    return { records: this.records, errors: this.errors, data }
  }
}

/** Checks a reply's shape against the `count` reads asked (a reply that does not fit is refused whole). */
export function checkBatchReply(reply: BatchReadReply, count: number): void {
  if (reply.records.length !== count * batchReplyRecordBytes || reply.errors.some((e) => !(e.index >= 0 && e.index < count))) {
    throw new T3fsError(StorageErrorCode.BAD_REQUEST, `a batch-read reply for ${count} reads has ${reply.records.length / batchReplyRecordBytes} records and errors at ${reply.errors.map((e) => e.index).join(', ')}`, {})
  }
}

/** Every read's result, in order (`at` set where the bytes are in the reply's data). */
export function batchReplyResults(reply: BatchReadReply): ReadResult[] {
  const count = reply.records.length / batchReplyRecordBytes
  const view = new DataView(reply.records.buffer, reply.records.byteOffset, reply.records.byteLength)
  const results = new Array<ReadResult>(count)
  for (let i = 0; i < count; i++) {
    const o = i * batchReplyRecordBytes
    const at = view.getUint32(o + 12, true)
    results[i] = at === noBytes
      ? { ok: true, lengthBytes: view.getUint32(o, true), commitVersion: view.getUint32(o + 4, true), chunkChecksum: view.getUint32(o + 8, true) }
      : { ok: true, lengthBytes: view.getUint32(o, true), commitVersion: view.getUint32(o + 4, true), chunkChecksum: view.getUint32(o + 8, true), at }
  }
  for (const e of reply.errors) results[e.index] = { ok: false, code: e.code, message: e.message }
  return results
}
