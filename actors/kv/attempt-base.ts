/**
 * What every backend's transaction attempt shares: argument validation with coded errors, the
 * size limit, the write API turned into Mutation records, the versionstamp promise, and the
 * open/committed/cancelled state machine.
 */
import { kvError, KvErrorCode } from './errors.ts'
import { keyAfter } from './bytes.ts'
import type { KeyRange } from './key-ranges.ts'
import type { KeyValue, RangeOptions, ReadView, Transaction } from './kv.ts'
import { PER_ENTRY_OVERHEAD_BYTES, type KvLimits } from './limits.ts'
import { VERSIONSTAMP_BYTES, type Mutation } from './mutation.ts'

export type AttemptState = 'open' | 'committing' | 'committed' | 'done'

/** One byte 0xff: the first key of FDB's system key space, the end of the user key space. */
export const USER_KEYSPACE_END: Buffer = Buffer.from([0xff])

export abstract class AttemptBase implements Transaction {
  protected state: AttemptState = 'open'
  protected committedVersion: bigint | undefined
  private txnBytes = 0
  /**
   * The versionstamp's promise, made only when someone asks for it: most transactions never do, and
   * a promise (and, for a read-only one, an error with its stack) per stat is measurable on the
   * metadata hot path. Until then the outcome waits in `stampOutcome`.
   */
  private stamp: { promise: Promise<Buffer>; resolve: (b: Buffer) => void; reject: (e: unknown) => void } | null = null
  private stampOutcome: { readonly ok: true; readonly value: Buffer } | { readonly ok: false; readonly error: () => unknown } | null = null
  abstract readonly snapshot: ReadView

  constructor(protected readonly limits: KvLimits) {}

  abstract get(key: Uint8Array): Promise<Buffer | undefined>
  abstract getRange(begin: Uint8Array, end: Uint8Array, options?: RangeOptions): Promise<KeyValue[]>
  abstract getReadVersion(): Promise<bigint>
  abstract commit(): Promise<void>
  protected abstract recordMutation(m: Mutation, conflict: KeyRange | null): void
  protected abstract recordReadConflict(range: KeyRange): void
  protected abstract recordWriteConflict(range: KeyRange): void
  protected abstract addParam(delta: Uint8Array | bigint): Buffer

  addReadConflictRange(begin: Uint8Array, end: Uint8Array): void {
    const [b, e] = this.checkRange(begin, end, 'conflict')
    if (Buffer.compare(b, e) < 0) this.noteReadConflict({ begin: b, end: e })
  }

  addReadConflictKey(key: Uint8Array): void {
    const k = this.checkKey(key, 'read')
    this.noteReadConflict({ begin: k, end: keyAfter(k) })
  }

  addWriteConflictRange(begin: Uint8Array, end: Uint8Array): void {
    this.checkOpen()
    const [b, e] = this.checkRange(begin, end, 'conflict')
    if (Buffer.compare(b, e) >= 0) return
    this.charge(b.length + e.length)
    this.recordWriteConflict({ begin: b, end: e })
  }

  addWriteConflictKey(key: Uint8Array): void {
    const k = this.checkKey(key, 'write')
    this.addWriteConflictRange(k, keyAfter(k))
  }

  set(key: Uint8Array, value: Uint8Array): void {
    const k = this.checkKey(key, 'write')
    const v = this.checkValue(value)
    this.mutate({ type: 'set', key: k, value: v }, k.length + v.length, pointRange(k))
  }

  clear(key: Uint8Array): void {
    const k = this.checkKey(key, 'write')
    this.mutate({ type: 'clear', key: k }, k.length, pointRange(k))
  }

  clearRange(begin: Uint8Array, end: Uint8Array): void {
    const [b, e] = this.checkRange(begin, end, 'write')
    if (Buffer.compare(b, e) >= 0) return
    this.mutate({ type: 'clearRange', begin: b, end: e }, b.length + e.length, { begin: b, end: e })
  }

  add(key: Uint8Array, delta: Uint8Array | bigint): void {
    const k = this.checkKey(key, 'write')
    if (typeof delta !== 'bigint' && !(delta instanceof Uint8Array)) throw invalidArgument('add delta must be a bigint or a Uint8Array (little-endian)')
    const param = this.checkValue(this.addParam(delta))
    this.mutate({ type: 'add', key: k, param }, k.length + param.length, pointRange(k))
  }

  setVersionstampedKey(key: Uint8Array, offset: number, value: Uint8Array): void {
    const k = this.checkKey(key, 'write')
    const v = this.checkValue(value)
    checkStampOffset(offset, k.length, 'key')
    this.mutate({ type: 'setVersionstampedKey', key: k, offset, value: v }, k.length + v.length, null)
  }

  setVersionstampedValue(key: Uint8Array, value: Uint8Array, offset = 0): void {
    const k = this.checkKey(key, 'write')
    const v = this.checkValue(value)
    checkStampOffset(offset, v.length, 'value')
    this.mutate({ type: 'setVersionstampedValue', key: k, value: v, offset }, k.length + v.length, pointRange(k))
  }

  /** Bytes charged so far against maxTxnBytes. */
  protected get chargedBytes(): number {
    return this.txnBytes
  }

