/**
 * Buffered mutations of a transaction and how a backend applies them at commit, in order.
 * Atomic adds and versionstamped keys/values are resolved here, inside the backend's commit
 * critical section, so they never need a read conflict.
 */
import { keyAfter } from './bytes.ts'
import type { KeyRange } from './key-ranges.ts'

/** 8-byte big-endian commit version + 2-byte big-endian batch order. */
export const VERSIONSTAMP_BYTES = 10

export type Mutation =
  | { readonly type: 'set'; readonly key: Buffer; readonly value: Buffer }
  | { readonly type: 'clear'; readonly key: Buffer }
  | { readonly type: 'clearRange'; readonly begin: Buffer; readonly end: Buffer }
  | { readonly type: 'add'; readonly key: Buffer; readonly param: Buffer }
  | { readonly type: 'setVersionstampedKey'; readonly key: Buffer; readonly offset: number; readonly value: Buffer }
  | { readonly type: 'setVersionstampedValue'; readonly key: Buffer; readonly value: Buffer; readonly offset: number }

/** What a backend's commit needs from its store, within one atomic write. */
export interface MutableStore {
  get(key: Buffer): Buffer | undefined
  put(key: Buffer, value: Buffer): void
  del(key: Buffer): void
  delRange(begin: Buffer, end: Buffer): void
}

/** FDB's ADD: little-endian addition modulo 2^(8·param.length); a missing value counts as zero. */
export function addLittleEndian(existing: Buffer | undefined, param: Buffer): Buffer {
  const out = Buffer.alloc(param.length)
  let carry = 0
  for (let i = 0; i < param.length; i++) {
    const sum = (existing !== undefined && i < existing.length ? existing[i] : 0) + param[i] + carry
    out[i] = sum & 0xff
    carry = sum >> 8
  }
  return out
}

/** A signed 64-bit integer as 8 little-endian bytes: the operand `add` takes for counters. */
export function int64le(value: bigint): Buffer {
  const out = Buffer.allocUnsafe(8)
  out.writeBigInt64LE(BigInt.asIntN(64, value))
  return out
}

/** Reads a counter written by `add` with 8-byte operands (missing → 0n). */
export function readInt64le(value: Uint8Array | undefined): bigint {
  if (value === undefined || value.length === 0) return 0n
  const padded = Buffer.alloc(8)
  padded.set(value.subarray(0, 8))
  return padded.readBigInt64LE(0)
}

export function makeVersionstamp(commitVersion: bigint, batchOrder = 0): Buffer {
  const out = Buffer.allocUnsafe(VERSIONSTAMP_BYTES)
  out.writeBigUInt64BE(commitVersion, 0)
  out.writeUInt16BE(batchOrder, 8)
  return out
}

function stamp(bytes: Buffer, offset: number, versionstamp: Buffer): Buffer {
  const out = Buffer.from(bytes)
  versionstamp.copy(out, offset)
  return out
}

/** The final key of a versionstamped-key mutation (needed for its write conflict range too). */
export function stampedKey(m: Extract<Mutation, { type: 'setVersionstampedKey' }>, versionstamp: Buffer): Buffer {
  return stamp(m.key, m.offset, versionstamp)
}

export function applyMutations(store: MutableStore, mutations: readonly Mutation[], versionstamp: Buffer): void {
  for (const m of mutations) {
    switch (m.type) {
      case 'set':
        store.put(m.key, m.value)
        break
      case 'clear':
        store.del(m.key)
        break
      case 'clearRange':
        store.delRange(m.begin, m.end)
        break
      case 'add':
        store.put(m.key, addLittleEndian(store.get(m.key), m.param))
        break
      case 'setVersionstampedKey':
        store.put(stampedKey(m, versionstamp), m.value)
        break
      case 'setVersionstampedValue':
        store.put(m.key, stamp(m.value, m.offset, versionstamp))
        break
    }
  }
}

/** Write conflict ranges that only exist once the versionstamp is known. */
export function stampedWriteRanges(mutations: readonly Mutation[], versionstamp: Buffer): KeyRange[] {
  const out: KeyRange[] = []
  for (const m of mutations) {
    if (m.type !== 'setVersionstampedKey') continue
    const key = stampedKey(m, versionstamp)
    out.push({ begin: key, end: keyAfter(key) })
  }
  return out
}
