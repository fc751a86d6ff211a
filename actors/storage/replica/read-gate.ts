/**
 * A target's reads, served to its node's storage service without a message: the node spawns each
 * replica on its own host (the same thread) and hands it a gate, the replica opens the gate with
 * its read function once it is up and closes it when it stops. A batch read for several targets
 * then costs the node one call per target instead of an ask (a mailbox trip, a deferred reply and
 * a piped completion each way) — at 4 KiB per read that hop was a good part of each read's cost.
 *
 * The gate carries no state of its own: the read function applies every rule the replica's own
 * `batch-read` applies (replica/read-path.ts: UPTODATE SERVING within the lease, chain version,
 * committed versions only, CRC32C checked, the replica's bound on operations in flight). A replica
 * that crashed leaves its function behind until its next life opens the gate again; that
 * function's context is fenced, so it fails (never answers) and the client tries another replica.
 * A node whose replica never opened its gate (another replica definition) asks it as before.
 */
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { ReadIO, ReadResult } from '../protocol.ts'

/** One read's answer as the node receives it from a gate: bytes stay in the replica's pool slot until the node copies them. */
export interface LocalRead {
  readonly result: ReadResult
  /** The slot holding the bytes (the node copies them and releases it), or null (no bytes, pushed to a region, or an error). */
  readonly buffer: PooledBuffer | null
  readonly dataOffset: number
}

export type ServeReads = (ios: readonly ReadIO[]) => Promise<LocalRead[]>

export class ReadGate {
  #serve: ServeReads | null = null
  #opened = 0

  /** The replica's life opens the gate with its read function; returns a token for close(). */
  open(serve: ServeReads): number {
    this.#serve = serve
    return ++this.#opened
  }

  /** Closes the gate if `token` is still the one that opened it (a newer life's opening stays). */
  close(token: number): void {
    if (token === this.#opened) this.#serve = null
  }

  /** The reads through the gate, or null when it is closed (then the node asks the replica). */
  read(ios: readonly ReadIO[]): Promise<LocalRead[]> | null {
    return this.#serve === null ? null : this.#serve(ios)
  }
}
