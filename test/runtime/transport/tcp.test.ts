import t from 'tap'
import { createServer, type Socket } from 'node:net'
import { TcpTransport, type TcpTransportOptions } from '../../../runtime/transport/tcp-transport.ts'
import { startTestTransports } from '../../../runtime/transport/testing.ts'
import type { Frame, PeerState } from '../../../runtime/transport/transport.ts'
import { encodeFrame, FrameType } from '../../../runtime/transport/framing.ts'
import { encodeHello } from '../../../runtime/transport/hello.ts'
import { isT3fsError, type T3fsError } from '../../../runtime/errors.ts'

const HOST = '127.0.0.1'
const FAST = { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 300, reconnectMinMs: 20, reconnectMaxMs: 100 }

function make(nodeId: number, extra: Partial<TcpTransportOptions> = {}): TcpTransport {
  return new TcpTransport({ nodeId, listen: { host: HOST, port: 0 }, ...FAST, ...extra })
}

interface Teardown {
  teardown(fn: () => unknown): void
}

async function pair(t: Teardown, extra: Partial<TcpTransportOptions> = {}): Promise<[TcpTransport, TcpTransport]> {
  const [a, b] = await startTestTransports([1, 2], extra)
  t.teardown(() => Promise.all([a.close(), b.close()]))
  return [a, b]
}

