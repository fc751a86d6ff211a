import t from 'tap'
import fc from 'fast-check'
import { FrameDecoder, FrameType, encodeFrame, DISCARD, type FrameSink, type PayloadDestination } from '../../../runtime/transport/framing.ts'
import { isT3fsError } from '../../../runtime/errors.ts'

const LIMITS = { maxFrameBytes: 1 << 20, maxHeaderBytes: 4096 }

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
  new DataView(bigHeader.buffer).setUint32(0, 10_000, true)
  bigHeader[4] = FrameType.data
  new DataView(bigHeader.buffer).setUint32(8, 5000, true)
  cases.push(['a header above the limit', bigHeader, /header of 5000 bytes; accepted: at most 4096/])
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
  d.push(encodeHello(7, 'prod'))
  t.equal(frames[0].type, FrameType.hello)
  const hello = decodeHello(frames[0].header)
  t.same(hello, { version: HELLO_VERSION, node: 7, clusterId: 'prod' })
  t.equal(helloRefusal(hello, 1, 'prod'), null)
  t.match(helloRefusal(hello, 1, 'dev'), /cluster "prod"; accepted: "dev"/)
  t.match(helloRefusal(hello, 7, 'prod'), /node id 7; accepted: an id other than 0 and 7/)
  t.match(helloRefusal(decodeHello(new Uint8Array(3)), 1, 'prod'), /protocol version 0/)
})
