import t from 'tap'
import fc from 'fast-check'
import { FrameDecoder, FrameType, encodeFrame, DISCARD, SKIPPED_PAYLOAD, MAX_PAYLOADS, type FrameSink, type PayloadDestination } from '../../../runtime/transport/framing.ts'
import { isT3fsError } from '../../../runtime/errors.ts'

const LIMITS = { maxFrameBytes: 1 << 20 }

interface Got {
  type: number
  header: number[]
  payloads: number[][]
}

function collector(dest?: (type: number, total: number) => PayloadDestination): { sink: FrameSink; got: Got[] } {
  const got: Got[] = []
  const sink: FrameSink = {
    head: (type, _h, _l, total) => (dest ? dest(type, total) : undefined),
    // Copy: views are only valid during the call.
    frame: (type, header, payloads) => got.push({ type, header: [...header], payloads: payloads.map((p) => [...p]) }),
  }
  return { sink, got }
}

/** Splits `bytes` at the given cut points (sorted, deduplicated). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of points) {
    out.push(bytes.slice(prev, p))
    prev = p
  }
  out.push(bytes.slice(prev))
  return out
}

const frameArb = fc.record({
  type: fc.constantFrom(FrameType.data, FrameType.heartbeat, FrameType.readResponse),
  header: fc.uint8Array({ maxLength: 300 }),
  payloads: fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 5 }),
})

t.test('frames survive any split of the byte stream (fuzz)', async (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
      const parts = frames.map((f) => encodeFrame(f.type, f.header, f.payloads))
      const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
      let at = 0
      for (const p of parts) {
        stream.set(p, at)
        at += p.length
      }
      const { sink, got } = collector()
      const decoder = new FrameDecoder(LIMITS, sink)
      const chunks = split(stream, cuts)
      // Reuse one receive buffer for every chunk, as the socket's onread buffer does.
      const reused = new Uint8Array(stream.length + 1)
      for (const c of chunks) {
        reused.set(c)
        decoder.push(reused.subarray(0, c.length))
        reused.fill(0xee)
      }
      t.ok(decoder.idle)
      return JSON.stringify(got) === JSON.stringify(frames.map((f) => ({ type: f.type, header: [...f.header], payloads: f.payloads.map((p) => [...p]) })))
    }),
    { numRuns: 300 },
  )
})

t.test('a sink can stream payloads into its own buffer or discard them', async (t) => {
  const target = new Uint8Array(10)
  const frame = encodeFrame(FrameType.writeRequest, new Uint8Array([1, 2]), [new Uint8Array([5, 6, 7]), new Uint8Array([8])])
  const { sink, got } = collector(() => target)
  const d = new FrameDecoder(LIMITS, sink)
  for (const byte of frame) d.push(new Uint8Array([byte]))
  t.same([...target.subarray(0, 4)], [5, 6, 7, 8])
  t.same(got[0].payloads, [[5, 6, 7], [8]])
  const discard = collector(() => DISCARD)
  const d2 = new FrameDecoder(LIMITS, discard.sink)
  d2.push(frame)
  t.same(discard.got[0].payloads, [])
  t.same(discard.got[0].header, [1, 2])
})

t.test('malformed frames are rejected with ERR_FRAME before any allocation', async (t) => {
  const cases: Array<[string, Uint8Array, RegExp]> = []
  const tooBig = new Uint8Array(12)
  new DataView(tooBig.buffer).setUint32(0, (1 << 20) + 10, true)
  tooBig[4] = FrameType.data
  cases.push(['a frame above the limit', tooBig, /accepted: at most 1048576/])
  const badType = encodeFrame(FrameType.data, new Uint8Array(1))
  badType[4] = 99
  cases.push(['an unknown type', badType, /type 99 is unknown/])
  const bigHeader = new Uint8Array(12)
  new DataView(bigHeader.buffer).setUint32(0, 1 << 20, true)
  bigHeader[4] = FrameType.data
  new DataView(bigHeader.buffer).setUint32(8, (1 << 20) - 8, true)
  cases.push(['a header that makes the frame too big', bigHeader, /frame of 1048580 bytes; accepted: at most 1048576 \(transport\.max_frame_size\)/])
  const shortBody = new Uint8Array(12)
  new DataView(shortBody.buffer).setUint32(0, 100, true)
  shortBody[4] = FrameType.data
  new DataView(shortBody.buffer).setUint32(8, 200, true)
  cases.push(['a header longer than its frame', shortBody, /shorter than its head/])
  const lying = encodeFrame(FrameType.data, new Uint8Array(4), [new Uint8Array(4)])
  new DataView(lying.buffer).setUint32(0, new DataView(lying.buffer).getUint32(0, true) + 3, true)
  cases.push(['a body that does not match its parts', lying, /does not match its parts/])
  for (const [what, bytes, message] of cases) {
    const d = new FrameDecoder(LIMITS, collector().sink)
    try {
      d.push(bytes)
      t.fail(`${what}: no error`)
    } catch (error) {
      t.ok(isT3fsError(error, 'ERR_FRAME'), what)
      t.match((error as Error).message, message, what)
    }
  }
})

t.test('random bytes never crash the decoder with anything but ERR_FRAME (fuzz)', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      const d = new FrameDecoder(LIMITS, collector().sink)
      try {
        d.push(bytes)
      } catch (error) {
        return isT3fsError(error, 'ERR_FRAME')
      }
      return true
    }),
    { numRuns: 500 },
  )
  t.pass()
})

t.test('reads straight into a destination (directTarget) give the same frames (fuzz)', async (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 20 }), fc.nat({ max: 100 }), (frames, cuts, minDirect) => {
      const parts = frames.map((f) => encodeFrame(f.type, f.header, f.payloads))
      const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
      let at = 0
      for (const p of parts) {
        stream.set(p, at)
        at += p.length
      }
      // readResponse frames stream into a sink buffer; data frames into the decoder's assembly buffer.
      const { sink, got } = collector((type, total) => (type === FrameType.readResponse ? new Uint8Array(total + 3) : undefined))
      const decoder = new FrameDecoder(LIMITS, sink)
      for (const chunk of split(stream, cuts)) {
        let off = 0
        while (off < chunk.length) {
          const target = decoder.directTarget(minDirect)
          if (target) {
            const n = Math.min(target.length, chunk.length - off)
            target.set(chunk.subarray(off, off + n))
            decoder.advanceDirect(n)
            off += n
          } else {
            // A socket read into the receive buffer: the rest of this chunk at once.
            decoder.push(chunk.subarray(off))
            off = chunk.length
          }
        }
      }
      return JSON.stringify(got) === JSON.stringify(frames.map((f) => ({ type: f.type, header: [...f.header], payloads: f.payloads.map((p) => [...p]) })))
    }),
    { numRuns: 300 },
  )
  t.pass()
})

t.test('hello: round trip and the reasons a node refuses one', async (t) => {
  const { encodeHello, decodeHello, helloRefusal, HELLO_VERSION } = await import('../../../runtime/transport/hello.ts')
  const frames: Array<{ type: number; header: Uint8Array }> = []
  const d = new FrameDecoder(LIMITS, { head: () => undefined, frame: (type, header) => frames.push({ type, header: header.slice() }) })
  d.push(encodeHello({ node: 7, incarnation: 0xdeadbeef, maxFrameBytes: 65 << 20, clusterId: 'prod' }))
  t.equal(frames[0].type, FrameType.hello)
  const hello = decodeHello(frames[0].header)
  t.same(hello, { version: HELLO_VERSION, node: 7, incarnation: 0xdeadbeef, maxFrameBytes: 65 << 20, clusterId: 'prod' })
  t.equal(HELLO_VERSION, 3, 'version 3 carries the incarnation, the frame limit and the same-host probe')
  const token = Uint8Array.from({ length: 16 }, (_, i) => i * 11)
  d.push(encodeHello({ node: 7, incarnation: 1, maxFrameBytes: 65 << 20, clusterId: 'prod', probe: { pid: 4242, address: 0x7f12_3456_7000, token } }))
  t.same(decodeHello(frames[1].header).probe, { pid: 4242, address: 0x7f12_3456_7000, token }, 'the probe round-trips: pid, address, token')
  t.equal(decodeHello(frames[1].header).clusterId, 'prod', 'the cluster id follows the probe')
  t.equal(helloRefusal(hello, 1, 'prod'), null)
  t.match(helloRefusal(hello, 1, 'dev'), /cluster "prod"; accepted: "dev"/)
  t.match(helloRefusal(hello, 7, 'prod'), /node id 7; accepted: an id other than 0 and 7/)
  t.match(helloRefusal({ ...hello, incarnation: 0 }, 1, 'prod'), /incarnation 0; accepted: 1 to 4294967295/)
  t.match(helloRefusal({ ...hello, maxFrameBytes: 1000 }, 1, 'prod'), /max frame of 1000 bytes; accepted: at least 65536 \(transport\.max_frame_size\)/)
  t.match(helloRefusal(decodeHello(new Uint8Array(3)), 1, 'prod'), /protocol version 0/)
  // A node of the previous protocol (u32 version 1, u32 node, cluster) is told which version is spoken.
  const v1 = new Uint8Array(12)
  new DataView(v1.buffer).setUint32(0, 1, true)
  new DataView(v1.buffer).setUint32(4, 3, true)
  t.match(helloRefusal(decodeHello(v1), 1, 'prod'), /protocol version 1; accepted: 3/)
})

/** A stream of encoded frames, one after another. */
function concat(parts: Uint8Array[]): Uint8Array {
  const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    stream.set(p, at)
    at += p.length
  }
  return stream
}