function untilState(tr: TcpTransport, node: number, state: PeerState, timeoutMs = 5000): Promise<number> {
  const started = Date.now()
  if (tr.peerPhase(node) === state) return Promise.resolve(0)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${tr.nodeId} never saw ${node} ${state}`)), timeoutMs)
    tr.onPeerState((n, s) => {
      if (n === node && s === state) {
        clearTimeout(timer)
        resolve(Date.now() - started)
      }
    })
  })
}

function rejection(p: Promise<unknown>): Promise<T3fsError> {
  return p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: T3fsError) => error,
  )
}


t.test('frames with small and large payloads arrive intact and in order', async (t) => {
  const [a, b] = await pair(t)
  const got: Array<{ from: number; header: number[]; sizes: number[]; sums: number[] }> = []
  let resolveAll: () => void
  const all = new Promise<void>((r) => (resolveAll = r))
  const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i * 7)
  const frames: Frame[] = []
  for (let i = 0; i < 200; i++) {
    const payloads = i % 50 === 7 ? [new Uint8Array([i]), big] : i % 3 === 0 ? [new Uint8Array(100).fill(i)] : []
    frames.push({ header: new Uint8Array([i, i + 1, i + 2]), payloads })
  }
  b.onFrame((from, frame) => {
    got.push({ from, header: [...frame.header], sizes: frame.payloads.map((p) => p.length), sums: frame.payloads.map((p) => p.reduce((s, x) => (s + x) % 65_521, 0)) })
    if (got.length === frames.length) resolveAll()
  })
  for (const f of frames) a.send(2, f)
  await all
  t.equal(got.length, 200)
  t.ok(got.every((g) => g.from === 1))
  const sum = (p: Uint8Array): number => p.reduce((s, x) => (s + x) % 65_521, 0)
  t.same(got.map((g) => g.header), frames.map((f) => [...f.header]))
  t.same(got.map((g) => g.sizes), frames.map((f) => f.payloads.map((p) => p.length)))
  t.same(got.map((g) => g.sums), frames.map((f) => f.payloads.map(sum)))
})

t.test('send() says false above the high-water mark and whenWritable() resumes', async (t) => {
  const [a, b] = await pair(t, { highWaterBytes: 256 * 1024 })
  let received = 0
  b.onFrame(() => received++)
  const payload = new Uint8Array(64 * 1024)
  let sent = 0
  let sawFalse = false
  while (sent < 200) {
    const ok = a.send(2, { header: new Uint8Array(8), payloads: [payload] })
    sent++
    if (!ok) {
      sawFalse = true
      t.ok(a.queuedBytes(2) >= 256 * 1024 - 64 * 1024 - 64)
      await a.whenWritable(2)
    }
  }
  t.ok(sawFalse, 'backpressure was signalled')
  const deadline = Date.now() + 5000
  while (received < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.equal(received, sent)
})

t.test('ignoring false up to the hard limit gives ERR_OVERLOADED, not unbounded memory', async (t) => {
  const a = make(1, { highWaterBytes: 64 * 1024 })
  t.teardown(() => a.close())
  await a.start()
  a.addPeer(9, { host: HOST, port: 1 }) // nobody listens there: frames queue while connecting
  const payload = new Uint8Array(16 * 1024)
  let error: unknown
  try {
    for (let i = 0; i < 100; i++) a.send(9, { header: new Uint8Array(1), payloads: [payload] })
  } catch (e) {
    error = e
  }
  t.ok(isT3fsError(error, 'ERR_OVERLOADED'))
  t.match((error as Error).message, /wait for whenWritable/)
})

t.test('one-sided writes and reads reach the registered region', async (t) => {
  const [a, b] = await pair(t)
  const region = new Uint8Array(4 * 1024 * 1024)
  const { regionId, length } = b.registerRegion(region)
  t.equal(length, region.length)
  const data = new Uint8Array(1024 * 1024).map((_, i) => (i * 13) & 0xff)
  await a.writeRemote(2, regionId, 1000, data)
  t.ok(Buffer.from(region.subarray(1000, 1000 + data.length)).equals(data), 'region holds the data')
  const into = new Uint8Array(1024 * 1024)
  await a.readRemote(2, regionId, 1000, data.length, into)
  t.ok(Buffer.from(into).equals(data), 'read back the data')
  // Many in flight at once, mixed sizes.
  const ops: Promise<void>[] = []
  for (let i = 0; i < 32; i++) ops.push(a.writeRemote(2, regionId, i * 100_000, new Uint8Array(50_000).fill(i + 1)))
  await Promise.all(ops)
  for (let i = 0; i < 32; i++) t.equal(region[i * 100_000 + 49_999], i + 1)
  const small = new Uint8Array(10)
  await a.readRemote(2, regionId, 31 * 100_000, 10, small)
  t.same([...small], new Array(10).fill(32))
  await a.writeRemote(2, regionId, 0, new Uint8Array(0))
})

t.test('a bad region, offset or length is ERR_REMOTE_REGION naming what is accepted', async (t) => {
  const [a, b] = await pair(t)
  const { regionId } = b.registerRegion(new Uint8Array(1000))
  const into = new Uint8Array(2000)
  const e1 = await rejection(a.readRemote(2, regionId, 900, 200, into))
  t.equal(e1.code, 'ERR_REMOTE_REGION')
  t.match(e1.message, /region \d+ on node 2: offset 900 length 200 is outside the region \(1000 bytes\); accepted: offset ≥ 0 and offset \+ length ≤ 1000/)
  t.same({ regionId: e1.details.regionId, offset: e1.details.offset, length: e1.details.length }, { regionId, offset: 900, length: 200 })
  const e2 = await rejection(a.writeRemote(2, 777, 0, new Uint8Array(10)))
  t.equal(e2.code, 'ERR_REMOTE_REGION')
  t.match(e2.message, /region 777 on node 2: .* names no registered region/)
  const e3 = await rejection(a.writeRemote(2, regionId, -1, new Uint8Array(10)))
  t.equal(e3.code, 'ERR_REMOTE_REGION')
  b.unregisterRegion(regionId)
  const e4 = await rejection(a.readRemote(2, regionId, 0, 10, into))
  t.match(e4.message, /names no registered region/)
  // The connection survives rejected ops.
  const r2 = b.registerRegion(new Uint8Array(10))
  await a.writeRemote(2, r2.regionId, 0, new Uint8Array(10).fill(3))
  t.equal(a.peerPhase(2), 'up')
})

t.test('a closed peer is seen down at once; pending ops fail; a restarted one is up again', async (t) => {
  const [a, b] = await pair(t)
  const port = b.port
  const { regionId } = b.registerRegion(new Uint8Array(1 << 20))
  // An op that cannot complete before the peer goes: the read is issued, then the peer closes.
  const pending = a.readRemote(2, regionId + 1000, 0, 10, new Uint8Array(10)).catch((e: T3fsError) => e)
  const down = untilState(a, 2, 'down')
  await b.close()
  t.ok((await down) < 1000, 'down within a second')
  const e = await pending
  t.ok(e instanceof Error)
  t.throws(() => a.send(2, { header: new Uint8Array(1), payloads: [] }), { code: 'ERR_PEER_DOWN' })
  const we = await rejection(a.writeRemote(2, regionId, 0, new Uint8Array(1)))
  t.equal(we.code, 'ERR_PEER_DOWN')
  // Restart node 2 on the same port: node 1 redials with backoff.
  const b2 = make(2, { listen: { host: HOST, port } })
  t.teardown(() => b2.close())
  const got = new Promise<number[]>((resolve) => b2.onFrame((_from, f) => resolve([...f.header])))
  const up = untilState(a, 2, 'up')
  await b2.start()
  b2.addPeer(1, { host: HOST, port: a.port })
  await up
  a.send(2, { header: new Uint8Array([42]), payloads: [] })
  t.same(await got, [42])
})

t.test('a peer that goes silent is declared down after the heartbeat timeout', async (t) => {
  // A fake node 5 that answers HELLO and then never speaks again.
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    sockets.push(socket)
    socket.write(encodeHello({ node: 5, incarnation: 1, maxFrameBytes: 1 << 20, clusterId: 't3fs' }))
    socket.on('data', () => {})
    socket.on('error', () => {})
  })
  await new Promise<void>((r) => server.listen(0, HOST, () => r()))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  const port = (server.address() as { port: number }).port
  const a = make(1)
  t.teardown(() => a.close())
  await a.start()
  const up = untilState(a, 5, 'up')
  a.addPeer(5, { host: HOST, port })
  await up
  const started = Date.now()
  const pending = rejection(a.readRemote(5, 1, 0, 1, new Uint8Array(1)))
  await untilState(a, 5, 'down', 3000)
  const elapsed = Date.now() - started
  t.ok(elapsed >= 250 && elapsed < 1500, `down after ${elapsed}ms (timeout 300ms)`)
  t.equal((await pending).code, 'ERR_PEER_DOWN')
})

t.test('a peer that cannot be reached is declared down after the timeout', async (t) => {
  const a = make(1)
  t.teardown(() => a.close())
  await a.start()
  const down = untilState(a, 3, 'down', 3000)
  a.addPeer(3, { host: HOST, port: 1 })
  t.ok((await down) < 1500)
  t.throws(() => a.send(3, { header: new Uint8Array(1), payloads: [] }), { code: 'ERR_PEER_DOWN' })
  t.throws(() => a.send(4, { header: new Uint8Array(1), payloads: [] }), { code: 'ERR_PEER_UNKNOWN' })
})

t.test('two nodes that dial each other at once keep exactly one connection', async (t) => {
  for (let round = 0; round < 5; round++) {
    const a = make(1)
    const b = make(2)
    await a.start()
    await b.start()
    const states: string[] = []
    a.onPeerState((n, s) => states.push(`a${n}${s}`))
    b.onPeerState((n, s) => states.push(`b${n}${s}`))
    a.addPeer(2, { host: HOST, port: b.port })
    b.addPeer(1, { host: HOST, port: a.port })
    await Promise.all([untilState(a, 2, 'up'), untilState(b, 1, 'up')])
    await new Promise((r) => setTimeout(r, 150))
    t.same(states.sort(), ['a2up', 'b1up'], `round ${round}: one up each, no flapping`)
    const echoed = new Promise<number[]>((resolve) => a.onFrame((_n, f) => resolve([...f.header])))
    b.onFrame((from, f) => b.send(from, { header: new Uint8Array([f.header[0] + 1]), payloads: [] }))
    a.send(2, { header: new Uint8Array([round]), payloads: [] })
    t.same(await echoed, [round + 1])
    await Promise.all([a.close(), b.close()])
  }
})

t.test('nodes of another cluster are refused', async (t) => {
  const a = make(1, { clusterId: 'one' })
  const b = make(2, { clusterId: 'two', heartbeatTimeoutMs: 200 })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  await a.start()
  await b.start()
  const down = untilState(b, 1, 'down', 3000)
  b.addPeer(1, { host: HOST, port: a.port })
  await down
  t.equal(a.peerPhase(2), undefined)
  t.throws(() => b.send(1, { header: new Uint8Array(1), payloads: [] }), { code: 'ERR_PEER_DOWN', message: /node 1 refused the connection: cluster "two"; accepted: "one" \(node\.cluster_id\)/ })
})

t.test('one-sided ops are bounded: in-flight limit and per-op timeout', async (t) => {
  // A fake node 6 that keeps heartbeating but never answers an op.
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    sockets.push(socket)
    socket.write(encodeHello({ node: 6, incarnation: 1, maxFrameBytes: 1 << 20, clusterId: 't3fs' }))
    const beat = setInterval(() => socket.write(encodeFrame(FrameType.heartbeat, new Uint8Array(0))), 30)
    socket.on('close', () => clearInterval(beat))
    socket.on('data', () => {})
    socket.on('error', () => {})
  })
  await new Promise<void>((r) => server.listen(0, HOST, () => r()))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  const a = make(1, { maxPendingOps: 2, opTimeoutMs: 200 })
  t.teardown(() => a.close())
  await a.start()
  const up = untilState(a, 6, 'up')
  a.addPeer(6, { host: HOST, port: (server.address() as { port: number }).port })
  await up
  const p1 = rejection(a.readRemote(6, 1, 0, 1, new Uint8Array(1)))
  const p2 = rejection(a.writeRemote(6, 1, 0, new Uint8Array(1)))
  const e3 = await rejection(a.readRemote(6, 1, 0, 1, new Uint8Array(1)))
  t.equal(e3.code, 'ERR_OVERLOADED')
  t.match(e3.message, /accepted: at most 2 \(transport\.max_pending_ops\)/)
  const started = Date.now()
  const [e1, e2] = await Promise.all([p1, p2])
  t.equal(e1.code, 'ERR_TIMEOUT')
  t.equal(e2.code, 'ERR_TIMEOUT')
  t.ok(Date.now() - started < 1000)
  t.equal(a.peerPhase(6), 'up', 'a slow peer is not a dead one')
  const e4 = await rejection(a.readRemote(6, 1, 0, 10, new Uint8Array(5)))
  t.equal(e4.code, 'ERR_INVALID_OPTION')
})

t.test('regions are bounded by max_regions', async (t) => {
  const a = make(1, { maxRegions: 2 })
  a.registerRegion(new Uint8Array(1))
  const { regionId } = a.registerRegion(new Uint8Array(1))
  t.throws(() => a.registerRegion(new Uint8Array(1)), { code: 'ERR_OVERLOADED' })
  a.unregisterRegion(regionId)
  t.ok(a.registerRegion(new Uint8Array(1)).regionId > 0)
})

t.test('a connection that never says hello is closed after the timeout', async (t) => {
  const a = make(1)
  t.teardown(() => a.close())
  await a.start()
  const { connect } = await import('node:net')
  const socket = connect({ host: HOST, port: a.port })
  socket.on('error', () => {})
  const started = Date.now()
  await new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const after = Date.now() - started
  t.ok(after >= 250 && after < 2000, `closed after ${after}ms (timeout 300ms)`)
})

t.test('garbage on a connection closes it without harming the node', async (t) => {
  const [a, b] = await pair(t)
  const { connect } = await import('node:net')
  const socket = connect({ host: HOST, port: a.port })
  socket.on('error', () => {})
  socket.write(new Uint8Array(64).fill(0xff))
  await new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const got = new Promise<number[]>((resolve) => b.onFrame((_n, f) => resolve([...f.header])))
  a.send(2, { header: new Uint8Array([9]), payloads: [] })
  t.same(await got, [9])
})

t.test('a port in use fails start() with the address and the code', async (t) => {
  const a = make(1)
  t.teardown(() => a.close())
  await a.start()
  const b = make(2, { listen: { host: HOST, port: a.port } })
  try {
    await b.start()
    t.fail('no error')
  } catch (error) {
    t.equal((error as { code?: string }).code, 'EADDRINUSE')
    t.match((error as Error).message, new RegExp(`node 2 cannot listen on 127\\.0\\.0\\.1:${a.port}`))
  }
  await b.close()
})

t.test('startTestTransports wires n nodes that all see each other', async (t) => {
  const nodes = await startTestTransports([11, 12, 13])
  t.teardown(() => Promise.all(nodes.map((n) => n.close())))
  for (const n of nodes) for (const o of nodes) if (n !== o) t.equal(n.peerPhase(o.nodeId), 'up')
})

t.test('frames the peer would refuse are refused at send(); a header has no limit short of the frame\'s', async (t) => {
  const [a, b] = await pair(t, { maxFrameBytes: 1 << 20 })
  const got = new Promise<number>((resolve) => b.onFrame((_n, f) => resolve(f.header.length)))
  a.send(2, { header: new Uint8Array(900_000), payloads: [] })
  t.equal(await got, 900_000, 'a 900 KB header crosses within a 1 MiB frame')
  t.throws(() => a.send(2, { header: new Uint8Array(1), payloads: Array.from({ length: 256 }, () => new Uint8Array(1)) }), { code: 'ERR_INVALID_OPTION', message: /at most 255/ })
  t.throws(() => a.send(2, { header: new Uint8Array(1), payloads: [new Uint8Array(1 << 20)] }), { code: 'ERR_INVALID_OPTION', message: /at most 1048576 bytes including the head \(transport\.max_frame_size of node 1\)/ })
  t.equal(a.peerPhase(2), 'up')
})

t.test('the handshake tells each end the other\'s frame limit: a sender refuses what its peer would not accept', async (t) => {
  const a = make(1, { maxFrameBytes: 4 << 20 })
  const b = make(2, { maxFrameBytes: 1 << 20 })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  await Promise.all([a.start(), b.start()])
  const up = untilState(a, 2, 'up')
  a.addPeer(2, { host: HOST, port: b.port })
  await up
  t.equal(a.maxFrameBytesTo(2), 1 << 20)
  t.equal(a.maxFrameBytes, 4 << 20)
  t.throws(() => a.send(2, { header: new Uint8Array(1), payloads: [new Uint8Array(2 << 20)] }), { code: 'ERR_INVALID_OPTION', message: /at most 1048576 bytes .*max_frame_size of node 1 and of node 2/ })
  t.equal(a.peerPhase(2), 'up', 'the refused frame never reached the peer, so the connection stays up')
})
