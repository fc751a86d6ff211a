/**
 * The handshake of a TCP connection: each end's first frame says who it is.
 *
 *   u32 version · u32 node id · utf8 cluster id
 *
 * A node answers a dialer's HELLO with its own, or refuses with the reason (see
 * helloRefusal) and closes; nodes of different clusters never exchange data frames.
 */
import { encodeFrame, FrameType } from './framing.ts'

export const HELLO_VERSION = 1

export interface Hello {
  readonly version: number
  readonly node: number
  readonly clusterId: string
}

export function encodeHello(node: number, clusterId: string): Uint8Array {
  const cluster = Buffer.from(clusterId, 'utf8')
  const header = new Uint8Array(8 + cluster.length)
  const view = new DataView(header.buffer)
  view.setUint32(0, HELLO_VERSION, true)
  view.setUint32(4, node, true)
  header.set(cluster, 8)
  return encodeFrame(FrameType.hello, header)
}

/** Reads a HELLO header; a short one reads as version 0 (refused). */
export function decodeHello(header: Uint8Array): Hello {
  if (header.length < 8) return { version: 0, node: 0, clusterId: '' }
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  const clusterId = Buffer.from(header.buffer, header.byteOffset + 8, header.length - 8).toString('utf8')
  return { version: view.getUint32(0, true), node: view.getUint32(4, true), clusterId }
}

/** Why `hello` may not talk to node `self` of `clusterId`, or null when it may. */
export function helloRefusal(hello: Hello, self: number, clusterId: string): string | null {
  if (hello.version !== HELLO_VERSION) return `protocol version ${hello.version}; accepted: ${HELLO_VERSION}`
  if (hello.clusterId !== clusterId) return `cluster ${JSON.stringify(hello.clusterId)}; accepted: ${JSON.stringify(clusterId)} (node.cluster_id)`
  if (hello.node === 0 || hello.node === self) return `node id ${hello.node}; accepted: an id other than 0 and ${self}`
  return null
}
