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
 *
 * Bytes never change owner: the replica copies each read's bytes from its own pool slot into the
 * node's reply buffer (`into`) and releases the slot itself, so no slot of a crashed replica can
 * be reclaimed while the node still reads it. The node keeps the batch counted as its own work in
 * flight (pipeToSelf) until every copy is done, so its buffer outlives the copies into it.
 */
import type { ReadIO, ReadResult } from '../protocol.ts'

/** Where a batch's bytes go: read i's bytes (at most its `length`) at `at[i]` in `bytes`. */
export interface ReadInto {
  readonly bytes: Uint8Array
  readonly at: readonly number[]
}

/** Reads `ios`; a result whose bytes were copied to `into` has `at` set. */
export type ServeReads = (ios: readonly ReadIO[], into: ReadInto) => Promise<ReadResult[]>

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
  read(ios: readonly ReadIO[], into: ReadInto): Promise<ReadResult[]> | null {
    return this.#serve === null ? null : this.#serve(ios, into)
  }
}