  getVersionstamp(): { promise: Promise<Buffer> } {
    if (this.stamp === null) {
      let resolve!: (b: Buffer) => void
      let reject!: (e: unknown) => void
      const promise = new Promise<Buffer>((res, rej) => {
        resolve = res
        reject = rej
      })
      // Asking does not oblige awaiting: an unobserved rejection must not crash the process.
      promise.catch(() => {})
      this.stamp = { promise, resolve, reject }
      const outcome = this.stampOutcome
      if (outcome !== null) {
        if (outcome.ok) resolve(outcome.value)
        else reject(outcome.error())
      }
    }
    return { promise: this.stamp.promise }
  }

  getCommittedVersion(): bigint {
    if (this.state !== 'committed' || this.committedVersion === undefined) {
      throw kvError(KvErrorCode.INVALID_ARGUMENT, 'getCommittedVersion is only known after a successful commit')
    }
    return this.committedVersion
  }

  /** Ends the attempt without committing; later calls fail with ERR_TXN_CANCELLED. */
  cancel(reason?: unknown): void {
    if (this.state === 'committed' || this.state === 'done') return
    this.state = 'done'
    this.rejectStamp(() => reason ?? kvError(KvErrorCode.TXN_CANCELLED, 'the transaction was cancelled'))
  }

  protected resolveStamp(stamp: Buffer): void {
    if (this.stampOutcome !== null) return
    this.stampOutcome = { ok: true, value: stamp }
    this.stamp?.resolve(stamp)
  }

  /** `error` may be a function making it, called only if someone asks for the versionstamp. */
  protected rejectStamp(error: unknown): void {
    if (this.stampOutcome !== null) return
    const make = typeof error === 'function' ? (error as () => unknown) : () => error
    this.stampOutcome = { ok: false, error: make }
    this.stamp?.reject(make())
  }

  protected noteReadConflict(range: KeyRange): void {
    this.checkOpen()
    this.charge(range.begin.length + range.end.length)
    this.recordReadConflict(range)
  }

  protected checkOpen(): void {
    if (this.state !== 'open') {
      throw kvError(KvErrorCode.TXN_CANCELLED, `the transaction is ${this.state === 'committed' ? 'already committed' : 'no longer usable (committed, failed or cancelled)'}`)
    }
  }

  protected checkKey(key: Uint8Array, use: 'read' | 'write'): Buffer {
    if (!(key instanceof Uint8Array)) throw invalidArgument(`a key must be a Uint8Array/Buffer, got ${typeof key}`)
    if (key.length > this.limits.maxKeyBytes) {
      throw kvError(KvErrorCode.KEY_TOO_LARGE, `key of ${key.length} bytes exceeds maxKeyBytes ${this.limits.maxKeyBytes}`, { bytes: key.length, limit: this.limits.maxKeyBytes })
    }
    if (key.length > 0 && key[0] === 0xff) {
      throw kvError(KvErrorCode.KEY_OUTSIDE_LEGAL_RANGE, `key ${Buffer.from(key).toString('hex')} is in the system key space (starts with 0xff); user keys are below 0xff`, { use })
    }
    return Buffer.from(key)
  }

  /** Validates a range; bounds past the user key space are clamped to 0xff. */
  protected checkRange(begin: Uint8Array, end: Uint8Array, use: 'read' | 'write' | 'conflict'): [Buffer, Buffer] {
    const bound = (b: Uint8Array, name: string): Buffer => {
      if (!(b instanceof Uint8Array)) throw invalidArgument(`range ${name} must be a Uint8Array/Buffer, got ${typeof b}`)
      if (b.length > this.limits.maxKeyBytes + 1) {
        throw kvError(KvErrorCode.KEY_TOO_LARGE, `range ${name} of ${b.length} bytes exceeds maxKeyBytes+1 (${this.limits.maxKeyBytes + 1})`, { use })
      }
      return Buffer.compare(b, USER_KEYSPACE_END) > 0 ? USER_KEYSPACE_END : Buffer.from(b)
    }
    return [bound(begin, 'begin'), bound(end, 'end')]
  }

  protected checkValue(value: Uint8Array): Buffer {
    if (!(value instanceof Uint8Array)) throw invalidArgument(`a value must be a Uint8Array/Buffer, got ${typeof value}`)
    if (value.length > this.limits.maxValueBytes) {
      throw kvError(KvErrorCode.VALUE_TOO_LARGE, `value of ${value.length} bytes exceeds maxValueBytes ${this.limits.maxValueBytes}`, { bytes: value.length, limit: this.limits.maxValueBytes })
    }
    return Buffer.from(value)
  }

  private mutate(m: Mutation, bytes: number, conflict: KeyRange | null): void {
    this.checkOpen()
    this.charge(bytes)
    this.recordMutation(m, conflict)
  }

  private charge(bytes: number): void {
    this.txnBytes += bytes + PER_ENTRY_OVERHEAD_BYTES
    if (this.txnBytes > this.limits.maxTxnBytes) {
      throw kvError(KvErrorCode.TXN_TOO_LARGE, `transaction reached ${this.txnBytes} bytes of mutations and conflict ranges; maxTxnBytes is ${this.limits.maxTxnBytes}`, { bytes: this.txnBytes, limit: this.limits.maxTxnBytes })
    }
  }
}

function pointRange(key: Buffer): KeyRange {
  return { begin: key, end: keyAfter(key) }
}

function checkStampOffset(offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + VERSIONSTAMP_BYTES > length) {
    throw invalidArgument(`versionstamp offset ${String(offset)} does not fit the ${length}-byte ${what}; accepted: an integer from 0 to ${length - VERSIONSTAMP_BYTES}`)
  }
}

export function invalidArgument(message: string) {
  return kvError(KvErrorCode.INVALID_ARGUMENT, message)
}
