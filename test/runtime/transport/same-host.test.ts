/**
 * One-sided transfers between nodes on one machine (runtime/transport/same-host.ts): the HELLO
 * probe decides, large reads and writes become one direct copy, small ones stay in the socket, a
 * region unregistered under a reader is caught by its liveness word, a handle that carries its
 * address is read with no request, and a copy that cannot be made takes the op back to TCP. The
 * fake peers here are raw sockets in this process, so the transport really copies from this
 * process's memory.
 */
import t, { type Test } from 'tap'
import { connect, type Socket } from 'node:net'
import { pack } from 'msgpackr'
import { nativeAvailable } from '../../../native/addon.ts'
import { cmaAddress } from '../../../native/cma.ts'
import { T3fsError } from '../../../runtime/errors.ts'
import { EMPTY_PAYLOADS, FrameDecoder, FrameType, encodeFrame } from '../../../runtime/transport/framing.ts'
import { encodeHello } from '../../../runtime/transport/hello.ts'
import { decodeOpHeader, encodeOpHeader } from '../../../runtime/transport/one-sided.ts'
import { READ_FLAG_ADDRESS, SAME_HOST_MIN_BYTES, encodeReadAddress, writeDirectSource } from '../../../runtime/transport/same-host.ts'
import { TcpTransport } from '../../../runtime/transport/tcp-transport.ts'
import { startTestTransports, TEST_TIMINGS } from '../../../runtime/transport/testing.ts'

if (!nativeAvailable()) {
  t.comment('skipped: the native addon is not built (npm run build:native), and same-host copies need process_vm_readv from it')
  t.pass('skipped: no native addon')
  t.end()
} else {
  run()
}

const KiB = 1024

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(n))
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff
  return out
}

interface Got {
  type: number
  header: Uint8Array
  payloads: Uint8Array[]
}

/** A raw socket speaking as node 5 of this very process, offering a probe the transport can check. */
async function fakePeer(port: number): Promise<{ socket: Socket; next(): Promise<Got> }> {
  const token = new Uint8Array(new ArrayBuffer(16))
  token.set(Array.from({ length: 16 }, (_, i) => (i * 13 + 7) & 0xff))
  const frames: Got[] = []
  const waiting: Array<(g: Got) => void> = []
  const decoder = new FrameDecoder({ maxFrameBytes: 8 << 20 }, {
    head: () => undefined,
    frame: (type, header, payloads) => {
      const got = { type, header: header.slice(), payloads: payloads.map((p) => p.slice()) }
      const w = waiting.shift()
      if (w) w(got)
      else frames.push(got)
    },
  })
  const socket = connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  socket.on('data', (chunk: Buffer) => decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)))
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(encodeHello({ node: 5, incarnation: 1, maxFrameBytes: 8 << 20, clusterId: 't3fs', probe: { pid: process.pid, address: cmaAddress(token), token } }))
  const next = (): Promise<Got> => {
    const f = frames.shift()
    return f ? Promise.resolve(f) : new Promise((resolve) => waiting.push(resolve))
  }
  const hello = await next()
  if (hello.type !== FrameType.hello) throw new Error(`expected HELLO, got frame type ${hello.type}`)
  return { socket, next }
}

async function untilUp(a: TcpTransport, node: number): Promise<void> {
  for (let i = 0; i < 500 && a.peerPhase(node) !== 'up'; i++) await new Promise((r) => setTimeout(r, 5))
}

/** Node 1's transport with the fake node 5 connected to it; both closed when `t` ends. */
async function besideFakePeer(t: Test): Promise<{ a: TcpTransport; peer: Awaited<ReturnType<typeof fakePeer>> }> {
  const a = new TcpTransport({ ...TEST_TIMINGS, nodeId: 1, listen: { host: '127.0.0.1', port: 0 } })
  await a.start()
  t.teardown(() => a.close())
  const peer = await fakePeer(a.port)
  t.teardown(() => peer.socket.destroy())
  await untilUp(a, 5)
  return { a, peer }
}

