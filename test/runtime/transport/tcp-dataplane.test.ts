/**
 * The TCP transport's data-plane contract: payloads placed by the receiver (one target per
 * payload, read straight from the socket), frames cut off mid-payload handing their targets back,
 * the sender's release callback, a restarted peer recognised by its incarnation, and time taken
 * from the injected clock.
 */
import t from 'tap'
import { connect, type Socket } from 'node:net'
import { TcpTransport, type TcpTransportOptions, type TransportLog } from '../../../runtime/transport/tcp-transport.ts'
import { startTestTransports, TEST_TIMINGS } from '../../../runtime/transport/testing.ts'
import { encodeFrame, FrameType } from '../../../runtime/transport/framing.ts'
import { encodeHello } from '../../../runtime/transport/hello.ts'
import type { Frame, PayloadPlacement, PeerState } from '../../../runtime/transport/transport.ts'
import { nextBackoffMs } from '../../../runtime/transport/peer.ts'
import { SeededRandom } from '../../../runtime/random.ts'
import { VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'

const HOST = '127.0.0.1'

function make(nodeId: number, extra: Partial<TcpTransportOptions> = {}): TcpTransport {
  return new TcpTransport({ nodeId, listen: { host: HOST, port: 0 }, ...TEST_TIMINGS, ...extra })
}

function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) return resolve()
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(poll, 5)
    }
    poll()
  })
}

/** A raw socket speaking as node `node` of incarnation `incarnation`: HELLO, then whatever the test writes. */
function fakePeer(port: number, node: number, incarnation: number): { socket: Socket; answered: Promise<boolean> } {
  const socket = connect({ host: HOST, port })
  socket.on('error', () => {})
  socket.on('connect', () => socket.write(encodeHello({ node, incarnation, maxFrameBytes: 1 << 20, clusterId: 't3fs' })))
  const answered = new Promise<boolean>((resolve) => {
    socket.once('data', () => resolve(true))
    socket.once('close', () => resolve(false))
  })
  return { socket, answered }
}

function recordingLog(): TransportLog & { events: Array<Record<string, unknown>> } {
  const events: Array<Record<string, unknown>> = []
  const keep = (obj: object): void => void events.push(obj as Record<string, unknown>)
  return { events, info: keep, warn: keep, debug: () => {} }
}

t.test('a receiver places each payload in its own buffer or skips it; the frame arrives with those targets', async (t) => {
  const [a, b] = await startTestTransports([1, 2])
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const sizes = [300_000, 200_000, 100, 70_000]
  let placement: PayloadPlacement | null = null
  const arrived = new Promise<{ frame: Frame; placement: PayloadPlacement | undefined }>((resolve) => {
    b.onFrame(
      (_from, frame, placed) => resolve({ frame: { header: frame.header.slice(), payloads: frame.payloads }, placement: placed }),
      (_from, header, lengths) => {
        t.same([...header], [7, 7, 7], 'the whole header is in when targets are picked')
        t.same(lengths, sizes)
        placement = { targets: lengths.map((n, i) => (i === 1 ? null : new Uint8Array(n))), abandon: () => t.fail('abandoned') }
        return placement
      },
    )
  })
  const payloads = sizes.map((n, i) => new Uint8Array(n).map((_, k) => (k * (i + 3)) & 0xff))
  a.send(2, { header: new Uint8Array([7, 7, 7]), payloads })
  const { frame, placement: back } = await arrived
  t.equal(back, placement, 'the handler gets its placement back')
  t.equal(frame.payloads[0], placement!.targets[0], 'payload 0 is the target itself, not a copy')
  t.ok(Buffer.from(frame.payloads[0]).equals(payloads[0]))
  t.equal(frame.payloads[1].length, 0, 'the skipped payload arrives empty')
  t.ok(Buffer.from(frame.payloads[2]).equals(payloads[2]))
  t.ok(Buffer.from(frame.payloads[3]).equals(payloads[3]))
  t.equal(a.peerPhase(2), 'up')
})

t.test('a frame cut off mid-payload hands its targets back (abandon), and never arrives', async (t) => {
  const b = make(2)
  t.teardown(() => b.close())
  await b.start()
  let placed = 0
  let abandoned = 0
  let delivered = 0
  b.onFrame(
    () => delivered++,
    (_from, _header, lengths) => {
      placed++
      return { targets: lengths.map((n) => new Uint8Array(n)), abandon: () => abandoned++ }
    },
  )
  const peer = fakePeer(b.port, 5, 1)
  t.ok(await peer.answered, 'node 2 answered the HELLO')
  const frame = encodeFrame(FrameType.data, new Uint8Array([1]), [new Uint8Array(500_000).fill(9)])
  peer.socket.write(frame.subarray(0, 200_000))
  await until(() => placed === 1, 'the head to be placed')
  peer.socket.destroy()
  await until(() => abandoned === 1, 'the frame to be abandoned')
  t.equal(delivered, 0)
})

