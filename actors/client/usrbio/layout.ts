/**
 * USRBIO's binary layout: the one contract between the t3fs node and the processes doing I/O
 * (Node through `t3fs/usrbio`, Python through t3fs_usrbio.py, C through t3fs_usrbio.h — all three
 * spell the same numbers; change them together and bump RING_VERSION).
 *
 * Region (3FS's Iov): any file in /dev/shm the client created (`/dev/shm/<name>`, 1 byte to
 * MAX_REGION_BYTES). Read results land in it and write data is taken from it; the server maps the
 * same pages, so nothing is copied between the processes.
 *
 * Ring (3FS's Ior): a file in /dev/shm of ringBytes(entries) bytes, all little-endian:
 *
 *   offset   0  u32 magic RING_MAGIC ("T3IO")   4 u32 version   8 u32 entries (power of two)
 *   offset  64  u32 sqTail   written by the client: SQEs [sqHead, sqTail) are submitted
 *   offset 128  u32 sqHead   written by the server: SQEs before it were taken (their slots are free)
 *   offset 192  u32 cqTail   written by the server: CQEs [cqHead, cqTail) are ready
 *   offset 256  u32 cqHead   written by the client: CQEs before it were reaped
 *   offset 320  u32 cqWaiting   the client sets 1 before it blocks for completions; the server
 *                               clears it and sends a wake-up ({"ev":"cq"}) only when it was set
 *   offset 448  u32 cqWakeMin   with cqWaiting: wake the client once this many CQEs are ready
 *                               (0 or 1: at the first; 3FS's min_results, kept by the server)
 *   offset 384  u32 sqNeedWake  the server sets 1 when it has nothing in flight and the SQ is
 *                               empty; a client rings the doorbell (`submit`) only when it is set
 *                               (otherwise the server takes new SQEs as its I/Os complete)
 *   offset 512  SQE × entries (48 bytes each), then CQE × entries (24 bytes each)
 *
 *   SQE: u8 op (1 read, 2 write), u8 flags (0), u16 region, u32 fd, u64 bufOffset, u64 fileOffset,
 *        u64 length, u64 userdata, u64 reserved (0)
 *   CQE: u32 sqIndex (the SQE's free-running index), u32 reserved, i64 result (bytes moved, or
 *        -errno), u64 userdata (the SQE's)
 *
 * Indexes are free-running u32 counters (slot = index & (entries - 1)); each counter has one
 * writer, on its own cache line. A writer fills the entry first and then stores the counter
 * (x86-64 keeps stores in order; JS uses Atomics.store). The two flags need a store then a load
 * to stay in order on both sides (JS Atomics and C __ATOMIC_SEQ_CST give that; a binding without
 * a fence, like the Python one, also re-checks every few milliseconds while it waits, so a missed
 * flag costs latency, never a hang). The server takes an SQE only while the CQ
 * has room for its completion, so neither ring overflows; a client that has `entries` SQEs not yet
 * taken gets ERR_USRBIO_RING_FULL.
 */
import { T3fsError } from '../../../runtime/errors.ts'

export const RING_MAGIC = 0x4f493354 // "T3IO" little-endian
export const RING_VERSION = 1
export const HEADER_BYTES = 512
export const SQE_BYTES = 48
export const CQE_BYTES = 24
export const MAX_RING_ENTRIES = 4096
export const MAX_REGION_BYTES = 64 * 1024 * 1024 * 1024
/** Largest single I/O (one SQE). */
export const MAX_IO_BYTES = 1024 * 1024 * 1024

export const OFF_MAGIC = 0
export const OFF_VERSION = 4
export const OFF_ENTRIES = 8
export const OFF_SQ_TAIL = 64
export const OFF_SQ_HEAD = 128
export const OFF_CQ_TAIL = 192
export const OFF_CQ_HEAD = 256
export const OFF_CQ_WAITING = 320
export const OFF_SQ_NEED_WAKE = 384
export const OFF_CQ_WAKE_MIN = 448

export const OP_READ = 1
export const OP_WRITE = 2

/** Names of regions and rings: a plain file name under /dev/shm. */
export const SHM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
export const SHM_DIR = '/dev/shm'
/** Where the usrbio actor listens unless its socket_path says otherwise. */
export const defaultSocketPath = '/dev/shm/t3fs-usrbio.sock'

export function ringBytes(entries: number): number {
  return HEADER_BYTES + entries * (SQE_BYTES + CQE_BYTES)
}

export function checkShmName(field: string, name: unknown): string {
  if (typeof name !== 'string' || !SHM_NAME.test(name)) {
    throw new T3fsError('ERR_USRBIO_NAME', `${field} is ${JSON.stringify(name)}; accepted: a file name in ${SHM_DIR} of 1-128 letters, digits, '.', '_' or '-' (no '/')`, { field, value: String(name) })
  }
  return name
}

