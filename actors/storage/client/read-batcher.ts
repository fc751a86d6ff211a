/**
 * Reads to one target issued in the same turn travel as one batch-read (3FS batches reads per
 * storage node, reference/3fs.md §3.4): one message and one answer carry them all, so the fixed
 * cost of a round trip is paid once per batch, not once per read. Each read still settles on its
 * own (its result, or the error of the whole batch).
 */
import type { ActorRef } from '../../../runtime/actor.ts'
import type { ReadIO, ReadResult, ReplicaMsg } from '../protocol.ts'

/** Reads one batch carries at most (the replica accepts up to 4096). */
export const readBatchMax = 256

interface Waiting {
  io: ReadIO
  resolve(result: ReadResult): void
  reject(error: unknown): void
}

export class ReadBatcher {
  private readonly queues = new Map<number, { replica: ActorRef<ReplicaMsg>; waiting: Waiting[] }>()
  private flushQueued = false
  /** Batches sent and reads they carried (for benchmarks). */
  readonly counters = { batches: 0, reads: 0 }

  constructor(private readonly send: (replica: ActorRef<ReplicaMsg>, ios: ReadIO[]) => Promise<ReadResult[]>) {}

  read(targetId: number, replica: ActorRef<ReplicaMsg>, io: ReadIO): Promise<ReadResult> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(targetId)
      if (queue === undefined) this.queues.set(targetId, (queue = { replica, waiting: [] }))
      queue.waiting.push({ io, resolve, reject })
      if (!this.flushQueued) {
        this.flushQueued = true
        queueMicrotask(() => this.flush())
      }
    })
  }

  private flush(): void {
    this.flushQueued = false
    const queues = [...this.queues.values()]
    this.queues.clear()
    for (const { replica, waiting } of queues) {
      for (let at = 0; at < waiting.length; at += readBatchMax) this.sendBatch(replica, waiting.slice(at, at + readBatchMax))
    }
  }

  private sendBatch(replica: ActorRef<ReplicaMsg>, batch: Waiting[]): void {
    this.counters.batches++
    this.counters.reads += batch.length
    this.send(replica, batch.map((w) => w.io)).then(
      (results) => batch.forEach((w, i) => w.resolve(results[i])),
      (error: unknown) => batch.forEach((w) => w.reject(error)),
    )
  }
}
