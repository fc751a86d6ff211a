/**
 * Write-behind and read-ahead against an in-memory model of each file (fast-check): random
 * sequences of writes (small, contiguous, overlapping, spanning chunks, direct), reads (sequential
 * runs that trigger read-ahead, random ones, past the end), flush, fsync, truncate (shrink and
 * grow), stat, and close/reopen, over two handles of the same file (one buffered, one direct), on
 * the simulated cluster. Every read must return exactly the model's bytes and length; every stat
 * the model's length; after the handles close, meta's length must be the model's.
 */
import t from 'tap'
import fc from 'fast-check'
import type { FileHandle } from '../../../actors/client/file-client.ts'
import { buildSimFs, SIM_CHUNK_BYTES } from './sim-client-cluster.ts'

type Op =
  | { kind: 'write'; h: 0 | 1; at: number; len: number; seed: number }
  | { kind: 'append-run'; h: 0 | 1; pieces: number; len: number; seed: number }
  | { kind: 'read'; h: 0 | 1; at: number; len: number }
  | { kind: 'read-run'; h: 0 | 1; at: number; len: number; count: number }
  | { kind: 'flush' | 'fsync' | 'stat' | 'reopen'; h: 0 | 1 }
  | { kind: 'truncate'; size: number }

const C = SIM_CHUNK_BYTES
const offsetArb = fc.oneof(fc.integer({ min: 0, max: 4 * C }), fc.constantFrom(0, C - 1, C, 2 * C - 3, 3 * C))
const lenArb = fc.oneof(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 3 * C }), fc.constantFrom(4096, C, C + 1))
const h = fc.constantFrom<0 | 1>(0, 1)

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('write' as const), h, at: offsetArb, len: lenArb, seed: fc.nat(255) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('append-run' as const), h, pieces: fc.integer({ min: 2, max: 12 }), len: fc.integer({ min: 1, max: 9000 }), seed: fc.nat(255) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), h, at: offsetArb, len: lenArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read-run' as const), h, at: offsetArb, len: fc.integer({ min: 1, max: 40_000 }), count: fc.integer({ min: 2, max: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('flush' as const, 'fsync' as const, 'stat' as const, 'reopen' as const), h }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), size: offsetArb }) },
)

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed * 131 + i * 7 + (i >> 9)) & 0xff)

class Model {
  data = new Uint8Array(0)
  write(at: number, src: Uint8Array): void {
    if (at + src.length > this.data.length) this.resize(at + src.length)
    this.data.set(src, at)
  }
  resize(n: number): void {
    const next = new Uint8Array(n)
    next.set(this.data.subarray(0, Math.min(n, this.data.length)))
    this.data = next
  }
}

t.test('random op sequences match the model', async (t) => {
  const c = await buildSimFs(11)
  const { fs } = await c.client({ writeBufferBytes: 16 * 1024, writeBuffersInFlight: 2, readAheadBytes: 3 * C, ioBuffers: 24, maxInFlightIos: 8 })
  const run = <T>(p: Promise<T>): Promise<T> => c.settle(p, c.sim.clock.now() + 20_000)
  let file = 0
  await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
    const path = `/m${++file}`
    const model = new Model()
    const handles: FileHandle[] = [await run(fs.create(path)), await run(fs.open(path, { access: 'readwrite', direct: true }))]
    const check = async (hi: 0 | 1, at: number, len: number): Promise<void> => {
      const into = new Uint8Array(len + 3).fill(0xee)
      const n = await run(fs.read(handles[hi], into, at, len, 3))
      const want = Math.max(0, Math.min(len, model.data.length - at))
      if (n !== want) throw new Error(`read ${at}+${len} via handle ${hi} returned ${n}, model has ${want} (length ${model.data.length})`)
      const got = Buffer.from(into.subarray(3, 3 + n))
      const exp = Buffer.from(model.data.subarray(at, at + n))
      if (!got.equals(exp)) {
        let i = 0
        while (got[i] === exp[i]) i++
        throw new Error(`read ${at}+${len} via handle ${hi}: byte ${at + i} is ${got[i]}, model ${exp[i]}`)
      }
    }
    for (const op of ops) {
      switch (op.kind) {
        case 'write': {
          const src = bytes(op.len, op.seed)
          await run(fs.write(handles[op.h], src, op.at))
          model.write(op.at, src)
          break
        }
        case 'append-run':
          for (let i = 0; i < op.pieces; i++) {
            const src = bytes(op.len, op.seed + i)
            const at = model.data.length
            await run(fs.write(handles[op.h], src, at))
            model.write(at, src)
          }
          break
        case 'read':
          await check(op.h, op.at, op.len)
          break
        case 'read-run':
          for (let i = 0; i < op.count; i++) await check(op.h, op.at + i * op.len, op.len)
          break
        case 'flush':
          await run(fs.flush(handles[op.h]))
          break
        case 'fsync':
          await run(fs.fsync(handles[op.h]))
          break
        case 'stat': {
          const size = (await run(fs.fstat(handles[op.h]))).sizeBytes
          if (size !== model.data.length) throw new Error(`fstat says ${size}, model ${model.data.length}`)
          break
        }
        case 'reopen':
          await run(fs.close(handles[op.h]))
          handles[op.h] = await run(fs.open(path, { access: 'readwrite', direct: op.h === 1 }))
          break
        case 'truncate':
          await run(fs.truncate(handles[0], op.size))
          model.resize(op.size)
          break
      }
    }
    await check(0, 0, model.data.length + 10)
    for (const hd of handles) await run(fs.close(hd))
    const st = await run(fs.stat(path))
    if (st.sizeBytes !== model.data.length) throw new Error(`after close meta says ${st.sizeBytes}, model ${model.data.length}`)
    const again = await run(fs.open(path))
    const all = new Uint8Array(model.data.length + 1)
    const n = await run(fs.read(again, all, 0))
    await run(fs.close(again))
    if (n !== model.data.length || !Buffer.from(all.subarray(0, n)).equals(Buffer.from(model.data))) throw new Error('a fresh handle reads other bytes than the model')
  }), { numRuns: Number(process.env.T3FS_MODEL_RUNS ?? 40), seed: Number(process.env.T3FS_SEED ?? 1234), ...(process.env.T3FS_FC_PATH === undefined ? {} : { path: process.env.T3FS_FC_PATH }) })
  const stats = fs.stats()
  t.ok(stats.readAheadHits > 0, `read-ahead served reads (${stats.readAheadHits})`)
  t.equal(stats.bufferedBytes, 0)
  t.equal(stats.openHandles, 0)
  t.pass('every sequence matched the model')
})
