/**
 * The `memory` backend: a multi-version store in one process, with FDB's optimistic conflict
 * detection (ConflictHistory). Deterministic given its clock, so the simulator can drive it.
 * Versions count commits: each commit gets the next integer (members of one group-commit batch
 * get consecutive ones, in arrival order).
 */
import { byteKey, fromByteKey } from './bytes.ts'
import { ConflictHistory, tooOld } from './conflict-history.ts'
import type { CommitRequest, EngineSnapshot, LocalEngine } from './engine.ts'
import { kvError, KvErrorCode } from './errors.ts'
import { DEFAULT_LIMITS, type KvLimits } from './limits.ts'
import { applyMutations, makeVersionstamp, stampedWriteRanges, type MutableStore } from './mutation.ts'
import { sleep, type Clock } from '../../runtime/clock.ts'
import type { Random } from '../../runtime/random.ts'
import { lowerBound } from './write-buffer.ts'
import { DEFAULT_GROUP_COMMIT, GroupCommitter, type CommitOutcome, type GroupCommitBounds } from './group-commit.ts'

export const DEFAULT_MEMORY_HISTORY_ENTRIES = 100_000
/** Keys whose old versions each commit also prunes, walking the key space round-robin. */
const SWEEP_KEYS_PER_COMMIT = 8

interface Version {
  readonly version: bigint
  /** undefined = cleared at this version */
  readonly value: Buffer | undefined
}

/** Fault sites the simulator can turn on (FDB's BUGGIFY); all off by default. */
export interface MemoryFaults {
  /**
   * Probability that a commit fails with ERR_COMMIT_UNKNOWN_RESULT; half of those commits were in
   * fact applied, as with FDB, so transactions must be idempotent to survive it.
   */
  commitUnknownResult?: number
}

export interface MemoryEngineOptions {
  limits?: KvLimits
  clock: Clock
  /** Decides the fault sites; required only when `faults` is set. */
  random?: Random
  faults?: MemoryFaults
  /** Commits kept for conflict checking beyond which older read versions are too old. */
  historyEntries?: number
  /** Batch bounds of the group commit (default DEFAULT_GROUP_COMMIT). */
  groupCommit?: GroupCommitBounds
  /**
   * Simulated duration of a batch's durable write, on the clock (default 0): commits arriving
   * meanwhile form the next batch, so the simulator exercises group commit as LMDB's fsync does.
   */
  commitDelayMs?: number
}

export class MemoryEngine implements LocalEngine {
  readonly backend = 'memory' as const
  readonly limits: KvLimits
  private readonly clock: Clock
  private readonly random: Random | undefined
  private readonly faults: MemoryFaults
  private readonly history: ConflictHistory
  private readonly committer: GroupCommitter
  private readonly commitDelayMs: number
  private readonly versions = new Map<string, Version[]>()
  /** Every key with a stored version, sorted (latin1 strings sort like the bytes). */
  private keys: string[] = []
  private version = 0n
  private sweepAt = 0
  private closed = false

  constructor(options: MemoryEngineOptions) {
    this.limits = options.limits ?? DEFAULT_LIMITS
    this.clock = options.clock
    this.random = options.random
    this.faults = options.faults ?? {}
    this.history = new ConflictHistory(this.limits.maxTxnAgeMs, options.historyEntries ?? DEFAULT_MEMORY_HISTORY_ENTRIES, 0n)
    this.commitDelayMs = options.commitDelayMs ?? 0
    this.committer = new GroupCommitter((batch) => this.writeBatch(batch), options.groupCommit ?? DEFAULT_GROUP_COMMIT)
  }

  get currentVersion(): bigint {
    return this.version
  }

  openSnapshot(): EngineSnapshot {
    this.checkOpen()
    const readVersion = this.version
    const guard = () => {
      this.checkOpen()
      if (readVersion < this.history.horizon) throw tooOld(readVersion, this.history.horizon)
    }
    return {
      readVersion,
      get: (key) => {
        guard()
        const value = this.valueAt(byteKey(key), readVersion)
        return value === undefined ? undefined : Buffer.from(value)
      },
      scan: (begin, end, reverse, visit) => {
        guard()
        this.scanAt(readVersion, byteKey(begin), byteKey(end), reverse, visit)
      },
      release: () => {},
    }
  }

  commit(request: CommitRequest): Promise<bigint> {
    this.checkOpen()
    return this.committer.submit(request)
  }

  get batches(): number {
    return this.committer.batches
  }

  /**
   * One group commit. The simulated durable write (commitDelayMs on the clock) comes first and the
   * batch is validated and applied after it, as LMDB's writer lock makes it: a reader during the
   * write still sees the state before the batch, and commits arriving meanwhile form the next one.
   */
  private async writeBatch(requests: readonly CommitRequest[]): Promise<CommitOutcome[]> {
    if (this.commitDelayMs > 0) await sleep(this.clock, this.commitDelayMs)
    const nowMs = this.clock.now()
    this.history.trim(nowMs)
    return requests.map((request) => this.commitOne(request, nowMs))
  }

