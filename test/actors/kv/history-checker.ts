/**
 * A serializability checker for KV histories: given the acknowledged transactions (what each one
 * read, what it wrote, its commit version or, for a read-only one, its read version), it replays
 * them in commit-version order on a model and checks that every transaction read exactly what that
 * serial order gives it and that the store ends equal to the model. Commit versions are the
 * serial order a correct KV promises (FDB's strict serializability), so a lost update, a write
 * skew or a member of a group commit validated against stale state shows up as a wrong read.
 */

export interface HistoryEntry {
  /** Who, for messages. */
  readonly label: string
  /** Commit version; -1n for a read-only transaction. */
  readonly version: bigint
  /** Read version (what a read-only transaction's reads are checked at). */
  readonly readVersion: bigint
  /** Reads in order: key (latin1) → value (latin1) or undefined for a missing key. */
  readonly reads: ReadonlyArray<readonly [string, string | undefined]>
  /** Writes: key → value, or undefined for a clear. */
  readonly writes: ReadonlyArray<readonly [string, string | undefined]>
}

export interface HistoryVerdict {
  /** Problems found, each naming the transaction; empty when the history is serializable. */
  readonly problems: string[]
  readonly checkedReads: number
}

/**
 * `initial` is the state at `initialVersion` (every entry must be after it); `final` the store's
 * state after all entries.
 */
export function checkHistory(
  initial: ReadonlyMap<string, string>,
  initialVersion: bigint,
  entries: readonly HistoryEntry[],
  final: ReadonlyMap<string, string>,
): HistoryVerdict {
  const problems: string[] = []
  const writers = entries.filter((e) => e.version >= 0n)
  const seen = new Set<bigint>()
  for (const e of writers) {
    if (e.version <= initialVersion) problems.push(`${e.label} committed at ${e.version}, not after the initial state (${initialVersion})`)
    if (seen.has(e.version)) problems.push(`${e.label} shares commit version ${e.version} with another transaction`)
    seen.add(e.version)
  }
  // A writer is placed at its commit version; a reader just after every commit at its read version.
  const order = [...entries].sort((a, b) => {
    const at = (e: HistoryEntry): [bigint, number] => (e.version >= 0n ? [e.version, 0] : [e.readVersion, 1])
    const [va, ka] = at(a)
    const [vb, kb] = at(b)
    return va < vb ? -1 : va > vb ? 1 : ka - kb
  })
  const model = new Map(initial)
  let checkedReads = 0
  for (const e of order) {
    for (const [key, value] of e.reads) {
      checkedReads++
      if (model.get(key) !== value) {
        problems.push(`${e.label} (version ${e.version}, read version ${e.readVersion}) read ${key}=${String(value)} but the serial order gives ${String(model.get(key))}`)
      }
    }
    for (const [key, value] of e.writes) {
      if (value === undefined) model.delete(key)
      else model.set(key, value)
    }
  }
  const keys = new Set([...model.keys(), ...final.keys()])
  for (const key of [...keys].sort()) {
    if (model.get(key) !== final.get(key)) problems.push(`final state: ${key}=${String(final.get(key))} but the serial replay gives ${String(model.get(key))}`)
  }
  return { problems, checkedReads }
}
