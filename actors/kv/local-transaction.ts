/**
 * One attempt of a transaction over a LocalEngine: buffers writes (read-your-writes), records
 * read and write conflict ranges, enforces the size/age/key/value limits, and commits through the
 * engine. The retry loop (retry.ts) creates a fresh attempt per try.
 */
import { kvError, KvErrorCode } from './errors.ts'
import { byteKey, keyAfter } from './bytes.ts'
import type { EngineSnapshot, LocalEngine } from './engine.ts'
import { normaliseRanges, type KeyRange } from './key-ranges.ts'
import type { KeyValue, RangeOptions, ReadView } from './kv.ts'
import { addLittleEndian, int64le, makeVersionstamp, type Mutation } from './mutation.ts'
import type { Clock } from '../../runtime/clock.ts'
import { AttemptBase } from './attempt-base.ts'
import { WriteBuffer, type PointState } from './write-buffer.ts'

export class LocalTransaction extends AttemptBase {
  private snap: EngineSnapshot | null = null
  private startedAtMs = 0
  private readonly writes = new WriteBuffer()
  private readonly mutations: Mutation[] = []
  private readonly readConflicts: KeyRange[] = []
  private readonly writeConflicts: KeyRange[] = []
  readonly snapshot: ReadView

  constructor(
    private readonly engine: LocalEngine,
    private readonly clock: Clock,
  ) {
    super(engine.limits)
    this.snapshot = {
      get: async (key) => {
        this.beginRead()
        return this.getImpl(this.checkKey(key, 'read'), true)
      },
      getRange: (begin, end, options) => this.read(() => this.rangeImpl(begin, end, options, true)),
    }
  }

  /** No closure per call (unlike `read`): a meta create makes several point reads. */
  async get(key: Uint8Array): Promise<Buffer | undefined> {
    this.beginRead()
    return this.getImpl(this.checkKey(key, 'read'), false)
  }

  getRange(begin: Uint8Array, end: Uint8Array, options?: RangeOptions): Promise<KeyValue[]> {
    return this.read(() => this.rangeImpl(begin, end, options, false))
  }

  async getReadVersion(): Promise<bigint> {
    this.checkOpen()
    return this.ensureSnapshot().readVersion
  }

  protected override recordReadConflict(range: KeyRange): void {
    // A conflict range is relative to a read version: fix it now, not at commit.
    this.ensureSnapshot()
    this.readConflicts.push(range)
  }

  protected override recordWriteConflict(range: KeyRange): void {
    this.writeConflicts.push(range)
  }

  protected override recordMutation(m: Mutation, conflict: KeyRange | null): void {
    this.mutations.push(m)
    if (conflict !== null) this.writeConflicts.push(conflict)
    switch (m.type) {
      case 'set':
        this.writes.set(m.key, m.value)
        break
      case 'clear':
        this.writes.clear(m.key)
        break
      case 'clearRange':
        this.writes.clearRange(m.begin, m.end)
        break
      case 'add':
        this.writes.add(m.key, m.param)
        break
      case 'setVersionstampedValue':
        this.writes.markUnreadable(m.key)
        break
      case 'setVersionstampedKey':
        break
    }
  }

  protected override addParam(delta: Uint8Array | bigint): Buffer {
    return typeof delta === 'bigint' ? int64le(delta) : Buffer.from(delta)
  }

  /** Commits through the engine's group commit; resolves the versionstamp. Called once by the retry loop. */
  async commit(): Promise<void> {
    this.checkOpen()
    this.state = 'committing'
    try {
      if (this.mutations.length === 0 && this.writeConflicts.length === 0) {
        this.committedVersion = -1n
        this.rejectStamp(() => kvError(KvErrorCode.NO_VERSIONSTAMP, 'a read-only transaction has no versionstamp'))
      } else {
        const snap = this.ensureSnapshot()
        this.checkAge()
        const request = {
          readVersion: snap.readVersion,
          readConflicts: normaliseRanges(this.readConflicts),
          writeConflicts: normaliseRanges(this.writeConflicts),
          mutations: this.mutations,
          sizeBytes: this.chargedBytes,
        }
        // The commit needs no snapshot: free the reader slot while waiting for the batch.
        this.releaseSnapshot()
        this.committedVersion = await this.engine.commit(request)
        this.resolveStamp(makeVersionstamp(this.committedVersion))
      }
      this.state = 'committed'
    } catch (error) {
      this.state = 'done'
      this.rejectStamp(error)
      throw error
    } finally {
      this.releaseSnapshot()
    }
  }

  override cancel(reason?: unknown): void {
    super.cancel(reason)
    this.releaseSnapshot()
  }

  private releaseSnapshot(): void {
    this.snap?.release()
  }

  private async read<T>(op: () => T): Promise<T> {
    this.beginRead()
    return op()
  }