  /** Validates one member against everything committed before it (earlier members included) and applies it. */
  private commitOne(request: CommitRequest, nowMs: number): CommitOutcome {
    try {
      this.history.check(request.readVersion, request.readConflicts)
    } catch (error) {
      return { error }
    }
    const fault = this.rollFault()
    if (fault === 'lost') return { error: unknownResult() }
    const version = this.version + 1n
    const stamp = makeVersionstamp(version)
    const touched = new Set<string>()
    applyMutations(this.storeAt(version, touched), request.mutations, stamp)
    this.history.record(version, nowMs, [...request.writeConflicts, ...stampedWriteRanges(request.mutations, stamp)].sort((a, b) => Buffer.compare(a.begin, b.begin)))
    this.version = version
    for (const k of touched) this.prune(k)
    this.sweep()
    if (fault === 'applied') return { error: unknownResult() }
    return { version }
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.committer.close()
    this.closed = true
  }

  private checkOpen(): void {
    if (this.closed) throw kvError(KvErrorCode.KV_CLOSED, 'the memory KV is closed')
  }

  private rollFault(): 'none' | 'lost' | 'applied' {
    const p = this.faults.commitUnknownResult ?? 0
    if (p <= 0 || this.random === undefined || this.random.next() >= p) return 'none'
    return this.random.next() < 0.5 ? 'lost' : 'applied'
  }

  private valueAt(k: string, readVersion: bigint): Buffer | undefined {
    const list = this.versions.get(k)
    if (list === undefined) return undefined
    for (let i = list.length - 1; i >= 0; i--) if (list[i].version <= readVersion) return list[i].value
    return undefined
  }

  private scanAt(readVersion: bigint, b: string, e: string, reverse: boolean, visit: (key: Buffer, value: Buffer) => boolean): void {
    const keys = this.keys
    if (!reverse) {
      for (let i = lowerBound(keys, b); i < keys.length && keys[i] < e; i++) {
        const v = this.valueAt(keys[i], readVersion)
        if (v !== undefined && !visit(fromByteKey(keys[i]), Buffer.from(v))) return
      }
    } else {
      for (let i = lowerBound(keys, e) - 1; i >= 0 && keys[i] >= b; i--) {
        const v = this.valueAt(keys[i], readVersion)
        if (v !== undefined && !visit(fromByteKey(keys[i]), Buffer.from(v))) return
      }
    }
  }

  private storeAt(version: bigint, touched: Set<string>): MutableStore {
    const write = (k: string, value: Buffer | undefined) => {
      let list = this.versions.get(k)
      if (list === undefined) {
        if (value === undefined) return
        list = []
        this.versions.set(k, list)
        this.keys.splice(lowerBound(this.keys, k), 0, k)
      }
      const last = list[list.length - 1]
      if (last !== undefined && last.version === version) list[list.length - 1] = { version, value }
      else list.push({ version, value })
      touched.add(k)
    }
    return {
      get: (key) => this.valueAt(byteKey(key), version),
      put: (key, value) => write(byteKey(key), value),
      del: (key) => write(byteKey(key), undefined),
      delRange: (begin, end) => {
        const b = byteKey(begin)
        const e = byteKey(end)
        const inRange: string[] = []
        for (let i = lowerBound(this.keys, b); i < this.keys.length && this.keys[i] < e; i++) inRange.push(this.keys[i])
        for (const k of inRange) if (this.valueAt(k, version) !== undefined) write(k, undefined)
      },
    }
  }

  /** Prunes a few untouched keys per commit, so cleared keys do not stay forever as tombstones. */
  private sweep(): void {
    for (let n = 0; n < SWEEP_KEYS_PER_COMMIT && this.keys.length > 0; n++) {
      if (this.sweepAt >= this.keys.length) this.sweepAt = 0
      const k = this.keys[this.sweepAt]
      const before = this.keys.length
      this.prune(k)
      if (this.keys.length === before) this.sweepAt++
    }
  }

  /** Drops versions no readable snapshot can see; forgets keys that are only an old tombstone. */
  private prune(k: string): void {
    const list = this.versions.get(k)
    if (list === undefined) return
    const horizon = this.history.horizon
    let keepFrom = 0
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].version <= horizon) {
        keepFrom = i
        break
      }
    }
    if (keepFrom > 0) list.splice(0, keepFrom)
    if (list.length === 1 && list[0].value === undefined && list[0].version <= horizon) {
      this.versions.delete(k)
      const i = lowerBound(this.keys, k)
      if (this.keys[i] === k) this.keys.splice(i, 1)
    }
  }
}

function unknownResult() {
  return kvError(KvErrorCode.COMMIT_UNKNOWN_RESULT, 'commit outcome unknown (injected fault): it may or may not have been applied')
}
