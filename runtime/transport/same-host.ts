/**
 * One-sided transfers between nodes on the same machine, by one direct copy between the two
 * processes (process_vm_readv, native/cma.ts) instead of streaming the bytes through a loopback
 * socket: the same-host stand-in for RDMA, as MPI libraries do it (cross-memory attach).
 *
 * Finding out: each HELLO offers a probe (pid, the address of 16 random bytes, those bytes). The
 * other end reads 16 bytes at that address in that pid; only when they are the token does it treat
 * the peer as on its machine, in its pid namespace, and readable by it (same user, or
 * CAP_SYS_PTRACE). Anything else (another machine, a container, EPERM, no native addon) keeps
 * the peer on TCP. Whoever copies always reads, never writes, the other process's memory:
 *
 * - read (this node reads a peer's region): the request asks for the region's address; the owner
 *   answers with it and with the address of the region's liveness word (one-sided.ts liveWords).
 *   The reader copies, then reads the word: unless it still holds the region id, the region was
 *   unregistered meanwhile and its bytes are not trusted (ERR_REMOTE_REGION). A region's handle
 *   carries both addresses from its registration (RegionHandle.direct), so a reader holding the
 *   handle copies at once and sends no request: a chain's replica pulls its predecessor's bytes
 *   with no round trip.
 * - write (this node writes a peer's region): the request carries the address of the bytes; the
 *   owner checks its region and copies them into it in the same turn (no unregister can come
 *   between), then acks. The writer keeps its bytes untouched until the ack, as with TCP.
 *
 * A copy that fails (the peer cannot read us after all, or the memory is gone) takes the op back to
 * TCP and stops direct copies to that peer until it reconnects.
 */
import { randomFillSync } from 'node:crypto'
import { cmaAddress, cmaRead, cmaReadChecked } from '../../native/cma.ts'
import { nativeAvailable } from '../../native/addon.ts'
import { PROBE_TOKEN_BYTES, type SameHostProbe } from './hello.ts'
import { OP_HEADER_BYTES } from './one-sided.ts'

/** Transfers smaller than this stay in the socket: below it a syscall and an ack cost more than the bytes. */
export const SAME_HOST_MIN_BYTES = 16 * 1024

/** Flag in a read request's last header word: "answer with the region's address, I copy it myself". */
export const READ_FLAG_ADDRESS = 1

/** readAddress frame header: u32 opId · u32 regionId · f64 address · f64 liveness word address. */
export const READ_ADDRESS_BYTES = 24
/** writeDirect frame header: the op header (24 bytes) · f64 address of the bytes in the writer. */
export const WRITE_DIRECT_BYTES = OP_HEADER_BYTES + 8

export interface ReadAddress {
  readonly opId: number
  readonly regionId: number
  readonly address: number
  readonly liveAddress: number
}

export function encodeReadAddress(target: Uint8Array, a: ReadAddress): Uint8Array {
  const view = new DataView(target.buffer, target.byteOffset, READ_ADDRESS_BYTES)
  view.setUint32(0, a.opId, true)
  view.setUint32(4, a.regionId, true)
  view.setFloat64(8, a.address, true)
  view.setFloat64(16, a.liveAddress, true)
  return target.subarray(0, READ_ADDRESS_BYTES)
}

export function decodeReadAddress(header: Uint8Array): ReadAddress | undefined {
  if (header.length < READ_ADDRESS_BYTES) return undefined
  const view = new DataView(header.buffer, header.byteOffset, READ_ADDRESS_BYTES)
  return { opId: view.getUint32(0, true), regionId: view.getUint32(4, true), address: view.getFloat64(8, true), liveAddress: view.getFloat64(16, true) }
}

/** The source address that follows the op header of a writeDirect frame (NaN when absent). */
export function writeDirectSource(header: Uint8Array): number {
  if (header.length < WRITE_DIRECT_BYTES) return Number.NaN
  return new DataView(header.buffer, header.byteOffset + OP_HEADER_BYTES, 8).getFloat64(0, true)
}

/** This process's side: the probe it offers, and the copies. One per transport. */
export class SameHost {
  /** Undefined when direct copies are off (the profile, or no native addon). */
  readonly probe: SameHostProbe | undefined
  readonly #check = new Uint8Array(new ArrayBuffer(PROBE_TOKEN_BYTES))

  constructor(enabled: boolean) {
    if (!enabled || !nativeAvailable()) {
      this.probe = undefined
      return
    }
    // Over an ArrayBuffer of its own, so its address never moves.
    const token = new Uint8Array(new ArrayBuffer(PROBE_TOKEN_BYTES))
    randomFillSync(token)
    this.probe = { pid: process.pid, address: cmaAddress(token), token }
  }

  get enabled(): boolean {
    return this.probe !== undefined
  }

  /** Whether this process can read the memory of the process that offered `probe` (checked by reading its token). */
  canRead(probe: SameHostProbe | undefined): boolean {
    if (this.probe === undefined || probe === undefined || !(probe.address > 0)) return false
    try {
      cmaRead(probe.pid, this.#check, probe.address)
    } catch {
      return false
    }
    return Buffer.compare(this.#check, probe.token) === 0
  }

  address(view: Uint8Array): number {
    return cmaAddress(view)
  }

  /** Copies `into.length` bytes at `address` in `pid`; throws what process_vm_readv says. */
  read(pid: number, into: Uint8Array, address: number): void {
    cmaRead(pid, into, address)
  }

  /** Like read, then returns the u32 at `wordAddress` in `pid` (a region's liveness word), read after the bytes. */
  readChecked(pid: number, into: Uint8Array, address: number, wordAddress: number): number {
    return cmaReadChecked(pid, into, address, wordAddress)
  }
}