  /** Every read: the attempt is open, has its snapshot, and is not too old. */
  private beginRead(): void {
    this.checkOpen()
    this.ensureSnapshot()
    this.checkAge()
  }

  private ensureSnapshot(): EngineSnapshot {
    if (this.snap === null) {
      this.snap = this.engine.openSnapshot()
      this.startedAtMs = this.clock.now()
    }
    return this.snap
  }

  private checkAge(): void {
    const ageMs = this.clock.now() - this.startedAtMs
    if (ageMs > this.limits.maxTxnAgeMs) {
      throw kvError(KvErrorCode.TXN_TOO_OLD, `transaction is ${ageMs} ms old; the limit is ${this.limits.maxTxnAgeMs} ms`, { ageMs, maxTxnAgeMs: this.limits.maxTxnAgeMs })
    }
  }

  private getImpl(key: Buffer, snapshot: boolean): Buffer | undefined {
    const state = this.writes.lookup(key)
    switch (state.kind) {
      case 'value':
        return Buffer.from(state.value)
      case 'cleared':
        return undefined
      case 'unreadable':
        throw unreadable(key)
      case 'atomic':
      case 'none': {
        const stored = (this.snap as EngineSnapshot).get(key)
        if (!snapshot) this.noteReadConflict({ begin: key, end: keyAfter(key) })
        return state.kind === 'none' ? stored : applyAdds(stored, state.params)
      }
    }
  }

  private rangeImpl(beginIn: Uint8Array, endIn: Uint8Array, options: RangeOptions | undefined, snapshot: boolean): KeyValue[] {
    const [begin, end] = this.checkRange(beginIn, endIn, 'read')
    const { limit, reverse } = checkRangeOptions(options)
    if (Buffer.compare(begin, end) >= 0) return []
    const snap = this.snap as EngineSnapshot
    const out: KeyValue[] = []
    const points = this.writes.pointsIn(begin, end, reverse)
    const before = (a: string, b: string) => (reverse ? a > b : a < b)
    let pi = 0
    const emit = (state: PointState, key: Buffer, stored: Buffer | undefined) => {
      if (state.kind === 'value') out.push({ key, value: Buffer.from(state.value) })
      else if (state.kind === 'atomic') out.push({ key, value: applyAdds(stored, state.params) })
      else if (state.kind === 'unreadable') throw unreadable(key)
    }
    const plain = points.length === 0 && !this.writes.hasClears()
    snap.scan(begin, end, reverse, (key, value) => {
      if (plain) {
        out.push({ key, value })
        return out.length < limit
      }
      const sk = byteKey(key)
      while (pi < points.length && before(points[pi].sortKey, sk) && out.length < limit) {
        emit(points[pi].state, points[pi].key, undefined)
        pi++
      }
      if (out.length >= limit) return false
      if (pi < points.length && points[pi].sortKey === sk) emit(points[pi++].state, key, value)
      else if (!this.writes.isCleared(sk)) out.push({ key, value })
      return out.length < limit
    })
    while (out.length < limit && pi < points.length) {
      emit(points[pi].state, points[pi].key, undefined)
      pi++
    }
    if (!snapshot) this.noteReadConflict(readConflictOf(begin, end, out, limit, reverse))
    return out
  }
}

function readConflictOf(begin: Buffer, end: Buffer, out: KeyValue[], limit: number, reverse: boolean): KeyRange {
  // A limited read only depends on the keys up to the last one returned.
  if (out.length < limit || out.length === 0) return { begin, end }
  const last = out[out.length - 1].key
  return reverse ? { begin: last, end } : { begin, end: keyAfter(last) }
}

function applyAdds(stored: Buffer | undefined, params: readonly Buffer[]): Buffer {
  let value = stored
  for (const p of params) value = addLittleEndian(value, p)
  return value as Buffer
}

function unreadable(key: Buffer) {
  return kvError(KvErrorCode.ACCESSED_UNREADABLE, `key ${key.toString('hex')} holds a versionstamped value, unknown until commit`)
}

export function checkRangeOptions(options: RangeOptions | undefined): { limit: number; reverse: boolean } {
  if (options === undefined) return { limit: Infinity, reverse: false }
  if (typeof options !== 'object' || options === null) throw kvError(KvErrorCode.INVALID_ARGUMENT, 'range options must be an object { limit?, reverse? }')
  const { limit, reverse } = options
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw kvError(KvErrorCode.INVALID_ARGUMENT, `option limit is ${String(limit)}; accepted: a positive integer`, { option: 'limit' })
  }
  if (reverse !== undefined && typeof reverse !== 'boolean') {
    throw kvError(KvErrorCode.INVALID_ARGUMENT, `option reverse is ${String(reverse)}; accepted: true or false`, { option: 'reverse' })
  }
  return { limit: limit ?? Infinity, reverse: reverse ?? false }
}
