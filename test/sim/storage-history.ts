/**
 * The storage simulation's history and its checker. Chunks are split into 4 KiB blocks; every
 * write fills whole blocks with a pattern that names the write and the block, so any read says,
 * block by block, which write it returns (or zeros: never written). Each block is a register:
 *
 * - a read must return a write to that block invoked before the read returned (else: corruption or
 *   a phantom), with an intact pattern (else: corrupt bytes);
 * - a read must not return a value that an acknowledged write had definitely replaced before the
 *   read began: a value v is stale when some write W was acknowledged before the read started and
 *   v's own write was acknowledged before W was invoked (or v is the initial zeros). Writes whose
 *   outcome the client never learned (timeouts, crashes) may take effect at any later time, as
 *   linearizability allows for operations that never completed.
 *
 * Times are the simulation's global clock.
 */
import type { ChunkId } from '../../actors/storage/chunk-id.ts'

export const blockBytes = 4096

interface WriteRecord {
  invokeMs: number
  /** Acknowledged at; null while in flight or when the outcome was never learned. */
  ackMs: number | null
}

export class StorageHistory {
  private readonly writes = new Map<string, Map<number, WriteRecord>>()
  private nextWriteId = 1
  readonly counts = { writes: 0, acked: 0, indeterminate: 0, reads: 0, readBlocks: 0, checkedFinalBlocks: 0 }

  constructor(private readonly now: () => number) {}

  static blockKey(chainId: number, chunkId: ChunkId, block: number): string {
    return `${chainId}/${chunkId}#${block}`
  }

  /** Starts a write of blocks [first, first + count): its id and bytes. */
  beginWrite(chainId: number, chunkId: ChunkId, first: number, count: number): { writeId: number; data: Uint8Array } {
    const writeId = this.nextWriteId++
    this.counts.writes++
    const data = new Uint8Array(count * blockBytes)
    for (let i = 0; i < count; i++) {
      fillBlock(data.subarray(i * blockBytes, (i + 1) * blockBytes), writeId, first + i, chunkTag(chunkId))
      const key = StorageHistory.blockKey(chainId, chunkId, first + i)
      let map = this.writes.get(key)
      if (map === undefined) this.writes.set(key, (map = new Map()))
      map.set(writeId, { invokeMs: this.now(), ackMs: null })
    }
    return { writeId, data }
  }

  endWrite(chainId: number, chunkId: ChunkId, first: number, count: number, writeId: number, acked: boolean): void {
    if (acked) this.counts.acked++
    else this.counts.indeterminate++
    if (!acked) return
    for (let i = 0; i < count; i++) this.writes.get(StorageHistory.blockKey(chainId, chunkId, first + i))!.get(writeId)!.ackMs = this.now()
  }

  /** Checks the bytes a read of blocks [first, ...) returned; throws what is wrong. `invokeMs`: when the read began. */
  checkRead(chainId: number, chunkId: ChunkId, first: number, bytes: Uint8Array, blocks: number, invokeMs: number, where: string): void {
    this.counts.reads++
    for (let i = 0; i < blocks; i++) {
      const block = first + i
      const slice = bytes.subarray(i * blockBytes, Math.min(bytes.length, (i + 1) * blockBytes))
      const value = decodeBlock(slice, block, chunkTag(chunkId))
      const key = StorageHistory.blockKey(chainId, chunkId, block)
      if (value === 'corrupt') throw new Error(`${where}: block ${key} holds bytes no write produced (corrupt or torn)`)
      this.checkValue(key, value, invokeMs, where)
      this.counts.readBlocks++
    }
  }

  private checkValue(key: string, value: number, invokeMs: number, where: string): void {
    const writes = this.writes.get(key) ?? new Map<number, WriteRecord>()
    const own = value === 0 ? { invokeMs: 0, ackMs: 0 } : writes.get(value)
    if (own === undefined) throw new Error(`${where}: block ${key} returned write ${value}, which never wrote it`)
    if (own.invokeMs > this.now()) throw new Error(`${where}: block ${key} returned write ${value} before it was issued`)
    if (own.ackMs === null) return // in flight or never learned: it may take effect at any time
    for (const [id, w] of writes) {
      if (id === value || w.ackMs === null) continue
      if (w.ackMs < invokeMs && own.ackMs < w.invokeMs) {
        throw new Error(`${where}: block ${key} returned ${value === 0 ? 'the initial zeros' : `write ${value} (acked at ${own.ackMs.toFixed(1)})`}, but write ${id} (issued at ${w.invokeMs.toFixed(1)}) was acknowledged at ${w.ackMs.toFixed(1)}, before this read began at ${invokeMs.toFixed(1)}: an acknowledged write was lost or a read went back in time`)
      }
    }
  }

  /** Every block any write touched, for the final check. */
  blocksWritten(): { chainId: number; chunkId: ChunkId; block: number }[] {
    return [...this.writes.keys()].map((key) => {
      const [chain, rest] = key.split('/')
      const [chunkId, block] = rest.split('#')
      return { chainId: Number(chain), chunkId: chunkId as ChunkId, block: Number(block) }
    })
  }
}

function chunkTag(chunkId: ChunkId): number {
  let h = 2166136261
  for (let i = 0; i < chunkId.length; i++) h = Math.imul(h ^ chunkId.charCodeAt(i), 16777619)
  return h >>> 0
}

function fillBlock(out: Uint8Array, writeId: number, block: number, tag: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  view.setUint32(0, writeId, true)
  view.setUint32(4, block, true)
  view.setUint32(8, tag, true)
  for (let i = 12; i < out.length; i++) out[i] = (writeId * 31 + i * 7 + block) & 0xff
}

/** The write a block's bytes name, 0 for zeros, or 'corrupt'. A short block (past the chunk's end) must be zeros. */
export function decodeBlock(bytes: Uint8Array, block: number, tag: number): number | 'corrupt' {
  if (bytes.every((b) => b === 0)) return 0
  if (bytes.length < blockBytes) return 'corrupt'
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const writeId = view.getUint32(0, true)
  if (writeId === 0 || view.getUint32(4, true) !== block || view.getUint32(8, true) !== tag) return 'corrupt'
  for (let i = 12; i < bytes.length; i++) if (bytes[i] !== ((writeId * 31 + i * 7 + block) & 0xff)) return 'corrupt'
  return writeId
}
