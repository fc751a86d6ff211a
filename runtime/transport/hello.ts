/**
 * The handshake of a TCP connection: each end's first frame says who it is.
 *
 *   u32 version · u32 node id · u32 incarnation · u32 max frame bytes ·
 *   u32 pid · u32 0 · f64 probe address · 16 bytes probe token · utf8 cluster id
 *
 * A node answers a dialer's HELLO with its own, or refuses with the reason (see helloRefusal)
 * and closes; nodes of different clusters never exchange data frames. The incarnation (picked
 * anew at each start, see address.ts) lets the other end tell a restarted node from a reconnect
 * of the same one; the frame limit lets a sender refuse a message its peer would not accept.
 *
 * The pid and probe let the other end find out whether it shares this machine (and may read this
 * process's memory): it reads 16 bytes at the probe address in process pid and compares them with
 * the token (see same-host.ts). pid 0: no probe offered.
 *
 * Version 2 added the incarnation and the frame limit (version 1 had neither); version 3 the probe.
 */
import { encodeFrame, FrameType } from './framing.ts'

export const HELLO_VERSION = 3
const FIXED_BYTES = 48
export const PROBE_TOKEN_BYTES = 16

/** Where the other end may read this process's memory to tell it shares the machine. */
export interface SameHostProbe {
  readonly pid: number
  readonly address: number
  readonly token: Uint8Array
}

export interface Hello {
  readonly version: number
  readonly node: number
  readonly incarnation: number
  readonly maxFrameBytes: number
  readonly clusterId: string
  /** Absent when the sender offered none (pid 0). */
  readonly probe?: SameHostProbe
}

export function encodeHello(hello: Omit<Hello, 'version'>): Uint8Array {
  const cluster = Buffer.from(hello.clusterId, 'utf8')
  const header = new Uint8Array(FIXED_BYTES + cluster.length)
  const view = new DataView(header.buffer)
  view.setUint32(0, HELLO_VERSION, true)
  view.setUint32(4, hello.node, true)
  view.setUint32(8, hello.incarnation, true)
  view.setUint32(12, hello.maxFrameBytes, true)
  if (hello.probe !== undefined) {
    view.setUint32(16, hello.probe.pid, true)
    view.setFloat64(24, hello.probe.address, true)
    header.set(hello.probe.token.subarray(0, PROBE_TOKEN_BYTES), 32)
  }
  header.set(cluster, FIXED_BYTES)
  return encodeFrame(FrameType.hello, header)
}

/** Reads a HELLO header; a short one reads as version 0, and one of another version as just its version (both refused). */
export function decodeHello(header: Uint8Array): Hello {
  const none = { version: 0, node: 0, incarnation: 0, maxFrameBytes: 0, clusterId: '' }
  if (header.length < 4) return none
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  const version = view.getUint32(0, true)
  if (version !== HELLO_VERSION || header.length < FIXED_BYTES) return { ...none, version }
  const clusterId = Buffer.from(header.buffer, header.byteOffset + FIXED_BYTES, header.length - FIXED_BYTES).toString('utf8')
  const hello = { version, node: view.getUint32(4, true), incarnation: view.getUint32(8, true), maxFrameBytes: view.getUint32(12, true), clusterId }
  const pid = view.getUint32(16, true)
  if (pid === 0) return hello
  const token = header.slice(32, 32 + PROBE_TOKEN_BYTES)
  return { ...hello, probe: { pid, address: view.getFloat64(24, true), token } }
}

/** The smallest max_frame_size a node may announce (the profile's lower bound). */
export const MIN_FRAME_BYTES = 64 * 1024

/** Why `hello` may not talk to node `self` of `clusterId`, or null when it may. */
export function helloRefusal(hello: Hello, self: number, clusterId: string): string | null {
  if (hello.version !== HELLO_VERSION) return `protocol version ${hello.version}; accepted: ${HELLO_VERSION}`
  if (hello.clusterId !== clusterId) return `cluster ${JSON.stringify(hello.clusterId)}; accepted: ${JSON.stringify(clusterId)} (node.cluster_id)`
  if (hello.node === 0 || hello.node === self) return `node id ${hello.node}; accepted: an id other than 0 and ${self}`
  if (hello.incarnation === 0) return 'incarnation 0; accepted: 1 to 4294967295'
  if (hello.maxFrameBytes < MIN_FRAME_BYTES) return `max frame of ${hello.maxFrameBytes} bytes; accepted: at least ${MIN_FRAME_BYTES} (transport.max_frame_size)`
  return null
}