t.test('release: at once for a copied frame, after the write for one sent by reference, on close for one never sent, never for a refused one', async (t) => {
  const [a, b] = await startTestTransports([1, 2], { maxFrameBytes: 4 << 20 })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  let received = 0
  b.onFrame(() => received++)
  let small = 0
  a.send(2, { header: new Uint8Array(1), payloads: [new Uint8Array(100)], release: () => small++ })
  t.equal(small, 1, 'a frame whose payloads were copied is released inside send()')
  let large = 0
  a.send(2, { header: new Uint8Array(1), payloads: [new Uint8Array(2 << 20), new Uint8Array(100), new Uint8Array(1 << 20)], release: () => large++ })
  t.equal(large, 0, 'payloads sent by reference are still the transport\'s')
  await until(() => large === 1, 'the large frame to be released')
  await until(() => received === 2, 'both frames to arrive')
  let refused = 0
  t.throws(() => a.send(2, { header: new Uint8Array(1), payloads: [new Uint8Array(5 << 20)], release: () => refused++ }), { code: 'ERR_INVALID_OPTION' })
  t.equal(refused, 0, 'a frame send() refused stays the caller\'s')
  // A peer that never answers: the frame waits in the queue until the transport closes.
  const c = make(3)
  await c.start()
  c.addPeer(9, { host: HOST, port: 1 })
  let queued = 0
  c.send(9, { header: new Uint8Array(1), payloads: [new Uint8Array(1 << 20)], release: () => queued++ })
  t.equal(queued, 0)
  await c.close()
  t.equal(queued, 1, 'closing releases what never left')
})

t.test('a peer that reconnects with a new incarnation restarted: down (saying so) before up, even if its old connection never closed', async (t) => {
  const log = recordingLog()
  const a = make(1, { log, heartbeatTimeoutMs: 60_000, heartbeatIntervalMs: 1000 })
  t.teardown(() => a.close())
  await a.start()
  const states: string[] = []
  a.onPeerState((node: number, state: PeerState) => states.push(`${node}:${state}`))
  const first = fakePeer(a.port, 5, 111)
  t.ok(await first.answered)
  await until(() => a.peerPhase(5) === 'up', 'node 5 up')
  t.equal(a.peerIncarnation(5), 111)
  t.equal(a.peerIncarnation(6), undefined)
  const firstClosed = new Promise<void>((resolve) => first.socket.once('close', () => resolve()))
  // The same process connecting again (same incarnation) while its connection is up: a duplicate, refused.
  const again = fakePeer(a.port, 5, 111)
  t.equal(await again.answered, false, 'a second connection of the same incarnation is refused')
  t.same(states, ['5:up'])
  // Node 5 restarts: its old socket is still open here (a crash whose close never arrived).
  const pending = a.readRemote(5, 1, 0, 1, new Uint8Array(1)).then(() => null, (error: Error & { code?: string }) => error)
  const second = fakePeer(a.port, 5, 222)
  t.ok(await second.answered, 'the restarted node is accepted at once')
  t.same(states, ['5:up', '5:down', '5:up'], 'reported down, then up')
  const down = log.events.find((e) => e.evt === 'PeerDown')
  t.match(down?.reason, /node 5 restarted \(incarnation 111 → 222\)/)
  t.equal(a.peerIncarnation(5), 222)
  const error = await pending
  t.equal(error?.code, 'ERR_PEER_DOWN', 'what waited on the old incarnation fails at once')
  t.match(error?.message, /restarted/)
  await firstClosed
  t.pass('the old connection is closed')
  second.socket.destroy()
})

t.test('heartbeats, deadlines and backoff run on the injected clock and random', async (t) => {
  const clock = new VirtualClock(1_000_000)
  const a = make(1, { clock, heartbeatIntervalMs: 50, heartbeatTimeoutMs: 300 })
  t.teardown(() => a.close())
  await a.start()
  const peer = fakePeer(a.port, 5, 1)
  t.ok(await peer.answered)
  t.teardown(() => peer.socket.destroy())
  await until(() => a.peerPhase(5) === 'up', 'node 5 up')
  // Node 5 is silent from now on. On the wall clock its timeout passes; on the virtual one it does not.
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(a.peerPhase(5), 'up', 'no real timer declared it down')
  const started = clock.now()
  for (let i = 0; i < 100 && a.peerPhase(5) === 'up'; i++) clock.fireNext()
  t.equal(a.peerPhase(5), 'down', 'virtual time past the heartbeat timeout declares it down')
  t.ok(clock.now() - started > 300 && clock.now() - started <= 400, `after ${clock.now() - started} virtual ms (timeout 300, ticks of 50)`)
  const seq = (seed: number): number[] => {
    const random = new SeededRandom(seed)
    let backoff = 0
    return Array.from({ length: 6 }, () => (backoff = nextBackoffMs(backoff, 20, 1000, random)))
  }
  t.same(seq(42), seq(42), 'the same seed gives the same backoff sequence')
  t.ok(seq(42).every((ms) => ms >= 20 && ms <= 1000))
})
