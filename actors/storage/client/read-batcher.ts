/**
 * Reads to one storage node travel as one batch-read (3FS batches reads per storage node,
 * reference/3fs.md §3.4): one message and one answer carry them all, so the fixed cost of a round
 * trip — frames, system calls, the node's io_uring submission — is paid once per batch, not once
 * per read. Each read still settles on its own (its result, or the error of the whole batch).
 *
 * At most `batchesInFlightMax` batches are in flight per destination: reads issued meanwhile wait
 * and leave together when one comes back (Nagle's rule for reads). Large reads (bulk) may have a
 * few batches in flight, each of at most `batchBytesMax`: there the transfer, not the round trip,
 * is the cost, and a node should read its disk while it sends. A batch leaves a few microtask
 * hops after its first read, so the callers resumed by the answer before it (whose next reads come
 * a few awaits later) still join it.
 */
import type { ActorRef } from '../../../runtime/actor.ts'
import type { BatchReadReply, ReadIO, ReadResult, ReplicaMsg, StorageNodeMsg } from '../protocol.ts'
import { batchReplyRecordBytes } from '../batch-reply.ts'

/** Reads one batch carries at most (the node and the replica accept up to 4096). */
export const readBatchMax = 256
/** Batches in flight per destination before further reads wait for one to come back. */
export const batchesInFlightMax = 1
/**
 * Batches in flight per destination when the reads waiting are large (over `bulkReadBytesMin` on
 * average): their transfer dwarfs a round trip, so waiting for the batch ahead only idles the
 * node's disk while its network sends, and the other way round (bench:usrbio, 1 MiB reads: the
 * in-process FileClient rate ~3x higher at 4 than at 1). Four readers of 16 reads each keep 64 in
 * flight over three nodes: at 4 per node they reached the disk only in part (bench:fuse, five
 * runs each: USRBIO 0.76–0.96 GiB/s at 4, 0.92–1.12 at 16). Small reads keep the one-in-flight rule.
 */
export const bulkBatchesInFlightMax = 16
/** Mean bytes per waiting read from which batches count as bulk (the replica pushes such reads). */
export const bulkReadBytesMin = 64 * 1024
/**
 * Bytes one batch asks for at most (it carries at least one read): a batch is answered when its
 * last read is done, so large reads go in several smaller batches that complete one after
 * another instead of one that holds every read until the slowest (256 reads of 4 KiB stay one).
 */
export const batchBytesMax = 4 * 1024 * 1024
/** Microtask hops a batch waits for more reads before it leaves. */
const gatherHops = 8

/** Where a batch goes: a node's storage service (reads for any of its targets) or one replica. */
export type ReadDestination =
  | { kind: 'node'; key: number; node: ActorRef<StorageNodeMsg> }
  | { kind: 'replica'; key: number; replica: ActorRef<ReplicaMsg> }

/**
 * What a batch brings back: a node's packed reply (batch-reply.ts; its records are read straight
 * into each read's answer, without an object per read), or a replica's results, each with its own
 * bytes.
 */
export type BatchAnswer =
  | { kind: 'packed'; reply: BatchReadReply }
  | { kind: 'results'; results: readonly ReadResult[] }

/** Sends one batch. */
export type SendBatch = (destination: ReadDestination, targetIds: number[], ios: ReadIO[]) => Promise<BatchAnswer>

/** Where a read's bytes go when they come back in the answer: copied there, or (null) handed back in `data`. */
export interface ReadInto {
  bytes: Uint8Array
  offset: number
}

/**
 * One queued read and its way back: the batcher calls exactly one of `ok`, `failed` or `error`,
 * once. A caller that keeps one object per read (the storage client) answers it without a
 * Promise or a result object of the batcher's own in between.
 */
export interface ReadWaiter {
  readonly targetId: number
  readonly io: ReadIO
  /** Where its bytes are copied (then `ok` gets no `data`), or null: `ok` gets a copy of its own. */
  readonly into: ReadInto | null
  ok(lengthBytes: number, commitVersion: number, chunkChecksum: number, data: Uint8Array | undefined): void
  /** The read failed at its replica (the others of its batch may not have). */
  failed(code: string, message: string): void
  /** The whole batch failed (no answer, a refused reply). */
  error(error: unknown): void
}

interface Queue {
  destination: ReadDestination
  waiting: ReadWaiter[]
  /** Bytes the waiting reads ask for. */
  waitingBytes: number
  inFlight: number
  gathering: boolean
}

export class ReadBatcher {
  /** By destination: nodes under their id, replicas (no node service known) under -1 - targetId. */
  private readonly queues = new Map<number, Queue>()
  /** Batches sent and reads they carried (for benchmarks). */
  readonly counters = { batches: 0, reads: 0 }

  constructor(private readonly send: SendBatch) {}

  /**
   * Queues one read. Its bytes, when they come back in the answer, are copied to `into` (the
   * result then has no `data`), or handed back as the result's own `data` when `into` is null.
   */
  read(destination: ReadDestination, targetId: number, io: ReadIO, into: ReadInto | null = null): Promise<ReadResult> {
    return new Promise((resolve, reject) => this.enqueue(destination, new PromisedRead(targetId, io, into, resolve, reject)))
  }

  /** Queues one read; `waiter` hears how it went. */
  enqueue(destination: ReadDestination, waiter: ReadWaiter): void {
    let queue = this.queues.get(destination.key)
    if (queue === undefined) this.queues.set(destination.key, (queue = { destination, waiting: [], waitingBytes: 0, inFlight: 0, gathering: false }))
    else queue.destination = destination
    queue.waiting.push(waiter)
    queue.waitingBytes += waiter.io.length
    this.gather(queue)
  }