function opErrorFrame(opId: number, error: T3fsError): Uint8Array {
  const body = pack(error.toWire())
  const header = new Uint8Array(4 + body.length)
  new DataView(header.buffer).setUint32(0, opId, true)
  header.set(body, 4)
  return encodeFrame(FrameType.opError, header)
}

function run(): void {
  t.test('two nodes of one machine find each other; large region reads and writes are one direct copy, small ones stay in the socket', async (t) => {
    const [a, b] = await startTestTransports([1, 2])
    t.teardown(() => Promise.all([a.close(), b.close()]))
    t.ok(a.peerSameHost(2) && b.peerSameHost(1), 'each read the other\'s probe token')
    const region = pattern(1024 * KiB, 3)
    const { regionId } = b.registerRegion(region)

    const into = new Uint8Array(new SharedArrayBuffer(1024 * KiB))
    await a.readRemote(2, regionId, 0, region.length, into)
    t.ok(Buffer.from(into).equals(Buffer.from(region)), 'a 1 MiB read has the region\'s bytes')
    t.same(a.sameHostStats(), { reads: 1, writes: 0, bytes: 1024 * KiB, fallbacks: 0 }, 'made by one direct copy')

    const data = pattern(256 * KiB, 9)
    await a.writeRemote(2, regionId, 4 * KiB, data)
    t.ok(Buffer.from(region.subarray(4 * KiB, 4 * KiB + data.length)).equals(Buffer.from(data)), 'a 256 KiB write lands at its offset')
    t.ok(region.subarray(0, 4 * KiB).every((v, i) => v === ((i * 31 + 3) & 0xff)), 'the bytes before it are untouched')
    t.equal(b.sameHostStats().writes, 1, 'the owner copied the write out of the writer')

    const small = new Uint8Array(SAME_HOST_MIN_BYTES - 1)
    await a.readRemote(2, regionId, 100, small.length, small)
    t.ok(Buffer.from(small).equals(Buffer.from(region.subarray(100, 100 + small.length))), 'a read below the threshold is right too')
    t.equal(a.sameHostStats().reads, 1, 'and went through the socket')

    const outside = await a.readRemote(2, regionId, 1000 * KiB, 64 * KiB, new Uint8Array(64 * KiB)).catch((e: T3fsError) => e)
    t.match(outside, { code: 'ERR_REMOTE_REGION', message: /outside the region/ }, 'the owner still checks the range')
    b.unregisterRegion(regionId)
    const gone = await a.readRemote(2, regionId, 0, 64 * KiB, new Uint8Array(64 * KiB)).catch((e: T3fsError) => e)
    t.match(gone, { code: 'ERR_REMOTE_REGION', message: /names no registered region/ }, 'and refuses an unregistered region')
    const lost = await a.writeRemote(2, regionId, 0, data).catch((e: T3fsError) => e)
    t.match(lost, { code: 'ERR_REMOTE_REGION' }, 'for writes as well')
  })

  t.test('same_host_copy off at either end keeps every byte in the socket', async (t) => {
    const a = new TcpTransport({ ...TEST_TIMINGS, nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, sameHostCopy: false })
    const b = new TcpTransport({ ...TEST_TIMINGS, nodeId: 2, listen: { host: '127.0.0.1', port: 0 } })
    await Promise.all([a.start(), b.start()])
    t.teardown(() => Promise.all([a.close(), b.close()]))
    a.addPeer(2, { host: '127.0.0.1', port: b.port })
    await a.writeRemote(2, b.registerRegion(new Uint8Array(8)).regionId, 0, new Uint8Array(8)) // dials and waits for the handshake
    t.notOk(a.peerSameHost(2), 'the end that turned it off does not copy')
    t.notOk(b.peerSameHost(1), 'the other end got no probe, so it does not either')
    const region = pattern(512 * KiB, 1)
    const { regionId } = b.registerRegion(region)
    const into = new Uint8Array(512 * KiB)
    await a.readRemote(2, regionId, 0, into.length, into)
    t.ok(Buffer.from(into).equals(Buffer.from(region)))
    await b.readRemote(1, a.registerRegion(into).regionId, 0, 64 * KiB, new Uint8Array(64 * KiB))
    t.same([a.sameHostStats().reads, b.sameHostStats().reads], [0, 0], 'no direct copies either way')
  })

  t.test('a reader trusts copied bytes only while the region\'s liveness word still holds its id', async (t) => {
    const { a, peer } = await besideFakePeer(t)
    t.ok(a.peerSameHost(5), 'the fake peer\'s probe was read')
    const source = pattern(64 * KiB, 5)
    const live = new Uint32Array(new ArrayBuffer(8))
    live[1] = 77

    const into = new Uint8Array(64 * KiB)
    const read = a.readRemote(5, 77, 0, into.length, into)
    const req = await peer.next()
    t.equal(req.type, FrameType.readRequest)
    const h = decodeOpHeader(req.header)!
    t.equal(h.flags, READ_FLAG_ADDRESS, 'a large read to a same-host peer asks for the address')
    const answer = new Uint8Array(24)
    peer.socket.write(encodeFrame(FrameType.readAddress, encodeReadAddress(answer, { opId: h.opId, regionId: 77, address: cmaAddress(source), liveAddress: cmaAddress(new Uint8Array(live.buffer)) + 4 })))
    await read
    t.ok(Buffer.from(into).equals(Buffer.from(source)), 'copied from the address given')

    const stale = a.readRemote(5, 77, 0, into.length, new Uint8Array(64 * KiB)).catch((e: T3fsError) => e)
    const h2 = decodeOpHeader((await peer.next()).header)!
    live[1] = 0 // the owner unregistered the region after answering
    peer.socket.write(encodeFrame(FrameType.readAddress, encodeReadAddress(answer, { opId: h2.opId, regionId: 77, address: cmaAddress(source), liveAddress: cmaAddress(new Uint8Array(live.buffer)) + 4 })))
    t.match(await stale, { code: 'ERR_REMOTE_REGION', message: /unregistered while it was being read/ }, 'bytes of a region gone meanwhile are refused')
  })

  t.test('a copy that cannot be made takes the op back to TCP, and the peer stays on TCP', async (t) => {
    const { a, peer } = await besideFakePeer(t)

    // The owner cannot read the writer (say, another user): it refuses, and the bytes go by socket.
    const data = pattern(64 * KiB, 8)
    const write = a.writeRemote(5, 3, 128, data)
    const direct = await peer.next()
    t.equal(direct.type, FrameType.writeDirect, 'a large write first offers its address')
    t.equal(writeDirectSource(direct.header), cmaAddress(data), 'the address of the writer\'s bytes')
    const opId = decodeOpHeader(direct.header)!.opId
    peer.socket.write(opErrorFrame(opId, new T3fsError('ERR_DIRECT_REFUSED', 'cannot read node 1')))
    const resent = await peer.next()
    t.equal(resent.type, FrameType.writeRequest, 'then sends the bytes')
    t.match(decodeOpHeader(resent.header), { opId, regionId: 3, offset: 128, length: data.length })
    t.ok(Buffer.from(resent.payloads[0]).equals(Buffer.from(data)), 'the same bytes')
    peer.socket.write(encodeFrame(FrameType.writeAck, encodeOpHeader(new Uint8Array(24), { opId, regionId: 0, offset: 0, length: 0 }), EMPTY_PAYLOADS))
    await write
    t.notOk(a.peerSameHost(5), 'direct copies to that peer stop')
    t.equal(a.sameHostStats().fallbacks, 1)

    const into = new Uint8Array(64 * KiB)
    const read = a.readRemote(5, 3, 0, into.length, into)
    const req = await peer.next()
    t.equal(decodeOpHeader(req.header)!.flags, 0, 'later reads ask for the bytes')
    const bytes = pattern(64 * KiB, 2)
    peer.socket.write(encodeFrame(FrameType.readResponse, encodeOpHeader(new Uint8Array(24), { opId: decodeOpHeader(req.header)!.opId, regionId: 0, offset: 0, length: 0 }), [bytes]))
    await read
    t.ok(Buffer.from(into).equals(Buffer.from(bytes)))
  })

  t.test('a read whose answer points at unmapped memory goes back to TCP', async (t) => {
    const { a, peer } = await besideFakePeer(t)
    const into = new Uint8Array(32 * KiB)
    const read = a.readRemote(5, 4, 0, into.length, into)
    const h = decodeOpHeader((await peer.next()).header)!
    peer.socket.write(encodeFrame(FrameType.readAddress, encodeReadAddress(new Uint8Array(24), { opId: h.opId, regionId: 4, address: 4096, liveAddress: 4096 })))
    const again = await peer.next()
    t.equal(again.type, FrameType.readRequest, 'asked again')
    const h2 = decodeOpHeader(again.header)!
    t.same([h2.opId, h2.flags], [h.opId, 0], 'the same op, for the bytes this time')
    const bytes = pattern(32 * KiB, 4)
    peer.socket.write(encodeFrame(FrameType.readResponse, encodeOpHeader(new Uint8Array(24), { opId: h.opId, regionId: 0, offset: 0, length: 0 }), [bytes]))
    await read
    t.ok(Buffer.from(into).equals(Buffer.from(bytes)), 'and completed with them')
    t.same(a.sameHostStats(), { reads: 0, writes: 0, bytes: 0, fallbacks: 1 })
  })

  t.test('a handle that carries its address is read with no request to the owner; its liveness word and a bad address are handled as with one', async (t) => {
    const [a, b] = await startTestTransports([1, 2])
    t.teardown(() => Promise.all([a.close(), b.close()]))
    const region = pattern(512 * KiB, 6)
    const handle = b.registerRegion(region)
    t.ok(handle.direct !== undefined && handle.direct.address === cmaAddress(region), 'a region registered with copies on carries its address')
    t.equal(b.registerRegion(new Uint8Array(SAME_HOST_MIN_BYTES - 1)).direct, undefined, 'one too small to be copied does not')
    const into = new Uint8Array(256 * KiB)
    await a.readRemote(2, handle.regionId, 64 * KiB, into.length, into, handle.direct)
    t.ok(Buffer.from(into).equals(Buffer.from(region.subarray(64 * KiB, 320 * KiB))), 'the bytes at the offset')
    t.same(a.sameHostStats(), { reads: 1, writes: 0, bytes: 256 * KiB, fallbacks: 0 }, 'one direct copy')
    b.unregisterRegion(handle.regionId)
    const gone = await a.readRemote(2, handle.regionId, 0, into.length, into, handle.direct).catch((e: T3fsError) => e)
    t.match(gone, { code: 'ERR_REMOTE_REGION', message: /unregistered while it was being read/ }, 'a region unregistered since is refused by its liveness word')
  })

  t.test('a read by a handle\'s address asks the owner nothing; an unmapped address goes back to TCP', async (t) => {
    const { a, peer } = await besideFakePeer(t)
    const source = pattern(64 * KiB, 7)
    const live = new Uint32Array(new ArrayBuffer(8))
    live[1] = 9
    const into = new Uint8Array(64 * KiB)
    // The fake peer answers nothing: the read can only complete by the copy.
    await a.readRemote(5, 9, 0, into.length, into, { address: cmaAddress(source), liveAddress: cmaAddress(new Uint8Array(live.buffer)) + 4 })
    t.ok(Buffer.from(into).equals(Buffer.from(source)), 'copied from the handle\'s address')

    const read = a.readRemote(5, 9, 0, into.length, into, { address: 4096, liveAddress: 4096 })
    const req = await peer.next()
    t.equal(req.type, FrameType.readRequest, 'an address that cannot be read: the bytes are asked for')
    const h = decodeOpHeader(req.header)!
    t.same([h.regionId, h.flags], [9, 0], 'through the socket')
    const bytes = pattern(64 * KiB, 8)
    peer.socket.write(encodeFrame(FrameType.readResponse, encodeOpHeader(new Uint8Array(24), { opId: h.opId, regionId: 0, offset: 0, length: 0 }), [bytes]))
    await read
    t.ok(Buffer.from(into).equals(Buffer.from(bytes)), 'and completed with them')
    t.same(a.sameHostStats(), { reads: 1, writes: 0, bytes: 64 * KiB, fallbacks: 1 }, 'one copy, one fallback')
    t.notOk(a.peerSameHost(5), 'that peer stays on TCP')
  })
}