export function checkEntries(entries: unknown): number {
  if (typeof entries !== 'number' || !Number.isInteger(entries) || entries < 1 || entries > MAX_RING_ENTRIES || (entries & (entries - 1)) !== 0) {
    throw new T3fsError('ERR_USRBIO_RING', `ring entries is ${String(entries)}; accepted: a power of two from 1 to ${MAX_RING_ENTRIES}`, { field: 'entries', value: String(entries) })
  }
  return entries
}

/** One submission, as read from (or written to) a ring slot. */
export interface Sqe {
  op: number
  region: number
  fd: number
  bufOffset: number
  fileOffset: number
  length: number
  userdata: bigint
}

export interface Cqe {
  sqIndex: number
  result: number
  userdata: bigint
}

/** A ring file mapped into this process: typed views over its header and slots. */
export class RingView {
  readonly entries: number
  private readonly words: Int32Array
  private readonly view: DataView

  constructor(readonly buffer: ArrayBuffer) {
    this.view = new DataView(buffer)
    this.words = new Int32Array(buffer, 0, HEADER_BYTES / 4)
    this.entries = this.view.getUint32(OFF_ENTRIES, true)
  }

  /** Writes a fresh header (the creator does this before anyone else sees the file). */
  static format(buffer: ArrayBuffer, entries: number): RingView {
    const view = new DataView(buffer)
    new Uint8Array(buffer, 0, HEADER_BYTES).fill(0)
    view.setUint32(OFF_ENTRIES, entries, true)
    view.setUint32(OFF_SQ_NEED_WAKE, 1, true) // idle: the first submit rings
    view.setUint32(OFF_VERSION, RING_VERSION, true)
    view.setUint32(OFF_MAGIC, RING_MAGIC, true)
    return new RingView(buffer)
  }

  /** Why this buffer is not a ring of ours, or null when it is. */
  static invalid(buffer: ArrayBuffer): string | null {
    if (buffer.byteLength < HEADER_BYTES) return `it is ${buffer.byteLength} bytes, less than the ${HEADER_BYTES}-byte header`
    const view = new DataView(buffer)
    if (view.getUint32(OFF_MAGIC, true) !== RING_MAGIC) return `its magic is 0x${view.getUint32(OFF_MAGIC, true).toString(16)}, not 0x${RING_MAGIC.toString(16)} ("T3IO")`
    if (view.getUint32(OFF_VERSION, true) !== RING_VERSION) return `its layout version is ${view.getUint32(OFF_VERSION, true)}; this server speaks ${RING_VERSION}`
    const entries = view.getUint32(OFF_ENTRIES, true)
    if (entries < 1 || entries > MAX_RING_ENTRIES || (entries & (entries - 1)) !== 0) return `its entries field is ${entries}, not a power of two up to ${MAX_RING_ENTRIES}`
    if (buffer.byteLength < ringBytes(entries)) return `it is ${buffer.byteLength} bytes; ${entries} entries need ${ringBytes(entries)}`
    return null
  }

  load(offset: number): number {
    return Atomics.load(this.words, offset >> 2) >>> 0
  }

  store(offset: number, value: number): void {
    Atomics.store(this.words, offset >> 2, value | 0)
  }

  readSqe(index: number): Sqe {
    const at = HEADER_BYTES + (index & (this.entries - 1)) * SQE_BYTES
    const v = this.view
    return {
      op: v.getUint8(at), region: v.getUint16(at + 2, true), fd: v.getUint32(at + 4, true),
      bufOffset: Number(v.getBigUint64(at + 8, true)), fileOffset: Number(v.getBigUint64(at + 16, true)),
      length: Number(v.getBigUint64(at + 24, true)), userdata: v.getBigUint64(at + 32, true),
    }
  }

  writeSqe(index: number, s: Sqe): void {
    const at = HEADER_BYTES + (index & (this.entries - 1)) * SQE_BYTES
    const v = this.view
    v.setUint8(at, s.op)
    v.setUint8(at + 1, 0)
    v.setUint16(at + 2, s.region, true)
    v.setUint32(at + 4, s.fd, true)
    v.setBigUint64(at + 8, BigInt(s.bufOffset), true)
    v.setBigUint64(at + 16, BigInt(s.fileOffset), true)
    v.setBigUint64(at + 24, BigInt(s.length), true)
    v.setBigUint64(at + 32, s.userdata, true)
    v.setBigUint64(at + 40, 0n, true)
  }

  readCqe(index: number): Cqe {
    const at = HEADER_BYTES + this.entries * SQE_BYTES + (index & (this.entries - 1)) * CQE_BYTES
    const v = this.view
    return { sqIndex: v.getUint32(at, true), result: Number(v.getBigInt64(at + 8, true)), userdata: v.getBigUint64(at + 16, true) }
  }

  writeCqe(index: number, c: Cqe): void {
    const at = HEADER_BYTES + this.entries * SQE_BYTES + (index & (this.entries - 1)) * CQE_BYTES
    const v = this.view
    v.setUint32(at, c.sqIndex, true)
    v.setUint32(at + 4, 0, true)
    v.setBigInt64(at + 8, BigInt(c.result), true)
    v.setBigUint64(at + 16, c.userdata, true)
  }
}