  /**
   * Sends the queue's reads after a few microtask hops, if a batch may leave then. Each hop is an
   * unnamed callback: under tsx a named closure costs an Object.defineProperty each time it is
   * made, and this runs once per batch.
   */
  private gather(queue: Queue): void {
    if (queue.gathering || !mayLeave(queue)) return
    queue.gathering = true
    queueMicrotask(() => this.hop(queue, 1))
  }

  private hop(queue: Queue, hops: number): void {
    if (hops < gatherHops) return queueMicrotask(() => this.hop(queue, hops + 1))
    queue.gathering = false
    this.flush(queue)
  }

  private flush(queue: Queue): void {
    while (mayLeave(queue)) {
      let count = 0
      for (let bytes = 0; count < queue.waiting.length && count < readBatchMax && (count === 0 || bytes + queue.waiting[count].io.length <= batchBytesMax); count++) bytes += queue.waiting[count].io.length
      const batch = queue.waiting.splice(0, count)
      for (const w of batch) queue.waitingBytes -= w.io.length
      queue.inFlight++
      this.counters.batches++
      this.counters.reads += batch.length
      const targetIds = new Array<number>(batch.length)
      const ios = new Array<ReadIO>(batch.length)
      for (let i = 0; i < batch.length; i++) {
        targetIds[i] = batch[i].targetId
        ios[i] = batch[i].io
      }
      this.send(queue.destination, targetIds, ios).then(
        (answer) => {
          try {
            if (answer.kind === 'packed') settlePacked(batch, answer.reply)
            else settleResults(batch, answer.results)
          } finally {
            this.landed(queue)
          }
        },
        (error: unknown) => {
          for (const w of batch) w.error(error)
          this.landed(queue)
        },
      )
    }
  }

  /** A batch of `queue` came back and its reads are answered: the next may leave (after a few hops, so the callers it resumed join it). */
  private landed(queue: Queue): void {
    queue.inFlight--
    if (queue.inFlight === 0 && queue.waiting.length === 0) this.queues.delete(queue.destination.key)
    else this.gather(queue)
  }
}

/** Whether a batch may leave now: none in flight, or a few when the waiting reads are large. */
function mayLeave(queue: Queue): boolean {
  if (queue.waiting.length === 0) return false
  if (queue.inFlight < batchesInFlightMax) return true
  return queue.inFlight < bulkBatchesInFlightMax && queue.waitingBytes > queue.waiting.length * bulkReadBytesMin
}

/** A read queued through `read()`: its answer as a ReadResult. */
class PromisedRead implements ReadWaiter {
  constructor(readonly targetId: number, readonly io: ReadIO, readonly into: ReadInto | null,
    private readonly resolve: (result: ReadResult) => void, readonly error: (error: unknown) => void) {}

  ok(lengthBytes: number, commitVersion: number, chunkChecksum: number, data: Uint8Array | undefined): void {
    this.resolve(data === undefined ? { ok: true, lengthBytes, commitVersion, chunkChecksum } : { ok: true, lengthBytes, commitVersion, chunkChecksum, data })
  }

  failed(code: string, message: string): void {
    this.resolve({ ok: false, code, message })
  }
}

const noBytes = 0xffffffff

/**
 * Answers each read of a batch from a node's packed reply (checked against the batch by its
 * sender): its bytes copied where it asked for them, or handed back as a copy of its own; the
 * reply's slot goes back to the pool.
 */
function settlePacked(batch: readonly ReadWaiter[], reply: BatchReadReply): void {
  const records = new DataView(reply.records.buffer, reply.records.byteOffset, reply.records.byteLength)
  const data = reply.data === null ? null : reply.data instanceof Uint8Array ? reply.data : reply.data.bytes
  const failedAt = reply.errors.length === 0 ? null : new Map(reply.errors.map((e) => [e.index, e]))
  try {
    for (let i = 0; i < batch.length; i++) {
      const w = batch[i]
      const failure = failedAt?.get(i)
      if (failure !== undefined) {
        w.failed(failure.code, failure.message)
        continue
      }
      const o = i * batchReplyRecordBytes
      const lengthBytes = records.getUint32(o, true)
      const at = records.getUint32(o + 12, true)
      const bytes = at === noBytes || data === null ? null : data.subarray(at, at + lengthBytes)
      if (bytes !== null && w.into !== null) w.into.bytes.set(bytes, w.into.offset)
      w.ok(lengthBytes, records.getUint32(o + 4, true), records.getUint32(o + 8, true), bytes === null || w.into !== null ? undefined : bytes.slice())
    }
  } finally {
    if (reply.data !== null && !(reply.data instanceof Uint8Array)) reply.data.release()
  }
}

/** Answers each read of a batch from a replica's results (each with its bytes of its own). */
function settleResults(batch: readonly ReadWaiter[], results: readonly ReadResult[]): void {
  for (let i = 0; i < batch.length; i++) {
    const w = batch[i]
    const result = results[i]
    if (!result.ok) {
      w.failed(result.code, result.message)
      continue
    }
    const own = result.data === undefined ? undefined : result.data instanceof Uint8Array ? result.data : result.data.bytes
    const bytes = own?.subarray(0, result.lengthBytes)
    if (bytes !== undefined && w.into !== null) w.into.bytes.set(bytes, w.into.offset)
    w.ok(result.lengthBytes, result.commitVersion, result.chunkChecksum, bytes === undefined || w.into !== null ? undefined : own === undefined ? bytes.slice() : bytes)
  }
}
