import t from 'tap'
import fc from 'fast-check'
import type { Socket } from 'node:net'
import { Outbox, BATCH_BYTES, COPY_MAX_BYTES } from '../../../runtime/transport/outbox.ts'
import { FrameDecoder, FrameType, type FrameSink } from '../../../runtime/transport/framing.ts'

/**
 * A socket stand-in that copies a write's bytes only when it completes (as a kernel that was
 * slow to take them would): a batch buffer reused too early would show up as corrupted frames.
 */
class FakeSocket {
  readonly written: Uint8Array[] = []
  writableLength = 0
  #later: Array<() => void> = []
  cork(): void {}
  uncork(): void {}
  write(data: Uint8Array, cb?: () => void): boolean {
    const index = this.written.length
    this.written.push(new Uint8Array(0))
    this.writableLength += data.length
    this.#later.push(() => {
      this.written[index] = data.slice()
      this.writableLength -= data.length
      cb?.()
    })
    return true
  }
  complete(): void {
    const later = this.#later
    this.#later = []
    for (const f of later) f()
  }
}

const frameArb = fc.record({
  header: fc.uint8Array({ maxLength: 64 }),
  payloadSizes: fc.array(fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: COPY_MAX_BYTES - 2, max: COPY_MAX_BYTES + 2 }), fc.integer({ min: 20_000, max: 70_000 })), { maxLength: 4 }),
  yieldAfter: fc.boolean(),
  completeAfter: fc.boolean(),
})

t.test('batched, corked and pending writes reproduce every frame in order (fuzz)', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 40 }), fc.boolean(), async (frames, startDetached) => {
      const outbox = new Outbox()
      const socket = new FakeSocket()
      if (!startDetached) outbox.attach(socket as unknown as Socket)
      const expected: string[] = []
      const released = new Array<number>(frames.length).fill(0)
      let seed = 1
      for (const [index, f] of frames.entries()) {
        const payloads = f.payloadSizes.map((n) => new Uint8Array(n).fill(seed++ & 0xff))
        outbox.enqueue(FrameType.data, f.header, payloads, () => released[index]++)
        // A payload sent by reference keeps its frame unreleased until the socket wrote it.
        if (payloads.some((p) => p.length > COPY_MAX_BYTES) && released[index] !== 0) return false
        expected.push(JSON.stringify([[...f.header], payloads.map((p) => [p.length, p[0] ?? -1, p[p.length - 1] ?? -1])]))
        if (f.yieldAfter) await Promise.resolve()
        if (f.completeAfter) socket.complete()
      }
      if (startDetached) outbox.attach(socket as unknown as Socket)
      outbox.flush()
      socket.complete()
      const got: string[] = []
      const sink: FrameSink = {
        head: () => undefined,
        frame: (_type, header, payloads) => got.push(JSON.stringify([[...header], payloads.map((p) => [p.length, p[0] ?? -1, p[p.length - 1] ?? -1])])),
      }
      const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 }, sink)
      for (const w of socket.written) decoder.push(w)
      return JSON.stringify(got) === JSON.stringify(expected) && outbox.queuedBytes === 0 && released.every((n) => n === 1)
    }),
    { numRuns: 150 },
  )
  t.pass()
})

t.test('a frame that does not fit the batch buffer still goes out whole', async (t) => {
  const outbox = new Outbox()
  const socket = new FakeSocket()
  outbox.attach(socket as unknown as Socket)
  const payloads = Array.from({ length: 40 }, (_, i) => new Uint8Array(7000).fill(i))
  outbox.enqueue(FrameType.data, new Uint8Array(100), payloads)
  t.ok(7000 * 40 > BATCH_BYTES)
  socket.complete()
  let n = 0
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 }, {
    head: () => undefined,
    frame: (_t, _h, p) => {
      n++
      t.equal(p.length, 40)
      t.equal(p[39][0], 39)
    },
  })
  for (const w of socket.written) decoder.push(w)
  t.equal(n, 1)
})

t.test('detaching drops what was not handed to a socket, and releases it', async (t) => {
  const outbox = new Outbox()
  outbox.enqueue(FrameType.data, new Uint8Array(10), [])
  let released = 0
  outbox.enqueue(FrameType.data, new Uint8Array(10), [new Uint8Array(COPY_MAX_BYTES + 1), new Uint8Array(COPY_MAX_BYTES + 1)], () => released++)
  outbox.flush()
  t.ok(outbox.queuedBytes > 0)
  t.equal(released, 0, 'payloads waiting for a socket are still referenced')
  outbox.detach()
  t.equal(outbox.queuedBytes, 0)
  t.equal(released, 1, 'released once, not once per payload')
})