t.test('per-payload targets: each payload lands in its own buffer or is skipped, under any split and direct reads (fuzz)', async (t) => {
  const placedFrame = fc.record({
    header: fc.uint8Array({ maxLength: 300 }),
    payloads: fc.array(fc.record({ bytes: fc.uint8Array({ maxLength: 3000 }), keep: fc.boolean() }), { maxLength: 6 }),
  })
  fc.assert(
    fc.property(fc.array(placedFrame, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 20 }), fc.nat({ max: 200 }), fc.boolean(), (frames, cuts, minDirect, useDirect) => {
      const stream = concat(frames.map((f) => encodeFrame(FrameType.data, f.header, f.payloads.map((p) => p.bytes))))
      const targetsOf: Array<Array<Uint8Array | null>> = []
      const got: Array<{ header: number[]; payloads: Uint8Array[] }> = []
      const sink: FrameSink = {
        head: (_type, _header, lengths) => {
          const f = frames[targetsOf.length]
          // A fresh buffer per kept payload, pre-filled with garbage the payload must overwrite.
          const targets = lengths.map((n, i) => (f.payloads[i].keep ? new Uint8Array(n).fill(0xa5) : DISCARD))
          targetsOf.push(targets)
          return targets
        },
        frame: (_type, header, payloads) => got.push({ header: [...header], payloads: [...payloads] }),
      }
      const decoder = new FrameDecoder(LIMITS, sink)
      for (const chunk of split(stream, cuts)) {
        let off = 0
        while (off < chunk.length) {
          const target = useDirect ? decoder.directTarget(minDirect) : null
          if (target) {
            const n = Math.min(target.length, chunk.length - off)
            target.set(chunk.subarray(off, off + n))
            decoder.advanceDirect(n)
            off += n
          } else {
            decoder.push(chunk.subarray(off))
            off = chunk.length
          }
        }
      }
      if (!decoder.idle || got.length !== frames.length) return false
      return frames.every((f, k) => {
        if (JSON.stringify(got[k].header) !== JSON.stringify([...f.header])) return false
        return f.payloads.every((p, i) => {
          const delivered = got[k].payloads[i]
          if (!p.keep) return delivered === SKIPPED_PAYLOAD && targetsOf[k][i] === null
          // The sink's own buffer, not a copy or a view of something else.
          return delivered === targetsOf[k][i] && Buffer.from(delivered).equals(p.bytes)
        })
      })
    }),
    { numRuns: 400 },
  )
  t.pass()
})

