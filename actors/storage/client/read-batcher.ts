/**
 * Reads to one storage node travel as one batch-read (3FS batches reads per storage node,
 * reference/3fs.md §3.4): one message and one answer carry them all, so the fixed cost of a round
 * trip — frames, system calls, the node's io_uring submission — is paid once per batch, not once
 * per read. Each read still settles on its own (its result, or the error of the whole batch).
 *
 * At most `batchesInFlightMax` batches are in flight per destination: reads issued meanwhile wait
 * and leave together when one comes back (Nagle's rule for reads). A batch leaves a few microtask
 * hops after its first read, so the callers resumed by the answer before it (whose next reads come
 * a few awaits later) still join it.
 */
import type { ActorRef } from '../../../runtime/actor.ts'
import type { ReadIO, ReadResult, ReplicaMsg, StorageNodeMsg } from '../protocol.ts'

/** Reads one batch carries at most (the node and the replica accept up to 4096). */
export const readBatchMax = 256
/** Batches in flight per destination before further reads wait for one to come back. */
export const batchesInFlightMax = 1
/** Microtask hops a batch waits for more reads before it leaves. */
const gatherHops = 8

/** Where a batch goes: a node's storage service (reads for any of its targets) or one replica. */
export type ReadDestination =
  | { kind: 'node'; key: number; node: ActorRef<StorageNodeMsg> }
  | { kind: 'replica'; key: number; replica: ActorRef<ReplicaMsg> }

export type SendBatch = (destination: ReadDestination, targetIds: number[], ios: ReadIO[]) => Promise<ReadResult[]>

interface Waiting {
  targetId: number
  io: ReadIO
  resolve(result: ReadResult): void
  reject(error: unknown): void
}

interface Queue {
  destination: ReadDestination
  waiting: Waiting[]
  inFlight: number
  gathering: boolean
}

export class ReadBatcher {
  /** By destination: nodes under their id, replicas (no node service known) under -1 - targetId. */
  private readonly queues = new Map<number, Queue>()
  /** Batches sent and reads they carried (for benchmarks). */
  readonly counters = { batches: 0, reads: 0 }

  constructor(private readonly send: SendBatch) {}

  read(destination: ReadDestination, targetId: number, io: ReadIO): Promise<ReadResult> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(destination.key)
      if (queue === undefined) this.queues.set(destination.key, (queue = { destination, waiting: [], inFlight: 0, gathering: false }))
      else queue.destination = destination
      queue.waiting.push({ targetId, io, resolve, reject })
      this.gather(queue)
    })
  }

  /** Sends the queue's reads after a few microtask hops, if a batch may leave then. */
  private gather(queue: Queue): void {
    if (queue.gathering || queue.inFlight >= batchesInFlightMax || queue.waiting.length === 0) return
    queue.gathering = true
    let hops = 0
    const hop = (): void => {
      if (++hops < gatherHops) return queueMicrotask(hop)
      queue.gathering = false
      this.flush(queue)
    }
    queueMicrotask(hop)
  }

  private flush(queue: Queue): void {
    while (queue.waiting.length > 0 && queue.inFlight < batchesInFlightMax) {
      const batch = queue.waiting.splice(0, readBatchMax)
      queue.inFlight++
      this.counters.batches++
      this.counters.reads += batch.length
      this.send(queue.destination, batch.map((w) => w.targetId), batch.map((w) => w.io)).then(
        (results) => batch.forEach((w, i) => w.resolve(results[i])),
        (error: unknown) => batch.forEach((w) => w.reject(error)),
      ).finally(() => {
        queue.inFlight--
        if (queue.inFlight === 0 && queue.waiting.length === 0) this.queues.delete(queue.destination.key)
        else this.gather(queue)
      })
    }
  }
}
