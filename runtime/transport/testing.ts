/**
 * Test helper: n TCP transports on 127.0.0.1 (ephemeral ports), each knowing all the others,
 * resolved once every pair is up. For router and component tests that need real sockets
 * without profiles.
 */
import { TcpTransport, type TcpTransportOptions } from './tcp-transport.ts'

export type TestTransportOptions = Partial<Omit<TcpTransportOptions, 'nodeId' | 'listen' | 'peers'>>

/** Fast heartbeats so tests notice a dead peer in well under a second. */
export const TEST_TIMINGS = { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 300, reconnectMinMs: 20, reconnectMaxMs: 100 } as const

export async function startTestTransports(nodeIds: readonly number[], options: TestTransportOptions = {}, upTimeoutMs = 5000): Promise<TcpTransport[]> {
  const transports = nodeIds.map((nodeId) => new TcpTransport({ ...TEST_TIMINGS, ...options, nodeId, listen: { host: '127.0.0.1', port: 0 } }))
  await Promise.all(transports.map((t) => t.start()))
  const allUp = transports.map(
    (t) =>
      new Promise<void>((resolve, reject) => {
        const waiting = new Set(nodeIds.filter((n) => n !== t.nodeId))
        const timer = setTimeout(() => reject(new Error(`node ${t.nodeId} did not see ${[...waiting].join(', ')} up within ${upTimeoutMs}ms`)), upTimeoutMs)
        const check = (): void => {
          for (const n of [...waiting]) if (t.peerPhase(n) === 'up') waiting.delete(n)
          if (waiting.size === 0) {
            clearTimeout(timer)
            resolve()
          }
        }
        t.onPeerState(() => check())
        check()
      }),
  )
  for (const t of transports) for (const o of transports) if (o !== t) t.addPeer(o.nodeId, { host: '127.0.0.1', port: o.port })
  try {
    await Promise.all(allUp)
  } catch (error) {
    await Promise.all(transports.map((t) => t.close()))
    throw error
  }
  return transports
}