t.test('a sink that gives targets of the wrong size is a programmer error, not a silent overrun', async (t) => {
  const frame = encodeFrame(FrameType.data, new Uint8Array(1), [new Uint8Array(10), new Uint8Array(5)])
  const wrong = new FrameDecoder(LIMITS, { head: () => [new Uint8Array(9), null], frame: () => t.fail('delivered') })
  t.throws(() => wrong.push(frame), /gave 9 bytes for payload 0 of 10 bytes/)
  const few = new FrameDecoder(LIMITS, { head: () => [new Uint8Array(10)], frame: () => t.fail('delivered') })
  t.throws(() => few.push(frame), /gave 1 payload targets for 2 payloads/)
})

t.test('abandon(): a frame cut off mid-payload tells its sink, and the decoder starts clean', async (t) => {
  let abandoned = 0
  const frames: number[][] = []
  const sink: FrameSink = {
    head: (_type, _header, lengths) => lengths.map((n) => new Uint8Array(n)),
    frame: (_type, header) => frames.push([...header]),
    abandon: () => abandoned++,
  }
  const d = new FrameDecoder(LIMITS, sink)
  const first = encodeFrame(FrameType.data, new Uint8Array([1]), [new Uint8Array(5000)])
  d.push(first.subarray(0, 100))
  t.notOk(d.idle)
  d.abandon()
  t.equal(abandoned, 1, 'the sink can take back what it placed')
  t.ok(d.idle)
  d.push(encodeFrame(FrameType.data, new Uint8Array([2]), [new Uint8Array(10)]))
  t.same(frames, [[2]])
  d.push(first.subarray(0, 5))
  d.abandon()
  t.equal(abandoned, 1, 'a head cut off placed nothing: nothing to give back')
})

t.test('a frame may carry up to 255 payloads; a header needs no limit of its own', async (t) => {
  t.equal(MAX_PAYLOADS, 255)
  const payloads = Array.from({ length: MAX_PAYLOADS }, (_, i) => new Uint8Array([i]))
  const header = new Uint8Array(200_000).fill(3)
  const { sink, got } = collector()
  new FrameDecoder(LIMITS, sink).push(encodeFrame(FrameType.data, header, payloads))
  t.equal(got[0].payloads.length, 255)
  t.equal(got[0].payloads[254][0], 254)
  t.equal(got[0].header.length, 200_000)
})
